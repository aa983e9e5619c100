"""`MvccState` against etcd v3's rules, one table per rule (long because it is tables).

Most tables start from `populated`, a store whose history is::

    rev 2  put a=5      rev 5  put c=4
    rev 3  put ab=2     rev 6  put a=1      (a: create 2, version 2)
    rev 4  put b=3      rev 7  delete b
                        rev 8  put b=6      (b: create 8, version 1 again)
"""

from __future__ import annotations

import pytest

from kubelite.store.mvcc import MvccState
from kubelite.store.types import (
    AutoCompactOp,
    Batch,
    ClaimLeadershipOp,
    CompactOp,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteOp,
    DeleteResult,
    Done,
    ErrorCode,
    Event,
    EventType,
    ExpireLeasesOp,
    KeyValue,
    LeaseGrantOp,
    LeaseGrantResult,
    LeaseKeepAliveOp,
    LeaseKeepAliveResult,
    LeaseRevokeOp,
    Op,
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

from .harness import ALL, Driver, kv

V, C, M, VAL, L = (
    CompareTarget.VERSION,
    CompareTarget.CREATE,
    CompareTarget.MOD,
    CompareTarget.VALUE,
    CompareTarget.LEASE,
)
EQ, NE, GT, LT = (
    CompareResult.EQUAL,
    CompareResult.NOT_EQUAL,
    CompareResult.GREATER,
    CompareResult.LESS,
)


def populate(d: Driver) -> Driver:
    for op in (
        PutOp(b"a", b"5"),
        PutOp(b"ab", b"2"),
        PutOp(b"b", b"3"),
        PutOp(b"c", b"4"),
        PutOp(b"a", b"1"),
        DeleteOp(b"b"),
        PutOp(b"b", b"6"),
    ):
        d.ok(op)
    assert d.state.revision == 8
    return d


@pytest.fixture
def populated() -> Driver:
    return populate(Driver())


def txn(*success: Op, compares: tuple[Compare, ...] = (), failure: tuple[Op, ...] = ()) -> TxnOp:
    return TxnOp(compares=compares, success=success, failure=failure)  # type: ignore[arg-type]


def keys_of(result: object) -> list[bytes]:
    assert isinstance(result, RangeResult), result
    return [kv.key for kv in result.kvs]


# == revisions ==================================================================================

# (ops applied in one batch, store revision after each op)
REVISIONS = [
    pytest.param([PutOp(b"a")], [2], id="first-write-is-revision-2"),
    pytest.param([PutOp(b"a"), PutOp(b"a"), PutOp(b"b")], [2, 3, 4], id="one-per-put"),
    pytest.param([PutOp(b"a", b"1"), PutOp(b"a", b"1")], [2, 3], id="same-value-still-counts"),
    pytest.param([txn(PutOp(b"a"), PutOp(b"b"), DeleteOp(b"c"))], [2], id="txn-is-one-write"),
    pytest.param([DeleteOp(b"a")], [1], id="delete-of-nothing-is-no-write"),
    pytest.param([txn(DeleteOp(b"a"), DeleteOp(b"b", b"\x00"))], [1], id="txn-deleting-nothing"),
    pytest.param([PutOp(b"a"), PutOp(b"b"), DeleteOp(b"a", b"\x00")], [2, 3, 4], id="delete-range"),
    pytest.param([PutOp(b"a"), txn(RangeOp(b"a"))], [2, 2], id="read-only-txn"),
    pytest.param([RangeOp(b"a")], [1], id="range-op"),
    pytest.param(
        [txn(PutOp(b"b"), compares=(Compare(b"a", V, GT, 0),))], [1], id="failed-compare-no-ops"
    ),
    pytest.param([PutOp(b"a"), txn(PutOp(b"b"), PutOp(b"b"))], [2, 2], id="rejected-txn"),
    pytest.param([PutOp(b"a"), CompactOp(2)], [2, 2], id="compaction"),
    pytest.param([LeaseGrantOp(5, id=1), LeaseKeepAliveOp(1)], [1, 1], id="lease-grant-renew"),
    pytest.param([LeaseGrantOp(5, id=1), LeaseRevokeOp(1)], [1, 1], id="revoke-without-keys"),
    pytest.param(
        [
            LeaseGrantOp(5, id=1),
            PutOp(b"a", lease=1),
            PutOp(b"b", lease=1),
            LeaseRevokeOp(1),
        ],
        [1, 2, 3, 4],
        id="revoke-deletes-keys-in-one-revision",
    ),
    pytest.param(
        [RegisterMemberOp(1, "s1", (), ()), ClaimLeadershipOp(1)], [1, 1], id="member-leader-ops"
    ),
]


@pytest.mark.parametrize(("ops", "revisions"), REVISIONS)
def test_revision_counts_write_txns_that_change_something(
    ops: list[Op], revisions: list[int]
) -> None:
    outcome = Driver().apply(*ops)
    assert [a.revision for a in outcome.applied] == revisions


# (ops on key a, the key-value of a afterwards)
KEY_METADATA = [
    pytest.param([PutOp(b"a", b"1")], kv(b"a", b"1", 2, 2, 1), id="created"),
    pytest.param([PutOp(b"a", b"1"), PutOp(b"a", b"2")], kv(b"a", b"2", 2, 3, 2), id="updated"),
    pytest.param(
        [PutOp(b"a", b"1"), PutOp(b"z"), PutOp(b"a", b"2")],
        kv(b"a", b"2", 2, 4, 2),
        id="other-keys-move-the-revision",
    ),
    pytest.param(
        [PutOp(b"a", b"1"), DeleteOp(b"a"), PutOp(b"a", b"2")],
        kv(b"a", b"2", 4, 4, 1),
        id="version-restarts-after-delete",
    ),
    pytest.param(
        [PutOp(b"a", b"1"), PutOp(b"a", ignore_value=True)],
        kv(b"a", b"1", 2, 3, 2),
        id="ignore-value-keeps-value",
    ),
    pytest.param(
        [LeaseGrantOp(9, id=7), PutOp(b"a", b"1", lease=7), PutOp(b"a", b"2", ignore_lease=True)],
        kv(b"a", b"2", 2, 3, 2, lease=7),
        id="ignore-lease-keeps-lease",
    ),
    pytest.param(
        [LeaseGrantOp(9, id=7), PutOp(b"a", b"1", lease=7), PutOp(b"a", b"2")],
        kv(b"a", b"2", 2, 3, 2),
        id="put-without-lease-drops-it",
    ),
    pytest.param([txn(PutOp(b"a", b"1"), PutOp(b"b"))], kv(b"a", b"1", 2, 2, 1), id="in-txn"),
]


@pytest.mark.parametrize(("ops", "expected"), KEY_METADATA)
def test_key_metadata(ops: list[Op], expected: KeyValue) -> None:
    d = Driver()
    d.ok(*ops)
    assert d.read(RangeOp(b"a")).kvs == (expected,)


def test_history_of_every_key(populated: Driver) -> None:
    assert populated.read().kvs == (
        kv(b"a", b"1", 2, 6, 2),
        kv(b"ab", b"2", 3, 3, 1),
        kv(b"b", b"6", 8, 8, 1),
        kv(b"c", b"4", 5, 5, 1),
    )
    assert populated.read(RangeOp(b"\x00", b"\x00", revision=4)).kvs == (
        kv(b"a", b"5", 2, 2, 1),
        kv(b"ab", b"2", 3, 3, 1),
        kv(b"b", b"3", 4, 4, 1),
    )


# == range ======================================================================================

# (range op on `populated`, keys returned, more, count)
RANGES = [
    pytest.param(RangeOp(b"a"), [b"a"], False, 1, id="one-key"),
    pytest.param(RangeOp(b"aa"), [], False, 0, id="missing-key"),
    pytest.param(RangeOp(b"a", b"b"), [b"a", b"ab"], False, 2, id="prefix"),
    pytest.param(RangeOp(b"ab", b"\x00"), [b"ab", b"b", b"c"], False, 3, id="from-key"),
    pytest.param(ALL, [b"a", b"ab", b"b", b"c"], False, 4, id="all-keys"),
    pytest.param(RangeOp(b"c", b"a"), [], False, 0, id="end-before-key"),
    pytest.param(RangeOp(b"\x00"), [], False, 0, id="nul-is-one-key-without-end"),
    pytest.param(RangeOp(b"\x00", b"\x00", limit=2), [b"a", b"ab"], True, 4, id="limit-truncates"),
    pytest.param(
        RangeOp(b"\x00", b"\x00", limit=4), [b"a", b"ab", b"b", b"c"], False, 4, id="limit=count"
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", limit=9), [b"a", b"ab", b"b", b"c"], False, 4, id="limit>count"
    ),
    pytest.param(RangeOp(b"\x00", b"\x00", count_only=True), [], False, 4, id="count-only"),
    pytest.param(
        RangeOp(b"\x00", b"\x00", count_only=True, limit=1), [], False, 4, id="count-only-limit"
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", sort_order=SortOrder.DESCEND),
        [b"c", b"b", b"ab", b"a"],
        False,
        4,
        id="key-descend",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", limit=2, sort_order=SortOrder.DESCEND),
        [b"c", b"b"],
        True,
        4,
        id="key-descend-limit",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", sort_order=SortOrder.ASCEND),
        [b"a", b"ab", b"b", b"c"],
        False,
        4,
        id="key-ascend",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD),
        [b"b", b"a", b"c", b"ab"],
        False,
        4,
        id="mod-descend",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", sort_order=SortOrder.ASCEND, sort_target=SortTarget.CREATE),
        [b"a", b"ab", b"c", b"b"],
        False,
        4,
        id="create-ascend",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", sort_target=SortTarget.MOD),
        [b"ab", b"c", b"a", b"b"],
        False,
        4,
        id="target-without-order-ascends",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", sort_order=SortOrder.ASCEND, sort_target=SortTarget.VALUE),
        [b"a", b"ab", b"c", b"b"],
        False,
        4,
        id="value-ascend",
    ),
    pytest.param(
        RangeOp(
            b"\x00", b"\x00", limit=1, sort_order=SortOrder.DESCEND, sort_target=SortTarget.VALUE
        ),
        [b"b"],
        True,
        4,
        id="value-descend-limit",
    ),
    pytest.param(
        RangeOp(
            b"\x00", b"\x00", limit=1, sort_order=SortOrder.DESCEND, sort_target=SortTarget.VERSION
        ),
        [b"a"],
        True,
        4,
        id="version-descend-limit",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", min_mod_revision=5), [b"a", b"b", b"c"], False, 4, id="min-mod"
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", max_mod_revision=5), [b"ab", b"c"], False, 4, id="max-mod"
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", min_create_revision=3),
        [b"ab", b"b", b"c"],
        False,
        4,
        id="min-create",
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", max_create_revision=3), [b"a", b"ab"], False, 4, id="max-create"
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", min_mod_revision=5, limit=1),
        [b"a"],
        True,
        4,
        id="filter-then-limit-count-unfiltered",
    ),
    pytest.param(RangeOp(b"\x00", b"\x00", revision=1), [], False, 0, id="at-revision-1"),
    pytest.param(
        RangeOp(b"\x00", b"\x00", revision=4), [b"a", b"ab", b"b"], False, 3, id="at-revision-4"
    ),
    pytest.param(
        RangeOp(b"\x00", b"\x00", revision=7), [b"a", b"ab", b"c"], False, 3, id="deleted-at-7"
    ),
    pytest.param(
        RangeOp(b"ab", b"\x00", revision=5, limit=1), [b"ab"], True, 3, id="past-from-key-limit"
    ),
]


