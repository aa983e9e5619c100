"""`EtcdStorage`: the `Storage` protocol over the etcd v3 gRPC API (our store or a real etcd).

It owns the request shapes of every KV operation and how their answers become storage values;
connections, failover and error mapping live in `etcdconn`, the resumable watch in `etcdwatch`.

========================  ==================================================================
operation                 etcd v3 request
========================  ==================================================================
get(key)                  Range key (linearizable)
list(prefix, ...)         Range [max(prefix, start_key), prefix_end(prefix)) limit, revision
create(key, value)        Txn if create_revision(key) == 0: Put  else: Range key
update(key, value, rev)   Txn if mod_revision(key) == rev: Put  else: Range key
delete(key, rev)          Txn if mod_revision(key) == rev: DeleteRange  else: Range key
current_revision()        Range "/" count_only limit 1 (linearizable) -> header revision
watch(prefix, rev)        one Watch stream per call (see `etcdwatch`)
========================  ==================================================================

A write whose RPC failed after it may have reached the store is *ambiguous*. Before trying it
again, the key is read: if it already holds exactly the bytes written (create/update) or is
gone (delete), the write is taken as applied; otherwise the same Txn is sent again, and its
compare makes the retry safe (it cannot apply twice). If that retry's compare fails and the
key it reads back passes the same test, the earlier try landed in between (it was still in
flight to the leader) and is reported as the success::

    update(k, b"v2", 7): Txn -> DEADLINE_EXCEEDED on s1 -> Range k on s2 -> b"v2" @ 9 -> 9
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from kubelite.apiserver import etcdwatch
from kubelite.apiserver.etcdconn import (
    Endpoint,
    EndpointPool,
    RetryPolicy,
    call_with_failover,
    key_bytes,
    key_text,
    parse_endpoints,
    prefix_end,
)
from kubelite.apiserver.storage import (
    KeyExists,
    ListPage,
    RevisionMismatch,
    StoredItem,
    WatchBatch,
)
from kubelite.pb import kv_pb2, rpc_pb2

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT_S = 5.0
DEFAULT_RETRY_DEADLINE_S = 15.0
DEFAULT_PROGRESS_INTERVAL_S = 1.0
REVISION_PROBE_KEY = b"/"

_Compare = rpc_pb2.Compare


def range_start(prefix: bytes, start_key: bytes) -> bytes:
    """First key a listing reads: the later of `prefix` and `start_key`; b"\\0" stands for the
    empty key, which etcd refuses."""
    return max(prefix, start_key) or b"\0"


def stored_item(kv: kv_pb2.KeyValue) -> StoredItem:
    return StoredItem(
        key=key_text(kv.key),
        value=kv.value,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
    )


def remaining_after(count: int, returned: int, more: bool) -> int:
    """Keys left after a page: etcd's `count` covers the whole range, the page `returned`."""
    return max(count - returned, 0) if more else 0


@dataclass(frozen=True)
class _WriteOutcome:
    """A conditional write's result: applied at `revision`, or refused with `current`."""

    applied: bool
    revision: int
    current: StoredItem | None = None


AlreadyApplied = Callable[[StoredItem | None], bool]
"""Whether the key as read now shows an ambiguous write was applied."""


