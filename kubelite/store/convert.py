"""Conversions between etcd's protobuf messages and the store's plain values, at the edge.

Requests become frozen ops (`kubelite.store.types`) before anything else sees them; results
become protobuf only when a response is built. Unknown enum values in a request map to
``None`` so the caller can answer INVALID_ARGUMENT.
"""

from __future__ import annotations

from typing import TypeVar

from kubelite.pb import kv_pb2, rpc_pb2
from kubelite.store.types import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteOp,
    DeleteResult,
    Event,
    KeyValue,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    SortOrder,
    SortTarget,
    TxnBranchOp,
    TxnBranchResult,
    TxnOp,
    TxnResult,
)

E = TypeVar("E", SortOrder, SortTarget, CompareTarget, CompareResult)


class BadRequest(ValueError):
    """A request that cannot be expressed as an op (unknown enum, empty oneof)."""


def _enum(cls: type[E], value: int) -> E:
    try:
        return cls(value)
    except ValueError:
        raise BadRequest(f"unknown {cls.__name__} {value}") from None


def range_op(req: rpc_pb2.RangeRequest) -> RangeOp:
    return RangeOp(
        key=req.key,
        range_end=req.range_end,
        limit=max(0, req.limit),
        revision=req.revision,
        sort_order=_enum(SortOrder, req.sort_order),
        sort_target=_enum(SortTarget, req.sort_target),
        keys_only=req.keys_only,
        count_only=req.count_only,
        min_mod_revision=req.min_mod_revision,
        max_mod_revision=req.max_mod_revision,
        min_create_revision=req.min_create_revision,
        max_create_revision=req.max_create_revision,
    )


def put_op(req: rpc_pb2.PutRequest) -> PutOp:
    return PutOp(
        key=req.key,
        value=req.value,
        lease=req.lease,
        prev_kv=req.prev_kv,
        ignore_value=req.ignore_value,
        ignore_lease=req.ignore_lease,
    )


def delete_op(req: rpc_pb2.DeleteRangeRequest) -> DeleteOp:
    return DeleteOp(key=req.key, range_end=req.range_end, prev_kv=req.prev_kv)


def _compare(c: rpc_pb2.Compare) -> Compare:
    target = _enum(CompareTarget, c.target)
    operands: dict[CompareTarget, int | bytes] = {
        CompareTarget.VERSION: c.version,
        CompareTarget.CREATE: c.create_revision,
        CompareTarget.MOD: c.mod_revision,
        CompareTarget.VALUE: c.value,
        CompareTarget.LEASE: c.lease,
    }
    operand = operands[target]
    return Compare(c.key, target, _enum(CompareResult, c.result), operand, c.range_end)


def _request_op(op: rpc_pb2.RequestOp) -> TxnBranchOp:
    which = op.WhichOneof("request")
    if which == "request_range":
        return range_op(op.request_range)
    if which == "request_put":
        return put_op(op.request_put)
    if which == "request_delete_range":
        return delete_op(op.request_delete_range)
    if which == "request_txn":
        return txn_op(op.request_txn)
    raise BadRequest("txn operation has no request")


def txn_op(req: rpc_pb2.TxnRequest) -> TxnOp:
    return TxnOp(
        compares=tuple(_compare(c) for c in req.compare),
        success=tuple(_request_op(o) for o in req.success),
        failure=tuple(_request_op(o) for o in req.failure),
    )


# -- results -------------------------------------------------------------------------------------


def kv_pb(kv: KeyValue) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(
        key=kv.key,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
        version=kv.version,
        value=kv.value,
        lease=kv.lease,
    )


def event_pb(event: Event, with_prev: bool) -> kv_pb2.Event:
    pb = kv_pb2.Event(type=int(event.type), kv=kv_pb(event.kv))  # type: ignore[arg-type]
    if with_prev and event.prev_kv is not None:
        pb.prev_kv.CopyFrom(kv_pb(event.prev_kv))
    return pb


def range_response(result: RangeResult, header: rpc_pb2.ResponseHeader) -> rpc_pb2.RangeResponse:
    return rpc_pb2.RangeResponse(
        header=header,
        kvs=[kv_pb(kv) for kv in result.kvs],
        more=result.more,
        count=result.count,
    )


def put_response(result: PutResult, header: rpc_pb2.ResponseHeader) -> rpc_pb2.PutResponse:
    resp = rpc_pb2.PutResponse(header=header)
    if result.prev_kv is not None:
        resp.prev_kv.CopyFrom(kv_pb(result.prev_kv))
    return resp


def delete_response(
    result: DeleteResult, header: rpc_pb2.ResponseHeader
) -> rpc_pb2.DeleteRangeResponse:
    return rpc_pb2.DeleteRangeResponse(
        header=header, deleted=result.deleted, prev_kvs=[kv_pb(kv) for kv in result.prev_kvs]
    )


def txn_response(result: TxnResult, header: rpc_pb2.ResponseHeader) -> rpc_pb2.TxnResponse:
    return rpc_pb2.TxnResponse(
        header=header,
        succeeded=result.succeeded,
        responses=[_response_op(r, header) for r in result.responses],
    )


def _response_op(result: TxnBranchResult, header: rpc_pb2.ResponseHeader) -> rpc_pb2.ResponseOp:
    if isinstance(result, RangeResult):
        return rpc_pb2.ResponseOp(response_range=range_response(result, header))
    if isinstance(result, PutResult):
        return rpc_pb2.ResponseOp(response_put=put_response(result, header))
    if isinstance(result, DeleteResult):
        return rpc_pb2.ResponseOp(response_delete_range=delete_response(result, header))
    return rpc_pb2.ResponseOp(response_txn=txn_response(result, header))
