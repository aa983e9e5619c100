"""`Informer`: list, then watch one resource into a local `Indexer`, and tell handlers.

The informer owns one asyncio task that keeps a cache of a resource (optionally one namespace,
optionally filtered by label and field selectors) equal to the cluster's state::

    list (pages of `page_size`, following `continue`)  →  Indexer.replace  →  handlers
      ↓ resourceVersion of the list
    watch from it (bookmarks on) → ADDED/MODIFIED/DELETED → Indexer → handlers
      ├─ the stream ends cleanly       → watch again from the last resourceVersion seen
      ├─ 410 (ExpiredError/GoneError)  → list again at once
      └─ any other failure             → list again, after the backoff

A re-list delivers only the *differences* to the cached state (added, changed, gone) as
``on_add``/``on_update``/``on_delete``, so handlers stay level-correct across missed events and
see no duplicates for objects that did not change. Repeated failures (and streams that end
without delivering anything) wait ``backoff(failures)`` seconds between attempts; the default
is exponential from 0.2 s to 30 s, and both `backoff` and `sleep` are injectable for tests.

**Handlers only enqueue.** They are plain functions called on the event loop inside the
informer's task, with the frozen objects of the cache (`kubelite.client.cache`: mutation raises
`TypeError`); they must not block or await, and should do nothing but put a key on a work
queue, as in client-go's sample-controller::

    informer = Informer(client, PODS, indexers={"nodeName": pod_node_name})
    informer.add_handlers(on_add=lambda pod: queue.add(object_key(pod)), ...)
    async with informer:
        if not await informer.wait_for_sync(timeout=30):
            raise RuntimeError("pods cache did not sync")
        ...  # workers read informer.indexer

A handler that raises is logged and the informer carries on. ``on_delete`` gets the object's
last state: the DELETED event's object, or on a re-list the last cached state. With a
`resync_period`, every cached object is re-delivered as ``on_update(obj, obj)`` that often, so
work that failed without being re-queued is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from kubelite.api.errors import ExpiredError, GoneError
from kubelite.api.resources import ResourceInfo
from kubelite.client.cache import Indexer, IndexFunc, freeze, object_key, resource_version_of
from kubelite.client.interface import Client, WatchEvent

logger = logging.getLogger(__name__)

AddHandler = Callable[[Mapping[str, Any]], None]
UpdateHandler = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
DeleteHandler = Callable[[Mapping[str, Any]], None]
Sleep = Callable[[float], Awaitable[None]]


def exponential_backoff(failures: int, *, base: float = 0.2, cap: float = 30.0) -> float:
    """``base * 2**(failures-1)`` seconds, at most `cap` (0 for no failures)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(failures - 1, 30)))


class _Relist(Exception):
    """The watch cannot continue from where it is: list again."""


