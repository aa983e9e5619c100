"""Apply is total: whatever the Raft log holds, `MvccState.apply` answers and stays usable.

The log is written by our own proposer, but a bug there, a version skew between members or a
corrupt entry must not stop every member at the same entry. So: arbitrary objects where ops
belong, wrong field types, None, negative and huge numbers, txns nested thousands deep. For
every batch, apply must return one `Applied` per op without raising, and afterwards a plain
put and range must still work (the machine is not wedged).

Ops whose fields have the wrong type are refused (INVALID) before they write anything, so no op
can leave half its writes behind.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kubelite.store.mvcc import MvccState
from kubelite.store.types import (
    Applied,
    AutoCompactOp,
    Batch,
    BatchOutcome,
    ClaimLeadershipOp,
    CompactOp,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteOp,
    DeleteResult,
    Done,
    Event,
    EventType,
    ExpireLeasesOp,
    LeaseGrantOp,
    LeaseGrantResult,
    LeaseKeepAliveOp,
    LeaseKeepAliveResult,
    LeaseRevokeOp,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    RegisterMemberOp,
    SortOrder,
    SortTarget,
    StoreError,
    TxnOp,
    TxnResult,
)

from .harness import ALL, canonical_dump

RESULTS = (
    RangeResult,
    PutResult,
    DeleteResult,
    TxnResult,
    LeaseGrantResult,
    LeaseKeepAliveResult,
    Done,
    StoreError,
)
PROBE_KEYS = (b"a", b"b", b"\x00", b"fresh")
FUZZ_NOW_MS = 10_000


class Hostile:
    """An object that fails every way it can be used."""

    def __bool__(self) -> bool:
        raise ValueError("no truth")

    def __len__(self) -> int:
        raise ValueError("no len")

    def __hash__(self) -> int:
        raise ValueError("no hash")

    def __lt__(self, other: object) -> bool:
        raise ValueError("no order")

    def __iter__(self) -> Any:
        raise ValueError("no iter")

    def __repr__(self) -> str:
        return "Hostile()"


def seeded() -> MvccState:
    """A store with keys, a lease that is due at FUZZ_NOW_MS, a leader and a compaction."""
    state = MvccState()
    state.apply(
        Batch(
            "seed",
            0,
            (
                ClaimLeadershipOp(1),
                LeaseGrantOp(2, id=1),
                PutOp(b"a", b"1"),
                PutOp(b"b", b"2", lease=1),
                PutOp(b"c", b"3"),
                CompactOp(2),
            ),
        )
    )
    return state


def nested(depth: int) -> TxnOp:
    op = TxnOp(success=(PutOp(b"deep"),))
    for _ in range(depth):
        op = TxnOp(success=(op,))
    return op


# -- well-typed but odd ---------------------------------------------------------------------------

ints = st.one_of(
    st.integers(-3, 12), st.integers(), st.sampled_from((2**63 - 1, 2**63, -(2**63), 10**30))
)
keys = st.one_of(
    st.sampled_from((b"a", b"b", b"c", b"", b"\x00", b"\xff" * 3)), st.binary(max_size=4)
)
words = st.text(max_size=4)


@st.composite
def odd_txns(draw: st.DrawFn, depth: int = 2) -> TxnOp:
    children = [odd_ranges, odd_puts, odd_deletes]
    if depth:
        children.append(odd_txns(depth - 1))
    branch = st.lists(st.one_of(children), max_size=3).map(tuple)
    compare = st.builds(
        Compare,
        key=keys,
        target=st.sampled_from(CompareTarget),
        result=st.sampled_from(CompareResult),
        operand=st.one_of(ints, keys),
        range_end=keys,
    )
    return TxnOp(
        compares=tuple(draw(st.lists(compare, max_size=2))),
        success=draw(branch),
        failure=draw(branch),
    )


odd_ranges = st.builds(
    RangeOp,
    key=keys,
    range_end=keys,
    limit=ints,
    revision=ints,
    sort_order=st.sampled_from(SortOrder),
    sort_target=st.sampled_from(SortTarget),
    keys_only=st.booleans(),
    count_only=st.booleans(),
    min_mod_revision=ints,
    max_mod_revision=ints,
    min_create_revision=ints,
    max_create_revision=ints,
)
odd_puts = st.builds(
    PutOp,
    key=keys,
    value=keys,
    lease=ints,
    prev_kv=st.booleans(),
    ignore_value=st.booleans(),
    ignore_lease=st.booleans(),
)
odd_deletes = st.builds(DeleteOp, key=keys, range_end=keys, prev_kv=st.booleans())
not_ops = st.one_of(
    st.none(),
    ints,
    words,
    keys,
    st.builds(object),
    st.builds(Hostile),
    st.just(Batch("inner", 0, (PutOp(b"a"),))),
    st.sampled_from((PutOp, TxnOp)),  # classes, not instances
)
odd_ops = st.one_of(
    odd_puts,
    odd_deletes,
    odd_ranges,
    odd_txns(),
    st.builds(CompactOp, revision=ints),
    st.builds(LeaseGrantOp, ttl=ints, id=ints),
    st.builds(LeaseKeepAliveOp, id=ints),
    st.builds(LeaseRevokeOp, id=ints),
    st.builds(
        RegisterMemberOp, ints, words, st.lists(words).map(tuple), st.lists(words).map(tuple)
    ),
    st.builds(ClaimLeadershipOp, epoch=ints, lease_extension_ms=ints),
    # Unique ids: a repeated id is the pinned bug test_expire_with_a_repeated_lease_id_...
    st.builds(ExpireLeasesOp, epoch=ints, ids=st.lists(ints, unique=True, max_size=3).map(tuple)),
    st.builds(AutoCompactOp, epoch=ints, revision=ints),
    not_ops,
)
batches_of = st.lists(st.lists(odd_ops, max_size=5), min_size=1, max_size=3)


def apply_all(state: MvccState, batches: list[list[Any]], depth: int | None) -> None:
    """Apply the batches (plus a deep txn if asked); check apply's own promises each time."""
    if depth is not None:
        batches = [*batches, [nested(depth)]]
    for i, ops in enumerate(batches):
        outcome = state.apply(Batch(f"fuzz-{i}", FUZZ_NOW_MS + i, tuple(ops)))
        assert isinstance(outcome, BatchOutcome)
        assert len(outcome.applied) == len(ops)
        for applied in outcome.applied:
            assert isinstance(applied, Applied)
            assert isinstance(applied.result, RESULTS)
            assert isinstance(applied.revision, int)


