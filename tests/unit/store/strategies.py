"""Hypothesis strategies for store ops over a small key alphabet.

Ops are drawn against a `Context` (the store's revision, the lease ids worth naming, the
leader epoch, the revisions keys were written at) so that reads hit past, compacted and future
revisions, filters and compares land on exact boundaries, and lease ops hit live, expired and
unknown leases often enough to matter. A state machine that has a ``context`` attribute
supplies it (found through ``st.runner()`` while drawing); anything else draws against
`STATIC`. The strategies themselves are built once: building one costs hypothesis far more
than drawing from it.

Values are valid as far as the gRPC front end would let them through (no negative revisions or
limits); ill-typed ops live in ``test_apply_fuzz.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from kubelite.store.types import (
    AutoCompactOp,
    ClaimLeadershipOp,
    CompactOp,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteOp,
    ExpireLeasesOp,
    LeaseGrantOp,
    LeaseKeepAliveOp,
    LeaseRevokeOp,
    Op,
    PutOp,
    RangeOp,
    RegisterMemberOp,
    SortOrder,
    SortTarget,
    TxnBranchOp,
    TxnOp,
)

from .reference import MAX_LEASE_TTL

# b"" last and rare: sampled_from shrinks towards the first element, and an empty key anywhere
# in a txn makes the whole txn an error.
KEYS = (b"a", b"ab", b"b", b"c", b"\x00", b"a", b"b") * 6 + (b"",)
RANGE_ENDS = (b"", b"", b"\x00", b"ab", b"b", b"c", b"d", b"a")
VALUES = (b"1", b"2", b"", b"xyz")
FIXED_LEASES = (1, 2, 3)
UNKNOWN_LEASE = 999


@dataclass(frozen=True)
class Context:
    revision: int = 1
    lease_ids: tuple[int, ...] = FIXED_LEASES
    leader_epoch: int = 0
    # Create and mod revisions of live keys: filters and compares are interesting right there.
    boundaries: tuple[int, ...] = ()


STATIC = Context(revision=12, boundaries=(2, 3, 5, 8))


def _context_of(runner: object) -> Context:
    context = getattr(runner, "context", None)
    return context if isinstance(context, Context) else STATIC


contexts = st.runner(default=None).map(_context_of)
keys = st.sampled_from(KEYS)
# Compares also name a key that is never written: a missing key compares by special rules.
compare_keys = st.sampled_from((b"q", *KEYS[:-1], b"q", b"q", b""))
range_ends = st.sampled_from(RANGE_ENDS)
values = st.sampled_from(VALUES)


@st.composite
def revisions(draw: st.DrawFn) -> int:
    """0 (current) or any revision up to one past the current (a future one)."""
    ctx = draw(contexts)
    return draw(st.one_of(st.just(0), st.integers(1, ctx.revision + 1)))


@st.composite
def near_boundaries(draw: st.DrawFn) -> int:
    """A revision on or just beside one a key was written at, or any revision."""
    ctx = draw(contexts)
    if ctx.boundaries and draw(st.booleans()):
        return max(draw(st.sampled_from(ctx.boundaries)) + draw(st.sampled_from((0, 0, -1, 1))), 1)
    return draw(st.integers(1, ctx.revision + 1))


@st.composite
def lease_refs(draw: st.DrawFn) -> int:
    return draw(st.sampled_from((0, 0, 0, *draw(contexts).lease_ids, UNKNOWN_LEASE)))


@st.composite
def lease_ids(draw: st.DrawFn) -> int:
    return draw(st.sampled_from((*draw(contexts).lease_ids, UNKNOWN_LEASE)))


@st.composite
def epochs(draw: st.DrawFn) -> int:
    """Mostly the leader's epoch; else one before or after it (both stale for expiry)."""
    epoch = draw(contexts).leader_epoch
    return draw(st.sampled_from((epoch, epoch, max(epoch - 1, 0), epoch + 1)))


# Revision filters are mostly off, or almost nothing would be left to sort and limit.
filters = st.one_of(st.just(0), st.just(0), st.just(0), near_boundaries())


