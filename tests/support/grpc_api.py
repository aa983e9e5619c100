"""Channels and stubs for the etcd v3 gRPC API, with a deadline on every call.

`EtcdStubs.connect("127.0.0.1:2379")` opens a channel whose interceptor gives every call
that has no explicit `timeout=` the default deadline, so no test can block forever on an
RPC. `BidiStream` drives a bidirectional stream (Watch, LeaseKeepAlive) from a test: a
background thread moves responses into a queue and `next_response()` waits for the next
one with `wait_for`, so a missing response fails with everything received so far.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from kubelite.pb import rpc_pb2_grpc
from support.wait import WaitAborted, wait_for

RPC_TIMEOUT_S = 10.0
STREAM_TIMEOUT_S = 120.0
MiB = 1024 * 1024

CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_send_message_length", 8 * MiB),
    ("grpc.max_receive_message_length", 64 * MiB),
]


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _DefaultDeadline(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds a deadline to calls made without one: unary calls get `unary`, streams `stream`."""

    def __init__(self, unary: float, stream: float) -> None:
        self._unary, self._stream = unary, stream

    def _details(self, details: grpc.ClientCallDetails, default: float) -> _CallDetails:
        return _CallDetails(
            details.method,
            details.timeout if details.timeout is not None else default,
            details.metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details, self._unary), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details, self._stream), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(details, self._unary), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(details, self._stream), request_iterator)


def prefix_end(prefix: bytes) -> bytes:
    """The range_end selecting every key that starts with `prefix` (etcd's GetPrefixRangeEnd):
    b"/a/" -> b"/a0", b"a\xff" -> b"b", b"\xff" -> b"\0" (every key from `prefix` on)."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\0"
    end[-1] += 1
    return bytes(end)


def open_channel(endpoint: str) -> grpc.Channel:
    """An insecure channel to "host:port" where every call has a deadline."""
    channel = grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(channel, _DefaultDeadline(RPC_TIMEOUT_S, STREAM_TIMEOUT_S))


@dataclass(frozen=True)
class EtcdStubs:
    """The five etcd v3 services on one channel."""

    endpoint: str
    channel: grpc.Channel
    kv: rpc_pb2_grpc.KVStub
    watch: rpc_pb2_grpc.WatchStub
    lease: rpc_pb2_grpc.LeaseStub
    cluster: rpc_pb2_grpc.ClusterStub
    maintenance: rpc_pb2_grpc.MaintenanceStub

    @classmethod
    def connect(cls, endpoint: str) -> EtcdStubs:
        channel = open_channel(endpoint)
        return cls(
            endpoint=endpoint,
            channel=channel,
            kv=rpc_pb2_grpc.KVStub(channel),
            watch=rpc_pb2_grpc.WatchStub(channel),
            lease=rpc_pb2_grpc.LeaseStub(channel),
            cluster=rpc_pb2_grpc.ClusterStub(channel),
            maintenance=rpc_pb2_grpc.MaintenanceStub(channel),
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> EtcdStubs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_END = object()
REQUEST_POLL_S = 0.2


class BidiStream:
    """A bidirectional gRPC stream driven step by step from a test.

    with BidiStream(stubs.watch.Watch) as stream:
        stream.send(rpc_pb2.WatchRequest(create_request=...))
        created = stream.next_response(describe="watch created")
    """

    def __init__(
        self,
        method: Callable[..., Any],
        timeout: float = STREAM_TIMEOUT_S,
        response_wait_s: float = 20.0,
    ) -> None:
        self._requests: queue.Queue[object] = queue.Queue()
        self._responses: queue.Queue[object] = queue.Queue()
        self._closed = threading.Event()
        self._timeout = timeout
        self._response_wait_s = response_wait_s
        self.received: list[Any] = []  # every response handed out so far, for failure text
        self.error: grpc.RpcError | None = None  # how the stream failed, if it did
        self._call = method(self._request_iterator(), timeout=timeout)
        self._reader = threading.Thread(target=self._read, name="bidi-reader", daemon=True)
        self._reader.start()

    def _request_iterator(self) -> Iterator[Any]:
        # Bounded: the call's deadline ends the stream, and so does close().
        for _ in range(int(self._timeout / REQUEST_POLL_S) + 1):
            if self._closed.is_set():
                return
            try:
                item = self._requests.get(timeout=REQUEST_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
        except grpc.RpcError as exc:
            self.error = exc
        finally:
            self._responses.put(_END)

    def send(self, request: Any) -> None:
        self._requests.put(request)

    def _poll(self) -> list[Any] | None:
        try:
            item = self._responses.get_nowait()
        except queue.Empty:
            return None
        if item is _END:
            self._responses.put(_END)  # keep reporting the end to later calls
            how = f"failed: {self.error}" if self.error is not None else "ended"
            raise WaitAborted(f"stream {how}; received so far: {self.received}")
        return [item]  # wrapped: a response must count as "ready" whatever its truthiness

    def next_response(
        self, describe: str = "next stream response", timeout: float | None = None
    ) -> Any:
        ready = wait_for(
            self._poll,
            timeout=timeout if timeout is not None else self._response_wait_s,
            describe=lambda: f"{describe}; received so far: {self.received}",
        )
        assert ready is not None
        response = ready[0]
        self.received.append(response)
        return response

    def next_matching(
        self, predicate: Callable[[Any], bool], describe: str, max_responses: int = 1000
    ) -> Any:
        """Skip responses until one satisfies `predicate` (at most `max_responses`)."""
        for _ in range(max_responses):
            response = self.next_response(describe=describe)
            if predicate(response):
                return response
        raise AssertionError(f"no response matched within {max_responses}: {describe}")

    def close(self) -> None:
        self._closed.set()
        self._requests.put(_END)
        self._call.cancel()
        self._reader.join(timeout=RPC_TIMEOUT_S)

    def __enter__(self) -> BidiStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
