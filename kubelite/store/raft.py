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
* **Threads.** pysyncobj applies on its own tick thread. State is read by the gRPC thread under
  ``lock``; applied events leave through ``on_applied``, which must only hand them over (the
  server posts them to its event loop with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, SyncObjException, replicated
from pysyncobj.transport import TCPTransport

from kubelite.store.mvcc import MvccState
from kubelite.store.types import Applied, Batch, BatchOutcome, ErrorCode, StoreError, payload_bytes

log = logging.getLogger(__name__)

MAX_ENTRY_BYTES = 16 << 20

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
    log_compaction_seconds: int = 600
    log_compaction_bytes: int = 64 << 20
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


class _DurableTransport(TCPTransport):  # type: ignore[misc]
    """TCPTransport that makes the journal durable before a message can promise anything."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        self._sync: _JournalSync | None = getattr(syncObj, "_journal_sync", None)
        super().__init__(syncObj, selfNode, otherNodes)

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
        self._bytes_since_compaction = 0
        journal = data_dir / "raft.journal"
        self._journal_sync = _JournalSync(journal)
        bind_host = self_address.rsplit(":", 1)[0]
        conf = SyncObjConf(
            journalFile=str(journal),
            fullDumpFile=str(data_dir / "raft.dump"),
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
            logCompactionMinEntries=settings.log_compaction_entries,
            logCompactionMinTime=settings.log_compaction_seconds,
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
        self.state = MvccState()

    # -- replicated ------------------------------------------------------------------------------

    @replicated  # type: ignore[untyped-decorator]
    def apply_batch(self, batch: Batch) -> BatchOutcome:
        """Apply one entry on this member. Total: errors are returned, never raised."""
        try:
            with self.lock:
                outcome = self.state.apply(batch)
                revision = self.state.revision
        except Exception as exc:
            log.exception("apply failed; entry ignored")
            error = StoreError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            return BatchOutcome(applied=(Applied(error, 0),))
        try:
            self._on_applied(outcome, revision)
        except Exception:
            log.exception("event listener failed")
        try:
            self._count_for_compaction(batch)
        except Exception:
            log.exception("log compaction accounting failed")
        return outcome

    def _count_for_compaction(self, batch: Batch) -> None:
        """Ask pysyncobj for a log compaction once the log holds many bytes (it counts entries).

        pysyncobj keeps its whole log in memory until it compacts. Under load the log may grow to
        the larger of ``log_compaction_bytes`` and a quarter of the live data, so a big store
        (each snapshot forks and gzips all of it) is not re-snapshotted every few seconds.
        """
        size = sum(64 + payload_bytes(op) for op in batch.ops)
        self._bytes_since_compaction += size
        limit = max(self._settings.log_compaction_bytes, self.state.keyspace.live_bytes // 4)
        if self._bytes_since_compaction >= limit:
            self._bytes_since_compaction = 0
            self.forceLogCompaction()

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
