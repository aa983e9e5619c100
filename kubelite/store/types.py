"""Plain data of the store: key-values, events, the commands that travel through Raft, results.

Everything here is a frozen value. Commands (`Batch` and the ops inside it) are pickled into the
Raft log, so they hold only bytes, ints, strings and tuples of other values from this module.
Errors are values too (`StoreError`): the state machine returns them, it never raises them.

Revisions follow etcd: one global counter, incremented once per write transaction that changes
something. A `KeyValue` with ``version == 0`` is a tombstone: the key was deleted at
``mod_revision``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import TypeVar

Revision = int
LeaseID = int
MemberID = int

_T = TypeVar("_T")


def _plain_pickle(cls: type[_T]) -> type[_T]:
    """Pickle a frozen dataclass as ``cls(*fields)``.

    Batches travel through the Raft log as pickles and snapshots pickle whole histories; the
    field tuple comes from one C call, where the default for slotted dataclasses runs Python
    code per object and per field, both ways.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if len(names) == 1:
        get_one = attrgetter(names[0])

        def reduce(self: _T) -> tuple[type[_T], tuple[object, ...]]:
            return cls, (get_one(self),)

    elif names:
        get_all = attrgetter(*names)

        def reduce(self: _T) -> tuple[type[_T], tuple[object, ...]]:
            return cls, get_all(self)

    else:

        def reduce(self: _T) -> tuple[type[_T], tuple[object, ...]]:
            return cls, ()

    setattr(cls, "__reduce__", reduce)  # noqa: B010 - mypy rejects assigning to a method
    return cls


@_plain_pickle
@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    create_revision: Revision
    mod_revision: Revision
    version: int
    value: bytes = b""
    lease: LeaseID = 0

    @property
    def is_tombstone(self) -> bool:
        return self.version == 0


KvTuple = tuple[bytes, Revision, Revision, int, bytes, LeaseID]


def kv_tuple(kv: KeyValue) -> KvTuple:
    """A `KeyValue` as a plain tuple (``KeyValue(*t)`` rebuilds it), for fast snapshots."""
    return (kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.value, kv.lease)


class EventType(enum.IntEnum):
    PUT = 0
    DELETE = 1


@_plain_pickle
@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, ``kv`` holds only the key and the deletion revision."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> Revision:
        return self.kv.mod_revision


class ErrorCode(enum.Enum):
    """Store errors; `kubelite.store.errors` maps each to etcd's gRPC status and message."""

    EMPTY_KEY = "key is not provided"
    KEY_NOT_FOUND = "key not found"
    VALUE_PROVIDED = "value is provided"
    LEASE_PROVIDED = "lease is provided"
    TOO_MANY_OPS = "too many operations in txn request"
    DUPLICATE_KEY = "duplicate key given in txn request"
    COMPACTED = "mvcc: required revision has been compacted"
    FUTURE_REV = "mvcc: required revision is a future revision"
    LEASE_NOT_FOUND = "requested lease not found"
    LEASE_EXISTS = "lease already exists"
    LEASE_TTL_TOO_LARGE = "too large lease TTL"
    STALE_EPOCH = "leader epoch is stale"
    INVALID = "invalid request"
    INTERNAL = "internal error"


@_plain_pickle
@dataclass(frozen=True, slots=True)
class StoreError:
    code: ErrorCode
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Operations. Reads (RangeOp) may appear inside a Txn; everything else is a write.


