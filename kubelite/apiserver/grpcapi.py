"""The API server's gRPC service for components: one registry call per RPC, errors as Status.

This module owns the ``kubelite.apiserver.v1.Api`` servicer (proto/kubelite/pb/apiserver.proto)
and `start_grpc_server`. It is a shell like `kubelite.apiserver.rest`: it decodes the protobuf
envelope and the Kubernetes JSON inside it, calls the same `Registry` (and, for Watch, the same
watch caches), and encodes the answer. The request path, for every unary RPC::

    GetRequest{group, version, resource, namespace, name}
      -> ApiService._serve: in-flight limit (read-only or mutating), then, when it ends,
         ApiMetrics.observe(verb, resource, HTTP code, seconds) as REST requests are counted
      -> resolve_target: RESOURCES.lookup, verb and namespace checks (pure)
      -> registry.get(info, namespace, name)
      -> ObjectResponse{object_json}              (List: the list JSON exactly as REST's)

Watch is REST's ``?watch=true`` as a server stream, over the same `WatchCache` watchers, and
is long-running: counted in the metrics (verb WATCH, not timed) but not in-flight limited::

    WatchRequest{group, version, resource, namespace, list_options}
      -> cache.watch(prefix, resourceVersion, selectors, bookmarks)   (errors: a status)
      -> WatchResponse{type: "ADDED", object_json: <the "object" of the REST line>}, ...
      -> the end: timeoutSeconds (a final BOOKMARK first when asked), the cache dropped a
         watcher too slow (just the end), or a compacted resourceVersion (one ERROR message
         with the 410 Expired Status, then the end)

An event's ``object_json`` is `WatchEvent.object_json`, the encoding the REST line wraps, so
HTTP and gRPC watchers share one JSON encoding per change.

Errors are mapped once, by `internal_errors` and `abort_with`: an `ApiError` aborts the call with
``error.grpc_code``, details = the Status message, and the whole Status JSON in the trailing
metadata key ``kubelite-status-bin``; anything unexpected is logged and answered as INTERNAL
with an InternalError Status, so nothing a client sends can take the server down. A call over
the in-flight limit is RESOURCE_EXHAUSTED with a 429 TooManyRequests Status (retry after 1 s).

A client rebuilds the typed error from the trailer (``grpc.aio.AioRpcError``)::

    except grpc.aio.AioRpcError as rpc_error:
        raw = dict(rpc_error.trailing_metadata() or ()).get("kubelite-status-bin")
        status = json.loads(raw) if raw else None
        # status["reason"] ("NotFound", "Conflict", "Invalid"...) picks the `ApiError` class,
        # status["code"] is the HTTP code, status["details"]["causes"] the field errors; no
        # trailer means the call failed before reaching the servicer (UNAVAILABLE, deadline,
        # or UNKNOWN for bytes that are not the request message).

Bind takes the pod's namespace and name and a Binding's JSON (only ``target.name`` is
required), so the Binding is validated by the same code as REST's ``pods/binding``.

The module runs past 400 lines because the servicer, its one error mapping and its one
admission wrapper (limits and metrics) belong together; the pure helpers come first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, NoReturn, Protocol, TypeVar

import grpc

from kubelite.api.errors import (
    ApiError,
    BadRequestError,
    InternalError,
    MethodNotAllowedError,
    PathNotFoundError,
)
from kubelite.api.resources import RESOURCES, ResourceInfo
from kubelite.apiserver import strategy
from kubelite.apiserver.codec import compact_json
from kubelite.apiserver.inflight import InflightLimiter
from kubelite.apiserver.listing import ListOptions, parse_list_options
from kubelite.apiserver.metrics import ApiMetrics
from kubelite.apiserver.negotiation import MAX_BODY_BYTES, decode_json
from kubelite.apiserver.registry import Registry
from kubelite.apiserver.watchcache import (
    Bookmark,
    CacheWatcher,
    WatchClosed,
    WatchEvent,
    WatchExpired,
)
from kubelite.pb import apiserver_pb2 as pb
from kubelite.pb import apiserver_pb2_grpc as pb_grpc

log = logging.getLogger("kubelite.apiserver.grpc")

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]

STATUS_METADATA_KEY: Final = "kubelite-status-bin"
LIST_OPTION_KEYS: Final = (
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "resourceVersionMatch",
)
WATCH_OPTION_KEYS: Final = (
    "labelSelector",
    "fieldSelector",
    "resourceVersion",
    "allowWatchBookmarks",
    "timeoutSeconds",
)
RPC_VERBS: Final[Mapping[str, str]] = {
    # The verb label of apiserver_request_total: REST's verb for the same request.
    "Get": "GET",
    "List": "LIST",
    "Create": "POST",
    "Update": "PUT",
    "UpdateStatus": "PUT",
    "Patch": "PATCH",
    "PatchStatus": "PATCH",
    "Delete": "DELETE",
    "Bind": "POST",
    "Watch": "WATCH",
}
READ_ONLY_VERBS: Final = frozenset({"GET", "LIST"})
SERVER_OPTIONS: Final = (
    # The REST body limit plus room for the envelope; larger requests get RESOURCE_EXHAUSTED.
    ("grpc.max_receive_message_length", MAX_BODY_BYTES + 64 * 1024),
    ("grpc.max_send_message_length", -1),
    # Never share a port with another process that asked for the same one.
    ("grpc.so_reuseport", 0),
)
STOP_GRACE_S: Final = 1.0


# --- pure helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a request names: the resource, its namespace (None: cluster-scoped or all)."""

    info: ResourceInfo
    namespace: str | None


