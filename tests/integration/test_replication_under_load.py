"""Replication under concurrent writes: pipelined without re-sends, snapshots taken as it runs.

**Pipelining.**
pysyncobj's leader winds a follower's next index back on every success ack, so with several
append_entries in flight it re-sends entries the follower already holds; the follower then
truncates and re-appends them and logs "truncating already-applied log entries" (reference
pysyncobj.md §3.6). The store keeps the next index where it was (`raft.keeps_pipelined_index`).
This test writes from many concurrent clients through every member, then checks that every
member holds every write and that no member logged such a truncation.

**Snapshots under load.** Each member forks to write its snapshot while gRPC calls are in
flight; with gRPC's fork support on, the child crashed. With ``--snapshot-count`` low, every
member must take several snapshots during the load, each one complete and readable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from support.store_cluster import NewCluster
from support.wait import wait_for

from kubelite.pb import rpc_pb2, rpc_pb2_grpc
from kubelite.store import snapshot

CLIENTS_PER_MEMBER = 40
PUTS_PER_CLIENT = 40
TIME_LIMIT_S = 120.0
RESEND_MARK = "truncating already-applied log entries"


async def write_through_every_member(endpoints: list[str], prefix: bytes) -> int:
    channels = [grpc.aio.insecure_channel(e) for e in endpoints]
    try:

        async def client(kv: rpc_pb2_grpc.KVStub, name: bytes) -> int:
            for n in range(PUTS_PER_CLIENT):
                await kv.Put(rpc_pb2.PutRequest(key=prefix + name + b"/%d" % n, value=b"x" * 512))
            return PUTS_PER_CLIENT

        clients = [
            client(rpc_pb2_grpc.KVStub(channel), b"m%d-c%d" % (m, c))
            for m, channel in enumerate(channels)
            for c in range(CLIENTS_PER_MEMBER)
        ]
        done = await asyncio.wait_for(asyncio.gather(*clients), TIME_LIMIT_S)
        return sum(done)
    finally:
        for channel in channels:
            await channel.close()


def test_concurrent_writes_are_replicated_without_re_sending(new_cluster: NewCluster) -> None:
    store = new_cluster("kubelite")
    store.leader()
    prefix = b"/pipeline/"

    written = asyncio.run(write_through_every_member(store.client_endpoints, prefix))

    for index in range(len(store.members)):
        kv = rpc_pb2_grpc.KVStub(grpc.insecure_channel(store.endpoint(index)))
        held = kv.Range(
            rpc_pb2.RangeRequest(key=prefix, range_end=b"/pipeline0", count_only=True),
            timeout=10,
        )
        assert held.count == written, f"member {index} holds {held.count} of {written}"
    resent = {member.name: member.process.log_text().count(RESEND_MARK) for member in store.members}
    assert not any(resent.values()), f"entries were re-sent and truncated: {resent}"


def complete_snapshot(path: Path) -> snapshot.Snapshot | None:
    """The snapshot in ``path``, or None while a member's child is still writing it."""
    try:
        return snapshot.read(str(path))
    except snapshot.SnapshotError:
        return None


def test_snapshots_are_taken_while_clients_write(new_cluster: NewCluster) -> None:
    store = new_cluster("kubelite", store_args=["--snapshot-count", "40"])
    store.leader()

    written = asyncio.run(write_through_every_member(store.client_endpoints, b"/snapshots/"))

    for member in store.members:
        log = member.process.log_text()
        assert "snapshot child exited" not in log, f"{member.name} lost a snapshot:\n{log}"
        dump = member.data_dir / "raft.dump"
        image = wait_for(
            lambda dump=dump: complete_snapshot(dump),  # type: ignore[misc]
            timeout=30,
            describe=f"{member.name}'s snapshot to be complete",
        )
        assert image.log_entries >= 40, f"{member.name}: snapshot at entry {image.log_entries}"
        assert image.state.revision > written // 2
