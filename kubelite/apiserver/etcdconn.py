"""The API server's connections to the store: endpoints, channels, failover and error mapping.

It owns everything `EtcdStorage` (KV calls) and the watch stream share:

- keys as they travel (`key_bytes`, `key_text`) and etcd's `prefix_end` for prefix ranges.
- `parse_endpoints` turns ``--etcd-servers`` values (``"http://127.0.0.1:2379,10.0.0.2:2379"``)
  into gRPC targets (``"127.0.0.1:2379"``, ``"10.0.0.2:2379"``).
- `classify` reads a failed RPC's status code and etcd's message text (clients recognise etcd
  errors by text, e.g. ``"etcdserver: no leader"``) and says whether another endpoint may do
  better (`Failure.RETRY`) or the store gave a definite answer; `storage_error` maps definite
  answers to the `storage` errors, the only place that mapping lives.
- `EndpointPool` keeps one lazily created ``grpc.aio`` channel per endpoint and a sticky
  *preferred* endpoint; a failed endpoint is set aside for `QUARANTINE_S` and the next healthy
  one becomes preferred.
- `call_with_failover` runs one attempt at a time on the preferred endpoint, each with the
  per-request timeout, moving on with jittered backoff after a retryable failure, until the
  overall retry deadline; then it raises `StorageUnavailable`::

      attempt(s1) -> UNAVAILABLE -> s1 set aside -> sleep 25 ms -> attempt(s2) -> answer
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import grpc

from kubelite.apiserver.storage import (
    Compacted,
    FutureRevision,
    StorageError,
    StorageUnavailable,
    ValueTooLarge,
)
from kubelite.pb import rpc_pb2_grpc

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_CLIENT_PORT = 2379
QUARANTINE_S = 2.0
MiB = 1024 * 1024
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.enable_http_proxy", 0),  # the store is never reached through an HTTP proxy
    ("grpc.max_receive_message_length", 256 * MiB),  # whole-collection lists can be large
    # A restarted member becomes usable again within ~2 s instead of gRPC's 120 s maximum.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


# --- endpoints --------------------------------------------------------------------------------


def parse_endpoint(url: str) -> tuple[str, bool]:
    """``"http://h:p"``, ``"https://h:p"`` or ``"h:p"`` (port 2379 if absent) -> (target, tls)."""
    text = url.strip()
    if not text:
        raise ValueError("empty store endpoint")
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"store endpoint {url!r}: scheme must be http or https")
    if parts.path not in ("", "/") or parts.query or parts.fragment or not parts.hostname:
        raise ValueError(f"store endpoint {url!r}: expected [http[s]://]host[:port]")
    try:
        port = parts.port or DEFAULT_CLIENT_PORT
    except ValueError as exc:
        raise ValueError(f"store endpoint {url!r}: bad port") from exc
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", parts.scheme == "https"


def parse_endpoints(urls: Iterable[str]) -> tuple[str, ...]:
    """gRPC targets of ``--etcd-servers`` values; each value may list several, comma-separated.

    Duplicates are dropped (order kept). TLS endpoints are refused for now: the store speaks
    plain gRPC until the certificates of DESIGN.md §6 exist.
    """
    targets: list[str] = []
    for value in urls:
        for url in value.split(","):
            if not url.strip():
                continue
            target, tls = parse_endpoint(url)
            if tls:
                raise ValueError(f"store endpoint {url!r}: TLS to the store is not supported yet")
            if target not in targets:
                targets.append(target)
    if not targets:
        raise ValueError("no store endpoints given")
    return tuple(targets)


# --- keys -------------------------------------------------------------------------------------


def key_bytes(key: str) -> bytes:
    """Keys travel as UTF-8; surrogateescape lets any stored byte string round-trip."""
    return key.encode("utf-8", "surrogateescape")


def key_text(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def prefix_end(prefix: bytes) -> bytes:
    """The range_end selecting every key that starts with `prefix` (etcd's GetPrefixRangeEnd):
    b"/a/" -> b"/a0", b"a\\xff" -> b"b", b"" or b"\\xff" -> b"\\0" (every key from the start)."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\0"
    end[-1] += 1
    return bytes(end)


# --- errors -----------------------------------------------------------------------------------


class Failure(enum.Enum):
    """What a failed RPC means for the caller."""

    RETRY = "retry"  # this endpoint, or the cluster for a moment, could not answer
    COMPACTED = "compacted"
    FUTURE_REVISION = "future revision"
    TOO_LARGE = "too large"
    FATAL = "fatal"  # a definite refusal no retry will change


RETRYABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
# etcd's (and our store's) texts for "ask again, maybe elsewhere"; most come with UNAVAILABLE,
# but the text is what etcd clients match on.
RETRYABLE_TEXTS = (
    "etcdserver: no leader",
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "etcdserver: server stopped",
    "etcdserver: not capable",
    "etcdserver: unhealthy cluster",
    "etcdserver: too many requests",
    "etcdserver: leader epoch is stale",
    "stream removed",  # gRPC's text for a connection that vanished mid-call (code UNKNOWN)
    "internal error from core",  # the same, as gRPC reports it on a stream (code INTERNAL)
)


def classify(code: grpc.StatusCode, details: str) -> Failure:
    """The meaning of a failed RPC from its status code and message text."""
    text = details.lower()
    if "required revision has been compacted" in text:
        return Failure.COMPACTED
    if "required revision is a future revision" in text:
        return Failure.FUTURE_REVISION
    if "request is too large" in text or (
        code is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in text
    ):
        # etcd refuses requests over 1.5 MiB by text; gRPC itself refuses messages over the
        # server's receive limit (2 MiB on etcd) with RESOURCE_EXHAUSTED before etcd sees them.
        return Failure.TOO_LARGE
    if code in RETRYABLE_CODES or any(t in text for t in RETRYABLE_TEXTS):
        return Failure.RETRY
    return Failure.FATAL


def rpc_failure(exc: grpc.aio.AioRpcError) -> Failure:
    return classify(exc.code(), exc.details() or "")


def describe_rpc_error(exc: grpc.aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details()}"


def storage_error(exc: grpc.aio.AioRpcError, what: str, revision: int = 0) -> StorageError:
    """The storage error for a definite (non-retryable) failure of `what`.

    `revision` is the revision the request asked for, reported by `Compacted`; etcd's error
    text does not carry the compact revision, so that is 0 ("unknown").
    """
    failure = rpc_failure(exc)
    if failure is Failure.COMPACTED:
        return Compacted(revision, 0)
    if failure is Failure.FUTURE_REVISION:
        return FutureRevision(f"{what}: revision {revision} is a future revision")
    if failure is Failure.TOO_LARGE:
        return ValueTooLarge(f"{what}: {exc.details()}")
    if failure is Failure.RETRY:
        return StorageUnavailable(f"{what}: {describe_rpc_error(exc)}")
    return StorageError(f"{what}: store refused the request: {describe_rpc_error(exc)}")


# --- endpoints and channels -------------------------------------------------------------------


class Endpoint:
    """One store member as the client sees it; its channel is opened on first use."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.failed_at: float | None = None  # loop time of the last failure; None: healthy
        self._channel: grpc.aio.Channel | None = None
        self._kv: rpc_pb2_grpc.KVAsyncStub | None = None
        self._watch: rpc_pb2_grpc.WatchAsyncStub | None = None

    def _open(self) -> tuple[rpc_pb2_grpc.KVAsyncStub, rpc_pb2_grpc.WatchAsyncStub]:
        if self._kv is None or self._watch is None:
            # Created inside the running loop: grpc.aio channels belong to the loop they
            # were made in, which is why the pool does not open them in its constructor.
            self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
            self._kv = rpc_pb2_grpc.KVStub(self._channel)
            self._watch = rpc_pb2_grpc.WatchStub(self._channel)
        return self._kv, self._watch

    @property
    def kv(self) -> rpc_pb2_grpc.KVAsyncStub:
        return self._open()[0]

    @property
    def watch(self) -> rpc_pb2_grpc.WatchAsyncStub:
        return self._open()[1]

    async def close(self) -> None:
        channel, self._channel, self._kv, self._watch = self._channel, None, None, None
        if channel is not None:
            await channel.close(None)


def next_preferred(failed_at: list[float | None], current: int, now: float) -> int:
    """Index of the endpoint to use after `current` failed: the next one (in order, wrapping)
    that is healthy or whose failure is older than `QUARANTINE_S`; if every one failed
    recently, the one that failed longest ago."""
    count = len(failed_at)
    for step in range(1, count + 1):
        index = (current + step) % count
        failed = failed_at[index]
        if failed is None or now - failed >= QUARANTINE_S:
            return index
    return min(range(count), key=lambda i: failed_at[i] or 0.0)


class EndpointPool:
    """One channel per endpoint and the sticky preferred endpoint (see the module docstring)."""

    def __init__(self, targets: Iterable[str]) -> None:
        self._endpoints = [Endpoint(target) for target in targets]
        if not self._endpoints:
            raise ValueError("no store endpoints given")
        self._preferred = 0

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(endpoint.target for endpoint in self._endpoints)

    def preferred(self) -> Endpoint:
        return self._endpoints[self._preferred]

    def report_failure(self, endpoint: Endpoint) -> None:
        """`endpoint` could not answer: set it aside and prefer the next healthy one."""
        now = asyncio.get_running_loop().time()
        endpoint.failed_at = now
        index = self._endpoints.index(endpoint)
        if index == self._preferred:
            failed = [e.failed_at for e in self._endpoints]
            self._preferred = next_preferred(failed, index, now)

    def report_success(self, endpoint: Endpoint) -> None:
        endpoint.failed_at = None

    async def close(self) -> None:
        await asyncio.gather(*(endpoint.close() for endpoint in self._endpoints))


# --- retrying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Per-attempt timeout, overall deadline and backoff between attempts (seconds)."""

    request_timeout: float = 5.0
    deadline: float = 15.0
    backoff_initial: float = 0.025
    backoff_max: float = 1.0
    min_attempt_timeout: float = 0.2


class RetryClock:
    """Time left before giving up, and the backoff to wait before the next attempt."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._loop = asyncio.get_running_loop()
        self.restart()

    def restart(self) -> None:
        """Count the deadline from now (after an attempt made progress)."""
        self._give_up_at = self._loop.time() + self._policy.deadline
        self._backoff = self._policy.backoff_initial

    def attempt_timeout(self) -> float:
        left = self._give_up_at - self._loop.time()
        return max(min(self._policy.request_timeout, left), self._policy.min_attempt_timeout)

    async def backoff(self, what: str, last_error: str) -> None:
        """Sleep before the next attempt, or raise `StorageUnavailable` past the deadline."""
        pause = self._backoff * random.uniform(0.5, 1.0)  # jitter: API servers retry apart
        if self._loop.time() + pause >= self._give_up_at:
            raise StorageUnavailable(
                f"{what}: no store endpoint answered within {self._policy.deadline}s "
                f"(last error: {last_error})"
            )
        self._backoff = min(self._backoff * 2, self._policy.backoff_max)
        await asyncio.sleep(pause)


Attempt = Callable[[Endpoint, float, bool], Awaitable[T]]
"""One try on an endpoint: (endpoint, timeout, an earlier try failed) -> result."""


async def call_with_failover(
    pool: EndpointPool, policy: RetryPolicy, attempt: Attempt[T], what: str, revision: int = 0
) -> T:
    """Run `attempt` until it answers, failing over on retryable errors (module docstring).

    Definite failures become storage errors at once (`storage_error`; `revision` is the one
    the request asked for). The third argument of `attempt` tells it an earlier try failed
    after possibly reaching the store, so a write can first check whether it was applied.
    """
    clock = RetryClock(policy)
    failed_before = False
    while True:
        endpoint = pool.preferred()
        try:
            result = await attempt(endpoint, clock.attempt_timeout(), failed_before)
        except grpc.aio.AioRpcError as exc:
            if rpc_failure(exc) is not Failure.RETRY:
                raise storage_error(exc, what, revision) from exc
            pool.report_failure(endpoint)
            failed_before = True
            error = f"{endpoint.target}: {describe_rpc_error(exc)}"
            log.info("%s failed on %s; next try on %s", what, error, pool.preferred().target)
            await clock.backoff(what, error)
            continue
        pool.report_success(endpoint)
        return result
