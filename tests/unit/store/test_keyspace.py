"""`Keyspace` and `key_in_range`: etcd's range conventions, as tables."""

from __future__ import annotations

import pickle

import pytest

from kubelite.store.keyspace import VERSION_OVERHEAD, Keyspace, key_in_range
from kubelite.store.types import KeyValue

from .etcd_rules import in_range

# (candidate, key, range_end, inside?)
KEY_IN_RANGE = [
    pytest.param(b"a", b"a", b"", True, id="single-key-same"),
    pytest.param(b"ab", b"a", b"", False, id="single-key-longer"),
    pytest.param(b"", b"a", b"", False, id="single-key-empty-candidate"),
    pytest.param(b"a", b"a", b"b", True, id="half-open-includes-start"),
    pytest.param(b"az", b"a", b"b", True, id="half-open-middle"),
    pytest.param(b"b", b"a", b"b", False, id="half-open-excludes-end"),
    pytest.param(b"a\x00", b"a", b"a\x00", False, id="end-just-after-key-excludes-it"),
    pytest.param(b"a", b"a", b"a\x00", True, id="end-just-after-key-is-one-key"),
    pytest.param(b"0", b"a", b"b", False, id="below-start"),
    pytest.param(b"a", b"b", b"a", False, id="end-before-start-is-empty"),
    pytest.param(b"a", b"a", b"a", False, id="end-equals-start-is-empty"),
    pytest.param(b"zzz", b"a", b"\x00", True, id="from-key-far-above"),
    pytest.param(b"a", b"a", b"\x00", True, id="from-key-includes-key"),
    pytest.param(b"A", b"a", b"\x00", False, id="from-key-below"),
    pytest.param(b"\x00", b"\x00", b"\x00", True, id="all-keys-nul"),
    pytest.param(b"\xff\xff", b"\x00", b"\x00", True, id="all-keys-high"),
    pytest.param(b"\x00", b"\x00", b"", True, id="nul-as-single-key"),
    pytest.param(b"\x00\x01", b"\x00", b"", False, id="nul-single-key-is-only-nul"),
]


@pytest.mark.parametrize(("candidate", "key", "range_end", "inside"), KEY_IN_RANGE)
def test_key_in_range(candidate: bytes, key: bytes, range_end: bytes, inside: bool) -> None:
    assert key_in_range(candidate, key, range_end) is inside
    assert in_range(candidate, key, range_end) is inside  # the reference model agrees


def put(ks: Keyspace, key: bytes, value: bytes, rev: int) -> KeyValue | None:
    """Put as the state machine does: a new version derived from the live one."""
    prev = ks.get(key)
    version = prev.version + 1 if prev else 1
    create = prev.create_revision if prev else rev
    return ks.put(KeyValue(key, create, rev, version, value))


@pytest.fixture
def history() -> Keyspace:
    """a: put@2, put@5, deleted@6, put@8.  b: put@3.  c: put@4, deleted@7."""
    ks = Keyspace()
    put(ks, b"a", b"a1", 2)
    put(ks, b"b", b"b1", 3)
    put(ks, b"c", b"c1", 4)
    put(ks, b"a", b"a2", 5)
    ks.delete(b"a", 6)
    ks.delete(b"c", 7)
    put(ks, b"a", b"a3", 8)
    return ks


# (revision to read at, live keys with their value)
AT_REVISION = [
    pytest.param(1, {}, id="before-anything"),
    pytest.param(2, {b"a": b"a1"}, id="after-first-put"),
    pytest.param(4, {b"a": b"a1", b"b": b"b1", b"c": b"c1"}, id="three-keys"),
    pytest.param(5, {b"a": b"a2", b"b": b"b1", b"c": b"c1"}, id="overwritten"),
    pytest.param(6, {b"b": b"b1", b"c": b"c1"}, id="a-deleted"),
    pytest.param(7, {b"b": b"b1"}, id="c-deleted"),
    pytest.param(8, {b"a": b"a3", b"b": b"b1"}, id="a-recreated"),
    pytest.param(None, {b"a": b"a3", b"b": b"b1"}, id="newest"),
]


@pytest.mark.parametrize(("revision", "live"), AT_REVISION)
def test_range_at_revision(history: Keyspace, revision: int | None, live: dict) -> None:
    found = {kv.key: kv.value for kv in history.range(b"\x00", b"\x00", revision)}
    assert found == live


def test_recreated_key_starts_a_new_generation(history: Keyspace) -> None:
    assert history.get(b"a") == KeyValue(b"a", 8, 8, 1, b"a3")
    assert history.get(b"a", 5) == KeyValue(b"a", 2, 5, 2, b"a2")


RANGES = [
    pytest.param(b"a", b"", [b"a"], id="one-key"),
    pytest.param(b"aa", b"", [], id="missing-key"),
    pytest.param(b"a", b"c", [b"a", b"ab", b"b"], id="half-open"),
    pytest.param(b"ab", b"\x00", [b"ab", b"b", b"c"], id="from-key"),
    pytest.param(b"\x00", b"\x00", [b"a", b"ab", b"b", b"c"], id="all"),
    pytest.param(b"c", b"a", [], id="end-before-start"),
    pytest.param(b"b", b"b", [], id="end-equals-start"),
    pytest.param(b"a", b"a\x00", [b"a"], id="one-key-as-range"),
]


