"""`EtcdStorage` (the API server's store client) against real 3-member clusters of both backends.

The shared `store` cluster carries the functional checks — conditional writes, paging, old
revisions, compaction, watch history and progress, contention — each test on its own keys
under `key_prefix`. Writes whose answer is lost go through `ResponseDroppingProxy`, which lets
the request reach a member and cuts the connection once the member has answered: the client
must find the write applied rather than repeat it (or report KeyExists for its own create).
The failover test starts its own cluster, kills the member the client is connected to in the
middle of a write stream, and checks that reads, writes and an open watch carry on with every
acknowledged write delivered exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing

import pytest
from support.grpc_api import EtcdStubs
from support.store_cluster import NewCluster, StoreCluster
from support.wait import WaitAborted, wait_for

from kubelite.apiserver.etcd import EtcdStorage
from kubelite.apiserver.storage import (
    Compacted,
    EventType,
    FutureRevision,
    KeyExists,
    RevisionMismatch,
    StorageUnavailable,
    StoredItem,
    StoreEvent,
    ValueTooLarge,
    WatchBatch,
)
from kubelite.pb import rpc_pb2

BACKENDS = [
    pytest.param("kubelite", id="kubelite"),
    pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
]
PROGRESS_INTERVAL_S = 0.2
WAIT_S = 30.0
CONTENDERS = 8
ROUNDS = 5
WRITES_PER_PHASE = 15
MAX_WRITES = 2000


@pytest.fixture
async def storage(store: StoreCluster) -> AsyncIterator[EtcdStorage]:
    async with EtcdStorage(
        store.client_urls, retry_deadline=WAIT_S, progress_interval=PROGRESS_INTERVAL_S
    ) as connected:
        yield connected


def under(key_prefix: bytes, name: str) -> str:
    return key_prefix.decode() + name


async def until(condition: Callable[[], object], describe: Callable[[], str]) -> None:
    """`wait_for` off the event loop, so the client keeps running while the test waits."""
    await asyncio.to_thread(wait_for, condition, WAIT_S, describe)


async def next_batch(batches: AsyncIterator[WatchBatch], describe: str) -> WatchBatch:
    try:
        return await asyncio.wait_for(anext(batches), WAIT_S)
    except TimeoutError:
        raise AssertionError(f"no watch batch within {WAIT_S}s: {describe}") from None


async def events_until(batches: AsyncIterator[WatchBatch], revision: int) -> list[StoreEvent]:
    """Events of the watch until a batch vouches for `revision`."""
    events: list[StoreEvent] = []
    reached = 0
    while reached < revision:
        batch = await next_batch(batches, f"up to revision {revision}; so far {events}")
        events.extend(batch.events)
        reached = batch.revision
    return events


async def compact(store: StoreCluster, revision: int) -> None:
    def run() -> None:
        with EtcdStubs.connect(store.endpoint(0)) as stubs:
            stubs.kv.Compact(rpc_pb2.CompactionRequest(revision=revision, physical=True))

    await asyncio.to_thread(run)


# --- conditional writes and reads -------------------------------------------------------------


async def test_create_then_get_and_a_second_create_is_key_exists(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    key = under(key_prefix, "a")
    revision = await storage.create(key, b"v1")
    assert await storage.get(key) == StoredItem(key, b"v1", revision, revision)
    with pytest.raises(KeyExists) as exists:
        await storage.create(key, b"v2")
    assert exists.value.key == key
    assert await storage.get(key) == StoredItem(key, b"v1", revision, revision)
    assert await storage.get(under(key_prefix, "missing")) is None
    assert await storage.current_revision() >= revision


async def test_update_needs_the_current_mod_revision(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    key = under(key_prefix, "a")
    created = await storage.create(key, b"v1")
    updated = await storage.update(key, b"v2", created)
    assert updated > created
    with pytest.raises(RevisionMismatch) as stale:
        await storage.update(key, b"v3", created)
    assert stale.value.current == StoredItem(key, b"v2", created, updated)
    with pytest.raises(RevisionMismatch) as missing:
        await storage.update(under(key_prefix, "missing"), b"v1", updated)
    assert missing.value.current is None
    assert await storage.get(key) == StoredItem(key, b"v2", created, updated)


async def test_delete_needs_the_current_mod_revision(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    key = under(key_prefix, "a")
    created = await storage.create(key, b"v1")
    updated = await storage.update(key, b"v2", created)
    with pytest.raises(RevisionMismatch) as stale:
        await storage.delete(key, created)
    assert stale.value.current == StoredItem(key, b"v2", created, updated)
    deleted = await storage.delete(key, updated)
    assert deleted > updated
    assert await storage.get(key) is None
    with pytest.raises(RevisionMismatch) as gone:
        await storage.delete(key, updated)
    assert gone.value.current is None


@pytest.mark.parametrize(
    "size",
    [pytest.param(1_600_000, id="over-etcd-limit"), pytest.param(3 << 20, id="over-grpc-limit")],
)
async def test_values_over_the_request_limit_are_value_too_large(
    storage: EtcdStorage, key_prefix: bytes, size: int
) -> None:
    key = under(key_prefix, "big")
    with pytest.raises(ValueTooLarge):
        await storage.create(key, b"x" * size)
    assert await storage.get(key) is None


async def test_concurrent_conditional_updates_have_exactly_one_winner_per_round(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    key = under(key_prefix, "contended")
    created = revision = await storage.create(key, b"round 0")

    async def contend(round_no: int, task: int, expected: int) -> tuple[bytes, int | None]:
        value = f"round {round_no} task {task}".encode()
        try:
            return value, await storage.update(key, value, expected)
        except RevisionMismatch as lost:
            assert lost.current is not None
            return value, None

    for round_no in range(1, ROUNDS + 1):
        results = await asyncio.gather(
            *(contend(round_no, task, revision) for task in range(CONTENDERS))
        )
        winners = [(value, won) for value, won in results if won is not None]
        assert len(winners) == 1, f"round {round_no}: {results}"
        value, revision = winners[0]
        assert await storage.get(key) == StoredItem(key, value, created, revision)


# --- lists ------------------------------------------------------------------------------------


async def test_list_pages_through_a_prefix_at_one_revision(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "list/")
    names = ["a", "b", "c", "d", "e"]
    for name in reversed(names):
        await storage.create(prefix + name, name.encode())
    await storage.create(under(key_prefix, "list0"), b"just past the prefix")
    await storage.create(under(key_prefix, "lis"), b"just before it")

    pages = [await storage.list(prefix, limit=2)]
    while pages[-1].more:
        after = pages[-1].items[-1].key + "\0"
        pages.append(
            await storage.list(prefix, start_key=after, limit=2, revision=pages[0].revision)
        )
    shapes = [([i.key for i in p.items], p.more, p.remaining) for p in pages]
    assert shapes == [
        ([prefix + "a", prefix + "b"], True, 3),
        ([prefix + "c", prefix + "d"], True, 1),
        ([prefix + "e"], False, 0),
    ]
    assert {page.revision for page in pages} == {pages[0].revision}
    whole = await storage.list(prefix)
    assert [(i.key, i.value) for i in whole.items] == [(prefix + n, n.encode()) for n in names]
    assert (whole.more, whole.remaining) == (False, 0)
    for start_key in (prefix + "zz", under(key_prefix, "list0zz")):  # in, and past, the range
        past = await storage.list(prefix, start_key=start_key)
        assert (past.items, past.more, past.remaining) == ((), False, 0), start_key


async def test_list_at_an_older_revision_shows_the_state_then(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "old/")
    first = await storage.create(prefix + "a", b"v1")
    second = await storage.update(prefix + "a", b"v2", first)
    await storage.create(prefix + "b", b"v1")
    then = await storage.list(prefix, revision=first)
    assert then.items == (StoredItem(prefix + "a", b"v1", first, first),)
    assert then.revision == first
    now = await storage.list(prefix)
    assert [(i.key, i.value, i.mod_revision) for i in now.items][:1] == [
        (prefix + "a", b"v2", second)
    ]
    assert len(now.items) == 2


async def test_list_of_a_compacted_or_future_revision_is_refused(
    storage: EtcdStorage, store: StoreCluster, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "compacted/")
    first = await storage.create(prefix + "a", b"v1")
    second = await storage.update(prefix + "a", b"v2", first)
    await compact(store, second)
    with pytest.raises(Compacted) as compacted:
        await storage.list(prefix, revision=first)
    assert compacted.value.requested == first
    assert (await storage.list(prefix, revision=second)).items[0].value == b"v2"
    with pytest.raises(FutureRevision):
        await storage.list(prefix, revision=await storage.current_revision() + 1000)


# --- watch ------------------------------------------------------------------------------------


async def test_watch_from_a_past_revision_replays_every_change_in_order(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "w/")
    a1 = await storage.create(prefix + "a", b"a1")
    b1 = await storage.create(prefix + "b", b"b1")
    await storage.create(under(key_prefix, "w0"), b"outside the prefix")
    a2 = await storage.update(prefix + "a", b"a2", a1)
    b_gone = await storage.delete(prefix + "b", b1)
    c1 = await storage.create(prefix + "c", b"c1")

    async with aclosing(storage.watch(prefix, a1)) as batches:
        events = await events_until(batches, c1)
    assert events == [
        StoreEvent(EventType.PUT, prefix + "a", b"a1", None, a1, a1),
        StoreEvent(EventType.PUT, prefix + "b", b"b1", None, b1, b1),
        StoreEvent(EventType.PUT, prefix + "a", b"a2", b"a1", a2, a1),
        StoreEvent(EventType.DELETE, prefix + "b", b"", b"b1", b_gone, b1),
        StoreEvent(EventType.PUT, prefix + "c", b"c1", None, c1, c1),
    ]


async def test_watch_delivers_live_puts_and_deletes(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "live/")
    start = await storage.current_revision() + 1
    async with aclosing(storage.watch(prefix, start)) as batches:
        await next_batch(batches, "a first progress batch: the watch is established")
        created = await storage.create(prefix + "k", b"v1")
        deleted = await storage.delete(prefix + "k", created)
        events = await events_until(batches, deleted)
    assert events == [
        StoreEvent(EventType.PUT, prefix + "k", b"v1", None, created, created),
        StoreEvent(EventType.DELETE, prefix + "k", b"", b"v1", deleted, created),
    ]


async def test_idle_watch_reports_progress_past_writes_elsewhere(
    storage: EtcdStorage, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "quiet/")
    async with aclosing(storage.watch(prefix, await storage.current_revision() + 1)) as batches:
        for round_no in range(2):
            elsewhere = await storage.create(under(key_prefix, f"elsewhere{round_no}"), b"x")
            seen: list[WatchBatch] = []
            while not seen or seen[-1].revision < elsewhere:
                seen.append(await next_batch(batches, f"progress past {elsewhere}; saw {seen}"))
            assert all(batch.events == () for batch in seen), seen
            revisions = [batch.revision for batch in seen]
            assert revisions == sorted(set(revisions)), seen


async def test_watch_from_a_compacted_revision_raises_compacted(
    storage: EtcdStorage, store: StoreCluster, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "cw/")
    first = await storage.create(prefix + "a", b"v1")
    second = await storage.update(prefix + "a", b"v2", first)
    await compact(store, second)
    async with aclosing(storage.watch(prefix, first)) as batches:
        with pytest.raises(Compacted) as compacted:
            await next_batch(batches, "the compaction error")
    assert compacted.value.requested == first
    assert compacted.value.compact_revision >= second


def watch_streams_open(endpoint: str) -> int:
    """etcd's count of open watch streams on one member (its Prometheus metrics)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{endpoint}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(r"^etcd_debugging_mvcc_watch_stream_total (\S+)$", text, re.MULTILINE)
    assert found is not None, "etcd exports etcd_debugging_mvcc_watch_stream_total"
    return int(float(found.group(1)))


