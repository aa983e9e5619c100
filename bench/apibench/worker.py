"""One load-generator process: closed-loop pod creates, or many HTTP watchers.

Run as `python -m apibench.worker` by `apibench.pool`; JSON lines, commands on stdin and
answers on stdout:

    {"cmd": "prepare", "spec": {...CreateSpec or WatchSpec...}}  -> {"ready": {...}}
    {"cmd": "go"}                     creates: run the load    -> {"result": {...}}
    {"cmd": "finish", "count": N}     watch: wait (at most `grace_s`) until every watcher has
                                      N benchmark events, then close -> {"result": {...}}
    {"cmd": "exit"}                   (or EOF on stdin)

Creates: client g (over all workers) posts to server g % len(urls), namespace g % len(ns), one
request in flight; the run ends after `max_ops` requests of this worker or the window end,
whichever is first; creates completing inside [go + warmup, go + warmup + duration] count.

Watch: `watchers` streams of `GET path?watch=true&resourceVersion=RV`, at most
`OPEN_CONCURRENCY` being opened at once; "ready" once every stream has its response headers
(the server registers a watcher before it answers). Each ADDED event of a pod whose name
starts with `name_prefix` is stamped with CLOCK_MONOTONIC on arrival (shared by every process
on Linux, so the parent's acknowledgement times compare). A worker ends by itself after
`max_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from storebench.worker import read_stdin, reply

from apibench.http import CREATED, client_session, create_pod, pods_path

OPEN_CONCURRENCY = 64
STRAGGLER_GRACE_S = 1.0
ERROR_BACKOFF_S = 0.01
MAX_COMMANDS = 1_000


@dataclass(frozen=True)
class CreateSpec:
    urls: list[str]
    namespaces: list[str]
    clients: int
    client_offset: int
    name_prefix: str
    warmup_s: float
    duration_s: float
    max_ops: int


@dataclass(frozen=True)
class WatchSpec:
    url: str
    namespace: str
    resource_version: str
    watchers: int
    name_prefix: str
    max_s: float


@dataclass
class CreateRun:
    spec: CreateSpec
    window_start: float
    window_end: float
    issued: int = 0
    ops: int = 0
    total_ok: int = 0
    latencies_us: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    window_cpu_s: list[float] = field(default_factory=list)

    async def client(self, session: aiohttp.ClientSession, index: int) -> None:
        spec = self.spec
        url, namespace = (
            spec.urls[index % len(spec.urls)],
            spec.namespaces[index % len(spec.namespaces)],
        )
        for n in range(spec.max_ops):
            if self.issued >= spec.max_ops or time.monotonic() >= self.window_end:
                return
            self.issued += 1
            started = time.monotonic()
            try:
                status = await create_pod(
                    session, url, namespace, f"{spec.name_prefix}-{index}-{n}"
                )
            except (aiohttp.ClientError, TimeoutError) as error:
                self.errors[type(error).__name__] += 1
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            done = time.monotonic()
            if status != CREATED:
                self.errors[str(status)] += 1
                continue
            self.total_ok += 1
            if self.window_start <= done <= self.window_end:
                self.ops += 1
                self.latencies_us.append(int((done - started) * 1e6))

    async def sample_window_cpu(self) -> None:
        for edge in (self.window_start, self.window_end):
            await asyncio.sleep(max(0.0, edge - time.monotonic()))
            self.window_cpu_s.append(time.process_time())


async def run_creates(spec: CreateSpec) -> dict[str, Any]:
    go = time.monotonic()
    run = CreateRun(spec, go + spec.warmup_s, go + spec.warmup_s + spec.duration_s)
    cpu0 = time.process_time()
    async with client_session() as session:
        sampler = asyncio.create_task(run.sample_window_cpu())
        clients = [run.client(session, spec.client_offset + i) for i in range(spec.clients)]
        everyone = asyncio.gather(*clients)
        # Requests still in flight a grace period after the window do not count.
        remaining = run.window_end - time.monotonic() + STRAGGLER_GRACE_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone, max(0.0, remaining))
        sampler.cancel()
    wall = time.monotonic() - go
    if len(run.window_cpu_s) == 2:
        cpu_s, wall_s = run.window_cpu_s[1] - run.window_cpu_s[0], spec.duration_s
    else:  # ended by its count before the window closed
        cpu_s, wall_s = time.process_time() - cpu0, wall
    return {
        "ops": run.ops,
        "total_ok": run.total_ok,
        "latencies_us": run.latencies_us,
        "errors": dict(run.errors),
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "elapsed_s": wall,
    }


@dataclass
class Watcher:
    """One watch stream: when each benchmark pod's ADDED event arrived, and how it ended."""

    received: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    ended: str = ""  # why the stream ended before `finish` ("" while it runs)