class SortOrder(enum.IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(enum.IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


@_plain_pickle
@dataclass(frozen=True, slots=True)
class RangeOp:
    key: bytes
    range_end: bytes = b""
    limit: int = 0
    revision: Revision = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: Revision = 0
    max_mod_revision: Revision = 0
    min_create_revision: Revision = 0
    max_create_revision: Revision = 0


@_plain_pickle
@dataclass(frozen=True, slots=True)
class PutOp:
    key: bytes
    value: bytes = b""
    lease: LeaseID = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@_plain_pickle
@dataclass(frozen=True, slots=True)
class DeleteOp:
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


class CompareTarget(enum.IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class CompareResult(enum.IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


@_plain_pickle
@dataclass(frozen=True, slots=True)
class Compare:
    """``target(key) <result> operand`` for every key in [key, range_end) (one key if empty)."""

    key: bytes
    target: CompareTarget
    result: CompareResult
    operand: int | bytes
    range_end: bytes = b""


@_plain_pickle
@dataclass(frozen=True, slots=True)
class TxnOp:
    compares: tuple[Compare, ...] = ()
    success: tuple[TxnBranchOp, ...] = ()
    failure: tuple[TxnBranchOp, ...] = ()


TxnBranchOp = RangeOp | PutOp | DeleteOp | TxnOp


@_plain_pickle
@dataclass(frozen=True, slots=True)
class CompactOp:
    revision: Revision


@_plain_pickle
@dataclass(frozen=True, slots=True)
class LeaseGrantOp:
    ttl: int
    id: LeaseID = 0


@_plain_pickle
@dataclass(frozen=True, slots=True)
class LeaseRevokeOp:
    id: LeaseID


@_plain_pickle
@dataclass(frozen=True, slots=True)
class LeaseKeepAliveOp:
    id: LeaseID


@_plain_pickle
@dataclass(frozen=True, slots=True)
class RegisterMemberOp:
    """A member announces its name and URLs; MemberList answers from these."""

    member_id: MemberID
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


# Leader-only commands carry the epoch (Raft term) they were issued under; the state machine
# rejects them unless that epoch is the newest one claimed, so a deposed leader cannot act.


@_plain_pickle
@dataclass(frozen=True, slots=True)
class ClaimLeadershipOp:
    epoch: int
    lease_extension_ms: int = 0


@_plain_pickle
@dataclass(frozen=True, slots=True)
class ExpireLeasesOp:
    epoch: int
    ids: tuple[LeaseID, ...]


@_plain_pickle
@dataclass(frozen=True, slots=True)
class AutoCompactOp:
    epoch: int
    revision: Revision


Op = (
    RangeOp
    | PutOp
    | DeleteOp
    | TxnOp
    | CompactOp
    | LeaseGrantOp
    | LeaseRevokeOp
    | LeaseKeepAliveOp
    | RegisterMemberOp
    | ClaimLeadershipOp
    | ExpireLeasesOp
    | AutoCompactOp
)


def payload_bytes(op: object) -> int:
    """Key plus value bytes of an op (0 for ops without them): what batches and logs hold."""
    key, value = getattr(op, "key", b""), getattr(op, "value", b"")
    return (len(key) if isinstance(key, bytes) else 0) + (
        len(value) if isinstance(value, bytes) else 0
    )


@_plain_pickle
@dataclass(frozen=True, slots=True)
class Batch:
    """One Raft entry: many client operations gathered by group commit.

    ``batch_id`` makes a re-submitted batch (after an unknown outcome) return its first results
    instead of applying twice. ``now_ms`` is the proposer's wall clock: the only time apply sees.
    An empty ``ops`` is a read barrier.
    """

    batch_id: str
    now_ms: int
    ops: tuple[Op, ...] = ()


# ---------------------------------------------------------------------------------------------
# Results.


@_plain_pickle
@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: tuple[KeyValue, ...]
    more: bool
    count: int


@_plain_pickle
@dataclass(frozen=True, slots=True)
class PutResult:
    prev_kv: KeyValue | None = None


@_plain_pickle
@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()


@_plain_pickle
@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    responses: tuple[TxnBranchResult, ...] = ()


TxnBranchResult = RangeResult | PutResult | DeleteResult | TxnResult


@_plain_pickle
@dataclass(frozen=True, slots=True)
class LeaseGrantResult:
    id: LeaseID
    ttl: int


@_plain_pickle
@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResult:
    id: LeaseID
    ttl: int


@_plain_pickle
@dataclass(frozen=True, slots=True)
class Done:
    """A write with nothing to report but its revision (compact, revoke, member, leader ops)."""


OpResult = TxnBranchResult | LeaseGrantResult | LeaseKeepAliveResult | Done


@_plain_pickle
@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of one op: its result (or error) and the store revision right after it."""

    result: OpResult | StoreError
    revision: Revision


@_plain_pickle
@dataclass(frozen=True, slots=True)
class BatchOutcome:
    applied: tuple[Applied, ...]
    events: tuple[Event, ...] = field(default=())
    duplicate: bool = False