class EtcdStorage:
    """`Storage` on an etcd v3 cluster; see the module docstring for the request of each call.

    Channels open lazily on first use inside the running event loop; `close()` (or leaving
    ``async with``) closes them. Every RPC gets `request_timeout`; a call fails over between
    endpoints until `retry_deadline`, then raises `StorageUnavailable`. An idle watch asks the
    store for progress every `progress_interval`.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE_S,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL_S,
    ) -> None:
        self._pool = EndpointPool(parse_endpoints(endpoints))
        self._policy = RetryPolicy(request_timeout=request_timeout, deadline=retry_deadline)
        self._progress_interval = progress_interval

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._pool.targets

    @property
    def preferred_endpoint(self) -> str:
        """The endpoint the next request goes to (it changes after a failure)."""
        return self._pool.preferred().target

    async def __aenter__(self) -> EtcdStorage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._pool.close()

    # --- reads ----------------------------------------------------------------------------

    async def _range(
        self, request: rpc_pb2.RangeRequest, what: str, revision: int = 0
    ) -> rpc_pb2.RangeResponse:
        async def attempt(endpoint: Endpoint, timeout: float, _: bool) -> rpc_pb2.RangeResponse:
            return await endpoint.kv.Range(request, timeout=timeout)

        return await call_with_failover(self._pool, self._policy, attempt, what, revision)

    async def get(self, key: str) -> StoredItem | None:
        response = await self._range(rpc_pb2.RangeRequest(key=key_bytes(key)), f"get {key}")
        return stored_item(response.kvs[0]) if response.kvs else None

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListPage:
        """Keys under `prefix` from `start_key` (inclusive), at most `limit` (0 = all), at
        `revision` (0 = latest); `Compacted` / `FutureRevision` if it cannot be served."""
        if limit < 0 or revision < 0:
            raise ValueError(f"list {prefix}: limit and revision must be >= 0")
        start = range_start(key_bytes(prefix), key_bytes(start_key))
        end = prefix_end(key_bytes(prefix))
        if end != b"\0" and start >= end:  # start_key sorts after every key under the prefix
            return ListPage((), revision or await self.current_revision(), more=False)
        request = rpc_pb2.RangeRequest(key=start, range_end=end, limit=limit, revision=revision)
        response = await self._range(request, f"list {prefix}", revision)
        items = tuple(stored_item(kv) for kv in response.kvs)
        return ListPage(
            items=items,
            revision=revision or response.header.revision,
            more=response.more,
            remaining=remaining_after(response.count, len(items), response.more),
        )

    async def current_revision(self) -> int:
        request = rpc_pb2.RangeRequest(key=REVISION_PROBE_KEY, limit=1, count_only=True)
        response = await self._range(request, "current revision")
        revision: int = response.header.revision
        return revision

    # --- conditional writes ---------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        """Write a new key; its revision, or `KeyExists`."""
        compare = _Compare(
            key=key_bytes(key),
            target=_Compare.CREATE,
            result=_Compare.EQUAL,
            create_revision=0,
        )
        put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key_bytes(key), value=value))
        outcome = await self._write(
            key, compare, put, lambda item: item is not None and item.value == value, "create"
        )
        if not outcome.applied:
            raise KeyExists(key)
        return outcome.revision

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        """Overwrite `key` if its mod revision is still the expected one, else
        `RevisionMismatch` (carrying the key as it is now, or None if it is gone)."""
        _check_expected(key, expected_mod_revision)
        put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key_bytes(key), value=value))

        def applied(item: StoredItem | None) -> bool:
            return (
                item is not None
                and item.value == value
                and item.mod_revision != expected_mod_revision
            )

        outcome = await self._write(
            key, _mod_revision_is(key, expected_mod_revision), put, applied, "update"
        )
        if not outcome.applied:
            raise RevisionMismatch(key, outcome.current)
        return outcome.revision

    async def delete(self, key: str, expected_mod_revision: int) -> int:
        """Delete `key` if its mod revision is the expected one; the deletion's revision.

        After an ambiguous outcome that turns out applied, the deletion's own revision is no
        longer known: the revision of the read that found the key gone is returned instead.
        """
        _check_expected(key, expected_mod_revision)
        delete = rpc_pb2.RequestOp(
            request_delete_range=rpc_pb2.DeleteRangeRequest(key=key_bytes(key))
        )
        outcome = await self._write(
            key,
            _mod_revision_is(key, expected_mod_revision),
            delete,
            lambda item: item is None,
            "delete",
        )
        if not outcome.applied:
            raise RevisionMismatch(key, outcome.current)
        return outcome.revision

    async def _write(
        self,
        key: str,
        compare: rpc_pb2.Compare,
        operation: rpc_pb2.RequestOp,
        already_applied: AlreadyApplied,
        verb: str,
    ) -> _WriteOutcome:
        """Txn(compare, success=[operation], failure=[Range key]) with failover; after a
        failed try, first check whether it was applied (module docstring)."""
        read_key = rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key_bytes(key)))
        txn = rpc_pb2.TxnRequest(compare=[compare], success=[operation], failure=[read_key])

        async def attempt(endpoint: Endpoint, timeout: float, in_doubt: bool) -> _WriteOutcome:
            if in_doubt:
                check = await endpoint.kv.Range(read_key.request_range, timeout=timeout)
                current = stored_item(check.kvs[0]) if check.kvs else None
                if already_applied(current):
                    log.info("%s %s: the earlier, ambiguous try was applied", verb, key)
                    return _applied_earlier(current, check.header.revision)
            outcome = _txn_outcome(await endpoint.kv.Txn(txn, timeout=timeout))
            if in_doubt and not outcome.applied and already_applied(outcome.current):
                # The earlier try was still on its way to the leader during the check above
                # and was applied first: its effect is what this try's compare refused.
                log.info("%s %s: the earlier, ambiguous try was applied first", verb, key)
                return _applied_earlier(outcome.current, outcome.revision)
            return outcome

        return await call_with_failover(self._pool, self._policy, attempt, f"{verb} {key}")

    # --- watch ----------------------------------------------------------------------------

    def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchBatch, None]:
        """Every change under `prefix` from `start_revision`, in order, with progress batches
        when idle; see `etcdwatch` for resuming and progress. `start_revision` 0 means the
        revision after the one current when iteration begins (nothing runs before that)."""
        return etcdwatch.watch_prefix(
            self._pool,
            self._policy,
            key_bytes(prefix),
            start_revision,
            progress_interval=self._progress_interval,
            current_revision=self.current_revision,
        )


def _check_expected(key: str, expected_mod_revision: int) -> None:
    # mod_revision == 0 would match a missing key in etcd, turning an update into a create.
    if expected_mod_revision <= 0:
        raise ValueError(f"{key}: expected mod revision must be > 0, not {expected_mod_revision}")


def _mod_revision_is(key: str, revision: int) -> rpc_pb2.Compare:
    return _Compare(
        key=key_bytes(key), target=_Compare.MOD, result=_Compare.EQUAL, mod_revision=revision
    )


def _applied_earlier(current: StoredItem | None, read_revision: int) -> _WriteOutcome:
    """An earlier, ambiguous try turned out applied: its revision is the key's mod revision
    (or, for a key now gone, the revision of the read that found it gone)."""
    return _WriteOutcome(True, current.mod_revision if current is not None else read_revision)


def _txn_outcome(response: rpc_pb2.TxnResponse) -> _WriteOutcome:
    if response.succeeded:
        return _WriteOutcome(applied=True, revision=response.header.revision)
    kvs = response.responses[0].response_range.kvs if response.responses else ()
    current = stored_item(kvs[0]) if kvs else None
    return _WriteOutcome(applied=False, revision=response.header.revision, current=current)
