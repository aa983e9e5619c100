"""The narrow storage interface the API server needs, and the errors it raises.

The registry and the watch cache speak only this protocol; `kubelite.apiserver.etcd` is the
one implementation over the etcd v3 gRPC API (our store or a real etcd), and tests use an
in-memory one. Keys are ``str`` (``/registry/pods/default/web``), values are the object's JSON
bytes, and every revision is the store's global revision, so a resourceVersion read through
one API server means the same thing on every other::

    created = await storage.create(key, value)                 # -> revision, or KeyExists
    item = await storage.get(key)                              # -> StoredItem | None
    new_rev = await storage.update(key, value, item.mod_revision)  # or RevisionMismatch
    await storage.delete(key, new_rev)                         # -> the deletion's revision
    page = await storage.list("/registry/pods/", limit=500)    # consistent snapshot
    async for batch in storage.watch("/registry/pods/", page.revision + 1): ...

Reads are linearizable. A write either happened (returns its revision) or raised; an
ambiguous outcome (the connection dropped after sending) raises `StorageUnavailable`, which
callers answer with 503 so clients retry against current state.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StoredItem:
    """One key as the store holds it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True)
class ListPage:
    """One page of a prefix listing, all items read at `revision` (sorted by key).

    `more` says keys after the last item exist at that revision; `remaining` counts them
    (0 when unknown or none).
    """

    items: tuple[StoredItem, ...]
    revision: int
    more: bool
    remaining: int = 0


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True)
class StoreEvent:
    """One change to a key, as a store watch reports it.

    For a PUT, `value` is the new value and `prev_value` the one before (None on create).
    For a DELETE, `value` is empty and `prev_value` is the last value before the deletion
    (None only if the store could not say). `revision` is the revision of the change.
    """

    type: EventType
    key: str
    value: bytes
    prev_value: bytes | None
    revision: int
    create_revision: int = 0


@dataclass(frozen=True)
class WatchBatch:
    """Events of one store watch response, in revision order, plus the store's progress.

    `revision` is how far the watch has got: every change up to it under the watched prefix
    has been delivered. For a batch of events it is the last event's revision (a response's
    header may run ahead of its events on etcd); a batch may have no events (a progress
    notification), and then it may repeat the previous batch's revision (a heartbeat).
    """

    events: tuple[StoreEvent, ...]
    revision: int


class StorageError(Exception):
    """Base of every error the storage layer raises."""


class KeyExists(StorageError):
    """A create found the key already present."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class RevisionMismatch(StorageError):
    """A conditional update or delete found another mod revision (or no key: `current` None)."""

    def __init__(self, key: str, current: StoredItem | None) -> None:
        super().__init__(f"key {key!r} changed or is gone")
        self.key = key
        self.current = current


class Compacted(StorageError):
    """A read or watch asked for a revision the store has compacted away."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(f"revision {requested} is compacted (compact revision {compact_revision})")
        self.requested = requested
        self.compact_revision = compact_revision


class FutureRevision(StorageError):
    """A read asked for a revision the store has not reached yet."""


class ValueTooLarge(StorageError):
    """The store refused a write as too large (etcd: "request is too large", 1.5 MiB)."""


class StorageUnavailable(StorageError):
    """No store endpoint answered in time, or the outcome of a write is unknown."""


class Storage(Protocol):
    """What the registry and the watch cache need from the store (see the module docstring)."""

    async def get(self, key: str) -> StoredItem | None: ...

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListPage:
        """Keys under `prefix` from `start_key` (inclusive), at most `limit` (0 = all).

        `revision` 0 reads the latest state; otherwise the state at that revision
        (`Compacted`/`FutureRevision` when the store cannot serve it).
        """
        ...

    async def create(self, key: str, value: bytes) -> int:
        """Write a new key; its revision, or `KeyExists`."""
        ...

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        """Overwrite `key` if its mod revision is the expected one, else `RevisionMismatch`."""
        ...

    async def delete(self, key: str, expected_mod_revision: int) -> int:
        """Delete `key` if its mod revision is the expected one; the deletion's revision."""
        ...

    async def current_revision(self) -> int:
        """The store's latest revision (linearizable)."""
        ...

    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[WatchBatch]:
        """Every change under `prefix` with revision ≥ `start_revision`, in order.

        Raises `Compacted` (from the iterator) if `start_revision` is compacted, and
        `StorageUnavailable` if the stream cannot be kept; it never skips or repeats an
        event. Progress batches (no events) arrive at least every few seconds when idle, so
        callers learn how far the store has got. Closing the iterator cancels the watch.
        """
        ...

    async def close(self) -> None: ...
