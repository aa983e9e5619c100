"""A lease kept alive through a leader kill survives; once nobody keeps it alive, it expires.

A lease with a 5 s TTL holds a key. The client renews it on a KeepAlive stream whenever
TimeToLive reports at most `RENEW_AT_S` seconds left (so renewals follow the lease's own clock,
not the test's). The leader is killed; the client's stream to it breaks and the client renews
through another member. Renewals go on until they cover two TTLs after the kill: without them
the lease would have expired by then, as a new leader extends every lease by one TTL (plus an
election timeout) only once. The key is then still the same key (same create_revision). Then the
client stops, and the key is deleted by expiry.
"""

from __future__ import annotations

import time

import pytest
from support.grpc_api import BidiStream, EtcdStubs
from support.store_cluster import NewCluster, StoreCluster
from support.wait import WaitAborted, wait_for

from kubelite.pb import rpc_pb2

BACKENDS = [
    pytest.param("kubelite", id="kubelite"),
    pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
]
LEASE_TTL = 5
RENEW_AT_S = 2
RENEWALS_BEFORE_KILL = 1
KEPT_ALIVE_AFTER_KILL_S = 2 * LEASE_TTL
MAX_RENEWALS = 30
RENEW_WAIT_S = 30.0
EXPIRY_WAIT_S = 60.0
PROBE_TIMEOUT_S = 3.0


class KeepAlive:
    """Renews one lease through one member at a time, moving on when that member fails."""

    def __init__(self, store: StoreCluster, lease: int, member: int) -> None:
        self.store, self.lease, self.member = store, lease, member
        self._stubs: EtcdStubs | None = None
        self._stream: BidiStream | None = None
        self.renewals: list[tuple[int, float]] = []  # (member, time.monotonic())

    def _drop(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._stubs is not None:
            self._stubs.close()
        self._stream = self._stubs = None

    def _move_on(self) -> None:
        self._drop()
        self.member = (self.member + 1) % len(self.store.members)

    def _remaining(self) -> int:
        """TimeToLive through the current member; moves on when that member does not answer."""
        try:
            with EtcdStubs.connect(self.store.endpoint(self.member)) as stubs:
                request = rpc_pb2.LeaseTimeToLiveRequest(ID=self.lease)
                ttl = int(stubs.lease.LeaseTimeToLive(request, timeout=PROBE_TIMEOUT_S).TTL)
        except Exception:
            self._move_on()
            raise
        if ttl < 0:
            raise WaitAborted(f"lease {self.lease} is gone; renewals so far: {self.renewals}")
        return ttl

    def _renew_once(self) -> rpc_pb2.LeaseKeepAliveResponse:
        try:
            if self._stream is None:
                self._stubs = EtcdStubs.connect(self.store.endpoint(self.member))
                self._stream = BidiStream(self._stubs.lease.LeaseKeepAlive, response_wait_s=5.0)
            self._stream.send(rpc_pb2.LeaseKeepAliveRequest(ID=self.lease))
            response: rpc_pb2.LeaseKeepAliveResponse = self._stream.next_response(
                describe=f"keepalive of {self.lease}"
            )
        except Exception:
            self._move_on()
            raise
        if response.TTL <= 0:
            raise WaitAborted(f"lease {self.lease} expired: {response}")
        return response

    def renew_when_due(self) -> rpc_pb2.LeaseKeepAliveResponse:
        last_ttl: list[int] = []

        def due() -> bool:
            last_ttl[:] = [self._remaining()]
            return last_ttl[0] <= RENEW_AT_S

        wait_for(due, RENEW_WAIT_S, lambda: f"TTL <= {RENEW_AT_S}s, last {last_ttl}", 0.25)
        response = wait_for(
            self._renew_once, RENEW_WAIT_S, describe=lambda: f"a renewal via {self.member}"
        )
        self.renewals.append((self.member, time.monotonic()))
        return response

    def close(self) -> None:
        self._drop()


def key_on(store: StoreCluster, index: int, key: bytes) -> list[int]:
    """create_revision of `key` as a linearizable read through member `index` sees it."""
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        kvs = stubs.kv.Range(rpc_pb2.RangeRequest(key=key), timeout=PROBE_TIMEOUT_S).kvs
    return [kv.create_revision for kv in kvs]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lease_kept_alive_across_leader_kill_then_expires(
    new_cluster: NewCluster, key_prefix: bytes, backend: str
) -> None:
    store = new_cluster(backend)
    leader = store.leader()
    key = key_prefix + b"leased"
    with EtcdStubs.connect(store.endpoint(leader)) as stubs:
        lease = stubs.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=LEASE_TTL)).ID
        created = stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=b"v", lease=lease))
    created_at = created.header.revision

    keepalive = KeepAlive(store, lease, member=leader)
    try:
        for _ in range(RENEWALS_BEFORE_KILL):
            assert keepalive.renew_when_due().TTL == LEASE_TTL
        store.kill(leader)
        killed_at = time.monotonic()
        for _ in range(MAX_RENEWALS):
            assert keepalive.renew_when_due().TTL == LEASE_TTL
            if keepalive.renewals[-1][1] - killed_at > KEPT_ALIVE_AFTER_KILL_S:
                break
        else:
            raise AssertionError(f"{MAX_RENEWALS} renewals took less than two TTLs")
    finally:
        keepalive.close()
    survivor = keepalive.member
    assert survivor != leader
    assert key_on(store, survivor, key) == [created_at]
    with EtcdStubs.connect(store.endpoint(survivor)) as stubs:
        alive = stubs.lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=lease, keys=True))
    assert list(alive.keys) == [key]

    last_renewal = keepalive.renewals[-1][1]
    wait_for(
        lambda: key_on(store, survivor, key) == [],
        EXPIRY_WAIT_S,
        describe=lambda: f"{key!r} deleted by expiry; still there: {key_on(store, survivor, key)}",
    )
    expired_after = time.monotonic() - last_renewal
    with EtcdStubs.connect(store.endpoint(survivor)) as stubs:
        assert stubs.lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=lease)).TTL == -1
    after_kill = [t - killed_at for _, t in keepalive.renewals if t >= killed_at]
    print(
        f"\n[{backend}] renewals after the kill at +{', +'.join(f'{t:.1f}' for t in after_kill)}s"
        f" via member {survivor}; key gone {expired_after:.1f}s after the last renewal"
    )