@pytest.mark.parametrize(("op", "keys", "more", "count"), RANGES)
def test_range(populated: Driver, op: RangeOp, keys: list[bytes], more: bool, count: int) -> None:
    for result in (populated.read(op), populated.result(op)):  # direct read, and through the log
        assert (keys_of(result), result.more, result.count) == (keys, more, count)


def test_keys_only_blanks_values_and_keeps_the_rest() -> None:
    d = Driver()
    d.ok(LeaseGrantOp(9, id=7), PutOp(b"a", b"1", lease=7))
    assert d.read(RangeOp(b"a", keys_only=True)).kvs == (kv(b"a", b"", 2, 2, 1, lease=7),)


# == txn ========================================================================================


def test_txn_reads_see_earlier_writes_of_the_same_txn() -> None:
    d = Driver()
    d.ok(PutOp(b"a", b"old"))
    result = d.result(
        txn(
            RangeOp(b"a"),
            PutOp(b"a", b"new"),
            RangeOp(b"a"),
            RangeOp(b"a", revision=2),
            DeleteOp(b"b"),
            PutOp(b"c", b"1"),
            RangeOp(b"\x00", b"\x00", count_only=True),
        )
    )
    assert result == TxnResult(
        True,
        (
            RangeResult((kv(b"a", b"old", 2, 2, 1),), False, 1),
            PutResult(),
            RangeResult((kv(b"a", b"new", 2, 3, 2),), False, 1),
            RangeResult((kv(b"a", b"old", 2, 2, 1),), False, 1),  # an explicit revision: as it was
            DeleteResult(0),
            PutResult(),
            RangeResult((), False, 2),
        ),
    )
    assert d.state.revision == 3


