"""The etcd v3 API as a client sees it, run unchanged on kubelite and on real etcd.

Every expectation here was checked against etcd 3.4.23; where kubelite differs, kubelite is
wrong. The module is longer than our usual 400 lines because it is one specification read
top to bottom — revisions, Range, DeleteRange, Txn, compaction, Watch, Lease,
Cluster/Maintenance, errors — and all of it shares one cluster per backend.

Sharing the cluster means: each test writes only under its own `key_prefix`, revokes the
leases it grants (`grant` fixture) so none expires in a later test, and speaks of revisions
relative to its own writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from support.grpc_api import BidiStream, EtcdStubs, MiB, prefix_end
from support.store_cluster import StoreCluster
from support.wait import wait_for

from kubelite.pb import kv_pb2, rpc_pb2

Compare = rpc_pb2.Compare
RangeRequest = rpc_pb2.RangeRequest
WatchCreateRequest = rpc_pb2.WatchCreateRequest
CODE = grpc.StatusCode
Grant = Callable[..., rpc_pb2.LeaseGrantResponse]

# etcd's messages, by cause (rpctypes in etcd 3.4).
KEY_NOT_PROVIDED = "etcdserver: key is not provided"
REQUEST_TOO_LARGE = "etcdserver: request is too large"
VALUE_PROVIDED = "etcdserver: value is provided"
LEASE_PROVIDED = "etcdserver: lease is provided"
KEY_NOT_FOUND = "etcdserver: key not found"
LEASE_NOT_FOUND = "etcdserver: requested lease not found"
LEASE_EXISTS = "etcdserver: lease already exists"
LEASE_TTL_TOO_LARGE = "etcdserver: too large lease TTL"
DUPLICATE_KEY = "etcdserver: duplicate key given in txn request"
TOO_MANY_OPS = "etcdserver: too many operations in txn request"
COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE_REV = "etcdserver: mvcc: required revision is a future revision"

LEASE_TTL = 60
UNKNOWN_LEASE_ID = 0x2B0B_5EED_0DD0_0001  # never granted by any test
EVENT_WAIT_S = 20.0
LEASE_EXPIRY_WAIT_S = 60.0


# --- request helpers -----------------------------------------------------------------------


def put(stubs: EtcdStubs, key: bytes, value: bytes = b"", **fields: Any) -> rpc_pb2.PutResponse:
    return stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=value, **fields))


def get(stubs: EtcdStubs, key: bytes, **fields: Any) -> rpc_pb2.RangeResponse:
    return stubs.kv.Range(RangeRequest(key=key, **fields))


def get_one(stubs: EtcdStubs, key: bytes, **fields: Any) -> kv_pb2.KeyValue | None:
    kvs = get(stubs, key, **fields).kvs
    return kvs[0] if kvs else None


def delete(stubs: EtcdStubs, key: bytes, **fields: Any) -> rpc_pb2.DeleteRangeResponse:
    return stubs.kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=key, **fields))


def txn(stubs: EtcdStubs, **fields: Any) -> rpc_pb2.TxnResponse:
    return stubs.kv.Txn(rpc_pb2.TxnRequest(**fields))


def compact(stubs: EtcdStubs, revision: int, physical: bool = False) -> rpc_pb2.CompactionResponse:
    return stubs.kv.Compact(rpc_pb2.CompactionRequest(revision=revision, physical=physical))


def time_to_live(stubs: EtcdStubs, lease: int, keys: bool = False) -> Any:
    return stubs.lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=lease, keys=keys))


def listed_leases(stubs: EtcdStubs) -> set[int]:
    return {lease.ID for lease in stubs.lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest()).leases}


def current_revision(stubs: EtcdStubs) -> int:
    return int(get(stubs, b"\0").header.revision)


def op_put(key: bytes, value: bytes = b"", **fields: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, **fields))


def op_range(key: bytes, **fields: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_range=RangeRequest(key=key, **fields))


def op_delete(key: bytes, **fields: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, **fields))


def op_txn(**fields: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_txn=rpc_pb2.TxnRequest(**fields))


def compare(key: bytes, target: str, result: str, **operand: Any) -> Compare:
    """compare(k, "VALUE", "EQUAL", value=b"x") -> Compare(...)."""
    return Compare(
        key=key,
        target=Compare.CompareTarget.Value(target),
        result=Compare.CompareResult.Value(result),
        **operand,
    )


def bookkeeping(kv: kv_pb2.KeyValue | None) -> tuple[bytes, int, int, int, int]:
    """(value, create_revision, mod_revision, version, lease) of a key."""
    assert kv is not None, "key not found"
    return kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease


def rpc_error(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


@pytest.fixture
def grant(stubs: EtcdStubs) -> Iterator[Grant]:
    """Grant leases that are revoked after the test, so none expires during a later test."""
    granted: list[int] = []

    def grant_lease(ttl: int = LEASE_TTL, lease_id: int = 0) -> rpc_pb2.LeaseGrantResponse:
        response = stubs.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=ttl, ID=lease_id))
        granted.append(response.ID)
        return response

    yield grant_lease
    for lease_id in granted:
        try:
            stubs.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease_id))
        except grpc.RpcError as exc:
            if exc.code() != CODE.NOT_FOUND:  # NOT_FOUND: the test revoked or expired it
                raise


@pytest.fixture
def member_ids(stubs: EtcdStubs) -> dict[str, int]:
    """Member name -> member ID."""
    return {m.name: m.ID for m in stubs.cluster.MemberList(rpc_pb2.MemberListRequest()).members}


# --- revisions and per-key bookkeeping -----------------------------------------------------


def test_revision_increments_once_per_write_transaction(
    stubs: EtcdStubs, key_prefix: bytes
) -> None:
    a, b, c = (key_prefix + k for k in (b"a", b"b", b"c"))
    r1 = put(stubs, a, b"1").header.revision
    assert put(stubs, b, b"1").header.revision == r1 + 1

    response = txn(stubs, success=[op_put(a, b"2"), op_put(b, b"2"), op_put(c)])
    assert response.header.revision == r1 + 2
    assert [r.response_put.header.revision for r in response.responses] == [r1 + 2] * 3

    deleted = delete(stubs, a, range_end=prefix_end(key_prefix))
    assert (deleted.deleted, deleted.header.revision) == (3, r1 + 3)


NO_OPS = {
    "delete-missing-key": lambda s, p: delete(s, p + b"none"),
    "read-only-txn": lambda s, p: txn(s, success=[op_range(p)]),
    "empty-txn": lambda s, p: txn(s),
    "txn-deleting-nothing": lambda s, p: txn(s, success=[op_delete(p + b"none")]),
    "range": lambda s, p: get(s, p),
}


@pytest.mark.parametrize("no_op", NO_OPS.values(), ids=NO_OPS.keys())
def test_requests_that_change_nothing_keep_the_revision(
    stubs: EtcdStubs, key_prefix: bytes, no_op: Callable[[EtcdStubs, bytes], Any]
) -> None:
    before = put(stubs, key_prefix + b"marker").header.revision
    assert no_op(stubs, key_prefix).header.revision == before
    assert current_revision(stubs) == before


def test_key_bookkeeping_create_mod_version(stubs: EtcdStubs, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v1").header.revision
    assert bookkeeping(get_one(stubs, key)) == (b"v1", r1, r1, 1, 0)
    r2 = put(stubs, key, b"v2").header.revision
    assert bookkeeping(get_one(stubs, key)) == (b"v2", r1, r2, 2, 0)
    r3 = put(stubs, key, b"v2").header.revision  # the same value still counts as a write
    assert bookkeeping(get_one(stubs, key)) == (b"v2", r1, r3, 3, 0)

    assert delete(stubs, key).header.revision == r3 + 1
    assert get_one(stubs, key) is None

    r5 = put(stubs, key, b"v3").header.revision  # recreated: a new life, version restarts
    assert bookkeeping(get_one(stubs, key)) == (b"v3", r5, r5, 1, 0)


def test_put_prev_kv(stubs: EtcdStubs, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    first = put(stubs, key, b"v1", prev_kv=True)
    assert not first.HasField("prev_kv")
    second = put(stubs, key, b"v2", prev_kv=True)
    r1 = first.header.revision
    assert (second.prev_kv.key, *bookkeeping(second.prev_kv)) == (key, b"v1", r1, r1, 1, 0)
    assert not put(stubs, key, b"v3").HasField("prev_kv")  # only when asked


def test_put_ignore_value_keeps_value_and_drops_lease(
    stubs: EtcdStubs, key_prefix: bytes, grant: Grant
) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v1", lease=grant().ID).header.revision
    r2 = put(stubs, key, ignore_value=True).header.revision
    assert bookkeeping(get_one(stubs, key)) == (b"v1", r1, r2, 2, 0)


def test_put_ignore_lease_keeps_lease(stubs: EtcdStubs, key_prefix: bytes, grant: Grant) -> None:
    key = key_prefix + b"k"
    lease = grant().ID
    r1 = put(stubs, key, b"v1", lease=lease).header.revision
    r2 = put(stubs, key, b"v2", ignore_lease=True).header.revision
    assert bookkeeping(get_one(stubs, key)) == (b"v2", r1, r2, 2, lease)
    r3 = put(stubs, key, ignore_value=True, ignore_lease=True).header.revision
    assert bookkeeping(get_one(stubs, key)) == (b"v2", r1, r3, 3, lease)


# --- Range ---------------------------------------------------------------------------------


# Written in this order, so that each sort target gives a different order (ascending):
#   KEY a b c | VERSION b(1) a(2) c(3) | CREATE c a b | MOD b c a | VALUE c(v1) b(v2) a(v3)
SORT_DATA = [("c", b"v1"), ("a", b"v3"), ("b", b"v2"), ("c", b"v1"), ("c", b"v1"), ("a", b"v3")]
VALUES = dict(SORT_DATA)
ASC, DESC, NONE = RangeRequest.ASCEND, RangeRequest.DESCEND, RangeRequest.NONE
T = RangeRequest


@dataclass(frozen=True)
class RangeCase:
    key: str  # relative to the test's prefix
    range_end: str | None  # relative; "<end>" is the prefix's range end
    fields: dict[str, Any]
    keys: str  # expected keys, in order: "bac" is [b, a, c]
    count: int
    more: bool = False

    def request(self, prefix: bytes) -> RangeRequest:
        fields = dict(self.fields, key=prefix + self.key.encode())
        if self.range_end == "<end>":
            fields["range_end"] = prefix_end(prefix)
        elif self.range_end is not None:
            fields["range_end"] = prefix + self.range_end.encode()
        return RangeRequest(**fields)


def whole(keys: str, count: int = 3, more: bool = False, **fields: Any) -> RangeCase:
    """A case over the whole prefix."""
    return RangeCase("", "<end>", fields, keys, count, more)


RANGE_CASES = {
    "single-key": RangeCase("a", None, {}, "a", 1),
    "missing-key": RangeCase("zz", None, {}, "", 0),
    "half-open-interval": RangeCase("a", "c", {}, "ab", 2),
    "end-before-start": RangeCase("c", "a", {}, "", 0),
    "prefix": whole("abc"),
    "limit": whole("ab", limit=2, more=True),
    "limit-equals-count": whole("abc", limit=3),
    "limit-above-count": whole("abc", limit=10),
    "count-only": whole("", count_only=True),
    "count-only-ignores-limit": whole("", count_only=True, limit=1),
    "key-ascend": whole("abc", sort_order=ASC),
    "key-descend": whole("cba", sort_order=DESC),
    "version-ascend": whole("bac", sort_order=ASC, sort_target=T.VERSION),
    "version-descend": whole("cab", sort_order=DESC, sort_target=T.VERSION),
    "create-ascend": whole("cab", sort_order=ASC, sort_target=T.CREATE),
    "create-descend": whole("bac", sort_order=DESC, sort_target=T.CREATE),
    "mod-ascend": whole("bca", sort_order=ASC, sort_target=T.MOD),
    "mod-descend": whole("acb", sort_order=DESC, sort_target=T.MOD),
    "value-ascend": whole("cba", sort_order=ASC, sort_target=T.VALUE),
    "value-descend": whole("abc", sort_order=DESC, sort_target=T.VALUE),
    # A target other than KEY with order NONE sorts ascending.
    "value-order-none-is-ascend": whole("cba", sort_order=NONE, sort_target=T.VALUE),
    # Sorting comes before the limit: the top of the sorted list, not a sorted page.
    "sort-then-limit": whole("c", sort_order=DESC, sort_target=T.VERSION, limit=1, more=True),
}


@pytest.mark.parametrize("case", RANGE_CASES.values(), ids=RANGE_CASES.keys())
def test_range(stubs: EtcdStubs, key_prefix: bytes, case: RangeCase) -> None:
    for name, value in SORT_DATA:
        put(stubs, key_prefix + name.encode(), value)
    put(stubs, prefix_end(key_prefix), b"just past the prefix")  # range_end is exclusive

    response = stubs.kv.Range(case.request(key_prefix))

    assert [kv.key.removeprefix(key_prefix).decode() for kv in response.kvs] == list(case.keys)
    assert [kv.value for kv in response.kvs] == [VALUES[k] for k in case.keys]
    assert (response.count, response.more) == (case.count, case.more)


def test_range_keys_only_omits_values(stubs: EtcdStubs, key_prefix: bytes) -> None:
    r1 = put(stubs, key_prefix + b"a", b"value-a").header.revision
    r2 = put(stubs, key_prefix + b"a", b"value-a2").header.revision
    response = get(stubs, key_prefix, range_end=prefix_end(key_prefix), keys_only=True)
    assert [(kv.key, *bookkeeping(kv)) for kv in response.kvs] == [
        (key_prefix + b"a", b"", r1, r2, 2, 0)
    ]


def test_range_from_key_with_range_end_nul(stubs: EtcdStubs, key_prefix: bytes) -> None:
    """range_end = b"\\0" means every key >= key (other tests' keys may follow ours)."""
    for name in (b"a", b"b", b"c", b"d"):
        put(stubs, key_prefix + name, name)
    start = key_prefix + b"b"
    response = get(stubs, start, range_end=b"\0")
    keys = [kv.key for kv in response.kvs]
    assert keys[:3] == [key_prefix + b"b", key_prefix + b"c", key_prefix + b"d"]
    assert all(k >= start for k in keys) and keys == sorted(keys)
    assert response.count == len(keys) and not response.more

    limited = get(stubs, start, range_end=b"\0", limit=1)
    assert [kv.key for kv in limited.kvs] == [start]
    assert (limited.more, limited.count) == (True, response.count)


def test_range_at_past_revisions(stubs: EtcdStubs, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v1").header.revision
    r2 = put(stubs, key, b"v2").header.revision
    r3 = delete(stubs, key).header.revision
    r4 = put(stubs, key_prefix + b"other").header.revision

    assert bookkeeping(get_one(stubs, key, revision=r1)) == (b"v1", r1, r1, 1, 0)
    assert bookkeeping(get_one(stubs, key, revision=r2)) == (b"v2", r1, r2, 2, 0)
    assert get_one(stubs, key, revision=r3) is None
    assert get(stubs, key_prefix, range_end=prefix_end(key_prefix), revision=r2).count == 1
    # The header carries the store's current revision, not the one read.
    assert get(stubs, key, revision=r1).header.revision == r4


def test_serializable_read_on_every_member_catches_up(
    store: StoreCluster, stubs: EtcdStubs, key_prefix: bytes
) -> None:
    key = key_prefix + b"k"
    revision = put(stubs, key, b"v").header.revision
    for endpoint in store.client_endpoints:
        with EtcdStubs.connect(endpoint) as member:
            found = wait_for(
                lambda member=member: get_one(member, key, serializable=True),
                EVENT_WAIT_S,
                describe=f"serializable read of {key!r} on {endpoint}",
            )
            assert bookkeeping(found) == (b"v", revision, revision, 1, 0)


def test_linearizable_read_on_every_member_sees_acknowledged_write(
    store: StoreCluster, stubs: EtcdStubs, key_prefix: bytes
) -> None:
    for round_number in range(3):
        value = f"v{round_number}".encode()
        revision = put(stubs, key_prefix + b"k", value).header.revision
        for endpoint in store.client_endpoints:
            with EtcdStubs.connect(endpoint) as member:
                response = get(member, key_prefix + b"k")
                assert [kv.value for kv in response.kvs] == [value], endpoint
                assert response.header.revision >= revision


# --- DeleteRange ---------------------------------------------------------------------------


def test_delete_single_key_with_prev_kv(stubs: EtcdStubs, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v").header.revision
    response = delete(stubs, key, prev_kv=True)
    assert (response.deleted, response.header.revision) == (1, r1 + 1)
    assert [(kv.key, *bookkeeping(kv)) for kv in response.prev_kvs] == [(key, b"v", r1, r1, 1, 0)]


def test_delete_prefix_returns_count_and_prev_kvs_in_key_order(
    stubs: EtcdStubs, key_prefix: bytes
) -> None:
    for name in (b"c", b"a", b"b"):
        put(stubs, key_prefix + name, b"value-" + name)
    outside = prefix_end(key_prefix)
    put(stubs, outside, b"outside")

    response = delete(stubs, key_prefix, range_end=prefix_end(key_prefix), prev_kv=True)
    assert response.deleted == 3
    assert [(kv.key, kv.value) for kv in response.prev_kvs] == [
        (key_prefix + n, b"value-" + n) for n in (b"a", b"b", b"c")
    ]
    assert get(stubs, key_prefix, range_end=prefix_end(key_prefix)).count == 0
    assert get_one(stubs, outside) is not None


def test_delete_without_prev_kv_returns_only_the_count(stubs: EtcdStubs, key_prefix: bytes) -> None:
    put(stubs, key_prefix + b"a")
    put(stubs, key_prefix + b"b")
    response = delete(stubs, key_prefix, range_end=prefix_end(key_prefix))
    assert (response.deleted, list(response.prev_kvs)) == (2, [])


# --- Txn -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareFixture:
    """`key`: value b"b", version 2, leased; `other`: version 1, no lease; `missing`: never
    written; "range" means [key, other]."""

    key: bytes
    other: bytes
    missing: bytes
    create: int
    mod: int
    lease: int


def cmp(target: str, result: str, on: str = "key", **operand: Any) -> Callable[..., Compare]:
    """A compare built once the fixture exists; callable operands receive the fixture."""

    def build(fx: CompareFixture) -> Compare:
        resolved = {k: (v(fx) if callable(v) else v) for k, v in operand.items()}
        if on == "range":
            return compare(fx.key, target, result, range_end=fx.other + b"\0", **resolved)
        return compare(getattr(fx, on), target, result, **resolved)

    return build


COMPARE_CASES = {
    "value-equal": (cmp("VALUE", "EQUAL", value=b"b"), True),
    "value-equal-false": (cmp("VALUE", "EQUAL", value=b"a"), False),
    "value-not-equal": (cmp("VALUE", "NOT_EQUAL", value=b"a"), True),
    "value-not-equal-false": (cmp("VALUE", "NOT_EQUAL", value=b"b"), False),
    "value-greater": (cmp("VALUE", "GREATER", value=b"a"), True),
    "value-greater-false": (cmp("VALUE", "GREATER", value=b"b"), False),
    "value-less": (cmp("VALUE", "LESS", value=b"c"), True),
    "value-less-bytewise": (cmp("VALUE", "LESS", value=b"ba"), True),
    "value-less-false": (cmp("VALUE", "LESS", value=b"b"), False),
    "version-equal": (cmp("VERSION", "EQUAL", version=2), True),
    "version-greater": (cmp("VERSION", "GREATER", version=1), True),
    "version-less-false": (cmp("VERSION", "LESS", version=2), False),
    "version-not-equal-false": (cmp("VERSION", "NOT_EQUAL", version=2), False),
    "create-equal": (cmp("CREATE", "EQUAL", create_revision=lambda fx: fx.create), True),
    "create-less": (cmp("CREATE", "LESS", create_revision=lambda fx: fx.create + 1), True),
    "create-greater-false": (cmp("CREATE", "GREATER", create_revision=lambda fx: fx.create), False),
    "mod-equal": (cmp("MOD", "EQUAL", mod_revision=lambda fx: fx.mod), True),
    "mod-greater": (cmp("MOD", "GREATER", mod_revision=lambda fx: fx.mod - 1), True),
    "mod-less-false": (cmp("MOD", "LESS", mod_revision=lambda fx: fx.mod), False),
    "mod-not-equal-false": (cmp("MOD", "NOT_EQUAL", mod_revision=lambda fx: fx.mod), False),
    "lease-equal": (cmp("LEASE", "EQUAL", lease=lambda fx: fx.lease), True),
    "lease-not-equal-zero": (cmp("LEASE", "NOT_EQUAL", lease=0), True),
    "lease-equal-zero-false": (cmp("LEASE", "EQUAL", lease=0), False),
    "unleased-key-lease-zero": (cmp("LEASE", "EQUAL", "other", lease=0), True),
    # A missing key compares as version/create/mod/lease 0; a value compare on it always fails.
    "missing-version-zero": (cmp("VERSION", "EQUAL", "missing", version=0), True),
    "missing-create-zero": (cmp("CREATE", "EQUAL", "missing", create_revision=0), True),
    "missing-mod-less-one": (cmp("MOD", "LESS", "missing", mod_revision=1), True),
    "missing-lease-zero": (cmp("LEASE", "EQUAL", "missing", lease=0), True),
    "missing-value-equal-empty-false": (cmp("VALUE", "EQUAL", "missing", value=b""), False),
    "missing-value-not-equal-false": (cmp("VALUE", "NOT_EQUAL", "missing", value=b"x"), False),
    # With range_end, every key in the range must satisfy the compare.
    "range-all-versions-greater": (cmp("VERSION", "GREATER", "range", version=0), True),
    "range-one-version-differs": (cmp("VERSION", "EQUAL", "range", version=2), False),
}


@pytest.mark.parametrize("make_compare, holds", COMPARE_CASES.values(), ids=COMPARE_CASES.keys())
def test_txn_compare(
    stubs: EtcdStubs,
    key_prefix: bytes,
    grant: Grant,
    make_compare: Callable[[CompareFixture], Compare],
    holds: bool,
) -> None:
    key, other, branch = key_prefix + b"k", key_prefix + b"k2", key_prefix + b"branch"
    lease = grant().ID
    create = put(stubs, key, b"a", lease=lease).header.revision
    mod = put(stubs, key, b"b", lease=lease).header.revision
    put(stubs, other, b"other")
    fx = CompareFixture(key, other, key_prefix + b"missing", create, mod, lease)

    response = txn(
        stubs,
        compare=[make_compare(fx)],
        success=[op_put(branch, b"success")],
        failure=[op_put(branch, b"failure")],
    )
    assert response.succeeded is holds
    assert bookkeeping(get_one(stubs, branch))[0] == (b"success" if holds else b"failure")


def test_txn_compares_are_anded(stubs: EtcdStubs, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    put(stubs, key, b"v")
    version_1 = compare(key, "VERSION", "EQUAL", version=1)
    assert txn(stubs, compare=[version_1, compare(key, "VALUE", "EQUAL", value=b"v")]).succeeded
    assert not txn(stubs, compare=[version_1, compare(key, "VALUE", "EQUAL", value=b"x")]).succeeded
    assert txn(stubs, compare=[]).succeeded


@pytest.mark.parametrize("takes_success", [True, False], ids=["success-branch", "failure-branch"])
def test_txn_runs_only_the_chosen_branch(
    stubs: EtcdStubs, key_prefix: bytes, takes_success: bool
) -> None:
    guard, chosen, skipped = key_prefix + b"guard", key_prefix + b"chosen", key_prefix + b"skip"
    put(stubs, guard, b"yes")
    r0 = put(stubs, key_prefix + b"doomed", b"d").header.revision
    branch = [
        op_put(chosen, b"new", prev_kv=True),
        op_range(chosen),
        op_delete(key_prefix + b"doomed", prev_kv=True),
    ]
    other = [op_put(skipped, b"never")]
    response = txn(
        stubs,
        compare=[compare(guard, "VALUE", "EQUAL", value=b"yes" if takes_success else b"no")],
        success=branch if takes_success else other,
        failure=other if takes_success else branch,
    )
    revision = r0 + 1
    assert (response.succeeded, response.header.revision) == (takes_success, revision)
    assert [r.WhichOneof("response") for r in response.responses] == [
        "response_put",
        "response_range",
        "response_delete_range",
    ]
    put_response, range_response, delete_response = (
        response.responses[0].response_put,
        response.responses[1].response_range,
        response.responses[2].response_delete_range,
    )
    assert not put_response.HasField("prev_kv")  # the key did not exist before
    # A range after a put in the same txn sees the put.
    assert [bookkeeping(kv) for kv in range_response.kvs] == [(b"new", revision, revision, 1, 0)]
    assert (delete_response.deleted, [kv.value for kv in delete_response.prev_kvs]) == (1, [b"d"])
    assert get_one(stubs, skipped) is None


def test_nested_txn(stubs: EtcdStubs, key_prefix: bytes) -> None:
    outer, inner_yes, inner_no = (key_prefix + k for k in (b"outer", b"inner-yes", b"inner-no"))
    r0 = put(stubs, outer, b"1").header.revision
    inner = op_txn(
        compare=[compare(outer, "VALUE", "EQUAL", value=b"other")],
        success=[op_put(inner_yes)],
        failure=[op_put(inner_no, b"n"), op_range(inner_no)],
    )
    response = txn(
        stubs,
        compare=[compare(outer, "VERSION", "EQUAL", version=1)],
        success=[op_put(outer, b"2"), inner],
    )
    assert response.succeeded
    assert response.header.revision == r0 + 1  # the whole tree is one write transaction
    nested = response.responses[1].response_txn
    assert nested.succeeded is False
    assert [r.WhichOneof("response") for r in nested.responses] == [
        "response_put",
        "response_range",
    ]
    assert [kv.value for kv in nested.responses[1].response_range.kvs] == [b"n"]
    assert get_one(stubs, inner_yes) is None
    assert bookkeeping(get_one(stubs, inner_no)) == (b"n", r0 + 1, r0 + 1, 1, 0)
    assert bookkeeping(get_one(stubs, outer))[0] == b"2"


def test_txn_same_key_in_both_branches_is_allowed(stubs: EtcdStubs, key_prefix: bytes) -> None:
    key = key_prefix + b"k"
    response = txn(stubs, success=[op_range(key), op_put(key, b"s")], failure=[op_put(key, b"f")])
    assert response.succeeded and bookkeeping(get_one(stubs, key))[0] == b"s"


def test_txn_with_128_operations_is_accepted(stubs: EtcdStubs, key_prefix: bytes) -> None:
    response = txn(stubs, success=[op_put(key_prefix + b"%03d" % i) for i in range(128)])
    assert len(response.responses) == 128
    assert get(stubs, key_prefix, range_end=prefix_end(key_prefix), count_only=True).count == 128


# --- compaction ----------------------------------------------------------------------------


def test_compact_then_reading_a_compacted_revision_fails(
    stubs: EtcdStubs, key_prefix: bytes
) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v1").header.revision
    r2 = put(stubs, key, b"v2").header.revision
    assert compact(stubs, r2, physical=True).header.revision == r2  # compaction is not a write

    assert rpc_error(lambda: get(stubs, key, revision=r1)) == (CODE.OUT_OF_RANGE, COMPACTED)
    in_txn = rpc_error(lambda: txn(stubs, success=[op_range(key, revision=r1)]))
    assert in_txn == (CODE.OUT_OF_RANGE, COMPACTED)
    # The compaction revision itself stays readable.
    assert bookkeeping(get_one(stubs, key, revision=r2)) == (b"v2", r1, r2, 2, 0)
    for again in (r2, r1):
        assert rpc_error(lambda again=again: compact(stubs, again)) == (
            CODE.OUT_OF_RANGE,
            COMPACTED,
        )


FUTURE_READS = {
    "range": lambda s, k, rev: get(s, k, revision=rev),
    "txn-range": lambda s, k, rev: txn(s, success=[op_range(k, revision=rev)]),
    "compact": lambda s, k, rev: compact(s, rev),
}


@pytest.mark.parametrize("call", FUTURE_READS.values(), ids=FUTURE_READS.keys())
def test_future_revision_is_out_of_range(
    stubs: EtcdStubs, key_prefix: bytes, call: Callable[[EtcdStubs, bytes, int], object]
) -> None:
    revision = put(stubs, key_prefix + b"k").header.revision
    error = rpc_error(lambda: call(stubs, key_prefix + b"k", revision + 1000))
    assert error == (CODE.OUT_OF_RANGE, FUTURE_REV)


# --- Watch ---------------------------------------------------------------------------------


def event_view(event: kv_pb2.Event) -> tuple[str, bytes, bytes, int, int, int]:
    """(type, key, value, create_revision, mod_revision, version)."""
    kv = event.kv
    kind = kv_pb2.Event.EventType.Name(event.type)
    return kind, kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version


@pytest.fixture
def watch_stream(stubs: EtcdStubs) -> Iterator[BidiStream]:
    with BidiStream(stubs.watch.Watch, response_wait_s=EVENT_WAIT_S) as stream:
        yield stream


def create_watch(stream: BidiStream, **fields: Any) -> int:
    stream.send(rpc_pb2.WatchRequest(create_request=WatchCreateRequest(**fields)))
    created = stream.next_response(describe=f"watch created for {fields}")
    assert created.created and not created.canceled and not created.events, created
    return int(created.watch_id)


def collect_events(stream: BidiStream, count: int, describe: str) -> list[tuple[int, Any]]:
    """(watch_id, event) pairs until `count` events have arrived, in arrival order."""
    events: list[tuple[int, Any]] = []
    for _ in range(count):  # each response the test has not consumed carries >= 1 event
        if len(events) >= count:
            break
        response = stream.next_response(describe=f"{describe}: {len(events)} of {count} events")
        assert not response.canceled, response
        events.extend((response.watch_id, e) for e in response.events)
    return events


def test_watch_from_now(stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream) -> None:
    key = key_prefix + b"k"
    put(stubs, key_prefix + b"before", b"not seen")
    watch_id = create_watch(watch_stream, key=key_prefix, range_end=prefix_end(key_prefix))

    r1 = put(stubs, key, b"v1").header.revision
    response = watch_stream.next_response(describe="PUT event")
    assert (response.watch_id, response.header.revision) == (watch_id, r1)
    assert [event_view(e) for e in response.events] == [("PUT", key, b"v1", r1, r1, 1)]
    assert not response.events[0].HasField("prev_kv")

    r2 = delete(stubs, key).header.revision
    events = collect_events(watch_stream, 1, "DELETE event")
    # A delete event carries only the key and the deletion revision.
    assert [(w, event_view(e)) for w, e in events] == [(watch_id, ("DELETE", key, b"", 0, r2, 0))]


def test_watch_from_past_revision_replays_history(
    stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream
) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v1").header.revision
    r2 = put(stubs, key, b"v2").header.revision
    r3 = delete(stubs, key).header.revision
    watch_id = create_watch(watch_stream, key=key, start_revision=r1)
    events = collect_events(watch_stream, 3, "replayed history")
    assert [(w, event_view(e)) for w, e in events] == [
        (watch_id, ("PUT", key, b"v1", r1, r1, 1)),
        (watch_id, ("PUT", key, b"v2", r1, r2, 2)),
        (watch_id, ("DELETE", key, b"", 0, r3, 0)),
    ]
    r4 = put(stubs, key, b"v3").header.revision  # and then it goes on live
    live = collect_events(watch_stream, 1, "live event")
    assert [event_view(e) for _, e in live] == [("PUT", key, b"v3", r4, r4, 1)]


def test_watch_prev_kv(stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v0").header.revision
    create_watch(watch_stream, key=key, prev_kv=True, start_revision=r1 + 1)
    put(stubs, key, b"v1")
    delete(stubs, key)
    put(stubs, key, b"v2")
    events = [e for _, e in collect_events(watch_stream, 3, "events with prev_kv")]
    previous = [e.prev_kv.value if e.HasField("prev_kv") else None for e in events]
    assert previous == [b"v0", b"v1", None]  # a (re)creation has no previous value
    assert bookkeeping(events[1].prev_kv) == (b"v1", r1, r1 + 1, 2, 0)


@pytest.mark.parametrize(
    "filters, passed",
    [
        pytest.param([WatchCreateRequest.NOPUT], ["DELETE", "DELETE"], id="noput"),
        pytest.param([WatchCreateRequest.NODELETE], ["PUT", "PUT"], id="nodelete"),
    ],
)
def test_watch_filters(
    stubs: EtcdStubs,
    key_prefix: bytes,
    watch_stream: BidiStream,
    filters: list[int],
    passed: list[str],
) -> None:
    key = key_prefix + b"k"
    create_watch(watch_stream, key=key, filters=filters)
    for value in (b"1", b"2"):
        put(stubs, key, value)
        delete(stubs, key)
    # Events of one watch arrive in revision order: once the second event that passes the
    # filter is here, any event that should have been filtered out would be here too.
    events = collect_events(watch_stream, 2, f"events passing {filters}")
    assert [kv_pb2.Event.EventType.Name(e.type) for _, e in events] == passed


def test_many_watches_on_one_stream(
    stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream
) -> None:
    a, b = key_prefix + b"a", key_prefix + b"b"
    watch_a = create_watch(watch_stream, key=a)
    watch_b = create_watch(watch_stream, key=b)
    watch_all = create_watch(watch_stream, key=key_prefix, range_end=prefix_end(key_prefix))
    assert len({watch_a, watch_b, watch_all}) == 3
    put(stubs, a, b"1")
    put(stubs, b, b"2")
    received = collect_events(watch_stream, 4, "events for three watches")
    by_watch = {w: sorted(e.kv.key for i, e in received if i == w) for w, _ in received}
    assert by_watch == {watch_a: [a], watch_b: [b], watch_all: [a, b]}


def test_watch_cancel(stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream) -> None:
    key = key_prefix + b"k"
    cancelled = create_watch(watch_stream, key=key)
    cancel = rpc_pb2.WatchCancelRequest(watch_id=cancelled)
    watch_stream.send(rpc_pb2.WatchRequest(cancel_request=cancel))
    response = watch_stream.next_response(describe="cancel confirmation")
    assert (response.watch_id, response.canceled, list(response.events)) == (cancelled, True, [])

    witness = create_watch(watch_stream, key=key)
    put(stubs, key, b"v")
    events = collect_events(watch_stream, 1, "event for the watch that is still open")
    assert [w for w, _ in events] == [witness]


def test_watch_progress_request(
    stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream
) -> None:
    key = key_prefix + b"k"
    create_watch(watch_stream, key=key)
    revision = put(stubs, key, b"v").header.revision
    collect_events(watch_stream, 1, "event before progress")
    watch_stream.send(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))
    progress = watch_stream.next_response(describe="progress notification")
    # Progress is for the whole stream: watch_id -1, no events, the current revision.
    view = (progress.watch_id, progress.created, progress.canceled, list(progress.events))
    assert view == (-1, False, False, [])
    assert progress.header.revision >= revision


def test_watch_on_compacted_revision_is_cancelled(
    stubs: EtcdStubs, key_prefix: bytes, watch_stream: BidiStream
) -> None:
    key = key_prefix + b"k"
    r1 = put(stubs, key, b"v1").header.revision
    r2 = put(stubs, key, b"v2").header.revision
    compact(stubs, r2, physical=True)

    watch_id = create_watch(watch_stream, key=key, start_revision=r1)  # created first...
    response = watch_stream.next_response(describe="compaction cancellation")  # ...then this
    assert (response.watch_id, response.canceled, response.compact_revision) == (watch_id, True, r2)
    assert list(response.events) == []


# --- Lease ---------------------------------------------------------------------------------


def test_lease_grant_without_and_with_id(stubs: EtcdStubs, grant: Grant) -> None:
    chosen = grant()
    assert chosen.ID != 0 and chosen.TTL == LEASE_TTL and not chosen.error
    wanted = UNKNOWN_LEASE_ID - 7
    explicit = grant(ttl=30, lease_id=wanted)
    assert (wanted, 30) == (explicit.ID, explicit.TTL)
    assert {chosen.ID, wanted} <= listed_leases(stubs)


def test_lease_grant_with_existing_id_fails(grant: Grant) -> None:
    lease = grant().ID
    assert rpc_error(lambda: grant(lease_id=lease)) == (CODE.FAILED_PRECONDITION, LEASE_EXISTS)


def test_lease_time_to_live(stubs: EtcdStubs, key_prefix: bytes, grant: Grant) -> None:
    lease = grant().ID
    keys = [key_prefix + b"b", key_prefix + b"a"]
    for key in keys:
        put(stubs, key, lease=lease)

    with_keys = time_to_live(stubs, lease, keys=True)
    assert (with_keys.ID, with_keys.grantedTTL) == (lease, LEASE_TTL)
    assert 0 < with_keys.TTL <= LEASE_TTL
    assert sorted(with_keys.keys) == sorted(keys)
    assert list(time_to_live(stubs, lease).keys) == []  # keys only when asked


def test_lease_time_to_live_of_unknown_lease_is_minus_one(stubs: EtcdStubs) -> None:
    response = time_to_live(stubs, UNKNOWN_LEASE_ID, keys=True)
    view = (response.ID, response.TTL, response.grantedTTL, list(response.keys))
    assert view == (UNKNOWN_LEASE_ID, -1, 0, [])


def test_lease_keepalive_stream(stubs: EtcdStubs, grant: Grant) -> None:
    lease = grant().ID
    with BidiStream(stubs.lease.LeaseKeepAlive) as stream:
        for attempt in range(3):
            stream.send(rpc_pb2.LeaseKeepAliveRequest(ID=lease))
            response = stream.next_response(describe=f"keepalive {attempt}")
            assert (lease, LEASE_TTL) == (response.ID, response.TTL)
        # An unknown lease is not an error on the stream: TTL 0.
        stream.send(rpc_pb2.LeaseKeepAliveRequest(ID=UNKNOWN_LEASE_ID))
        unknown = stream.next_response(describe="keepalive of an unknown lease")
        assert (unknown.ID, unknown.TTL) == (UNKNOWN_LEASE_ID, 0)


def test_lease_revoke_deletes_attached_keys_in_one_revision(
    stubs: EtcdStubs, key_prefix: bytes, grant: Grant
) -> None:
    lease = grant().ID
    for name in (b"a", b"b"):
        put(stubs, key_prefix + name, lease=lease)
    kept = put(stubs, key_prefix + b"unleased").header.revision

    revoked = stubs.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease))
    assert revoked.header.revision == kept + 1
    remaining = get(stubs, key_prefix, range_end=prefix_end(key_prefix)).kvs
    assert [kv.key for kv in remaining] == [key_prefix + b"unleased"]
    assert time_to_live(stubs, lease).TTL == -1
    assert lease not in listed_leases(stubs)


def test_lease_revoke_without_keys_keeps_the_revision(
    stubs: EtcdStubs, key_prefix: bytes, grant: Grant
) -> None:
    lease = grant().ID
    before = put(stubs, key_prefix + b"marker").header.revision
    assert stubs.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease)).header.revision == before