class ResourceRequest(Protocol):
    """Fields 1-4 of a request message (or a `PodsIn`): which resource, in which namespace."""

    @property
    def group(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def resource(self) -> str: ...

    @property
    def namespace(self) -> str: ...


@dataclass(frozen=True)
class PodsIn:
    """The core/v1 pods of one namespace: what a BindRequest addresses."""

    namespace: str
    group: str = ""
    version: str = "v1"
    resource: str = "pods"


def resolve_target(
    request: ResourceRequest,
    *,
    verb: str,
    subresource: str = "",
    collection: bool = False,
) -> Target:
    """The served resource a request names, or the error REST gives for the same URL."""
    resource, namespace = request.resource, request.namespace
    info = RESOURCES.lookup(request.group, request.version, resource)
    if info is None:
        raise PathNotFoundError()
    verbs = info.verbs
    if subresource:
        sub = info.subresource(subresource)
        if sub is None:
            raise PathNotFoundError()
        verbs = sub.verbs
    if verb not in verbs:
        raise MethodNotAllowedError()
    if not info.namespaced:
        if namespace:
            raise BadRequestError(f"{resource} are cluster-scoped: the namespace must be empty")
        return Target(info, None)
    if not namespace and not collection:
        raise BadRequestError(f"{resource} are namespaced: a namespace is required")
    return Target(info, namespace or None)


def resource_label(request: ResourceRequest) -> str:
    """The resource label of a call's metrics: the served resource's plural, or "" (so
    requests for made-up resources cannot grow the number of series)."""
    info = RESOURCES.lookup(request.group, request.version, request.resource)
    return info.plural if info is not None else ""


def list_options_of(
    resource: str,
    query: Mapping[str, str],
    allowed: tuple[str, ...] = LIST_OPTION_KEYS,
    what: str = "list",
) -> ListOptions:
    """`ListOptions` from a request's map, refusing keys REST would not `what` with."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise BadRequestError(
            f"unsupported {what} options {', '.join(unknown)}: supported are {', '.join(allowed)}"
        )
    return parse_list_options(resource, query)


def decode_object_json(raw: bytes, what: str) -> Any:
    """A request's JSON payload; 400 (BadRequest) when it is missing or not JSON."""
    if not raw.strip():
        raise BadRequestError(f"{what} is required")
    return decode_json(raw)


def watch_response(
    output: WatchEvent | Bookmark | WatchExpired, info: ResourceInfo
) -> pb.WatchResponse:
    """The stream message of one watch output (the REST watch line's type and object)."""
    if isinstance(output, WatchEvent):
        return pb.WatchResponse(type=output.type.value, object_json=output.object_json)
    if isinstance(output, Bookmark):
        bookmark = output.object(info.kind, info.api_version)
        return pb.WatchResponse(type="BOOKMARK", object_json=compact_json(bookmark))
    return pb.WatchResponse(type="ERROR", object_json=compact_json(output.error().status()))


def status_trailer(error: ApiError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes]]]:
    """The gRPC code, details and trailing metadata that carry `error` to a client."""
    status = error.status()
    message = str(status.get("message", ""))
    return error.grpc_code, message, ((STATUS_METADATA_KEY, compact_json(status)),)


@contextlib.contextmanager
def internal_errors(method: str) -> Iterator[None]:
    """Let `ApiError`s through and turn anything else into an `InternalError`: the one place
    a bug becomes INTERNAL (logged with its traceback)."""
    try:
        yield
    except ApiError:
        raise
    except Exception as unexpected:
        log.exception("unexpected error serving gRPC %s", method)
        raise InternalError(f"{type(unexpected).__name__}: {unexpected}") from unexpected