def _range_ops(revision: st.SearchStrategy[int]) -> st.SearchStrategy[RangeOp]:
    return st.builds(
        RangeOp,
        key=keys,
        range_end=range_ends,
        limit=st.integers(0, 3),
        revision=revision,
        sort_order=st.sampled_from(SortOrder),
        sort_target=st.sampled_from(SortTarget),
        keys_only=st.booleans(),
        count_only=st.integers(0, 5).map(lambda n: n == 0),
        min_mod_revision=filters,
        max_mod_revision=filters,
        min_create_revision=filters,
        max_create_revision=filters,
    )


range_ops = _range_ops(revisions())
# In a txn an explicit revision is mostly left out, so that most txns get past their checks.
txn_range_ops = _range_ops(st.one_of(st.just(0), st.just(0), st.just(0), revisions()))


@st.composite
def _put_ops(draw: st.DrawFn) -> PutOp:
    ignore_value = draw(st.integers(0, 4)) == 0
    ignore_lease = draw(st.integers(0, 4)) == 0
    # With an ignore flag the field must stay empty; now and then it does not (an error).
    misuse = draw(st.integers(0, 5)) == 0
    value = draw(values) if not ignore_value or misuse else b""
    lease = draw(lease_refs()) if not (ignore_value or ignore_lease) or misuse else 0
    return PutOp(
        key=draw(keys),
        value=value,
        lease=lease,
        prev_kv=draw(st.booleans()),
        ignore_value=ignore_value,
        ignore_lease=ignore_lease,
    )


put_ops = _put_ops()
delete_ops = st.builds(DeleteOp, key=keys, range_end=range_ends, prev_kv=st.booleans())


@st.composite
def _compares(draw: st.DrawFn) -> Compare:
    target = draw(st.sampled_from(CompareTarget))
    right_kind = draw(st.integers(0, 7)) != 0
    wants_bytes = (target == CompareTarget.VALUE) == right_kind
    operand: int | bytes = (
        draw(values)
        if wants_bytes
        else draw(st.one_of(st.integers(0, 3), near_boundaries(), lease_ids()))
    )
    end = draw(st.sampled_from((b"", b"", b"", *RANGE_ENDS)))
    return Compare(draw(compare_keys), target, draw(st.sampled_from(CompareResult)), operand, end)


compares = _compares()


def _txn_ops(depth: int) -> st.SearchStrategy[TxnOp]:
    children: list[st.SearchStrategy[TxnBranchOp]] = [txn_range_ops, put_ops, put_ops, delete_ops]
    if depth > 0:
        children.append(_txn_ops(depth - 1))
    branch = st.lists(st.one_of(children), max_size=3 if depth == 2 else 2).map(tuple)
    return st.builds(
        TxnOp,
        compares=st.lists(compares, max_size=2).map(tuple),
        success=branch,
        failure=branch,
    )


txn_ops = _txn_ops(depth=2)

_ttls = st.sampled_from((-1, 0, 1, 2, 3, 4, 6, 6, MAX_LEASE_TTL, MAX_LEASE_TTL + 1))
lease_ops = st.one_of(
    st.builds(LeaseGrantOp, ttl=_ttls, id=st.sampled_from((0, 0, *FIXED_LEASES))),
    st.builds(LeaseKeepAliveOp, id=lease_ids()),
    st.builds(LeaseRevokeOp, id=lease_ids()),
)

leader_ops = st.one_of(
    st.builds(ClaimLeadershipOp, epoch=epochs(), lease_extension_ms=st.sampled_from((0, 1500))),
    st.builds(
        ExpireLeasesOp,
        epoch=epochs(),
        ids=st.lists(lease_ids(), unique=True, max_size=3).map(tuple),
    ),
    st.builds(AutoCompactOp, epoch=epochs(), revision=revisions().map(lambda r: max(r, 1))),
)

member_ops = st.builds(
    RegisterMemberOp,
    member_id=st.integers(1, 3),
    name=st.sampled_from(("s1", "s2")),
    peer_urls=st.just(("http://127.0.0.1:2380",)),
    client_urls=st.lists(st.sampled_from(("http://a:1", "http://b:2")), max_size=2).map(tuple),
)

# Any op, weighted towards key-value work.
ops: st.SearchStrategy[Op] = st.one_of(
    put_ops,
    put_ops,
    delete_ops,
    range_ops,
    txn_ops,
    txn_ops,
    st.builds(CompactOp, revision=revisions().map(lambda r: max(r, 1))),
    lease_ops,
    lease_ops,
    leader_ops,
    member_ops,
)
