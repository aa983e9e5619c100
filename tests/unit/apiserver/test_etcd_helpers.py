"""The pure parts of the API server's etcd client: endpoints, keys, error meaning, endpoint
choice, and the watch cursor that decides what a watch delivers and where it resumes."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.apiserver.etcd import range_start, remaining_after
from kubelite.apiserver.etcdconn import (
    QUARANTINE_S,
    Failure,
    classify,
    key_bytes,
    key_text,
    next_preferred,
    parse_endpoint,
    parse_endpoints,
    prefix_end,
)
from kubelite.apiserver.etcdwatch import WatchCursor, create_request, store_event
from kubelite.apiserver.storage import EventType, StoreEvent, WatchBatch
from kubelite.pb import kv_pb2

# --- endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("127.0.0.1:2379", ("127.0.0.1:2379", False), id="host-port"),
        pytest.param("http://127.0.0.1:2379", ("127.0.0.1:2379", False), id="http-url"),
        pytest.param("http://127.0.0.1:2379/", ("127.0.0.1:2379", False), id="trailing-slash"),
        pytest.param(" http://10.0.0.2:32379 ", ("10.0.0.2:32379", False), id="spaces"),
        pytest.param("https://etcd.local:2379", ("etcd.local:2379", True), id="https"),
        pytest.param("127.0.0.1", ("127.0.0.1:2379", False), id="default-port"),
        pytest.param("http://[::1]:2379", ("[::1]:2379", False), id="ipv6"),
    ],
)
def test_parse_endpoint(url: str, expected: tuple[str, bool]) -> None:
    assert parse_endpoint(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("", id="empty"),
        pytest.param("unix:///run/etcd.sock", id="unix-scheme"),
        pytest.param("http://127.0.0.1:2379/v3", id="path"),
        pytest.param("http://127.0.0.1:notaport", id="bad-port"),
        pytest.param("http://:2379", id="no-host"),
    ],
)
def test_parse_endpoint_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(url)


def test_parse_endpoints_splits_commas_and_drops_duplicates() -> None:
    assert parse_endpoints(["http://a:1,http://b:2", "a:1", "c:3,"]) == ("a:1", "b:2", "c:3")


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([], id="none"),
        pytest.param([","], id="only-commas"),
        pytest.param(["https://a:2379"], id="tls-not-yet"),
    ],
)
def test_parse_endpoints_refuses(values: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_endpoints(values)


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        pytest.param(b"/registry/pods/", b"/registry/pods0", id="slash"),
        pytest.param(b"a\xff", b"b", id="trailing-ff"),
        pytest.param(b"\xff\xff", b"\0", id="all-ff"),
        pytest.param(b"", b"\0", id="empty"),
    ],
)
def test_prefix_end(prefix: bytes, end: bytes) -> None:
    assert prefix_end(prefix) == end


@given(st.binary(min_size=1, max_size=6), st.binary(max_size=8))
def test_prefix_end_bounds_exactly_the_keys_with_the_prefix(prefix: bytes, suffix: bytes) -> None:
    end = prefix_end(prefix)
    key = prefix + suffix
    assert end == b"\0" or key < end
    outside = bytes([*prefix[:-1], prefix[-1] + 1]) if prefix[-1] < 0xFF else None
    if outside is not None:
        assert outside >= end


@pytest.mark.parametrize(
    ("prefix", "start_key", "start"),
    [
        pytest.param(b"/p/", b"", b"/p/", id="no-start-key"),
        pytest.param(b"/p/", b"/p/b", b"/p/b", id="start-key-inside"),
        pytest.param(b"/p/", b"/a", b"/p/", id="start-key-before"),
        pytest.param(b"", b"", b"\0", id="everything"),
    ],
)
def test_range_start(prefix: bytes, start_key: bytes, start: bytes) -> None:
    assert range_start(prefix, start_key) == start


@given(st.text())
def test_keys_round_trip(key: str) -> None:
    try:
        encoded = key_bytes(key)
    except UnicodeEncodeError:
        return  # lone surrogates that surrogateescape cannot carry are never our keys
    assert key_text(encoded) == key


def test_stored_key_bytes_that_are_not_utf8_round_trip() -> None:
    assert key_bytes(key_text(b"/r/\xff\xfe")) == b"/r/\xff\xfe"


@pytest.mark.parametrize(
    ("count", "returned", "more", "remaining"),
    [
        pytest.param(10, 3, True, 7, id="more"),
        pytest.param(3, 3, False, 0, id="last-page"),
        pytest.param(2, 3, True, 0, id="count-never-negative"),
    ],
)
def test_remaining_after(count: int, returned: int, more: bool, remaining: int) -> None:
    assert remaining_after(count, returned, more) == remaining


# --- errors -----------------------------------------------------------------------------------

Code = grpc.StatusCode
MVCC = "etcdserver: mvcc: "


@pytest.mark.parametrize(
    ("code", "details", "failure"),
    [
        (Code.UNAVAILABLE, "failed to connect to all addresses", Failure.RETRY),
        (Code.UNAVAILABLE, "etcdserver: no leader", Failure.RETRY),
        (Code.UNAVAILABLE, "etcdserver: request timed out", Failure.RETRY),
        (Code.UNAVAILABLE, "etcdserver: leader changed", Failure.RETRY),
        (Code.UNAVAILABLE, "etcdserver: leader epoch is stale", Failure.RETRY),
        (Code.RESOURCE_EXHAUSTED, "etcdserver: too many requests", Failure.RETRY),
        (Code.DEADLINE_EXCEEDED, "Deadline Exceeded", Failure.RETRY),
        (Code.CANCELLED, "Cancelled", Failure.RETRY),
        (Code.UNKNOWN, "Stream removed", Failure.RETRY),
        (Code.INTERNAL, "Internal error from Core", Failure.RETRY),
        (Code.OUT_OF_RANGE, f"{MVCC}required revision has been compacted", Failure.COMPACTED),
        (
            Code.OUT_OF_RANGE,
            f"{MVCC}required revision is a future revision",
            Failure.FUTURE_REVISION,
        ),
        (Code.INVALID_ARGUMENT, "etcdserver: request is too large", Failure.TOO_LARGE),
        (
            Code.RESOURCE_EXHAUSTED,
            "grpc: received message larger than max (3 vs 2)",
            Failure.TOO_LARGE,
        ),
        (Code.INVALID_ARGUMENT, "etcdserver: key is not provided", Failure.FATAL),
        (Code.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded", Failure.FATAL),
        (Code.INTERNAL, "boom", Failure.FATAL),
    ],
    ids=lambda value: value.name if isinstance(value, Code | Failure) else None,
)
def test_classify(code: grpc.StatusCode, details: str, failure: Failure) -> None:
    assert classify(code, details) is failure


# --- endpoint choice --------------------------------------------------------------------------

NOW = 100.0
RECENT = NOW - QUARANTINE_S / 2
LONG_AGO = NOW - QUARANTINE_S * 2


@pytest.mark.parametrize(
    ("failed_at", "current", "chosen"),
    [
        pytest.param([NOW, None, None], 0, 1, id="next-healthy"),
        pytest.param([None, None, NOW], 2, 0, id="wraps-around"),
        pytest.param([NOW, RECENT, None], 0, 2, id="skips-recently-failed"),
        pytest.param([NOW, LONG_AGO, None], 0, 1, id="quarantine-over"),
        pytest.param([NOW, RECENT, RECENT - 0.1], 0, 2, id="all-failed-oldest-failure"),
        pytest.param([NOW], 0, 0, id="single-endpoint"),
    ],
)
def test_next_preferred(failed_at: list[float | None], current: int, chosen: int) -> None:
    assert next_preferred(failed_at, current, NOW) == chosen


# --- watch ------------------------------------------------------------------------------------


def put(key: str, revision: int) -> StoreEvent:
    return StoreEvent(EventType.PUT, key, b"v", None, revision, revision)


def test_cursor_delivers_events_and_moves_past_them() -> None:
    cursor = WatchCursor(next_revision=5)
    batch = cursor.on_events([put("a", 5), put("b", 5), put("a", 7)])
    assert batch == WatchBatch((put("a", 5), put("b", 5), put("a", 7)), revision=7)
    assert cursor.next_revision == 8


def test_cursor_drops_events_already_delivered_after_a_resume() -> None:
    cursor = WatchCursor(next_revision=8)
    assert cursor.on_events([put("a", 6), put("b", 7)]) is None
    assert cursor.on_events([put("b", 7), put("c", 8)]) == WatchBatch((put("c", 8),), 8)


def test_cursor_believes_a_progress_answer_only_when_a_later_one_comes_settle_after() -> None:
    cursor = WatchCursor(next_revision=5, settle=1.0)
    assert cursor.on_progress(9, now=10.0) is None  # heard, not believed
    assert cursor.on_progress(9, now=10.5) is None  # too soon after: still waiting on t=10
    assert cursor.on_progress(11, now=11.0) == WatchBatch((), 9)
    assert cursor.next_revision == 10
    assert cursor.on_progress(11, now=12.0) == WatchBatch((), 11)
    assert cursor.on_progress(11, now=13.0) == WatchBatch((), 11)  # idle: a heartbeat


def test_cursor_progress_behind_delivered_events_reports_the_last_event() -> None:
    cursor = WatchCursor(next_revision=5, settle=0.0)
    cursor.on_progress(6, now=0.0)
    assert cursor.on_events([put("a", 7)]) is not None  # the answer at 6 was overtaken
    assert cursor.on_progress(7, now=1.0) == WatchBatch((), 7)
    assert cursor.next_revision == 8


def test_cursor_progress_before_the_start_revision_reports_the_one_before_it() -> None:
    cursor = WatchCursor(next_revision=10, settle=0.0)
    cursor.on_progress(4, now=0.0)
    assert cursor.on_progress(4, now=1.0) == WatchBatch((), 9)
    assert cursor.next_revision == 10


def test_cursor_forgets_progress_heard_on_a_lost_stream() -> None:
    cursor = WatchCursor(next_revision=5, settle=0.0)
    cursor.on_progress(9, now=0.0)
    cursor.on_new_stream()
    assert cursor.on_progress(10, now=5.0) is None
    assert cursor.next_revision == 5
    assert cursor.on_progress(10, now=6.0) == WatchBatch((), 10)


def kv(key: bytes, value: bytes, create: int, mod: int) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(key=key, value=value, create_revision=create, mod_revision=mod)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            kv_pb2.Event(type=kv_pb2.Event.PUT, kv=kv(b"/a", b"v1", 3, 3)),
            StoreEvent(EventType.PUT, "/a", b"v1", None, 3, 3),
            id="create",
        ),
        pytest.param(
            kv_pb2.Event(
                type=kv_pb2.Event.PUT, kv=kv(b"/a", b"v2", 3, 4), prev_kv=kv(b"/a", b"v1", 3, 3)
            ),
            StoreEvent(EventType.PUT, "/a", b"v2", b"v1", 4, 3),
            id="update",
        ),
        pytest.param(
            kv_pb2.Event(
                type=kv_pb2.Event.DELETE,
                kv=kv_pb2.KeyValue(key=b"/a", mod_revision=5),
                prev_kv=kv(b"/a", b"v2", 3, 4),
            ),
            StoreEvent(EventType.DELETE, "/a", b"", b"v2", 5, 3),
            id="delete",
        ),
        pytest.param(
            kv_pb2.Event(type=kv_pb2.Event.DELETE, kv=kv_pb2.KeyValue(key=b"/a", mod_revision=5)),
            StoreEvent(EventType.DELETE, "/a", b"", None, 5, 0),
            id="delete-without-prev",
        ),
        pytest.param(
            kv_pb2.Event(
                type=kv_pb2.Event.PUT, kv=kv(b"/a", b"", 3, 6), prev_kv=kv(b"/a", b"", 3, 5)
            ),
            StoreEvent(EventType.PUT, "/a", b"", b"", 6, 3),
            id="empty-values-kept",
        ),
    ],
)
def test_store_event(event: kv_pb2.Event, expected: StoreEvent) -> None:
    assert store_event(event) == expected


def test_create_request_watches_the_prefix_with_prev_kv_and_progress() -> None:
    create = create_request(b"/registry/pods/", 42).create_request
    assert (create.key, create.range_end, create.start_revision) == (
        b"/registry/pods/",
        b"/registry/pods0",
        42,
    )
    assert create.prev_kv and create.progress_notify
    assert create_request(b"", 1).create_request.key == b"\0"
