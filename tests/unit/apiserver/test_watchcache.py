"""The watch cache over the in-memory storage: sync, snapshots, every way a watch can start,
selector transitions, bookmarks, slow watchers, store failures, fan-out, and a property
against a naive reference computed from the writes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support.memstorage import MemStorage

from kubelite.api.errors import TooManyRequestsError
from kubelite.apiserver.codec import JsonObject, encode_object
from kubelite.apiserver.storage import StorageUnavailable
from kubelite.apiserver.watchcache import (
    Bookmark,
    CacheWatcher,
    CloseReason,
    Predicate,
    ResourceVersionTooLargeError,
    WatchCache,
    WatchEvent,
    WatchExpired,
    WatchOutput,
)

PREFIX = "/registry/pods/"
TIMEOUT = 5.0


def pod(namespace: str, name: str, color: str = "red", n: int = 0) -> JsonObject:
    metadata = {"name": name, "namespace": namespace}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": {"c": color, "n": n}}


def key(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}/{name}"


def red(obj: JsonObject) -> bool:
    return bool(obj["spec"]["c"] == "red")


def added(names: str, first: int) -> list[tuple[object, ...]]:
    """Summaries of ADDED events of one-letter names written at consecutive revisions."""
    return [("ADDED", name, first + i) for i, name in enumerate(names)]


async def put(storage: MemStorage, namespace: str, name: str, color: str = "red") -> int:
    return await storage.put(key(namespace, name), encode_object(pod(namespace, name, color)))


def summary(output: WatchOutput) -> tuple[object, ...]:
    """An output as a short comparable tuple: (type, name, resourceVersion) and the like."""
    if isinstance(output, WatchEvent):
        meta = output.object["metadata"]
        return (output.type.value, meta["name"], int(meta["resourceVersion"]))
    if isinstance(output, Bookmark):
        return ("BOOKMARK", output.revision)
    if isinstance(output, WatchExpired):
        return ("EXPIRED", output.requested, output.oldest)
    return ("CLOSED", output.reason)


async def next_output(watcher: CacheWatcher, seen: Sequence[WatchOutput] = ()) -> WatchOutput:
    try:
        async with asyncio.timeout(TIMEOUT):
            return await anext(watcher)
    except TimeoutError:
        raise AssertionError(
            f"no watch output within {TIMEOUT}s; watcher at {watcher.position}, "
            f"ended={watcher.ended}, seen so far: {[summary(o) for o in seen]}"
        ) from None


async def take(watcher: CacheWatcher, count: int) -> list[tuple[object, ...]]:
    seen: list[WatchOutput] = []
    while len(seen) < count:
        seen.append(await next_output(watcher, seen))
    return [summary(o) for o in seen]


async def take_until_end(watcher: CacheWatcher) -> list[tuple[object, ...]]:
    seen: list[WatchOutput] = []
    async with asyncio.timeout(TIMEOUT):
        async for output in watcher:
            seen.append(output)
    return [summary(o) for o in seen]


async def fresh(cache: WatchCache, storage: MemStorage, timeout: float = TIMEOUT) -> None:
    """Wait until the cache has caught up with the store (progress covers other prefixes)."""
    storage.notify_progress()
    ok = await cache.wait_fresh(storage.revision, timeout)
    assert ok, f"cache at {cache.revision}, store at {storage.revision}"


CacheFactory = Callable[..., Any]


@pytest.fixture
async def storage() -> MemStorage:
    return MemStorage()


@pytest.fixture
async def make_cache(storage: MemStorage) -> AsyncIterator[CacheFactory]:
    caches: list[WatchCache] = []

    async def make(synced: bool = True, **options: Any) -> WatchCache:
        settings: dict[str, Any] = {
            "backoff_initial": 0.001,
            "backoff_max": 0.01,
            "fresh_timeout": 0.3,
            **options,
        }
        cache = WatchCache(storage, PREFIX, **settings)
        caches.append(cache)
        await cache.start()
        if synced:
            assert await cache.wait_synced(TIMEOUT), "the cache never listed"
        return cache

    yield make
    for cache in caches:
        await cache.stop()


# -- sync and snapshots ----------------------------------------------------------------------


async def test_initial_list_fills_the_snapshot(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    for namespace, name in [("b", "x"), ("a", "z"), ("a", "y"), ("b", "w"), ("a", "v")]:
        await put(storage, namespace, name)
    await storage.put("/registry/services/a/s", b"{}")
    cache = await make_cache(list_page_size=2)
    objects, revision = cache.snapshot(PREFIX)
    assert [o["metadata"]["name"] for o in objects] == ["v", "y", "z", "w", "x"]
    assert revision == cache.revision == storage.revision
    objects, _ = cache.snapshot(PREFIX + "b/")
    assert [(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in objects] == [
        ("w", "5"),
        ("x", "2"),
    ]


async def test_snapshot_follows_writes(storage: MemStorage, make_cache: CacheFactory) -> None:
    cache = await make_cache()
    await put(storage, "a", "x")
    await put(storage, "a", "y")
    await storage.remove(key("a", "x"))
    await fresh(cache, storage)
    objects, revision = cache.snapshot(PREFIX)
    assert [o["metadata"]["name"] for o in objects] == ["y"]
    assert (revision, cache.object_count, cache.buffered_event_count) == (4, 1, 3)


async def test_undecodable_values_are_skipped(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    await storage.put(key("a", "bad"), b"not json")
    cache = await make_cache()
    watcher = await cache.watch(PREFIX, None)
    await storage.put(key("a", "worse"), b"[]")
    await put(storage, "a", "good")
    assert await take(watcher, 1) == [("ADDED", "good", 4)]
    assert [o["metadata"]["name"] for o in cache.snapshot(PREFIX)[0]] == ["good"]


async def test_wait_fresh_follows_store_progress(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache()
    await storage.put("/registry/services/a/s", b"{}")  # another prefix: the cache hears nothing
    assert not await cache.wait_fresh(storage.revision, 0.05)
    storage.notify_progress()
    assert await cache.wait_fresh(storage.revision, TIMEOUT)


# -- how a watch starts ------------------------------------------------------------------------


async def test_watch_without_revision_sends_current_objects_then_changes(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    await put(storage, "a", "y")
    await put(storage, "a", "blue", color="blue")
    await put(storage, "b", "x")
    await put(storage, "a", "x")
    cache = await make_cache()
    watcher = await cache.watch(PREFIX + "a/", None, red)
    await put(storage, "b", "z")
    await put(storage, "a", "y")
    assert await take(watcher, 3) == [("ADDED", "x", 5), ("ADDED", "y", 2), ("MODIFIED", "y", 7)]


async def test_watch_from_revision_replays_every_later_change(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache()
    start = await put(storage, "a", "x")
    await put(storage, "a", "y")
    await storage.remove(key("a", "x"))
    await fresh(cache, storage)
    watcher = await cache.watch(PREFIX, start)
    await put(storage, "a", "z")
    assert await take(watcher, 3) == [("ADDED", "y", 3), ("DELETED", "x", 4), ("ADDED", "z", 5)]


async def test_watch_older_than_the_buffer_reads_the_store_then_joins_the_cache(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache(capacity=2)
    for name in "uvwxy":
        await put(storage, "a", name)
    await fresh(cache, storage)
    assert cache.oldest_revision == 4 and cache.buffered_event_count == 2
    watcher = await cache.watch(PREFIX, 2)  # after u (2): v..y, older than the buffer
    assert cache.store_watcher_count == 1
    assert await take(watcher, 4) == added("vwxy", 3)
    assert (cache.store_watcher_count, cache.watcher_count) == (0, 1)  # handed over
    await put(storage, "a", "z")
    assert await take(watcher, 1) == [("ADDED", "z", 7)]
    assert storage.open_watch_count == 1  # the cache's own, the watcher's store watch is gone


async def test_watch_from_a_compacted_revision_is_expired(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache(capacity=1)
    for name in "uvw":
        await put(storage, "a", name)
    await fresh(cache, storage)
    await storage.compact(4)
    watcher = await cache.watch(PREFIX, 2)
    outputs = [o async for o in watcher]
    assert [summary(o) for o in outputs] == [("EXPIRED", 2, 4)]
    assert isinstance(outputs[0], WatchExpired)
    assert outputs[0].error().message == "too old resource version: 2 (4)"
    assert cache.watcher_count == 0


async def test_changes_of_one_revision_leave_the_buffer_together(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache(capacity=2)
    before = await put(storage, "a", "v")
    names = ("x", "y", "z")
    revision = await storage.write({key("a", n): encode_object(pod("a", n)) for n in names})
    await fresh(cache, storage)
    assert cache.oldest_revision == revision  # "x" was evicted: from `before` is not in memory
    watcher = await cache.watch(PREFIX, before)
    assert cache.store_watcher_count == 1
    assert await take(watcher, 3) == [("ADDED", n, revision) for n in names]


class CountingStorage(MemStorage):
    """Signals each time the cache asks the store for its current revision."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def current_revision(self) -> int:
        self.asked.set()
        return await super().current_revision()


