"""A member cut off from the quorum answers quickly instead of hanging, and recovers.

Two of three members are frozen with SIGSTOP (their sockets stay open, so to the third member
they look alive but say nothing). On the member left running:

* a Put and a linearizable Range fail with UNAVAILABLE ("etcdserver: no leader" or
  "etcdserver: request timed out") before a 10 s client deadline; the time taken is printed;
* a serializable Range still answers from the member's own copy.

Once the two are resumed the cluster has a leader again and every member takes writes. Run with
the remaining member being the leader (a stale leader that must not serve linearizable reads)
and being a follower.

Calls that carry ``hasleader: true`` (etcd's WithRequireLeader, sent by the API server's
watches) behave as on etcd, checked on both stores: once the leader stays gone, such a watch is
ended with UNAVAILABLE "etcdserver: no leader" while a plain watch stays open, and such a call,
even a serializable Range, is refused.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import grpc
import pytest
from support.grpc_api import BidiStream, EtcdStubs, prefix_end
from support.store_cluster import NewCluster, StoreCluster
from support.wait import wait_for
from support.write_load import linearizable_barrier, read_prefix

from kubelite.pb import rpc_pb2

CLIENT_DEADLINE_S = 10.0
RECOVERY_WAIT_S = 60.0
UNAVAILABLE_MESSAGES = {"etcdserver: no leader", "etcdserver: request timed out"}


def failure_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, float]:
    """(code, details, seconds taken) of a call that must fail."""
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    return error.code(), error.details() or "", time.monotonic() - started


def put_through(store: StoreCluster, index: int, key: bytes, value: bytes) -> bool:
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=2.0)
    return True


@pytest.mark.parametrize("remaining", ["leader", "follower"])
def test_member_without_quorum_fails_fast_and_recovers(
    new_cluster: NewCluster, key_prefix: bytes, remaining: str
) -> None:
    store = new_cluster()
    leader = store.leader()
    kept = leader if remaining == "leader" else (leader + 1) % len(store.members)
    frozen = [i for i in range(len(store.members)) if i != kept]
    before = key_prefix + b"before"
    put_through(store, kept, before, b"v0")

    try:
        for index in frozen:
            store.pause(index)
        with EtcdStubs.connect(store.endpoint(kept)) as stubs:
            put = failure_of(
                lambda: stubs.kv.Put(
                    rpc_pb2.PutRequest(key=key_prefix + b"during", value=b"x"),
                    timeout=CLIENT_DEADLINE_S,
                )
            )
            read = failure_of(
                lambda: stubs.kv.Range(rpc_pb2.RangeRequest(key=before), timeout=CLIENT_DEADLINE_S)
            )
            local = stubs.kv.Range(
                rpc_pb2.RangeRequest(key=before, serializable=True), timeout=CLIENT_DEADLINE_S
            )
    finally:
        for index in frozen:
            store.resume(index)

    print(
        f"\nisolated {remaining}: Put failed after {put[2]:.2f}s ({put[0].name}: {put[1]}); "
        f"linearizable Range failed after {read[2]:.2f}s ({read[0].name}: {read[1]})"
    )
    for code, details, _ in (put, read):
        assert code == grpc.StatusCode.UNAVAILABLE and details in UNAVAILABLE_MESSAGES, (
            code,
            details,
        )
    assert [kv.value for kv in local.kvs] == [b"v0"]

    after = key_prefix + b"after"
    for index, member in enumerate(store.members):

        def put_after(index: int = index, name: str = member.name) -> bool:
            return put_through(store, index, after, name.encode())

        wait_for(put_after, RECOVERY_WAIT_S, describe=f"a Put through {member.name} after SIGCONT")
    last_value = store.members[-1].name.encode()
    for index in range(len(store.members)):
        linearizable_barrier(store.endpoint(index))
        assert read_prefix(store.endpoint(index), after)[after].value == last_value


HASLEADER = (("hasleader", "true"),)
NO_LEADER = (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader")
BACKENDS = [
    pytest.param("kubelite", id="kubelite"),
    pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
]


def watch_prefix(stream: BidiStream, prefix: bytes) -> None:
    create = rpc_pb2.WatchCreateRequest(key=prefix, range_end=prefix_end(prefix))
    stream.send(rpc_pb2.WatchRequest(create_request=create))
    assert stream.next_response(describe="watch created").created


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_requiring_a_leader_end_on_a_member_without_one(
    new_cluster: NewCluster, key_prefix: bytes, backend: str
) -> None:
    store = new_cluster(backend)
    kept = (store.leader() + 1) % len(store.members)
    frozen = [i for i in range(len(store.members)) if i != kept]
    with (
        EtcdStubs.connect(store.endpoint(kept)) as stubs,
        BidiStream(functools.partial(stubs.watch.Watch, metadata=HASLEADER)) as required,
        BidiStream(stubs.watch.Watch) as plain,
    ):
        for stream in (required, plain):
            watch_prefix(stream, key_prefix)
        try:
            for index in frozen:
                store.pause(index)
            paused_at = time.monotonic()
            wait_for(
                lambda: required.error,
                CLIENT_DEADLINE_S * 3,
                describe="the hasleader watch to end",
            )
            ended_after = time.monotonic() - paused_at
            refused = failure_of(
                lambda: stubs.kv.Range(
                    rpc_pb2.RangeRequest(key=key_prefix, serializable=True),
                    metadata=HASLEADER,
                    timeout=CLIENT_DEADLINE_S,
                )
            )
            plain_error = plain.error
            local = stubs.kv.Range(rpc_pb2.RangeRequest(key=key_prefix, serializable=True))
        finally:
            for index in frozen:
                store.resume(index)
        assert required.error is not None
        print(
            f"\n{backend}: hasleader watch ended {ended_after:.2f}s after the quorum went "
            f"({required.error.code().name}: {required.error.details()}); a hasleader "
            f"serializable Range was refused after {refused[2]:.2f}s"
        )
        assert (required.error.code(), required.error.details()) == NO_LEADER
        assert refused[:2] == NO_LEADER
        assert plain_error is None, f"a watch without hasleader was ended: {plain_error}"
        assert local.count == 0

        def put_requiring_leader() -> bool:
            stubs.kv.Put(
                rpc_pb2.PutRequest(key=key_prefix + b"after", value=b"v"),
                metadata=HASLEADER,
                timeout=2.0,
            )
            return True

        wait_for(put_requiring_leader, RECOVERY_WAIT_S, describe="a hasleader Put after SIGCONT")
        event = plain.next_response(describe="the plain watch sees the write after SIGCONT")
        assert [e.kv.key for e in event.events] == [key_prefix + b"after"]
