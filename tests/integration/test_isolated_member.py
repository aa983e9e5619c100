"""A member cut off from the quorum answers quickly instead of hanging, and recovers.

Two of three members are frozen with SIGSTOP (their sockets stay open, so to the third member
they look alive but say nothing). On the member left running:

* a Put and a linearizable Range fail with UNAVAILABLE ("etcdserver: no leader" or
  "etcdserver: request timed out") before a 10 s client deadline; the time taken is printed;
* a serializable Range still answers from the member's own copy.

Once the two are resumed the cluster has a leader again and every member takes writes. Run with
the remaining member being the leader (a stale leader that must not serve linearizable reads)
and being a follower.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest
from support.grpc_api import EtcdStubs
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
