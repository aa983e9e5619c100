"""Watch fan-out on one member, outside Raft.

After each apply, the Raft thread posts the batch's events to this member's event loop
(``call_soon_threadsafe``), where `WatchHub.publish` hands each watcher the events in its range
and filters. Watchers belong to watch streams (`kubelite.store.server`), which decide what a
watcher that cannot keep up gets: it is cancelled, never buffered without bound.

Joining without gaps or duplicates: a new watcher reads history under the state lock up to the
current revision R and starts with ``next_revision = R + 1``; events of revisions <= R that are
still queued for the loop are then skipped by the revision check in `Watcher.accept`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubelite.store.keyspace import key_in_range
from kubelite.store.types import Event, EventType, Revision


@dataclass(eq=False)
class Watcher:
    watch_id: int
    key: bytes
    range_end: bytes
    next_revision: Revision
    deliver: Callable[[Watcher, list[Event]], None]
    no_put: bool = False
    no_delete: bool = False
    prev_kv: bool = False
    progress_notify: bool = False
    sent_since_progress: bool = field(default=False)

    def accept(self, events: tuple[Event, ...] | list[Event]) -> list[Event]:
        """The events this watcher should see, in order."""
        wanted: list[Event] = []
        for event in events:
            if event.kv.mod_revision < self.next_revision:
                continue
            if self.no_put and event.type is EventType.PUT:
                continue
            if self.no_delete and event.type is EventType.DELETE:
                continue
            if key_in_range(event.kv.key, self.key, self.range_end):
                wanted.append(event)
        return wanted


class WatchHub:
    """All watchers of one member; `publish` runs on the member's event loop."""

    def __init__(self) -> None:
        self._watchers: set[Watcher] = set()
        self.revision: Revision = 0

    def add(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def remove(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def __len__(self) -> int:
        return len(self._watchers)

    def publish(self, events: tuple[Event, ...], revision: Revision) -> None:
        self.revision = max(self.revision, revision)
        if not events:
            return
        for watcher in list(self._watchers):
            wanted = watcher.accept(events)
            if wanted:
                watcher.next_revision = wanted[-1].kv.mod_revision + 1
                watcher.deliver(watcher, wanted)
