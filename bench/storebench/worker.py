"""One load-generator process: an asyncio grpc.aio client with its own channels.

Run as `python -m storebench.worker` by `storebench.pool.WorkerPool`. It talks JSON lines:
the parent writes commands to stdin, the worker answers on stdout.

    {"cmd": "prepare", "spec": {...LoadSpec...}}  -> {"ready": true}   (channels connected)
    {"cmd": "go"}                                 -> {"result": {...}} when the load ends
    {"cmd": "kill", "at": T}     during a run: the leader was killed at monotonic time T
    {"cmd": "stop"}              during a run: end the load now
    {"cmd": "exit"}              (or EOF on stdin)

Client `g` (global index over all workers) starts on endpoint `g % len(endpoints)`, so the
clients are spread over every member; on UNAVAILABLE (a killed member) it moves to the next
endpoint, as etcd's clientv3 does. Each client has one request in flight at a time.

A run measures the window [go + warmup, go + warmup + duration]: operations completing in it
count for throughput and latency. With a kill time set, it also reports when the first
operation *started after the kill* succeeded. Every run is bounded by `max_ops` and by time
(CLOCK_MONOTONIC is shared by all processes on Linux, so the parent's kill time compares).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc

from kubelite.pb import rpc_pb2, rpc_pb2_grpc

CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1)]
CONNECT_TIMEOUT_S = 20.0
ERROR_BACKOFF_S = 0.01
STRAGGLER_GRACE_S = 1.0
MAX_COMMANDS = 100_000


@dataclass(frozen=True)
class LoadSpec:
    """What one worker does in one run; see the module docstring."""

    op: str  # "put" or "range"
    endpoints: list[str]
    clients: int
    client_offset: int
    warmup_s: float
    duration_s: float
    max_ops: int
    key_prefix: str
    key_first: int
    key_count: int
    key_size: int = 256
    value_size: int = 1024
    sequential: bool = False  # each key once, in order (loading); else random keys
    op_timeout_s: float = 10.0
    probe_interval_s: float = 0.0  # > 0: also start one write this often, open loop


def make_key(prefix: str, index: int, size: int) -> bytes:
    """`prefix` + zero-padded index, padded with '.' to `size` bytes (same in every process)."""
    return f"{prefix}{index:012d}".ljust(size, ".").encode()


@dataclass
class RunState:
    spec: LoadSpec
    keys: list[bytes]
    window_start: float
    window_end: float
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    kill_at: float | None = None
    next_key: int = 0
    issued: int = 0
    ops: int = 0
    total_ok: int = 0
    latencies_us: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)  # first message per code
    window_cpu_s: list[float] = field(default_factory=list)
    first_ok_after_kill: float | None = None

    def take_key(self) -> bytes | None:
        if not self.spec.sequential:
            return random.choice(self.keys)
        if self.next_key >= len(self.keys):
            return None
        self.next_key += 1
        return self.keys[self.next_key - 1]

    def record_ok(self, start: float, done: float) -> None:
        self.total_ok += 1
        if self.window_start <= done <= self.window_end:
            self.ops += 1
            self.latencies_us.append(int((done - start) * 1e6))
        after_kill = self.kill_at is not None and start >= self.kill_at
        if after_kill and (self.first_ok_after_kill is None or done < self.first_ok_after_kill):
            self.first_ok_after_kill = done


class Session:
    """Channels to the cluster for one prepared spec, and the runs over them."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.channels = [
            grpc.aio.insecure_channel(ep, options=CHANNEL_OPTIONS) for ep in spec.endpoints
        ]
        self.kv = [rpc_pb2_grpc.KVStub(ch) for ch in self.channels]
        self.value = os.urandom(spec.value_size)
        first, count = spec.key_first, spec.key_count
        self.keys = [
            make_key(spec.key_prefix, i, spec.key_size) for i in range(first, first + count)
        ]

    async def connect(self) -> None:
        for channel in self.channels:
            await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT_S)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(grace=None)

    async def _call(self, endpoint: int, key: bytes) -> None:
        stub, timeout = self.kv[endpoint], self.spec.op_timeout_s
        if self.spec.op == "put":
            await stub.Put(rpc_pb2.PutRequest(key=key, value=self.value), timeout=timeout)
        else:
            await stub.Range(rpc_pb2.RangeRequest(key=key), timeout=timeout)

    async def _client(self, state: RunState, global_index: int) -> None:
        endpoint = global_index % len(self.kv)
        key: bytes | None = None
        for _ in range(self.spec.max_ops):
            if state.stop.is_set() or time.monotonic() >= state.window_end:
                return
            if state.issued >= self.spec.max_ops:
                return
            key = key or state.take_key()
            if key is None:
                return
            state.issued += 1
            start = time.monotonic()
            try:
                await self._call(endpoint, key)
            except grpc.aio.AioRpcError as exc:
                state.errors[exc.code().name] += 1
                state.error_samples.setdefault(exc.code().name, str(exc.details())[:200])
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    endpoint = (endpoint + 1) % len(self.kv)
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue  # keep `key`: a loaded key is retried until it is written
            state.record_ok(start, time.monotonic())
            key = None

    async def _probe_once(self, state: RunState, endpoint: int) -> None:
        start = time.monotonic()
        try:
            await self._call(endpoint, state.take_key() or self.keys[0])
        except grpc.aio.AioRpcError as exc:
            state.errors[exc.code().name] += 1
            state.error_samples.setdefault(exc.code().name, str(exc.details())[:200])
            return
        state.record_ok(start, time.monotonic())

    async def _probe(self, state: RunState) -> None:
        """Open loop: a new write every `probe_interval_s` whatever the earlier ones do.

        The closed-loop clients all stall together when the leader dies (each waits for its
        request's deadline), so they alone would measure their timeout, not the store's gap.
        """
        in_flight: set[asyncio.Task[None]] = set()
        try:
            for n in range(self.spec.max_ops):
                if state.stop.is_set() or time.monotonic() >= state.window_end:
                    return
                endpoint = (self.spec.client_offset + n) % len(self.kv)
                task = asyncio.create_task(self._probe_once(state, endpoint))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                await asyncio.sleep(self.spec.probe_interval_s)
        finally:
            for task in list(in_flight):
                task.cancel()

    async def run(self, commands: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
        spec = self.spec
        go = time.monotonic()
        state = RunState(
            spec=spec,
            keys=self.keys,
            window_start=go + spec.warmup_s,
            window_end=go + spec.warmup_s + spec.duration_s,
        )
        cpu0 = time.process_time()
        helpers = [
            asyncio.create_task(_follow_commands(commands, state)),
            asyncio.create_task(_sample_window_cpu(state)),
            asyncio.create_task(_ended(state)),
        ]
        if spec.probe_interval_s > 0:
            helpers.append(asyncio.create_task(self._probe(state)))
        clients = [
            asyncio.create_task(self._client(state, spec.client_offset + i))
            for i in range(spec.clients)
        ]
        everyone: asyncio.Future[Any] = asyncio.gather(*clients, return_exceptions=True)
        ended: asyncio.Future[Any] = helpers[2]
        await asyncio.wait([everyone, ended], return_when=asyncio.FIRST_COMPLETED)
        for task in [*clients, *helpers]:
            task.cancel()  # requests still in flight after the grace period do not count
        await asyncio.gather(everyone, *helpers, return_exceptions=True)
        if len(state.window_cpu_s) == 2:  # the CPU spent during the measured window
            cpu_s, wall_s = state.window_cpu_s[1] - state.window_cpu_s[0], spec.duration_s
        else:  # stopped early (leader-kill runs): the whole run
            cpu_s, wall_s = time.process_time() - cpu0, time.monotonic() - go
        return {
            "ops": state.ops,
            "total_ok": state.total_ok,
            "errors": dict(state.errors),
            "error_samples": state.error_samples,
            "latencies_us": state.latencies_us,
            "cpu_s": cpu_s,
            "wall_s": wall_s,
            "first_ok_after_kill": state.first_ok_after_kill,
        }


async def _follow_commands(commands: asyncio.Queue[dict[str, Any]], state: RunState) -> None:
    for _ in range(MAX_COMMANDS):
        message = await commands.get()
        if message["cmd"] == "kill":
            state.kill_at = float(message["at"])
        elif message["cmd"] in ("stop", "exit"):
            state.stop.set()


async def _ended(state: RunState) -> None:
    """Returns a grace period after the window ends or the parent says stop."""
    remaining = max(0.0, state.window_end - time.monotonic())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.stop.wait(), remaining)
    await asyncio.sleep(STRAGGLER_GRACE_S)


async def _sample_window_cpu(state: RunState) -> None:
    for edge in (state.window_start, state.window_end):
        await asyncio.sleep(max(0.0, edge - time.monotonic()))
        state.window_cpu_s.append(time.process_time())


def read_stdin(loop: asyncio.AbstractEventLoop, commands: asyncio.Queue[dict[str, Any]]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
    loop.call_soon_threadsafe(commands.put_nowait, {"cmd": "exit"})


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve() -> None:
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    reader = threading.Thread(
        target=read_stdin, args=(asyncio.get_running_loop(), commands), daemon=True
    )
    reader.start()
    session: Session | None = None
    for _ in range(MAX_COMMANDS):
        message = await commands.get()
        if message["cmd"] == "exit":
            break
        if message["cmd"] == "prepare":
            if session is not None:
                await session.close()
            session = Session(LoadSpec(**message["spec"]))
            await session.connect()
            reply({"ready": True})
        elif message["cmd"] == "go" and session is not None:
            reply({"result": await session.run(commands)})
    if session is not None:
        await session.close()


if __name__ == "__main__":
    asyncio.run(serve())
