"""The client runtime against real processes: informers, the example controller, elections.

Two `kubelite apiserver` processes over the module's store cluster (the `apiservers` fixture,
both backends). A restarted server binds new ports (port 0; the server does not set
SO_REUSEADDR, so its old port is often still in TIME_WAIT), so a client built before a restart
can only fail over to the *other* server: the tests restart the one a client is connected to
and check the switch. Each test works in its own namespace.

Waiting: `eventually` runs `support.wait.wait_for` in a thread while its condition is a
coroutine run on the test's event loop (so informers keep running, and the condition reads
their caches on the loop that owns them); failures print the last state seen.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.apiservers import ApiServers
from support.grpc_api import EtcdStubs
from support.leader_contender import LEASE_DURATION_S, RETRY_PERIOD_S
from support.procs import ManagedProcess, ProcessRegistry, child_env
from support.store_cluster import StoreCluster
from support.wait import wait_for

from kubelite.api.errors import ApiError
from kubelite.client.api import ApiClient
from kubelite.client.cache import resource_version_of
from kubelite.client.config import Endpoint
from kubelite.client.example import ConfigMapMirror, is_source, mirror_name, mirrored_source
from kubelite.client.informer import Informer
from kubelite.client.interface import CONFIGMAPS, LEASES, NAMESPACES, WatchEvent
from kubelite.pb import rpc_pb2

REPO = Path(__file__).resolve().parents[2]
CONTENDER = REPO / "tests" / "support" / "leader_contender.py"

# --- helpers ----------------------------------------------------------------------------------


def endpoints_file(servers: ApiServers, index: int) -> Path:
    return servers._endpoints_file(index)


@pytest.fixture
def endpoints(apiservers: ApiServers) -> list[Endpoint]:
    return [Endpoint.from_endpoints_file(endpoints_file(apiservers, i)) for i in range(2)]


@dataclass
class Probe:
    """The last state a condition saw, for the failure message."""

    last: object = None


async def eventually(
    condition: Callable[[Probe], Awaitable[bool]], timeout: float, what: str
) -> None:
    loop = asyncio.get_running_loop()
    probe = Probe()

    def check() -> bool:
        return asyncio.run_coroutine_threadsafe(condition(probe), loop).result(timeout=10)

    await asyncio.to_thread(wait_for, check, timeout, lambda: f"{what}; last: {probe.last}", 0.1)


async def new_namespace(client: ApiClient) -> str:
    name = f"rt-{secrets.token_hex(3)}"
    await client.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": name}})  # fmt: skip
    return name


def versions(items: Any) -> dict[str, str]:
    return {item["metadata"]["name"]: resource_version_of(item) for item in items}


async def cache_matches_store(client: ApiClient, informer: Informer, namespace: str) -> None:
    async def same(probe: Probe) -> bool:
        fresh = versions((await client.list(CONFIGMAPS, namespace))["items"])
        cached = versions(informer.indexer.list())
        probe.last = {"store": fresh, "cache": cached}
        return fresh == cached

    await eventually(same, 30, f"informer cache of {namespace} == a fresh list")


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> Any:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}  # fmt: skip


@dataclass
class Writer:
    """Bounded random creates/updates/deletes on a pool of names: until `stop` and `min_done`
    successes, or `max_ops` attempts."""

    client: ApiClient
    namespace: str
    names: int = 12
    min_done: int = 60  # keeps writing after `stop` until this many writes succeeded
    max_ops: int = 3000
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    async def run(self, seed: int = 1) -> None:
        chooser = random.Random(seed)
        for op in range(self.max_ops):
            if self.stop.is_set() and sum(self.done.values()) >= self.min_done:
                return
            name = f"cm-{chooser.randrange(self.names)}"
            verb = chooser.choice(["create", "update", "update", "delete"])
            try:
                await self.write(verb, name, op)
                self.done[verb] = self.done.get(verb, 0) + 1
            except ApiError as error:  # NotFound, Conflict, AlreadyExists, Unavailable
                kind = f"{verb}:{type(error).__name__}"
                self.failed[kind] = self.failed.get(kind, 0) + 1
            await asyncio.sleep(0.01)  # pacing, so the writes span the restarts

    async def write(self, verb: str, name: str, op: int) -> None:
        if verb == "create":
            await self.client.create(CONFIGMAPS, self.namespace, configmap(name, {"op": str(op)}))
        elif verb == "update":
            current = await self.client.get(CONFIGMAPS, self.namespace, name)
            await self.client.update(
                CONFIGMAPS, self.namespace, {**current, "data": {"op": str(op)}}
            )
        else:
            await self.client.delete(CONFIGMAPS, self.namespace, name)


async def restart(servers: ApiServers, index: int) -> None:
    await asyncio.to_thread(servers.restart, index)


# --- informers --------------------------------------------------------------------------------


async def test_informer_mirrors_configmaps_through_restart_and_switch(
    apiservers: ApiServers, endpoints: list[Endpoint]
) -> None:
    async with ApiClient(endpoints, call_timeout_s=20.0, bad_backoff_s=1.0) as client:
        namespace = await new_namespace(client)
        informer = Informer(client, CONFIGMAPS, namespace)
        async with informer:
            assert await informer.wait_for_sync(timeout=30)
            writer = Writer(client, namespace)
            writing = asyncio.create_task(writer.run())
            await restart(apiservers, 0)  # the server it watches on: the informer switches to 1
            writer.stop.set()
            await asyncio.wait_for(writing, 30)
            print(f"writer: done {writer.done}, failed {writer.failed}")
            assert sum(writer.done.values()) >= writer.min_done, (writer.done, writer.failed)
            await cache_matches_store(client, informer, namespace)


async def compact(store: StoreCluster, revision: int) -> None:
    def run() -> None:
        with EtcdStubs.connect(store.client_endpoints[0]) as stubs:
            stubs.kv.Compact(rpc_pb2.CompactionRequest(revision=revision, physical=True))

    await asyncio.to_thread(run)


async def delete_behind_the_api(store: StoreCluster, namespace: str, names: list[str]) -> int:
    """Delete objects straight in the store (no API server sees it live); the revision after."""

    def run() -> int:
        with EtcdStubs.connect(store.client_endpoints[0]) as stubs:
            revision = 0
            for name in names:
                key = f"/registry/configmaps/{namespace}/{name}".encode()
                answer = stubs.kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=key))
                assert answer.deleted == 1, f"{key!r} not in the store"
                revision = int(answer.header.revision)
            return revision

    return await asyncio.to_thread(run)


class Readdressable:
    """A `Client` forwarding to `target`; `switch` re-points it and ends open watches cleanly.

    Models a client whose API server moved (a restarted server binds a new port here): the
    informer sees its stream end and watches again, from its last resourceVersion, elsewhere.
    """

    def __init__(self, target: ApiClient) -> None:
        self.target = target
        self._moved = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def switch(self, target: ApiClient) -> None:
        self.target = target
        self._moved.set()
        self._moved = asyncio.Event()

    async def watch(self, *args: Any, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        moved = self._moved
        stream = self.target.watch(*args, **kwargs)
        pending: set[asyncio.Future[Any]] = set()
        try:
            while True:
                next_event = asyncio.ensure_future(anext(stream))
                pending = {next_event, asyncio.ensure_future(moved.wait())}
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if not next_event.done():
                    return  # switched: end this stream cleanly
                pending.discard(next_event)
                try:
                    event = next_event.result()
                except StopAsyncIteration:
                    return
                yield event
        finally:
            for future in pending:  # the generator must not be running when it is closed
                future.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.wait_for(stream.aclose(), 10)  # type: ignore[attr-defined]


async def test_informer_relists_after_its_version_is_compacted_away(
    apiservers: ApiServers,
    endpoints: list[Endpoint],
    store: StoreCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Informer frozen on server 0; objects deleted and compacted away; server 1 restarted
    (its watch cache starts after the compaction); the informer moves to it -> 410 -> list."""
    caplog.set_level(logging.INFO, logger="kubelite.client.informer")
    first = apiservers.processes[0]
    async with ApiClient(endpoints[:1], call_timeout_s=20.0) as on_first:
        namespace = await new_namespace(on_first)
        for i in range(5):
            await on_first.create(CONFIGMAPS, namespace, configmap(f"cm-{i}", {"v": "0"}))
        client = Readdressable(on_first)
        informer = Informer(client, CONFIGMAPS, namespace)  # type: ignore[arg-type]
        try:
            async with informer:
                assert await informer.wait_for_sync(timeout=30)
                await cache_matches_store(on_first, informer, namespace)
                await asyncio.to_thread(first.pause)  # nothing newer reaches the informer
                gone = ["cm-0", "cm-1"]
                await compact(store, await delete_behind_the_api(store, namespace, gone))
                await restart(apiservers, 1)
                second = Endpoint.from_endpoints_file(endpoints_file(apiservers, 1))
                async with ApiClient([second], call_timeout_s=20.0) as on_second:
                    client.switch(on_second)

                    async def relisted(probe: Probe) -> bool:
                        probe.last = [r.getMessage() for r in caplog.records]
                        return any(": re-listing:" in m for m in probe.last)

                    await eventually(relisted, 30, "the informer re-listed after a 410")
                    await cache_matches_store(on_second, informer, namespace)
                    await asyncio.to_thread(first.resume)  # before anything closes its streams
        finally:
            await asyncio.to_thread(first.resume)
    assert sorted(versions(informer.indexer.list())) == [f"cm-{i}" for i in range(2, 5)]


