"""The pysyncobj adapter: the only module that imports pysyncobj.

`RaftMember` replicates `Batch` commands into an `MvccState` on every member. It owns three
things pysyncobj does not do by itself (../shared/reference/pysyncobj.md):

* **Durability.** pysyncobj writes its journal through mmap and never flushes it. Our transport
  (`_DurableTransport`) makes one rule hold: *no Raft message leaves a member before the journal
  it describes is on disk*. Before an ``append_entries`` (leader) or ``next_node_idx`` ack
  (follower) goes out, the journal is fdatasync'ed; before a vote request or vote, the term/vote
  meta file and its folder are fsync'ed. A leader counts an entry committed only on acks, so an
  acknowledged write is fsync'ed on a majority. Many client writes share one entry (group commit,
  `kubelite.store.proposer`), so one fdatasync covers them all.
* **Totality.** `apply_batch` never raises: an exception inside a replicated method would stop
  apply on every member forever.
* **Snapshots.** pysyncobj's own snapshot is a gzip-9 pickle of the whole object; on two
  cores, three members doing that at the same log index stalled Raft into elections. Here a
  forked child writes `kubelite.store.snapshot`'s format (plain tuples, no compression,
  fsynced), and each member compacts at its own phase of the log (`passes_mark`), so
  members never snapshot together.
* **Threads.** pysyncobj applies on its own tick thread. State is read by the gRPC thread under
  ``lock``; applied events leave through ``on_applied``, which must only hand them over (the
  server posts them to its event loop with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import _socket
import gc
import logging
import mmap
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysyncobj import SERIALIZER_STATE, SyncObj, SyncObjConf, SyncObjException, replicated
from pysyncobj.transport import TCPTransport

from kubelite.store import snapshot
from kubelite.store.mvcc import MvccState
from kubelite.store.types import Applied, Batch, BatchOutcome, ErrorCode, StoreError, payload_bytes

log = logging.getLogger(__name__)

# pysyncobj 0.3.17 (win_inet_pton.py) replaces socket.inet_ntop with a Windows-only version on
# every OS, breaking every later user in the process (psutil, for one): put the real one back.
socket.inet_ntop = _socket.inet_ntop

MAX_ENTRY_BYTES = 16 << 20
_NEVER = 1 << 62
JOURNAL_RELEASE_BYTES = 4 << 20  # log bytes between releases of the journal's mapped pages
LONG_APPLY_S = 0.05  # an apply this long postpones this member's election deadline

ApplyCallback = Callable[[BatchOutcome | None, int], None]


@dataclass(frozen=True)
class RaftSettings:
    """Tuning for pysyncobj; the defaults are chosen from the measurements in the reference."""

    election_timeout_min: float = 0.5
    election_timeout_max: float = 1.2
    heartbeat: float = 0.05
    tick: float = 0.01
    leader_fallback_timeout: float = 2.0
    connection_timeout: float = 3.5
    connection_retry: float = 0.5
    log_compaction_entries: int = 20_000
    log_compaction_bytes: int = 8 << 20
    bind_retries: int = 15


class PeerBindError(OSError):
    """The Raft peer address could not be bound (in use, or not an address of this host)."""


class _JournalSync:
    """fdatasync of the Raft journal and fsync of its meta file, as the transport needs them.

    A sync is skipped when the journal's end has not moved since the last one. pysyncobj's
    journal format (reference §3.2) keeps the end offset of its records in the header; a record
    is ``len | idx | term | command | len``. Any append, truncation or rewrite changes the triple
    (end, last idx, last term): a truncated suffix is replaced only by entries of a newer term.
    """

    _END_OFFSET_AT = 24 + 8 + 4  # name, version, format version; then uint32 end offset

    def __init__(self, journal: Path) -> None:
        self._journal = journal
        self._meta = Path(f"{journal}.meta")
        self._fd: int | None = None
        self._synced_end: bytes | None = None

    def _end_marker(self, fd: int) -> bytes:
        end_bytes = os.pread(fd, 4, self._END_OFFSET_AT)
        end = int.from_bytes(end_bytes, "little")
        if end <= self._END_OFFSET_AT + 8:
            return end_bytes  # no records
        size = int.from_bytes(os.pread(fd, 4, end - 4), "little")
        return end_bytes + os.pread(fd, 16, max(0, end - 4 - size))

    def journal(self) -> None:
        if self._fd is None:
            if not self._journal.exists():
                return
            self._fd = os.open(self._journal, os.O_RDWR)
        marker = self._end_marker(self._fd)
        if marker == self._synced_end:
            return
        os.fdatasync(self._fd)
        self._synced_end = marker

    def meta(self) -> None:
        if self._meta.exists():
            fd = os.open(self._meta, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        folder = os.open(self._meta.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def keeps_pipelined_index(message: Any) -> bool:
    """Whether ``message`` is a plain success ack, which must never move a nextIndex back.

    pysyncobj's leader sets a follower's nextIndex to ``acked + 1`` on every success ack that
    raises its matchIndex (reference §3.6). With several append_entries in flight, each ack
    then winds nextIndex back over entries already sent, so the leader sends them again and
    the follower truncates and re-appends them (logging "truncating already-applied log
    entries"), which costs encryption, journal writes and an fdatasync per re-send. A success
    ack only says "I have up to here": nextIndex may stay ahead of it. A follower missing what
    was sent answers the next heartbeat with a reset, which pysyncobj honours.
    """
    return (
        isinstance(message, dict)
        and message.get("type") == "next_node_idx"
        and message.get("success") is True
        and message.get("reset") is False
    )


class _DurableTransport(TCPTransport):  # type: ignore[misc]
    """TCPTransport that makes the journal durable before a message can promise anything,
    and keeps the leader's replication pipelined (`keeps_pipelined_index`)."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        self._sync: _JournalSync | None = getattr(syncObj, "_journal_sync", None)
        self._member = syncObj
        super().__init__(syncObj, selfNode, otherNodes)

    def setOnMessageReceivedCallback(self, callback: Any) -> None:
        if callback is None:
            super().setOnMessageReceivedCallback(None)
            return
        member = self._member

        def received(node: Any, message: Any) -> None:
            if not keeps_pipelined_index(message):
                callback(node, message)
                return
            next_index: dict[Any, int] = member._SyncObj__raftNextIndex
            before = next_index.get(node)
            callback(node, message)
            if before is not None and next_index.get(node, before) < before:
                next_index[node] = before

        super().setOnMessageReceivedCallback(received)

    def send(self, node: Any, message: Any) -> bool:
        sync = self._sync
        if sync is not None and isinstance(message, dict):
            kind = message.get("type")
            if kind in ("append_entries", "next_node_idx"):
                sync.journal()
            elif kind in ("request_vote", "response_vote"):
                sync.journal()
                sync.meta()
        return bool(super().send(node, message))


def passes_mark(before: int, after: int, period: int, rank: int, members: int) -> bool:
    """Whether a log counter going from ``before`` to ``after`` passes this member's mark.

    Marks are every ``period``, shifted by ``rank / members`` of a period: every member
    counts the same applied entries, so members compact in turn, never at the same index.
    """
    phase = period * rank // max(members, 1)
    return (before + phase) // period != (after + phase) // period


def byte_period(base: int, state_bytes: int) -> int:
    """Log bytes between snapshots: ``base``, or half the state for bigger stores (rounded up
    to a power of two, so the period, and with it each member's phase, rarely changes).

    A snapshot writes the whole state, so a period of half the state bounds the snapshot
    work to twice the bytes written, and the log held in memory to half the state.
    """
    half = max(state_bytes // 2, 1)
    return max(base, 1 << (half - 1).bit_length())


class _Snapshots:
    """pysyncobj's snapshot hooks (``serializer``, ``serializeChecker``, ``deserializer``).

    ``serialize`` runs on the tick thread and forks; the child writes the snapshot and
    fsyncs it while the member goes on. pysyncobj renames the file being written over
    ``raft.dump`` as soon as ``serialize`` returns, so the last complete dump is first kept
    as ``raft.dump.prev`` (a hard link): a member that dies mid-write restarts from it, and
    the log still holds every entry after it (pysyncobj drops entries only on SUCCESS).
    """

    def __init__(self, member: RaftMember, dump: Path) -> None:
        self._member = member
        self._dump = dump
        self._prev = Path(f"{dump}.prev")
        self._child: int | None = None
        self._started, self._entry = 0.0, 0

    def serialize(self, tmp_name: str, raft: tuple[Any, ...]) -> None:
        if self._dump.exists():
            _link_over(self._dump, self._prev)
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        member = self._member
        image = snapshot.Snapshot(member.state, raft, member.log_bytes, member.log_entries)
        pid = os.fork()
        if pid == 0:  # the child: no locks, no logging, no return
            status = 1
            try:
                gc.disable()  # a collection would touch, and so copy, every page
                snapshot.write(fd, image)
                status = 0
            except BaseException:  # noqa: BLE001 - reported, and the child must exit
                os.write(2, f"snapshot failed: {traceback.format_exc()}".encode())
            finally:
                os._exit(status)
        os.close(fd)
        self._child = pid
        self._started, self._entry = time.monotonic(), image.log_entries

    def check(self) -> int:
        if self._child is None:
            return int(SERIALIZER_STATE.NOT_SERIALIZING)
        pid, status = os.waitpid(self._child, os.WNOHANG)
        if pid == 0:
            return int(SERIALIZER_STATE.SERIALIZING)
        self._child = None
        if status == 0:
            _fsync_folder(self._dump.parent)
            self._member.release_journal_pages()
            log.info(
                "snapshot at entry %s written in %.2f s",
                self._entry,
                time.monotonic() - self._started,
            )
            return int(SERIALIZER_STATE.SUCCESS)
        log.warning("snapshot child exited with status %#x; keeping the previous one", status)
        if self._prev.exists():
            _link_over(self._prev, self._dump)
        else:
            self._dump.unlink(missing_ok=True)  # the first snapshot: the log still has it all
        return int(SERIALIZER_STATE.FAILED)

    def deserialize(self, name: str) -> tuple[Any, ...]:
        """Load ``name`` (or, if torn, the dump before it) into the member; pysyncobj's part
        of it is returned to pysyncobj."""
        try:
            image = snapshot.read(name)
        except (OSError, snapshot.SnapshotError) as exc:
            log.warning("%s; loading the previous snapshot", exc)
            image = snapshot.read(str(self._prev))
            _link_over(self._prev, Path(name))  # the next snapshot must not keep the torn one
        self._member.restore(image)
        return image.raft


def _link_over(source: Path, target: Path) -> None:
    """Make ``target`` another name of ``source``'s file, atomically."""
    staging = Path(f"{target}.link")
    staging.unlink(missing_ok=True)
    os.link(source, staging)
    os.replace(staging, target)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RaftMember(SyncObj):  # type: ignore[misc]
    """One member of the replicated store (see module docstring)."""

    def __init__(
        self,
        self_address: str,
        peer_addresses: list[str],
        data_dir: Path,
        password: str | None,
        on_applied: Callable[[BatchOutcome, int], None],
        settings: RaftSettings | None = None,
    ) -> None:
        # Attributes set before SyncObj.__init__ are not part of pysyncobj's snapshots.
        self.lock = threading.Lock()
        self._on_applied = on_applied
        settings = settings or RaftSettings()
        self._settings = settings
        self.state = MvccState()
        self.log_bytes = 0  # payload bytes and entries applied, ever: the same on every member
        self.log_entries = 0
        everyone = sorted([self_address, *peer_addresses])
        self._rank, self._members = everyone.index(self_address), len(everyone)
        journal = data_dir / "raft.journal"
        dump = data_dir / "raft.dump"
        self._journal_sync = _JournalSync(journal)
        self.snapshots = _Snapshots(self, dump)
        bind_host = self_address.rsplit(":", 1)[0]
        conf = SyncObjConf(
            journalFile=str(journal),
            fullDumpFile=str(dump),
            serializer=self.snapshots.serialize,
            serializeChecker=self.snapshots.check,
            deserializer=self.snapshots.deserialize,
            password=password,
            bindAddress=self_address if bind_host else None,
            appendEntriesUseBatch=False,
            appendEntriesPeriod=settings.heartbeat,
            autoTickPeriod=settings.tick,
            raftMinTimeout=settings.election_timeout_min,
            raftMaxTimeout=settings.election_timeout_max,
            leaderFallbackTimeout=settings.leader_fallback_timeout,
            connectionTimeout=settings.connection_timeout,
            connectionRetryTime=settings.connection_retry,
            # Only `_count_for_compaction` starts snapshots: pysyncobj's own triggers (entry
            # count, time) fire on every member at once.
            logCompactionMinEntries=_NEVER,
            logCompactionMinTime=_NEVER,
            logCompactionSplit=False,  # True confines even forced compactions to time windows
            commandsQueueSize=0,
            # pysyncobj splits a larger entry into a chunked "transmission" whose end it
            # misjudges (it compares pickled offsets with the command's length), leaving
            # followers unable to decode it on every tick. Our entries never get this big:
            # group-commit batches stop at proposer.MAX_BATCH_BYTES and requests at 1.5 MiB.
            appendEntriesBatchSizeBytes=MAX_ENTRY_BYTES,
            maxBindRetries=settings.bind_retries,
            bindRetryTime=0.2,
            commandsWaitLeader=True,
        )
        super().__init__(self_address, peer_addresses, conf, transportClass=_DurableTransport)
        try:
            self.waitBinded()
        except SyncObjException as exc:
            self.destroy()
            raise PeerBindError(f"cannot bind the Raft peer address {self_address}: {exc}") from exc

    # -- replicated ------------------------------------------------------------------------------

    @replicated  # type: ignore[untyped-decorator]
    def apply_batch(self, batch: Batch) -> BatchOutcome:
        """Apply one entry on this member. Total: errors are returned, never raised."""
        started = time.monotonic()
        try:
            with self.lock:
                outcome = self.state.apply(batch)
                revision = self.state.revision
        except Exception as exc:
            log.exception("apply failed; entry ignored")
            error = StoreError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            return BatchOutcome(applied=(Applied(error, 0),))
        finally:
            self._postpone_election(time.monotonic() - started)
        try:
            self._on_applied(outcome, revision)
        except Exception:
            log.exception("event listener failed")
        try:
            self._count_for_compaction(batch)
        except Exception:
            log.exception("log compaction accounting failed")
        return outcome

    def _postpone_election(self, busy: float) -> None:
        """Move a follower's election deadline past time it spent applying.

        pysyncobj checks the deadline at the start of a tick, before it reads what the leader
        sent meanwhile, so one long apply (a DeleteRange of many keys) made a follower depose a
        healthy leader. Postponing an election only ever delays it (safe in Raft).
        """
        if busy > LONG_APPLY_S:
            self._SyncObj__raftElectionDeadline += busy

    def _count_for_compaction(self, batch: Batch) -> None:
        """Ask pysyncobj for a snapshot (log compaction) at this member's marks.

        pysyncobj keeps its whole log in memory until it compacts. A member compacts every
        ``log_compaction_entries`` entries and every `byte_period` bytes of log, each at its
        own phase (`passes_mark`). The counters and the state size the period follows are
        replicated state, so every member sees the same marks at the same entry and the phases
        never drift together (a period from each member's own snapshot size did). Between
        snapshots the journal's mapped pages are released every `JOURNAL_RELEASE_BYTES`.
        """
        size = sum(64 + payload_bytes(op) for op in batch.ops)
        bytes_before, entries_before = self.log_bytes, self.log_entries
        self.log_bytes += size
        self.log_entries += 1
        settings, rank, members = self._settings, self._rank, self._members
        period = byte_period(settings.log_compaction_bytes, self.state.keyspace.stored_bytes)
        if passes_mark(bytes_before, self.log_bytes, period, rank, members) or passes_mark(
            entries_before, self.log_entries, settings.log_compaction_entries, rank, members
        ):
            self.forceLogCompaction()
        elif passes_mark(bytes_before, self.log_bytes, JOURNAL_RELEASE_BYTES, 0, 1):
            self.release_journal_pages()

    def release_journal_pages(self) -> None:
        """Unmap the journal's pages from this process: after a snapshot and every
        `JOURNAL_RELEASE_BYTES` of log, so at most that much of it counts in this member's RSS.

        pysyncobj writes its journal through mmap and reads it only at start-up, so written
        pages only add to RSS. MADV_DONTNEED on a shared file mapping keeps the data, dirty
        pages included (they stay in the page cache until written back, and fdatasync still
        covers them); a later access maps a page again.
        """
        try:
            journal = self._SyncObj__raftLog._FileJournal__journalFile
            journal._ResizableFile__mm.madvise(mmap.MADV_DONTNEED)
        except (AttributeError, ValueError, OSError) as exc:
            log.debug("journal pages not released: %s", exc)

    def restore(self, image: snapshot.Snapshot) -> None:
        """Replace the state by a snapshot's (on the tick thread, from pysyncobj)."""
        with self.lock:
            self.state = image.state
            self.log_bytes, self.log_entries = image.log_bytes, image.log_entries

    # -- queries used by the shell ---------------------------------------------------------------

    def submit(self, batch: Batch, callback: ApplyCallback) -> None:
        """Propose ``batch``; ``callback(outcome, fail_reason)`` runs on the tick thread."""
        self.apply_batch(batch, callback=callback)

    def leader_address(self) -> str | None:
        leader = self._getLeader()
        return None if leader is None else str(leader.address)

    def is_leader(self) -> bool:
        return bool(self._isLeader())

    def has_quorum(self) -> bool:
        return bool(self.hasQuorum)

    @property
    def term(self) -> int:
        return int(self.raftCurrentTerm)

    @property
    def commit_index(self) -> int:
        return int(self.raftCommitIndex)

    @property
    def applied_index(self) -> int:
        return int(self.raftLastApplied)

    def close(self) -> None:
        self.destroy()
        self._journal_sync.close()
