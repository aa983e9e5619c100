"""The Raft adapter's own decisions: snapshot files and hooks, when to compact, apply timing."""

from __future__ import annotations

import gzip
import itertools
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pysyncobj import SERIALIZER_STATE

from kubelite.store import snapshot
from kubelite.store.mvcc import MvccState
from kubelite.store.raft import _Snapshots, byte_period, passes_mark
from kubelite.store.types import (
    CompactOp,
    DeleteOp,
    LeaseGrantOp,
    PutOp,
    PutResult,
    RangeOp,
    TxnOp,
)
from tests.support.wait import wait_for

from .harness import Driver, canonical_dump

RAFT_PART = (("entry", 41, 3), ("entry", 40, 3), ("127.0.0.1:2380",))


def busy_state() -> MvccState:
    """A state with every kind of content: versions, tombstones, history, leases, outcomes."""
    d = Driver(now_ms=1_000)
    lease = d.applied(LeaseGrantOp(ttl=60, id=7))
    assert lease.result is not None
    for i in range(30):
        d.ok(PutOp(b"k%02d" % (i % 10), b"v%d" % i, prev_kv=True))
    d.ok(DeleteOp(b"k03"), PutOp(b"leased", b"x", lease=7))
    d.ok(CompactOp(revision=10))
    d.ok(TxnOp(success=(PutOp(b"t", b"1"), RangeOp(b"k00"))))
    return d.state


def write_file(path: Path, image: snapshot.Snapshot) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        snapshot.write(fd, image)
    finally:
        os.close(fd)


def test_a_written_snapshot_reads_back_as_the_same_store(tmp_path: Path) -> None:
    state = busy_state()
    path = tmp_path / "raft.dump"
    write_file(path, snapshot.Snapshot(state, RAFT_PART, log_bytes=1234, log_entries=56))

    image = snapshot.read(str(path))

    assert canonical_dump(image.state, 1_000) == canonical_dump(state, 1_000)
    assert image.raft == RAFT_PART
    assert (image.log_bytes, image.log_entries) == (1234, 56)
    # The restored copy goes on exactly like the original, retried batches included.
    for store in (state, image.state):
        store.apply(Driver(store, now_ms=2_000).batch(PutOp(b"after", b"1")))
    assert canonical_dump(image.state, 2_000) == canonical_dump(state, 2_000)


@pytest.mark.parametrize("keep", [0, 10, -1, -32, -33])
def test_a_torn_or_foreign_file_is_refused(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "raft.dump"
    write_file(path, snapshot.Snapshot(busy_state(), RAFT_PART))
    blob = path.read_bytes()
    path.write_bytes(blob[:keep] if keep else b"not a snapshot at all")

    with pytest.raises(snapshot.SnapshotError):
        snapshot.read(str(path))


def test_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raft.dump"
    write_file(path, snapshot.Snapshot(busy_state(), RAFT_PART))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))

    with pytest.raises(snapshot.SnapshotError, match="sha256"):
        snapshot.read(str(path))


def test_a_dump_in_pysyncobjs_own_format_is_still_read(tmp_path: Path) -> None:
    state = busy_state()
    path = tmp_path / "raft.dump"
    path.write_bytes(gzip.compress(pickle.dumps(({"state": state}, *RAFT_PART))))

    image = snapshot.read(str(path))

    assert canonical_dump(image.state, 1_000) == canonical_dump(state, 1_000)
    assert image.raft == RAFT_PART


def test_put_results_without_prev_kv_share_one_object() -> None:
    d = Driver()
    first = d.applied(PutOp(b"a", b"1")).result
    second = d.applied(PutOp(b"b", b"2")).result
    assert first == PutResult() and first is second
    with_prev = d.applied(PutOp(b"a", b"3", prev_kv=True)).result
    assert isinstance(with_prev, PutResult) and with_prev.prev_kv is not None


# -- when a member compacts ---------------------------------------------------------------------


@given(
    period=st.integers(1, 10_000),
    members=st.sampled_from([1, 3, 5]),
    rank=st.integers(0, 4),
    before=st.integers(0, 10**9),
    step=st.integers(0, 30_000),
)
def test_a_member_compacts_when_its_counter_passes_one_of_its_marks(
    period: int, members: int, rank: int, before: int, step: int
) -> None:
    rank %= members
    phase = period * rank // members
    # This member's marks are the counter values m with (m + phase) % period == 0.
    next_mark = before + period - (before + phase) % period
    assert passes_mark(before, before + step, period, rank, members) == (next_mark <= before + step)