async def test_watch_from_a_revision_the_store_has_not_reached_waits_for_it() -> None:
    storage = CountingStorage()
    cache = WatchCache(storage, PREFIX, fresh_timeout=TIMEOUT)
    async with cache:
        assert await cache.wait_synced(TIMEOUT)
        future = storage.revision + 1
        starting = asyncio.create_task(cache.watch(PREFIX, future))
        async with asyncio.timeout(TIMEOUT):
            await storage.asked.wait()
        assert not starting.done()
        await put(storage, "a", "x")  # reaches `future`, which the watch does not include
        watcher = await asyncio.wait_for(starting, TIMEOUT)
        await put(storage, "a", "y")
        assert await take(watcher, 1) == [("ADDED", "y", future + 1)]


async def test_watch_from_beyond_the_store_is_too_large(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache(fresh_timeout=0.05)
    await put(storage, "a", "x")
    with pytest.raises(ResourceVersionTooLargeError) as raised:
        await cache.watch(PREFIX, 10)
    assert raised.value.message == "Timeout: Too large resource version: 10, current: 2"
    assert raised.value.status()["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert (raised.value.code, raised.value.retry_after_seconds) == (504, 1)


async def test_watch_ahead_of_the_cache_starts_at_once_and_skips_what_it_has_seen(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache()
    storage.pause_watches()
    storage.break_watches(None, prefix=PREFIX)  # the cache re-watches, and waits
    await put(storage, "a", "x")
    start = await storage.put("/registry/services/a/s", b"{}")
    assert cache.revision < start
    watcher = await cache.watch(PREFIX, start)  # a client that listed at `start` elsewhere
    assert watcher.position == start
    storage.resume_watches()
    await put(storage, "a", "y")
    assert await take(watcher, 1) == [("ADDED", "y", start + 1)]  # "x" (<= start) skipped


async def test_watch_before_the_first_list(storage: MemStorage, make_cache: CacheFactory) -> None:
    storage.fail_next("list", StorageUnavailable("down"), times=1_000_000)
    cache = await make_cache(synced=False, fresh_timeout=0.05)
    with pytest.raises(TooManyRequestsError):
        await cache.watch(PREFIX, None)
    start = await put(storage, "a", "x")
    watcher = await cache.watch(PREFIX, start - 1)  # served by the store alone
    assert await take(watcher, 1) == [("ADDED", "x", start)]


async def test_watch_outside_the_cache_prefix_is_refused(make_cache: CacheFactory) -> None:
    cache = await make_cache()
    with pytest.raises(ValueError, match="not under"):
        await cache.watch("/registry/services/", None)


# -- what a watcher sees ---------------------------------------------------------------------


async def test_selector_transitions(storage: MemStorage, make_cache: CacheFactory) -> None:
    cache = await make_cache()
    watcher = await cache.watch(PREFIX, None, red)
    await put(storage, "a", "x", "blue")  # 2: not shown
    await put(storage, "a", "x", "red")  # 3: starts matching
    await put(storage, "a", "x", "red")  # 4: still matches
    await put(storage, "a", "x", "blue")  # 5: stops matching
    await storage.remove(key("a", "x"))  # 6: deleted while not matching: not shown
    await put(storage, "a", "y", "red")  # 7
    await storage.remove(key("a", "y"))  # 8
    outputs = await take(watcher, 5)
    assert outputs == [
        ("ADDED", "x", 3),
        ("MODIFIED", "x", 4),
        ("DELETED", "x", 5),
        ("ADDED", "y", 7),
        ("DELETED", "y", 8),
    ]


async def test_deleted_shows_the_last_state_at_the_deletion_revision(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache()
    watcher = await cache.watch(PREFIX, None, red)
    await put(storage, "a", "x", "red")
    stopped = await put(storage, "a", "x", "blue")
    await put(storage, "a", "y", "red")
    deleted = await storage.remove(key("a", "y"))
    outputs = [await next_output(watcher) for _ in range(4)]
    deletions = [o for o in outputs if isinstance(o, WatchEvent) and o.type.value == "DELETED"]
    shown = [(o.object["spec"]["c"], o.object["metadata"]["resourceVersion"]) for o in deletions]
    assert shown == [("red", str(stopped)), ("red", str(deleted))]


async def test_a_failing_predicate_ends_only_its_watcher(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache()

    def broken(obj: JsonObject) -> bool:
        raise KeyError("spec")

    bad = await cache.watch(PREFIX, None, broken)
    good = await cache.watch(PREFIX, None)
    await put(storage, "a", "x")
    assert await take_until_end(bad) == [("CLOSED", CloseReason.ERROR)]
    assert await take(good, 1) == [("ADDED", "x", 2)]


async def test_periodic_bookmarks_carry_the_cache_revision(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache(bookmark_interval=0.02)
    watcher = await cache.watch(PREFIX, None, bookmarks=True)
    assert await take(watcher, 1) == [("BOOKMARK", 1)]
    await put(storage, "a", "x")
    outputs = await take(watcher, 2)
    assert outputs == [("ADDED", "x", 2), ("BOOKMARK", 2)]


async def test_bookmark_on_request(storage: MemStorage, make_cache: CacheFactory) -> None:
    cache = await make_cache()
    plain = await cache.watch(PREFIX, None)
    watcher = await cache.watch(PREFIX, None, bookmarks=True)
    await put(storage, "a", "x")
    await storage.put("/registry/services/a/s", b"{}")
    assert await cache.wait_fresh(2, TIMEOUT)
    assert watcher.bookmark_now() is None  # the ADDED is still queued
    assert await take(watcher, 1) == [("ADDED", "x", 2)]
    storage.notify_progress()
    await fresh(cache, storage)
    assert watcher.bookmark_now() == Bookmark(3)  # progress counts, not just events
    assert plain.bookmark_now() is None  # not asked for


async def test_a_slow_watcher_is_closed_and_holds_at_most_its_queue(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache(watcher_queue_size=3)
    slow = await cache.watch(PREFIX, None)
    for name in "stuvwxyz":
        await put(storage, "a", name)
        await fresh(cache, storage)
        assert slow.pending_count <= 3
    assert cache.watcher_count == 0
    outputs = await take_until_end(slow)
    assert outputs == [*added("stu", 2), ("CLOSED", CloseReason.TOO_SLOW)]


async def test_close_leaves_the_fan_out(storage: MemStorage, make_cache: CacheFactory) -> None:
    cache = await make_cache(capacity=1)
    await put(storage, "a", "x")
    await put(storage, "a", "y")
    await fresh(cache, storage)
    live = await cache.watch(PREFIX, None)
    from_store = await cache.watch(PREFIX, 1)
    assert (cache.watcher_count, cache.store_watcher_count) == (2, 1)
    live.close()
    from_store.close()
    assert cache.watcher_count == 0
    assert [o async for o in live] == [] and [o async for o in from_store] == []


async def test_stop_ends_every_watcher(storage: MemStorage, make_cache: CacheFactory) -> None:
    cache = await make_cache()
    await put(storage, "a", "x")
    await fresh(cache, storage)
    watcher = await cache.watch(PREFIX, None)
    await cache.stop()
    assert await take_until_end(watcher) == [("ADDED", "x", 2), ("CLOSED", CloseReason.STOPPED)]
    assert storage.open_watch_count == 0


# -- store failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [pytest.param(None, id="stream-ends"), pytest.param(StorageUnavailable("x"), id="unavailable")],
)
async def test_a_lost_store_watch_is_resumed_without_loss_or_repeat(
    storage: MemStorage, make_cache: CacheFactory, error: StorageUnavailable | None
) -> None:
    cache = await make_cache()
    watcher = await cache.watch(PREFIX, None)
    await put(storage, "a", "x")
    storage.break_watches(error)
    storage.fail_next("watch", StorageUnavailable("still down"), times=2)
    await put(storage, "a", "y")
    await put(storage, "a", "z")
    assert await take(watcher, 3) == added("xyz", 2)
    await put(storage, "a", "w")
    assert await take(watcher, 1) == [("ADDED", "w", 5)]
    assert storage.watch_calls == 4  # the first, two failures, the one that worked


async def test_compaction_during_an_outage_relists_and_ends_unservable_watchers(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    cache = await make_cache()
    await put(storage, "a", "x")
    await fresh(cache, storage)
    behind = await cache.watch(PREFIX, None)
    storage.pause_watches()
    storage.break_watches(StorageUnavailable("partition"))
    await put(storage, "a", "y")
    await storage.remove(key("a", "x"))
    listed = await put(storage, "a", "z")
    await storage.compact(listed)
    ahead = await cache.watch(PREFIX, listed)  # valid: the store has reached it
    storage.resume_watches()
    assert await take_until_end(behind) == [("ADDED", "x", 2), ("CLOSED", CloseReason.RESYNC)]
    await put(storage, "a", "v")
    assert await take(ahead, 1) == [("ADDED", "v", listed + 1)]
    assert cache.oldest_revision == listed
    assert [o["metadata"]["name"] for o in cache.snapshot(PREFIX)[0]] == ["v", "y", "z"]


# -- fan-out ---------------------------------------------------------------------------------


async def test_a_thousand_watchers_each_see_their_own_stream(
    storage: MemStorage, make_cache: CacheFactory
) -> None:
    log = WriteLog(storage)
    await log.write({key("a", "x"): pod("a", "x"), key("b", "x"): pod("b", "x", "blue")})
    cache = await make_cache()
    kinds: list[tuple[str, Predicate | None]] = [
        (PREFIX, None),
        (PREFIX, red),
        (PREFIX + "a/", None),
        (PREFIX + "b/", red),
    ]
    watchers = [
        await cache.watch(p, None, f, bookmarks=i % 2 == 0) for i, (p, f) in enumerate(kinds * 250)
    ]
    assert cache.watcher_count == 1000
    at = cache.revision
    for n in range(5):
        for namespace, name, color in [("a", "y", "red"), ("b", "x", "red"), ("a", "x", "blue")]:
            await log.write({key(namespace, name): pod(namespace, name, color, n)})
    await log.write({key("b", "x"): None, key("a", "y"): None})
    await fresh(cache, storage)
    expected = [reference(log.entries, None, at, p, f) for p, f in kinds]
    outputs = [[await next_output(w) for _ in expected[i % 4]] for i, w in enumerate(watchers)]
    for i in range(4):
        group = outputs[i::4]
        assert all([observed(o) for o in seen] == expected[i] for seen in group), kinds[i]
        for j in range(len(expected[i])):  # one shared encoding per output
            lines = {id(o.json_line()) for seen in group if isinstance(o := seen[j], WatchEvent)}
            assert len(lines) == 1
    assert all(w.bookmark_now() == Bookmark(storage.revision) for w in watchers[::2])  # all taken


# -- the property: what a watcher sees equals a naive reference computed from the writes ------


Expected = tuple[object, ...]


@dataclass
class WriteLog:
    """Writes objects through the storage and remembers (revision, {key: object or None})."""

    storage: MemStorage
    entries: list[tuple[int, dict[str, JsonObject | None]]] = field(default_factory=list)

    async def write(self, changes: Mapping[str, JsonObject | None]) -> int:
        before = self.storage.revision
        encoded = {k: None if v is None else encode_object(v) for k, v in changes.items()}
        revision = await self.storage.write(encoded)
        if revision != before:
            self.entries.append((revision, dict(changes)))
        return revision


def _matches(predicate: Predicate | None, obj: JsonObject | None) -> bool:
    return obj is not None and (predicate is None or predicate(obj))


Log = Sequence[tuple[int, dict[str, JsonObject | None]]]


def changes_after(
    log: Log, after: int, key_prefix: str, predicate: Predicate | None
) -> list[Expected]:
    """(type, key, revision, object) for every change after `after`, upstream's transitions
    spelled out once more, independently of watchevents."""
    state: dict[str, JsonObject] = {}
    out: list[Expected] = []
    for revision, changes in log:
        for changed, new in changes.items():
            old = state.get(changed)
            if revision > after and changed.startswith(key_prefix):
                if _matches(predicate, new):
                    kind = "MODIFIED" if _matches(predicate, old) else "ADDED"
                    out.append((kind, changed, revision, new))
                elif _matches(predicate, old):
                    out.append(("DELETED", changed, revision, old))
            if new is None:
                state.pop(changed, None)
            else:
                state[changed] = new
    return out


def objects_at(log: Log, at: int) -> dict[str, tuple[JsonObject, int]]:
    """key -> (object, mod revision) after every write up to `at`."""
    state: dict[str, tuple[JsonObject, int]] = {}
    for revision, changes in log:
        if revision > at:
            break
        for changed, new in changes.items():
            if new is None:
                state.pop(changed, None)
            else:
                state[changed] = (new, revision)
    return state


def reference(
    log: Log, start: int | None, at: int, key_prefix: str, predicate: Predicate | None
) -> list[Expected]:
    """What a watch from `start` should yield; without one, ADDED (in key order) for what
    matched at `at`, the revision it started at, then every change after `at`."""
    if start is not None:
        return changes_after(log, start, key_prefix, predicate)
    current = sorted(objects_at(log, at).items())
    initial: list[Expected] = [
        ("ADDED", k, revision, obj)
        for k, (obj, revision) in current
        if k.startswith(key_prefix) and _matches(predicate, obj)
    ]
    return initial + changes_after(log, at, key_prefix, predicate)


def observed(output: WatchOutput) -> Expected:
    """An output in the reference's terms; its resourceVersion must be its revision."""
    if not isinstance(output, WatchEvent):
        return summary(output)
    obj = json.loads(json.dumps(output.object))
    assert obj["metadata"].pop("resourceVersion") == str(output.revision)
    return (output.type.value, output.key, output.revision, obj)


KEYS = [key(namespace, f"p{i}") for namespace in "ab" for i in range(3)]
WRITES = st.dictionaries(
    st.sampled_from(KEYS), st.sampled_from(["red", "blue", None]), min_size=1, max_size=3
)
STEPS = st.lists(
    st.one_of(
        WRITES, st.sampled_from(["lose-stream", "end-stream", "progress", "settle", "other"])
    ),
    max_size=8,
)


@dataclass
class Scenario:
    """One generated run: writes before the cache, steps before and after the watch."""

    before_cache: list[dict[str, str | None]]
    before_watch: list[dict[str, str | None] | str]
    after_watch: list[dict[str, str | None] | str]
    capacity: int
    compact_at: int  # 0: none; else compact at min(this, revision) before the watch
    start: int | None
    namespace: str
    selective: bool


def materialize(colors: dict[str, str | None], n: int) -> dict[str, JsonObject | None]:
    """key -> color (None: delete) as the objects to write; `n` makes every write differ."""
    objects: dict[str, JsonObject | None] = {}
    for k, color in colors.items():
        namespace, name = k.split("/")[-2:]
        objects[k] = None if color is None else pod(namespace, name, color, n)
    return objects


async def run_step(step: dict[str, str | None] | str, log: WriteLog, cache: WatchCache) -> None:
    storage = log.storage
    if isinstance(step, dict):
        await log.write(materialize(step, storage.revision))
    elif step == "lose-stream":
        storage.break_watches(StorageUnavailable("test"), prefix=PREFIX)  # only the cache's
    elif step == "end-stream":
        storage.break_watches(None, prefix=PREFIX)
    elif step == "progress":
        storage.notify_progress()
    elif step == "settle":
        await fresh(cache, storage)
    else:
        await storage.put("/registry/services/a/s", b"{}")  # the store moves, the cache hears not


def path_of(start: int | None, oldest: int, cached: int) -> str:
    """How the cache serves a watch from `start` (for hypothesis' statistics)."""
    if start is None:
        return "current state"
    if start > cached:
        return "ahead of the cache"
    return "from memory" if start >= oldest else "from the store"


async def watch_outputs(scenario: Scenario) -> None:
    storage = MemStorage()
    log = WriteLog(storage)
    for colors in scenario.before_cache:
        await log.write(materialize(colors, storage.revision))
    cache = WatchCache(
        storage, PREFIX, capacity=scenario.capacity, backoff_initial=0.001, backoff_max=0.01
    )
    async with cache:
        assert await cache.wait_synced(TIMEOUT)
        for step in scenario.before_watch:
            await run_step(step, log, cache)
        compacted = 0
        if scenario.compact_at:
            await fresh(cache, storage)
            compacted = min(scenario.compact_at, storage.revision)
            await storage.compact(compacted)
        start = None if scenario.start is None else min(scenario.start, storage.revision)
        key_prefix = f"{PREFIX}{scenario.namespace}/"
        predicate = red if scenario.selective else None
        oldest, cached = cache.oldest_revision, cache.revision
        watcher = await cache.watch(key_prefix, start, predicate)
        at = watcher.position
        event(path_of(start, oldest, cached))
        for step in scenario.after_watch:
            await run_step(step, log, cache)
        sentinel = key_prefix + "zz"
        await log.write({sentinel: pod(scenario.namespace, "zz")})
        seen: list[WatchOutput] = []
        while not seen or (isinstance(seen[-1], WatchEvent) and seen[-1].key != sentinel):
            seen.append(await next_output(watcher, seen))
    if isinstance(seen[0], WatchExpired):
        assert start is not None and start < oldest and start + 1 < compacted, (start, oldest)
        assert seen == [WatchExpired(start, compacted)]
        event("expired")
        return
    assert [observed(o) for o in seen] == reference(log.entries, start, at, key_prefix, predicate)


@given(
    st.builds(
        Scenario,
        before_cache=st.lists(WRITES, max_size=5),
        before_watch=STEPS,
        after_watch=STEPS,
        capacity=st.integers(1, 6),
        compact_at=st.one_of(st.just(0), st.integers(1, 20)),  # 0: no compaction
        start=st.integers(0, 25).map(lambda n: n or None),  # 0: no resourceVersion
        namespace=st.sampled_from("ab"),
        selective=st.booleans(),
    )
)
def test_a_watch_sees_what_a_naive_reference_computes(scenario: Scenario) -> None:
    asyncio.run(watch_outputs(scenario))