def test_nested_compares_see_the_store_before_the_txn() -> None:
    a_is_absent = Compare(b"a", V, EQ, 0)
    result = Driver().result(
        txn(
            PutOp(b"a", b"1"),
            txn(RangeOp(b"a"), compares=(a_is_absent,), failure=(RangeOp(b"z"),)),
        )
    )
    # The nested compare is judged before the put, its range runs after it.
    assert result == TxnResult(
        True,
        (PutResult(), TxnResult(True, (RangeResult((kv(b"a", b"1", 2, 2, 1),), False, 1),))),
    )


def test_failure_branch_and_prev_kvs() -> None:
    d = Driver()
    d.ok(PutOp(b"a", b"1"), PutOp(b"b", b"2"))
    result = d.result(
        txn(
            PutOp(b"x"),
            compares=(Compare(b"a", VAL, EQ, b"1"), Compare(b"b", VAL, EQ, b"nope")),
            failure=(PutOp(b"a", b"3", prev_kv=True), DeleteOp(b"b", prev_kv=True)),
        )
    )
    assert result == TxnResult(
        False,
        (PutResult(kv(b"a", b"1", 2, 2, 1)), DeleteResult(1, (kv(b"b", b"2", 3, 3, 1),))),
    )


@pytest.fixture
def compared() -> Driver:
    """a: value 2, create 2, mod 3, version 2.  b: value 9, create 4, lease 7."""
    d = Driver()
    d.ok(LeaseGrantOp(10, id=7), PutOp(b"a", b"1"), PutOp(b"a", b"2"), PutOp(b"b", b"9", lease=7))
    return d