@given(period=st.integers(5, 10_000), members=st.sampled_from([3, 5]))
def test_no_two_members_share_a_mark(period: int, members: int) -> None:
    phases = {period * rank // members for rank in range(members)}
    assert len(phases) == members
    # Consecutive members are at least period // members apart.
    ordered = sorted(phases)
    assert min(b - a for a, b in itertools.pairwise(ordered)) >= period // members


def test_byte_period_is_the_base_until_half_the_state_is_bigger() -> None:
    assert byte_period(8 << 20, 0) == 8 << 20
    assert byte_period(8 << 20, 16 << 20) == 8 << 20
    assert byte_period(8 << 20, (16 << 20) + 2) == 16 << 20
    assert byte_period(8 << 20, 30 << 20) == 16 << 20
    assert byte_period(8 << 20, 90 << 20) == 64 << 20


# -- the forked writer ---------------------------------------------------------------------------


class FakeMember:
    """What `_Snapshots` uses of a `RaftMember`."""

    def __init__(self, state: MvccState) -> None:
        self.state = state
        self.log_bytes = 99
        self.log_entries = 9
        self.lock = threading.Lock()
        self.restored: snapshot.Snapshot | None = None
        self.released = 0

    def restore(self, image: snapshot.Snapshot) -> None:
        self.restored = image

    def release_journal_pages(self) -> None:
        self.released += 1


def run_serialization(hooks: _Snapshots, dump: Path) -> int:
    """Do what pysyncobj does: serialize into a temp name, rename it at once, poll the checker."""
    tmp = Path(f"{dump}.tmp")
    hooks.serialize(str(tmp), RAFT_PART)
    os.replace(tmp, dump)
    outcome: list[int] = []

    def finished() -> bool:
        state = hooks.check()
        if state != SERIALIZER_STATE.SERIALIZING:
            outcome.append(state)
        return bool(outcome)

    wait_for(finished, timeout=30, describe=lambda: "the snapshot child to exit")
    return outcome[0]


def test_the_forked_child_writes_a_complete_snapshot(tmp_path: Path) -> None:
    dump = tmp_path / "raft.dump"
    state = busy_state()
    member = FakeMember(state)
    hooks = _Snapshots(member, dump)  # type: ignore[arg-type]
    assert hooks.check() == SERIALIZER_STATE.NOT_SERIALIZING

    assert run_serialization(hooks, dump) == SERIALIZER_STATE.SUCCESS
    assert hooks.check() == SERIALIZER_STATE.NOT_SERIALIZING
    assert member.released == 1  # the journal the snapshot covers leaves memory

    image = snapshot.read(str(dump))
    assert canonical_dump(image.state, 1_000) == canonical_dump(state, 1_000)
    assert (image.raft, image.log_bytes, image.log_entries) == (RAFT_PART, 99, 9)


def test_a_member_that_dies_mid_write_restarts_from_the_dump_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "raft.dump"
    member = FakeMember(MvccState())
    hooks = _Snapshots(member, dump)  # type: ignore[arg-type]
    assert run_serialization(hooks, dump) == SERIALIZER_STATE.SUCCESS
    member.state = busy_state()
    assert run_serialization(hooks, dump) == SERIALIZER_STATE.SUCCESS
    expected = canonical_dump(member.state, 1_000)

    def stall(fd: int, image: snapshot.Snapshot) -> None:
        os.write(fd, snapshot.MAGIC + b"half a snapsh")
        time.sleep(60)

    monkeypatch.setattr(snapshot, "write", stall)
    member.state = MvccState()
    hooks.serialize(f"{dump}.tmp", RAFT_PART)
    os.replace(f"{dump}.tmp", dump)
    wait_for(lambda: dump.stat().st_size > 0, timeout=30, describe=lambda: "the child to write")
    assert hooks._child is not None
    os.kill(hooks._child, signal.SIGKILL)  # the member dies with its child; nobody checks
    os.waitpid(hooks._child, 0)

    restarted = FakeMember(MvccState())
    raft_part: Any = _Snapshots(restarted, dump).deserialize(str(dump))  # type: ignore[arg-type]

    assert raft_part == RAFT_PART
    assert restarted.restored is not None
    assert canonical_dump(restarted.restored.state, 1_000) == expected
    # The torn file is gone: a later snapshot keeps the good one as its `.prev`.
    assert canonical_dump(snapshot.read(str(dump)).state, 1_000) == expected


def test_a_failed_child_leaves_the_previous_dump_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "raft.dump"
    state = busy_state()
    hooks = _Snapshots(FakeMember(state), dump)  # type: ignore[arg-type]
    assert run_serialization(hooks, dump) == SERIALIZER_STATE.SUCCESS
    good = dump.read_bytes()

    def fail(fd: int, image: snapshot.Snapshot) -> None:
        os.write(fd, b"half a snapsh")
        raise OSError("disk full")

    monkeypatch.setattr(snapshot, "write", fail)
    assert run_serialization(hooks, dump) == SERIALIZER_STATE.FAILED

    assert dump.read_bytes() == good


def test_a_snapshot_from_before_plain_tuples_still_loads() -> None:
    state = busy_state()
    old_style = dict(state.__dict__)  # what pickle stored before __getstate__ existed
    del old_style["_unpruned"]
    restored = MvccState.__new__(MvccState)
    restored.__setstate__(old_style)
    assert canonical_dump(restored, 1_000) == canonical_dump(state, 1_000)


def test_a_long_apply_postpones_the_election_deadline_by_its_duration() -> None:
    from types import SimpleNamespace

    from kubelite.store.raft import LONG_APPLY_S, RaftMember

    member = SimpleNamespace(_SyncObj__raftElectionDeadline=100.0)
    RaftMember._postpone_election(member, LONG_APPLY_S / 2)  # type: ignore[arg-type]
    assert member._SyncObj__raftElectionDeadline == 100.0
    RaftMember._postpone_election(member, 0.7)  # type: ignore[arg-type]
    assert member._SyncObj__raftElectionDeadline == 100.7


def test_a_failed_first_snapshot_leaves_no_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "raft.dump"
    hooks = _Snapshots(FakeMember(busy_state()), dump)  # type: ignore[arg-type]

    def fail(fd: int, image: snapshot.Snapshot) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(snapshot, "write", fail)
    assert run_serialization(hooks, dump) == SERIALIZER_STATE.FAILED
    assert not dump.exists()  # pysyncobj loads no dump and replays its whole log


def test_importing_the_raft_adapter_leaves_socket_inet_ntop_working() -> None:
    import socket

    import kubelite.store.raft  # noqa: F401 - imports pysyncobj, which replaced inet_ntop

    assert socket.inet_ntop(socket.AF_INET, b"\x7f\x00\x00\x01") == "127.0.0.1"