@pytest.mark.parametrize(("key", "range_end", "keys"), RANGES)
def test_range_conventions(key: bytes, range_end: bytes, keys: list[bytes]) -> None:
    ks = Keyspace()
    for rev, name in enumerate([b"c", b"a", b"b", b"ab"], start=2):
        put(ks, name, b"v", rev)
    assert [kv.key for kv in ks.range(key, range_end, None)] == keys


def test_put_and_delete_return_what_they_replace() -> None:
    ks = Keyspace()
    assert put(ks, b"k", b"1", 2) is None
    assert put(ks, b"k", b"2", 3) == KeyValue(b"k", 2, 2, 1, b"1")
    assert ks.delete(b"k", 4) == KeyValue(b"k", 2, 3, 2, b"2")
    assert ks.delete(b"k", 5) is None, "deleting a deleted key changes nothing"
    assert ks.delete(b"never", 5) is None


# (steps, live_keys, live_bytes) where a step is ("put", key, value) or ("delete", key)
LIVE_COUNTERS = [
    pytest.param([("put", b"k", b"123")], 1, 4, id="one-key"),
    pytest.param([("put", b"k", b"123"), ("put", b"k", b"1")], 1, 2, id="overwrite-shrinks"),
    pytest.param([("put", b"k", b"1"), ("delete", b"k")], 0, 0, id="deleted"),
    pytest.param([("put", b"k", b"1"), ("delete", b"k"), ("delete", b"k")], 0, 0, id="twice"),
    pytest.param([("put", b"k", b"1"), ("delete", b"k"), ("put", b"k", b"22")], 1, 3, id="again"),
    pytest.param([("put", b"a", b"1"), ("put", b"bb", b"")], 2, 4, id="two-keys"),
]


@pytest.mark.parametrize(("steps", "live_keys", "live_bytes"), LIVE_COUNTERS)
def test_live_counters(steps: list[tuple], live_keys: int, live_bytes: int) -> None:
    ks = Keyspace()
    for rev, (what, key, *value) in enumerate(steps, start=2):
        if what == "put":
            put(ks, key, value[0], rev)
        else:
            ks.delete(key, rev)
    assert (len(ks), ks.live_keys, ks.live_bytes) == (live_keys, live_keys, live_bytes)


def test_stored_bytes_count_every_version_kept_until_compaction_drops_it() -> None:
    ks = Keyspace()
    put(ks, b"k", b"123", 2)
    put(ks, b"k", b"1", 3)
    ks.delete(b"k", 4)
    put(ks, b"other", b"", 5)
    per_version = VERSION_OVERHEAD + 1
    assert ks.stored_bytes == per_version * 3 + 3 + 1 + VERSION_OVERHEAD + 5
    ks.compact(3, [b"k"])  # revision 2 is hidden by 3; 3 and the tombstone at 4 stay
    assert ks.stored_bytes == per_version * 2 + 1 + VERSION_OVERHEAD + 5
    ks.compact(4, [b"k"])  # the tombstone is the newest at 4: the key goes
    assert ks.stored_bytes == VERSION_OVERHEAD + 5
    assert pickle.loads(pickle.dumps(ks)).stored_bytes == ks.stored_bytes


def stored_versions(ks: Keyspace, key: bytes) -> list[int]:
    """The mod revisions ``ks`` still holds for ``key``: compaction exists to shrink this."""
    return [kv.mod_revision for kv in ks._keys.get(key, [])]


# (compact at, {key: mod revisions still stored})
COMPACTIONS = [
    pytest.param(2, {b"a": [2, 5, 6, 8], b"b": [3], b"c": [4, 7]}, id="at-first-write"),
    pytest.param(5, {b"a": [5, 6, 8], b"b": [3], b"c": [4, 7]}, id="keeps-newest-at-or-below"),
    pytest.param(6, {b"a": [8], b"b": [3], b"c": [4, 7]}, id="drops-tombstone-at-cut"),
    pytest.param(7, {b"a": [8], b"b": [3]}, id="forgets-deleted-key"),
    pytest.param(9, {b"a": [8], b"b": [3]}, id="past-newest"),
]


@pytest.mark.parametrize(("revision", "kept"), COMPACTIONS)
def test_compact_keeps_what_reads_at_or_after_the_cut_need(
    history: Keyspace, revision: int, kept: dict
) -> None:
    readable = {rev: list(history.range(b"\x00", b"\x00", rev)) for rev in range(revision, 10)}
    history.compact(revision, [b"a", b"b", b"c"])
    assert {
        k: stored_versions(history, k) for k in (b"a", b"b", b"c") if k in history._keys
    } == kept
    assert {rev: list(history.range(b"\x00", b"\x00", rev)) for rev in range(revision, 10)} == (
        readable
    )
