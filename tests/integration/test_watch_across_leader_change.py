"""Watches ride out a leader kill, and resuming a watch from a revision loses and repeats nothing.

Scenario, with writers putting unique keys under one prefix all along:

1. a watch on a follower and a watch on the leader, both on the prefix from revision R0;
2. the leader is killed (-9). The follower's watch keeps delivering; the leader's stream fails.
3. The history of the prefix (a watch from R0 on the other follower, checked against the
   acknowledged writes and a Range) is the reference:
   * the follower's watch delivered exactly the reference: no gap, no duplicate;
   * the leader's watch delivered a prefix of it, and watching again on another member from its
     last revision + 1 delivers exactly the rest;
4. every member is killed and restarted: a watch from R0 on each member replays the reference.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.grpc_api import BidiStream, EtcdStubs, prefix_end
from support.store_cluster import NewCluster, StoreCluster
from support.wait import WaitAborted
from support.write_load import (
    Ack,
    WriteLoad,
    cluster_endpoints,
    linearizable_barrier,
    read_prefix,
)

from kubelite.pb import kv_pb2, rpc_pb2

BACKENDS = [
    pytest.param("kubelite", id="kubelite"),
    pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
]
MAX_RESPONSES = 5000
EVENT_WAIT_S = 30.0

EventView = tuple[str, bytes, bytes, int, int]


def event_view(event: kv_pb2.Event) -> EventView:
    """(type, key, value, mod_revision, version)."""
    kind = kv_pb2.Event.EventType.Name(event.type)
    return kind, event.kv.key, event.kv.value, event.kv.mod_revision, event.kv.version


@contextlib.contextmanager
def watching(endpoint: str, prefix: bytes, start_revision: int) -> Iterator[BidiStream]:
    """A watch on every key under `prefix` from `start_revision`, through one member."""
    with (
        EtcdStubs.connect(endpoint) as stubs,
        BidiStream(stubs.watch.Watch, response_wait_s=EVENT_WAIT_S) as stream,
    ):
        create = rpc_pb2.WatchCreateRequest(
            key=prefix, range_end=prefix_end(prefix), start_revision=start_revision
        )
        stream.send(rpc_pb2.WatchRequest(create_request=create))
        created = stream.next_response(describe=f"watch created on {endpoint}")
        assert created.created and not created.canceled, created
        yield stream


def events_until(stream: BidiStream, last_revision: int, describe: str) -> list[EventView]:
    """Events of the stream up to and including `last_revision`, and none after it: a Put the
    store answered too late for its client (in doubt) may still be applied after the test read
    `last_revision`, and may share a response with earlier events."""
    events: list[EventView] = []
    for _ in range(MAX_RESPONSES):
        if events and events[-1][3] >= last_revision:
            return [event for event in events if event[3] <= last_revision]
        response = stream.next_response(
            describe=f"{describe}: events up to revision {last_revision}, got {len(events)}"
        )
        assert not response.canceled, f"{describe}: watch cancelled: {response}"
        events.extend(event_view(e) for e in response.events)
    raise AssertionError(f"{describe}: no event at revision {last_revision} in {MAX_RESPONSES}")


def events_until_stream_ends(stream: BidiStream) -> list[EventView]:
    """Every event delivered before the stream failed (its member was killed)."""
    events: list[EventView] = []
    for _ in range(MAX_RESPONSES):
        try:
            response = stream.next_response(describe="events until the stream ends")
        except WaitAborted:
            return events
        events.extend(event_view(e) for e in response.events)
    raise AssertionError(f"the stream did not end within {MAX_RESPONSES} responses")


def check_reference(reference: list[EventView], acks: list[Ack], current: dict[bytes, Any]) -> None:
    """The reference history is consistent with what clients were told and with a Range."""
    revisions = [event[3] for event in reference]
    assert revisions == sorted(set(revisions)), "one event per revision, in order"
    put_events = {(key, value) for kind, key, value, _, _ in reference if kind == "PUT"}
    lost = [ack.key for ack in acks if (ack.key, ack.value) not in put_events]
    assert not lost, f"acknowledged writes with no event: {lost[:10]}"
    newest: dict[bytes, EventView] = {event[1]: event for event in reference}
    assert {k: (e[2], e[3], e[4]) for k, e in newest.items()} == {
        k: (kv.value, kv.mod_revision, kv.version) for k, kv in current.items()
    }


def start_revision(store: StoreCluster, index: int) -> int:
    return linearizable_barrier(store.endpoint(index)) + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_watches_survive_leader_kill_and_resume_without_gap_or_duplicate(
    new_cluster: NewCluster, key_prefix: bytes, backend: str
) -> None:
    store = new_cluster(backend)
    leader = store.leader()
    follower, other = [(leader + step) % len(store.members) for step in (1, 2)]
    r0 = start_revision(store, leader)

    load = WriteLoad(lambda: cluster_endpoints(store), key_prefix, writers=2, time_limit_s=60)
    with (
        watching(store.endpoint(follower), key_prefix, r0) as on_follower,
        watching(store.endpoint(leader), key_prefix, r0) as on_leader,
    ):
        with load:
            load.wait_acks(40, describe="before the kill")
            store.kill(leader)
            store.leader()
            load.wait_acks(40, since=time.monotonic(), describe="after the failover")

        current = read_prefix(store.endpoint(other), key_prefix, serializable=False)
        last_revision = max(kv.mod_revision for kv in current.values())
        with watching(store.endpoint(other), key_prefix, r0) as replay:
            reference = events_until(replay, last_revision, "history replayed on a survivor")
        check_reference(reference, load.acks, current)

        assert events_until(on_follower, last_revision, "follower watch") == reference
        seen_by_leader_watch = events_until_stream_ends(on_leader)

    resumed_from = seen_by_leader_watch[-1][3] + 1 if seen_by_leader_watch else r0
    assert seen_by_leader_watch == reference[: len(seen_by_leader_watch)]
    with watching(store.endpoint(follower), key_prefix, resumed_from) as resumed:
        rest = events_until(resumed, last_revision, "watch resumed on another member")
    assert seen_by_leader_watch + rest == reference
    print(
        f"\n[{backend}] {len(reference)} events; the leader's watch got "
        f"{len(seen_by_leader_watch)} before its member died, the resumed watch {len(rest)}"
    )

    store.restart(leader)
    store.kill_all()
    store.restart_all()
    for index in range(len(store.members)):
        with watching(store.endpoint(index), key_prefix, r0) as replay:
            replayed = events_until(replay, last_revision, f"replay on member {index}")
        assert replayed == reference, f"{store.members[index].name} after restarting all"