COMPARES = [
    pytest.param(Compare(b"a", VAL, EQ, b"2"), True, id="value-equal"),
    pytest.param(Compare(b"a", VAL, LT, b"3"), True, id="value-less"),
    pytest.param(Compare(b"a", VAL, GT, b"2"), False, id="value-not-greater"),
    pytest.param(Compare(b"z", VAL, EQ, b""), False, id="value-of-missing-key-never-holds"),
    pytest.param(Compare(b"z", VAL, NE, b"x"), False, id="missing-key-value-not-equal-fails-too"),
    pytest.param(Compare(b"z", V, EQ, 0), True, id="version-of-missing-key-is-0"),
    pytest.param(Compare(b"z", C, EQ, 0), True, id="create-of-missing-key-is-0"),
    pytest.param(Compare(b"z", M, LT, 1), True, id="mod-of-missing-key-is-0"),
    pytest.param(Compare(b"a", V, EQ, 2), True, id="version"),
    pytest.param(Compare(b"a", C, EQ, 2), True, id="create"),
    pytest.param(Compare(b"a", M, EQ, 3), True, id="mod"),
    pytest.param(Compare(b"a", M, GT, 3), False, id="mod-not-greater"),
    pytest.param(Compare(b"b", L, EQ, 7), True, id="lease"),
    pytest.param(Compare(b"a", L, EQ, 0), True, id="no-lease-is-0"),
    pytest.param(Compare(b"a", V, GT, 0, b"c"), True, id="range-every-key-holds"),
    pytest.param(Compare(b"a", V, EQ, 2, b"c"), False, id="range-one-key-fails"),
    pytest.param(Compare(b"a", V, GT, 0, b"\x00"), True, id="range-from-key"),
    pytest.param(Compare(b"x", V, EQ, 0, b"z"), True, id="empty-range-compares-a-zero-kv"),
    pytest.param(Compare(b"a", V, GT, b"5"), True, id="bytes-operand-for-int-target-is-0"),
    pytest.param(Compare(b"a", VAL, GT, 5), True, id="int-operand-for-value-is-empty"),
]


@pytest.mark.parametrize(("compare", "holds"), COMPARES)
def test_compare(compared: Driver, compare: Compare, holds: bool) -> None:
    result = compared.result(txn(compares=(compare,)))
    assert result == TxnResult(holds, ())


def test_all_compares_must_hold(compared: Driver) -> None:
    both = (Compare(b"a", V, EQ, 2), Compare(b"b", V, EQ, 5))
    assert compared.result(txn(compares=both)) == TxnResult(False, ())


# == compaction =================================================================================

# (compact at, read at, expected: "same" as before compacting, or an error code)
COMPACTED_READS = [
    pytest.param(5, 5, "same", id="at-cut"),
    pytest.param(5, 6, "same", id="after-cut"),
    pytest.param(5, 8, "same", id="newest"),
    pytest.param(5, 0, "same", id="current"),
    pytest.param(5, 4, ErrorCode.COMPACTED, id="just-below-cut"),
    pytest.param(5, 1, ErrorCode.COMPACTED, id="far-below-cut"),
    pytest.param(5, 9, ErrorCode.FUTURE_REV, id="future"),
    pytest.param(7, 7, "same", id="key-deleted-at-cut-stays-deleted"),
    pytest.param(8, 8, "same", id="cut-at-newest"),
    pytest.param(8, 7, ErrorCode.COMPACTED, id="below-newest-cut"),
    pytest.param(2, 2, "same", id="cut-at-first-write"),
]


@pytest.mark.parametrize(("cut", "at", "expected"), COMPACTED_READS)
def test_compaction_keeps_revisions_at_or_after_the_cut(
    populated: Driver, cut: int, at: int, expected: str | ErrorCode
) -> None:
    ops = [RangeOp(key, end, revision=at) for key, end in ((b"\x00", b"\x00"), (b"b", b""))]
    before = [populated.read(op) for op in ops]
    assert populated.result(CompactOp(cut)) == Done()
    for op, old in zip(ops, before, strict=True):
        want = old if expected == "same" else StoreError(expected)  # type: ignore[arg-type]
        assert populated.read(op) == want
        assert populated.result(txn(RangeOp(op.key, op.range_end, revision=at))) == (
            TxnResult(True, (want,)) if expected == "same" else want
        )


def test_events_since_after_compaction(populated: Driver) -> None:
    populated.ok(CompactOp(5))
    assert populated.state.events_since(4) == StoreError(ErrorCode.COMPACTED)
    assert populated.state.events_since(5) == (
        Event(EventType.PUT, kv(b"c", b"4", 5, 5, 1)),
        Event(EventType.PUT, kv(b"a", b"1", 2, 6, 2), kv(b"a", b"5", 2, 2, 1)),
        Event(EventType.DELETE, KeyValue(b"b", 0, 7, 0), kv(b"b", b"3", 4, 4, 1)),
        Event(EventType.PUT, kv(b"b", b"6", 8, 8, 1)),
    )
    assert populated.state.events_since(8) == (Event(EventType.PUT, kv(b"b", b"6", 8, 8, 1)),)
    assert populated.state.events_since(9) == ()
    populated.ok(CompactOp(8))
    assert populated.state.events_since(7) == StoreError(ErrorCode.COMPACTED)
    assert populated.state.events_since(8) == (Event(EventType.PUT, kv(b"b", b"6", 8, 8, 1)),)