async def abort_with(context: Context, error: ApiError) -> NoReturn:
    """End the call with `error`'s gRPC code and its Status in the trailer."""
    code, message, trailer = status_trailer(error)
    await context.abort(code, message, trailer)


# --- admission ------------------------------------------------------------------------------


class ApiParts(Protocol):
    """What the gRPC service serves from: `kubelite.apiserver.app.ApiServer` has all of it."""

    @property
    def registry(self) -> Registry: ...

    @property
    def metrics(self) -> ApiMetrics: ...

    @property
    def inflight(self) -> InflightLimiter: ...


# --- the servicer ---------------------------------------------------------------------------


class ApiService(pb_grpc.ApiServicer):
    """``kubelite.apiserver.v1.Api`` over one `Registry` (see the module docstring)."""

    def __init__(self, parts: ApiParts) -> None:
        self.registry = parts.registry
        self.metrics = parts.metrics
        self.inflight = parts.inflight

    async def _serve(
        self,
        context: Context,
        method: str,
        address: ResourceRequest,
        work: Callable[[], Awaitable[T]],
    ) -> T:
        """Admit, run `work`, count it; abort the call with the Status of what it raises."""
        verb = RPC_VERBS[method]
        started = time.perf_counter()
        try:
            with internal_errors(method), self.inflight.admit(read_only=verb in READ_ONLY_VERBS):
                result = await work()
        except ApiError as error:
            self._observe(verb, address, error.code, time.perf_counter() - started)
            await abort_with(context, error)
        self._observe(verb, address, 200, time.perf_counter() - started)
        return result

    def _observe(
        self, verb: str, address: ResourceRequest, code: int, seconds: float | None
    ) -> None:
        self.metrics.observe(verb, resource_label(address), code, seconds)

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.ObjectResponse:
        return await self._serve(context, "Get", request, partial(self._get, request))

    async def List(self, request: pb.ListRequest, context: Context) -> pb.ListResponse:
        return await self._serve(context, "List", request, partial(self._list, request))

    async def Create(self, request: pb.CreateRequest, context: Context) -> pb.ObjectResponse:
        return await self._serve(context, "Create", request, partial(self._create, request))

    async def Update(self, request: pb.UpdateRequest, context: Context) -> pb.UpdateResponse:
        work = partial(self._update, request, strategy.Scope.MAIN)
        return await self._serve(context, "Update", request, work)

    async def UpdateStatus(self, request: pb.UpdateRequest, context: Context) -> pb.UpdateResponse:
        work = partial(self._update, request, strategy.Scope.STATUS)
        return await self._serve(context, "UpdateStatus", request, work)

    async def Patch(self, request: pb.PatchRequest, context: Context) -> pb.ObjectResponse:
        work = partial(self._patch, request, strategy.Scope.MAIN)
        return await self._serve(context, "Patch", request, work)

    async def PatchStatus(self, request: pb.PatchRequest, context: Context) -> pb.ObjectResponse:
        work = partial(self._patch, request, strategy.Scope.STATUS)
        return await self._serve(context, "PatchStatus", request, work)

    async def Delete(self, request: pb.DeleteRequest, context: Context) -> pb.DeleteResponse:
        return await self._serve(context, "Delete", request, partial(self._delete, request))

    async def Bind(self, request: pb.BindRequest, context: Context) -> pb.BindResponse:
        pods = PodsIn(request.namespace)
        return await self._serve(context, "Bind", pods, partial(self._bind, request))

    async def Watch(
        self, request: pb.WatchRequest, context: Context
    ) -> AsyncIterator[pb.WatchResponse]:
        """Long-running: counted when it ends (not timed), never in-flight limited."""
        code = 200
        try:
            with internal_errors("Watch"):
                watcher, info, timeout = await self._open_watch(request)
                async with watcher:  # closed however the stream ends, cancellation included
                    async for message in watch_messages(watcher, info, timeout):
                        yield message
        except ApiError as error:
            code = error.code
            await abort_with(context, error)
        finally:
            self._observe("WATCH", request, code, None)

    # --- the work of each RPC, free of gRPC ----------------------------------------------------

    async def _get(self, request: pb.GetRequest) -> pb.ObjectResponse:
        target = resolve_target(request, verb="get")
        obj = await self.registry.get(target.info, target.namespace, request.name)
        return pb.ObjectResponse(object_json=compact_json(obj))

    async def _list(self, request: pb.ListRequest) -> pb.ListResponse:
        target = resolve_target(request, verb="list", collection=True)
        options = list_options_of(target.info.plural, request.list_options)
        result = await self.registry.list(target.info, target.namespace, options)
        return pb.ListResponse(object_json=compact_json(result.body(target.info)))

    async def _create(self, request: pb.CreateRequest) -> pb.ObjectResponse:
        target = resolve_target(request, verb="create")
        body = decode_object_json(request.object_json, "object_json")
        obj = await self.registry.create(target.info, target.namespace, body)
        return pb.ObjectResponse(object_json=compact_json(obj))

    async def _update(self, request: pb.UpdateRequest, scope: strategy.Scope) -> pb.UpdateResponse:
        subresource = "status" if scope is strategy.Scope.STATUS else ""
        target = resolve_target(request, verb="update", subresource=subresource)
        body = decode_object_json(request.object_json, "object_json")
        obj, created = await self.registry.update(
            target.info, target.namespace, request.name, body, scope=scope
        )
        return pb.UpdateResponse(object_json=compact_json(obj), created=created)

    async def _patch(self, request: pb.PatchRequest, scope: strategy.Scope) -> pb.ObjectResponse:
        subresource = "status" if scope is strategy.Scope.STATUS else ""
        target = resolve_target(request, verb="patch", subresource=subresource)
        obj = await self.registry.patch(
            target.info,
            target.namespace,
            request.name,
            request.patch_type,
            request.patch,
            scope=scope,
        )
        return pb.ObjectResponse(object_json=compact_json(obj))

    async def _delete(self, request: pb.DeleteRequest) -> pb.DeleteResponse:
        target = resolve_target(request, verb="delete")
        raw = request.delete_options_json
        options = strategy.parse_delete_options(decode_json(raw) if raw.strip() else None, {})
        result = await self.registry.delete(target.info, target.namespace, request.name, options)
        return pb.DeleteResponse(object_json=compact_json(result.obj), gone=result.gone)

    async def _bind(self, request: pb.BindRequest) -> pb.BindResponse:
        target = resolve_target(PodsIn(request.namespace), verb="create", subresource="binding")
        assert target.namespace is not None  # pods are namespaced: resolve_target made sure
        body = decode_object_json(request.binding_json, "binding_json")
        status = await self.registry.bind(target.namespace, request.pod_name, body)
        return pb.BindResponse(status_json=compact_json(status))

    async def _open_watch(
        self, request: pb.WatchRequest
    ) -> tuple[CacheWatcher, ResourceInfo, float]:
        """The cache watcher of a watch request, and how long the stream may last."""
        target = resolve_target(request, verb="watch", collection=True)
        info = target.info
        options = list_options_of(info.plural, request.list_options, WATCH_OPTION_KEYS, "watch")
        watcher = await self.registry.watch(info, target.namespace, options)
        timeout = options.watch_seconds(random.random())
        return watcher, info, timeout


