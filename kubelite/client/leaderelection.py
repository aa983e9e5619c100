"""`LeaderElector`: one active replica at a time, on a ``coordination.k8s.io/v1`` Lease.

Like client-go's ``leaderelection`` with a ``LeaseLock``. Every candidate GETs the Lease every
`retry_period` and decides with the pure `decide` function:

=====================================================  ===========  =========================
what it read                                           action       write
=====================================================  ===========  =========================
no Lease                                               ``CREATE``   POST; 409 = someone won
``holderIdentity`` is us                               ``RENEW``    PUT ``renewTime``
``holderIdentity`` empty (released)                    ``ACQUIRE``  PUT, transitions + 1
unchanged for ``leaseDurationSeconds`` (our clock)     ``ACQUIRE``  PUT, transitions + 1
held by another and changed recently                   ``WAIT``     nothing
=====================================================  ===========  =========================

Expiry is judged as client-go does, without trusting the holder's wall clock: a candidate
notes *its own* monotonic time whenever the lease record it reads differs from the last one
it saw, and takes over once the record has stayed the same for ``leaseDurationSeconds``. Every
PUT carries the resourceVersion that was read, so of two candidates only one wins; the other
gets a 409 and waits. Timestamps written are ``MicroTime`` (`format_micro_time`).

The leader renews every `retry_period`. If no renewal has succeeded for `renew_deadline`
(shorter than `lease_duration`, so it steps down before anyone may take over) it stops leading
at once: the leader work is cancelled and ``on_stopped_leading`` called; then it becomes a
candidate again. On shutdown (cancelling `run`) it releases the Lease (empty holder,
``leaseDurationSeconds: 1``) so a standby takes over on its next retry instead of waiting out
the lease::

    elector = LeaderElector(client, "kube-system", "kube-scheduler", default_identity(),
                            on_started_leading=..., on_stopped_leading=...)
    await elector.run(scheduler.run)   # scheduler.run() runs only while we lead

Time comes from a `Clock` (monotonic seconds, wall time, sleep) so tests drive it by hand.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from kubelite.api.errors import AlreadyExistsError, ConflictError, NotFoundError
from kubelite.api.meta import format_micro_time
from kubelite.client.interface import LEASES, Client, JsonObject

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic`, UTC wall time and `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def default_identity() -> str:
    """``<hostname>_<pid>_<random>``: unique per process, readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


class Decision(enum.Enum):
    CREATE = "create"
    ACQUIRE = "acquire"
    RENEW = "renew"
    WAIT = "wait"


