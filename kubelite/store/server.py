"""The etcd v3 gRPC front end of one store member: KV, Lease, Cluster, Maintenance.

Handlers only move data: decode the request (`convert`), check it (`checks`), propose it or read
under the state lock, encode the answer. Every failure leaves through `errors.RpcError`, mapped
once in `_answer` to a gRPC status, so no client input produces a traceback or stops the member.
The Watch service lives in `kubelite.store.watchserver`.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf.message import Message

from kubelite.pb import rpc_pb2, rpc_pb2_grpc
from kubelite.store import convert
from kubelite.store.checks import check_put, check_range, check_txn
from kubelite.store.errors import (
    NO_LEADER,
    REQUEST_TOO_LARGE,
    TIMED_OUT,
    RpcError,
    rpc_error,
)
from kubelite.store.proposer import NoLeader, RequestTimeout
from kubelite.store.types import (
    Applied,
    CompactOp,
    DeleteResult,
    LeaseGrantOp,
    LeaseGrantResult,
    LeaseKeepAliveOp,
    LeaseKeepAliveResult,
    LeaseRevokeOp,
    Op,
    PutResult,
    StoreError,
    TxnResult,
)

if TYPE_CHECKING:
    from kubelite.store.member import StoreNode
    from kubelite.store.watchserver import WatchService

MAX_REQUEST_BYTES = 1536 * 1024
SNAPSHOT_MAGIC = b"KUBELITE-SNAPSHOT-1\n"
SNAPSHOT_CHUNK = 32 * 1024

T = TypeVar("T")


def encode_snapshot(body: bytes) -> bytes:
    """magic | body length (8 bytes) | body | zero padding | sha256 of everything before it.

    etcdctl treats a snapshot as a bolt file followed by its sha256 and checks that the part
    before the hash is a whole number of 512-byte pages, hence the padding.
    """
    head = SNAPSHOT_MAGIC + len(body).to_bytes(8, "big") + body
    head += bytes(-len(head) % 512)
    return head + hashlib.sha256(head).digest()


def decode_snapshot(blob: bytes) -> bytes:
    """The body of an `encode_snapshot` blob; ValueError if it is damaged or not ours."""
    head, digest = blob[:-32], blob[-32:]
    if not head.startswith(SNAPSHOT_MAGIC) or hashlib.sha256(head).digest() != digest:
        raise ValueError("not a kubelite snapshot, or damaged (sha256 mismatch)")
    start = len(SNAPSHOT_MAGIC) + 8
    length = int.from_bytes(head[len(SNAPSHOT_MAGIC) : start], "big")
    return head[start : start + length]


def check_size(request: Message) -> None:
    if request.ByteSize() > MAX_REQUEST_BYTES:
        raise RpcError(*REQUEST_TOO_LARGE)


EXPECTED_FAILURES = (RpcError, NoLeader, RequestTimeout, convert.BadRequest)


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The gRPC status for one of `EXPECTED_FAILURES`."""
    if isinstance(exc, RpcError):
        return exc.code, exc.message
    if isinstance(exc, NoLeader):
        return NO_LEADER
    if isinstance(exc, RequestTimeout):
        return TIMED_OUT
    return grpc.StatusCode.INVALID_ARGUMENT, f"etcdserver: {exc}"


async def answer(context: grpc.aio.ServicerContext[Any, Any], work: Awaitable[T]) -> T:
    """Await ``work`` and turn every expected failure into a gRPC status."""
    try:
        return await work
    except EXPECTED_FAILURES as exc:
        await context.abort(*status_of(exc))
    raise AssertionError("unreachable: context.abort raises")


def _result(applied: Applied, kind: type[T]) -> T:
    if isinstance(applied.result, StoreError):
        raise rpc_error(applied.result)
    if not isinstance(applied.result, kind):
        raise RpcError(grpc.StatusCode.INTERNAL, f"etcdserver: unexpected {applied.result!r}")
    return applied.result