async def watch_messages(
    watcher: CacheWatcher, info: ResourceInfo, timeout: float
) -> AsyncIterator[pb.WatchResponse]:
    """A watcher's outputs as stream messages until `timeout` (then a final BOOKMARK when
    bookmarks are on), an expired start (its ERROR message last) or the cache closing it.

    Only waiting for the next output is under the deadline, never a write in progress.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                output = await anext(watcher)
        except (TimeoutError, StopAsyncIteration):
            break
        if isinstance(output, WatchClosed):
            return
        yield watch_response(output, info)
        if isinstance(output, WatchExpired):
            return
    final = None if watcher.ended else watcher.bookmark_now()
    if final is not None:
        yield watch_response(final, info)


# --- serving --------------------------------------------------------------------------------


def host_port(host: str, port: int) -> str:
    """``host:port`` for a gRPC address (IPv6 literals in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def tls_credentials(cert_file: Path, key_file: Path) -> grpc.ServerCredentials:
    """Server credentials from the same PEM files the REST listener serves TLS with."""
    return grpc.ssl_server_credentials([(key_file.read_bytes(), cert_file.read_bytes())])


async def start_grpc_server(
    parts: ApiParts,
    bind_address: str,
    port: int,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serve `ApiService` over `parts` (an `ApiServer`: its registry, metrics and in-flight
    limiter) on `bind_address:port` (0: a free port); the server and its port.

    TLS with `credentials`, plaintext without. Stop it with ``await server.stop(grace)``.
    """
    server = grpc.aio.server(options=SERVER_OPTIONS)
    pb_grpc.add_ApiServicer_to_server(ApiService(parts), server)
    address = host_port(bind_address, port)
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError as error:
        raise OSError(f"cannot serve gRPC on {address}: {error}") from error
    if bound == 0:
        raise OSError(f"cannot serve gRPC on {address}")
    await server.start()
    return server, bound