def test_batch_outcome_carries_the_events_it_made() -> None:
    d = Driver()
    d.ok(PutOp(b"a", b"1"))
    outcome = d.apply(txn(PutOp(b"a", b"2"), PutOp(b"b", b"3")), DeleteOp(b"a"))
    assert outcome.events == (
        Event(EventType.PUT, kv(b"a", b"2", 2, 3, 2), kv(b"a", b"1", 2, 2, 1)),
        Event(EventType.PUT, kv(b"b", b"3", 3, 3, 1)),
        Event(EventType.DELETE, KeyValue(b"a", 0, 4, 0), kv(b"a", b"2", 2, 3, 2)),
    )


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param((PutOp(b"a", b"1"), CompactOp(5)), id="put-then-compact"),
        pytest.param((CompactOp(4), PutOp(b"a", b"1")), id="compact-then-put"),
        pytest.param(
            (ClaimLeadershipOp(1), PutOp(b"a", b"1"), AutoCompactOp(1, 5)),
            id="put-then-autocompact",
        ),
    ],
)
def test_batch_outcome_keeps_its_events_when_it_also_compacts(ops: tuple[Op, ...]) -> None:
    d = Driver()
    d.ok(PutOp(b"x"), PutOp(b"x"), PutOp(b"x"))
    outcome = d.apply(*ops)
    assert outcome.events == (Event(EventType.PUT, kv(b"a", b"1", 5, 5, 1)),)


# == errors =====================================================================================


def many(n: int) -> tuple[RangeOp, ...]:
    return tuple(RangeOp(b"k") for _ in range(n))


# (setup ops, op, error code); setup runs on `populated` (revision 8)
ERRORS = [
    pytest.param([], PutOp(b""), ErrorCode.EMPTY_KEY, id="empty-key-put"),
    pytest.param([], RangeOp(b""), ErrorCode.EMPTY_KEY, id="empty-key-range"),
    pytest.param([], DeleteOp(b"", b"\x00"), ErrorCode.EMPTY_KEY, id="empty-key-delete"),
    pytest.param(
        [], txn(compares=(Compare(b"", V, EQ, 0),)), ErrorCode.EMPTY_KEY, id="empty-key-compare"
    ),
    pytest.param(
        [], txn(failure=(PutOp(b""),)), ErrorCode.EMPTY_KEY, id="empty-key-branch-not-taken"
    ),
    pytest.param([], txn(txn(DeleteOp(b""))), ErrorCode.EMPTY_KEY, id="empty-key-nested"),
    pytest.param(
        [], PutOp(b"z", ignore_value=True), ErrorCode.KEY_NOT_FOUND, id="ignore-value-missing"
    ),
    pytest.param(
        [], PutOp(b"z", b"1", ignore_lease=True), ErrorCode.KEY_NOT_FOUND, id="ignore-lease-missing"
    ),
    pytest.param(
        [PutOp(b"z"), DeleteOp(b"z")],
        PutOp(b"z", ignore_value=True),
        ErrorCode.KEY_NOT_FOUND,
        id="ignore-value-deleted-key",
    ),
    pytest.param(
        [], txn(PutOp(b"z", ignore_value=True)), ErrorCode.KEY_NOT_FOUND, id="ignore-value-in-txn"
    ),
    pytest.param(
        [], PutOp(b"a", b"1", ignore_value=True), ErrorCode.VALUE_PROVIDED, id="value-provided"
    ),
    pytest.param(
        [],
        txn(PutOp(b"a", b"1", ignore_value=True)),
        ErrorCode.VALUE_PROVIDED,
        id="value-provided-txn",
    ),
    pytest.param(
        [], PutOp(b"a", lease=5, ignore_lease=True), ErrorCode.LEASE_PROVIDED, id="lease-provided"
    ),
    pytest.param([], PutOp(b"a", lease=5), ErrorCode.LEASE_NOT_FOUND, id="put-unknown-lease"),
    pytest.param(
        [LeaseGrantOp(5, id=5), LeaseRevokeOp(5)],
        PutOp(b"a", lease=5),
        ErrorCode.LEASE_NOT_FOUND,
        id="put-revoked-lease",
    ),
    pytest.param(
        [], txn(PutOp(b"a", lease=5)), ErrorCode.LEASE_NOT_FOUND, id="put-unknown-lease-txn"
    ),
    pytest.param([], LeaseKeepAliveOp(5), ErrorCode.LEASE_NOT_FOUND, id="renew-unknown-lease"),
    pytest.param([], LeaseRevokeOp(5), ErrorCode.LEASE_NOT_FOUND, id="revoke-unknown-lease"),
    pytest.param([], txn(*many(129)), ErrorCode.TOO_MANY_OPS, id="too-many-success-ops"),
    pytest.param([], txn(failure=many(129)), ErrorCode.TOO_MANY_OPS, id="too-many-failure-ops"),
    pytest.param(
        [],
        txn(compares=(Compare(b"a", V, EQ, 0),) * 129),
        ErrorCode.TOO_MANY_OPS,
        id="too-many-compares",
    ),
    pytest.param([], txn(txn(*many(129))), ErrorCode.TOO_MANY_OPS, id="too-many-nested-ops"),
    pytest.param([], txn(PutOp(b"k"), PutOp(b"k")), ErrorCode.DUPLICATE_KEY, id="dup-two-puts"),
    pytest.param(
        [],
        txn(failure=(PutOp(b"k"), PutOp(b"k"))),
        ErrorCode.DUPLICATE_KEY,
        id="dup-failure-branch",
    ),
    pytest.param(
        [], txn(PutOp(b"k"), DeleteOp(b"k")), ErrorCode.DUPLICATE_KEY, id="dup-put-then-delete"
    ),
    pytest.param(
        [], txn(DeleteOp(b"k"), PutOp(b"k")), ErrorCode.DUPLICATE_KEY, id="dup-delete-then-put"
    ),
    pytest.param(
        [],
        txn(PutOp(b"kk"), DeleteOp(b"k", b"l")),
        ErrorCode.DUPLICATE_KEY,
        id="dup-delete-range-covers-put",
    ),
    pytest.param(
        [], txn(PutOp(b"k"), txn(PutOp(b"k"))), ErrorCode.DUPLICATE_KEY, id="dup-nested-put-after"
    ),
    pytest.param(
        [], txn(txn(PutOp(b"k")), PutOp(b"k")), ErrorCode.DUPLICATE_KEY, id="dup-nested-put-before"
    ),
    pytest.param(
        [],
        txn(txn(PutOp(b"k"), failure=(PutOp(b"k"),)), txn(PutOp(b"k"), failure=(PutOp(b"k"),))),
        ErrorCode.DUPLICATE_KEY,
        id="dup-two-two-sided-nested-puts",
    ),
    pytest.param(
        [],
        txn(PutOp(b"abc"), txn(DeleteOp(b"a", b"b"))),
        ErrorCode.DUPLICATE_KEY,
        id="dup-nested-delete",
    ),
    pytest.param(
        [],
        txn(DeleteOp(b"a", b"b"), txn(PutOp(b"abc"))),
        ErrorCode.DUPLICATE_KEY,
        id="dup-delete-nested-put",
    ),
    pytest.param(
        [CompactOp(5)], RangeOp(b"a", revision=4), ErrorCode.COMPACTED, id="range-compacted"
    ),
    pytest.param(
        [CompactOp(5)],
        txn(PutOp(b"z"), RangeOp(b"a", revision=4)),
        ErrorCode.COMPACTED,
        id="txn-range-compacted",
    ),
    pytest.param([CompactOp(5)], CompactOp(5), ErrorCode.COMPACTED, id="compact-same-twice"),
    pytest.param([CompactOp(5)], CompactOp(3), ErrorCode.COMPACTED, id="compact-below-compacted"),
    pytest.param([], RangeOp(b"a", revision=9), ErrorCode.FUTURE_REV, id="range-future"),
    pytest.param(
        [], txn(PutOp(b"z"), RangeOp(b"a", revision=9)), ErrorCode.FUTURE_REV, id="txn-range-future"
    ),
    pytest.param([], CompactOp(9), ErrorCode.FUTURE_REV, id="compact-future"),
    pytest.param(
        [LeaseGrantOp(5, id=9)], LeaseGrantOp(5, id=9), ErrorCode.LEASE_EXISTS, id="lease-exists"
    ),
    pytest.param(
        [], LeaseGrantOp(9_000_000_001), ErrorCode.LEASE_TTL_TOO_LARGE, id="ttl-too-large"
    ),
    pytest.param(
        [ClaimLeadershipOp(2)], ClaimLeadershipOp(1), ErrorCode.STALE_EPOCH, id="claim-older-epoch"
    ),
    pytest.param([], ExpireLeasesOp(1, ()), ErrorCode.STALE_EPOCH, id="expire-unclaimed-epoch"),
    pytest.param(
        [ClaimLeadershipOp(2)], ExpireLeasesOp(1, ()), ErrorCode.STALE_EPOCH, id="expire-old-epoch"
    ),
    pytest.param(
        [ClaimLeadershipOp(2)],
        ExpireLeasesOp(3, ()),
        ErrorCode.STALE_EPOCH,
        id="expire-newer-epoch",
    ),
    pytest.param(
        [ClaimLeadershipOp(2)],
        AutoCompactOp(1, 5),
        ErrorCode.STALE_EPOCH,
        id="autocompact-old-epoch",
    ),
]


