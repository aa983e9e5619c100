"""Members killed with -9 and started again on their data dirs lose nothing and catch up.

* A follower is killed, N keys are written, the follower is restarted: its own (serializable)
  copy ends up holding every key. Once with the default --snapshot-count, so it catches up from
  the leader's log, and once with --snapshot-count 50 and more than 200 sequential puts while it
  is down, so the leader has compacted its log and must send a snapshot.
* Every member is killed during a concurrent write load and all are restarted: no acknowledged
  write is missing on any member and the next write gets a higher revision than every
  acknowledged one. Once with the default --snapshot-count (state from the journal alone) and
  once with --snapshot-count 50 after enough sequential puts to compact (dump + journal).

Whether a member has compacted its log is seen from outside by its snapshot file
(``<data-dir>/raft.dump``, written only by a log compaction).

The `via-snapshot` and `dump-and-journal` cases also check that a log compaction really
happened (a member without a snapshot file raises `CompactionMissing`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.grpc_api import EtcdStubs
from support.store_cluster import NewCluster, StoreCluster
from support.wait import WaitTimeout, wait_for
from support.write_load import (
    WriteLoad,
    check_member_has_acks,
    cluster_endpoints,
    linearizable_barrier,
    read_prefix,
)

from kubelite.pb import rpc_pb2

SNAPSHOT_COUNT = 50
COMPACTION_WAIT_S = 5.0
CATCH_UP_WAIT_S = 60.0
SNAPSHOT_ARGS = ["--snapshot-count", str(SNAPSHOT_COUNT)]


class CompactionMissing(AssertionError):
    """Members that should have compacted their Raft log (more than --snapshot-count entries
    applied) have not written a snapshot."""


def dump_file(store: StoreCluster, index: int) -> Path:
    return store.members[index].data_dir / "raft.dump"


def compaction_missing(store: StoreCluster, indices: list[int]) -> str | None:
    """None once every member in `indices` has compacted its log; else why not."""

    def without_dump() -> list[str]:
        return [store.members[i].name for i in indices if not dump_file(store, i).exists()]

    try:
        wait_for(
            lambda: not without_dump(),
            COMPACTION_WAIT_S,
            describe=lambda: f"a log compaction (raft.dump) on {without_dump()}",
        )
    except WaitTimeout as exc:
        return str(exc)
    return None


def put_sequentially(endpoint: str, prefix: bytes, count: int) -> dict[bytes, bytes]:
    """`count` puts one after another from one client: one Raft entry each (no group commit)."""
    written = {}
    with EtcdStubs.connect(endpoint) as stubs:
        for n in range(count):
            key, value = prefix + f"seq-{n:05d}".encode(), f"value-{n}".encode()
            stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=value))
            written[key] = value
    return written


def local_values(store: StoreCluster, index: int, prefix: bytes) -> dict[bytes, bytes]:
    return {k: kv.value for k, kv in read_prefix(store.endpoint(index), prefix).items()}


# --- a follower catches up ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "store_args, writes",
    [
        pytest.param([], 200, id="from-the-log"),
        pytest.param(
            SNAPSHOT_ARGS,
            250,
            id="via-snapshot",
        ),
    ],
)
def test_killed_follower_catches_up_after_restart(
    new_cluster: NewCluster, key_prefix: bytes, store_args: list[str], writes: int
) -> None:
    store = new_cluster(store_args=store_args)
    leader = store.leader()
    follower = (leader + 1) % len(store.members)
    running = [i for i in range(len(store.members)) if i != follower]
    store.kill(follower)

    written = put_sequentially(store.endpoint(leader), key_prefix, writes)
    missing_compaction = compaction_missing(store, running) if store_args else None
    if not store_args:
        assert not dump_file(store, leader).exists(), "the leader compacted: not a log catch-up"

    store.restart(follower)
    name = store.members[follower].name
    wait_for(
        lambda: local_values(store, follower, key_prefix) == written,
        CATCH_UP_WAIT_S,
        describe=lambda: (
            f"{name} holding all {len(written)} keys locally; "
            f"it has {len(local_values(store, follower, key_prefix))}"
        ),
    )
    linearizable_barrier(store.endpoint(follower))
    assert local_values(store, follower, key_prefix) == written
    if missing_compaction:
        raise CompactionMissing(missing_compaction)


# --- every member killed during a write load ---------------------------------------------------


@pytest.mark.parametrize(
    "store_args",
    [
        pytest.param([], id="journal-only"),
        pytest.param(
            SNAPSHOT_ARGS,
            id="dump-and-journal",
        ),
    ],
)
def test_kill_of_every_member_during_writes_loses_no_acknowledged_write(
    new_cluster: NewCluster, key_prefix: bytes, store_args: list[str]
) -> None:
    store = new_cluster(store_args=store_args)
    everyone = list(range(len(store.members)))
    missing_compaction = None
    if store_args:
        put_sequentially(store.endpoint(store.leader()), key_prefix + b"prime/", 3 * SNAPSHOT_COUNT)
        missing_compaction = compaction_missing(store, everyone)

    load = WriteLoad(lambda: cluster_endpoints(store), key_prefix + b"load/", writers=4)
    with load:
        load.wait_acks(150, describe="before killing every member")
        killed_at = time.monotonic()
        store.kill_all()
    assert load.acks, load.summary()
    last_acked = max(ack.revision for ack in load.acks)

    store.restart_all()
    for index in everyone:
        check_member_has_acks(store, index, key_prefix + b"load/", load.acks)
    with EtcdStubs.connect(store.endpoint(0)) as stubs:
        after = stubs.kv.Put(rpc_pb2.PutRequest(key=key_prefix + b"after", value=b"restart"))
    assert after.header.revision > last_acked
    print(
        f"\nkill of every member: {len(load.acks)} acked, {len(load.in_doubt)} in doubt, "
        f"acks after the kill started: {load.acked_since(killed_at)}; highest acked revision "
        f"{last_acked}, first write after restart at revision {after.header.revision}"
    )
    if missing_compaction:
        raise CompactionMissing(missing_compaction)