# --- the example controller -------------------------------------------------------------------


def mirror_problems(items: list[dict[str, Any]]) -> list[str]:
    """Pure: what differs from the desired state (every source mirrored, no orphan mirror)."""
    by_name = {item["metadata"]["name"]: item for item in items}
    problems = []
    for name, item in by_name.items():
        if is_source(item):
            mirror = by_name.get(mirror_name(name))
            if mirror is None or (mirror.get("data") or {}) != (item.get("data") or {}):
                problems.append(f"{name}: mirror {'missing' if mirror is None else 'stale'}")
        source = mirrored_source(item)
        if source is not None and not is_source(by_name.get(source)):
            problems.append(f"{name}: orphan mirror of {source}")
    return problems


async def test_example_controller_converges_while_sources_change(
    endpoints: list[Endpoint],
) -> None:
    async with ApiClient(endpoints, call_timeout_s=20.0) as client:
        namespace = await new_namespace(client)
        orphan = configmap(mirror_name("gone"), {"k": "v"}, {"mirror-of": "gone"})
        await client.create(CONFIGMAPS, namespace, orphan)  # its source never existed
        controller = ConfigMapMirror(client, namespace, resync_period=2.0)
        running = asyncio.create_task(controller.run(workers=2))
        try:
            yes = {"mirror": "yes"}
            for i in range(8):
                await client.create(
                    CONFIGMAPS, namespace, configmap(f"src-{i}", {"i": str(i)}, yes)
                )
            await client.create(CONFIGMAPS, namespace, configmap("plain", {"k": "v"}))
            for i in range(0, 8, 2):  # change data
                current = await client.get(CONFIGMAPS, namespace, f"src-{i}")
                await client.update(CONFIGMAPS, namespace, {**current, "data": {"i": f"{i}b"}})
            for i in (1, 3):  # delete sources
                await client.delete(CONFIGMAPS, namespace, f"src-{i}")
            current = await client.get(CONFIGMAPS, namespace, "src-5")  # unlabel one
            unlabelled = {**current, "metadata": {**current["metadata"], "labels": {}}}
            await client.update(CONFIGMAPS, namespace, unlabelled)

            async def converged(probe: Probe) -> bool:
                items = (await client.list(CONFIGMAPS, namespace))["items"]
                probe.last = mirror_problems(items) or sorted(versions(items))
                assert not running.done() or running.result() is None
                return not mirror_problems(items)

            await eventually(converged, 30, f"mirrors in {namespace} converged")
            names = sorted(versions((await client.list(CONFIGMAPS, namespace))["items"]))
            assert "gone-mirror" not in names and "src-1-mirror" not in names
            assert "src-5-mirror" not in names and "plain-mirror" not in names
            assert {f"src-{i}-mirror" for i in (0, 2, 4, 6, 7)} <= set(names)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