def assert_not_wedged(state: MvccState) -> None:
    """Plain puts and ranges work, and history is still a history."""
    for key in PROBE_KEYS:
        revision = state.revision
        outcome = state.apply(
            Batch(f"probe-{key!r}-{revision}", FUZZ_NOW_MS + 100, (PutOp(key, b"p"),))
        )
        assert outcome.applied == (Applied(PutResult(), revision + 1),), outcome
        found = state.read_range(RangeOp(key))
        assert isinstance(found, RangeResult) and len(found.kvs) == 1, found
        assert (found.kvs[0].value, found.kvs[0].mod_revision) == (b"p", revision + 1)
        assert outcome.events[-1].kv == found.kvs[0]
    everything = state.read_range(ALL)
    assert isinstance(everything, RangeResult)
    for kv in everything.kvs:
        assert isinstance(kv.key, bytes) and isinstance(kv.value, bytes), kv
        assert kv.mod_revision <= state.revision, f"{kv} is newer than the store"
    events = state.events_since(max(state.compact_revision, 1))
    assert not isinstance(events, StoreError)
    previous: dict[bytes, Event] = {}
    for event in events:
        assert event.revision <= state.revision, f"{event} is newer than the store"
        before = previous.get(event.kv.key)
        previous[event.kv.key] = event
        if before is None:
            continue  # older history may be compacted away
        assert event.revision > before.revision, f"two changes of {event.kv.key!r} at one revision"
        if event.type is EventType.PUT:
            assert event.kv.version == before.kv.version + 1, (before, event)  # tombstones are 0


@given(batches=batches_of, depth=st.one_of(st.none(), st.sampled_from((0, 1, 40, 300, 3000))))
def test_apply_survives_odd_values_and_non_ops(batches: list[list[Any]], depth: int | None) -> None:
    state = seeded()
    apply_all(state, batches, depth)
    assert_not_wedged(state)


# -- wrong field types ---------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    words,
    st.lists(st.integers(), max_size=2),
    st.builds(object),
    st.builds(Hostile),
)


def maybe_junk(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, junk)