async def test_closing_the_iterator_or_cancelling_its_task_ends_the_watch(
    storage: EtcdStorage, store: StoreCluster, key_prefix: bytes
) -> None:
    prefix = under(key_prefix, "closed/")
    endpoint = storage.preferred_endpoint
    on_etcd = store.backend == "etcd"
    before = await asyncio.to_thread(watch_streams_open, endpoint) if on_etcd else 0

    def streams_back_to(count: int) -> Callable[[], bool]:
        return lambda: not on_etcd or watch_streams_open(endpoint) == count

    batches = storage.watch(prefix, await storage.current_revision() + 1)
    await next_batch(batches, "a progress batch")
    await until(streams_back_to(before + 1), lambda: "etcd counts the open watch stream")
    await batches.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(batches)
    await until(streams_back_to(before), lambda: "the closed watch's stream gone on etcd")

    started = asyncio.Event()

    async def consume() -> None:
        async for _ in storage.watch(prefix, await storage.current_revision() + 1):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), WAIT_S)
    await until(streams_back_to(before + 1), lambda: "etcd counts the task's watch stream")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(streams_back_to(before), lambda: "the cancelled watch's stream gone on etcd")


async def test_no_reachable_endpoint_is_storage_unavailable_after_the_deadline() -> None:
    # Nothing listens on port 1 of loopback: every attempt is refused at once.
    async with EtcdStorage(["127.0.0.1:1", "http://127.0.0.1:1/"], retry_deadline=1.0) as dead:
        with pytest.raises(StorageUnavailable):
            await dead.get("/registry/pods/default/web")
        with pytest.raises(StorageUnavailable):
            await dead.update("/registry/pods/default/web", b"{}", 5)
        async with aclosing(dead.watch("/registry/pods/", 1)) as batches:
            with pytest.raises(StorageUnavailable):
                await next_batch(batches, "the watch giving up")


