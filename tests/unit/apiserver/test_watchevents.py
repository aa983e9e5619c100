"""What one store change looks like to one watcher: selector transitions and encodings."""

from __future__ import annotations

import json

import pytest

from kubelite.apiserver.codec import JsonObject
from kubelite.apiserver.storage import EventType, StoreEvent
from kubelite.apiserver.watchevents import (
    Bookmark,
    ObjectChange,
    Predicate,
    UndecodableValue,
    WatchEventType,
    WatchExpired,
    change_from_store_event,
    decode_value,
    event_for,
    initial_event_for,
    stub_for_key,
    tombstone,
)

KEY = "/registry/pods/default/web"


def pod_bytes(color: str) -> bytes:
    return json.dumps(
        {"kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": {"c": color}}
    ).encode()


def red(obj: JsonObject) -> bool:
    return bool(obj["spec"]["c"] == "red")


def put(new: str, prev: str | None) -> StoreEvent:
    before = pod_bytes(prev) if prev else None
    return StoreEvent(EventType.PUT, KEY, pod_bytes(new), before, revision=9)


def delete(prev: str | None) -> StoreEvent:
    before = pod_bytes(prev) if prev else None
    return StoreEvent(EventType.DELETE, KEY, b"", before, revision=9)


# (store event, predicate) -> (type, color of the object shown, its resourceVersion) or None
TRANSITIONS = [
    pytest.param(put("red", "red"), red, ("MODIFIED", "red", "9"), id="both-match"),
    pytest.param(put("red", "blue"), red, ("ADDED", "red", "9"), id="starts-matching"),
    pytest.param(put("red", None), red, ("ADDED", "red", "9"), id="created-matching"),
    pytest.param(put("blue", "red"), red, ("DELETED", "red", "9"), id="stops-matching"),
    pytest.param(put("blue", "blue"), red, None, id="neither-matches"),
    pytest.param(put("blue", None), red, None, id="created-not-matching"),
    pytest.param(delete("red"), red, ("DELETED", "red", "9"), id="deleted-matching"),
    pytest.param(delete("blue"), red, None, id="deleted-not-matching"),
    pytest.param(delete(None), red, ("DELETED", None, "9"), id="deleted-last-state-unknown"),
    pytest.param(put("blue", "red"), None, ("MODIFIED", "blue", "9"), id="no-selector-modified"),
    pytest.param(put("blue", None), None, ("ADDED", "blue", "9"), id="no-selector-added"),
    pytest.param(delete("blue"), None, ("DELETED", "blue", "9"), id="no-selector-deleted"),
]


@pytest.mark.parametrize(("store_event", "predicate", "expected"), TRANSITIONS)
def test_event_for(
    store_event: StoreEvent,
    predicate: Predicate | None,
    expected: tuple[str, str | None, str] | None,
) -> None:
    event = event_for(change_from_store_event(store_event, None), predicate)
    if expected is None:
        assert event is None
        return
    assert event is not None
    color = event.object["spec"]["c"] if "spec" in event.object else None
    assert (event.type.value, color, event.object["metadata"]["resourceVersion"]) == expected
    assert event.revision == 9 and event.key == KEY


def test_a_known_previous_state_is_used_instead_of_decoding_the_event() -> None:
    known = decode_value(pod_bytes("red"), 7)
    change = change_from_store_event(put("blue", "blue"), known)
    assert change.prev_object is known
    deleted = event_for(change, red)
    assert deleted is not None and deleted.type is WatchEventType.DELETED
    assert deleted.object["metadata"]["resourceVersion"] == "9"  # the change's revision
    assert known["metadata"]["resourceVersion"] == "7"  # the shared object is untouched


def test_outputs_and_their_json_lines_are_built_once_per_change() -> None:
    change = change_from_store_event(put("red", "red"), None)
    first, second = event_for(change, None), event_for(change, red)
    assert first is second is change.modified
    assert first is not None
    line = first.json_line()
    assert line is change.modified.json_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"type": "MODIFIED", "object": change.object}


def test_initial_events_are_the_shared_added_output() -> None:
    state = ObjectChange(KEY, 4, decode_value(pod_bytes("red"), 4), None)
    assert initial_event_for(state, red) is state.added
    assert initial_event_for(state, lambda obj: False) is None


def test_tombstone_copies_only_what_it_changes() -> None:
    obj = decode_value(pod_bytes("red"), 3)
    shown = tombstone(obj, 8)
    assert shown["metadata"]["resourceVersion"] == "8"
    assert obj["metadata"]["resourceVersion"] == "3"
    assert shown["spec"] is obj["spec"]


@pytest.mark.parametrize(
    ("key", "metadata"),
    [
        pytest.param(KEY, {"name": "web", "namespace": "default"}, id="namespaced"),
        pytest.param("/registry/nodes/n1", {"name": "n1"}, id="cluster-scoped"),
    ],
)
def test_stub_for_key(key: str, metadata: dict[str, str]) -> None:
    assert stub_for_key(key, 5) == {"metadata": {**metadata, "resourceVersion": "5"}}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1]", id="a-list"),
        pytest.param(b'"text"', id="a-string"),
        pytest.param(b'{"metadata": 3}', id="metadata-not-an-object"),
        pytest.param(b'{"metadata": null}', id="metadata-null"),
    ],
)
def test_undecodable_values(value: bytes) -> None:
    with pytest.raises(UndecodableValue):
        decode_value(value, 1)


def test_bookmark_line() -> None:
    line = Bookmark(456).json_line("Pod", "v1")
    assert json.loads(line) == {
        "type": "BOOKMARK",
        "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "456"}},
    }


def test_expired_line_is_the_410_error_event() -> None:
    body = json.loads(WatchExpired(101, 119).json_line())
    assert body["type"] == "ERROR"
    assert body["object"]["message"] == "too old resource version: 101 (119)"
    assert (body["object"]["reason"], body["object"]["code"]) == ("Expired", 410)
