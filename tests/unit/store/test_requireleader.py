"""`hasleader: true` calls: refused without a leader, streams ended once the leader stays gone.

The interceptor runs on an in-process grpc.aio server in front of stand-in services, with the
member's "has a leader" answer under the test's control.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from kubelite.pb import rpc_pb2, rpc_pb2_grpc
from kubelite.store.requireleader import (
    MAX_NO_LEADER_CHECKS,
    LeaderMonitor,
    NoLeaderCount,
    RequireLeader,
    requires_leader,
)

HASLEADER = (("hasleader", "true"),)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, False),
        ((), False),
        (HASLEADER, True),
        ((("hasleader", "false"),), False),
        ((("other", "x"), ("hasleader", "true")), True),
    ],
)
def test_requires_leader(metadata: Any, expected: bool) -> None:
    assert requires_leader(metadata) is expected


def test_streams_end_only_after_consecutive_checks_without_a_leader() -> None:
    count = NoLeaderCount(limit=3)
    seen = [count.observe(x) for x in (False, False, True, False, False, False, False)]
    assert seen == [False, False, False, False, False, True, True]


class Member:
    def __init__(self) -> None:
        self.leader = True
        self.streams_closed = 0

    def has_leader(self) -> bool:
        return self.leader


class StandInKV(rpc_pb2_grpc.KVServicer):
    async def Range(self, request: rpc_pb2.RangeRequest, context: Any) -> rpc_pb2.RangeResponse:
        return rpc_pb2.RangeResponse(count=7)


class StandInWatch(rpc_pb2_grpc.WatchServicer):
    def __init__(self, member: Member) -> None:
        self._member = member

    async def Watch(
        self, requests: AsyncIterator[rpc_pb2.WatchRequest], context: Any
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        try:
            async for request in requests:
                yield rpc_pb2.WatchResponse(watch_id=request.create_request.watch_id, created=True)
        finally:
            self._member.streams_closed += 1


@pytest.fixture
def member() -> Member:
    return Member()


@pytest.fixture
def monitor(member: Member) -> LeaderMonitor:
    return LeaderMonitor(member.has_leader, interval=3600)  # the test calls check() itself


@pytest.fixture
async def channel(member: Member, monitor: LeaderMonitor) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[RequireLeader(monitor)])
    rpc_pb2_grpc.add_KVServicer_to_server(StandInKV(), server)
    rpc_pb2_grpc.add_WatchServicer_to_server(StandInWatch(member), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


def create(watch_id: int) -> rpc_pb2.WatchRequest:
    return rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(watch_id=watch_id))


async def test_calls_that_ask_for_a_leader_are_refused_at_once_without_one(
    channel: grpc.aio.Channel, member: Member
) -> None:
    kv = rpc_pb2_grpc.KVStub(channel)
    assert (await kv.Range(rpc_pb2.RangeRequest(), metadata=HASLEADER)).count == 7
    member.leader = False
    assert (await kv.Range(rpc_pb2.RangeRequest())).count == 7, "no metadata, no check"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kv.Range(rpc_pb2.RangeRequest(), metadata=HASLEADER)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "etcdserver: no leader"

    watch = rpc_pb2_grpc.WatchStub(channel).Watch(metadata=HASLEADER)
    await watch.write(create(1))
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await watch.read()
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_leader_requiring_stream_ends_when_the_leader_stays_gone(
    channel: grpc.aio.Channel, member: Member, monitor: LeaderMonitor
) -> None:
    stub = rpc_pb2_grpc.WatchStub(channel)
    required, plain = stub.Watch(metadata=HASLEADER), stub.Watch()
    for call, watch_id in ((required, 1), (plain, 2)):
        await call.write(create(watch_id))
        assert (await call.read()).created

    member.leader = False
    for _ in range(MAX_NO_LEADER_CHECKS - 1):
        monitor.check()
    member.leader = True
    monitor.check()  # the leader came back in time: the count starts again
    member.leader = False
    for _ in range(MAX_NO_LEADER_CHECKS):
        monitor.check()

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await asyncio.wait_for(required.read(), timeout=10)
    assert (ended.value.code(), ended.value.details()) == (
        grpc.StatusCode.UNAVAILABLE,
        "etcdserver: no leader",
    )
    assert member.streams_closed == 1, "the service's own handler was ended and cleaned up"

    await plain.write(create(3))
    assert (await asyncio.wait_for(plain.read(), timeout=10)).watch_id == 3, "still open"
    await plain.done_writing()