@pytest.mark.parametrize(("setup", "op", "code"), ERRORS)
def test_error(populated: Driver, setup: list[Op], op: Op, code: ErrorCode) -> None:
    populated.ok(*setup)
    before = populated.read(RangeOp(b"\x00", b"\x00"))
    revision = populated.state.revision
    outcome = populated.apply(op)
    assert outcome.applied[0].result == StoreError(code)
    assert (outcome.applied[0].revision, outcome.events) == (revision, ()), (
        "an error changes nothing"
    )
    assert populated.read(RangeOp(b"\x00", b"\x00")) == before


# Requests etcd accepts (several are rows of etcd's TestV3TxnDuplicateKeys).
ACCEPTED = [
    pytest.param(txn(*many(128)), id="128-ops"),
    pytest.param(txn(compares=(Compare(b"a", V, GT, 0),) * 128), id="128-compares"),
    pytest.param(txn(PutOp(b"k"), failure=(PutOp(b"k"),)), id="same-put-in-both-branches"),
    pytest.param(txn(txn(PutOp(b"k"), failure=(PutOp(b"k"),))), id="nested-same-put-both-branches"),
    pytest.param(
        txn(DeleteOp(b"abb", b"abc"), txn(PutOp(b"abc"), failure=(PutOp(b"abc"),))),
        id="delete-beside-put",
    ),
    pytest.param(
        txn(txn(DeleteOp(b"a", b"b")), txn(DeleteOp(b"a", b"b"), failure=(DeleteOp(b"a", b"b"),))),
        id="nested-deletes-overlap",
    ),
    pytest.param(
        txn(DeleteOp(b"abc"), DeleteOp(b"a", b"b"), DeleteOp(b"abc"), DeleteOp(b"a", b"b")),
        id="deletes-overlap",
    ),
    pytest.param(txn(PutOp(b"abc"), DeleteOp(b"abb", b"abc")), id="put-after-delete-range-end"),
    pytest.param(LeaseGrantOp(9_000_000_000, id=3), id="ttl-at-max"),
]


