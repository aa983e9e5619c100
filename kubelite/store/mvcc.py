"""The replicated state machine: MVCC key-values, leases, leader epoch, de-duplication.

`MvccState.apply(batch)` is the only way state changes. It is pure and deterministic: the same
sequence of batches gives the same state on every member. Time comes from ``batch.now_ms`` (the
proposer's clock), ids are derived from state, and nothing here raises into the caller: every
failure becomes a `StoreError` value in the batch outcome, so one bad command can never stop
Raft from applying (see ../shared/reference/pysyncobj.md §2.3).

Data flow::

    Batch(ops) --apply--> Keyspace versions + event log + leases  --> BatchOutcome(results, events)
                 ^ a batch_id seen before returns its first outcome (idempotent retries)

Reads (`read_range`, `events_since`, `lease_time_to_live`, ...) never change state; the store
shell calls them under the same lock it holds while applying.

Example::

    >>> state = MvccState()
    >>> out = state.apply(Batch("b1", now_ms=0, ops=(PutOp(b"a", b"1"),)))
    >>> out.applied[0].revision, state.read_range(RangeOp(b"a")).kvs[0].value
    (2, b'1')
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubelite.store.checks import check_put, check_range, check_txn, lease_ids
from kubelite.store.keyspace import Keyspace
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
    LeaseID,
    LeaseKeepAliveOp,
    LeaseKeepAliveResult,
    LeaseRevokeOp,
    MemberID,
    Op,
    OpResult,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    RegisterMemberOp,
    Revision,
    SortOrder,
    SortTarget,
    StoreError,
    TxnBranchOp,
    TxnBranchResult,
    TxnOp,
    TxnResult,
    kv_tuple,
)

MIN_LEASE_TTL = 2
MAX_LEASE_TTL = 9_000_000_000
DEDUPE_WINDOW_MS = 120_000
DEDUPE_MAX_BATCHES = 4096
PRUNE_PER_BATCH = 1000  # keys whose compacted versions one batch drops (`_prune_some`)
_PUT_DONE = PutResult()  # shared: the de-duplication table holds thousands of these
_INT63 = (1 << 63) - 1


@dataclass(slots=True)
class Lease:
    id: LeaseID
    ttl: int
    deadline_ms: int
    keys: set[bytes]


@dataclass(frozen=True, slots=True)
class Member:
    member_id: MemberID
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    id: LeaseID
    granted_ttl: int
    remaining_ms: int
    keys: tuple[bytes, ...]


def _mix64(x: int) -> int:
    """splitmix64 finaliser: spreads sequential numbers over the id space."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _compare_value(kv: KeyValue, target: CompareTarget) -> int | bytes:
    if target is CompareTarget.VERSION:
        return kv.version
    if target is CompareTarget.CREATE:
        return kv.create_revision
    if target is CompareTarget.MOD:
        return kv.mod_revision
    if target is CompareTarget.LEASE:
        return kv.lease
    return kv.value


def compare_holds(compare: Compare, kv: KeyValue) -> bool:
    """``target(kv) <result> operand``; an operand of the wrong type compares as its zero."""
    actual = _compare_value(kv, compare.target)
    operand: int | bytes = compare.operand
    if isinstance(actual, bytes) != isinstance(operand, bytes):
        operand = b"" if isinstance(actual, bytes) else 0
    result = compare.result
    if result is CompareResult.EQUAL:
        return actual == operand
    if result is CompareResult.NOT_EQUAL:
        return actual != operand
    if result is CompareResult.GREATER:
        return actual > operand  # type: ignore[operator]
    return actual < operand  # type: ignore[operator]


_SORT_KEYS = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def _revision_filter(op: RangeOp, kv: KeyValue) -> bool:
    return not (
        (op.min_mod_revision and kv.mod_revision < op.min_mod_revision)
        or (op.max_mod_revision and kv.mod_revision > op.max_mod_revision)
        or (op.min_create_revision and kv.create_revision < op.min_create_revision)
        or (op.max_create_revision and kv.create_revision > op.max_create_revision)
    )


def _well_formed(batch: object) -> bool:
    return (
        isinstance(batch, Batch)
        and isinstance(batch.batch_id, str)
        and type(batch.now_ms) is int
        and isinstance(batch.ops, tuple)
    )