ill_typed_compares = st.builds(
    Compare,
    key=maybe_junk(keys),
    target=maybe_junk(st.sampled_from(CompareTarget)),
    result=maybe_junk(st.sampled_from(CompareResult)),
    operand=maybe_junk(ints),
)
ill_typed_ops = st.one_of(
    st.builds(
        PutOp,
        key=maybe_junk(keys),
        value=maybe_junk(keys),
        lease=maybe_junk(ints),
        prev_kv=maybe_junk(st.booleans()),
        ignore_value=maybe_junk(st.booleans()),
        ignore_lease=maybe_junk(st.booleans()),
    ),
    st.builds(DeleteOp, key=maybe_junk(keys), range_end=maybe_junk(keys)),
    st.builds(
        RangeOp,
        key=maybe_junk(keys),
        range_end=maybe_junk(keys),
        limit=maybe_junk(ints),
        revision=maybe_junk(ints),
        sort_order=maybe_junk(st.sampled_from(SortOrder)),
        sort_target=maybe_junk(st.sampled_from(SortTarget)),
    ),
    st.builds(
        TxnOp,
        compares=maybe_junk(st.lists(maybe_junk(ill_typed_compares), max_size=2).map(tuple)),
        success=maybe_junk(st.lists(maybe_junk(odd_puts), max_size=3).map(tuple)),
        failure=maybe_junk(st.lists(maybe_junk(odd_ranges), max_size=3).map(tuple)),
    ),
    st.builds(LeaseGrantOp, ttl=maybe_junk(ints), id=maybe_junk(ints)),
    st.builds(LeaseKeepAliveOp, id=maybe_junk(ints)),
    st.builds(LeaseRevokeOp, id=maybe_junk(ints)),
    st.builds(CompactOp, revision=maybe_junk(ints)),
    st.builds(ClaimLeadershipOp, epoch=maybe_junk(ints), lease_extension_ms=maybe_junk(ints)),
    st.builds(ExpireLeasesOp, epoch=maybe_junk(ints), ids=maybe_junk(st.lists(ints).map(tuple))),
    st.builds(AutoCompactOp, epoch=maybe_junk(ints), revision=maybe_junk(ints)),
    odd_ops,
)


@given(batches=st.lists(st.lists(ill_typed_ops, max_size=5), min_size=1, max_size=3))
def test_apply_never_raises_on_ill_typed_ops(batches: list[list[Any]]) -> None:
    apply_all(seeded(), batches, depth=None)


@example(batches=[[PutOp(b"a", None)]])  # type: ignore[arg-type]
@example(batches=[[PutOp("k", b"1")]])  # type: ignore[arg-type]
@given(batches=st.lists(st.lists(ill_typed_ops, max_size=5), min_size=1, max_size=3))
def test_ill_typed_ops_do_not_wedge_the_machine(batches: list[list[Any]]) -> None:
    state = seeded()
    apply_all(state, batches, depth=None)
    assert_not_wedged(state)


def _orphaned_key() -> MvccState:
    """Key a still names lease 7 after a failed expiry removed the lease (a pinned bug)."""
    state = MvccState()
    state.apply(Batch("s1", 0, (ClaimLeadershipOp(1), LeaseGrantOp(2, id=7), PutOp(b"a", lease=7))))
    state.apply(Batch("s2", 5000, (ExpireLeasesOp(1, (7, 7)),)))
    return state


def _fresh() -> MvccState:
    return MvccState()


def _with_a() -> MvccState:
    state = MvccState()
    state.apply(Batch("s", 0, (PutOp(b"a", b"1"),)))
    return state


FAILED_OPS = [
    pytest.param(
        _fresh,
        PutOp("k", b"1"),  # type: ignore[arg-type]
        id="str-key-on-empty-store-blocks-every-later-write",
    ),
    pytest.param(
        _with_a,
        PutOp(b"a", None),  # type: ignore[arg-type]
        id="none-value-wedges-the-key",
    ),
    pytest.param(
        _with_a,
        TxnOp(success=(PutOp(b"b"), RangeOp(b"b", sort_order=SortOrder.DESCEND, sort_target=9))),  # type: ignore[arg-type]
        id="exception-mid-txn-keeps-earlier-writes",
    ),
    pytest.param(
        _orphaned_key,
        PutOp(b"a", b"x", ignore_lease=True),
        id="well-typed-ignore-lease-put-on-orphaned-key",
    ),
]


@pytest.mark.parametrize(("make_state", "op"), FAILED_OPS)
def test_a_failed_op_leaves_no_trace(make_state: Any, op: Any) -> None:
    state = make_state()
    before = canonical_dump(state, 0)
    outcome = state.apply(Batch("bad", 0, (op,)))
    if isinstance(outcome.applied[0].result, StoreError):
        assert canonical_dump(state, 0) == before
        assert outcome.events == ()
    assert_not_wedged(state)


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param(Batch("x", None, (PutOp(b"a"),)), id="now-ms-none"),  # type: ignore[arg-type]
        pytest.param(Batch(["x"], 0, (PutOp(b"a"),)), id="unhashable-batch-id"),  # type: ignore[arg-type]
        pytest.param(Batch("x", 0, None), id="ops-not-a-tuple"),  # type: ignore[arg-type]
    ],
)
def test_apply_is_total_for_ill_typed_batch_fields(batch: Batch) -> None:
    state = MvccState()
    assert isinstance(state.apply(batch), BatchOutcome)
    assert_not_wedged(state)