# --- lost answers -----------------------------------------------------------------------------

HTTP2_FRAME_HEADER = 9
HTTP2_HEADERS, HTTP2_END_STREAM = 0x1, 0x1


class ResponseDroppingProxy:
    """A TCP proxy to one store member that, once armed, lets the next request through but
    swallows its response and then cuts the connection: a write whose outcome the client
    cannot know. It follows the member's HTTP/2 frames to see the response complete (a
    HEADERS frame that ends a stream: the gRPC trailers), so the member surely answered."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._armed = False
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._transports: list[asyncio.WriteTransport] = []

    async def start(self) -> str:
        """Listen on port 0 of loopback; the "host:port" to give the client."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    def arm(self) -> None:
        self._armed = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for transport in self._transports:
            transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._transports += [writer.transport, up_writer.transport]
        requests = asyncio.create_task(self._forward(reader, up_writer))
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await self._answer(up_reader, writer)
        requests.cancel()
        writer.transport.abort()
        up_writer.transport.abort()

    @staticmethod
    async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # the client went away: so does the member's side

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            header = await reader.readexactly(HTTP2_FRAME_HEADER)
            payload = await reader.readexactly(int.from_bytes(header[:3], "big"))
            stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            if not (self._armed and stream_id):
                writer.write(header + payload)
                await writer.drain()
            elif header[3] == HTTP2_HEADERS and header[4] & HTTP2_END_STREAM:
                self._armed = False
                self.cuts += 1
                return


