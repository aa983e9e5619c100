"""Leader election: the decision table, then contenders on a FakeClient and a hand-driven clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from kubelite.api.errors import ConflictError, GroupResource, ServiceUnavailableError
from kubelite.client.fake import FakeClient
from kubelite.client.interface import LEASES
from kubelite.client.leaderelection import (
    Decision,
    LeaderElector,
    LeaseRecord,
    decide,
    should_step_down,
)

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
HELD = LeaseRecord("other", 15, "t", "t", 3)


@pytest.mark.parametrize(
    ("record", "observed_at", "now", "expected"),
    [
        (None, 0.0, 0.0, Decision.CREATE),
        (LeaseRecord("me", 15), 0.0, 100.0, Decision.RENEW),
        (LeaseRecord("", 1), 50.0, 50.0, Decision.ACQUIRE),
        (HELD, 10.0, 24.9, Decision.WAIT),
        (HELD, 10.0, 25.0, Decision.ACQUIRE),
        (LeaseRecord("other", 0), 10.0, 24.0, Decision.WAIT),  # default duration 15
        (LeaseRecord("other", 0), 10.0, 25.0, Decision.ACQUIRE),
        (LeaseRecord("other", 5), 10.0, 14.0, Decision.WAIT),
        (LeaseRecord("other", 5), 10.0, 15.5, Decision.ACQUIRE),
    ],
    ids=[
        "absent-create",
        "ours-renew-even-if-old",
        "released-acquire-at-once",
        "held-fresh-wait",
        "held-expired-acquire",
        "no-duration-uses-default-wait",
        "no-duration-uses-default-acquire",
        "short-lease-wait",
        "short-lease-expired",
    ],
)
def test_decide(
    record: LeaseRecord | None, observed_at: float, now: float, expected: Decision
) -> None:
    got = decide(record, identity="me", observed_at=observed_at, now=now,
                 default_lease_duration=15.0)  # fmt: skip
    assert got is expected


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [(0.0, 9.9, False), (0.0, 10.0, True), (5.0, 14.0, False)],
    ids=["within", "at-deadline", "renewed-later"],
)
def test_should_step_down(last: float, now: float, expected: bool) -> None:
    assert should_step_down(last, now, 10.0) is expected


def test_timings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        LeaderElector(FakeClient(), "kube-system", "x", "me", lease_duration=5, renew_deadline=10)


class FakeClock:
    """Monotonic time that moves only when the test advances it."""

    def __init__(self) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + seconds, future))
        await future

    def sleeping(self) -> int:
        return sum(1 for _, future in self._sleepers if not future.done())

    async def settle(self, sleepers: int) -> None:
        """Wait (on the loop, not on time) until `sleepers` tasks stay parked in `sleep`.

        "Stay": a round in flight holds a deadline timer for a moment, so the count must hold
        for a run of loop iterations, not just once.
        """
        steady = 0
        async with asyncio.timeout(2):
            while steady < 20:
                await asyncio.sleep(0)
                steady = steady + 1 if self.sleeping() == sleepers else 0

    async def advance(self, seconds: float, sleepers: int) -> None:
        self.t += seconds
        for deadline, future in self._sleepers:
            if deadline <= self.t and not future.done():
                future.set_result(None)
        self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]
        await self.settle(sleepers)


class Cluster:
    """Several electors on one FakeClient and FakeClock, checking 'one leader at most'."""

    def __init__(self, count: int, *, release_on_cancel: bool = True) -> None:
        self.client = FakeClient()
        self.clock = FakeClock()
        self.leading: set[str] = set()
        self.history: list[tuple[float, str, str]] = []
        self.work_cancelled: list[str] = []
        self.electors = [self._elector(f"node-{i}", release_on_cancel) for i in range(count)]
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def _elector(self, identity: str, release_on_cancel: bool) -> LeaderElector:
        def started() -> None:
            assert not self.leading, f"{identity} leads while {self.leading} do"
            self.leading.add(identity)
            self.history.append((self.clock.t, "started", identity))

        def stopped() -> None:
            self.leading.discard(identity)
            self.history.append((self.clock.t, "stopped", identity))

        return LeaderElector(
            self.client, "kube-system", "kube-scheduler", identity,
            lease_duration=15, renew_deadline=10, retry_period=2,
            on_started_leading=started, on_stopped_leading=stopped,
            clock=self.clock, release_on_cancel=release_on_cancel,
        )  # fmt: skip

    async def work(self, identity: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.work_cancelled.append(identity)
            raise

    def start(self, elector: LeaderElector) -> None:
        name = elector.identity
        self.tasks[name] = asyncio.create_task(elector.run(lambda: self.work(name)))

    async def crash(self, identity: str) -> None:
        task = self.tasks.pop(identity)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_for(self, seconds: float, check: Callable[[], None] = lambda: None) -> None:
        for _ in range(int(seconds)):
            await self.clock.advance(1, sleepers=len(self.tasks))
            assert len(self.leading) <= 1, self.history
            assert sum(e.is_leader for e in self.electors) <= 1, self.history
            check()

    async def lease(self) -> LeaseRecord:
        return LeaseRecord.from_lease(
            await self.client.get(LEASES, "kube-system", "kube-scheduler")
        )

    async def stop(self) -> None:
        for name in list(self.tasks):
            await self.crash(name)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    cluster = Cluster(3, release_on_cancel=False)
    for elector in cluster.electors:
        cluster.start(elector)
    await cluster.clock.settle(3)
    yield cluster
    await cluster.stop()


async def test_three_contenders_one_leader(cluster: Cluster) -> None:
    assert len(cluster.leading) == 1
    first = next(iter(cluster.leading))
    await cluster.run_for(60, check=lambda: None)
    assert cluster.leading == {first}
    lease = await cluster.lease()
    assert lease.holder == first and lease.transitions == 0
    assert lease.renew_time.endswith("Z") and "." in lease.renew_time  # MicroTime
    assert all(e.leader == first for e in cluster.electors)


async def test_crashed_leader_is_replaced_after_lease_duration(cluster: Cluster) -> None:
    first = next(iter(cluster.leading))
    await cluster.run_for(5)
    last_renew = cluster.clock.t - (cluster.clock.t % 2)
    await cluster.crash(first)  # no release: the others must wait the lease out
    cluster.leading.discard(first)
    await cluster.run_for(25)
    (took_over_at, _, second) = next(
        h for h in cluster.history if h[1] == "started" and h[2] != first
    )
    assert second != first
    assert 15 <= took_over_at - last_renew <= 15 + 2 + 1, cluster.history
    assert (await cluster.lease()).transitions == 1


async def test_release_lets_a_standby_lead_on_its_next_retry() -> None:
    cluster = Cluster(2, release_on_cancel=True)
    for elector in cluster.electors:
        cluster.start(elector)
    await cluster.clock.settle(2)
    first = next(iter(cluster.leading))
    await cluster.run_for(4)
    released_at = cluster.clock.t
    await cluster.crash(first)  # cancelling run() releases
    assert (await cluster.lease()).holder == ""
    await cluster.run_for(3)
    (started_at, _, second) = cluster.history[-1]
    assert second != first and started_at - released_at <= 2, cluster.history
    assert first in cluster.work_cancelled
    await cluster.stop()


async def test_renew_failures_past_deadline_stop_leader_work() -> None:
    cluster = Cluster(1)
    cluster.start(cluster.electors[0])
    await cluster.clock.settle(1)
    assert cluster.leading == {"node-0"}
    for _ in range(100):
        cluster.client.fail_next("update", ServiceUnavailableError("API server down"))
    await cluster.run_for(9)
    assert cluster.leading == {"node-0"}  # 9 s without renewal: still within the deadline
    await cluster.run_for(1)
    assert cluster.leading == set() and cluster.work_cancelled == ["node-0"], cluster.history
    assert cluster.history[-1] == (10.0, "stopped", "node-0")
    await cluster.stop()


async def test_conflict_means_someone_else_won() -> None:
    client = FakeClient()
    clock = FakeClock()
    elector = LeaderElector(client, "kube-system", "lock", "me", clock=clock)
    assert await elector.try_acquire_or_renew()
    client.fail_next(
        "update", ConflictError(GroupResource("coordination.k8s.io", "leases"), "lock")
    )
    assert not await elector.try_acquire_or_renew()
    assert await elector.try_acquire_or_renew()


async def test_new_leader_callback_and_failing_work_gives_up_leadership() -> None:
    client, clock = FakeClient(), FakeClock()
    seen: list[str] = []
    elector = LeaderElector(client, "kube-system", "lock", "me", clock=clock,
                            on_new_leader=seen.append)  # fmt: skip

    async def broken_work() -> None:
        raise RuntimeError("leader work crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        await elector.run(broken_work)
    assert seen == ["me"] and not elector.is_leader
    lease = await client.get(LEASES, "kube-system", "lock")
    assert lease["spec"]["holderIdentity"] == ""  # released for a standby
