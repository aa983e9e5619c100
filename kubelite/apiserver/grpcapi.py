"""The API server's gRPC service for components: one registry call per RPC, errors as Status.

This module owns the ``kubelite.apiserver.v1.Api`` servicer (proto/kubelite/pb/apiserver.proto)
and `start_grpc_server`. It is a shell like `kubelite.apiserver.rest`: it decodes the protobuf
envelope and the Kubernetes JSON inside it, calls the same `Registry`, and encodes the answer.
The request path, for every RPC::

    GetRequest{group, version, resource, namespace, name}
      -> resolve_target: RESOURCES.lookup, verb and namespace checks (pure)
      -> registry.get(info, namespace, name)
      -> ObjectResponse{object_json}              (List: the list JSON exactly as REST's)

Errors are mapped once, in `answer`: an `ApiError` aborts the call with ``error.grpc_code``,
details = the Status message, and the whole Status JSON in the trailing metadata key
``kubelite-status-bin``; anything unexpected is logged and answered as INTERNAL with an
InternalError Status, so nothing a client sends can take the server down.

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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

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
from kubelite.apiserver.listing import ListOptions, parse_list_options
from kubelite.apiserver.negotiation import MAX_BODY_BYTES, decode_json
from kubelite.apiserver.registry import Registry
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
    if "/" in namespace or namespace in (".", ".."):
        # A REST path segment cannot hold these; here they would reach into other keys.
        raise BadRequestError(f"invalid namespace {namespace!r}: may not contain '/'")
    return Target(info, namespace or None)


def list_options_of(resource: str, query: Mapping[str, str]) -> ListOptions:
    """`ListOptions` from a ListRequest's map, refusing keys REST would not list with."""
    unknown = sorted(set(query) - set(LIST_OPTION_KEYS))
    if unknown:
        raise BadRequestError(
            f"unsupported list options {', '.join(unknown)}: "
            f"supported are {', '.join(LIST_OPTION_KEYS)}"
        )
    return parse_list_options(resource, query)


def decode_object_json(raw: bytes, what: str) -> Any:
    """A request's JSON payload; 400 (BadRequest) when it is missing or not JSON."""
    if not raw.strip():
        raise BadRequestError(f"{what} is required")
    return decode_json(raw)


def encode_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def status_trailer(error: ApiError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes]]]:
    """The gRPC code, details and trailing metadata that carry `error` to a client."""
    status = error.status()
    message = str(status.get("message", ""))
    return error.grpc_code, message, ((STATUS_METADATA_KEY, encode_json(status)),)


async def answer(context: Context, work: Awaitable[T], method: str) -> T:
    """Await `work`; abort the call with the Status of whatever it raises."""
    try:
        return await work
    except ApiError as api_error:
        error = api_error
    except Exception as unexpected:  # the one place a bug becomes INTERNAL
        log.exception("unexpected error serving gRPC %s", method)
        error = InternalError(f"{type(unexpected).__name__}: {unexpected}")
    code, message, trailer = status_trailer(error)
    await context.abort(code, message, trailer)


# --- the servicer ---------------------------------------------------------------------------


class ApiService(pb_grpc.ApiServicer):
    """``kubelite.apiserver.v1.Api`` over one `Registry` (see the module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.ObjectResponse:
        return await answer(context, self._get(request), "Get")

    async def List(self, request: pb.ListRequest, context: Context) -> pb.ListResponse:
        return await answer(context, self._list(request), "List")

    async def Create(self, request: pb.CreateRequest, context: Context) -> pb.ObjectResponse:
        return await answer(context, self._create(request), "Create")

    async def Update(self, request: pb.UpdateRequest, context: Context) -> pb.UpdateResponse:
        return await answer(context, self._update(request, strategy.Scope.MAIN), "Update")

    async def UpdateStatus(self, request: pb.UpdateRequest, context: Context) -> pb.UpdateResponse:
        work = self._update(request, strategy.Scope.STATUS)
        return await answer(context, work, "UpdateStatus")

    async def Patch(self, request: pb.PatchRequest, context: Context) -> pb.ObjectResponse:
        return await answer(context, self._patch(request, strategy.Scope.MAIN), "Patch")

    async def PatchStatus(self, request: pb.PatchRequest, context: Context) -> pb.ObjectResponse:
        work = self._patch(request, strategy.Scope.STATUS)
        return await answer(context, work, "PatchStatus")

    async def Delete(self, request: pb.DeleteRequest, context: Context) -> pb.DeleteResponse:
        return await answer(context, self._delete(request), "Delete")

    async def Bind(self, request: pb.BindRequest, context: Context) -> pb.BindResponse:
        return await answer(context, self._bind(request), "Bind")

    # --- the work of each RPC, free of gRPC ----------------------------------------------------

    async def _get(self, request: pb.GetRequest) -> pb.ObjectResponse:
        target = resolve_target(request, verb="get")
        obj = await self.registry.get(target.info, target.namespace, request.name)
        return pb.ObjectResponse(object_json=encode_json(obj))

    async def _list(self, request: pb.ListRequest) -> pb.ListResponse:
        target = resolve_target(request, verb="list", collection=True)
        options = list_options_of(target.info.plural, request.list_options)
        result = await self.registry.list(target.info, target.namespace, options)
        return pb.ListResponse(object_json=encode_json(result.body(target.info)))

    async def _create(self, request: pb.CreateRequest) -> pb.ObjectResponse:
        target = resolve_target(request, verb="create")
        body = decode_object_json(request.object_json, "object_json")
        obj = await self.registry.create(target.info, target.namespace, body)
        return pb.ObjectResponse(object_json=encode_json(obj))

    async def _update(self, request: pb.UpdateRequest, scope: strategy.Scope) -> pb.UpdateResponse:
        subresource = "status" if scope is strategy.Scope.STATUS else ""
        target = resolve_target(request, verb="update", subresource=subresource)
        body = decode_object_json(request.object_json, "object_json")
        obj, created = await self.registry.update(
            target.info, target.namespace, request.name, body, scope=scope
        )
        return pb.UpdateResponse(object_json=encode_json(obj), created=created)

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
        return pb.ObjectResponse(object_json=encode_json(obj))

    async def _delete(self, request: pb.DeleteRequest) -> pb.DeleteResponse:
        target = resolve_target(request, verb="delete")
        raw = request.delete_options_json
        options = strategy.parse_delete_options(decode_json(raw) if raw.strip() else None, {})
        result = await self.registry.delete(target.info, target.namespace, request.name, options)
        return pb.DeleteResponse(object_json=encode_json(result.obj), gone=result.gone)

    async def _bind(self, request: pb.BindRequest) -> pb.BindResponse:
        target = resolve_target(PodsIn(request.namespace), verb="create", subresource="binding")
        assert target.namespace is not None  # pods are namespaced: resolve_target made sure
        body = decode_object_json(request.binding_json, "binding_json")
        status = await self.registry.bind(target.namespace, request.pod_name, body)
        return pb.BindResponse(status_json=encode_json(status))


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
    registry: Registry,
    bind_address: str,
    port: int,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serve `ApiService` on `bind_address:port` (0: a free port); the server and its port.

    TLS with `credentials`, plaintext without. Stop it with ``await server.stop(grace)``.
    """
    server = grpc.aio.server(options=SERVER_OPTIONS)
    pb_grpc.add_ApiServicer_to_server(ApiService(registry), server)
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
