"""Garbage on the wire gets a gRPC status, never a crash or a hang, and changes no member's mind.

Every method of KV, Watch, Lease, Maintenance and Cluster receives, through a raw channel that
sends bytes as they are (``request_serializer=None``):

* bytes that are not a valid message (truncated fields, broken varints, field number 0, groups,
  seeded random bytes). Answer: a status, not DEADLINE_EXCEEDED (a hang). Random bytes that
  happen to parse are held to the next rule.
* messages that parse but make no sense (unknown enum values, negative or huge numbers, empty
  keys, empty txn operations, deep nesting). Answer: a status other than UNKNOWN (an exception
  escaped a handler), INTERNAL or DEADLINE_EXCEEDED. The table of answers is printed.

The requests are spread over the three members. Afterwards every member is running, serves a
Put and a linearizable Range, has logged no failed apply, and all members hold the same state
(revision, every key-value with its bookkeeping, the set of leases).

Edge cases checked on kubelite and on etcd 3.4.23 alike (etcd is the reference): a body that
does not decode is refused with INTERNAL or INVALID_ARGUMENT (etcd: INTERNAL "grpc: error
unmarshalling request"; kubelite: INVALID_ARGUMENT, also ending a Watch stream with it); a
Range at a negative revision reads the current revision; Compact(0) is a no-op.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message
from support.grpc_api import EtcdStubs, open_channel
from support.store_cluster import NewCluster, StoreCluster
from support.wait import wait_for
from support.write_load import linearizable_barrier

from kubelite.pb import rpc_pb2

SERVICES = ("KV", "Watch", "Lease", "Maintenance", "Cluster")
METHODS: list[MethodDescriptor] = [
    method
    for service in SERVICES
    for method in rpc_pb2.DESCRIPTOR.services_by_name[service].methods
]
CALL_TIMEOUT_S = 10.0
MAX_STREAM_RESPONSES = 1000
CONVERGE_WAIT_S = 30.0
NEVER = {grpc.StatusCode.DEADLINE_EXCEEDED}
NEVER_FOR_A_VALID_MESSAGE = NEVER | {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
FAILED_APPLY_MARKERS = ("apply failed", "event listener failed", "leader duty failed")

R = rpc_pb2
Cmp = R.Compare
UNKNOWN_ENUM: Any = 99  # no such value in any enum of the API
UNPARSEABLE = [
    ("truncated-field", b"\x0a\x64abc"),  # field 1, 100 bytes announced, 3 given
    ("broken-varint", b"\x08" + b"\xff" * 11),
    ("missing-varint", b"\x08"),
    ("field-number-0", b"\x00\x01"),
    ("open-group", b"\x0b"),
    ("wire-type-7", b"\x0f\x01"),
]
RANDOM_SIZES = (1, 3, 16, 64, 512, 4096)


def nested_txn(depth: int) -> R.TxnRequest:
    txn = R.TxnRequest(success=[R.RequestOp(request_put=R.PutRequest(key=b"/g/deep", value=b"x"))])
    for _ in range(depth):
        txn = R.TxnRequest(success=[R.RequestOp(request_txn=txn)])
    return txn


def watch(**fields: Any) -> R.WatchRequest:
    return R.WatchRequest(create_request=R.WatchCreateRequest(**fields))


# (id, "Service/Method", request messages; several only on a stream)
NONSENSE: list[tuple[str, str, list[Message]]] = [
    ("range-empty-key", "KV/Range", [R.RangeRequest()]),
    ("range-unknown-sort-order", "KV/Range", [R.RangeRequest(key=b"/g", sort_order=UNKNOWN_ENUM)]),
    (
        "range-unknown-sort-target",
        "KV/Range",
        [R.RangeRequest(key=b"/g", sort_target=UNKNOWN_ENUM)],
    ),
    ("range-negative-limit", "KV/Range", [R.RangeRequest(key=b"\0", range_end=b"\0", limit=-1)]),
    ("range-negative-revision", "KV/Range", [R.RangeRequest(key=b"/g", revision=-5)]),
    ("range-huge-revision", "KV/Range", [R.RangeRequest(key=b"/g", revision=2**62)]),
    (
        "range-negative-filters",
        "KV/Range",
        [R.RangeRequest(key=b"\0", range_end=b"\0", min_mod_revision=-1, max_create_revision=-9)],
    ),
    ("range-end-before-key", "KV/Range", [R.RangeRequest(key=b"/z", range_end=b"/a")]),
    ("put-empty-key", "KV/Put", [R.PutRequest(value=b"v")]),
    ("put-negative-lease", "KV/Put", [R.PutRequest(key=b"/g/k", lease=-1)]),
    (
        "put-ignore-value-with-value",
        "KV/Put",
        [R.PutRequest(key=b"/g/k", ignore_value=True, value=b"v")],
    ),
    ("delete-empty-key", "KV/DeleteRange", [R.DeleteRangeRequest()]),
    ("delete-end-before-key", "KV/DeleteRange", [R.DeleteRangeRequest(key=b"/z", range_end=b"/a")]),
    ("txn-empty", "KV/Txn", [R.TxnRequest()]),
    ("txn-op-without-request", "KV/Txn", [R.TxnRequest(success=[R.RequestOp()])]),
    ("txn-failure-op-without-request", "KV/Txn", [R.TxnRequest(failure=[R.RequestOp()])]),
    (
        "txn-compare-unknown-target",
        "KV/Txn",
        [R.TxnRequest(compare=[Cmp(key=b"/g", target=UNKNOWN_ENUM)])],
    ),
    (
        "txn-compare-unknown-result",
        "KV/Txn",
        [R.TxnRequest(compare=[Cmp(key=b"/g", result=UNKNOWN_ENUM)])],
    ),
    ("txn-compare-empty-key", "KV/Txn", [R.TxnRequest(compare=[Cmp(target=Cmp.VALUE, value=b"")])]),
    (
        "txn-compare-value-target-with-version-operand",
        "KV/Txn",
        [R.TxnRequest(compare=[Cmp(key=b"/g", target=Cmp.VALUE, version=3)])],
    ),
    (
        "txn-129-puts",
        "KV/Txn",
        [
            R.TxnRequest(
                success=[
                    R.RequestOp(request_put=R.PutRequest(key=b"/g/%d" % n)) for n in range(129)
                ]
            )
        ],
    ),
    ("txn-nested-40-deep", "KV/Txn", [nested_txn(40)]),
    ("compact-negative", "KV/Compact", [R.CompactionRequest(revision=-1)]),
    ("compact-zero", "KV/Compact", [R.CompactionRequest()]),
    ("compact-huge", "KV/Compact", [R.CompactionRequest(revision=2**62)]),
    ("lease-grant-negative-ttl", "Lease/LeaseGrant", [R.LeaseGrantRequest(TTL=-1, ID=0x6A7BA6E1)]),
    ("lease-grant-huge-ttl", "Lease/LeaseGrant", [R.LeaseGrantRequest(TTL=2**62)]),
    ("lease-grant-negative-id", "Lease/LeaseGrant", [R.LeaseGrantRequest(TTL=60, ID=-1)]),
    ("lease-revoke-zero", "Lease/LeaseRevoke", [R.LeaseRevokeRequest()]),
    ("lease-revoke-negative", "Lease/LeaseRevoke", [R.LeaseRevokeRequest(ID=-1)]),
    (
        "lease-ttl-negative-id",
        "Lease/LeaseTimeToLive",
        [R.LeaseTimeToLiveRequest(ID=-7, keys=True)],
    ),
    (
        "lease-keepalive-zero-and-negative",
        "Lease/LeaseKeepAlive",
        [R.LeaseKeepAliveRequest(), R.LeaseKeepAliveRequest(ID=-7)],
    ),
    ("watch-empty-request", "Watch/Watch", [R.WatchRequest()]),
    ("watch-negative-start", "Watch/Watch", [watch(key=b"/g", start_revision=-1)]),
    ("watch-huge-start", "Watch/Watch", [watch(key=b"/g", start_revision=2**62)]),
    ("watch-empty-key", "Watch/Watch", [watch()]),
    ("watch-unknown-filter", "Watch/Watch", [watch(key=b"/g", filters=[UNKNOWN_ENUM])]),
    ("watch-negative-id", "Watch/Watch", [watch(key=b"/g", watch_id=-5)]),
    (
        "watch-duplicate-id",
        "Watch/Watch",
        [watch(key=b"/g", watch_id=7), watch(key=b"/h", watch_id=7)],
    ),
    ("watch-end-before-key", "Watch/Watch", [watch(key=b"/z", range_end=b"/a")]),
    (
        "watch-cancel-unknown",
        "Watch/Watch",
        [R.WatchRequest(cancel_request=R.WatchCancelRequest(watch_id=12345))],
    ),
    (
        "alarm-unknown-action",
        "Maintenance/Alarm",
        [R.AlarmRequest(action=UNKNOWN_ENUM, alarm=UNKNOWN_ENUM)],
    ),
    ("hash", "Maintenance/Hash", [R.HashRequest()]),
    ("hashkv-negative", "Maintenance/HashKV", [R.HashKVRequest(revision=-1)]),
    ("move-leader-to-nobody", "Maintenance/MoveLeader", [R.MoveLeaderRequest(targetID=0)]),
    ("member-add-bad-url", "Cluster/MemberAdd", [R.MemberAddRequest(peerURLs=["::not a url::"])]),
    ("member-remove-unknown", "Cluster/MemberRemove", [R.MemberRemoveRequest(ID=1)]),
    ("member-update-unknown", "Cluster/MemberUpdate", [R.MemberUpdateRequest(ID=1, peerURLs=[""])]),
    ("member-promote-unknown", "Cluster/MemberPromote", [R.MemberPromoteRequest(ID=1)]),
]


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str
    responses: int


def method_named(path: str) -> MethodDescriptor:
    service, name = path.split("/")
    return rpc_pb2.DESCRIPTOR.services_by_name[service].methods_by_name[name]


def parses(method: MethodDescriptor, body: bytes) -> bool:
    request_class = getattr(rpc_pb2, method.input_type.name)
    try:
        request_class.FromString(body)
    except DecodeError:
        return False
    return True


def _drain(responses: Iterable[Any]) -> int:
    count = 0
    for _ in zip(range(MAX_STREAM_RESPONSES), responses, strict=False):
        count += 1
    return count


def call_raw(channel: grpc.Channel, method: MethodDescriptor, bodies: list[bytes]) -> Answer:
    """Send `bodies` as they are (one, unless the method takes a stream) and read the answer."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    raw: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    try:
        if method.client_streaming:
            stream = channel.stream_stream(path, **raw)(iter(bodies), timeout=CALL_TIMEOUT_S)
            count = _drain(stream)
        elif method.server_streaming:
            stream = channel.unary_stream(path, **raw)(bodies[0], timeout=CALL_TIMEOUT_S)
            count = _drain(stream)
        else:
            channel.unary_unary(path, **raw)(bodies[0], timeout=CALL_TIMEOUT_S)
            count = 1
    except grpc.RpcError as exc:
        return Answer(exc.code(), exc.details() or "", 0)
    return Answer(grpc.StatusCode.OK, "", count)


