"""The versioned key index: every key's versions since the last compaction, in key order.

`Keyspace` answers "what did [key, range_end) hold at revision R" and records new versions. It
knows nothing of leases, transactions or Raft; `kubelite.store.mvcc` drives it. Pure and
deterministic, no I/O.

Layout: a sorted dict ``key -> [KeyValue, ...]`` with versions in ascending ``mod_revision``. A
deleted key ends with a tombstone (``version == 0``). Compaction at revision C keeps, for each
key, the newest version at or below C (dropped if it is a tombstone) and everything above C.

Range conventions are etcd's: an empty ``range_end`` means the single key ``key``;
``range_end == b"\\0"`` means every key >= ``key``; ``key == range_end == b"\\0"`` means all keys.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from sortedcontainers import SortedDict

from kubelite.store.types import KeyValue, KvTuple, Revision, kv_tuple

FROM_KEY = b"\0"
VERSION_OVERHEAD = 64  # bytes counted per stored version besides its key and value


def version_bytes(kv: KeyValue) -> int:
    """What one stored version counts for in `Keyspace.stored_bytes`."""
    return VERSION_OVERHEAD + len(kv.key) + len(kv.value)


def key_in_range(candidate: bytes, key: bytes, range_end: bytes) -> bool:
    """Whether ``candidate`` falls in the etcd range given by (key, range_end)."""
    if not range_end:
        return candidate == key
    if range_end == FROM_KEY:
        return candidate >= key
    return key <= candidate < range_end


def _visible(versions: list[KeyValue], revision: Revision | None) -> KeyValue | None:
    """The live version of one key at ``revision`` (None = newest), or None."""
    if revision is None:
        newest = versions[-1]
    else:
        at = bisect_right(versions, revision, key=lambda kv: kv.mod_revision)
        if at == 0:
            return None
        newest = versions[at - 1]
    return None if newest.is_tombstone else newest


class Keyspace:
    """Sorted, versioned key index (see module docstring)."""

    def __init__(self) -> None:
        self._keys: SortedDict = SortedDict()
        self.live_keys = 0
        self.live_bytes = 0
        # Every version kept, history and tombstones included: a function of the contents
        # alone, so the same on every member at the same revision (snapshot sizing uses it).
        self.stored_bytes = 0

    # -- reads ----------------------------------------------------------------------------------

    def get(self, key: bytes, revision: Revision | None = None) -> KeyValue | None:
        versions: list[KeyValue] | None = self._keys.get(key)
        return _visible(versions, revision) if versions else None

    def range(self, key: bytes, range_end: bytes, revision: Revision | None) -> Iterator[KeyValue]:
        """Live key-values in the range at ``revision`` (None = newest), in key order."""
        if not range_end:
            kv = self.get(key, revision)
            if kv is not None:
                yield kv
            return
        if key == FROM_KEY and range_end == FROM_KEY:
            names: Iterable[bytes] = self._keys.irange()
        elif range_end == FROM_KEY:
            names = self._keys.irange(minimum=key)
        elif range_end <= key:
            return
        else:
            names = self._keys.irange(minimum=key, maximum=range_end, inclusive=(True, False))
        keys = self._keys
        for name in names:
            kv = _visible(keys[name], revision)
            if kv is not None:
                yield kv

    def __len__(self) -> int:
        return self.live_keys

    # -- snapshots ------------------------------------------------------------------------------

    def __getstate__(self) -> tuple[list[tuple[bytes, list[KvTuple]]], int, int]:
        """Plain tuples: pickling them runs in C, unlike one dataclass at a time."""
        keys = [(key, [kv_tuple(kv) for kv in versions]) for key, versions in self._keys.items()]
        return keys, self.live_keys, self.live_bytes

    def __setstate__(self, plain: tuple[list[tuple[bytes, list[KvTuple]]], int, int]) -> None:
        keys, self.live_keys, self.live_bytes = plain
        self._keys = SortedDict({key: [KeyValue(*kv) for kv in versions] for key, versions in keys})
        self.stored_bytes = sum(version_bytes(kv) for vs in self._keys.values() for kv in vs)

    # -- writes ---------------------------------------------------------------------------------

    def put(self, kv: KeyValue) -> KeyValue | None:
        """Record a new version; returns the version it replaces (None if absent or deleted)."""
        versions: list[KeyValue] | None = self._keys.get(kv.key)
        if versions is None:
            self._keys[kv.key] = [kv]
            prev = None
        else:
            prev = None if versions[-1].is_tombstone else versions[-1]
            versions.append(kv)
        self.stored_bytes += version_bytes(kv)
        if prev is None:
            self.live_keys += 1
            self.live_bytes += len(kv.key) + len(kv.value)
        else:
            self.live_bytes += len(kv.value) - len(prev.value)
        return prev

    def delete(self, key: bytes, revision: Revision) -> KeyValue | None:
        """Tombstone a live key at ``revision``; returns the deleted version, or None."""
        versions: list[KeyValue] | None = self._keys.get(key)
        if not versions or versions[-1].is_tombstone:
            return None
        prev = versions[-1]
        tombstone = KeyValue(key=key, create_revision=0, mod_revision=revision, version=0)
        versions.append(tombstone)
        self.stored_bytes += version_bytes(tombstone)
        self.live_keys -= 1
        self.live_bytes -= len(key) + len(prev.value)
        return prev

    def compact(self, revision: Revision, keys: Iterable[bytes]) -> None:
        """Drop versions of ``keys`` that nothing at or after ``revision`` can see."""
        for key in keys:
            versions: list[KeyValue] | None = self._keys.get(key)
            if not versions:
                continue
            at = bisect_right(versions, revision, key=lambda kv: kv.mod_revision)
            if at == 0:
                continue
            keep_from = at - 1
            if versions[keep_from].is_tombstone:
                keep_from = at
            if keep_from == 0:
                continue
            self.stored_bytes -= sum(version_bytes(kv) for kv in versions[:keep_from])
            if keep_from >= len(versions):
                del self._keys[key]
            else:
                del versions[:keep_from]
