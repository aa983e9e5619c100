"""One resumable prefix watch over the etcd v3 Watch stream, as an async iterator of batches.

`watch_prefix` opens one bidirectional Watch stream on the preferred endpoint with a single
watcher (``prev_kv``, ``progress_notify``) and turns its responses into `WatchBatch`es:

    created ───────────────────────────────► (nothing: the start revision is already known)
    events [r5 PUT a, r6 DELETE b] ────────► WatchBatch((PUT a @5, DELETE b @6), revision=6)
    idle for progress_interval ────────────► send WatchProgressRequest
    progress answer, header r9 ────────────► remembered, not yet believed (see below)
    next progress answer, header r11 ──────► WatchBatch((), revision=9); r11 remembered
    canceled, compact_revision 12 ─────────► raise Compacted(next revision, 12)
    stream error / no answer in time ──────► resume from the next revision on another endpoint

**Progress answers are believed one answer late.** Both backends answer a progress request
with ``watch_id`` -1 and the member's *current* revision in the header, but that answer does
not travel in order with the events: etcd 3.4 sends it from a separate control channel
(etcd-io/etcd#15220; Debian's 3.4.23 has it), and our store reads its revision while the events
of the last apply are still on their way from the apply thread to the stream. So an answer at
r9 may overtake the event at r9. Every
event up to r9 was already on its way when r9 was answered, so by the time the *next* answer
arrives — at least `progress_interval` later, on the same stream — they have been delivered,
and r9 can be reported as complete (`WatchCursor.on_progress` also insists the later answer
come at least `progress_interval` after, in case the store volunteered it). An idle watch
thus yields a progress batch every `progress_interval` or so (a heartbeat, even when the
revision has not moved), one interval behind, and never claims a revision before its events.

**Resuming.** `WatchCursor` keeps the first revision not yet delivered; a new stream watches
from it, and events below it are dropped, so nothing is skipped or repeated. Failures are
retried with `etcdconn`'s failover and backoff; the retry deadline counts from the last
stream that was created, and `StorageUnavailable` ends the iterator once it passes. A stream
that leaves a progress request (or its create request) unanswered for the request timeout is
taken as dead (a paused or partitioned member). The stream asks etcd to end it when its member
loses the leader (``hasleader`` metadata) instead of serving a stale view.

Closing the iterator (``aclose()``) or cancelling the task iterating it cancels the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc

from kubelite.apiserver.etcdconn import (
    Endpoint,
    EndpointPool,
    Failure,
    RetryClock,
    RetryPolicy,
    describe_rpc_error,
    key_text,
    prefix_end,
    rpc_failure,
    storage_error,
)
from kubelite.apiserver.storage import (
    Compacted,
    EventType,
    StorageError,
    StoreEvent,
    WatchBatch,
)
from kubelite.pb import kv_pb2, rpc_pb2

log = logging.getLogger(__name__)

REQUIRE_LEADER = (("hasleader", "true"),)
PROGRESS_REQUEST = rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())


class StreamLost(Exception):
    """The stream ended, was cancelled by the store or stopped answering: resume elsewhere."""


# --- pure bookkeeping -------------------------------------------------------------------------


def store_event(event: kv_pb2.Event) -> StoreEvent:
    """A watch event as a `StoreEvent`. A DELETE's kv carries only the key and the deletion
    revision; its value is b"" and its create revision comes from prev_kv."""
    prev = event.prev_kv if event.HasField("prev_kv") else None
    kv = event.kv
    if event.type == kv_pb2.Event.DELETE:
        return StoreEvent(
            type=EventType.DELETE,
            key=key_text(kv.key),
            value=b"",
            prev_value=prev.value if prev is not None else None,
            revision=kv.mod_revision,
            create_revision=prev.create_revision if prev is not None else 0,
        )
    return StoreEvent(
        type=EventType.PUT,
        key=key_text(kv.key),
        value=kv.value,
        prev_value=prev.value if prev is not None else None,
        revision=kv.mod_revision,
        create_revision=kv.create_revision,
    )


@dataclass
class WatchCursor:
    """Where a watch stands: `next_revision` is the first revision not yet delivered (the
    resume point); `heard` the oldest progress answer not yet believed and when it came
    (module docstring). No I/O and no clock: the stream feeds it responses and the time."""

    next_revision: int
    settle: float = 1.0  # how long an answer waits, at least, before it is believed
    heard: tuple[int, float] | None = None  # (revision, loop time it arrived)

    def on_events(self, events: Sequence[StoreEvent]) -> WatchBatch | None:
        fresh = tuple(event for event in events if event.revision >= self.next_revision)
        if not fresh:
            return None
        self.next_revision = fresh[-1].revision + 1
        return WatchBatch(fresh, fresh[-1].revision)

    def on_progress(self, revision: int, now: float) -> WatchBatch | None:
        """A progress answer at `revision` arrived at `now`: believe the one heard before it
        if that is at least `settle` old (a progress batch), and remember this one."""
        if self.heard is None:
            self.heard = (revision, now)
            return None
        believed, heard_at = self.heard
        if now - heard_at < self.settle:
            return None  # too soon to vouch for the older answer; keep waiting on it
        self.heard = (revision, now)
        # Reported even when it says nothing new: an idle watch's heartbeat. An answer older
        # than events delivered since is raised to the last of them.
        self.next_revision = max(self.next_revision, believed + 1)
        return WatchBatch((), self.next_revision - 1)

    def on_new_stream(self) -> None:
        # An answer heard on a lost stream is vouched for by nothing on the next one.
        self.heard = None


def create_request(prefix: bytes, start_revision: int) -> rpc_pb2.WatchRequest:
    create = rpc_pb2.WatchCreateRequest(
        key=prefix or b"\0",
        range_end=prefix_end(prefix),
        start_revision=start_revision,
        prev_kv=True,
        progress_notify=True,
    )
    return rpc_pb2.WatchRequest(create_request=create)


# --- one stream -------------------------------------------------------------------------------


class _WatchStream:
    """One Watch call on one endpoint carrying one watcher; `next_batch` drives it."""

    def __init__(
        self, endpoint: Endpoint, cursor: WatchCursor, progress_interval: float, timeout: float
    ) -> None:
        self._endpoint = endpoint
        self._cursor = cursor
        self._progress_interval = progress_interval
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._call = endpoint.watch.Watch(None, metadata=REQUIRE_LEADER)
        self._read: asyncio.Future[object] | None = None
        self._awaiting_since: float | None = None  # a request is waiting for its answer

    async def start(self, prefix: bytes) -> None:
        """Create the watcher from the cursor's revision and wait until the store confirms."""
        self._cursor.on_new_stream()
        await self._send(create_request(prefix, self._cursor.next_revision))
        response = await self._next_response()
        if not response.created:
            raise StreamLost(f"expected the watch to be created first, got {response}")
        if response.canceled:
            raise StorageError(f"store refused the watch: {response.cancel_reason}")

    async def next_batch(self) -> WatchBatch:
        while True:
            batch = self._handle(await self._next_response())
            if batch is not None:
                return batch

    def _handle(self, response: rpc_pb2.WatchResponse) -> WatchBatch | None:
        if response.compact_revision > 0:
            raise Compacted(self._cursor.next_revision, response.compact_revision)
        if response.canceled:
            raise StreamLost(f"store cancelled the watch: {response.cancel_reason or 'no reason'}")
        if response.events:
            return self._cursor.on_events([store_event(event) for event in response.events])
        if response.created:
            return None
        return self._cursor.on_progress(response.header.revision, self._loop.time())

    async def _next_response(self) -> rpc_pb2.WatchResponse:
        """The next response; asks for progress after `progress_interval` of silence and
        gives the stream up if a request stays unanswered for the request timeout."""
        while True:
            if self._read is None:
                self._read = asyncio.ensure_future(self._call.read())
            waited_since = self._awaiting_since
            wait = self._progress_interval
            if waited_since is not None:
                wait = waited_since + self._timeout - self._loop.time()
            await asyncio.wait({self._read}, timeout=max(wait, 0.0))
            if self._read.done():
                return self._take_response()
            if waited_since is not None:
                raise StreamLost(f"no answer from {self._endpoint.target} in {self._timeout}s")
            await self._send(PROGRESS_REQUEST)

    def _take_response(self) -> rpc_pb2.WatchResponse:
        assert self._read is not None
        read, self._read = self._read, None
        response = read.result()  # raises the stream's AioRpcError
        if not isinstance(response, rpc_pb2.WatchResponse):
            raise StreamLost(f"{self._endpoint.target} ended the watch stream")
        self._awaiting_since = None
        return response

    async def _send(self, request: rpc_pb2.WatchRequest) -> None:
        try:
            await asyncio.wait_for(self._call.write(request), self._timeout)
        except (TimeoutError, asyncio.InvalidStateError) as exc:
            raise StreamLost(
                f"cannot write to the watch stream on {self._endpoint.target}"
            ) from exc
        if self._awaiting_since is None:
            self._awaiting_since = self._loop.time()

    def close(self) -> None:
        if self._read is not None:
            self._read.cancel()
            if self._read.done() and not self._read.cancelled():
                with contextlib.suppress(Exception):
                    self._read.exception()  # retrieved, so asyncio does not log it
        self._call.cancel()


