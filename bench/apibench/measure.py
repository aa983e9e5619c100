"""Measurements made from the benchmark process itself: light, latency-sensitive load.

- `sequential_latency`: one request at a time (the latency of an idle server), bounded by a
  sample count and a time limit.
- `paced_creates_and_gets`: open loop, the way real clients arrive: create number i (and a GET
  of an existing pod) is sent at ``start + i / rate`` whether or not earlier ones have been
  answered, and its latency counts from that scheduled time, so a stalled server cannot hide
  behind a client that waits for it (no coordinated omission).
- `paced_writes`: the same pacing for the watch measurement; it returns when each create was
  acknowledged (CLOCK_MONOTONIC, comparable with the watcher processes' arrival times).

Every loop is bounded in count and in time; requests have `http.REQUEST_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from apibench.http import (
    CREATED,
    REQUEST_TIMEOUT_S,
    client_session,
    create_pod,
    get_status,
)
from apibench.results import Latency, Paced

FILL_CONCURRENCY = 16


async def _timed(call: Awaitable[int], expect: int) -> tuple[float | None, str]:
    """(seconds taken, "") when `call` (a coroutine, not started yet) answers `expect`, else
    (None, what went wrong)."""
    started = time.monotonic()
    try:
        status = await call
    except (aiohttp.ClientError, TimeoutError) as error:
        return None, type(error).__name__
    if status != expect:
        return None, str(status)
    return time.monotonic() - started, ""


async def fill_namespace(url: str, namespace: str, prefix: str, count: int) -> list[str]:
    """Create `count` pods (a few at a time); the names of those created."""
    names = [f"{prefix}-{i}" for i in range(count)]
    gate = asyncio.Semaphore(FILL_CONCURRENCY)
    async with client_session() as session:

        async def one(name: str) -> str | None:
            async with gate:
                taken, _ = await _timed(create_pod(session, url, namespace, name), CREATED)
                return name if taken is not None else None

        created = await asyncio.gather(*(one(name) for name in names))
    return [name for name in created if name is not None]


async def sequential_latency(
    url: str, paths: list[str], params: dict[str, str], samples: int, time_limit_s: float
) -> Latency:
    """GET random `paths` one after another: `samples` of them or until `time_limit_s`."""
    seconds: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + time_limit_s
    async with client_session() as session:
        for _ in range(samples):
            if time.monotonic() >= deadline:
                break
            path = url + random.choice(paths)
            taken, error = await _timed(get_status(session, path, params), 200)
            if taken is None:
                errors[error] += 1
            else:
                seconds.append(taken)
    return Latency.of_seconds(seconds, dict(errors))


async def _paced(
    rate: float,
    duration_s: float,
    call: Callable[[int], Coroutine[Any, Any, None]],
) -> None:
    """Start `call(i)` at ``start + i / rate`` for i < rate x duration; wait for them all."""
    start = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for i in range(int(rate * duration_s)):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(call(i)))
    # Each request has its own timeout, so this ends within REQUEST_TIMEOUT_S of the last send.
    await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S + 5)
    for task in tasks:
        task.cancel()


async def paced_creates_and_gets(
    url: str, namespace: str, prefix: str, existing: list[str], rate: float, duration_s: float
) -> Paced:
    """Creates in `namespace`; GETs of `existing` paths (``/api/v1/namespaces/ns/pods/name``)."""
    creates: list[float] = []
    gets: list[float] = []
    errors: dict[str, Counter[str]] = {"create": Counter(), "get": Counter()}
    async with client_session() as session:
        start = time.monotonic()

        async def create(i: int) -> None:
            scheduled = start + i / rate
            status = await _status_or_error(create_pod(session, url, namespace, f"{prefix}-{i}"))
            _record(status, CREATED, time.monotonic() - scheduled, creates, errors["create"])

        async def get(i: int) -> None:
            scheduled = start + i / rate
            path = url + random.choice(existing)
            status = await _status_or_error(get_status(session, path, {}))
            _record(status, 200, time.monotonic() - scheduled, gets, errors["get"])

        async def both(i: int) -> None:
            await asyncio.gather(create(i), get(i))

        await _paced(rate, duration_s, both)
    return Paced(
        target_rate=rate,
        achieved_rate=len(creates) / duration_s,
        create=Latency.of_seconds(creates, dict(errors["create"])),
        get=Latency.of_seconds(gets, dict(errors["get"])),
    )


async def _status_or_error(call: Awaitable[int]) -> int | str:
    try:
        return await call
    except (aiohttp.ClientError, TimeoutError) as error:
        return type(error).__name__


def _record(
    status: int | str, expect: int, seconds: float, into: list[float], errors: Counter[str]
) -> None:
    if status == expect:
        into.append(seconds)
    else:
        errors[str(status)] += 1


async def paced_writes(
    url: str, namespace: str, prefix: str, rate: float, duration_s: float
) -> tuple[dict[str, float], dict[str, int]]:
    """Paced creates; (acknowledgement time by pod name, errors)."""
    acks: dict[str, float] = {}
    errors: Counter[str] = Counter()
    async with client_session() as session:

        async def write(i: int) -> None:
            name = f"{prefix}-{i}"
            status = await _status_or_error(create_pod(session, url, namespace, name))
            if status == CREATED:
                acks[name] = time.monotonic()
            else:
                errors[str(status)] += 1

        await _paced(rate, duration_s, write)
    return acks, dict(errors)
