"""Watch events: what one store change looks like to one watcher. Pure, no I/O.

The watch cache decodes every store change once into an `ObjectChange` (the object after the
change and the one before it) and shares it, read-only, with every watcher. Each watcher then
asks `event_for(change, predicate)` for its output, upstream's cacheWatcher selector
transitions (``predicate`` is the watch's label and field selector; None matches everything):

=================  ==================  =========================================================
new state matches  old state matches   output
=================  ==================  =========================================================
yes                yes                 MODIFIED, the new object
yes                no (or created)     ADDED, the new object
no (or deleted)    yes                 DELETED, the old object with resourceVersion = revision
no (or deleted)    no (or created)     nothing
deleted            unknown             DELETED, a stub naming the key (the store lost the value)
=================  ==================  =========================================================

A change has at most three outputs (its ``added``, ``modified`` and ``deleted``), each built
once, on first use, and each encodes its JSON line once, so a thousand plain-JSON watchers
write the very same bytes::

    change = change_from_store_event(store_event, prev_object=None)
    event = event_for(change, lambda obj: obj["spec"].get("nodeName") == "n1")
    if event is not None:
        response.write(event.json_line())   # b'{"type":"ADDED","object":{...}}\\n'

Objects here are shared between watchers and with the cache: treat them as read-only (copy
before changing one, as client-go's informers do).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from kubelite.api.errors import ExpiredError
from kubelite.api.meta import format_resource_version
from kubelite.apiserver.codec import JsonObject, compact_json, decode_object, event_line
from kubelite.apiserver.storage import EventType, StoredItem, StoreEvent

Predicate = Callable[[JsonObject], bool]
"""A watch's selectors as one test on a (read-only) object."""


class WatchEventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class CloseReason(enum.StrEnum):
    """Why the server ended a watch; in every case the client re-watches from its last RV."""

    TOO_SLOW = "too slow: the watcher fell too far behind"
    RESYNC = "the watch cache re-listed past this watch's position"
    STORE_UNAVAILABLE = "the store watch serving this watch ended"
    STOPPED = "the watch cache stopped"
    ERROR = "internal error while filtering events"


@dataclass(frozen=True, eq=False)
class WatchEvent:
    """An ADDED, MODIFIED or DELETED output; `object` is shared and read-only."""

    type: WatchEventType
    object: JsonObject
    revision: int
    key: str

    @cached_property
    def object_json(self) -> bytes:
        """The object as compact UTF-8 JSON, encoded once and shared by every watcher."""
        return compact_json(self.object)

    def json_line(self) -> bytes:
        """``{"type":..,"object":..}\\n`` (REST watch streams), around `object_json`."""
        return self._line

    @cached_property
    def _line(self) -> bytes:
        return event_line(self.type.value, self.object_json)


@dataclass(frozen=True)
class Bookmark:
    """A BOOKMARK output: the watcher has been sent every change up to `revision`."""

    revision: int

    def object(self, kind: str, api_version: str) -> JsonObject:
        metadata = {"resourceVersion": format_resource_version(self.revision)}
        return {"kind": kind, "apiVersion": api_version, "metadata": metadata}

    def json_line(self, kind: str, api_version: str) -> bytes:
        return event_line("BOOKMARK", compact_json(self.object(kind, api_version)))


@dataclass(frozen=True)
class WatchExpired:
    """The final output of a watch from a compacted revision (the REST 410 ERROR event)."""

    requested: int
    oldest: int  # the store's compact revision: the oldest revision it still serves

    def error(self) -> ExpiredError:
        """410 ``too old resource version: <requested> (<oldest>)``."""
        return ExpiredError(self.requested, self.oldest)

    def json_line(self) -> bytes:
        """``{"type":"ERROR","object":<Status 410 Expired>}\\n``."""
        return event_line("ERROR", compact_json(self.error().status()))


@dataclass(frozen=True)
class WatchClosed:
    """The final output of a watch the server ended; the REST layer just ends the stream."""

    reason: CloseReason


WatchOutput = WatchEvent | Bookmark | WatchExpired | WatchClosed


