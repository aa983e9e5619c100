"""A 5-member store keeps working with two members down, and they catch up when back.

Smoke test of the 5-member layout: a write through one member is read through all five; then
the leader and one follower are killed (-9). The three left elect a leader and take writes
through each of them; the two killed members, restarted on their data dirs, end up holding
every key in their own copies.
"""

from __future__ import annotations

import pytest
from support.grpc_api import EtcdStubs
from support.store_cluster import NewCluster, StoreCluster
from support.wait import wait_for
from support.write_load import linearizable_barrier, read_prefix

from kubelite.pb import rpc_pb2

BACKENDS = [
    pytest.param("kubelite", id="kubelite"),
    pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
]
WRITES_WHILE_DOWN = 60
CATCH_UP_WAIT_S = 60.0


def put_through(store: StoreCluster, index: int, key: bytes, value: bytes) -> None:
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=value))


def values_on(store: StoreCluster, index: int, prefix: bytes) -> dict[bytes, bytes]:
    """What member `index` holds under `prefix`, in its own copy."""
    return {key: kv.value for key, kv in read_prefix(store.endpoint(index), prefix).items()}


def wait_until_holding(
    store: StoreCluster, index: int, prefix: bytes, expected: dict[bytes, bytes]
) -> None:
    def describe() -> str:
        held = values_on(store, index, prefix)
        return f"{store.members[index].name} holding all {len(expected)} keys; it has {len(held)}"

    wait_for(lambda: values_on(store, index, prefix) == expected, CATCH_UP_WAIT_S, describe)


@pytest.mark.parametrize("backend", BACKENDS)
def test_five_members_ride_out_two_kills(
    new_cluster: NewCluster, key_prefix: bytes, backend: str
) -> None:
    store = new_cluster(backend, size=5)
    everyone = list(range(5))
    expected = {key_prefix + b"first": b"1"}
    put_through(store, 0, key_prefix + b"first", b"1")
    for index in everyone:
        linearizable_barrier(store.endpoint(index))
        assert values_on(store, index, key_prefix) == expected, store.members[index].name

    leader = store.leader()
    down = [leader, (leader + 1) % 5]
    up = [i for i in everyone if i not in down]
    for index in down:
        store.kill(index)
    assert store.leader() in up
    for n in range(WRITES_WHILE_DOWN):
        key, value = key_prefix + f"while-down-{n:03d}".encode(), f"{n}".encode()
        put_through(store, up[n % len(up)], key, value)
        expected[key] = value
    for index in up:
        linearizable_barrier(store.endpoint(index))
        assert values_on(store, index, key_prefix) == expected, store.members[index].name

    store.restart(*down)
    for index in down:
        wait_until_holding(store, index, key_prefix, expected)
