"""HTTP watch streams: ``GET <collection>?watch=true`` as newline-delimited JSON events.

Flow: parse options -> open a watcher on the resource's watch cache -> write one JSON line
per output, flushed at once -> end at ``timeoutSeconds`` (a final BOOKMARK first when asked),
when the cache closes the watcher (too slow, store lost), or when the client goes away::

    {"type":"ADDED","object":{...}}\\n
    {"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42"}}}\\n
    {"type":"ERROR","object":{"kind":"Status",...,"reason":"Expired","code":410}}\\n

Plain-JSON watchers get the cache's pre-encoded line for an event, so one encoding serves every
watcher; Table watchers (``kubectl get -w``) get a one-row Table per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from kubelite.api.resources import ResourceInfo
from kubelite.api.tables import table_for
from kubelite.apiserver.codec import compact_json, event_line
from kubelite.apiserver.listing import ListOptions
from kubelite.apiserver.negotiation import wants_table
from kubelite.apiserver.registry import Registry
from kubelite.apiserver.watchcache import (
    Bookmark,
    CacheWatcher,
    WatchClosed,
    WatchEvent,
    WatchExpired,
)

JsonObject = dict[str, Any]


class WatchStreamer:
    """Opens cache watchers for HTTP requests and writes their events out."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def stream(
        self,
        request: web.Request,
        info: ResourceInfo,
        namespace: str | None,
        options: ListOptions,
    ) -> web.StreamResponse:
        watcher = await self.registry.watch(info, namespace, options)
        table = wants_table(request.headers.get("Accept"))
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        timeout = options.watch_seconds(random.random())
        try:
            await response.prepare(request)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                async with asyncio.timeout(timeout):
                    await self._pump(response, watcher, info, table)
            final = watcher.bookmark_now()
            if final is not None:
                with contextlib.suppress(ConnectionResetError):
                    await response.write(final.json_line(info.kind, info.api_version))
        finally:
            watcher.close()
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    async def _pump(
        self, response: web.StreamResponse, watcher: CacheWatcher, info: ResourceInfo, table: bool
    ) -> None:
        async for output in watcher:
            if isinstance(output, WatchEvent):
                if table:
                    rv = str(output.object["metadata"].get("resourceVersion", ""))
                    now = datetime.now(UTC)
                    row = table_for(info.kind, [output.object], now, rv, None)
                    data = event_line(output.type.value, compact_json(row))
                else:
                    data = output.json_line()
            elif isinstance(output, Bookmark):
                data = output.json_line(info.kind, info.api_version)
            elif isinstance(output, WatchExpired):
                await response.write(output.json_line())
                return
            elif isinstance(output, WatchClosed):
                return
            await response.write(data)
