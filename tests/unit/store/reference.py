"""A deliberately naive model of the etcd v3 store, to check `kubelite.store.mvcc` against.

Nothing here is clever. The whole key history is one list of `Change` rows (revision, key,
value or deleted, lease); every read folds the rows of a key up to a revision; nothing is
indexed, trimmed or cached, and which keys a lease holds is found by scanning. It is slow on
purpose: it should be obviously right, not fast.

The rules are transcribed from etcd 3.4 (the etcd the conformance suite runs against), not
from kubelite, so a difference between the two is a question to answer, not noise. The
corner cases were checked against a running etcd 3.4.23:

- request checks: ``etcdserver/api/v3rpc/key.go``, in ``etcd_rules.py``;
- apply: ``etcdserver/apply.go`` (``Range`` fetches limit+1 keys unless the *requested* order
  or a filter needs them all; ``Txn`` judges every compare first, then checks the puts of the
  taken path, then its ranges; a plain ``Put`` checks its lease before its key, a put inside
  a txn the other way round);
- revisions and compaction: ``mvcc/kvstore*.go`` (``compactMainRev`` starts at -1; a range
  at revision <= 0 reads the current revision);
- leases: ``lease/lessor.go`` (min TTL, ``MaxLeaseTTL``, revoke deletes the keys in sorted
  order in one write txn).

Where kubelite has no etcd counterpart (leader epochs, `ExpireLeasesOp`, batch de-duplication,
lease ids chosen by the state machine), the model follows the contract written in
``kubelite/store/mvcc.py`` and ``types.py``: an ``ExpireLeasesOp`` revokes each expired lease in
turn, as etcd's lessor does, one revision per lease that still has keys; a batch id is
remembered for 120 s of proposer clock and at most 4096 batches, oldest first; ids for
``LeaseGrantOp(id=0)`` are whatever the store under test chose (passed in as ``auto_lease_ids``;
the model only checks they are fresh).

etcd sorts with Go's unstable ``sort.Sort``, so the order of equal sort keys is unspecified
there; the model uses Python's stable sort (ties keep ascending key order, also when
descending), which is what a deterministic store should pick.

It runs past the usual 400 lines on purpose: it reads top to bottom next to etcd's apply
path, and splitting it would only scatter that reading.

Example::

    >>> ref = ReferenceStore()
    >>> ref.apply(Batch("b1", 0, (PutOp(b"a", b"1"),))).applied[0].revision
    2
    >>> ref.read_range(RangeOp(b"a")).kvs[0].version
    1
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from kubelite.store.mvcc import LeaseInfo
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
    OpResult,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    RegisterMemberOp,
    SortOrder,
    SortTarget,
    StoreError,
    TxnBranchOp,
    TxnBranchResult,
    TxnOp,
    TxnResult,
)

from .etcd_rules import FROM_KEY, in_range, static_error, txn_request_error

# The numbers of the contract, written out rather than imported from the code under test.
MIN_LEASE_TTL = 2
MAX_LEASE_TTL = 9_000_000_000  # etcd lease.MaxLeaseTTL
DEDUPE_WINDOW_MS = 120_000
DEDUPE_MAX_BATCHES = 4096


@dataclass(frozen=True, slots=True)
class Change:
    """One write to one key: ``value is None`` means the key was deleted at ``revision``."""

    revision: int
    key: bytes
    value: bytes | None
    lease: int = 0


@dataclass(slots=True)
class RefLease:
    ttl: int
    deadline_ms: int


def fold(history: Iterable[Change]) -> KeyValue | None:
    """The key-value left by one key's changes in order, or None if absent or deleted."""
    kv: KeyValue | None = None
    for change in history:
        if change.value is None:
            kv = None
        elif kv is None:
            kv = KeyValue(
                change.key, change.revision, change.revision, 1, change.value, change.lease
            )
        else:
            kv = KeyValue(
                change.key,
                kv.create_revision,
                change.revision,
                kv.version + 1,
                change.value,
                change.lease,
            )
    return kv


# -- the model ----------------------------------------------------------------------------------


@dataclass
class _Chosen:
    """A txn with its compare outcome, and the same for each txn in the branch it takes."""

    txn: TxnOp
    succeeded: bool
    nested: list[_Chosen] = field(default_factory=list)

    @property
    def ops(self) -> tuple[TxnBranchOp, ...]:
        return self.txn.success if self.succeeded else self.txn.failure