@pytest.mark.parametrize("op", ACCEPTED)
def test_accepted(populated: Driver, op: Op) -> None:
    assert not isinstance(populated.result(op), StoreError)


# == leases =====================================================================================


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        pytest.param(-5, 2, id="negative"),
        pytest.param(0, 2, id="zero"),
        pytest.param(1, 2, id="one"),
        pytest.param(2, 2, id="minimum"),
        pytest.param(3, 3, id="above-minimum"),
    ],
)
def test_lease_ttl_is_at_least_2s(asked: int, granted: int) -> None:
    d = Driver(now_ms=1000)
    assert d.result(LeaseGrantOp(asked, id=4)) == LeaseGrantResult(4, granted)
    assert d.state.lease_info(4, 1000).remaining_ms == granted * 1000  # type: ignore[union-attr]


def test_lease_ids_chosen_by_the_store_are_fresh_and_deterministic() -> None:
    grants = [LeaseGrantOp(5) for _ in range(5)]
    first, second = Driver(), Driver()
    first.ok(LeaseGrantOp(5, id=1))
    second.ok(LeaseGrantOp(5, id=1))
    ids = [a.result.id for a in first.apply(*grants).applied]  # type: ignore[union-attr]
    assert ids == [a.result.id for a in second.apply(*grants).applied]  # type: ignore[union-attr]
    assert len(set(ids)) == 5 and all(0 < i < 2**63 and i != 1 for i in ids)


def test_lease_attach_and_detach() -> None:
    d = Driver()
    d.ok(LeaseGrantOp(10, id=1), LeaseGrantOp(10, id=2))

    def keys(lease_id: int) -> tuple[bytes, ...]:
        info = d.state.lease_info(lease_id, 0)
        assert info is not None
        return info.keys

    d.ok(PutOp(b"a", lease=1), PutOp(b"b", lease=1), PutOp(b"c", lease=1))
    assert keys(1) == (b"a", b"b", b"c")
    d.ok(PutOp(b"a"), PutOp(b"b", lease=2), DeleteOp(b"c"), PutOp(b"d", lease=1))
    assert (keys(1), keys(2)) == ((b"d",), (b"b",))
    d.ok(PutOp(b"d", b"x", ignore_lease=True))
    assert keys(1) == (b"d",)


def test_revoke_deletes_every_attached_key_at_one_revision() -> None:
    d = Driver()
    d.ok(LeaseGrantOp(10, id=1), PutOp(b"b", lease=1), PutOp(b"a", b"x", lease=1), PutOp(b"c"))
    outcome = d.apply(LeaseRevokeOp(1))
    assert outcome.applied[0].result == Done()
    assert outcome.events == (
        Event(EventType.DELETE, KeyValue(b"a", 0, 5, 0), kv(b"a", b"x", 3, 3, 1, lease=1)),
        Event(EventType.DELETE, KeyValue(b"b", 0, 5, 0), kv(b"b", b"", 2, 2, 1, lease=1)),
    )
    assert keys_of(d.read()) == [b"c"]
    assert d.state.lease_info(1, 0) is None


@pytest.mark.parametrize(
    ("renew_at", "expire_at", "expired"),
    [
        pytest.param(None, 1999, False, id="before-ttl"),
        pytest.param(None, 2000, True, id="at-ttl"),
        pytest.param(1500, 2000, False, id="renewed"),
        pytest.param(1500, 3500, True, id="renewed-then-lapsed"),
    ],
)
def test_lease_expiry(renew_at: int | None, expire_at: int, expired: bool) -> None:
    d = Driver()
    d.ok(ClaimLeadershipOp(1), LeaseGrantOp(2, id=1), PutOp(b"a", lease=1), now_ms=0)
    if renew_at is not None:
        assert d.result(LeaseKeepAliveOp(1), now_ms=renew_at) == LeaseKeepAliveResult(1, 2)
    assert d.state.expired_leases(expire_at) == ((1,) if expired else ())
    assert d.result(ExpireLeasesOp(1, (1, 42)), now_ms=expire_at) == Done()
    assert (keys_of(d.read()), d.state.lease_info(1, expire_at) is None) == (
        ([], True) if expired else ([b"a"], False)
    )


def test_expiring_several_leases_takes_one_revision_per_lease() -> None:
    d = Driver()
    d.ok(ClaimLeadershipOp(1), LeaseGrantOp(2, id=1), LeaseGrantOp(2, id=2), LeaseGrantOp(60, id=3))
    d.ok(PutOp(b"x", lease=2), PutOp(b"y", lease=1), PutOp(b"z", lease=3))
    outcome = d.apply(ExpireLeasesOp(1, (2, 1, 3)), now_ms=5000)
    assert [(e.type, e.kv.key, e.revision) for e in outcome.events] == [
        (EventType.DELETE, b"x", 5),
        (EventType.DELETE, b"y", 6),
    ]
    assert sorted(d.state.leases) == [3], "lease 3 is not due yet"