# --- leader election --------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    at: float
    what: str  # LEADING / STOPPED
    identity: str


def transitions(processes: list[ManagedProcess]) -> list[Transition]:
    lines = []
    for process in processes:
        for line in process.log_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("LEADING", "STOPPED"):
                lines.append(Transition(float(parts[2]), parts[0], parts[1]))
    return sorted(lines, key=lambda t: t.at)


def overlaps(events: list[Transition], killed: dict[str, float]) -> list[str]:
    """Pure: moments two contenders led at once (a SIGKILLed leader stops at its kill time)."""
    timeline = [*events, *(Transition(at, "STOPPED", who) for who, at in killed.items())]
    leading: set[str] = set()
    problems = []
    for event in sorted(timeline, key=lambda t: t.at):
        if event.what == "LEADING":
            if leading - {event.identity}:
                problems.append(f"{event.identity} led at {event.at} while {leading} led")
            leading.add(event.identity)
        else:
            leading.discard(event.identity)
    return problems


@dataclass
class Contenders:
    registry: ProcessRegistry
    log_dir: Path
    namespace: str
    lease: str
    files: list[Path]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def spawn(self, identity: str) -> None:
        argv = [sys.executable, str(CONTENDER), identity, self.namespace, self.lease,
                *map(str, self.files)]  # fmt: skip
        env = child_env({"PYTHONPATH": str(REPO)})
        log = self.log_dir / f"{identity}.log"
        self.processes[identity] = self.registry.spawn(identity, argv, log, env=env)

    def leaders(self) -> list[str]:
        """Who is leading now, from the output (LEADING without a later STOPPED, alive)."""
        state: dict[str, bool] = {}
        for event in transitions(list(self.processes.values())):
            state[event.identity] = event.what == "LEADING"
        return [who for who, on in state.items() if on and self.processes[who].is_running()]

    def first_leading_after(self, since: float, exclude: str) -> Transition | None:
        for event in transitions(list(self.processes.values())):
            if event.what == "LEADING" and event.at > since and event.identity != exclude:
                return event
        return None


