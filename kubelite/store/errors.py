"""The one mapping from store errors to etcd's gRPC status codes and messages.

Clients (etcdctl, client libraries, our API server) recognise etcd errors by code and exact
message text, so these strings are etcd's.
"""

from __future__ import annotations

import grpc

from kubelite.store.types import ErrorCode, StoreError

_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.EMPTY_KEY: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.KEY_NOT_FOUND: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.VALUE_PROVIDED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.LEASE_PROVIDED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.TOO_MANY_OPS: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.DUPLICATE_KEY: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.COMPACTED: grpc.StatusCode.OUT_OF_RANGE,
    ErrorCode.FUTURE_REV: grpc.StatusCode.OUT_OF_RANGE,
    ErrorCode.LEASE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.LEASE_EXISTS: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.LEASE_TTL_TOO_LARGE: grpc.StatusCode.OUT_OF_RANGE,
    ErrorCode.STALE_EPOCH: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

REQUEST_TOO_LARGE = (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: request is too large")
NO_LEADER = (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader")
TIMED_OUT = (grpc.StatusCode.UNAVAILABLE, "etcdserver: request timed out")


class RpcError(Exception):
    """Raised inside a handler; the server turns it into ``context.abort(code, message)``."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def rpc_error(error: StoreError) -> RpcError:
    message = f"etcdserver: {error.code.value}"
    if error.detail and error.code in (ErrorCode.INVALID, ErrorCode.INTERNAL):
        message = f"{message}: {error.detail}"
    return RpcError(_STATUS[error.code], message)