@dataclass(frozen=True)
class LeaseRecord:
    """The election fields of a Lease's spec."""

    holder: str = ""
    lease_duration_seconds: float = 0.0
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=float(spec.get("leaseDurationSeconds") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> JsonObject:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": int(self.lease_duration_seconds),
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


def decide(
    record: LeaseRecord | None,
    *,
    identity: str,
    observed_at: float,
    now: float,
    default_lease_duration: float = 15.0,
) -> Decision:
    """What a candidate does with the lease it just read (see the module docstring's table).

    `observed_at` is when (our monotonic clock) this record was first seen in its current form.
    """
    if record is None:
        return Decision.CREATE
    if record.holder == identity:
        return Decision.RENEW
    if not record.holder:
        return Decision.ACQUIRE
    duration = record.lease_duration_seconds or default_lease_duration
    if observed_at + duration <= now:
        return Decision.ACQUIRE
    return Decision.WAIT


def should_step_down(last_renewed: float, now: float, renew_deadline: float) -> bool:
    """A leader that has not renewed for `renew_deadline` seconds must stop leading."""
    return now - last_renewed >= renew_deadline


class LeaderElector:
    """Campaigns for one Lease and runs leader work while holding it (module docstring)."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        clock: Clock | None = None,
        release_on_cancel: bool = True,
    ) -> None:
        if not identity:
            raise ValueError("identity must not be empty")
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError(
                "need lease_duration > renew_deadline > retry_period > 0, got "
                f"{lease_duration}, {renew_deadline}, {retry_period}"
            )
        self._client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._clock: Clock = clock or SystemClock()
        self._release_on_cancel = release_on_cancel
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._leading = False
        self._work: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder in the last lease record seen ("" if none or released)."""
        return self._observed.holder if self._observed else ""

    # --- one round ----------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """Read the Lease, decide, write; True when we hold it afterwards. API errors raise."""
        try:
            lease: JsonObject | None = await self._client.get(LEASES, self.namespace, self.name)
        except NotFoundError:
            lease = None
        record = LeaseRecord.from_lease(lease) if lease is not None else None
        self._observe(record)
        decision = decide(record, identity=self.identity, observed_at=self._observed_at,
                          now=self._clock.monotonic(),
                          default_lease_duration=self.lease_duration)  # fmt: skip
        if decision is Decision.WAIT:
            return False
        stamp = format_micro_time(self._clock.now())
        duration = float(max(1, math.ceil(self.lease_duration)))
        if decision is Decision.RENEW and record is not None:
            wanted = replace(record, renew_time=stamp, lease_duration_seconds=duration)
        else:
            transitions = record.transitions + 1 if record is not None else 0
            wanted = LeaseRecord(self.identity, duration, stamp, stamp, transitions)
        try:
            await self._write(lease, wanted)
        except (ConflictError, AlreadyExistsError):
            return False  # someone else wrote first this round
        self._observe(wanted)
        return True

    async def _write(self, lease: JsonObject | None, record: LeaseRecord) -> None:
        if lease is None:
            body: JsonObject = {
                "apiVersion": LEASES.api_version,
                "kind": LEASES.kind,
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": record.to_spec(),
            }
            await self._client.create(LEASES, self.namespace, body)
        else:
            body = copy.deepcopy(lease)  # keeps metadata.resourceVersion: a conditional PUT
            body["spec"] = {**(body.get("spec") or {}), **record.to_spec()}
            await self._client.update(LEASES, self.namespace, body)

    def _observe(self, record: LeaseRecord | None) -> None:
        if record == self._observed:
            return
        previous_holder = self.leader
        self._observed, self._observed_at = record, self._clock.monotonic()
        holder = record.holder if record else ""
        if self._on_new_leader is not None and holder and holder != previous_holder:
            self._on_new_leader(holder)

    async def _attempt(self, within: float | None = None) -> bool:
        """One round that never raises; gives up (False) after `within` seconds."""
        attempt = asyncio.ensure_future(self.try_acquire_or_renew())
        waiting: set[asyncio.Future[Any]] = {attempt}
        if within is not None:
            waiting.add(asyncio.ensure_future(self._clock.sleep(within)))
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in waiting:
                future.cancel()
        if attempt.cancelled():
            return False
        error = attempt.exception()
        if error is not None:
            logger.warning("lease %s/%s: %s", self.namespace, self.name, error)
            return False
        return attempt.result()

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, leader_work: Callable[[], Awaitable[None]] | None = None) -> None:
        """Campaign forever; run `leader_work()` as a task only while leading.

        Cancelling `run` stops leading (work cancelled, ``on_stopped_leading``) and, with
        ``release_on_cancel``, releases the Lease. If the leader work raises, leadership is
        given up the same way and the error is raised from `run`.
        """
        try:
            while True:
                await self._acquire()
                await self._lead(leader_work)
        finally:
            if self._release_on_cancel:
                await self.release()

    async def _acquire(self) -> None:
        while not await self._attempt():
            await self._clock.sleep(self.retry_period)

    async def _lead(self, leader_work: Callable[[], Awaitable[None]] | None) -> None:
        self._start_leading(leader_work)
        last_renewed = self._clock.monotonic()
        try:
            while True:
                await self._sleep_or_work_failure(self.retry_period)
                remaining = self.renew_deadline - (self._clock.monotonic() - last_renewed)
                if remaining > 0 and await self._attempt(within=remaining):
                    last_renewed = self._clock.monotonic()
                    continue
                if self.leader not in ("", self.identity):
                    logger.warning("lease %s/%s: lost to %s", self.namespace, self.name,
                                   self.leader)  # fmt: skip
                    return
                if should_step_down(last_renewed, self._clock.monotonic(), self.renew_deadline):
                    logger.warning("lease %s/%s: not renewed within %ss; stepping down",
                                   self.namespace, self.name, self.renew_deadline)  # fmt: skip
                    return
        finally:
            await self._stop_leading()

    async def _sleep_or_work_failure(self, seconds: float) -> None:
        """Sleep, but wake at once if the leader work fails (its error is raised)."""
        work = self._work
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waiting: set[asyncio.Future[Any]] = {sleeper}
        if work is not None and not work.done():
            waiting.add(work)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        if work is not None and work.done() and not work.cancelled():
            error = work.exception()
            if error is not None:
                raise error

    def _start_leading(self, leader_work: Callable[[], Awaitable[None]] | None) -> None:
        self._leading = True
        logger.info("lease %s/%s: %s started leading", self.namespace, self.name, self.identity)
        if self._on_started is not None:
            self._on_started()
        if leader_work is not None:
            self._work = asyncio.ensure_future(leader_work())

    async def _stop_leading(self) -> None:
        if not self._leading:
            return
        self._leading = False
        work, self._work = self._work, None
        try:
            if work is not None and not work.done():
                work.cancel()
                await asyncio.wait({work})  # returns once it has finished; never raises its error
        finally:
            logger.info("lease %s/%s: %s stopped leading", self.namespace, self.name,
                        self.identity)  # fmt: skip
            if self._on_stopped is not None:
                self._on_stopped()

    async def release(self) -> bool:
        """Hand the Lease back (empty holder, 1 s duration) if we hold it; True if released.

        Call it after `run` has ended (cancelling `run` does it by default), else the renew
        loop takes the Lease right back.
        """
        await self._stop_leading()
        if self._observed is None or self._observed.holder != self.identity:
            return False
        try:
            lease = await self._client.get(LEASES, self.namespace, self.name)
            record = LeaseRecord.from_lease(lease)
            if record.holder != self.identity:
                return False
            stamp = format_micro_time(self._clock.now())
            released = LeaseRecord("", 1.0, stamp, stamp, record.transitions)
            await self._write(lease, released)
        except Exception:
            logger.exception("lease %s/%s: release failed", self.namespace, self.name)
            return False
        self._observe(released)
        return True