@pytest.mark.parametrize("operation", ["create", "update", "delete"])
async def test_a_write_whose_answer_was_lost_is_found_applied_and_not_repeated(
    storage: EtcdStorage,
    store: StoreCluster,
    key_prefix: bytes,
    operation: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = under(key_prefix, "k")
    created = await storage.create(key, b"v1") if operation != "create" else 0
    before = await storage.current_revision()
    proxy = ResponseDroppingProxy(store.endpoint(0))
    endpoints = [await proxy.start(), *store.client_endpoints[1:]]
    try:
        async with EtcdStorage(endpoints, retry_deadline=WAIT_S) as client:
            assert await client.current_revision() >= before  # connected through the proxy
            proxy.arm()
            with caplog.at_level(logging.INFO, logger="kubelite.apiserver.etcd"):
                if operation == "create":
                    revision = await client.create(key, b"v2")
                elif operation == "update":
                    revision = await client.update(key, b"v2", created)
                else:
                    revision = await client.delete(key, created)
            assert proxy.cuts == 1
            assert client.preferred_endpoint != endpoints[0]
    finally:
        await proxy.close()
    assert "the earlier, ambiguous try was applied" in caplog.text
    async with aclosing(storage.watch(key_prefix.decode(), before + 1)) as batches:
        events = await events_until(batches, revision)
    if operation == "delete":
        assert [(e.type, e.key) for e in events] == [(EventType.DELETE, key)]
        assert events[0].revision <= revision
        assert await storage.get(key) is None
    else:
        assert [(e.type, e.key, e.value, e.revision) for e in events] == [
            (EventType.PUT, key, b"v2", revision)
        ]
        assert (await storage.get(key)) == StoredItem(key, b"v2", created or revision, revision)


# --- failover ---------------------------------------------------------------------------------


async def keep_updating(
    storage: EtcdStorage,
    key: str,
    revision: int,
    acks: list[tuple[int, bytes]],
    stop: asyncio.Event,
) -> None:
    """Update `key` in sequence, recording every acknowledged (revision, value)."""
    for number in range(1, MAX_WRITES + 1):
        if stop.is_set():
            return
        value = f"write {number}".encode()
        revision = await storage.update(key, value, revision)
        acks.append((revision, value))


async def keep_watching(
    batches: AsyncGenerator[WatchBatch, None], events: list[StoreEvent]
) -> None:
    async for batch in batches:
        events.extend(batch.events)


def still_running(*tasks: asyncio.Task[None]) -> bool:
    """False while every task runs (for ``still_running(...) or condition``); a task that
    ended makes waiting pointless."""
    for task in tasks:
        if task.done():
            raise WaitAborted(f"{task.get_name()} ended: {task.exception()!r}")
    return False


@pytest.mark.parametrize("disturbance", ["kill", "pause"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_losing_the_connected_member_keeps_reads_writes_and_the_watch_going(
    new_cluster: NewCluster, key_prefix: bytes, backend: str, disturbance: str
) -> None:
    """kill -9 breaks the client's connections at once; SIGSTOP leaves them open and silent,
    so only the per-request timeout and the watch's unanswered progress request tell."""
    cluster = await asyncio.to_thread(new_cluster, backend)
    leader = await asyncio.to_thread(cluster.leader)
    # The leader first: the client talks to it, so losing it also forces an election.
    order = [leader, *(i for i in range(len(cluster.members)) if i != leader)]
    endpoints = [cluster.endpoint(i) for i in order]
    key = under(key_prefix, "k")
    try:
        async with EtcdStorage(
            endpoints, request_timeout=2.0, retry_deadline=60.0, progress_interval=0.2
        ) as storage:
            await write_and_watch_through_the_loss(
                storage, key, lambda: disturb(cluster, leader, disturbance)
            )
            assert storage.preferred_endpoint != endpoints[0]
    finally:
        if disturbance == "pause":
            cluster.resume(leader)


async def disturb(cluster: StoreCluster, index: int, disturbance: str) -> None:
    await asyncio.to_thread(cluster.kill if disturbance == "kill" else cluster.pause, index)


async def write_and_watch_through_the_loss(
    storage: EtcdStorage, key: str, lose_member: Callable[[], Awaitable[None]]
) -> None:
    """Update `key` in sequence and watch it while `lose_member()` takes the client's member
    away: every acknowledged write arrives exactly once, in order, with its previous value."""
    prefix = key.rpartition("/")[0] + "/"
    created = await storage.create(key, b"write 0")
    acks: list[tuple[int, bytes]] = [(created, b"write 0")]
    events: list[StoreEvent] = []
    stop = asyncio.Event()
    batches = storage.watch(prefix, created)
    writer = asyncio.create_task(keep_updating(storage, key, created, acks, stop), name="writer")
    watcher = asyncio.create_task(keep_watching(batches, events), name="watcher")
    try:
        await until(
            lambda: still_running(writer, watcher) or len(events) > WRITES_PER_PHASE,
            lambda: f"events before the loss: {len(acks)} acks, {len(events)} events",
        )
        endpoint_before = storage.preferred_endpoint
        await lose_member()
        acks_at_loss = len(acks)
        await until(
            lambda: still_running(writer, watcher) or len(acks) > acks_at_loss + WRITES_PER_PHASE,
            lambda: f"writes after the loss: {len(acks)} acks ({acks_at_loss} at the loss)",
        )
        stop.set()
        await asyncio.wait_for(writer, WAIT_S)
        await until(
            lambda: still_running(watcher) or (events and events[-1].revision >= acks[-1][0]),
            lambda: f"events up to {acks[-1][0]}; last {events[-1:]}",
        )
    finally:
        stop.set()
        watcher.cancel()
        await asyncio.gather(writer, watcher, return_exceptions=True)
        await batches.aclose()
    assert storage.preferred_endpoint != endpoint_before
    assert [(event.revision, event.value) for event in events] == acks
    assert [event.prev_value for event in events] == [None, *(v for _, v in acks[:-1])]
    assert await storage.get(key) == StoredItem(key, acks[-1][1], created, acks[-1][0])
    listed = await storage.list(prefix)
    assert [(i.key, i.mod_revision) for i in listed.items] == [(key, acks[-1][0])]