def _walk_taken(op: TxnOp, taken: dict[int, bool]) -> list[TxnBranchOp]:
    """The ops that will run, depth first in op order (nested txns by their decision)."""
    found: list[TxnBranchOp] = []
    for child in op.success if taken.get(id(op), False) else op.failure:
        found.append(child)
        if isinstance(child, TxnOp):
            found.extend(_walk_taken(child, taken))
    return found


class MvccState:
    """All replicated state of one store (see module docstring)."""

    def __init__(self) -> None:
        self.revision: Revision = 1
        self.compact_revision: Revision = -1  # as etcd: nothing compacted, Compact(0) allowed
        self.leader_epoch = 0
        self.keyspace = Keyspace()
        self.leases: dict[LeaseID, Lease] = {}
        self.members: dict[MemberID, Member] = {}
        self._events: list[Event] = []
        self._events_start = 0
        self._batch_events: list[Event] = []
        self._lease_seq = 0
        self._outcomes: dict[str, tuple[Applied, ...]] = {}
        self._outcome_order: deque[tuple[int, str]] = deque()
        self._unpruned: deque[bytes] = deque()  # keys with versions compaction left behind

    # == snapshots ===============================================================================

    def __getstate__(self) -> dict[str, object]:
        """Every field, the event history as plain tuples (pickled in C; see `Keyspace`)."""
        plain = dict(self.__dict__)
        plain["_events"] = [
            (int(e.type), kv_tuple(e.kv), None if e.prev_kv is None else kv_tuple(e.prev_kv))
            for e in self._events[self._events_start :]
        ]
        plain["_events_start"] = 0
        return plain

    def __setstate__(self, plain: dict[str, object]) -> None:
        MvccState.__init__(self)  # fields newer than the snapshot keep their defaults
        events: list[Any] = plain.pop("_events")  # type: ignore[assignment]
        self.__dict__.update(plain)
        self._events = [
            e
            if isinstance(e, Event)  # written before history was kept as tuples
            else Event(EventType(e[0]), KeyValue(*e[1]), None if e[2] is None else KeyValue(*e[2]))
            for e in events
        ]

    # == apply ===================================================================================

    def apply(self, batch: Batch) -> BatchOutcome:
        """Apply one Raft entry. Total: returns errors as values, never raises."""
        if not _well_formed(batch):
            return BatchOutcome(applied=())
        if self._unpruned:
            self._prune_some()
        seen = self._outcomes.get(batch.batch_id)
        if seen is not None:
            return BatchOutcome(applied=seen, duplicate=True)
        self._batch_events = []
        applied: list[Applied] = []
        for op in batch.ops:
            try:
                result = self._apply_op(op, batch.now_ms)
            except Exception as exc:  # noqa: BLE001 - apply must be total (module docstring)
                result = StoreError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            applied.append(Applied(result, self.revision))
        outcome = tuple(applied)
        if batch.ops:
            self._remember(batch, outcome)
        events, self._batch_events = tuple(self._batch_events), []
        return BatchOutcome(applied=outcome, events=events)

    def _record(self, event: Event) -> None:
        self._events.append(event)
        self._batch_events.append(event)

    def _remember(self, batch: Batch, outcome: tuple[Applied, ...]) -> None:
        self._outcomes[batch.batch_id] = outcome
        self._outcome_order.append((batch.now_ms, batch.batch_id))
        horizon = batch.now_ms - DEDUPE_WINDOW_MS
        order = self._outcome_order
        while order and (len(order) > DEDUPE_MAX_BATCHES or order[0][0] < horizon):
            _, old = order.popleft()
            self._outcomes.pop(old, None)

    def _apply_op(self, op: Op, now_ms: int) -> OpResult | StoreError:
        if isinstance(op, TxnOp):
            return self._txn(op)
        if isinstance(op, PutOp | DeleteOp | RangeOp):
            return self._txn(TxnOp(success=(op,)), unwrap=True)
        if isinstance(op, LeaseGrantOp):
            return self._lease_grant(op, now_ms)
        if isinstance(op, LeaseKeepAliveOp):
            lease = self.leases.get(op.id)
            if lease is None or lease.deadline_ms <= now_ms:
                return StoreError(ErrorCode.LEASE_NOT_FOUND)  # expired leases are not renewed
            lease.deadline_ms = now_ms + lease.ttl * 1000
            return LeaseKeepAliveResult(op.id, lease.ttl)
        if isinstance(op, LeaseRevokeOp):
            if op.id not in self.leases:
                return StoreError(ErrorCode.LEASE_NOT_FOUND)
            self._revoke(op.id)
            return Done()
        if isinstance(op, CompactOp):
            return self._compact(op.revision)
        if isinstance(op, RegisterMemberOp):
            self.members[op.member_id] = Member(op.member_id, op.name, op.peer_urls, op.client_urls)
            return Done()
        return self._apply_leader_op(op, now_ms)

    def _apply_leader_op(
        self, op: ClaimLeadershipOp | ExpireLeasesOp | AutoCompactOp, now_ms: int
    ) -> OpResult | StoreError:
        if isinstance(op, ClaimLeadershipOp):
            if op.epoch < self.leader_epoch:
                return StoreError(ErrorCode.STALE_EPOCH)
            if op.epoch > self.leader_epoch:
                self.leader_epoch = op.epoch
                # A new leader cannot know which keepalives the old one saw last: give every
                # lease a full TTL from now, as etcd's lessor does on promotion.
                for lease in self.leases.values():
                    fresh = now_ms + lease.ttl * 1000 + op.lease_extension_ms
                    lease.deadline_ms = max(lease.deadline_ms, fresh)
            return Done()
        if op.epoch != self.leader_epoch:
            return StoreError(ErrorCode.STALE_EPOCH)
        if isinstance(op, ExpireLeasesOp):
            for lease_id in lease_ids(op.ids):
                expiring = self.leases.get(lease_id)
                if expiring is not None and expiring.deadline_ms <= now_ms:
                    self._revoke(lease_id)
            return Done()
        if op.revision <= self.compact_revision:
            return Done()
        return self._compact(op.revision)

    # == transactions ============================================================================

    def _txn(self, op: TxnOp, unwrap: bool = False) -> OpResult | StoreError:
        """Run a txn as one write: validate the chosen path, then apply it at one revision."""
        error = check_txn(op)
        if error is not None:
            return error
        path = self._choose_path(op)
        error = self._check_path(path, plain=unwrap)
        if error is not None:
            return error
        write_revision = self.revision + 1
        changed = [False]
        result = self._run_txn(op, iter(path), write_revision, changed)
        if changed[0]:
            self.revision = write_revision
        if unwrap:
            return result.responses[0]
        return result

    def _choose_path(self, op: TxnOp) -> list[tuple[TxnOp, bool]]:
        """The (txn, succeeded) decisions, outermost first, evaluated before any write."""
        succeeded = all(self._compare(c) for c in op.compares)
        path = [(op, succeeded)]
        for child in op.success if succeeded else op.failure:
            if isinstance(child, TxnOp):
                path.extend(self._choose_path(child))
        return path

    def _check_path(self, path: list[tuple[TxnOp, bool]], plain: bool) -> StoreError | None:
        """etcd's order: every put on the taken path (depth first), then every range.

        ``plain`` is a client Put outside a txn, for which etcd looks up the lease before the key.
        """
        taken = {id(txn): ok for txn, ok in path}
        for kind in (PutOp, RangeOp):
            for child in _walk_taken(path[0][0], taken):
                if isinstance(child, kind):
                    error = self._check_op_state(child, plain)
                    if error is not None:
                        return error
        return None

    def _check_op_state(self, op: TxnBranchOp, plain: bool) -> StoreError | None:
        if isinstance(op, PutOp):
            error = check_put(op)
            missing_lease = bool(op.lease) and op.lease not in self.leases
            missing_key = (op.ignore_value or op.ignore_lease) and self.keyspace.get(op.key) is None
            if error is None and missing_lease and (plain or not missing_key):
                error = StoreError(ErrorCode.LEASE_NOT_FOUND)
            if error is None and missing_key:
                error = StoreError(ErrorCode.KEY_NOT_FOUND)
            return error
        if isinstance(op, RangeOp):
            return check_range(op) or self._check_read_revision(op.revision)
        if isinstance(op, DeleteOp):
            return check_range(op)
        return None

    def _run_txn(
        self,
        op: TxnOp,
        decisions: Iterable[tuple[TxnOp, bool]],
        revision: Revision,
        changed: list[bool],
    ) -> TxnResult:
        decisions = iter(decisions)
        _, succeeded = next(decisions)
        responses: list[TxnBranchResult] = []
        for child in op.success if succeeded else op.failure:
            if isinstance(child, PutOp):
                responses.append(self._put(child, revision))
                changed[0] = True
            elif isinstance(child, DeleteOp):
                deleted = self._delete(child, revision)
                changed[0] = changed[0] or deleted.deleted > 0
                responses.append(deleted)
            elif isinstance(child, RangeOp):
                read = self.read_range(child)
                assert not isinstance(read, StoreError)  # checked by _check_path
                responses.append(read)
            else:
                responses.append(self._run_txn(child, decisions, revision, changed))
        return TxnResult(succeeded, tuple(responses))

    def _compare(self, compare: Compare) -> bool:
        kvs = list(self.keyspace.range(compare.key, compare.range_end, None))
        if not kvs:
            if compare.target is CompareTarget.VALUE:
                return False
            kvs = [KeyValue(key=compare.key, create_revision=0, mod_revision=0, version=0)]
        return all(compare_holds(compare, kv) for kv in kvs)

    def _put(self, op: PutOp, revision: Revision) -> PutResult:
        prev = self.keyspace.get(op.key)
        value = prev.value if op.ignore_value and prev else op.value
        lease = prev.lease if op.ignore_lease and prev else op.lease
        kv = KeyValue(
            key=op.key,
            create_revision=prev.create_revision if prev else revision,
            mod_revision=revision,
            version=prev.version + 1 if prev else 1,
            value=value,
            lease=lease,
        )
        if lease and lease not in self.leases:
            lease = 0  # ignore_lease on a key whose lease is gone: the key keeps no lease
            kv = dataclasses.replace(kv, lease=0)
        self.keyspace.put(kv)
        if prev is not None and prev.lease and prev.lease != lease:
            self._detach(prev.lease, op.key)
        if lease:
            self.leases[lease].keys.add(op.key)
        self._record(Event(EventType.PUT, kv, prev))
        return PutResult(prev) if op.prev_kv and prev is not None else _PUT_DONE

    def _delete(self, op: DeleteOp, revision: Revision) -> DeleteResult:
        doomed = list(self.keyspace.range(op.key, op.range_end, None))
        for kv in doomed:
            self.keyspace.delete(kv.key, revision)
            if kv.lease:
                self._detach(kv.lease, kv.key)
            tomb = KeyValue(key=kv.key, create_revision=0, mod_revision=revision, version=0)
            self._record(Event(EventType.DELETE, tomb, kv))
        return DeleteResult(len(doomed), tuple(doomed) if op.prev_kv else ())

    def _detach(self, lease_id: LeaseID, key: bytes) -> None:
        lease = self.leases.get(lease_id)
        if lease is not None:
            lease.keys.discard(key)

    # == leases and compaction ===================================================================

    def _lease_grant(self, op: LeaseGrantOp, now_ms: int) -> OpResult | StoreError:
        if op.ttl > MAX_LEASE_TTL:
            return StoreError(ErrorCode.LEASE_TTL_TOO_LARGE)
        lease_id = op.id
        while lease_id == 0 or (lease_id in self.leases and op.id == 0):
            self._lease_seq += 1
            lease_id = _mix64(self._lease_seq) & _INT63
        if lease_id in self.leases:
            return StoreError(ErrorCode.LEASE_EXISTS)
        ttl = max(op.ttl, MIN_LEASE_TTL)
        self.leases[lease_id] = Lease(lease_id, ttl, now_ms + ttl * 1000, set())
        return LeaseGrantResult(lease_id, ttl)

    def _revoke(self, lease_id: LeaseID) -> None:
        """Remove the lease and delete its keys, all in one revision (however many keys)."""
        lease = self.leases.pop(lease_id, None)
        if lease is None or not lease.keys:
            return
        revision = self.revision + 1
        deleted = 0
        for key in sorted(lease.keys):
            deleted += self._delete(DeleteOp(key), revision).deleted
        if deleted:
            self.revision = revision

    def _compact(self, revision: Revision) -> OpResult | StoreError:
        if revision <= self.compact_revision:
            return StoreError(ErrorCode.COMPACTED)
        if revision > self.revision:
            return StoreError(ErrorCode.FUTURE_REV)
        cut = self._event_index(revision)
        self._unpruned.extend(event.kv.key for event in self._events[self._events_start : cut])
        self._events_start = cut
        if cut > len(self._events) // 2:
            del self._events[:cut]
            self._events_start = 0
        self.compact_revision = revision
        return Done()

    def _prune_some(self) -> None:
        """Drop the versions compaction made unreachable, for up to `PRUNE_PER_BATCH` keys.

        Compacting a range that touched many keys (a big DeleteRange) would otherwise stall
        apply on every member at once. Versions older than ``compact_revision`` are never
        read (such reads get COMPACTED), so pruning them later changes no answer; each key is
        pruned at the compact revision current when its turn comes.
        """
        batch = [self._unpruned.popleft() for _ in range(min(PRUNE_PER_BATCH, len(self._unpruned)))]
        self.keyspace.compact(self.compact_revision, batch)

    def _event_index(self, revision: Revision) -> int:
        return bisect_left(
            self._events, revision, lo=self._events_start, key=lambda e: e.kv.mod_revision
        )

    # == reads ===================================================================================

    def _check_read_revision(self, revision: Revision) -> StoreError | None:
        if revision > self.revision:
            return StoreError(ErrorCode.FUTURE_REV)
        if 0 < revision < self.compact_revision:
            return StoreError(ErrorCode.COMPACTED)
        return None

    def read_range(self, op: RangeOp) -> RangeResult | StoreError:
        """etcd Range: ``count`` is every key in range; filters and sort apply before ``limit``."""
        error = check_range(op) or self._check_read_revision(op.revision)
        if error is not None:
            return error
        found = self.keyspace.range(op.key, op.range_end, op.revision if op.revision > 0 else None)
        limit = max(op.limit, 0)
        if op.count_only:
            return RangeResult((), more=False, count=sum(1 for _ in found))
        order = op.sort_order
        if op.sort_target is not SortTarget.KEY and order is SortOrder.NONE:
            order = SortOrder.ASCEND
        filtered = bool(
            op.min_mod_revision
            or op.max_mod_revision
            or op.min_create_revision
            or op.max_create_revision
        )
        sorting = order is SortOrder.DESCEND or (
            order is SortOrder.ASCEND and op.sort_target is not SortTarget.KEY
        )
        # As etcd: only a requested order (or a filter) reads the whole range before the limit;
        # sort_order NONE with another target sorts just the first limit + 1 keys.
        whole = op.sort_order is not SortOrder.NONE or filtered or not limit
        keep = 0 if whole else limit + 1
        kvs: list[KeyValue] = []
        count = 0
        for kv in found:
            count += 1
            if not keep or len(kvs) < keep:
                kvs.append(kv)
        if filtered:
            kvs = [kv for kv in kvs if _revision_filter(op, kv)]
        if sorting:
            kvs.sort(key=_SORT_KEYS[op.sort_target], reverse=order is SortOrder.DESCEND)
        more = bool(limit) and len(kvs) > limit
        if more:
            del kvs[limit:]
        if op.keys_only:
            kvs = [dataclasses.replace(kv, value=b"") for kv in kvs]
        return RangeResult(tuple(kvs), more=more, count=count)

    def events_since(self, revision: Revision) -> tuple[Event, ...] | StoreError:
        """Every retained event at or after ``revision``, in order; COMPACTED if trimmed."""
        if revision < self.compact_revision:
            return StoreError(ErrorCode.COMPACTED)
        return tuple(self._events[self._event_index(revision) :])

    def lease_info(self, lease_id: LeaseID, now_ms: int) -> LeaseInfo | None:
        lease = self.leases.get(lease_id)
        if lease is None:
            return None
        remaining = max(0, lease.deadline_ms - now_ms)
        return LeaseInfo(lease.id, lease.ttl, remaining, tuple(sorted(lease.keys)))

    def expired_leases(self, now_ms: int, limit: int = 1000) -> tuple[LeaseID, ...]:
        """Leases past their deadline: what the leader proposes in an `ExpireLeasesOp`."""
        found = [lease.id for lease in self.leases.values() if lease.deadline_ms <= now_ms]
        return tuple(sorted(found)[:limit])
