"""The watch cache: one store watch per resource, fanned out to any number of API watchers.

One `WatchCache` per resource per API server (e.g. for ``/registry/pods/``). Data flow::

    storage.list(prefix)  ──► state: key → ObjectChange (current object)  ──► snapshot()
    storage.watch(prefix, list.revision + 1)
        │ WatchBatch (events + the store's progress revision)
        ▼ decode once (watchevents.change_from_store_event)
    state, ring buffer of recent changes, `revision`
        │ fan-out by key prefix, synchronously, in revision order
        ▼
    CacheWatcher: event_for(change, predicate) → bounded queue → `async for out in watcher`

A watch starts in one of four ways (`WatchCache.watch`): without a resourceVersion, from the
current state (synthetic ADDED events); from N that the ring buffer covers (replayed from
memory); from N newer than the cache but not than the store (joins the fan-out and skips
changes up to N); from N older than the buffer (its own store watch from N + 1, handed over
to the fan-out once it has caught up, or `WatchExpired` if the store compacted N away).

Failures: when the store watch ends or fails, the cache re-watches from ``revision + 1`` and
no watcher notices. When the store says `Compacted`, the cache re-lists; every watcher whose
position the new state cannot continue (position < list revision) is ended with
`WatchClosed(RESYNC)` and re-watches. A watcher whose queue fills is ended with
`WatchClosed(TOO_SLOW)`: memory per watcher is bounded by ``watcher_queue_size``.

Everything runs on one event loop: a batch is applied and fanned out without awaiting, so a
watcher registered between two batches sees every later change exactly once. Objects are
decoded once and shared by the state, the buffer and every watcher: they are read-only.
This module runs past 400 lines because the watcher and the cache share one set of
invariants (positions, skip marks, the buffer's coverage) that is easier to check in one place.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType

from kubelite.api.errors import RequestTimeoutError, StatusDetails, TooManyRequestsError
from kubelite.apiserver.codec import JsonObject
from kubelite.apiserver.storage import (
    Compacted,
    Storage,
    StorageError,
    StoredItem,
    StoreEvent,
    WatchBatch,
)
from kubelite.apiserver.watchevents import (
    Bookmark,
    CloseReason,
    ObjectChange,
    Predicate,
    UndecodableValue,
    WatchClosed,
    WatchEvent,
    WatchEventType,
    WatchExpired,
    WatchOutput,
    change_from_store_event,
    event_for,
    initial_event_for,
    state_of,
)

__all__ = [
    "Bookmark",
    "CacheWatcher",
    "CloseReason",
    "Predicate",
    "ResourceVersionTooLargeError",
    "WatchCache",
    "WatchClosed",
    "WatchEvent",
    "WatchEventType",
    "WatchExpired",
    "WatchOutput",
]

log = logging.getLogger(__name__)

Convert = Callable[[ObjectChange, Predicate | None], WatchEvent | None]


class ResourceVersionTooLargeError(RequestTimeoutError):
    """Upstream's answer to a watch from a revision the store has not reached (504)."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"Too large resource version: {requested}, current: {current}", 1)
        cause = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
        self.details = StatusDetails(causes=(cause,), retry_after_seconds=1)


def not_ready_error() -> TooManyRequestsError:
    """Upstream's answer while the cache has not listed yet (429, retry after 1 s)."""
    return TooManyRequestsError("storage is (re)initializing", retry_after_seconds=1)


