"""Properties of `MvccState` against the naive reference model (``reference.py``).

The stateful test drives three stores with the same random batches: the state under test,
a twin `MvccState` that is never snapshotted, and the reference. After every batch the
outcomes (results, revisions, events) must be equal; in between, it plays the leader's loop
(claims after elections, expiry of due leases, clocks that jump back), reads at random past
revisions, watches from random revisions, inspects leases, re-submits old batches, and
replaces the state under test by a pickle round trip (Raft snapshots are pickles). At the
end all three must show the same canonical dump.

Two plain properties say the same about determinism and snapshots without the reference.

Compactions share batches with other ops, as group commit makes them do in a running store.
"""

from __future__ import annotations

import pickle

from hypothesis import event, given, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from kubelite.store.mvcc import MvccState
from kubelite.store.types import (
    Batch,
    BatchOutcome,
    ClaimLeadershipOp,
    ExpireLeasesOp,
    LeaseGrantOp,
    LeaseGrantResult,
    Op,
    StoreError,
)

from .harness import canonical_dump
from .reference import ReferenceStore
from .strategies import FIXED_LEASES, Context, ops, put_ops, range_ops

# Whole seconds make "now == deadline" happen; 1 and 999 land beside it. A step back is a new
# leader whose clock is behind; 130 s outlives every lease and the de-duplication window.
CLOCK_STEPS_MS = (0, 1, 999, 1000, 1000, 2000, 2500, -1500, 130_000)


def _auto_lease_ids(batch: Batch, outcome: BatchOutcome) -> list[int]:
    """Ids the store picked for ``LeaseGrantOp(id=0)``, in order."""
    return [
        a.result.id
        for op, a in zip(batch.ops, outcome.applied, strict=True)
        if isinstance(op, LeaseGrantOp) and op.id == 0 and isinstance(a.result, LeaseGrantResult)
    ]


def assert_same_outcome(batch: Batch, actual: BatchOutcome, expected: BatchOutcome) -> None:
    if actual == expected:
        return
    lines = [f"batch {batch.batch_id} at {batch.now_ms} ms differs from the reference:"]
    if len(actual.applied) == len(expected.applied):
        for op, got, want in zip(batch.ops, actual.applied, expected.applied, strict=True):
            if got != want:
                lines += [f"  op:       {op!r}", f"  store:    {got!r}", f"  expected: {want!r}"]
    else:
        lines.append(f"  {len(actual.applied)} results, expected {len(expected.applied)}")
    if actual.events != expected.events:
        lines += [
            f"  store events:    {actual.events!r}",
            f"  expected events: {expected.events!r}",
        ]
    if actual.duplicate != expected.duplicate:
        lines.append(f"  duplicate={actual.duplicate}, expected {expected.duplicate}")
    raise AssertionError("\n".join(lines))


def usable(drawn: list[Op]) -> tuple[Op, ...]:
    return tuple(drawn)


class StoreVersusReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = MvccState()
        self.twin = MvccState()
        self.ref = ReferenceStore()
        self.now_ms = 0
        self.sent: list[Batch] = []
        self.granted: list[int] = []
        self.context = Context()

    def refresh_context(self) -> None:
        """What the op strategies draw against (they find it as ``runner.context``)."""
        live = self.ref.live_in_range(b"\x00", b"\x00", None)
        self.context = Context(
            revision=self.ref.revision,
            lease_ids=(*FIXED_LEASES, *self.granted[-2:]),
            leader_epoch=self.ref.leader_epoch,
            boundaries=tuple(
                sorted({r for kv in live for r in (kv.create_revision, kv.mod_revision)})
            ),
        )

    def send(self, batch: Batch) -> None:
        note(f"apply {batch!r}")
        actual = self.state.apply(batch)
        assert self.twin.apply(batch) == actual, "two states fed the same batch disagree"
        auto_ids = _auto_lease_ids(batch, actual)
        assert_same_outcome(batch, actual, self.ref.apply(batch, auto_ids))
        self.granted += auto_ids
        self.refresh_context()
        for op, applied in zip(batch.ops, actual.applied, strict=True):
            outcome = applied.result
            what = outcome.code.name if isinstance(outcome, StoreError) else "ok"
            event(f"{type(op).__name__} -> {what}")

    @initialize(data=st.data())
    def seed(self, data: st.DataObject) -> None:
        """Start with a leader, leases 1-3 and a few keys, so early steps have data to hit."""
        grants = [LeaseGrantOp(ttl, id=i) for i, ttl in zip(FIXED_LEASES, (2, 4, 30), strict=True)]
        puts = data.draw(st.lists(put_ops, min_size=1, max_size=6), label="seed")
        self.send_ops(ClaimLeadershipOp(1), *grants, *usable(puts))

    def send_ops(self, *ops: Op) -> None:
        batch = Batch(f"b{len(self.sent)}", self.now_ms, tuple(ops))
        self.sent.append(batch)
        self.send(batch)

    def apply_random_batch(self, data: st.DataObject, advance: int) -> None:
        drawn = data.draw(st.lists(ops, max_size=5), label="ops")
        self.now_ms = max(self.now_ms + advance, 0)
        self.send_ops(*usable(drawn))

    # Two rules for the same step: rules are picked uniformly, and writing is the point.
    @rule(data=st.data(), advance=st.sampled_from(CLOCK_STEPS_MS))
    def apply_batch(self, data: st.DataObject, advance: int) -> None:
        self.apply_random_batch(data, advance)

    @rule(data=st.data(), advance=st.sampled_from(CLOCK_STEPS_MS))
    def apply_another_batch(self, data: st.DataObject, advance: int) -> None:
        self.apply_random_batch(data, advance)

    @rule(
        advance=st.sampled_from(CLOCK_STEPS_MS),
        elected=st.booleans(),
        extension_ms=st.sampled_from((0, 1500)),
    )
    def leader_tick(self, advance: int, elected: bool, extension_ms: int) -> None:
        """What the leader's loop proposes: a claim after an election, then the due leases."""
        self.now_ms = max(self.now_ms + advance, 0)
        epoch = self.ref.leader_epoch + elected
        claim = [ClaimLeadershipOp(epoch, extension_ms)] if elected else []
        self.send_ops(*claim, ExpireLeasesOp(epoch, self.ref.expired_leases(self.now_ms)))

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def resubmit_old_batch(self, data: st.DataObject) -> None:
        self.send(data.draw(st.sampled_from(self.sent), label="resubmitted"))

    @rule(
        data=st.data(),
        later_ms=st.sampled_from((0, 1999, 2000, 6000)),
        limit=st.sampled_from((1, 1000)),
    )
    def observe(self, data: st.DataObject, later_ms: int, limit: int) -> None:
        """Read at a random (often past) revision, watch from one, look at the leases."""
        for read in data.draw(st.lists(range_ops, max_size=6), label="reads"):
            assert self.state.read_range(read) == self.ref.read_range(read), read
        revision = data.draw(st.integers(1, self.ref.revision + 1), label="watch from")
        assert self.state.events_since(revision) == self.ref.events_since(revision)
        at = self.now_ms + later_ms
        for lease_id in sorted(set(self.ref.leases) | set(self.state.leases)):
            assert self.state.lease_info(lease_id, at) == self.ref.lease_info(lease_id, at)
        assert self.state.expired_leases(at, limit) == self.ref.expired_leases(at, limit)

    @rule()
    def snapshot_and_restore(self) -> None:
        before = canonical_dump(self.state, self.now_ms)
        self.state = pickle.loads(pickle.dumps(self.state))
        assert canonical_dump(self.state, self.now_ms) == before

    @invariant()
    def counters_match(self) -> None:
        store, ref = self.state, self.ref
        assert (store.revision, store.compact_revision, store.leader_epoch) == (
            ref.revision,
            ref.compact_revision,
            ref.leader_epoch,
        )
        assert (store.keyspace.live_keys, store.keyspace.live_bytes) == ref.live_totals()
        recounted = pickle.loads(pickle.dumps(store.keyspace)).stored_bytes  # from the contents
        assert store.keyspace.stored_bytes == recounted
        assert sorted(store.leases) == sorted(ref.leases)

    def teardown(self) -> None:
        dump = canonical_dump(self.state, self.now_ms)
        assert dump == canonical_dump(self.twin, self.now_ms), "state and twin diverged"
        assert dump == canonical_dump(self.ref, self.now_ms), "state and reference diverged"


TestStoreVersusReference = StoreVersusReference.TestCase


# -- determinism and snapshots, as plain properties ----------------------------------------------


@st.composite
def batch_lists(draw: st.DrawFn) -> list[Batch]:
    batches = []
    now = 0
    for i in range(draw(st.integers(1, 8))):
        now = max(now + draw(st.sampled_from(CLOCK_STEPS_MS)), 0)
        drawn = draw(st.lists(ops, max_size=4))  # drawn against strategies.STATIC
        batches.append(Batch(f"b{i}", now, usable(drawn)))
    return batches


@given(batches=batch_lists())
def test_same_batches_give_identical_states(batches: list[Batch]) -> None:
    first, second = MvccState(), MvccState()
    for batch in batches:
        assert first.apply(batch) == second.apply(batch)
    now = batches[-1].now_ms
    assert canonical_dump(first, now) == canonical_dump(second, now)


@given(batches=batch_lists(), data=st.data())
def test_snapshot_midway_then_continuing_gives_same_results(
    batches: list[Batch], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(batches)), label="snapshot after batch")
    straight, snapshotted = MvccState(), MvccState()
    for batch in batches[:cut]:
        assert straight.apply(batch) == snapshotted.apply(batch)
    snapshotted = pickle.loads(pickle.dumps(snapshotted))
    for batch in batches[cut:] + batches[:cut]:  # re-sent old batches exercise dedupe memory
        assert straight.apply(batch) == snapshotted.apply(batch)
    now = batches[-1].now_ms
    assert canonical_dump(straight, now) == canonical_dump(snapshotted, now)
