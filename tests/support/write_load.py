"""A bounded write load against a store cluster, and the check that no acknowledged write is lost.

    load = WriteLoad(lambda: cluster_endpoints(store), prefix=key_prefix, writers=3)
    with load:                                   # start(); stop() on the way out
        load.wait_acks(30, describe="load running")
        store.kill(store.leader())
        load.wait_acks(30, since=time.monotonic(), describe="writes after the kill")
    for index in survivors:
        assert acked_writes_missing(read_prefix(store.endpoint(index), key_prefix), load.acks) == []

Each writer thread puts unique keys ``<prefix>w<writer>-<n>`` one after another, each with its
own value. A write counts as acknowledged (an `Ack`) only when Put returned OK. On an error the
writer retries the *same* key on the next member, until it is acknowledged, the per-key timeout
passes or the load is stopped; a key given up is "in doubt" (it may or may not exist) and is
never checked. Retrying is a `wait_for` whose condition is "this Put was acknowledged", so the
pause between attempts is the one wait helper's poll interval.

Bounded: at most `max_writes` keys per writer, `time_limit_s` for the whole load, `key_timeout_s`
per key; every Put has a deadline of `put_timeout_s`.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc

from kubelite.pb import kv_pb2, rpc_pb2
from support.grpc_api import EtcdStubs, prefix_end
from support.store_cluster import StoreCluster
from support.wait import WaitAborted, WaitTimeout, wait_for

PUT_TIMEOUT_S = 3.0
KEY_TIMEOUT_S = 30.0
RETRY_INTERVAL_S = 0.05
JOIN_TIMEOUT_S = PUT_TIMEOUT_S + 5.0
READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Ack:
    """One acknowledged Put."""

    key: bytes
    value: bytes
    revision: int  # header.revision of the PutResponse
    member: int  # index of the member that answered
    at: float  # time.monotonic() when the answer arrived


def cluster_endpoints(store: StoreCluster) -> list[str | None]:
    """Current client endpoint of every member, None while a member has not published one."""
    endpoints: list[str | None] = []
    for index in range(len(store.members)):
        try:
            endpoints.append(store.endpoint(index))
        except RuntimeError:
            endpoints.append(None)
    return endpoints


@dataclass
class _Writer:
    number: int
    member: int  # the member the next attempt goes to
    endpoints: list[str | None] | None = None  # read again after every error
    written: int = 0
    in_doubt: list[bytes] = field(default_factory=list)


class WriteLoad:
    """Writer threads putting unique keys (see module docstring)."""

    def __init__(
        self,
        endpoints: Callable[[], list[str | None]],
        prefix: bytes,
        writers: int = 3,
        max_writes: int = 5000,
        time_limit_s: float = 60.0,
        put_timeout_s: float = PUT_TIMEOUT_S,
        key_timeout_s: float = KEY_TIMEOUT_S,
        value_size: int = 16,
    ) -> None:
        self._endpoints = endpoints
        self.prefix = prefix
        self._writers = [_Writer(number=n, member=n) for n in range(writers)]
        self._max_writes = max_writes
        self._time_limit_s = time_limit_s
        self._put_timeout_s = put_timeout_s
        self._key_timeout_s = key_timeout_s
        self._value_size = value_size
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stubs: dict[str, EtcdStubs] = {}
        self._deadline = 0.0
        self.acks: list[Ack] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.started_at = 0.0
        self.stopped_at = 0.0

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._deadline = self.started_at + self._time_limit_s
        for writer in self._writers:
            thread = threading.Thread(
                target=self._run, args=(writer,), name=f"writer-{writer.number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop every writer after its current attempt; close the channels."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=JOIN_TIMEOUT_S)
        self.stopped_at = time.monotonic()
        alive = [t.name for t in self._threads if t.is_alive()]
        with self._lock:
            for stubs in self._stubs.values():
                stubs.close()
            self._stubs.clear()
        if alive:
            raise AssertionError(f"writer threads still running after stop(): {alive}")

    def __enter__(self) -> WriteLoad:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observing ----------------------------------------------------------------------------

    def acked_since(self, since: float) -> int:
        with self._lock:
            return sum(1 for ack in self.acks if ack.at >= since)

    def wait_acks(
        self, count: int, timeout: float = 60.0, since: float = 0.0, describe: str = ""
    ) -> None:
        """Wait until `count` writes were acknowledged at or after `since`."""
        wait_for(
            lambda: self.acked_since(since) >= count,
            timeout,
            describe=lambda: f"{count} acknowledged writes {describe}: {self.summary()}",
        )

    @property
    def in_doubt(self) -> list[bytes]:
        return [key for writer in self._writers for key in writer.in_doubt]

    def summary(self) -> str:
        with self._lock:
            acks, errors = len(self.acks), dict(self.errors.most_common(5))
        running = sum(t.is_alive() for t in self._threads)
        doubt = len(self.in_doubt)
        return f"{acks} acked, {doubt} in doubt, {running} writers running, errors {errors}"

    def largest_gap(self, start: float, end: float) -> tuple[float, float, float]:
        """(gap, from, to): the longest interval in [start, end] without an acknowledgement."""
        with self._lock:
            times = sorted(ack.at for ack in self.acks if start <= ack.at <= end)
        points = [start, *times, end]
        return max((b - a, a, b) for a, b in itertools.pairwise(points))

    # -- writers ------------------------------------------------------------------------------

    def _run(self, writer: _Writer) -> None:
        for n in range(self._max_writes):
            if self._stop.is_set() or time.monotonic() >= self._deadline:
                return
            key = self.prefix + f"w{writer.number:02d}-{n:06d}".encode()
            value = (f"{writer.number}:{n}:".encode() * self._value_size)[: self._value_size]
            if not self._write(writer, key, value):
                writer.in_doubt.append(key)
                return
            writer.written += 1

    def _write(self, writer: _Writer, key: bytes, value: bytes) -> bool:
        def acknowledged() -> Ack:
            if self._stop.is_set():
                raise WaitAborted("load stopped")
            return self._attempt(writer, key, value)

        timeout = min(self._key_timeout_s, max(0.0, self._deadline - time.monotonic()))
        try:
            wait_for(acknowledged, timeout, describe=f"Put {key!r}", interval=RETRY_INTERVAL_S)
        except (WaitAborted, WaitTimeout):
            return False
        return True

    def _attempt(self, writer: _Writer, key: bytes, value: bytes) -> Ack:
        if writer.endpoints is None:
            writer.endpoints = self._endpoints()  # a restarted member has a new port
        member = writer.member % len(writer.endpoints)
        endpoint = writer.endpoints[member]
        try:
            if endpoint is None:
                raise RuntimeError(f"member {member} has no published endpoint")
            response = self._stub(endpoint).kv.Put(
                rpc_pb2.PutRequest(key=key, value=value), timeout=self._put_timeout_s
            )
        except (grpc.RpcError, RuntimeError) as exc:
            writer.member += 1  # the same key goes to the next member
            writer.endpoints = None
            with self._lock:
                self.errors[_error_name(exc)] += 1
            raise
        ack = Ack(key, value, int(response.header.revision), member, time.monotonic())
        with self._lock:
            self.acks.append(ack)
        return ack

    def _stub(self, endpoint: str) -> EtcdStubs:
        with self._lock:
            stubs = self._stubs.get(endpoint)
            if stubs is None:
                stubs = self._stubs[endpoint] = EtcdStubs.connect(endpoint)
            return stubs


def _error_name(exc: Exception) -> str:
    if isinstance(exc, grpc.RpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}"


# -- checks ------------------------------------------------------------------------------------


def read_prefix(
    endpoint: str, prefix: bytes, serializable: bool = True, timeout: float = READ_TIMEOUT_S
) -> dict[bytes, kv_pb2.KeyValue]:
    """Every key under `prefix` as one member sees it (serializable: its local state)."""
    with EtcdStubs.connect(endpoint) as stubs:
        request = rpc_pb2.RangeRequest(
            key=prefix, range_end=prefix_end(prefix), serializable=serializable
        )
        return {kv.key: kv for kv in stubs.kv.Range(request, timeout=timeout).kvs}


def linearizable_barrier(endpoint: str, timeout: float = READ_TIMEOUT_S) -> int:
    """A linearizable read through one member; returns the revision it saw. Once it returns,
    that member has applied every write acknowledged before the call."""
    with EtcdStubs.connect(endpoint) as stubs:
        request = rpc_pb2.RangeRequest(key=b"\0", count_only=True)
        return int(stubs.kv.Range(request, timeout=timeout).header.revision)


def acked_writes_missing(kvs: dict[bytes, kv_pb2.KeyValue], acks: Iterable[Ack]) -> list[str]:
    """Acknowledged writes that `kvs` lacks or holds with another value or an older revision."""
    problems = []
    for ack in acks:
        kv = kvs.get(ack.key)
        if kv is None:
            problems.append(f"{ack.key!r} missing (acked at revision {ack.revision})")
        elif kv.value != ack.value:
            problems.append(f"{ack.key!r} = {kv.value!r}, acked {ack.value!r}")
        elif kv.mod_revision < ack.revision:
            problems.append(f"{ack.key!r} mod_revision {kv.mod_revision} < acked {ack.revision}")
    return problems


def check_member_has_acks(store: StoreCluster, index: int, prefix: bytes, acks: list[Ack]) -> None:
    """Barrier on member `index`, then its local (serializable) copy holds every ack."""
    endpoint = store.endpoint(index)
    wait_for(
        lambda: linearizable_barrier(endpoint) > 0,
        READ_TIMEOUT_S * 3,
        describe=f"a linearizable read through {store.members[index].name}",
    )
    problems = acked_writes_missing(read_prefix(endpoint, prefix), acks)
    shown = "\n  ".join(problems[:20])
    assert not problems, (
        f"{store.members[index].name}: {len(problems)} of {len(acks)} acknowledged writes "
        f"lost or wrong:\n  {shown}"
    )
