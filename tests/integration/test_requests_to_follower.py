"""Every kind of request works when a client sends it to a follower, on kubelite and on etcd.

Clients do not know which member leads, so a follower must serve writes (Put, Txn, DeleteRange,
Compact, the Lease calls) as well as reads, with the same answers and effects as the leader: the
effect is visible through the leader, and the follower reads its own writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from support.grpc_api import BidiStream, EtcdStubs
from support.store_cluster import StoreCluster

from kubelite.pb import rpc_pb2

Compare = rpc_pb2.Compare
LEASE_TTL = 60


@pytest.fixture
def through(store: StoreCluster) -> Iterator[tuple[EtcdStubs, EtcdStubs]]:
    """(stubs on a follower, stubs on the leader)."""
    leader = store.leader()
    follower = (leader + 1) % len(store.members)
    with (
        EtcdStubs.connect(store.endpoint(follower)) as on_follower,
        EtcdStubs.connect(store.endpoint(leader)) as on_leader,
    ):
        yield on_follower, on_leader


def values(stubs: EtcdStubs, key: bytes, **fields: Any) -> list[bytes]:
    return [kv.value for kv in stubs.kv.Range(rpc_pb2.RangeRequest(key=key, **fields)).kvs]


def test_kv_requests_through_a_follower(
    through: tuple[EtcdStubs, EtcdStubs], key_prefix: bytes
) -> None:
    follower, leader = through
    a, b = key_prefix + b"a", key_prefix + b"b"

    first = follower.kv.Put(rpc_pb2.PutRequest(key=a, value=b"1")).header.revision
    assert values(follower, a) == [b"1"]
    assert values(follower, a, serializable=True) == [b"1"]  # read-your-writes, locally
    assert values(leader, a) == [b"1"]

    txn = follower.kv.Txn(
        rpc_pb2.TxnRequest(
            compare=[Compare(key=a, target=Compare.VALUE, result=Compare.EQUAL, value=b"1")],
            success=[
                rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b, value=b"2")),
                rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=a)),
            ],
            failure=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b, value=b"no"))],
        )
    )
    assert txn.succeeded
    assert [kv.value for kv in txn.responses[1].response_range.kvs] == [b"1"]
    assert values(leader, b) == [b"2"]

    deleted = follower.kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b, prev_kv=True))
    assert (deleted.deleted, [kv.value for kv in deleted.prev_kvs]) == (1, [b"2"])
    assert values(leader, b) == []

    follower.kv.Compact(rpc_pb2.CompactionRequest(revision=first, physical=True))
    with pytest.raises(grpc.RpcError) as compacted:
        leader.kv.Range(rpc_pb2.RangeRequest(key=a, revision=first - 1))
    assert compacted.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert values(leader, a, revision=first) == [b"1"]


def test_lease_requests_through_a_follower(
    through: tuple[EtcdStubs, EtcdStubs], key_prefix: bytes
) -> None:
    follower, leader = through
    key = key_prefix + b"leased"

    lease = follower.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=LEASE_TTL)).ID
    try:
        follower.kv.Put(rpc_pb2.PutRequest(key=key, value=b"v", lease=lease))
        with BidiStream(follower.lease.LeaseKeepAlive) as keepalive:
            keepalive.send(rpc_pb2.LeaseKeepAliveRequest(ID=lease))
            renewed = keepalive.next_response(describe="keepalive through a follower")
        assert (lease, LEASE_TTL) == (renewed.ID, renewed.TTL)

        request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease, keys=True)
        for stubs in (follower, leader):
            alive = stubs.lease.LeaseTimeToLive(request)
            assert (alive.ID, alive.grantedTTL, list(alive.keys)) == (lease, LEASE_TTL, [key])
            assert 0 < alive.TTL <= LEASE_TTL
        listed = follower.lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest()).leases
        assert lease in {status.ID for status in listed}
    finally:
        follower.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease))

    assert values(leader, key) == []
    assert follower.lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=lease)).TTL == -1