def test_lease_expiry_deletes_attached_keys(
    stubs: EtcdStubs, key_prefix: bytes, grant: Grant, watch_stream: BidiStream
) -> None:
    lease = grant(ttl=2).ID
    key = key_prefix + b"k"
    put(stubs, key, b"v", lease=lease)
    create_watch(watch_stream, key=key)
    wait_for(
        lambda: get(stubs, key).count == 0,
        LEASE_EXPIRY_WAIT_S,
        describe=lambda: f"{key!r} deleted by the expiry of lease {lease}: {get(stubs, key)}",
    )
    events = collect_events(watch_stream, 1, "DELETE from lease expiry")
    assert [kv_pb2.Event.EventType.Name(e.type) for _, e in events] == ["DELETE"]
    assert time_to_live(stubs, lease).TTL == -1


# --- Cluster and Maintenance ---------------------------------------------------------------


def test_member_list(store: StoreCluster, stubs: EtcdStubs) -> None:
    response = stubs.cluster.MemberList(rpc_pb2.MemberListRequest())
    by_name = {m.name: m for m in response.members}
    assert sorted(by_name) == ["s1", "s2", "s3"]
    for index, member in enumerate(store.members):
        listed = by_name[member.name]
        assert list(listed.peerURLs) == [member.peer_url]
        assert list(listed.clientURLs) == [store.client_urls[index]]
        assert not listed.isLearner
    ids = [m.ID for m in response.members]
    assert 0 not in ids and len(set(ids)) == 3
    assert response.header.member_id == by_name["s1"].ID  # the stubs talk to s1
    assert response.header.cluster_id != 0


