"""Under concurrent writes the leader keeps its replication pipelined: nothing is sent twice.

pysyncobj's leader winds a follower's next index back on every success ack, so with several
append_entries in flight it re-sends entries the follower already holds; the follower then
truncates and re-appends them and logs "truncating already-applied log entries" (reference
pysyncobj.md §3.6). The store keeps the next index where it was (`raft.keeps_pipelined_index`).
This test writes from many concurrent clients through every member, then checks that every
member holds every write and that no member logged such a truncation.
"""

from __future__ import annotations

import asyncio

import grpc
from support.store_cluster import NewCluster

from kubelite.pb import rpc_pb2, rpc_pb2_grpc

CLIENTS_PER_MEMBER = 40
PUTS_PER_CLIENT = 40
TIME_LIMIT_S = 120.0
RESEND_MARK = "truncating already-applied log entries"


async def write_through_every_member(endpoints: list[str], prefix: bytes) -> int:
    channels = [grpc.aio.insecure_channel(e) for e in endpoints]
    try:

        async def client(kv: rpc_pb2_grpc.KVStub, name: bytes) -> int:
            for n in range(PUTS_PER_CLIENT):
                await kv.Put(rpc_pb2.PutRequest(key=prefix + name + b"/%d" % n, value=b"x" * 512))
            return PUTS_PER_CLIENT

        clients = [
            client(rpc_pb2_grpc.KVStub(channel), b"m%d-c%d" % (m, c))
            for m, channel in enumerate(channels)
            for c in range(CLIENTS_PER_MEMBER)
        ]
        done = await asyncio.wait_for(asyncio.gather(*clients), TIME_LIMIT_S)
        return sum(done)
    finally:
        for channel in channels:
            await channel.close()


def test_concurrent_writes_are_replicated_without_re_sending(new_cluster: NewCluster) -> None:
    store = new_cluster("kubelite")
    store.leader()
    prefix = b"/pipeline/"

    written = asyncio.run(write_through_every_member(store.client_endpoints, prefix))

    for index in range(len(store.members)):
        kv = rpc_pb2_grpc.KVStub(grpc.insecure_channel(store.endpoint(index)))
        held = kv.Range(
            rpc_pb2.RangeRequest(key=prefix, range_end=b"/pipeline0", count_only=True),
            timeout=10,
        )
        assert held.count == written, f"member {index} holds {held.count} of {written}"
    resent = {member.name: member.process.log_text().count(RESEND_MARK) for member in store.members}
    assert not any(resent.values()), f"entries were re-sent and truncated: {resent}"
