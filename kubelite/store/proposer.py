"""Group commit: concurrent client operations are gathered into one replicated `Batch`.

Requests queue up while earlier batches are in flight; when a slot frees, everything waiting
(up to a size cap) goes out as one Raft entry, so one fdatasync per member covers the lot. A
linearizable read is a *barrier*: it rides in the next batch, even an empty one, and proceeds
once that batch is applied locally, which means every write acknowledged before the read began
is visible.

A batch whose outcome is unknown (leader change, lost callback, timeout) is proposed again
with the same ``batch_id``; the state machine returns its first outcome if it did apply. Each
request gets an answer or a `StoreError` before its deadline; none waits forever.

The Raft side is reached through the narrow `Submitter` protocol, so tests can drive this with
an in-memory fake.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kubelite.store.types import (
    Applied,
    Batch,
    BatchOutcome,
    ErrorCode,
    Op,
    StoreError,
    payload_bytes,
)

log = logging.getLogger(__name__)

MAX_BATCH_OPS = 2000
MAX_BATCH_BYTES = 2 << 20  # with one <=1.5 MiB request on top, far below raft.MAX_ENTRY_BYTES
LEADER_POLL_SECONDS = 0.02
WATCHDOG_SECONDS = 0.1


class Submitter(Protocol):
    def submit(self, batch: Batch, callback: Callable[[BatchOutcome | None, int], None]) -> None:
        """Propose ``batch``; call ``callback(outcome, fail_reason)`` from any thread."""

    def has_leader(self) -> bool: ...

    def current_leader(self) -> str | None:
        """Who leads now (any stable identity), None while nobody does."""


class NoLeader(Exception):
    """No leader is known: the member is cut off or an election is running."""


class RequestTimeout(Exception):
    """The request did not commit before its deadline."""


@dataclass
class _Pending:
    op: Op | None
    size: int
    future: asyncio.Future[Applied | None]
    deadline: float


@dataclass
class _InFlight:
    batch: Batch
    waiters: list[_Pending]
    attempts: int = 1
    submitted_at: float = field(default_factory=time.monotonic)
    leader: str | None = None  # who led when this attempt went out


def _op_size(op: Op | None) -> int:
    return 0 if op is None else 64 + payload_bytes(op)


class Proposer:
    """Gathers operations into batches and resolves each caller's future with its result."""

    def __init__(
        self,
        raft: Submitter,
        member_name: str,
        request_timeout: float = 5.0,
        attempt_timeout: float = 1.5,
        max_in_flight: int = 1,
        leader_wait: float = 3.0,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._raft = raft
        self._prefix = f"{member_name}-{os.getpid()}-{time.time_ns():x}-"
        self._ids = itertools.count()
        self._request_timeout = request_timeout
        self._attempt_timeout = attempt_timeout
        self._max_in_flight = max_in_flight
        self._leader_wait = leader_wait
        self._clock_ms = clock_ms
        self._queue: list[_Pending] = []
        self._in_flight: dict[str, _InFlight] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task[None] | None = None

    # -- public ---------------------------------------------------------------------------------

    async def propose(self, op: Op) -> Applied:
        """Replicate one operation; returns its result, or raises NoLeader / RequestTimeout."""
        applied = await self._enqueue(op)
        assert applied is not None
        return applied

    async def barrier(self) -> None:
        """Return once everything committed before this call is applied on this member."""
        await self._enqueue(None)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._watchdog = self._loop.create_task(self._watch_deadlines())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        for pending in self._queue:
            self._fail(pending, NoLeader("store is shutting down"))
        for flight in self._in_flight.values():
            for pending in flight.waiters:
                self._fail(pending, NoLeader("store is shutting down"))

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- batching -------------------------------------------------------------------------------

    async def _enqueue(self, op: Op | None) -> Applied | None:
        if not self._raft.has_leader():
            await self._wait_for_leader()
        loop = asyncio.get_running_loop()
        pending = _Pending(op, _op_size(op), loop.create_future(), time.monotonic())
        pending.deadline += self._request_timeout
        self._queue.append(pending)
        self._flush()
        return await pending.future

    async def _wait_for_leader(self) -> None:
        """Hold a request through an election (as etcd does), but not past ``leader_wait``."""
        deadline = time.monotonic() + min(self._leader_wait, self._request_timeout)
        while not self._raft.has_leader():
            if time.monotonic() >= deadline:
                raise NoLeader()
            await asyncio.sleep(LEADER_POLL_SECONDS)

    def _flush(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight:
            take, size = 0, 0
            for pending in self._queue:
                if take and (take >= MAX_BATCH_OPS or size + pending.size > MAX_BATCH_BYTES):
                    break
                take += 1
                size += pending.size
            waiters, self._queue = self._queue[:take], self._queue[take:]
            ops = tuple(p.op for p in waiters if p.op is not None)
            batch = Batch(f"{self._prefix}{next(self._ids)}", self._clock_ms(), ops)
            flight = _InFlight(batch, waiters)
            self._in_flight[batch.batch_id] = flight
            self._submit(flight)

    def _submit(self, flight: _InFlight) -> None:
        loop = self._loop or asyncio.get_running_loop()
        batch_id = flight.batch.batch_id
        attempt = flight.attempts

        def done(outcome: BatchOutcome | None, fail_reason: int) -> None:
            loop.call_soon_threadsafe(self._on_done, batch_id, attempt, outcome, fail_reason)

        flight.submitted_at = time.monotonic()
        flight.leader = self._raft.current_leader()
        try:
            self._raft.submit(flight.batch, done)
        except Exception as exc:
            log.exception("submit failed")
            self._finish(batch_id, None, exc)

    def _on_done(
        self, batch_id: str, attempt: int, outcome: BatchOutcome | None, fail_reason: int
    ) -> None:
        flight = self._in_flight.get(batch_id)
        if flight is None or flight.attempts != attempt:
            return  # a late answer to an attempt we already retried or finished
        if outcome is not None and fail_reason == 0:
            self._finish(batch_id, outcome, None)
        else:
            self._retry_or_fail(flight, f"raft failure reason {fail_reason}")

    def _retry_or_fail(self, flight: _InFlight, why: str) -> None:
        """Propose the same batch again (safe: de-duplicated) while its callers still wait."""
        now = time.monotonic()
        flight.waiters = [p for p in flight.waiters if not p.future.done()]
        if not flight.waiters or all(p.deadline <= now for p in flight.waiters):
            error: Exception = NoLeader() if not self._raft.has_leader() else RequestTimeout()
            self._finish(flight.batch.batch_id, None, error)
            return
        log.debug("retrying batch %s: %s", flight.batch.batch_id, why)
        flight.attempts += 1
        if self._raft.has_leader():
            self._submit(flight)
        else:
            flight.submitted_at = now  # wait for a leader; the watchdog tries again

    def _finish(self, batch_id: str, outcome: BatchOutcome | None, error: Exception | None) -> None:
        flight = self._in_flight.pop(batch_id)
        results = iter(outcome.applied) if outcome is not None else iter(())
        for pending in flight.waiters:
            if error is not None:
                self._fail(pending, error)
                continue
            applied = next(results, None) if pending.op is not None else None
            if pending.op is not None and applied is None:
                applied = Applied(StoreError(ErrorCode.INTERNAL, "missing result"), 0)
            if not pending.future.done():
                pending.future.set_result(applied)
        self._flush()

    @staticmethod
    def _fail(pending: _Pending, error: Exception) -> None:
        if not pending.future.done():
            pending.future.set_exception(error)

    async def _watch_deadlines(self) -> None:
        """Re-propose batches whose answer is overdue or whose leader was replaced (a batch
        forwarded to a leader that died is never answered, and the requests queued behind it
        would wait out ``attempt_timeout``); fail requests past their deadline."""
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            now = time.monotonic()
            for pending in [p for p in self._queue if p.deadline <= now]:
                self._queue.remove(pending)
                self._fail(pending, RequestTimeout())
            leader = self._raft.current_leader()
            for flight in list(self._in_flight.values()):
                if now - flight.submitted_at >= self._attempt_timeout:
                    self._retry_or_fail(flight, "no answer in time")
                elif leader is not None and flight.leader != leader:
                    self._retry_or_fail(flight, f"leader changed to {leader}")
            self._flush()
