"""An in-memory `Storage` (kubelite.apiserver.storage) for tests of the registry and the cache.

It keeps etcd's semantics where the API server can tell: one global revision (1 when empty)
bumped once per write, create/mod revisions per key, a history of events with compaction
(reads and watches below the compact revision raise `Compacted`), watches that first replay
history from their start revision and then follow live writes, one `WatchBatch` per write
(header = that write's revision), and progress batches on request::

    storage = MemStorage()
    rev = await storage.create("/registry/pods/default/web", b'{"metadata":{}}')
    storage.notify_progress()                   # every open watch gets WatchBatch((), rev)
    storage.break_watches(StorageUnavailable("test"))   # open watches raise it (None: end)
    storage.fail_next("list", StorageUnavailable("test"), times=2)
    storage.pause_watches(); ...; storage.resume_watches()  # new watches wait in between
    await storage.compact(rev)

Beyond the protocol, tests write with `put`, `remove` and `write` (several keys at one
revision, like one etcd Txn), and read `history` and `revision`. Nothing here yields to the
event loop except a watch waiting for its next batch (or for `resume_watches`), so a sequence
of writes in a test is atomic with respect to the code under test.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from kubelite.apiserver.storage import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    ListPage,
    RevisionMismatch,
    StorageError,
    StoredItem,
    StoreEvent,
    WatchBatch,
)


@dataclass(eq=False)
class _Stream:
    prefix: str
    queue: asyncio.Queue[WatchBatch | StorageError | None] = field(default_factory=asyncio.Queue)


class MemStorage:
    """Dict + revision counter + event history; see the module docstring."""

    def __init__(self) -> None:
        self._items: dict[str, StoredItem] = {}
        self._revision = 1
        self._base: dict[str, StoredItem] = {}  # the state just before `_compact_revision`
        self._history: list[StoreEvent] = []  # every event at or after `_compact_revision`
        self._compact_revision = 0
        self._streams: set[_Stream] = set()
        self._failures: dict[str, deque[StorageError]] = {}
        self._watches_open = asyncio.Event()
        self._watches_open.set()
        self.watch_calls = 0

    # -- test controls -------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def history(self) -> tuple[StoreEvent, ...]:
        """Every event still retained (at or after the compact revision), in order."""
        return tuple(self._history)

    @property
    def open_watch_count(self) -> int:
        return len(self._streams)

    def fail_next(self, operation: str, error: StorageError, times: int = 1) -> None:
        """The next `times` calls of `operation` ("get", "list", "watch", ...) raise `error`."""
        self._failures.setdefault(operation, deque()).extend([error] * times)

    def notify_progress(self) -> None:
        """Send every open watch a progress batch at the current revision."""
        for stream in self._streams:
            stream.queue.put_nowait(WatchBatch((), self._revision))

    def break_watches(self, error: StorageError | None = None, prefix: str | None = None) -> None:
        """End the open watches (of exactly `prefix`, or all): they raise `error` after what
        they already hold, or just end when `error` is None."""
        for stream in [s for s in self._streams if prefix is None or s.prefix == prefix]:
            stream.queue.put_nowait(error)
            self._streams.discard(stream)

    def pause_watches(self) -> None:
        """New watches wait (before reading history) until `resume_watches`."""
        self._watches_open.clear()

    def resume_watches(self) -> None:
        self._watches_open.set()

    async def compact(self, revision: int) -> None:
        """Forget history before `revision` (etcd's Compact)."""
        if revision > self._revision:
            raise FutureRevision(f"compact {revision} > current {self._revision}")
        if revision <= self._compact_revision:
            return
        self._base = self._state_at(revision - 1)
        self._history = [e for e in self._history if e.revision >= revision]
        self._compact_revision = revision

    async def put(self, key: str, value: bytes) -> int:
        return self._commit({key: value})

    async def remove(self, key: str) -> int:
        return self._commit({key: None})

    async def write(self, changes: Mapping[str, bytes | None]) -> int:
        """Several keys at one revision (None deletes); the revision (unchanged if no-op)."""
        return self._commit(changes)

    # -- the Storage protocol --------------------------------------------------------------------

    async def get(self, key: str) -> StoredItem | None:
        self._maybe_fail("get")
        return self._items.get(key)

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListPage:
        self._maybe_fail("list")
        at = revision or self._revision
        state = self._items if at == self._revision else self._state_at(at)
        keys = sorted(k for k in state if k.startswith(prefix) and k >= start_key)
        shown = keys[:limit] if limit else keys
        rest = len(keys) - len(shown)
        return ListPage(tuple(state[k] for k in shown), at, rest > 0, rest)

    async def create(self, key: str, value: bytes) -> int:
        self._maybe_fail("create")
        if key in self._items:
            raise KeyExists(key)
        return self._commit({key: value})

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        self._maybe_fail("update")
        self._check(key, expected_mod_revision)
        return self._commit({key: value})

    async def delete(self, key: str, expected_mod_revision: int) -> int:
        self._maybe_fail("delete")
        self._check(key, expected_mod_revision)
        return self._commit({key: None})

    async def current_revision(self) -> int:
        self._maybe_fail("current_revision")
        return self._revision

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[WatchBatch]:
        self.watch_calls += 1
        self._maybe_fail("watch")
        await self._watches_open.wait()
        start = start_revision if start_revision > 0 else self._revision + 1
        if start < self._compact_revision:
            raise Compacted(start, self._compact_revision)
        stream = _Stream(prefix)
        self._streams.add(stream)
        try:
            replay = tuple(e for e in self._history if e.revision >= start and _under(e, prefix))
            yield WatchBatch(replay, self._revision)
            while True:
                item = await stream.queue.get()
                if item is None:
                    return
                if isinstance(item, StorageError):
                    raise item
                yield item
        finally:
            self._streams.discard(stream)

    async def close(self) -> None:
        self.break_watches()

    # -- internals -------------------------------------------------------------------------------

    def _maybe_fail(self, operation: str) -> None:
        pending = self._failures.get(operation)
        if pending:
            raise pending.popleft()

    def _check(self, key: str, expected_mod_revision: int) -> None:
        current = self._items.get(key)
        if current is None or current.mod_revision != expected_mod_revision:
            raise RevisionMismatch(key, current)

    def _state_at(self, revision: int) -> dict[str, StoredItem]:
        if revision < self._compact_revision:
            raise Compacted(revision, self._compact_revision)
        if revision > self._revision:
            raise FutureRevision(f"revision {revision} > current {self._revision}")
        state = dict(self._base)
        for event in self._history:
            if event.revision > revision:
                break
            if event.type is EventType.DELETE:
                state.pop(event.key, None)
            else:
                item = StoredItem(event.key, event.value, event.create_revision, event.revision)
                state[event.key] = item
        return state

    def _commit(self, changes: Mapping[str, bytes | None]) -> int:
        revision = self._revision + 1
        events = [e for key, value in changes.items() if (e := self._apply(key, value, revision))]
        if not events:
            return self._revision
        self._revision = revision
        self._history.extend(events)
        for stream in self._streams:
            mine = tuple(e for e in events if _under(e, stream.prefix))
            if mine:
                stream.queue.put_nowait(WatchBatch(mine, revision))
        return revision

    def _apply(self, key: str, value: bytes | None, revision: int) -> StoreEvent | None:
        old = self._items.get(key)
        prev_value = old.value if old is not None else None
        if value is None:
            if old is None:
                return None
            del self._items[key]
            return StoreEvent(EventType.DELETE, key, b"", prev_value, revision, old.create_revision)
        created = old.create_revision if old is not None else revision
        self._items[key] = StoredItem(key, value, created, revision)
        return StoreEvent(EventType.PUT, key, value, prev_value, revision, created)


def _under(event: StoreEvent, prefix: str) -> bool:
    return event.key.startswith(prefix)
