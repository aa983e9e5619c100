"""Requests whose bytes do not decode are answered INVALID_ARGUMENT, not UNKNOWN.

grpcio decodes a request before any handler runs and turns a decode error into UNKNOWN plus a
logged traceback. `RejectMalformed` swaps each method's decoder for one that returns the
`MALFORMED` marker instead of raising, and answers the marker with a clear status: at once for
unary requests; for streams, by ending the client's request stream and then failing the RPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

MESSAGE = "etcdserver: malformed request (cannot decode the protobuf message)"

# What a grpc.aio server interceptor is handed to look up the method's own handler.
Continuation: TypeAlias = (
    "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]]"
)


class _Malformed:
    def __repr__(self) -> str:
        return "MALFORMED"


MALFORMED = _Malformed()


def _tolerant(decode: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if decode is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception:  # noqa: BLE001 - any decode failure is the client's malformed input
            return MALFORMED

    return parse


class RejectMalformed(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        decode = _tolerant(handler.request_deserializer)
        encode = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary), request_deserializer=decode, response_serializer=encode
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _unary_stream(handler.unary_stream),
                request_deserializer=decode,
                response_serializer=encode,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _stream_stream(handler.stream_stream),
                request_deserializer=decode,
                response_serializer=encode,
            )
        return handler


def _unary(inner: Callable[..., Any]) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if request is MALFORMED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MESSAGE)
        return await inner(request, context)

    return call


def _unary_stream(inner: Callable[..., Any]) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        if request is MALFORMED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MESSAGE)
        async for response in inner(request, context):
            yield response

    return call


def _stream_stream(inner: Callable[..., Any]) -> Callable[..., Any]:
    async def call(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        seen_malformed = False

        async def checked() -> AsyncIterator[Any]:
            nonlocal seen_malformed
            async for request in requests:
                if request is MALFORMED:
                    seen_malformed = True
                    return
                yield request

        async for response in inner(checked(), context):
            yield response
        if seen_malformed:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MESSAGE)

    return call
