"""Request checks that need no state: empty keys, txn size, duplicate keys in a txn.

The gRPC front end runs them before a request is proposed (so a bad request never reaches the
log), and the state machine runs them again when it applies (so apply stays total whatever the
log holds). Each returns a `StoreError` or None.
"""

from __future__ import annotations

from kubelite.store.keyspace import ranges_overlap
from kubelite.store.types import (
    DeleteOp,
    ErrorCode,
    PutOp,
    RangeOp,
    StoreError,
    TxnBranchOp,
    TxnOp,
)

MAX_TXN_OPS = 128


def check_put(op: PutOp) -> StoreError | None:
    if not op.key:
        return StoreError(ErrorCode.EMPTY_KEY)
    if op.ignore_value and op.value:
        return StoreError(ErrorCode.VALUE_PROVIDED)
    if op.ignore_lease and op.lease:
        return StoreError(ErrorCode.LEASE_PROVIDED)
    return None


def check_range(op: RangeOp | DeleteOp) -> StoreError | None:
    if not op.key:
        return StoreError(ErrorCode.EMPTY_KEY)
    return None


def check_txn(op: TxnOp) -> StoreError | None:
    """Size limits, per-op checks, and etcd's rule that a txn never writes one key twice."""
    if max(len(op.compares), len(op.success), len(op.failure)) > MAX_TXN_OPS:
        return StoreError(ErrorCode.TOO_MANY_OPS)
    for compare in op.compares:
        if not compare.key:
            return StoreError(ErrorCode.EMPTY_KEY)
    for branch in (op.success, op.failure):
        for child in branch:
            error = _check_branch_op(child)
            if error is not None:
                return error
        if _write_set(branch) is None:
            return StoreError(ErrorCode.DUPLICATE_KEY)
    return None


def _check_branch_op(op: TxnBranchOp) -> StoreError | None:
    if isinstance(op, PutOp):
        return check_put(op)
    if isinstance(op, RangeOp | DeleteOp):
        return check_range(op)
    return check_txn(op)


WriteSet = tuple[set[bytes], list[tuple[bytes, bytes]]]


def _write_set(ops: tuple[TxnBranchOp, ...]) -> WriteSet | None:
    """Keys put and ranges deleted by ``ops`` (nested txns included), or None on a duplicate.

    A nested txn's two branches never both run, so each is checked against the outer ops on
    its own, and their union is what the outer level sees.
    """
    puts: set[bytes] = set()
    deletes: list[tuple[bytes, bytes]] = []
    for op in ops:
        if isinstance(op, PutOp):
            if op.key in puts:
                return None
            puts.add(op.key)
        elif isinstance(op, DeleteOp):
            deletes.append((op.key, op.range_end))
        elif isinstance(op, TxnOp):
            nested_puts: set[bytes] = set()
            for branch in (op.success, op.failure):
                nested = _write_set(branch)
                if nested is None or nested[0] & puts:
                    return None
                nested_puts |= nested[0]
                deletes.extend(nested[1])
            puts |= nested_puts
    for key in puts:
        for delete in deletes:
            if ranges_overlap((key, b""), delete):
                return None
    return puts, deletes