def test_status(
    store: StoreCluster, stubs: EtcdStubs, key_prefix: bytes, member_ids: dict[str, int]
) -> None:
    revision = put(stubs, key_prefix + b"k").header.revision
    status = stubs.maintenance.Status(rpc_pb2.StatusRequest())
    assert status.leader == member_ids[store.members[store.leader()].name]
    assert status.raftTerm >= 1 and status.header.raft_term == status.raftTerm
    assert status.header.revision >= revision
    assert status.header.member_id == member_ids["s1"]
    assert status.version and status.dbSize > 0 and status.raftIndex >= 1


HEADER_CALLS = {
    "range": lambda s, p: get(s, p),
    "put": lambda s, p: put(s, p + b"k"),
    "delete-range": lambda s, p: delete(s, p + b"k"),
    "txn": lambda s, p: txn(s, success=[op_put(p + b"t")]),
    "lease-time-to-live": lambda s, p: time_to_live(s, UNKNOWN_LEASE_ID),
    "lease-leases": lambda s, p: s.lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest()),
    "status": lambda s, p: s.maintenance.Status(rpc_pb2.StatusRequest()),
    "member-list": lambda s, p: s.cluster.MemberList(rpc_pb2.MemberListRequest()),
}


@pytest.mark.parametrize("call", HEADER_CALLS.values(), ids=HEADER_CALLS.keys())
def test_response_header_identifies_cluster_and_member(
    stubs: EtcdStubs,
    key_prefix: bytes,
    member_ids: dict[str, int],
    call: Callable[[EtcdStubs, bytes], Any],
) -> None:
    cluster_id = stubs.cluster.MemberList(rpc_pb2.MemberListRequest()).header.cluster_id
    header = call(stubs, key_prefix).header
    assert (header.cluster_id, header.member_id) == (cluster_id, member_ids["s1"])
    assert cluster_id != 0 and header.raft_term >= 1


