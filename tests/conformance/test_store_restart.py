"""Member failures a 3-member store must ride out, on kubelite and on real etcd.

Also the proof that the cluster helpers the drills rely on (kill -9, SIGSTOP/SIGCONT,
restart on the same data dirs, `leader()`) do what they say on both backends. The tests
run in order on one cluster per backend and leave every member running.
"""

from __future__ import annotations

import pytest
from support.grpc_api import EtcdStubs
from support.store_cluster import StoreCluster
from support.wait import wait_for

from kubelite.pb import rpc_pb2

CATCH_UP_WAIT_S = 30.0


def put_through(store: StoreCluster, index: int, key: bytes, value: bytes) -> int:
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        return int(stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=value)).header.revision)


def read_through(store: StoreCluster, index: int, key: bytes, serializable: bool) -> bytes | None:
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        kvs = stubs.kv.Range(rpc_pb2.RangeRequest(key=key, serializable=serializable)).kvs
        return kvs[0].value if kvs else None


def wait_until_member_has(store: StoreCluster, index: int, key: bytes, value: bytes) -> None:
    name = store.members[index].name
    wait_for(
        lambda: read_through(store, index, key, serializable=True) == value,
        CATCH_UP_WAIT_S,
        describe=f"{name} applied {key!r} = {value!r}",
    )


@pytest.fixture
def follower(store: StoreCluster) -> int:
    return (store.leader() + 1) % len(store.members)


def test_killed_follower_misses_writes_then_catches_up(
    store: StoreCluster, key_prefix: bytes, follower: int
) -> None:
    leader = store.leader()
    store.kill(follower)
    put_through(store, leader, key_prefix + b"k", b"written while s-down")
    store.restart(follower)
    wait_until_member_has(store, follower, key_prefix + b"k", b"written while s-down")
    assert read_through(store, follower, key_prefix + b"k", serializable=False) == (
        b"written while s-down"
    )


def test_killed_leader_is_replaced(store: StoreCluster, key_prefix: bytes) -> None:
    old_leader = store.leader()
    store.kill(old_leader)
    new_leader = store.leader()  # agreed on by the two survivors
    assert new_leader != old_leader
    put_through(store, new_leader, key_prefix + b"k", b"after failover")
    store.restart(old_leader)
    wait_until_member_has(store, old_leader, key_prefix + b"k", b"after failover")


def test_acknowledged_writes_survive_kill_of_every_member(
    store: StoreCluster, key_prefix: bytes
) -> None:
    revision = put_through(store, 0, key_prefix + b"k", b"durable")
    store.kill_all()
    store.restart_all()
    for index in range(len(store.members)):
        assert read_through(store, index, key_prefix + b"k", serializable=False) == b"durable"
    with EtcdStubs.connect(store.endpoint(0)) as stubs:
        kv = stubs.kv.Range(rpc_pb2.RangeRequest(key=key_prefix + b"k")).kvs[0]
        assert (kv.create_revision, kv.mod_revision, kv.version) == (revision, revision, 1)


def test_paused_follower_catches_up_after_resume(
    store: StoreCluster, key_prefix: bytes, follower: int
) -> None:
    leader = store.leader()
    store.pause(follower)
    try:
        put_through(store, leader, key_prefix + b"k", b"written while paused")
    finally:
        store.resume(follower)
    wait_until_member_has(store, follower, key_prefix + b"k", b"written while paused")