class KVService(rpc_pb2_grpc.KVServicer):
    def __init__(self, node: StoreNode) -> None:
        self._node = node

    async def Range(self, request: rpc_pb2.RangeRequest, context: Any) -> rpc_pb2.RangeResponse:
        return await answer(context, self._range(request))

    async def _range(self, request: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        check_size(request)
        op = convert.range_op(request)
        error = check_range(op)
        if error is not None:
            raise rpc_error(error)
        if not request.serializable:
            await self._node.proposer.barrier()
        with self._node.lock:
            state = self._node.state
            result = state.read_range(op)
            revision = state.revision
        if isinstance(result, StoreError):
            raise rpc_error(result)
        return convert.range_response(result, self._node.header(revision))

    async def Put(self, request: rpc_pb2.PutRequest, context: Any) -> rpc_pb2.PutResponse:
        return await answer(context, self._put(request))

    async def _put(self, request: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        check_size(request)
        op = convert.put_op(request)
        error = check_put(op)
        if error is not None:
            raise rpc_error(error)
        applied = await self._node.proposer.propose(op)
        result = _result(applied, PutResult)
        return convert.put_response(result, self._node.header(applied.revision))

    async def DeleteRange(
        self, request: rpc_pb2.DeleteRangeRequest, context: Any
    ) -> rpc_pb2.DeleteRangeResponse:
        return await answer(context, self._delete(request))

    async def _delete(self, request: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        check_size(request)
        op = convert.delete_op(request)
        error = check_range(op)
        if error is not None:
            raise rpc_error(error)
        applied = await self._node.proposer.propose(op)
        result = _result(applied, DeleteResult)
        return convert.delete_response(result, self._node.header(applied.revision))

    async def Txn(self, request: rpc_pb2.TxnRequest, context: Any) -> rpc_pb2.TxnResponse:
        return await answer(context, self._txn(request))

    async def _txn(self, request: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        check_size(request)
        op = convert.txn_op(request)
        error = check_txn(op)
        if error is not None:
            raise rpc_error(error)
        applied = await self._node.proposer.propose(op)
        result = _result(applied, TxnResult)
        return convert.txn_response(result, self._node.header(applied.revision))

    async def Compact(
        self, request: rpc_pb2.CompactionRequest, context: Any
    ) -> rpc_pb2.CompactionResponse:
        return await answer(context, self._compact(request))

    async def _compact(self, request: rpc_pb2.CompactionRequest) -> rpc_pb2.CompactionResponse:
        applied = await self._node.proposer.propose(CompactOp(request.revision))
        if isinstance(applied.result, StoreError):
            raise rpc_error(applied.result)
        return rpc_pb2.CompactionResponse(header=self._node.header(applied.revision))


class LeaseService(rpc_pb2_grpc.LeaseServicer):
    def __init__(self, node: StoreNode) -> None:
        self._node = node

    async def _write(self, op: Op) -> Applied:
        return await self._node.proposer.propose(op)

    async def LeaseGrant(
        self, request: rpc_pb2.LeaseGrantRequest, context: Any
    ) -> rpc_pb2.LeaseGrantResponse:
        async def grant() -> rpc_pb2.LeaseGrantResponse:
            applied = await self._write(LeaseGrantOp(ttl=request.TTL, id=request.ID))
            result = _result(applied, LeaseGrantResult)
            header = self._node.header(applied.revision)
            return rpc_pb2.LeaseGrantResponse(header=header, ID=result.id, TTL=result.ttl)

        return await answer(context, grant())

    async def LeaseRevoke(
        self, request: rpc_pb2.LeaseRevokeRequest, context: Any
    ) -> rpc_pb2.LeaseRevokeResponse:
        async def revoke() -> rpc_pb2.LeaseRevokeResponse:
            applied = await self._write(LeaseRevokeOp(request.ID))
            if isinstance(applied.result, StoreError):
                raise rpc_error(applied.result)
            return rpc_pb2.LeaseRevokeResponse(header=self._node.header(applied.revision))

        return await answer(context, revoke())

    async def LeaseKeepAlive(
        self, request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest], context: Any
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        async for request in request_iterator:
            try:
                applied = await self._write(LeaseKeepAliveOp(request.ID))
            except EXPECTED_FAILURES as exc:
                await context.abort(*status_of(exc))
            ttl = 0  # etcd answers an unknown (expired) lease with TTL 0
            if isinstance(applied.result, LeaseKeepAliveResult):
                ttl = applied.result.ttl
            header = self._node.header(applied.revision)
            yield rpc_pb2.LeaseKeepAliveResponse(header=header, ID=request.ID, TTL=ttl)

    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Any
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        async def time_to_live() -> rpc_pb2.LeaseTimeToLiveResponse:
            await self._node.proposer.barrier()
            with self._node.lock:
                info = self._node.state.lease_info(request.ID, self._node.now_ms())
                revision = self._node.state.revision
            header = self._node.header(revision)
            if info is None:
                return rpc_pb2.LeaseTimeToLiveResponse(header=header, ID=request.ID, TTL=-1)
            return rpc_pb2.LeaseTimeToLiveResponse(
                header=header,
                ID=info.id,
                TTL=info.remaining_ms // 1000,
                grantedTTL=info.granted_ttl,
                keys=list(info.keys) if request.keys else [],
            )

        return await answer(context, time_to_live())

    async def LeaseLeases(
        self, request: rpc_pb2.LeaseLeasesRequest, context: Any
    ) -> rpc_pb2.LeaseLeasesResponse:
        async def leases() -> rpc_pb2.LeaseLeasesResponse:
            await self._node.proposer.barrier()
            with self._node.lock:
                ids = sorted(self._node.state.leases)
                revision = self._node.state.revision
            return rpc_pb2.LeaseLeasesResponse(
                header=self._node.header(revision),
                leases=[rpc_pb2.LeaseStatus(ID=i) for i in ids],
            )

        return await answer(context, leases())


class ClusterService(rpc_pb2_grpc.ClusterServicer):
    def __init__(self, node: StoreNode) -> None:
        self._node = node

    async def MemberList(
        self, request: rpc_pb2.MemberListRequest, context: Any
    ) -> rpc_pb2.MemberListResponse:
        return rpc_pb2.MemberListResponse(
            header=self._node.header(), members=self._node.member_list()
        )

    async def _unsupported(self, context: Any, what: str) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, f"kubelite: {what} is not supported (static membership)"
        )

    async def MemberAdd(self, request: Any, context: Any) -> Any:
        return await self._unsupported(context, "member add")

    async def MemberRemove(self, request: Any, context: Any) -> Any:
        return await self._unsupported(context, "member remove")

    async def MemberUpdate(self, request: Any, context: Any) -> Any:
        return await self._unsupported(context, "member update")

    async def MemberPromote(self, request: Any, context: Any) -> Any:
        return await self._unsupported(context, "member promote")


class MaintenanceService(rpc_pb2_grpc.MaintenanceServicer):
    def __init__(self, node: StoreNode) -> None:
        self._node = node

    async def Status(self, request: rpc_pb2.StatusRequest, context: Any) -> rpc_pb2.StatusResponse:
        return self._node.status()

    async def Alarm(self, request: rpc_pb2.AlarmRequest, context: Any) -> rpc_pb2.AlarmResponse:
        # The store raises no alarms (no space quota yet): GET answers none, the rest are no-ops.
        return rpc_pb2.AlarmResponse(header=self._node.header())

    async def Defragment(
        self, request: rpc_pb2.DefragmentRequest, context: Any
    ) -> rpc_pb2.DefragmentResponse:
        # State lives in memory and in pysyncobj's journal and dump; there is nothing to defragment.
        return rpc_pb2.DefragmentResponse(header=self._node.header())

    async def Snapshot(
        self, request: rpc_pb2.SnapshotRequest, context: Any
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        """A consistent copy of the state, in `encode_snapshot`'s format."""
        await answer(context, self._node.proposer.barrier())
        with self._node.lock:
            body = pickle.dumps(self._node.state, protocol=pickle.HIGHEST_PROTOCOL)
        blob = encode_snapshot(body)
        for start in range(0, len(blob), SNAPSHOT_CHUNK):
            chunk = blob[start : start + SNAPSHOT_CHUNK]
            remaining = len(blob) - start - len(chunk)
            yield rpc_pb2.SnapshotResponse(
                header=self._node.header(), remaining_bytes=remaining, blob=chunk
            )

    async def Hash(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "kubelite: Hash is not supported")

    async def HashKV(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "kubelite: HashKV is not supported")

    async def MoveLeader(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "kubelite: MoveLeader is not supported")


def add_services(server: grpc.aio.Server, node: StoreNode) -> WatchService:
    """Register every etcd service of ``node``; returns the Watch service (for cancel_all)."""
    from kubelite.store.watchserver import WatchService

    watch = WatchService(node)
    rpc_pb2_grpc.add_KVServicer_to_server(KVService(node), server)
    rpc_pb2_grpc.add_WatchServicer_to_server(watch, server)
    rpc_pb2_grpc.add_LeaseServicer_to_server(LeaseService(node), server)
    rpc_pb2_grpc.add_ClusterServicer_to_server(ClusterService(node), server)
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(MaintenanceService(node), server)
    return watch