class ReferenceStore:
    """Same apply/read surface as `MvccState`, computed by scanning a change list."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.revision = 1
        self._compacted = -1  # etcd's compactMainRev before any compaction
        self.leader_epoch = 0
        self.leases: dict[int, RefLease] = {}
        self.members: dict[int, RegisterMemberOp] = {}
        self._outcomes: dict[str, tuple[Applied, ...]] = {}
        self._outcome_order: list[tuple[int, str]] = []

    @property
    def compact_revision(self) -> int:
        """-1 until the first compaction (etcd's compactMainRev), like `MvccState`."""
        return self._compacted

    # == reads ====================================================================================

    def kv_at(self, key: bytes, revision: int | None = None) -> KeyValue | None:
        """The live version of ``key`` at ``revision`` (None: including uncommitted changes)."""
        return fold(
            c for c in self.changes if c.key == key and (revision is None or c.revision <= revision)
        )

    def live_in_range(self, key: bytes, range_end: bytes, revision: int | None) -> list[KeyValue]:
        names = sorted({c.key for c in self.changes if in_range(c.key, key, range_end)})
        found = (self.kv_at(name, revision) for name in names)
        return [kv for kv in found if kv is not None]

    def read_range(self, op: RangeOp) -> RangeResult | StoreError:
        """A Range outside any txn (etcd rangeKeys: revision <= 0 reads the current one)."""
        if not op.key:
            return StoreError(ErrorCode.EMPTY_KEY)
        if op.revision > self.revision:
            return StoreError(ErrorCode.FUTURE_REV)
        revision = op.revision if op.revision > 0 else self.revision
        if revision < self._compacted:
            return StoreError(ErrorCode.COMPACTED)
        return self._range(op, revision)

    def _range(self, op: RangeOp, revision: int | None) -> RangeResult:
        kvs = self.live_in_range(op.key, op.range_end, revision)
        count = len(kvs)
        if op.count_only:
            return RangeResult((), more=False, count=count)
        filtered = bool(
            op.min_mod_revision
            or op.max_mod_revision
            or op.min_create_revision
            or op.max_create_revision
        )
        # etcd rangeLimit: only fetch limit+1 in key order when the *requested* order is the
        # default one and there are no filters; sorting happens on what was fetched.
        if _default_ordering(op.sort_target, op.sort_order) and not filtered and op.limit > 0:
            kvs = kvs[: op.limit + 1]
        kvs = [
            kv
            for kv in kvs
            if not (op.max_mod_revision and kv.mod_revision > op.max_mod_revision)
            and not (op.min_mod_revision and kv.mod_revision < op.min_mod_revision)
            and not (op.max_create_revision and kv.create_revision > op.max_create_revision)
            and not (op.min_create_revision and kv.create_revision < op.min_create_revision)
        ]
        order = op.sort_order
        if op.sort_target != SortTarget.KEY and order == SortOrder.NONE:
            order = SortOrder.ASCEND
        if not _default_ordering(op.sort_target, order):
            kvs = sorted(kvs, key=_sort_key(op.sort_target), reverse=order == SortOrder.DESCEND)
        more = False
        if op.limit > 0 and len(kvs) > op.limit:
            kvs, more = kvs[: op.limit], True
        if op.keys_only:
            kvs = [replace(kv, value=b"") for kv in kvs]
        return RangeResult(tuple(kvs), more=more, count=count)

    def events_since(self, revision: int) -> tuple[Event, ...] | StoreError:
        if revision < self._compacted:
            return StoreError(ErrorCode.COMPACTED)
        return tuple(self._event(i) for i, c in enumerate(self.changes) if c.revision >= revision)

    def _event(self, index: int) -> Event:
        change = self.changes[index]
        before = [c for c in self.changes[:index] if c.key == change.key]
        prev = fold(before)
        if change.value is None:
            tomb = KeyValue(change.key, 0, change.revision, 0)
            return Event(EventType.DELETE, tomb, prev)
        kv = fold([*before, change])
        assert kv is not None
        return Event(EventType.PUT, kv, prev)

    def attached_keys(self, lease_id: int) -> list[bytes]:
        """Keys whose current version carries ``lease_id``, found by scanning."""
        names = sorted({c.key for c in self.changes})
        return [k for k in names if (kv := self.kv_at(k)) is not None and kv.lease == lease_id]

    def lease_info(self, lease_id: int, now_ms: int) -> LeaseInfo | None:
        lease = self.leases.get(lease_id)
        if lease is None:
            return None
        remaining = max(0, lease.deadline_ms - now_ms)
        return LeaseInfo(lease_id, lease.ttl, remaining, tuple(self.attached_keys(lease_id)))

    def expired_leases(self, now_ms: int, limit: int = 1000) -> tuple[int, ...]:
        found = sorted(i for i, lease in self.leases.items() if lease.deadline_ms <= now_ms)
        return tuple(found[:limit])

    def live_totals(self) -> tuple[int, int]:
        """(live keys, bytes of their keys and values), like ``Keyspace.live_*``."""
        kvs = self.live_in_range(FROM_KEY, FROM_KEY, None)
        return len(kvs), sum(len(kv.key) + len(kv.value) for kv in kvs)

    # == apply ====================================================================================

    def apply(self, batch: Batch, auto_lease_ids: Iterable[int] = ()) -> BatchOutcome:
        seen = self._outcomes.get(batch.batch_id)
        if seen is not None:
            return BatchOutcome(applied=seen, duplicate=True)
        first_change = len(self.changes)
        ids = iter(auto_lease_ids)
        applied = []
        for op in batch.ops:
            result = self._apply_op(op, batch.now_ms, ids)
            applied.append(Applied(result, self.revision))
        outcome = tuple(applied)
        if batch.ops:
            self._remember(batch, outcome)
        events = tuple(self._event(i) for i in range(first_change, len(self.changes)))
        return BatchOutcome(applied=outcome, events=events)

    def _remember(self, batch: Batch, outcome: tuple[Applied, ...]) -> None:
        self._outcomes[batch.batch_id] = outcome
        self._outcome_order.append((batch.now_ms, batch.batch_id))
        horizon = batch.now_ms - DEDUPE_WINDOW_MS
        while self._outcome_order and (
            len(self._outcome_order) > DEDUPE_MAX_BATCHES or self._outcome_order[0][0] < horizon
        ):
            _, old = self._outcome_order.pop(0)
            self._outcomes.pop(old, None)

    def _apply_op(self, op: Op, now_ms: int, auto_ids: Iterator[int]) -> OpResult | StoreError:
        if isinstance(op, RangeOp):
            return self.read_range(op)
        if isinstance(op, PutOp):
            return self._client_put(op)
        if isinstance(op, DeleteOp):
            return self._client_delete(op)
        if isinstance(op, TxnOp):
            return self._client_txn(op)
        if isinstance(op, CompactOp):
            return self._compact(op.revision)
        if isinstance(op, LeaseGrantOp):
            return self._grant(op, now_ms, auto_ids)
        if isinstance(op, LeaseKeepAliveOp):
            lease = self.leases.get(op.id)
            if lease is None or lease.deadline_ms <= now_ms:  # etcd never renews an expired lease
                return StoreError(ErrorCode.LEASE_NOT_FOUND)
            lease.deadline_ms = now_ms + lease.ttl * 1000
            return LeaseKeepAliveResult(op.id, lease.ttl)
        if isinstance(op, LeaseRevokeOp):
            if op.id not in self.leases:
                return StoreError(ErrorCode.LEASE_NOT_FOUND)
            self._revoke([op.id])
            return Done()
        if isinstance(op, RegisterMemberOp):
            self.members[op.member_id] = op
            return Done()
        if isinstance(op, ClaimLeadershipOp | ExpireLeasesOp | AutoCompactOp):
            return self._leader_op(op, now_ms)
        raise TypeError(f"the reference does not model {op!r}")

    # -- kv ----------------------------------------------------------------------------------------

    def _client_put(self, op: PutOp) -> OpResult | StoreError:
        code = static_error(op) or self._lease_error(op) or self._key_error(op)
        if code is not None:
            return StoreError(code)
        result = self._put(op, self.revision + 1)
        self.revision += 1
        return result

    def _client_delete(self, op: DeleteOp) -> OpResult | StoreError:
        if not op.key:
            return StoreError(ErrorCode.EMPTY_KEY)
        result = self._delete(op, self.revision + 1)
        if result.deleted:
            self.revision += 1
        return result

    def _lease_error(self, op: PutOp) -> ErrorCode | None:
        if op.lease and op.lease not in self.leases:
            return ErrorCode.LEASE_NOT_FOUND
        return None

    def _key_error(self, op: PutOp) -> ErrorCode | None:
        """ignore_value and ignore_lease need an existing key."""
        if (op.ignore_value or op.ignore_lease) and self.kv_at(op.key) is None:
            return ErrorCode.KEY_NOT_FOUND
        return None

    def _put(self, op: PutOp, revision: int) -> PutResult:
        prev = self.kv_at(op.key)
        value = prev.value if op.ignore_value and prev else op.value
        lease = prev.lease if op.ignore_lease and prev else op.lease
        self.changes.append(Change(revision, op.key, value, lease))
        return PutResult(prev if op.prev_kv else None)

    def _delete(self, op: DeleteOp, revision: int) -> DeleteResult:
        doomed = self.live_in_range(op.key, op.range_end, None)
        for kv in doomed:
            self.changes.append(Change(revision, kv.key, None))
        return DeleteResult(len(doomed), tuple(doomed) if op.prev_kv else ())

    # -- txn ---------------------------------------------------------------------------------------

    def _client_txn(self, op: TxnOp) -> OpResult | StoreError:
        code = txn_request_error(op)
        if code is not None:
            return StoreError(code)
        chosen = self._choose(op)  # every compare sees the store as it was before the txn
        code = self._path_error(chosen, PutOp, self._txn_put_error) or self._path_error(
            chosen, RangeOp, self._txn_range_error
        )
        if code is not None:
            return StoreError(code)
        before = len(self.changes)
        result = self._run(chosen, self.revision + 1)
        if len(self.changes) > before:
            self.revision += 1
        return result

    def _choose(self, txn: TxnOp) -> _Chosen:
        chosen = _Chosen(txn, all(self._compare(c) for c in txn.compares))
        chosen.nested = [self._choose(op) for op in chosen.ops if isinstance(op, TxnOp)]
        return chosen

    def _compare(self, compare: Compare) -> bool:
        kvs = self.live_in_range(compare.key, compare.range_end, None)
        if not kvs:
            if compare.target == CompareTarget.VALUE:
                return False  # etcd: a missing key has no value to compare
            kvs = [KeyValue(compare.key, 0, 0, 0)]
        return all(_compare_kv(compare, kv) for kv in kvs)

    def _path_error(self, chosen: _Chosen, kind: type, check: Any) -> ErrorCode | None:
        """etcd checkRequests: ``check`` every op of ``kind`` on the taken path, depth first."""
        nested = iter(chosen.nested)
        for op in chosen.ops:
            if isinstance(op, TxnOp):
                code = self._path_error(next(nested), kind, check)
            else:
                code = check(op) if isinstance(op, kind) else None
            if code is not None:
                return code
        return None

    def _txn_put_error(self, op: PutOp) -> ErrorCode | None:
        """etcd 3.4 checkRequestPut: the key first, then the lease."""
        return self._key_error(op) or self._lease_error(op)

    def _txn_range_error(self, op: RangeOp) -> ErrorCode | None:
        """etcd checkRange inside a txn: 0 is current; below compactMainRev is compacted."""
        if op.revision == 0:
            return None
        if op.revision > self.revision:
            return ErrorCode.FUTURE_REV
        if op.revision < self._compacted:
            return ErrorCode.COMPACTED
        return None

    def _run(self, chosen: _Chosen, revision: int) -> TxnResult:
        nested = iter(chosen.nested)
        responses: list[TxnBranchResult] = []
        for op in chosen.ops:
            if isinstance(op, TxnOp):
                responses.append(self._run(next(nested), revision))
            elif isinstance(op, PutOp):
                responses.append(self._put(op, revision))
            elif isinstance(op, DeleteOp):
                responses.append(self._delete(op, revision))
            else:
                # Reads in a txn see its earlier writes: revision <= 0 means "everything so far".
                responses.append(self._range(op, op.revision if op.revision > 0 else None))
        return TxnResult(chosen.succeeded, tuple(responses))

    # -- compaction and leases ---------------------------------------------------------------------

    def _compact(self, revision: int) -> OpResult | StoreError:
        if revision <= self._compacted:
            return StoreError(ErrorCode.COMPACTED)
        if revision > self.revision:
            return StoreError(ErrorCode.FUTURE_REV)
        self._compacted = revision
        return Done()

    def _grant(
        self, op: LeaseGrantOp, now_ms: int, auto_ids: Iterator[int]
    ) -> OpResult | StoreError:
        if op.ttl > MAX_LEASE_TTL:
            return StoreError(ErrorCode.LEASE_TTL_TOO_LARGE)
        lease_id = op.id
        if lease_id == 0:
            lease_id = next(auto_ids, -1)  # -1: the store granted nothing; the outcomes differ
            if lease_id != -1 and (not 0 < lease_id < 2**63 or lease_id in self.leases):
                raise ValueError(f"store chose lease id {lease_id}, not a fresh positive int63")
        if lease_id in self.leases:
            return StoreError(ErrorCode.LEASE_EXISTS)
        ttl = max(op.ttl, MIN_LEASE_TTL)
        self.leases[lease_id] = RefLease(ttl, now_ms + ttl * 1000)
        return LeaseGrantResult(lease_id, ttl)

    def _revoke(self, lease_ids: Iterable[int]) -> None:
        """Drop the leases and delete all their keys, in sorted key order, at one revision."""
        doomed = sorted({key for i in lease_ids for key in self.attached_keys(i)})
        for lease_id in lease_ids:
            del self.leases[lease_id]
        for key in doomed:
            self.changes.append(Change(self.revision + 1, key, None))
        if doomed:
            self.revision += 1

    def _leader_op(
        self, op: ClaimLeadershipOp | ExpireLeasesOp | AutoCompactOp, now_ms: int
    ) -> OpResult | StoreError:
        if isinstance(op, ClaimLeadershipOp):
            if op.epoch < self.leader_epoch:
                return StoreError(ErrorCode.STALE_EPOCH)
            if op.epoch > self.leader_epoch:
                self.leader_epoch = op.epoch
                for lease in self.leases.values():
                    fresh = now_ms + lease.ttl * 1000 + op.lease_extension_ms
                    lease.deadline_ms = max(lease.deadline_ms, fresh)
            return Done()
        if op.epoch != self.leader_epoch:
            return StoreError(ErrorCode.STALE_EPOCH)
        if isinstance(op, ExpireLeasesOp):
            expired = [
                i
                for i in dict.fromkeys(op.ids)
                if i in self.leases and self.leases[i].deadline_ms <= now_ms
            ]
            for lease_id in expired:
                self._revoke([lease_id])
            return Done()
        if op.revision <= self.compact_revision:
            return Done()
        return self._compact(op.revision)


def _default_ordering(target: SortTarget, order: SortOrder) -> bool:
    """etcd IsDefaultOrdering: results already come in ascending key order."""
    return order == SortOrder.NONE or (target == SortTarget.KEY and order == SortOrder.ASCEND)


def _sort_key(target: SortTarget):  # type: ignore[no-untyped-def]
    return {
        SortTarget.KEY: lambda kv: kv.key,
        SortTarget.VERSION: lambda kv: kv.version,
        SortTarget.CREATE: lambda kv: kv.create_revision,
        SortTarget.MOD: lambda kv: kv.mod_revision,
        SortTarget.VALUE: lambda kv: kv.value,
    }[target]


def _compare_kv(compare: Compare, kv: KeyValue) -> bool:
    """etcd compareKV: an operand of the wrong kind counts as that kind's zero."""
    if compare.target == CompareTarget.VALUE:
        operand: int | bytes = compare.operand if isinstance(compare.operand, bytes) else b""
        actual: int | bytes = kv.value
    else:
        operand = compare.operand if isinstance(compare.operand, int) else 0
        actual = {
            CompareTarget.VERSION: kv.version,
            CompareTarget.CREATE: kv.create_revision,
            CompareTarget.MOD: kv.mod_revision,
            CompareTarget.LEASE: kv.lease,
        }[compare.target]
    sign = (actual > operand) - (actual < operand)  # type: ignore[operator]
    return {
        CompareResult.EQUAL: sign == 0,
        CompareResult.NOT_EQUAL: sign != 0,
        CompareResult.GREATER: sign > 0,
        CompareResult.LESS: sign < 0,
    }[compare.result]
