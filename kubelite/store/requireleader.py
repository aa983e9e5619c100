"""etcd's "require leader" requests: ``hasleader: true`` in a call's gRPC metadata.

A client sends it (etcd's ``clientv3.WithRequireLeader``; the API server does for its watches)
so that a member cut off from the quorum does not leave it hanging on stale data:

* a call that carries it while the member knows no leader is refused at once with
  ``UNAVAILABLE: etcdserver: no leader``, unary and streaming alike;
* a stream that carries it (Watch, LeaseKeepAlive) is ended with that status once the member
  has had no leader for `MAX_NO_LEADER_CHECKS` checks in a row, one check per election
  timeout, so the client reconnects to a member that has one. Streams without it stay open.

Calls without the key pass through untouched. The counting is `NoLeaderCount`, a plain value;
`LeaderMonitor` runs it on the event loop and tells the streams that must end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from kubelite.store.errors import NO_LEADER
from kubelite.store.malformed import Continuation

METADATA_KEY = "hasleader"
METADATA_VALUE = "true"
MAX_NO_LEADER_CHECKS = 3  # as etcd: reconnecting a stream costs more than refusing a call


def requires_leader(metadata: tuple[tuple[str, str | bytes], ...] | None) -> bool:
    """Whether a call's invocation metadata asks for a member with a leader."""
    return any(k == METADATA_KEY and v == METADATA_VALUE for k, v in metadata or ())


@dataclass
class NoLeaderCount:
    """Consecutive checks that found no leader; `observe` says when streams must end."""

    limit: int = MAX_NO_LEADER_CHECKS
    misses: int = 0

    def observe(self, has_leader: bool) -> bool:
        self.misses = 0 if has_leader else self.misses + 1
        return self.misses >= self.limit


class LeaderMonitor:
    """Tells the leader-requiring streams of a member that has lost its leader to end."""

    def __init__(self, has_leader: Callable[[], bool], interval: float) -> None:
        self.has_leader = has_leader
        self._interval = interval
        self._count = NoLeaderCount()
        self._streams: set[asyncio.Future[None]] = set()

    def stream_started(self) -> asyncio.Future[None]:
        """A future that completes when this stream must end; `stream_ended` it when done."""
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._streams.add(lost)
        return lost

    def stream_ended(self, lost: asyncio.Future[None]) -> None:
        self._streams.discard(lost)

    def check(self) -> None:
        if not self._count.observe(self.has_leader()):
            return
        for lost in self._streams:
            if not lost.done():
                lost.set_result(None)
        self._streams.clear()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.check()


class RequireLeader(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Applies `LeaderMonitor`'s rules to calls whose metadata asks for them."""

    def __init__(self, monitor: LeaderMonitor) -> None:
        self._monitor = monitor

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or not requires_leader(handler_call_details.invocation_metadata):
            return handler
        decode, encode = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary),
                request_deserializer=decode,
                response_serializer=encode,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream),
                request_deserializer=decode,
                response_serializer=encode,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream),
                request_deserializer=decode,
                response_serializer=encode,
            )
        return handler

    def _unary(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        monitor = self._monitor

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if not monitor.has_leader():
                await context.abort(*NO_LEADER)
            return await inner(request, context)

        return call

    def _stream(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        monitor = self._monitor

        async def call(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            if not monitor.has_leader():
                await context.abort(*NO_LEADER)
            lost = monitor.stream_started()
            responses = aiter(inner(request, context))
            step: asyncio.Future[Any] | None = None
            try:
                while True:
                    step = asyncio.ensure_future(anext(responses))
                    await asyncio.wait((step, lost), return_when=asyncio.FIRST_COMPLETED)
                    if not step.done():
                        step.cancel()  # ends the inner handler, which cleans up after itself
                        await asyncio.gather(step, return_exceptions=True)
                        await context.abort(*NO_LEADER)
                    try:
                        response = step.result()
                    except StopAsyncIteration:
                        return
                    yield response
            finally:
                monitor.stream_ended(lost)
                if step is not None and not step.done():
                    step.cancel()  # the client went away while we waited

        return call