def garbage(method: MethodDescriptor) -> Iterable[tuple[str, bytes]]:
    """Invalid encodings, then random bytes seeded by the method name (so failures repeat)."""
    yield from UNPARSEABLE
    rng = random.Random(f"garbage/{method.full_name}")
    for size in RANDOM_SIZES:
        yield f"random-{size}", rng.randbytes(size)


def state_of(store: StoreCluster, index: int) -> tuple[int, list[tuple[Any, ...]], list[int]]:
    """(revision, every key-value with its bookkeeping, lease ids) in one member's own copy."""
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        everything = R.RangeRequest(key=b"\0", range_end=b"\0", serializable=True)
        found = stubs.kv.Range(everything)
        kvs = [
            (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
            for kv in found.kvs
        ]
        leases = sorted(
            lease.ID for lease in stubs.lease.LeaseLeases(R.LeaseLeasesRequest()).leases
        )
    return int(found.header.revision), kvs, leases


def send_garbage(channels: list[grpc.Channel]) -> list[str]:
    """Undecodable and random bodies to every method; the answers that break the rules."""
    wrong, by_code, sent = [], collections.Counter[str](), 0
    for method in METHODS:
        for name, body in garbage(method):
            answer = call_raw(channels[sent % len(channels)], method, [body])
            sent += 1
            by_code[answer.code.name] += 1
            never = NEVER_FOR_A_VALID_MESSAGE if parses(method, body) else NEVER
            if answer.code in never:
                wrong.append(f"{method.full_name} {name} {body[:24]!r}: {answer}")
    print(f"\ngarbage: {sent} requests, answers by code: {dict(by_code)}")
    return wrong


def send_nonsense(channels: list[grpc.Channel]) -> list[str]:
    """The NONSENSE table; prints each answer, returns the ones that break the rules."""
    wrong = []
    for sent, (name, path, messages) in enumerate(NONSENSE):
        bodies = [message.SerializeToString() for message in messages]
        answer = call_raw(channels[sent % len(channels)], method_named(path), bodies)
        print(f"{name:48} {answer.code.name:20} {answer.details[:70]}")
        if answer.code in NEVER_FOR_A_VALID_MESSAGE:
            wrong.append(f"{path} {name}: {answer}")
    return wrong


def check_every_member_serves(store: StoreCluster, key_prefix: bytes) -> None:
    for index, member in enumerate(store.members):
        assert member.process.is_running(), member.process.log_tail()
        failed = [m for m in FAILED_APPLY_MARKERS if m in member.process.log_text()]
        assert not failed, f"{member.name} logged {failed}:\n{member.process.log_tail()}"
        key = key_prefix + member.name.encode()
        with EtcdStubs.connect(store.endpoint(index)) as stubs:
            stubs.kv.Put(R.PutRequest(key=key, value=b"still serving"))
            found = stubs.kv.Range(R.RangeRequest(key=key)).kvs
        assert [kv.value for kv in found] == [b"still serving"], member.name


def wait_until_identical(store: StoreCluster) -> None:
    """Every member holds the same state (a lease may expire between two members' reads, so
    this waits for a moment when all agree)."""
    for index in range(len(store.members)):
        linearizable_barrier(store.endpoint(index))
    states: list[Any] = []

    def identical() -> bool:
        states[:] = [state_of(store, index) for index in range(len(store.members))]
        return all(state == states[0] for state in states)

    def describe() -> str:
        views = [f"rev {rev}, {len(kvs)} keys, leases {leases}" for rev, kvs, leases in states]
        return "the same state on every member: " + "; ".join(views)

    wait_for(identical, CONVERGE_WAIT_S, describe)


def test_garbage_and_nonsense_requests_get_a_status_and_change_no_member(
    new_cluster: NewCluster, key_prefix: bytes
) -> None:
    store = new_cluster()
    channels = [open_channel(endpoint) for endpoint in store.client_endpoints]
    try:
        wrong = send_garbage(channels) + send_nonsense(channels)
    finally:
        for channel in channels:
            channel.close()
    assert not wrong, "\n".join(wrong)
    check_every_member_serves(store, key_prefix)
    wait_until_identical(store)


# --- edge cases answered as etcd answers them ---------------------------------------------------
# Run on both backends through the shared `store` fixture (etcd is the reference).


def test_undecodable_request_is_refused_as_etcd_refuses_it(
    request: pytest.FixtureRequest, store: StoreCluster
) -> None:
    body = dict(UNPARSEABLE)["truncated-field"]
    channel = open_channel(store.client_endpoints[0])
    try:
        answers = {method.full_name: call_raw(channel, method, [body]) for method in METHODS}
    finally:
        channel.close()
    wrong = {
        name: f"{answer.code.name}: {answer.details}"
        for name, answer in answers.items()
        if answer.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    }
    assert not wrong, "\n".join(f"{name}: {why}" for name, why in wrong.items())


def test_range_at_a_negative_revision_reads_the_current_revision(
    stubs: EtcdStubs, key_prefix: bytes
) -> None:
    """etcd's mvcc reads revision <= 0 as the current revision."""
    key = key_prefix + b"k"
    stubs.kv.Put(R.PutRequest(key=key, value=b"current"))
    found = stubs.kv.Range(R.RangeRequest(key=key, revision=-5))
    assert (found.count, [kv.value for kv in found.kvs]) == (1, [b"current"])


def test_compact_at_revision_zero_is_a_no_op(stubs: EtcdStubs) -> None:
    """etcd accepts Compact(0) while nothing has been compacted, and changes nothing."""
    revision = stubs.kv.Range(R.RangeRequest(key=b"\0", count_only=True)).header.revision
    compacted = stubs.kv.Compact(R.CompactionRequest(revision=0))
    assert compacted.header.revision == revision
