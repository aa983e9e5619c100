"""Edge cases where etcd's answer is easy to get wrong; each row states etcd's answer.

etcd's answers were read from its behaviour and checked against a running etcd 3.4.23 (the
version the conformance suite uses) through the gRPC API. The same rows pass against the
reference model of the property tests, which shows the model is etcd's.

Rows marked "etcd quirk" reproduce etcd behaviour that looks accidental (a from-key delete beside
a put, a put in an earlier sibling txn, sorting only the first limit + 1 keys); the store follows
etcd there too, because clients written against etcd must see the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubelite.store.types import (
    BatchOutcome,
    ClaimLeadershipOp,
    CompactOp,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteOp,
    DeleteResult,
    Done,
    ErrorCode,
    ExpireLeasesOp,
    LeaseGrantOp,
    LeaseRevokeOp,
    Op,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    SortTarget,
    StoreError,
    TxnOp,
    TxnResult,
)

from .harness import ALL, Driver, kv
from .reference import ReferenceStore


def txn(*success: Op, compares: tuple[Compare, ...] = (), failure: tuple[Op, ...] = ()) -> TxnOp:
    return TxnOp(compares=compares, success=success, failure=failure)  # type: ignore[arg-type]


A_ABSENT = Compare(b"x", CompareTarget.VERSION, CompareResult.EQUAL, 0)
Action = Callable[[Driver], Any]

# (setup ops, what to do, etcd's answer)
DIVERGENCES = [
    pytest.param(
        [],
        lambda d: d.result(txn(PutOp(b"a"), compares=(A_ABSENT,), failure=(DeleteOp(b"a"),))),
        TxnResult(True, (PutResult(),)),
        id="txn-then-put-else-delete-same-key",
    ),
    pytest.param(
        [],
        lambda d: d.result(txn(txn(PutOp(b"a"), failure=(DeleteOp(b"a"),)))),
        TxnResult(True, (TxnResult(True, (PutResult(),)),)),
        id="nested-then-put-else-delete-same-key",
    ),
    pytest.param(
        [PutOp(b"abc", b"1")],
        lambda d: d.result(txn(txn(PutOp(b"abc", b"2")), txn(DeleteOp(b"a", b"b")))),
        TxnResult(True, (TxnResult(True, (PutResult(),)), TxnResult(True, (DeleteResult(1),)))),
        id="sibling-nested-put-then-delete",
    ),
    pytest.param(
        [PutOp(b"a")],
        lambda d: d.result(txn(DeleteOp(b"a", b"\x00"), PutOp(b"b"))),
        TxnResult(True, (DeleteResult(1), PutResult())),
        id="from-key-delete-beside-put",
    ),
    pytest.param(
        [PutOp(b"a")],
        lambda d: d.read(RangeOp(b"a", revision=-1)),
        RangeResult((kv(b"a", b"", 2, 2, 1),), False, 1),
        id="negative-range-revision-reads-current",
    ),
    pytest.param(
        [PutOp(b"a"), PutOp(b"a")],
        lambda d: d.result(txn(RangeOp(b"a", revision=-1))),
        TxnResult(True, (RangeResult((kv(b"a", b"", 2, 3, 2),), False, 1),)),
        id="negative-range-revision-in-txn-before-compaction",
    ),
    pytest.param(
        [PutOp(b"a")],
        lambda d: d.read(RangeOp(b"\x00", b"\x00", limit=-1)),
        RangeResult((kv(b"a", b"", 2, 2, 1),), False, 1),
        id="negative-limit-means-no-limit",
    ),
    pytest.param(
        [PutOp(b"c"), PutOp(b"a"), PutOp(b"b")],
        lambda d: [
            k.key
            for k in d.read(RangeOp(b"\x00", b"\x00", limit=1, sort_target=SortTarget.MOD)).kvs
        ],
        [b"a"],
        id="sort-target-without-order-limits-before-sorting",
    ),
    pytest.param(
        [],
        lambda d: d.result(CompactOp(0)),
        Done(),
        id="compact-zero-on-fresh-store",
    ),
    pytest.param(
        [],
        lambda d: d.result(txn(*[RangeOp(b"k")] * 99, txn(*[RangeOp(b"k")] * 29))),
        StoreError(ErrorCode.TOO_MANY_OPS),
        id="nested-txn-op-budget",
    ),
    pytest.param(
        [],
        lambda d: d.result(PutOp(b"a", ignore_value=True, lease=5)),
        StoreError(ErrorCode.LEASE_NOT_FOUND),
        id="plain-put-checks-lease-before-key",
    ),
    pytest.param(
        [],
        lambda d: d.result(txn(txn(PutOp(b"a", lease=5)), RangeOp(b"b", revision=99))),
        StoreError(ErrorCode.LEASE_NOT_FOUND),
        id="txn-checks-puts-before-ranges-nested",
    ),
    pytest.param(
        [],
        lambda d: d.result(txn(RangeOp(b"b", revision=99), PutOp(b"a", lease=5))),
        StoreError(ErrorCode.LEASE_NOT_FOUND),
        id="txn-checks-puts-before-ranges-same-level",
    ),
    pytest.param(
        [],
        lambda d: d.result(txn(PutOp(b"a"), PutOp(b"a"), failure=(PutOp(b""),))),
        StoreError(ErrorCode.EMPTY_KEY),
        id="op-errors-before-duplicate-key",
    ),
]


@pytest.mark.parametrize(("setup", "action", "etcd_answer"), DIVERGENCES)
def test_etcd_divergence(setup: list[Op], action: Action, etcd_answer: Any) -> None:
    d = Driver()
    d.ok(*setup)
    assert action(d) == etcd_answer


class ReferenceDriver(Driver):
    """`Driver`'s interface over the reference model instead of `MvccState`."""

    def __init__(self) -> None:
        super().__init__()
        self.ref = ReferenceStore()

    def apply(self, *ops: Op, now_ms: int | None = None) -> BatchOutcome:
        return self.ref.apply(self.batch(*ops, now_ms=now_ms))

    def read(self, op: RangeOp = ALL) -> Any:
        return self.ref.read_range(op)


@pytest.mark.parametrize(
    ("setup", "action", "etcd_answer"), [pytest.param(*p.values, id=p.id) for p in DIVERGENCES]
)
def test_reference_model_gives_etcds_answer(
    setup: list[Op], action: Action, etcd_answer: Any
) -> None:
    """The property tests' model agrees with etcd exactly where kubelite does not."""
    d = ReferenceDriver()
    d.ok(*setup)
    assert action(d) == etcd_answer


@pytest.mark.parametrize("how", ["revoke", "expire"])
def test_lease_with_more_than_128_keys_deletes_them_all(how: str) -> None:
    d = Driver()
    d.ok(ClaimLeadershipOp(1), LeaseGrantOp(2, id=7), now_ms=0)
    d.ok(*[PutOp(b"k%03d" % i, lease=7) for i in range(129)])
    end = LeaseRevokeOp(7) if how == "revoke" else ExpireLeasesOp(1, (7,))
    outcome = d.apply(end, now_ms=5000)
    assert outcome.applied[0].result == Done()
    assert (d.read(ALL).count, len(outcome.events), outcome.applied[0].revision) == (0, 129, 131)


def test_expire_with_a_repeated_lease_id_deletes_its_keys() -> None:
    d = Driver()
    d.ok(ClaimLeadershipOp(1), LeaseGrantOp(2, id=7), PutOp(b"a", lease=7), now_ms=0)
    assert d.result(ExpireLeasesOp(1, (7, 7)), now_ms=5000) == Done()
    assert d.read(ALL).count == 0
