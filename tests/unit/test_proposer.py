"""Group commit, barriers, retries and deadlines of the proposer, against an in-memory Raft."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from kubelite.store.mvcc import MvccState
from kubelite.store.proposer import NoLeader, Proposer, RequestTimeout
from kubelite.store.types import Batch, BatchOutcome, PutOp, PutResult, RangeOp

Callback = Callable[[BatchOutcome | None, int], None]
LEADER_CHANGED = 5


class FakeRaft:
    """Applies submitted batches to a real MvccState when told to; scripts failures."""

    def __init__(self) -> None:
        self.state = MvccState()
        self.pending: list[tuple[Batch, Callback]] = []
        self.submitted: list[Batch] = []
        self.leader = True
        self.leader_name = "s1"
        self.fail_next: list[int] = []  # fail reasons for the next answers, after applying
        self.drop_next = 0  # answers to swallow (lost callbacks)
        self.raise_on_submit = False

    def has_leader(self) -> bool:
        return self.leader

    def current_leader(self) -> str | None:
        return self.leader_name if self.leader else None

    def submit(self, batch: Batch, callback: Callback) -> None:
        if self.raise_on_submit:
            raise RuntimeError("queue broken")
        self.submitted.append(batch)
        self.pending.append((batch, callback))

    def commit_all(self) -> None:
        pending, self.pending = self.pending, []
        for batch, callback in pending:
            outcome = self.state.apply(batch)
            if self.drop_next:
                self.drop_next -= 1
            elif self.fail_next:
                callback(None, self.fail_next.pop(0))
            else:
                callback(outcome, 0)


async def until(condition: Callable[[], bool], what: str, limit: int = 500) -> None:
    """Let the loop run until ``condition`` holds (bounded in iterations, not time)."""
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def make(raft: FakeRaft, **kwargs: float) -> Proposer:
    proposer = Proposer(raft, "t", clock_ms=lambda: 1_000, **kwargs)  # type: ignore[arg-type]
    proposer.start()
    return proposer


def put(i: int) -> PutOp:
    return PutOp(b"k%d" % i, b"v%d" % i)


async def test_concurrent_writes_share_batches_and_get_their_own_results() -> None:
    raft = FakeRaft()
    proposer = make(raft, max_in_flight=1)
    tasks = [asyncio.create_task(proposer.propose(put(i))) for i in range(50)]
    await until(lambda: len(raft.pending) == 1, "first batch submitted")
    raft.commit_all()  # the first request went alone; the other 49 queued behind it
    await until(lambda: len(raft.pending) == 1, "second batch submitted")
    raft.commit_all()
    results = await asyncio.gather(*tasks)
    assert [len(b.ops) for b in raft.submitted] == [1, 49]
    assert sorted(r.revision for r in results) == list(range(2, 52))
    assert all(isinstance(r.result, PutResult) for r in results)
    await proposer.stop()


async def test_barrier_rides_an_empty_batch_and_waits_for_it() -> None:
    raft = FakeRaft()
    proposer = make(raft)
    barrier = asyncio.create_task(proposer.barrier())
    await until(lambda: len(raft.pending) == 1, "barrier submitted")
    assert not barrier.done()
    raft.commit_all()
    await barrier
    assert raft.submitted[0].ops == ()
    await proposer.stop()


async def test_unknown_outcome_is_retried_with_the_same_id_and_applied_once() -> None:
    raft = FakeRaft()
    raft.fail_next = [LEADER_CHANGED]
    proposer = make(raft)
    task = asyncio.create_task(proposer.propose(put(1)))
    await until(lambda: len(raft.pending) == 1, "submitted")
    raft.commit_all()  # applied, but the proposer hears "leader changed"
    await until(lambda: len(raft.pending) == 1, "resubmitted")
    raft.commit_all()
    applied = await task
    assert raft.submitted[0].batch_id == raft.submitted[1].batch_id
    assert applied.revision == 2 and raft.state.revision == 2  # not applied twice
    await proposer.stop()


async def test_lost_callback_is_retried_by_the_watchdog() -> None:
    raft = FakeRaft()
    raft.drop_next = 1
    proposer = make(raft, attempt_timeout=0.05)
    task = asyncio.create_task(proposer.propose(put(1)))
    await until(lambda: len(raft.pending) == 1, "submitted")
    raft.commit_all()
    await until(lambda: len(raft.pending) == 1, "resubmitted after silence")
    raft.commit_all()
    assert (await task).revision == 2
    await proposer.stop()


async def test_a_batch_sent_under_a_replaced_leader_is_proposed_again_at_once() -> None:
    raft = FakeRaft()
    proposer = make(raft, attempt_timeout=3600)  # only the leader change can bring a retry
    first = asyncio.create_task(proposer.propose(put(1)))
    await until(lambda: len(raft.pending) == 1, "submitted")
    raft.pending.clear()  # forwarded to a leader that died: never answered
    queued = asyncio.create_task(proposer.propose(put(2)))
    raft.leader_name = "s2"
    await until(lambda: len(raft.submitted) == 2, "resubmitted to the new leader")
    assert raft.submitted[1].batch_id == raft.submitted[0].batch_id
    raft.commit_all()
    await until(lambda: len(raft.pending) == 1, "the queued request went out next")
    raft.commit_all()
    assert [(await t).revision for t in (first, queued)] == [2, 3]
    await proposer.stop()


async def test_no_leader_fails_after_the_leader_wait() -> None:
    raft = FakeRaft()
    raft.leader = False
    proposer = make(raft, leader_wait=0.05)
    with pytest.raises(NoLeader):
        await proposer.propose(put(1))
    assert raft.submitted == []
    await proposer.stop()


async def test_a_request_that_never_commits_times_out() -> None:
    raft = FakeRaft()
    proposer = make(raft, request_timeout=0.1, attempt_timeout=0.05)
    with pytest.raises(RequestTimeout):
        await proposer.propose(put(1))
    await proposer.stop()


async def test_submit_failure_answers_the_callers() -> None:
    raft = FakeRaft()
    raft.raise_on_submit = True
    proposer = make(raft)
    with pytest.raises(RuntimeError, match="queue broken"):
        await proposer.propose(put(1))
    raft.raise_on_submit = False
    task = asyncio.create_task(proposer.propose(RangeOp(b"k1")))
    await until(lambda: len(raft.pending) == 1, "later request still flows")
    raft.commit_all()
    assert (await task).revision == 1
    await proposer.stop()
