"""kill -9 of the leader while clients write through every member: no acknowledged write is lost.

Three writer threads put unique keys, each starting on a different member
(`support.write_load`). Once the load runs, the leader is killed. The survivors elect a new
leader; the writers, which retry the same key on another member after an error, carry on. Then:

* on each survivor, a linearizable read through that member and then a serializable read of the
  whole prefix show every acknowledged key with its value;
* the old leader, restarted on its data dir, catches up and holds them too.

The write gap the clients saw is printed (never asserted).
"""

from __future__ import annotations

import time

import pytest
from support.store_cluster import NewCluster
from support.write_load import WriteLoad, check_member_has_acks, cluster_endpoints

ACKS_BEFORE_KILL = 50
ACKS_AFTER_FAILOVER = 100


@pytest.mark.parametrize(
    ("backend", "value_size", "writers"),
    [
        pytest.param("kubelite", 16, 3, id="kubelite"),
        pytest.param("etcd", 16, 3, id="etcd", marks=pytest.mark.etcd),
        # Every Raft entry is larger than pysyncobj's default 64 KiB chunk: the store must never
        # send it as a chunked transmission (whose end pysyncobj misjudges, wedging followers).
        pytest.param("kubelite", 70_000, 4, id="kubelite-entries-over-64KiB"),
    ],
)
def test_leader_kill_under_write_load_loses_no_acknowledged_write(
    new_cluster: NewCluster, key_prefix: bytes, backend: str, value_size: int, writers: int
) -> None:
    store = new_cluster(backend)
    leader = store.leader()
    load = WriteLoad(
        lambda: cluster_endpoints(store),
        key_prefix,
        writers=writers,
        time_limit_s=90,
        value_size=value_size,
    )
    with load:
        load.wait_acks(ACKS_BEFORE_KILL, describe="before the kill")
        killed_at = time.monotonic()
        store.kill(leader)
        new_leader = store.leader()
        elected_at = time.monotonic()
        load.wait_acks(ACKS_AFTER_FAILOVER, since=elected_at, describe="after the failover")
    assert new_leader != leader

    for index in range(len(store.members)):
        if index != leader:
            check_member_has_acks(store, index, key_prefix, load.acks)
    store.restart(leader)
    check_member_has_acks(store, leader, key_prefix, load.acks)

    before = [a.at for a in load.acks if a.at < killed_at]
    after = [a.at for a in load.acks if a.at >= killed_at]
    gap, gap_from, gap_to = load.largest_gap(killed_at, load.stopped_at)
    print(
        f"\n[{backend}] leader kill under load: {len(load.acks)} acked writes "
        f"({len(before)} before the kill), {len(load.in_doubt)} in doubt; "
        f"errors seen: {dict(load.errors)}\n"
        f"[{backend}] new leader agreed {elected_at - killed_at:.2f}s after the kill; "
        f"last ack before the kill -> first after: {min(after) - max(before):.2f}s; "
        f"longest time without any ack after the kill: {gap:.2f}s "
        f"(kill+{gap_from - killed_at:.2f}s .. kill+{gap_to - killed_at:.2f}s)"
    )