class CacheWatcher:
    """One API watch: an async iterator of `WatchOutput`s; `close()` ends it.

    Outputs come from the backlog first (synthetic ADDED events or a replay from the buffer,
    converted lazily), then from the live queue (bounded), then at most one final marker
    (`WatchExpired` or `WatchClosed`). `position` is the revision up to which every change
    has been queued; a bookmark is only ever produced once all of that has been taken.
    """

    def __init__(
        self,
        key_prefix: str,
        predicate: Predicate | None,
        *,
        position: int,
        backlog: list[ObjectChange],
        convert: Convert,
        bookmarks: bool,
        bookmark_interval: float,
        queue_size: int,
        on_end: Callable[[CacheWatcher], None],
    ) -> None:
        self.key_prefix = key_prefix
        self.bookmarks = bookmarks
        self._predicate = predicate
        self._position = position
        self._skip_through = position  # changes up to here were already delivered
        self._backlog = deque(backlog)
        self._convert = convert
        self._queue: deque[WatchEvent] = deque()
        self._queue_size = queue_size
        self._final: WatchExpired | WatchClosed | None = None
        self._ended = False  # no more changes will be queued
        self._finished = False  # the iterator is exhausted
        self._wakeup = asyncio.Event()
        self._taken = asyncio.Event()
        self._on_end = on_end
        self._loop = asyncio.get_running_loop()
        self._bookmark_interval = bookmark_interval
        self._next_bookmark = self._loop.time() + bookmark_interval

    @property
    def position(self) -> int:
        return self._position

    @property
    def pending_count(self) -> int:
        """Outputs queued and not yet taken; an upper bound, as backlog items the predicate
        rejects are only dropped when reached."""
        return len(self._backlog) + len(self._queue)

    @property
    def ended(self) -> bool:
        return self._ended

    # -- consumer side -------------------------------------------------------------------------

    def __aiter__(self) -> CacheWatcher:
        return self

    async def __anext__(self) -> WatchOutput:
        while True:
            self._wakeup.clear()
            taken = self._take()
            if taken is not None:
                return taken
            if self._finished:
                raise StopAsyncIteration
            bookmark = await self._wait_or_bookmark()
            if bookmark is not None:
                return bookmark

    def bookmark_now(self) -> Bookmark | None:
        """A bookmark at `position` if bookmarks are on and everything queued has been taken
        (e.g. just before the REST layer ends the watch on its timeout); else None."""
        if not self.bookmarks or self._finished or self._queue or not self._backlog_done():
            return None
        self._next_bookmark = self._loop.time() + self._bookmark_interval
        return Bookmark(self._position)

    def close(self) -> None:
        """Stop the watch now: drop what is queued and leave the fan-out."""
        self._finished = True
        self._backlog.clear()
        self._queue.clear()
        self._final = None
        self._end_feed()
        self._wakeup.set()
        self._taken.set()

    async def __aenter__(self) -> CacheWatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _backlog_done(self) -> bool:
        """Drop leading backlog items that yield nothing; True when none are left."""
        while self._backlog and self._convert(self._backlog[0], self._predicate) is None:
            self._backlog.popleft()
        return not self._backlog

    def _take(self) -> WatchOutput | None:
        while self._backlog:
            event = self._convert(self._backlog.popleft(), self._predicate)
            if event is not None:
                return event
        if self._queue:
            self._taken.set()
            return self._queue.popleft()
        if self._final is not None:
            final, self._final = self._final, None
            self._finished = True
            return final
        if self._ended:
            self._finished = True
        return None

    async def _wait_or_bookmark(self) -> Bookmark | None:
        if not self.bookmarks:
            await self._wakeup.wait()
            return None
        delay = self._next_bookmark - self._loop.time()
        if delay > 0:
            try:
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
                return None
            except TimeoutError:
                pass
        return self.bookmark_now()

    # -- producer side (the cache, or this watcher's own store watch) ---------------------------

    def offer(self, change: ObjectChange) -> None:
        """Queue this watcher's output for `change`, or end the watcher if it is full."""
        if self._ended or change.revision <= self._skip_through:
            return
        try:
            event = event_for(change, self._predicate)
        except Exception:  # one bad selector must not stop the fan-out
            log.exception("watch predicate failed on %s; ending that watch", change.key)
            self.end(WatchClosed(CloseReason.ERROR))
            return
        if event is None:
            return
        if len(self._queue) >= self._queue_size:
            self.end(WatchClosed(CloseReason.TOO_SLOW))
            return
        self._queue.append(event)
        self._wakeup.set()

    async def wait_for_room(self) -> None:
        """Wait until the live queue can take one more output (or the watcher has ended)."""
        while len(self._queue) >= self._queue_size and not self._ended:
            self._taken.clear()
            await self._taken.wait()

    def progress(self, revision: int) -> None:
        """Every change up to `revision` has been offered."""
        if not self._ended:
            self._position = max(self._position, revision)

    def skip_through(self, revision: int) -> None:
        """Changes up to `revision` were delivered elsewhere (a handover): ignore them."""
        self._skip_through = max(self._skip_through, revision)

    def end(self, final: WatchExpired | WatchClosed) -> None:
        """Deliver what is queued, then `final`, then stop."""
        if self._ended:
            return
        self._final = final
        self._end_feed()
        self._wakeup.set()
        self._taken.set()

    def _end_feed(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(self)


async def _aclose(stream: AsyncIterator[WatchBatch]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


class WatchCache:
    """The watch cache of one resource prefix (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        prefix: str,
        *,
        capacity: int = 10_000,
        watcher_queue_size: int = 1_000,
        bookmark_interval: float = 60.0,
        fresh_timeout: float = 3.0,
        list_page_size: int = 1_000,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        if capacity < 1 or watcher_queue_size < 1:
            raise ValueError("capacity and watcher_queue_size must be positive")
        self._storage = storage
        self.prefix = prefix
        self._capacity = capacity
        self._queue_size = watcher_queue_size
        self._bookmark_interval = bookmark_interval
        self._fresh_timeout = fresh_timeout
        self._page_size = list_page_size
        self._backoff = (backoff_initial, backoff_max)
        self._state: dict[str, ObjectChange] = {}
        self._keys: list[str] = []  # the state's keys, sorted, for prefix snapshots
        self._buffer: deque[ObjectChange] = deque()
        self._covered_from = 0  # the buffer holds every change after this revision
        self._revision = 0
        self._synced = asyncio.Event()
        self._advanced = asyncio.Event()
        self._watchers: dict[str, set[CacheWatcher]] = {}  # by key prefix
        self._followers: dict[CacheWatcher, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listing and watching in the background (see `wait_synced`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watchcache {self.prefix}")

    async def stop(self) -> None:
        """Stop the store watch and end every watcher with `WatchClosed(STOPPED)`."""
        watchers = self._all_watchers()
        tasks = [t for t in (self._task, *self._followers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._task = None
        for watcher in watchers:
            watcher.end(WatchClosed(CloseReason.STOPPED))

    async def __aenter__(self) -> WatchCache:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_synced(self, timeout: float) -> bool:
        """True once the first list has been loaded (False if not within `timeout` s)."""
        if self._synced.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        return self._synced.is_set()

    async def wait_fresh(self, revision: int, timeout: float) -> bool:
        """True once `self.revision` ≥ `revision` (False if not within `timeout` s)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._revision < revision:
                    await self._advanced.wait()
        return self._revision >= revision

    # -- reads ------------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The cache holds every change up to this revision (events and store progress)."""
        return self._revision

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def watcher_count(self) -> int:
        return sum(len(group) for group in self._watchers.values()) + len(self._followers)

    @property
    def store_watcher_count(self) -> int:
        """Watchers served by their own store watch (older than the buffer, catching up)."""
        return len(self._followers)

    @property
    def buffered_event_count(self) -> int:
        return len(self._buffer)

    @property
    def oldest_revision(self) -> int:
        """A watch from N ≥ this is served from memory; older ones go to the store."""
        return self._covered_from

    @property
    def object_count(self) -> int:
        return len(self._state)

    def lookup(self, key: str) -> JsonObject | None:
        """The cached object at exactly `key` (shared, read-only), or None if not cached."""
        state = self._state.get(key)
        return state.object if state is not None else None

    def snapshot(self, key_prefix: str) -> tuple[list[JsonObject], int]:
        """Current objects under `key_prefix`, sorted by key, and the revision they are at.

        The objects are shared with the cache and every watcher: read-only.
        """
        objects = [state.object for state in self._states_under(key_prefix)]
        return [obj for obj in objects if obj is not None], self._revision

    # -- watch ----------------------------------------------------------------------------------

    async def watch(
        self,
        key_prefix: str,
        start_revision: int | None,
        predicate: Predicate | None = None,
        *,
        bookmarks: bool = False,
    ) -> CacheWatcher:
        """A watch of `key_prefix` (see the module docstring for the four ways to start).

        Raises `TooManyRequestsError` (start None before the first list) and
        `ResourceVersionTooLargeError`; a compacted start is the watcher's `WatchExpired`.
        """
        if not key_prefix.startswith(self.prefix):
            raise ValueError(f"{key_prefix!r} is not under this cache's prefix {self.prefix!r}")
        synced = await self.wait_synced(self._fresh_timeout)
        if start_revision is None:
            if not synced:
                raise not_ready_error()
            start = self._revision
            backlog = self._states_under(key_prefix)
            return self._join(key_prefix, predicate, bookmarks, start, backlog, initial_event_for)
        if not synced:
            return self._follow_store(key_prefix, predicate, bookmarks, start_revision)
        if start_revision > self._revision:
            await self._wait_until_valid(start_revision)
        # No await from here on: the decision and the registration see the same cache state.
        if start_revision >= self._revision:
            return self._join(key_prefix, predicate, bookmarks, start_revision, [], event_for)
        if start_revision >= self._covered_from:
            backlog = self._changes_after(start_revision, key_prefix)
            return self._join(key_prefix, predicate, bookmarks, self._revision, backlog, event_for)
        return self._follow_store(key_prefix, predicate, bookmarks, start_revision)

    async def _wait_until_valid(self, revision: int) -> None:
        """Return once `revision` is one the store has reached, or raise too-large.

        The cache learns of writes under other prefixes only from progress batches, so a
        revision from a fresh list is often ahead of it; one store read settles that at once.
        """
        try:
            current = await self._storage.current_revision()
        except StorageError:
            current = self._revision
        if revision <= current:
            return
        if not await self.wait_fresh(revision, self._fresh_timeout):
            raise ResourceVersionTooLargeError(revision, current)

    def _new_watcher(
        self,
        key_prefix: str,
        predicate: Predicate | None,
        bookmarks: bool,
        position: int,
        backlog: list[ObjectChange],
        convert: Convert,
    ) -> CacheWatcher:
        return CacheWatcher(
            key_prefix,
            predicate,
            position=position,
            backlog=backlog,
            convert=convert,
            bookmarks=bookmarks,
            bookmark_interval=self._bookmark_interval,
            queue_size=self._queue_size,
            on_end=self._forget,
        )

    def _join(
        self,
        key_prefix: str,
        predicate: Predicate | None,
        bookmarks: bool,
        position: int,
        backlog: list[ObjectChange],
        convert: Convert,
    ) -> CacheWatcher:
        watcher = self._new_watcher(key_prefix, predicate, bookmarks, position, backlog, convert)
        self._register(watcher)
        return watcher

    def _register(self, watcher: CacheWatcher) -> None:
        self._watchers.setdefault(watcher.key_prefix, set()).add(watcher)

    def _forget(self, watcher: CacheWatcher) -> None:
        group = self._watchers.get(watcher.key_prefix)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self._watchers[watcher.key_prefix]
        task = self._followers.pop(watcher, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _all_watchers(self) -> list[CacheWatcher]:
        registered = [w for group in self._watchers.values() for w in group]
        return registered + list(self._followers)

    def _states_under(self, key_prefix: str) -> list[ObjectChange]:
        start = bisect.bisect_left(self._keys, key_prefix)
        states: list[ObjectChange] = []
        for key in self._keys[start:]:
            if not key.startswith(key_prefix):
                break
            states.append(self._state[key])
        return states

    def _changes_after(self, revision: int, key_prefix: str) -> list[ObjectChange]:
        picked: list[ObjectChange] = []
        for change in reversed(self._buffer):
            if change.revision <= revision:
                break
            if change.key.startswith(key_prefix):
                picked.append(change)
        picked.reverse()
        return picked

    # -- watchers older than the buffer: their own store watch, then a handover ------------------

    def _follow_store(
        self, key_prefix: str, predicate: Predicate | None, bookmarks: bool, start: int
    ) -> CacheWatcher:
        watcher = self._new_watcher(key_prefix, predicate, bookmarks, start, [], event_for)
        task = asyncio.create_task(self._feed_from_store(watcher, start), name="watch follower")
        self._followers[watcher] = task
        return watcher

    async def _feed_from_store(self, watcher: CacheWatcher, start: int) -> None:
        stream = self._storage.watch(watcher.key_prefix, start + 1)
        try:
            async for batch in stream:
                for event in batch.events:
                    change = _decoded(event, None)
                    if change is not None:
                        await watcher.wait_for_room()  # a catch-up burst is not slowness
                        watcher.offer(change)
                last = batch.events[-1].revision if batch.events else 0
                watcher.progress(max(batch.revision, last))
                if watcher.ended or self._hand_over(watcher):
                    return
            watcher.end(WatchClosed(CloseReason.STORE_UNAVAILABLE))
        except Compacted as exc:
            watcher.end(WatchExpired(start, exc.compact_revision))
        except StorageError as exc:
            log.info("store watch for %s from %d failed: %s", watcher.key_prefix, start, exc)
            watcher.end(WatchClosed(CloseReason.STORE_UNAVAILABLE))
        except Exception:  # a bug must still end the watch, or its client waits forever
            log.exception("store watch for %s from %d failed", watcher.key_prefix, start)
            watcher.end(WatchClosed(CloseReason.ERROR))
        finally:
            self._followers.pop(watcher, None)
            await _aclose(stream)

    def _hand_over(self, watcher: CacheWatcher) -> bool:
        """Move a caught-up store-fed watcher into the fan-out (True), if the cache can
        continue exactly where it is: the cache has every change up to the watcher's
        position or beyond it, and will deliver everything after."""
        if not self._synced.is_set() or watcher.position < self._revision:
            return False
        watcher.skip_through(watcher.position)
        self._followers.pop(watcher, None)
        self._register(watcher)
        return True

    # -- the cache's own list and watch ----------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        must_list = True
        while True:
            reached = self._revision
            try:
                if must_list:
                    await self._list()
                    must_list = False
                await self._follow()
                log.info("store watch of %s ended; watching again", self.prefix)
            except Compacted as exc:
                log.info("store watch of %s compacted (%s); re-listing", self.prefix, exc)
                must_list = True
            except StorageError as exc:
                log.warning("store watch of %s failed: %s", self.prefix, exc)
            except Exception:  # the cache must outlive a bug; re-list to recover
                log.exception("watch cache of %s failed; re-listing", self.prefix)
                must_list = True
            failures = 0 if self._revision > reached and not must_list else failures + 1
            await asyncio.sleep(self._delay(failures))

    def _delay(self, failures: int) -> float:
        initial, ceiling = self._backoff
        return 0.0 if failures == 0 else min(ceiling, initial * 2 ** (failures - 1))

    async def _list(self) -> None:
        page = await self._storage.list(self.prefix, limit=self._page_size)
        items, revision = list(page.items), page.revision
        while page.more and page.items:
            start_key = page.items[-1].key + "\0"
            page = await self._storage.list(
                self.prefix, start_key=start_key, limit=self._page_size, revision=revision
            )
            items.extend(page.items)
        self._replace(_states_of(items), revision)

    def _replace(self, states: dict[str, ObjectChange], revision: int) -> None:
        """Take a fresh list; end the watchers it cannot continue."""
        went_back = revision < self._revision  # a store restored from a backup
        self._state = states
        self._keys = sorted(states)
        self._buffer.clear()
        self._covered_from = revision
        for watcher in [w for group in self._watchers.values() for w in group]:
            if went_back or watcher.position < revision:
                watcher.end(WatchClosed(CloseReason.RESYNC))
        self._revision = revision
        self._synced.set()
        self._notify_advanced()

    async def _follow(self) -> None:
        """Apply the store watch's batches until it ends."""
        stream = self._storage.watch(self.prefix, self._revision + 1)
        try:
            async for batch in stream:
                self._apply(batch)
        finally:
            await _aclose(stream)

    def _apply(self, batch: WatchBatch) -> None:
        before = self._revision
        newest = batch.revision
        for event in batch.events:
            newest = max(newest, event.revision)
            if event.revision <= before:
                continue  # never repeat a change (the storage promises this; be sure)
            known = self._state.get(event.key)
            change = _decoded(event, known.object if known else None)
            if change is not None:
                self._record(change)
                self._fan_out(change)
        self._advance(newest)

    def _record(self, change: ObjectChange) -> None:
        if change.object is None:
            if self._state.pop(change.key, None) is not None:
                del self._keys[bisect.bisect_left(self._keys, change.key)]
        else:
            if change.key not in self._state:
                bisect.insort(self._keys, change.key)
            self._state[change.key] = change
        if len(self._buffer) >= self._capacity:
            evicted = self._buffer.popleft()
            self._covered_from = max(self._covered_from, evicted.revision)
        self._buffer.append(change)

    def _fan_out(self, change: ObjectChange) -> None:
        for key_prefix, group in list(self._watchers.items()):
            if change.key.startswith(key_prefix):
                for watcher in list(group):
                    watcher.offer(change)

    def _advance(self, revision: int) -> None:
        if revision <= self._revision:
            return
        self._revision = revision
        for group in self._watchers.values():
            for watcher in group:
                watcher.progress(revision)
        self._notify_advanced()

    def _notify_advanced(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()


def _states_of(items: list[StoredItem]) -> dict[str, ObjectChange]:
    """Decode a listing (undecodable values are logged and left out)."""
    states: dict[str, ObjectChange] = {}
    for item in items:
        try:
            states[item.key] = state_of(item)
        except UndecodableValue as exc:
            log.warning("skipping %s at revision %d: %s", item.key, item.mod_revision, exc)
    return states


def _decoded(event: StoreEvent, prev_object: JsonObject | None) -> ObjectChange | None:
    try:
        return change_from_store_event(event, prev_object)
    except UndecodableValue as exc:
        log.warning("skipping %s at revision %d: %s", event.key, event.revision, exc)
        return None