@pytest.mark.parametrize(
    ("epoch", "extension_ms", "claim_at", "deadline"),
    [
        pytest.param(2, 0, 8000, 18_000, id="new-epoch-full-ttl-from-now"),
        pytest.param(2, 500, 8000, 18_500, id="new-epoch-plus-extension"),
        pytest.param(2, 0, 2000, 15_000, id="new-epoch-never-shortens"),
        pytest.param(1, 5000, 8000, 15_000, id="same-epoch-no-extension"),
        pytest.param(0, 5000, 8000, 15_000, id="stale-epoch-no-extension"),
    ],
)
def test_claiming_leadership_extends_leases(
    epoch: int, extension_ms: int, claim_at: int, deadline: int
) -> None:
    d = Driver()
    d.ok(ClaimLeadershipOp(1), LeaseGrantOp(10, id=1), now_ms=0)
    d.ok(LeaseKeepAliveOp(1), now_ms=5000)  # deadline 15 000
    d.apply(ClaimLeadershipOp(epoch, lease_extension_ms=extension_ms), now_ms=claim_at)
    assert d.state.lease_info(1, 0).remaining_ms == deadline  # type: ignore[union-attr]


def test_autocompact_below_the_compacted_revision_is_a_no_op(populated: Driver) -> None:
    populated.ok(ClaimLeadershipOp(1), CompactOp(5))
    assert populated.result(AutoCompactOp(1, 4)) == Done()
    assert populated.state.compact_revision == 5
    assert populated.result(AutoCompactOp(1, 7)) == Done()
    assert populated.state.compact_revision == 7
    assert populated.result(AutoCompactOp(1, 99)) == StoreError(ErrorCode.FUTURE_REV)


# == de-duplication =============================================================================


@pytest.mark.parametrize(
    ("later_batch_at", "remembered"),
    [
        pytest.param(60_000, True, id="within-window"),
        pytest.param(120_000, True, id="at-window-edge"),
        pytest.param(120_001, False, id="past-window"),
    ],
)
def test_dedupe_window(later_batch_at: int, remembered: bool) -> None:
    state = MvccState()
    first = state.apply(Batch("x", 0, (PutOp(b"a", b"1"),)))
    state.apply(Batch("other", later_batch_at, (PutOp(b"b"),)))
    again = state.apply(Batch("x", 0, (PutOp(b"a", b"1"),)))
    if remembered:
        assert (again.applied, again.duplicate, again.events) == (first.applied, True, ())
        assert state.revision == 3
    else:
        assert not again.duplicate and again.applied[0].revision == 4


@pytest.mark.parametrize(
    ("batches_after", "remembered"),
    [pytest.param(4095, True, id="4096-remembered"), pytest.param(4096, False, id="4097th-evicts")],
)
def test_dedupe_remembers_at_most_4096_batches(batches_after: int, remembered: bool) -> None:
    state = MvccState()
    first = state.apply(Batch("x", 0, (LeaseKeepAliveOp(1),)))
    for i in range(batches_after):
        state.apply(Batch(f"b{i}", 0, (LeaseKeepAliveOp(1),)))
    assert state.apply(Batch("x", 0, (PutOp(b"a"),))).duplicate is remembered
    assert first.applied[0].result == StoreError(ErrorCode.LEASE_NOT_FOUND)


def test_duplicate_returns_the_first_outcome_even_for_different_ops() -> None:
    state = MvccState()
    first = state.apply(Batch("x", 0, (PutOp(b""), PutOp(b"a", b"1"))))
    again = state.apply(Batch("x", 5, (PutOp(b"a", b"2"),)))
    assert (again.applied, again.duplicate) == (first.applied, True)
    assert state.read_range(RangeOp(b"a")).kvs[0].value == b"1"  # type: ignore[union-attr]


def test_empty_batch_is_a_read_barrier_and_not_remembered() -> None:
    state = MvccState()
    assert state.apply(Batch("x", 0, ())).applied == ()
    assert state.apply(Batch("x", 0, (PutOp(b"a"),))).duplicate is False
    assert state.revision == 2


def test_compaction_prunes_old_versions_a_bounded_number_of_keys_per_batch() -> None:
    from kubelite.store.mvcc import PRUNE_PER_BATCH

    d = Driver()
    keys = 2 * PRUNE_PER_BATCH + 10
    for start in range(0, keys, 500):
        d.ok(*(PutOp(b"k%06d" % i, b"v") for i in range(start, min(start + 500, keys))))
    d.ok(DeleteOp(b"k", b"l"))
    d.ok(PutOp(b"other", b"1"))
    d.ok(CompactOp(d.state.revision))
    held = [len(d.state.keyspace._keys)]
    for _ in range(3):
        d.ok(PutOp(b"other", b"2"))  # any later batch prunes some more
        held.append(len(d.state.keyspace._keys))

    assert held == [keys + 1, keys + 1 - PRUNE_PER_BATCH, 11, 1]
    assert d.read(RangeOp(b"k", b"l")).kvs == ()
