"""etcd's static request rules, transcribed for the reference model and the tests.

What etcd's gRPC layer (``etcdserver/api/v3rpc/key.go``) decides before a request is proposed,
plus the one range rule everything shares. Pure functions over `kubelite.store.types` ops::

    >>> from kubelite.store.types import DeleteOp, PutOp
    >>> interval_error((PutOp(b"a"), DeleteOp(b"a")))
    <ErrorCode.DUPLICATE_KEY: 'duplicate key given in txn request'>
    >>> interval_error((PutOp(b"b"), DeleteOp(b"a", b"\\x00"))) is None  # etcd quirk
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.store.types import DeleteOp, ErrorCode, PutOp, RangeOp, TxnBranchOp, TxnOp

MAX_TXN_OPS = 128  # etcd --max-txn-ops default
FROM_KEY = b"\x00"


def in_range(candidate: bytes, key: bytes, range_end: bytes) -> bool:
    """etcd's range rule: empty end = one key; end b"\\0" = from key; else [key, end)."""
    if range_end == b"":
        return candidate == key
    if range_end == FROM_KEY:
        return candidate >= key
    return key <= candidate < range_end


def static_error(op: TxnBranchOp, max_ops: int = MAX_TXN_OPS) -> ErrorCode | None:
    """checkRequestOp / checkTxnRequest: empty keys, value/lease provided, op budget."""
    if isinstance(op, PutOp):
        if not op.key:
            return ErrorCode.EMPTY_KEY
        if op.ignore_value and op.value:
            return ErrorCode.VALUE_PROVIDED
        if op.ignore_lease and op.lease:
            return ErrorCode.LEASE_PROVIDED
        return None
    if isinstance(op, RangeOp | DeleteOp):
        return None if op.key else ErrorCode.EMPTY_KEY
    opc = max(len(op.compares), len(op.success), len(op.failure))
    if opc > max_ops:
        return ErrorCode.TOO_MANY_OPS
    if any(not compare.key for compare in op.compares):
        return ErrorCode.EMPTY_KEY
    for child in (*op.success, *op.failure):
        error = static_error(child, max_ops - opc)
        if error is not None:
            return error
    return None


# checkIntervals builds adt "string affine" intervals: b"" is +infinity, and a delete's
# range_end is used as given, so a from-key delete (end b"\0") becomes the empty interval
# [key, "\0") and never collides with a put. That is etcd's behaviour, reproduced as is.
Interval = tuple[bytes, bytes]


def _affine_cmp(a: bytes, b: bytes) -> int:
    if a == b:
        return 0
    if a == b"":
        return 1
    if b == b"":
        return -1
    return -1 if a < b else 1


def _intervals_overlap(x: Interval, y: Interval) -> bool:
    """adt.Interval.Compare(x, y) == 0."""
    x_left_of_y = _affine_cmp(x[0], y[0]) < 0 and _affine_cmp(x[1], y[0]) <= 0
    x_right_of_y = _affine_cmp(x[0], y[1]) >= 0
    return not (x_left_of_y or x_right_of_y)


def _hits(deletes: Sequence[Interval], key: bytes) -> bool:
    point = (key, key + b"\x00")
    return any(_intervals_overlap(point, interval) for interval in deletes)


def interval_error(ops: Sequence[TxnBranchOp]) -> ErrorCode | None:
    return None if _check_intervals(ops) is not None else ErrorCode.DUPLICATE_KEY


def _check_intervals(ops: Sequence[TxnBranchOp]) -> tuple[set[bytes], list[Interval]] | None:
    """etcd's checkIntervals: the puts and deletes of ``ops``, or None on a duplicate key."""
    deletes: list[Interval] = [
        (op.key, op.range_end) if op.range_end else (op.key, op.key + b"\x00")
        for op in ops
        if isinstance(op, DeleteOp)
    ]
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnOp):
            continue
        then, otherwise = _check_intervals(op.success), _check_intervals(op.failure)
        if then is None or otherwise is None:
            return None
        for key in then[0]:
            if key in puts or _hits(deletes, key):
                return None
            puts.add(key)
        for key in otherwise[0]:
            if (key in puts and key not in then[0]) or _hits(deletes, key):
                return None
            puts.add(key)
        deletes += then[1] + otherwise[1]
    for op in ops:
        if isinstance(op, PutOp):
            if op.key in puts or _hits(deletes, op.key):
                return None
            puts.add(op.key)
    return puts, deletes


def txn_request_error(op: TxnOp) -> ErrorCode | None:
    """What etcd's gRPC Txn handler answers before proposing: op checks, then intervals."""
    return static_error(op) or interval_error(op.success) or interval_error(op.failure)
