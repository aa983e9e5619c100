"""The etcd Watch service: one bidirectional stream carries many watches.

Per stream, a reader task handles create / cancel / progress requests and a single writer
drains one outgoing queue, so responses keep their order (created, then history, then live
events). Watchers are fed by the member's `WatchHub`. A stream whose client reads too slowly
has its watchers cancelled (``cancel_reason`` says why) once more than ``MAX_PENDING_EVENTS``
events wait to be written; memory per stream stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from kubelite.pb import rpc_pb2, rpc_pb2_grpc
from kubelite.store import convert
from kubelite.store.server import MAX_REQUEST_BYTES
from kubelite.store.types import Event, StoreError
from kubelite.store.watchhub import Watcher

if TYPE_CHECKING:
    from kubelite.store.member import StoreNode

log = logging.getLogger(__name__)

MAX_PENDING_EVENTS = 50_000
EVENTS_PER_RESPONSE = 1000
NOPUT, NODELETE = 0, 1
PROGRESS_WATCH_ID = -1
SLOW_WATCHER = "watcher is too slow to keep up and was cancelled; watch again from its revision"


def chunk_by_revision(events: list[Event], size: int) -> list[list[Event]]:
    """Split events into lists of about ``size``, never splitting one revision."""
    chunks: list[list[Event]] = []
    current: list[Event] = []
    for event in events:
        if len(current) >= size and current[-1].kv.mod_revision != event.kv.mod_revision:
            chunks.append(current)
            current = []
        current.append(event)
    if current:
        chunks.append(current)
    return chunks


class _Stream:
    def __init__(self, node: StoreNode) -> None:
        self._node = node
        self._out: asyncio.Queue[rpc_pb2.WatchResponse | None] = asyncio.Queue()
        self._watchers: dict[int, Watcher] = {}
        self._next_id = 0
        self._pending_events = 0

    # -- outgoing ------------------------------------------------------------------------------

    def _send(self, response: rpc_pb2.WatchResponse) -> None:
        self._pending_events += len(response.events)
        self._out.put_nowait(response)

    def _deliver(self, watcher: Watcher, events: list[Event]) -> None:
        if watcher.watch_id not in self._watchers:
            return
        if self._pending_events + len(events) > MAX_PENDING_EVENTS:
            self._cancel(watcher.watch_id, SLOW_WATCHER)
            return
        watcher.sent_since_progress = True
        for chunk in chunk_by_revision(events, EVENTS_PER_RESPONSE):
            self._send(
                rpc_pb2.WatchResponse(
                    header=self._node.header(chunk[-1].kv.mod_revision),
                    watch_id=watcher.watch_id,
                    events=[convert.event_pb(e, watcher.prev_kv) for e in chunk],
                )
            )

    def _cancel(self, watch_id: int, reason: str = "", compact_revision: int = 0) -> None:
        watcher = self._watchers.pop(watch_id, None)
        if watcher is not None:
            self._node.hub.remove(watcher)
        self._send(
            rpc_pb2.WatchResponse(
                header=self._node.header(),
                watch_id=watch_id,
                canceled=True,
                cancel_reason=reason,
                compact_revision=compact_revision,
            )
        )

    # -- incoming ------------------------------------------------------------------------------

    def handle(self, request: rpc_pb2.WatchRequest) -> None:
        if request.ByteSize() > MAX_REQUEST_BYTES:
            self._send(
                rpc_pb2.WatchResponse(
                    header=self._node.header(),
                    watch_id=-1,
                    canceled=True,
                    cancel_reason="etcdserver: request is too large",
                )
            )
            return
        which = request.WhichOneof("request_union")
        if which == "create_request":
            self._create(request.create_request)
        elif which == "cancel_request":
            if request.cancel_request.watch_id in self._watchers:
                self._cancel(request.cancel_request.watch_id)
        elif which == "progress_request":
            self._send(
                rpc_pb2.WatchResponse(header=self._node.header(), watch_id=PROGRESS_WATCH_ID)
            )

    def _create(self, req: rpc_pb2.WatchCreateRequest) -> None:
        watch_id = req.watch_id if req.watch_id > 0 else self._next_id
        if watch_id in self._watchers:
            self._send(
                rpc_pb2.WatchResponse(
                    header=self._node.header(),
                    watch_id=watch_id,
                    created=True,
                    canceled=True,
                    cancel_reason="mvcc: duplicate watch ID provided",
                )
            )
            return
        self._next_id = max(self._next_id, watch_id + 1)
        filters = set(req.filters)
        node = self._node
        with node.lock:
            state = node.state
            revision = state.revision
            compacted = 0 < req.start_revision < state.compact_revision
            history: tuple[Event, ...] | StoreError = ()
            if req.start_revision and not compacted and req.start_revision <= revision:
                history = state.events_since(req.start_revision)
            compact_revision = state.compact_revision
        watcher = Watcher(
            watch_id=watch_id,
            key=req.key,
            range_end=req.range_end,
            next_revision=max(revision + 1, req.start_revision),
            deliver=self._deliver,
            no_put=NOPUT in filters,
            no_delete=NODELETE in filters,
            prev_kv=req.prev_kv,
            progress_notify=req.progress_notify,
        )
        self._watchers[watch_id] = watcher
        self._send(
            rpc_pb2.WatchResponse(header=node.header(revision), watch_id=watch_id, created=True)
        )
        if compacted or isinstance(history, StoreError):
            self._cancel(watch_id, compact_revision=compact_revision)
            return
        node.hub.add(watcher)
        if history:
            backlog = Watcher(
                watch_id,
                req.key,
                req.range_end,
                req.start_revision,
                self._deliver,
                watcher.no_put,
                watcher.no_delete,
                req.prev_kv,
            )
            wanted = backlog.accept(history)
            if wanted:
                self._deliver(watcher, wanted)

    def progress_tick(self) -> None:
        """etcd's progress notification: an empty response to watchers that saw no events."""
        for watcher in list(self._watchers.values()):
            if watcher.progress_notify and not watcher.sent_since_progress:
                self._send(
                    rpc_pb2.WatchResponse(header=self._node.header(), watch_id=watcher.watch_id)
                )
            watcher.sent_since_progress = False

    # -- lifetime ------------------------------------------------------------------------------

    async def read(self, requests: AsyncIterator[rpc_pb2.WatchRequest]) -> None:
        try:
            async for request in requests:
                self.handle(request)
        finally:
            self._out.put_nowait(None)

    async def progress(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.progress_tick()

    async def responses(self) -> AsyncIterator[rpc_pb2.WatchResponse]:
        while True:
            response = await self._out.get()
            if response is None:
                return
            self._pending_events -= len(response.events)
            yield response

    def cancel_all(self, reason: str) -> None:
        for watch_id in list(self._watchers):
            self._cancel(watch_id, reason)

    def close(self) -> None:
        for watcher in self._watchers.values():
            self._node.hub.remove(watcher)
        self._watchers.clear()


class WatchService(rpc_pb2_grpc.WatchServicer):
    def __init__(self, node: StoreNode) -> None:
        self._node = node
        self._streams: set[_Stream] = set()

    async def Watch(
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: Any
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        stream = _Stream(self._node)
        self._streams.add(stream)
        reader = asyncio.create_task(stream.read(request_iterator))
        ticker = asyncio.create_task(stream.progress(self._node.progress_notify_interval))
        try:
            async for response in stream.responses():
                yield response
        finally:
            for task in (reader, ticker):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            stream.close()
            self._streams.discard(stream)

    def cancel_all(self, reason: str) -> None:
        """Cancel every watch (the state was replaced by a snapshot): clients watch again."""
        for stream in list(self._streams):
            stream.cancel_all(reason)