class Informer:
    """A cache of one resource kept in sync by list + watch (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        resource: ResourceInfo,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float | None = None,
        page_size: int = 500,
        watch_timeout_seconds: int | None = None,
        backoff: Callable[[int], float] = exponential_backoff,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self.resource = resource
        self.namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self.indexer = Indexer(indexers)
        self._resync_period = resync_period
        self._page_size = page_size
        self._watch_timeout_seconds = watch_timeout_seconds
        self._backoff = backoff
        self._sleep = sleep
        self._handlers: list[tuple[AddHandler | None, UpdateHandler | None, DeleteHandler | None]]
        self._handlers = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self.last_resource_version = ""
        self.failures = 0  # consecutive; for tests and metrics

    # --- public API ---------------------------------------------------------------------------

    def add_handlers(
        self,
        *,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        """Register handlers; objects already cached are delivered to `on_add` at once."""
        self._handlers.append((on_add, on_update, on_delete))
        if on_add is not None:
            for obj in self.indexer.list():
                self._call(on_add, obj)

    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored and delivered."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until `has_synced`; False after `timeout` seconds; raises if the task died."""
        if self._task is None:
            raise RuntimeError("informer not started")
        synced = asyncio.ensure_future(self._synced.wait())
        try:
            done, _ = await asyncio.wait({synced, self._task}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            synced.cancel()
        if self._task in done and not self.has_synced:
            self._task.result()  # raises its exception, if any
        return self.has_synced

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("informer already started")
        name = f"informer:{self.resource.plural}"
        self._task = asyncio.create_task(self._run(), name=name)
        if self._resync_period:
            self._resync_task = asyncio.create_task(self._resync_loop(), name=f"{name}:resync")

    async def stop(self) -> None:
        for task in (self._resync_task, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def __aenter__(self) -> Informer:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                    self.failures = 0
                if await self._watch_once() == 0:
                    # A stream that closes at once, again and again, must not spin the loop.
                    self.failures += 1
                else:
                    self.failures = 0
            except (ExpiredError, GoneError, _Relist) as error:
                logger.info("%s: re-listing: %s", self.resource.plural, error)
                need_list = True
                continue  # straight to the list; a 410 is routine
            except Exception:
                logger.exception("%s: list/watch failed; re-listing", self.resource.plural)
                need_list = True
                self.failures += 1
            delay = self._backoff(self.failures)
            if delay > 0:
                await self._sleep(delay)

    async def _list_pages(self, limit: int) -> tuple[list[Mapping[str, Any]], str]:
        items: list[Mapping[str, Any]] = []
        token = ""
        while True:
            page = await self._client.list(
                self.resource, self.namespace, label_selector=self._label_selector,
                field_selector=self._field_selector, limit=limit, continue_token=token,
            )  # fmt: skip
            items.extend(page.get("items") or [])
            list_meta = page.get("metadata") or {}
            token = str(list_meta.get("continue") or "")
            if not token:
                return items, str(list_meta.get("resourceVersion") or "")

    async def _list_and_replace(self) -> None:
        try:
            items, version = await self._list_pages(self._page_size)
        except (ExpiredError, GoneError):
            # The continue token outlived its snapshot: one unpaged list instead (client-go).
            items, version = await self._list_pages(0)
        diff = self.indexer.replace(items, version)
        self.last_resource_version = version
        for obj in diff.deleted:
            self._deliver_delete(obj)
        for old, new in diff.updated:
            self._deliver_update(old, new)
        for obj in diff.added:
            self._deliver_add(obj)
        self._synced.set()

    async def _watch_once(self) -> int:
        """Follow one watch stream to its clean end; the number of events it delivered."""
        stream = self._client.watch(
            self.resource, self.namespace, resource_version=self.last_resource_version,
            label_selector=self._label_selector, field_selector=self._field_selector,
            allow_bookmarks=True, timeout_seconds=self._watch_timeout_seconds,
        )  # fmt: skip
        delivered = 0
        try:
            async for event in stream:
                self._apply(event)
                delivered += 1
        finally:
            await _close(stream)
        return delivered

    def _apply(self, event: WatchEvent) -> None:
        if event.type == "BOOKMARK":
            pass
        elif event.type in ("ADDED", "MODIFIED"):
            key = object_key(event.object)
            old = self.indexer.get(key)
            if old is not None and _same_version(old, event.object):
                pass  # a replay of what we already have
            else:
                old, new = self.indexer.add(event.object)
                if old is None:
                    self._deliver_add(new)
                else:
                    self._deliver_update(old, new)
        elif event.type == "DELETED":
            # Unknown objects are skipped: the re-list that would have shown them also
            # shows them gone, so no handler ever heard of them.
            if self.indexer.delete(event.object) is not None:
                self._deliver_delete(freeze(event.object))
        else:
            raise _Relist(f"unexpected watch event {event.type!r}")
        if event.resource_version:
            self.last_resource_version = event.resource_version
            self.indexer.resource_version = event.resource_version

    async def _resync_loop(self) -> None:
        assert self._resync_period
        while True:
            await self._sleep(self._resync_period)
            if self.has_synced:
                for obj in self.indexer.list():
                    self._deliver_update(obj, obj)

    # --- delivery -----------------------------------------------------------------------------

    def _deliver_add(self, obj: Mapping[str, Any]) -> None:
        for on_add, _, _ in self._handlers:
            if on_add is not None:
                self._call(on_add, obj)

    def _deliver_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for _, on_update, _ in self._handlers:
            if on_update is not None:
                self._call(on_update, old, new)

    def _deliver_delete(self, obj: Mapping[str, Any]) -> None:
        for _, _, on_delete in self._handlers:
            if on_delete is not None:
                self._call(on_delete, obj)

    def _call(self, handler: Callable[..., None], *objs: Mapping[str, Any]) -> None:
        try:
            handler(*objs)
        except Exception:
            logger.exception("%s: event handler %r failed", self.resource.plural, handler)


def _same_version(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    version = resource_version_of(new)
    return bool(version) and version == resource_version_of(old)


async def _close(stream: AsyncIterator[WatchEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
