"""Request checks that need no state: well-formed ops, txn size, duplicate keys in a txn.

The gRPC front end runs them before a request is proposed (so a bad request never reaches the
log), and the state machine runs them again when it applies (so apply stays total whatever the
log holds). Each returns a `StoreError` or None, in etcd's order: first every op of both
branches (empty keys, value/lease flags, nested txns with the op budget their parent leaves
them), then each branch's write set.

Write sets follow etcd's rule: within one branch, a key may be put once, and not inside a range
deleted at the same level or in a nested txn. A nested txn's two branches never both run, so a
key put in both is fine. As in etcd, a nested txn's deletes count only for the ops checked after
it, and a from-key delete (``range_end == b"\\0"``) is an empty interval for this check.
"""

from __future__ import annotations

from kubelite.store.types import (
    DeleteOp,
    ErrorCode,
    LeaseID,
    PutOp,
    RangeOp,
    SortOrder,
    SortTarget,
    StoreError,
    TxnBranchOp,
    TxnOp,
)

MAX_TXN_OPS = 128
_SORT_ORDERS = frozenset(SortOrder)
_SORT_TARGETS = frozenset(SortTarget)
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _is_int64(value: object) -> bool:
    return type(value) is int and _INT64[0] <= value <= _INT64[1]


def _is_bytes(value: object) -> bool:
    return type(value) is bytes


def check_types(op: RangeOp | PutOp | DeleteOp) -> StoreError | None:
    """Field types, so that applying a well-formed op cannot fail half way."""
    if not _is_bytes(op.key) or not _is_bytes(getattr(op, "range_end", b"")):
        return StoreError(ErrorCode.INVALID, "keys must be bytes")
    if isinstance(op, PutOp) and not (_is_bytes(op.value) and _is_int64(op.lease)):
        return StoreError(ErrorCode.INVALID, "value must be bytes and lease an int64")
    if isinstance(op, RangeOp):
        numbers = (
            op.limit,
            op.revision,
            op.min_mod_revision,
            op.max_mod_revision,
            op.min_create_revision,
            op.max_create_revision,
        )
        if not all(_is_int64(n) for n in numbers):
            return StoreError(ErrorCode.INVALID, "range numbers must be int64")
        if op.sort_order not in _SORT_ORDERS or op.sort_target not in _SORT_TARGETS:
            return StoreError(ErrorCode.INVALID, "unknown sort order or target")
    return None


def check_put(op: PutOp) -> StoreError | None:
    error = check_types(op)
    if error is not None:
        return error
    if not op.key:
        return StoreError(ErrorCode.EMPTY_KEY)
    if op.ignore_value and op.value:
        return StoreError(ErrorCode.VALUE_PROVIDED)
    if op.ignore_lease and op.lease:
        return StoreError(ErrorCode.LEASE_PROVIDED)
    return None


def check_range(op: RangeOp | DeleteOp) -> StoreError | None:
    error = check_types(op)
    if error is not None:
        return error
    if not op.key:
        return StoreError(ErrorCode.EMPTY_KEY)
    return None


def check_txn(op: TxnOp) -> StoreError | None:
    """Every op first (with nested op budgets), then each branch's write set."""
    error = _check_ops(op, MAX_TXN_OPS)
    if error is not None:
        return error
    for branch in (op.success, op.failure):
        if _write_set(branch) is None:
            return StoreError(ErrorCode.DUPLICATE_KEY)
    return None


def _check_ops(op: TxnOp, budget: int) -> StoreError | None:
    if not isinstance(op, TxnOp) or not all(
        isinstance(part, tuple) for part in (op.compares, op.success, op.failure)
    ):
        return StoreError(ErrorCode.INVALID, "malformed txn")
    if max(len(op.compares), len(op.success), len(op.failure)) > budget:
        return StoreError(ErrorCode.TOO_MANY_OPS)
    for compare in op.compares:
        if not _is_bytes(compare.key) or not _is_bytes(compare.range_end):
            return StoreError(ErrorCode.INVALID, "keys must be bytes")
        if not compare.key:
            return StoreError(ErrorCode.EMPTY_KEY)
    for branch in (op.success, op.failure):
        for child in branch:
            error = _check_branch_op(child, budget - len(branch))
            if error is not None:
                return error
    return None


def _check_branch_op(op: TxnBranchOp, budget: int) -> StoreError | None:
    if isinstance(op, PutOp):
        return check_put(op)
    if isinstance(op, RangeOp | DeleteOp):
        return check_range(op)
    if isinstance(op, TxnOp):
        return _check_ops(op, budget)
    return StoreError(ErrorCode.INVALID, f"not a txn operation: {type(op).__name__}")


def _interval(key: bytes, range_end: bytes) -> tuple[bytes, bytes]:
    """A half-open [start, end) for the overlap check; from-key deletes are empty, as in etcd."""
    if not range_end:
        return key, key + b"\0"
    return key, range_end


def _hits(key: bytes, deletes: list[tuple[bytes, bytes]]) -> bool:
    return any(start <= key < end for start, end in deletes)


def _write_set(ops: tuple[TxnBranchOp, ...]) -> tuple[set[bytes], list[tuple[bytes, bytes]]] | None:
    """Keys put and intervals deleted by ``ops`` (nested txns included), or None on a duplicate."""
    deletes = [_interval(op.key, op.range_end) for op in ops if isinstance(op, DeleteOp)]
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnOp):
            continue
        then_set, else_set = _write_set(op.success), _write_set(op.failure)
        if then_set is None or else_set is None:
            return None
        for key in then_set[0]:
            if key in puts or _hits(key, deletes):
                return None
        for key in else_set[0]:
            if (key in puts and key not in then_set[0]) or _hits(key, deletes):
                return None
        puts |= then_set[0] | else_set[0]
        deletes += then_set[1] + else_set[1]
    for op in ops:
        if isinstance(op, PutOp):
            if op.key in puts or _hits(op.key, deletes):
                return None
            puts.add(op.key)
    return puts, deletes


def lease_ids(ids: object) -> list[LeaseID]:
    """Distinct lease ids of an expiry command, in order; anything else is dropped."""
    if not isinstance(ids, tuple | list):
        return []
    seen: dict[int, None] = {}
    for lease_id in ids:
        if _is_int64(lease_id):
            seen.setdefault(lease_id, None)
    return list(seen)
