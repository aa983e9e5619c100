"""`EventRecorder`: core/v1 Events about objects, written in the background and aggregated.

A component calls `EventRecorder.event` and moves on: the call never blocks and never raises.
The Event goes onto a bounded queue (dropped, with a log line, when full) that one background
task writes through the `Client`. Like client-go's legacy recorder and its ``EventCorrelator``,
the same (object, type, reason, message) seen again within `window` seconds does not create a
new Event: the existing one gets ``count + 1`` and a new ``lastTimestamp`` by merge patch::

    recorder = EventRecorder(client, "replicaset-controller")
    recorder.event(rs, "Normal", "SuccessfulCreate", "Created pod: web-x2k8q")
    ...
    await recorder.close()   # writes what is queued, then stops

Events are named ``<object name>.<hex nanoseconds>`` and live in the object's namespace
(``default`` for cluster-scoped objects), as upstream. Recent keys are kept in a bounded LRU.
Write errors are logged and dropped: events are best effort, never a reason to fail a sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubelite.api.errors import NotFoundError
from kubelite.api.meta import format_time, parse_time
from kubelite.client.interface import EVENTS, Client, JsonObject

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"

_InvolvedKey = tuple[str, ...]


@dataclass
class _Seen:
    namespace: str
    name: str
    count: int
    last: datetime


def involved_object(obj: Mapping[str, Any]) -> JsonObject:
    """The ``involvedObject`` reference for `obj` (an object read from the API)."""
    meta = obj.get("metadata") or {}
    reference = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    return {key: value for key, value in reference.items() if value}


class EventRecorder:
    """Records Events for one component (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        component: str,
        host: str | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        window: float = 600.0,
        cache_size: int = 4096,
        queue_size: int = 1000,
    ) -> None:
        self._client = client
        self._component = component
        self._host = host
        self._now = now
        self._window = window
        self._cache_size = cache_size
        self._seen: OrderedDict[_InvolvedKey, _Seen] = OrderedDict()
        self._queue: asyncio.Queue[tuple[JsonObject, str, str, str, datetime]] = asyncio.Queue(
            queue_size
        )
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._last_name_nanos = 0
        self.dropped = 0

    def event(self, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        """Queue an Event about `obj`; never blocks, never raises (drops when full or closed)."""
        try:
            if self._closed:
                raise RuntimeError("the recorder is closed")
            self._queue.put_nowait((involved_object(obj), type, reason, message, self._now()))
            if self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._write_all())
        except (asyncio.QueueFull, RuntimeError) as error:
            self.dropped += 1
            log.warning("dropping event %s %s: %s (%s)", type, reason, message, error)

    async def close(self) -> None:
        """Write every queued event, then stop the background task."""
        self._closed = True
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def _write_all(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._write(*item)
            except Exception as error:  # noqa: BLE001 - events are best effort (docstring)
                self.dropped += 1
                log.warning("could not write event %s %s: %s", item[1], item[2], error)
            finally:
                self._queue.task_done()

    async def _write(
        self, involved: JsonObject, type: str, reason: str, message: str, now: datetime
    ) -> None:
        key = (*sorted(f"{k}={v}" for k, v in involved.items() if k != "resourceVersion"),
               type, reason, message)  # fmt: skip
        seen = self._seen.get(key)
        if seen is not None and (now - seen.last).total_seconds() <= self._window:
            patch = {"count": seen.count + 1, "lastTimestamp": format_time(now)}
            try:
                await self._client.patch(EVENTS, seen.namespace, seen.name, patch)
            except NotFoundError:
                pass  # expired or deleted upstream: start a new one below
            else:
                seen.count, seen.last = seen.count + 1, now
                self._seen.move_to_end(key)
                return
        created = await self._client.create(
            EVENTS, _namespace(involved), self._new_event(involved, type, reason, message, now)
        )
        meta = created["metadata"]
        last = parse_time(str(created.get("lastTimestamp") or format_time(now)))
        self._seen[key] = _Seen(meta["namespace"], meta["name"], int(created.get("count", 1)), last)
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    def _new_event(
        self, involved: JsonObject, type: str, reason: str, message: str, now: datetime
    ) -> JsonObject:
        timestamp = format_time(now)
        nanoseconds = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
        # Strictly increasing, so two events in one clock tick do not collide on the name.
        nanoseconds = self._last_name_nanos = max(nanoseconds, self._last_name_nanos + 1)
        source = {"component": self._component}
        if self._host:
            source["host"] = self._host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{involved.get('name', '')}.{nanoseconds:x}",
                "namespace": _namespace(involved),
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type,
            "source": source,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
            "reportingComponent": self._component,
            "reportingInstance": self._host or "",
        }


def _namespace(involved: Mapping[str, Any]) -> str:
    return str(involved.get("namespace") or "default")