@pytest.fixture
def contenders(
    apiservers: ApiServers,
    endpoints: list[Endpoint],
    process_registry: ProcessRegistry,
    tmp_path: Path,
) -> Iterator[Contenders]:
    files = [endpoints_file(apiservers, i) for i in range(2)]
    group = Contenders(process_registry, tmp_path, "default", f"le-{secrets.token_hex(3)}", files)
    try:
        yield group
    finally:
        for process in group.processes.values():
            process.kill()


async def test_leader_election_across_processes(
    contenders: Contenders, endpoints: list[Endpoint]
) -> None:
    async with ApiClient(endpoints, call_timeout_s=10.0) as client:
        holders: list[tuple[float, str]] = []

        async def holder(probe: Probe) -> bool:
            try:
                lease = await client.get(LEASES, contenders.namespace, contenders.lease)
            except ApiError as error:
                probe.last = error
                return False
            holders.append((time.time(), str(lease["spec"].get("holderIdentity") or "")))
            probe.last = {"lease": holders[-1], "leaders": contenders.leaders()}
            leaders = contenders.leaders()
            assert len(leaders) <= 1, f"two leaders at once: {leaders}"
            return bool(leaders) and leaders[0] == holders[-1][1]

        for identity in ("c1", "c2", "c3"):
            contenders.spawn(identity)
        await eventually(holder, 60, "one contender leads and holds the Lease")
        first = contenders.leaders()[0]

        killed_at = time.time()
        contenders.processes[first].kill()
        await eventually(holder, LEASE_DURATION_S + 10, f"a new leader after SIGKILL of {first}")
        taken = contenders.first_leading_after(killed_at, exclude=first)
        assert taken is not None
        takeover_s = taken.at - killed_at
        assert takeover_s <= LEASE_DURATION_S + 3 * RETRY_PERIOD_S, f"took {takeover_s:.2f} s"

        second = taken.identity
        stopped_at = time.time()
        await asyncio.to_thread(contenders.processes[second].stop)
        assert "EXITING" in contenders.processes[second].log_text()
        await eventually(holder, 10, f"a new leader after {second} released the Lease")
        handed = contenders.first_leading_after(stopped_at, exclude=second)
        assert handed is not None
        handover_s = handed.at - stopped_at
        assert handover_s <= 1.0 + RETRY_PERIOD_S, f"handover took {handover_s:.2f} s"
        print(
            f"takeover after SIGKILL {takeover_s:.2f} s; handover after SIGTERM {handover_s:.2f} s"
        )

        events = transitions(list(contenders.processes.values()))
        assert overlaps(events, {first: killed_at}) == [], events
        assert {h for _, h in holders} <= {"c1", "c2", "c3", ""}, holders
