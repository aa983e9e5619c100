"""Watch fan-out decisions: which events a watcher takes, and how responses are chunked."""

from __future__ import annotations

import pytest

from kubelite.store.types import Event, EventType, KeyValue
from kubelite.store.watchhub import Watcher, WatchHub
from kubelite.store.watchserver import chunk_by_revision


def put(key: bytes, revision: int) -> Event:
    return Event(EventType.PUT, KeyValue(key, revision, revision, 1, b"v"))


def delete(key: bytes, revision: int) -> Event:
    return Event(EventType.DELETE, KeyValue(key, 0, revision, 0))


EVENTS = (put(b"a", 5), put(b"b", 6), delete(b"a", 7), put(b"c", 7), put(b"ab", 8))


def watcher(**kwargs: object) -> Watcher:
    fields: dict[str, object] = {
        "watch_id": 0,
        "key": b"a",
        "range_end": b"",
        "next_revision": 0,
        "deliver": lambda w, e: None,
    }
    fields.update(kwargs)
    return Watcher(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, [(b"a", 5), (b"a", 7)], id="one-key"),
        pytest.param({"range_end": b"b"}, [(b"a", 5), (b"a", 7), (b"ab", 8)], id="prefix-a"),
        pytest.param(
            {"key": b"\0", "range_end": b"\0"},
            [(b"a", 5), (b"b", 6), (b"a", 7), (b"c", 7), (b"ab", 8)],
            id="everything",
        ),
        pytest.param({"key": b"b", "range_end": b"\0"}, [(b"b", 6), (b"c", 7)], id="from-key"),
        pytest.param({"range_end": b"b", "next_revision": 7}, [(b"a", 7), (b"ab", 8)], id="from-7"),
        pytest.param({"range_end": b"b", "no_put": True}, [(b"a", 7)], id="no-put"),
        pytest.param(
            {"range_end": b"b", "no_delete": True}, [(b"a", 5), (b"ab", 8)], id="no-delete"
        ),
    ],
)
def test_accept(kwargs: dict[str, object], expected: list[tuple[bytes, int]]) -> None:
    taken = watcher(**kwargs).accept(EVENTS)
    assert [(e.kv.key, e.revision) for e in taken] == expected


def test_hub_delivers_each_event_once_and_in_order() -> None:
    seen: list[tuple[int, int]] = []
    hub = WatchHub()
    for watch_id in (1, 2):
        hub.add(
            watcher(
                watch_id=watch_id,
                key=b"\0",
                range_end=b"\0",
                next_revision=6,
                deliver=lambda w, events: seen.extend((w.watch_id, e.revision) for e in events),
            )
        )
    # One publish per applied batch, so a revision is never split between two publishes.
    hub.publish(EVENTS[:2], 6)
    hub.publish(EVENTS[:2], 6)  # a repeat (as when a joiner overlaps queued events) is skipped
    hub.publish(EVENTS[2:], 8)
    assert sorted(seen) == [(1, 6), (1, 7), (1, 7), (1, 8), (2, 6), (2, 7), (2, 7), (2, 8)]
    assert hub.revision == 8


@pytest.mark.parametrize(
    ("revisions", "size", "expected"),
    [
        pytest.param([1, 2, 3], 2, [[1, 2], [3]], id="plain"),
        pytest.param([1, 2, 2, 2, 3], 2, [[1, 2, 2, 2], [3]], id="never-splits-a-revision"),
        pytest.param([4, 4, 4], 1, [[4, 4, 4]], id="one-big-revision"),
        pytest.param([], 3, [], id="nothing"),
    ],
)
def test_chunk_by_revision(revisions: list[int], size: int, expected: list[list[int]]) -> None:
    events = [put(b"k%d" % i, r) for i, r in enumerate(revisions)]
    chunks = chunk_by_revision(events, size)
    assert [[e.revision for e in chunk] for chunk in chunks] == expected