class WatchRun:
    """`spec.watchers` watch streams on one server; see the module docstring."""

    def __init__(self, spec: WatchSpec) -> None:
        self.spec = spec
        self.watchers = [Watcher() for _ in range(spec.watchers)]
        self.open_errors: Counter[str] = Counter()
        self.readers: list[asyncio.Task[None]] = []
        self.started = time.monotonic()
        self.cpu0 = time.process_time()

    async def open_all(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        opened = await asyncio.gather(*(self._open(session, w, gate) for w in self.watchers))
        return {"opened": sum(opened), "open_errors": dict(self.open_errors)}

    async def _open(
        self, session: aiohttp.ClientSession, watcher: Watcher, gate: asyncio.Semaphore
    ) -> bool:
        params = {"watch": "true", "resourceVersion": self.spec.resource_version}
        async with gate:
            try:
                response = await session.get(
                    self.spec.url + pods_path(self.spec.namespace), params=params
                )
            except (aiohttp.ClientError, TimeoutError) as error:
                self.open_errors[type(error).__name__] += 1
                watcher.ended = "not opened"
                return False
        if response.status != 200:
            self.open_errors[str(response.status)] += 1
            watcher.ended = f"HTTP {response.status}"
            response.release()
            return False
        self.readers.append(asyncio.create_task(self._read(watcher, response)))
        return True

    async def _read(self, watcher: Watcher, response: aiohttp.ClientResponse) -> None:
        """Stamp each event line; bytes are matched, not decoded, to keep the client cheap: the
        benchmark's pod names are unique to this run and no other field can hold them."""
        marker = b'"name":"' + self.spec.name_prefix.encode() + b"-"
        try:
            async for line in response.content:
                arrived = time.monotonic()
                if line.startswith(b'{"type":"ERROR"'):
                    watcher.ended = "ERROR event"
                    continue
                at = line.find(marker) if line.startswith(b'{"type":"ADDED"') else -1
                if at < 0:
                    continue
                start = at + len(b'"name":"')
                name = line[start : line.index(b'"', start)].decode()
                if name in watcher.received:
                    watcher.duplicates += 1
                else:
                    watcher.received[name] = arrived
            watcher.ended = watcher.ended or "stream ended"
        except (aiohttp.ClientError, ValueError) as error:
            watcher.ended = type(error).__name__
        finally:
            response.close()

    async def finish(self, count: int, grace_s: float) -> dict[str, Any]:
        """Once every open watcher has `count` events (or `grace_s` passed): the figures."""
        deadline = min(time.monotonic() + grace_s, self.started + self.spec.max_s)
        while time.monotonic() < deadline:
            waiting = [w for w in self.watchers if len(w.received) < count and not w.ended]
            if not waiting:
                break
            await asyncio.sleep(0.02)  # a benchmark paces itself by the clock
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        received: dict[str, list[float]] = {}
        for watcher in self.watchers:
            for name, arrived in watcher.received.items():
                received.setdefault(name, []).append(round(arrived, 6))
        return {
            "received": received,
            "per_watcher": [len(w.received) for w in self.watchers],
            "duplicates": sum(w.duplicates for w in self.watchers),
            "ended_early": dict(Counter(w.ended for w in self.watchers if w.ended)),
            "cpu_s": time.process_time() - self.cpu0,
            "wall_s": time.monotonic() - self.started,
        }


# --- the command loop ---------------------------------------------------------------------------


async def _next(commands: asyncio.Queue[dict[str, Any]], timeout: float) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(commands.get(), timeout)
    except TimeoutError:
        return {"cmd": "exit"}


async def _watch(spec: WatchSpec, commands: asyncio.Queue[dict[str, Any]]) -> None:
    run = WatchRun(spec)
    async with client_session(timeout_s=None) as session:
        reply({"ready": await run.open_all(session)})
        message = await _next(commands, spec.max_s)
        count = int(message.get("count", 0))
        result = await run.finish(count, float(message.get("grace_s", 0.0)))
        if message["cmd"] == "finish":
            reply({"result": result})


async def serve() -> None:
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=read_stdin, args=(loop, commands), daemon=True).start()
    message = await commands.get()
    if message["cmd"] != "prepare":
        return
    spec = message["spec"]
    if spec.pop("mode") == "watch":
        await _watch(WatchSpec(**spec), commands)
        return
    create_spec = CreateSpec(**spec)
    reply({"ready": {}})
    message = await _next(commands, 3_600)
    if message["cmd"] == "go":
        reply({"result": await run_creates(create_spec)})


if __name__ == "__main__":
    asyncio.run(serve())
