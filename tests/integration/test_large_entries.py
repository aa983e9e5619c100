"""Raft entries larger than 64 KiB replicate to every member.

pysyncobj sends an entry of ``appendEntriesBatchSizeBytes`` or more as a chunked transmission,
and marks its last chunk by comparing the pickled entry's offsets with the *command's* length:
an entry whose pickled form ends just past a chunk boundary is cut short, and the follower then
fails to decode it ("failed _onTick"); after a leader change mid-transmission that follower was
seen stuck for good. The store keeps every entry below that size. This test sweeps one-put
entries across a chunk boundary in steps smaller than the pickling overhead, so some land in
the bad window, then checks that no member's Raft thread failed and every member holds every
key.
"""

from __future__ import annotations

from support.grpc_api import EtcdStubs
from support.store_cluster import NewCluster
from support.wait import wait_for
from support.write_load import linearizable_barrier, read_prefix

from kubelite.pb import rpc_pb2

CHUNK = 64 * 1024
TICK_FAILURES = ("failed _onTick", "UnpicklingError", "pickle data was truncated")
# One entry per put. Past the first chunk, an entry is cut short when its command ends within
# the pickling overhead (tens of bytes) before a chunk boundary: steps of 8 bytes over 700
# bytes below 128 KiB land there whatever our own per-entry overhead (about 200 B) is.
SIZES = range(2 * CHUNK - 700, 2 * CHUNK + 64, 8)


def test_entries_across_chunk_boundaries_reach_every_member(
    new_cluster: NewCluster, key_prefix: bytes
) -> None:
    store = new_cluster("kubelite")
    endpoints = [e for e in store.client_endpoints if e]
    with EtcdStubs.connect(endpoints[0]) as stubs:
        for n, size in enumerate(SIZES):
            key = key_prefix + b"%04d" % n
            stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=b"v" * size), timeout=10)
    expected = len(SIZES)
    for endpoint in endpoints:
        linearizable_barrier(endpoint)

        def member_has_all(endpoint: str = endpoint) -> bool:
            return len(read_prefix(endpoint, key_prefix)) == expected

        wait_for(
            member_has_all,
            timeout=30,
            describe=lambda endpoint=endpoint: (
                f"{endpoint} holds {len(read_prefix(endpoint, key_prefix))}/{expected} keys"
            ),
        )
    for member in store.members:
        failed = [m for m in TICK_FAILURES if m in member.process.log_text()]
        assert not failed, f"{member.name} logged {failed}:\n{member.process.log_tail()}"
