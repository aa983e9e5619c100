"""The file format of a member's Raft snapshot (``<data-dir>/raft.dump``), and nothing else.

A snapshot holds the replicated state at one log position plus what Raft needs to resume
from it. It is written by a forked child of the member (`kubelite.store.raft`), so writing
must be cheap in CPU: a pickle of plain tuples (see `MvccState.__getstate__`), no
compression. A SHA-256 trailer tells a complete file from a torn or foreign one::

    KUBELITE-RAFT-DUMP-1\\n | pickle(Snapshot fields) | sha256(everything before)

Files written by pysyncobj's own serializer (gzip'd pickles, before this format existed) are
still read.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from dataclasses import dataclass
from typing import Any

from kubelite.store.mvcc import MvccState

MAGIC = b"KUBELITE-RAFT-DUMP-1\n"
_DIGEST = 32
_GZIP_MAGIC = b"\x1f\x8b"


class SnapshotError(ValueError):
    """A snapshot file that is missing its trailer, damaged, or not a snapshot at all."""


@dataclass(frozen=True)
class Snapshot:
    """One snapshot: the state, pysyncobj's opaque resume data, and our log accounting."""

    state: MvccState
    raft: tuple[Any, ...]
    log_bytes: int = 0
    log_entries: int = 0


class _HashingWriter:
    """A file-like sink for `pickle.dump` that writes to ``fd`` and hashes what it wrote."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.digest = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        return len(data)


def write(fd: int, snapshot: Snapshot) -> None:
    """Write ``snapshot`` to the open file ``fd`` and fsync it."""
    sink = _HashingWriter(fd)
    sink.write(MAGIC)
    fields = (snapshot.state, snapshot.raft, snapshot.log_bytes, snapshot.log_entries)
    pickle.dump(fields, sink, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, sink.digest.digest())
    os.fsync(fd)


def read(path: str) -> Snapshot:
    """The snapshot in ``path``; `SnapshotError` if it is incomplete or not one."""
    with open(path, "rb") as file:
        blob = file.read()
    if blob.startswith(_GZIP_MAGIC):
        return _read_pysyncobj_dump(blob, path)
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _DIGEST:
        raise SnapshotError(f"{path}: not a kubelite snapshot")
    body, digest = blob[:-_DIGEST], blob[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError(f"{path}: incomplete or damaged (sha256 mismatch)")
    state, raft, log_bytes, log_entries = pickle.loads(memoryview(body)[len(MAGIC) :])
    if not isinstance(state, MvccState):
        raise SnapshotError(f"{path}: holds no store state")
    return Snapshot(state, tuple(raft), log_bytes, log_entries)


def _read_pysyncobj_dump(blob: bytes, path: str) -> Snapshot:
    """pysyncobj's default format: gzip(pickle((attributes, *raft))); ours is the ``state``."""
    try:
        attributes, *raft = pickle.loads(gzip.decompress(blob))
        state = attributes["state"]
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{path}: unreadable pysyncobj dump ({exc})") from exc
    if not isinstance(state, MvccState):
        raise SnapshotError(f"{path}: holds no store state")
    return Snapshot(state, tuple(raft))