# --- errors --------------------------------------------------------------------------------

# Above etcd's 1.5 MiB request limit, below its 2 MiB gRPC message cap (beyond which gRPC
# itself refuses the message with RESOURCE_EXHAUSTED).
TOO_LARGE_BYTES = 3 * MiB // 2 + 16 * 1024
ErrorCall = Callable[[EtcdStubs, bytes], object]


def refused_with(code: grpc.StatusCode, message: str, **calls: ErrorCall) -> list[Any]:
    return [pytest.param(call, code, message, id=name) for name, call in calls.items()]


ERROR_CASES = [
    *refused_with(
        CODE.INVALID_ARGUMENT,
        KEY_NOT_PROVIDED,
        put_empty_key=lambda s, p: put(s, b"", b"v"),
        range_empty_key=lambda s, p: get(s, b""),
        delete_empty_key=lambda s, p: delete(s, b""),
        txn_put_empty_key=lambda s, p: txn(s, success=[op_put(b"")]),
        txn_compare_empty_key=lambda s, p: txn(s, compare=[compare(b"", "VERSION", "EQUAL")]),
    ),
    *refused_with(
        CODE.INVALID_ARGUMENT,
        REQUEST_TOO_LARGE,
        put_too_large=lambda s, p: put(s, p + b"big", b"x" * TOO_LARGE_BYTES),
        txn_too_large=lambda s, p: txn(
            s, success=[op_put(p + b"%d" % i, b"x" * (TOO_LARGE_BYTES // 3 + 1)) for i in range(3)]
        ),
    ),
    *refused_with(
        CODE.INVALID_ARGUMENT,
        VALUE_PROVIDED,
        put_ignore_value_with_value=lambda s, p: put(s, p + b"k", b"v", ignore_value=True),
    ),
    *refused_with(
        CODE.INVALID_ARGUMENT,
        LEASE_PROVIDED,
        put_ignore_lease_with_lease=lambda s, p: put(
            s, p + b"k", b"v", lease=UNKNOWN_LEASE_ID, ignore_lease=True
        ),
    ),
    *refused_with(
        CODE.INVALID_ARGUMENT,
        KEY_NOT_FOUND,
        put_ignore_value_missing_key=lambda s, p: put(s, p + b"k", ignore_value=True),
        put_ignore_lease_missing_key=lambda s, p: put(s, p + b"k", b"v", ignore_lease=True),
    ),
    *refused_with(
        CODE.NOT_FOUND,
        LEASE_NOT_FOUND,
        put_unknown_lease=lambda s, p: put(s, p + b"k", b"v", lease=UNKNOWN_LEASE_ID),
        txn_put_unknown_lease=lambda s, p: txn(
            s, success=[op_put(p + b"k", lease=UNKNOWN_LEASE_ID)]
        ),
        lease_revoke_unknown=lambda s, p: s.lease.LeaseRevoke(
            rpc_pb2.LeaseRevokeRequest(ID=UNKNOWN_LEASE_ID)
        ),
    ),
    *refused_with(
        CODE.INVALID_ARGUMENT,
        DUPLICATE_KEY,
        txn_duplicate_put=lambda s, p: txn(s, success=[op_put(p + b"k"), op_put(p + b"k")]),
        txn_put_inside_deleted_range=lambda s, p: txn(
            s, failure=[op_put(p + b"k"), op_delete(p, range_end=prefix_end(p))]
        ),
        txn_duplicate_put_in_nested_txn=lambda s, p: txn(
            s, success=[op_put(p + b"k"), op_txn(success=[op_put(p + b"k")])]
        ),
    ),
    *refused_with(
        CODE.INVALID_ARGUMENT,
        TOO_MANY_OPS,
        txn_129_operations=lambda s, p: txn(s, success=[op_put(p + b"%d" % i) for i in range(129)]),
    ),
    *refused_with(
        CODE.OUT_OF_RANGE,
        LEASE_TTL_TOO_LARGE,
        lease_grant_ttl_too_large=lambda s, p: s.lease.LeaseGrant(
            rpc_pb2.LeaseGrantRequest(TTL=9_000_000_001)
        ),
    ),
]


@pytest.mark.parametrize("call, code, message", ERROR_CASES)
def test_error(
    stubs: EtcdStubs,
    key_prefix: bytes,
    call: ErrorCall,
    code: grpc.StatusCode,
    message: str,
) -> None:
    before = current_revision(stubs)
    assert rpc_error(lambda: call(stubs, key_prefix)) == (code, message)
    assert current_revision(stubs) == before  # a refused request writes nothing
    assert get(stubs, key_prefix, range_end=prefix_end(key_prefix)).count == 0