# --- resuming across streams ------------------------------------------------------------------


async def watch_prefix(
    pool: EndpointPool,
    policy: RetryPolicy,
    prefix: bytes,
    start_revision: int,
    *,
    progress_interval: float,
    current_revision: Callable[[], Awaitable[int]],
) -> AsyncGenerator[WatchBatch, None]:
    """Every change under `prefix` from `start_revision` (0: from the current revision + 1),
    resumed across streams and endpoints (module docstring)."""
    if start_revision <= 0:
        start_revision = await current_revision() + 1
    cursor = WatchCursor(start_revision, settle=progress_interval)
    what = f"watch {key_text(prefix)} from {start_revision}"
    clock = RetryClock(policy)
    while True:
        endpoint = pool.preferred()
        stream = _WatchStream(endpoint, cursor, progress_interval, policy.request_timeout)
        try:
            await stream.start(prefix)
            clock.restart()
            pool.report_success(endpoint)
            while True:
                yield await stream.next_batch()
        except grpc.aio.AioRpcError as exc:
            if rpc_failure(exc) is not Failure.RETRY:
                raise storage_error(exc, what, cursor.next_revision) from exc
            error = describe_rpc_error(exc)
        except StreamLost as exc:
            error = str(exc)
        finally:
            stream.close()
        pool.report_failure(endpoint)
        log.info(
            "%s: stream on %s lost (%s); resuming from %d on %s",
            what,
            endpoint.target,
            error,
            cursor.next_revision,
            pool.preferred().target,
        )
        await clock.backoff(what, f"{endpoint.target}: {error}")