class UndecodableValue(ValueError):
    """A stored value is not a JSON object (written around the API, e.g. with etcdctl)."""


def decode_value(value: bytes, revision: int) -> JsonObject:
    """`codec.decode_object`, with every kind of garbage reported as `UndecodableValue`."""
    try:
        obj = decode_object(value, revision)
    except (ValueError, AttributeError, TypeError) as exc:  # not JSON / not an object / bad meta
        raise UndecodableValue(f"stored value is not a JSON object: {exc}") from exc
    if not isinstance(obj.get("metadata"), dict):
        raise UndecodableValue("stored object has no metadata object")
    return obj


def tombstone(obj: JsonObject, revision: int) -> JsonObject:
    """`obj` as a DELETED event shows it: resourceVersion = the deletion's `revision`.

    A shallow copy: everything but the top level and ``metadata`` stays shared (read-only).
    """
    metadata = {**obj["metadata"], "resourceVersion": format_resource_version(revision)}
    return {**obj, "metadata": metadata}


_KEY_PARTS_NAMESPACED: Final = 5  # "", "registry", resource, namespace, name


def stub_for_key(key: str, revision: int) -> JsonObject:
    """The least a DELETED event can say when the store did not keep the last value."""
    parts = key.split("/")
    metadata: JsonObject = {"name": parts[-1], "resourceVersion": format_resource_version(revision)}
    if len(parts) == _KEY_PARTS_NAMESPACED:
        metadata["namespace"] = parts[-2]
    return {"metadata": metadata}


@dataclass(frozen=True, eq=False)
class ObjectChange:
    """One key's change at `revision`: `object` after (None: deleted), `prev_object` before
    (None: created, or unknown). Both are shared and read-only."""

    key: str
    revision: int
    object: JsonObject | None
    prev_object: JsonObject | None

    @cached_property
    def added(self) -> WatchEvent:
        assert self.object is not None, "a deletion has no ADDED output"
        return WatchEvent(WatchEventType.ADDED, self.object, self.revision, self.key)

    @cached_property
    def modified(self) -> WatchEvent:
        assert self.object is not None, "a deletion has no MODIFIED output"
        return WatchEvent(WatchEventType.MODIFIED, self.object, self.revision, self.key)

    @cached_property
    def deleted(self) -> WatchEvent:
        """The last state before the change, carrying the change's revision."""
        last = (
            tombstone(self.prev_object, self.revision)
            if self.prev_object is not None
            else stub_for_key(self.key, self.revision)
        )
        return WatchEvent(WatchEventType.DELETED, last, self.revision, self.key)


def state_of(item: StoredItem) -> ObjectChange:
    """A listed key as the change that produced its current state (no previous object)."""
    return ObjectChange(
        item.key, item.mod_revision, decode_value(item.value, item.mod_revision), None
    )


def change_from_store_event(event: StoreEvent, prev_object: JsonObject | None) -> ObjectChange:
    """Decode a store event once. `prev_object` is the state before it when the caller knows
    it (the watch cache does); otherwise the event's own previous value is decoded."""
    if prev_object is None and event.prev_value is not None:
        # Only ever shown as a DELETED output, which carries the event's revision anyway.
        prev_object = decode_value(event.prev_value, event.revision)
    new = decode_value(event.value, event.revision) if event.type is EventType.PUT else None
    return ObjectChange(event.key, event.revision, new, prev_object)


def _matches(predicate: Predicate | None, obj: JsonObject | None) -> bool:
    return obj is not None and (predicate is None or predicate(obj))


def event_for(change: ObjectChange, predicate: Predicate | None) -> WatchEvent | None:
    """The output of `change` for a watcher with `predicate` (see the module's table)."""
    now = _matches(predicate, change.object)
    before = _matches(predicate, change.prev_object)
    if now:
        return change.modified if before else change.added
    if before or (change.object is None and change.prev_object is None):
        return change.deleted
    return None


def initial_event_for(state: ObjectChange, predicate: Predicate | None) -> WatchEvent | None:
    """The synthetic ADDED of a watch without a resourceVersion, for one current object."""
    return state.added if _matches(predicate, state.object) else None
