"""Small helpers the store unit tests share: a driver with a clock, and a canonical dump.

`Driver` feeds ops to one `MvccState` as batches with fresh ids and a proposer clock the test
controls, so a table row reads as the commands it sends::

    >>> from kubelite.store.types import PutOp
    >>> d = Driver()
    >>> d.result(PutOp(b"a", b"1"))
    PutResult(prev_kv=None)
    >>> d.state.revision
    2

`canonical_dump` describes a store through its public reads only (every retained revision,
the event log, leases, members), so it works on `MvccState` and on the reference model alike.
"""

from __future__ import annotations

import itertools
from typing import Any

from kubelite.store.mvcc import MvccState
from kubelite.store.types import (
    Applied,
    Batch,
    BatchOutcome,
    KeyValue,
    Op,
    OpResult,
    RangeOp,
    StoreError,
)

ALL = RangeOp(b"\x00", b"\x00")


def kv(key: bytes, value: bytes, create: int, mod: int, version: int, lease: int = 0) -> KeyValue:
    return KeyValue(key, create, mod, version, value, lease)


class Driver:
    """One state machine, a batch id counter and a clock (milliseconds)."""

    def __init__(self, state: MvccState | None = None, now_ms: int = 0) -> None:
        self.state = state if state is not None else MvccState()
        self.now_ms = now_ms
        self._ids = itertools.count(1)

    def batch(self, *ops: Op, now_ms: int | None = None) -> Batch:
        if now_ms is not None:
            self.now_ms = now_ms
        return Batch(f"batch-{next(self._ids)}", self.now_ms, ops)

    def apply(self, *ops: Op, now_ms: int | None = None) -> BatchOutcome:
        return self.state.apply(self.batch(*ops, now_ms=now_ms))

    def applied(self, op: Op, now_ms: int | None = None) -> Applied:
        return self.apply(op, now_ms=now_ms).applied[0]

    def result(self, op: Op, now_ms: int | None = None) -> OpResult | StoreError:
        return self.applied(op, now_ms=now_ms).result

    def ok(self, *ops: Op, now_ms: int | None = None) -> BatchOutcome:
        """Apply ops that must all succeed (test setup)."""
        outcome = self.apply(*ops, now_ms=now_ms)
        errors = [a.result for a in outcome.applied if isinstance(a.result, StoreError)]
        assert not errors, f"setup ops failed: {errors}"
        return outcome

    def read(self, op: RangeOp = ALL) -> Any:
        return self.state.read_range(op)


def canonical_dump(store: Any, now_ms: int) -> dict[str, Any]:
    """Everything a client could observe of ``store`` (MvccState or ReferenceStore)."""
    floor = max(store.compact_revision, 1)
    return {
        "revision": store.revision,
        "compact_revision": store.compact_revision,
        "leader_epoch": store.leader_epoch,
        "history": {
            rev: store.read_range(RangeOp(b"\x00", b"\x00", revision=rev))
            for rev in range(floor, store.revision + 1)
        },
        "events": store.events_since(floor),
        "leases": {i: store.lease_info(i, now_ms) for i in sorted(store.leases)},
        "expired": store.expired_leases(now_ms),
        "members": {
            m: (v.name, tuple(v.peer_urls), tuple(v.client_urls))
            for m, v in sorted(store.members.items())
        },
    }
