"""`ApiClient`: the `Client` protocol over real API servers, with endpoint failover.

Reads and writes are unary calls of the API server's gRPC service
(proto/kubelite/pb/apiserver.proto); watches are HTTP streams
(``GET <collection>?watch=true``, one JSON event per line). A call goes like this::

    client.get(PODS, "default", "web")
      -> _unary("Get", GetRequest, idempotent=True)
         for each endpoint, the last one that worked first, those marked bad last:
           wait (briefly) for its channel to be READY; not reachable -> mark bad, next
           call with the time left of the overall deadline
             Status in the trailer "kubelite-status-bin" -> error_from_status -> raise
             (a 503 ServiceUnavailable Status on an idempotent call -> mark bad, next)
             UNAVAILABLE / DEADLINE_EXCEEDED without a Status -> mark bad, then
               idempotent: next endpoint;  not idempotent: raise ServiceUnavailableError
           success -> remember this endpoint as the preferred one
         a round without success -> short pause, another round, until the deadline
      -> every endpoint failed until the deadline: ServiceUnavailableError

Which calls are retried where (the conservative rule): an idempotent call — get, list, an
update or patch carrying ``metadata.resourceVersion``, a delete with preconditions — may be
sent again to another endpoint after any transport failure (a repeat of a conditional write
that did land answers Conflict/NotFound, never a double write). Any other write (create,
unconditional update/patch/delete, bind) goes to a second endpoint only when the first one's
channel never became READY, so the request certainly never left this process; once sent, a
transport failure is raised as `ServiceUnavailableError` ("outcome unknown") for the caller
to reconcile, as level-triggered components do anyway.

Watches (`ApiClient.watch`) open the stream on the preferred endpoint. A clean end (the
server's ``timeoutSeconds``) ends the iterator; an ERROR event raises its typed error
(`ExpiredError` on 410); a broken stream (reset, refused, server gone, a cut line) reopens on
the next endpoint from the last delivered resourceVersion (bookmarks included), so no event is
lost or repeated — until the failures have lasted longer than the call deadline without an
event in between, then `ServiceUnavailableError`. One exception keeps "no gap": a watch started
from "" (the current state as ADDED first) that breaks before its first BOOKMARK, MODIFIED or
DELETED event cannot tell where the initial state ended, so it starts over from "" — the
consumer may see ADDED twice for an object, never miss one.

The module runs past 400 lines because the failover rules above and the two transports they
govern belong together; pure helpers come first.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiohttp
import grpc

from kubelite.api.errors import (
    ApiError,
    ServiceUnavailableError,
    error_from_status,
)
from kubelite.api.resources import ResourceInfo
from kubelite.client.config import ClientConfig, Endpoint, load_kubeconfig
from kubelite.client.interface import MERGE_PATCH, JsonObject, WatchEvent
from kubelite.pb import apiserver_pb2 as pb
from kubelite.pb import apiserver_pb2_grpc as pb_grpc

STATUS_METADATA_KEY: Final = "kubelite-status-bin"
DEFAULT_CALL_TIMEOUT_S: Final = 30.0
DEFAULT_BAD_BACKOFF_S: Final = 5.0
CONNECT_TIMEOUT_S: Final = 2.0
FIRST_ROUND_PAUSE_S: Final = 0.05
MAX_ROUND_PAUSE_S: Final = 1.0
TRANSPORT_FAILURES: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
CHANNEL_OPTIONS: Final = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_receive_message_length", -1),
    # Notice a restarted API server within about a second, not grpc's default two minutes.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


# --- pure helpers ---------------------------------------------------------------------------


def collection_path(resource: ResourceInfo, namespace: str | None) -> str:
    """The REST path of a collection: ``/api/v1/namespaces/ns/pods``, ``/apis/apps/v1/nodes``."""
    base = resource.group_version.path_prefix
    if namespace and resource.namespaced:
        base += f"/namespaces/{namespace}"
    return f"{base}/{resource.plural}"


def has_resource_version(obj: object) -> bool:
    """Whether an object or merge patch names ``metadata.resourceVersion`` (a conditional write)."""
    if not isinstance(obj, Mapping):
        return False
    metadata = obj.get("metadata")
    return isinstance(metadata, Mapping) and bool(metadata.get("resourceVersion"))


def delete_options(
    grace_period_seconds: int | None,
    propagation_policy: str | None,
    preconditions: Mapping[str, str] | None,
) -> JsonObject:
    options: JsonObject = {}
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    if propagation_policy:
        options["propagationPolicy"] = propagation_policy
    if preconditions:
        options["preconditions"] = dict(preconditions)
    return options


def options_map(**options: str | int | bool | None) -> dict[str, str]:
    """REST query parameters as strings, leaving out the empty ones."""
    return {
        key: ("true" if value is True else str(value))
        for key, value in options.items()
        if value not in (None, "", 0, False)
    }


def decode_event(line: bytes) -> WatchEvent:
    """One watch line as a `WatchEvent`; an ERROR event raises its typed error."""
    body = json.loads(line)
    kind, obj = str(body.get("type", "")), body.get("object") or {}
    if kind == "ERROR":
        raise error_from_status(obj)
    return WatchEvent(kind, obj)


def status_of(error: grpc.aio.AioRpcError) -> dict[str, Any] | None:
    """The Status JSON an API server put in the trailer, or None (the call never got there)."""
    metadata: Any = error.trailing_metadata() or ()  # grpc.aio.Metadata: (key, value) pairs
    for key, value in metadata:
        if key == STATUS_METADATA_KEY:
            raw = value if isinstance(value, bytes) else str(value).encode()
            status = json.loads(raw)
            return status if isinstance(status, dict) else None
    return None


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


# --- endpoints and their health -------------------------------------------------------------


@dataclass(eq=False)
class Transport:
    """One endpoint's gRPC channel (opened on first use) and health."""

    endpoint: Endpoint
    bad_until: float = 0.0
    _channel: grpc.aio.Channel | None = field(default=None, repr=False)
    _stub: Any = field(default=None, repr=False)

    def stub(self) -> Any:
        """The ``ApiStub`` (generated, untyped) on this endpoint's channel."""
        if self._stub is None:
            self._stub = pb_grpc.ApiStub(self.channel())
        return self._stub

    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            credentials = self.endpoint.grpc_credentials()
            target = self.endpoint.grpc_target
            self._channel = (
                grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
                if credentials is not None
                else grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            )
        return self._channel

    async def ready(self, timeout: float) -> bool:
        """Whether the channel is (or gets, within `timeout`) connected; False on failure."""
        channel = self.channel()
        state = channel.get_state(try_to_connect=True)
        try:
            async with asyncio.timeout(timeout):
                while state is not grpc.ChannelConnectivity.READY:
                    if state in (
                        grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                        grpc.ChannelConnectivity.SHUTDOWN,
                    ):
                        return False
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel, self._stub = None, None


class EndpointPool:
    """The endpoints in the order to try them: the last that worked first, bad ones last."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        backoff_s: float = DEFAULT_BAD_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoints:
            raise ValueError("ApiClient needs at least one endpoint")
        self.transports = [Transport(endpoint) for endpoint in endpoints]
        self._preferred = 0
        self._backoff_s = backoff_s
        self._clock = clock

    def ordered(self) -> list[Transport]:
        now = self._clock()
        n = len(self.transports)
        rotated = [self.transports[(self._preferred + i) % n] for i in range(n)]
        healthy = [t for t in rotated if t.bad_until <= now]
        sick = sorted((t for t in rotated if t.bad_until > now), key=lambda t: t.bad_until)
        return healthy + sick

    def mark_good(self, transport: Transport) -> None:
        transport.bad_until = 0.0
        self._preferred = self.transports.index(transport)

    def mark_bad(self, transport: Transport) -> None:
        transport.bad_until = self._clock() + self._backoff_s

    async def close(self) -> None:
        for transport in self.transports:
            await transport.close()


class _StreamBroken(Exception):
    """A watch stream that ended without the server meaning it to (retry elsewhere)."""


@dataclass
class _WatchCursor:
    """Where a watch stands: the resourceVersion to resume from, the time left."""

    resource_version: str
    deadline: float | None  # monotonic; None: no timeoutSeconds
    initial_phase: bool = field(init=False)

    def __post_init__(self) -> None:
        self.initial_phase = self.resource_version in ("", "0")

    def advance(self, event: WatchEvent) -> None:
        if self.initial_phase and event.type == "ADDED":
            return  # still (perhaps) the current state: resume from the start
        self.initial_phase = False
        if event.resource_version:
            self.resource_version = event.resource_version

    def timeout_left(self) -> int | None:
        if self.deadline is None:
            return None
        return max(0, int(self.deadline - time.monotonic() + 0.999))


# --- the client -----------------------------------------------------------------------------


class ApiClient:
    """The `kubelite.client.interface.Client` over API servers (see the module docstring)."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        token: str | None = None,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        bad_backoff_s: float = DEFAULT_BAD_BACKOFF_S,
    ) -> None:
        self._pool = EndpointPool(endpoints, bad_backoff_s)
        self._call_timeout_s = call_timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, config: ClientConfig, **options: float) -> ApiClient:
        return cls(config.endpoints, token=config.token, **options)

    @classmethod
    def from_kubeconfig(cls, path: Path, context: str | None = None) -> ApiClient:
        return cls.from_config(load_kubeconfig(path, context))

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._pool.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- reads and writes (gRPC) ----------------------------------------------------------------

    async def get(self, resource: ResourceInfo, namespace: str | None, name: str) -> JsonObject:
        request = pb.GetRequest(**_address(resource, namespace), name=name)
        return _object(await self._unary("Get", request, idempotent=True))

    async def list(
        self,
        resource: ResourceInfo,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> JsonObject:
        options = options_map(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=limit,
            resourceVersion=resource_version,
        )
        if continue_token:
            options["continue"] = continue_token
        request = pb.ListRequest(**_address(resource, namespace), list_options=options)
        return _object(await self._unary("List", request, idempotent=True))

    async def create(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        request = pb.CreateRequest(**_address(resource, namespace), object_json=_json(obj))
        return _object(await self._unary("Create", request, idempotent=False))

    async def update(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        return await self._update("Update", resource, namespace, obj)

    async def update_status(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        return await self._update("UpdateStatus", resource, namespace, obj)

    async def _update(
        self, method: str, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        request = pb.UpdateRequest(
            **_address(resource, namespace), name=_name_of(obj), object_json=_json(obj)
        )
        response = await self._unary(method, request, idempotent=has_resource_version(obj))
        return _object(response)

    async def patch(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = MERGE_PATCH,
        *,
        status: bool = False,
    ) -> JsonObject:
        request = pb.PatchRequest(
            **_address(resource, namespace),
            name=name,
            patch_type=patch_type,
            patch=patch if isinstance(patch, bytes) else _json(patch),
        )
        method = "PatchStatus" if status else "Patch"
        return _object(await self._unary(method, request, idempotent=has_resource_version(patch)))

    async def delete(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> JsonObject:
        options = delete_options(grace_period_seconds, propagation_policy, preconditions)
        request = pb.DeleteRequest(
            **_address(resource, namespace),
            name=name,
            delete_options_json=_json(options) if options else b"",
        )
        return _object(await self._unary("Delete", request, idempotent=bool(preconditions)))

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        binding = {"apiVersion": "v1", "kind": "Binding", "target": {"name": node_name}}
        request = pb.BindRequest(
            namespace=namespace, pod_name=pod_name, binding_json=_json(binding)
        )
        await self._unary("Bind", request, idempotent=False)

    async def _unary(self, method: str, request: Any, *, idempotent: bool) -> Any:
        """Call `method` on the endpoints in order until one answers (module docstring)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._call_timeout_s
        pause, last_failure = FIRST_ROUND_PAUSE_S, "no endpoint answered"
        while True:
            for transport in self._pool.ordered():
                left = deadline - loop.time()
                if left <= 0:
                    break
                if not await transport.ready(min(left, CONNECT_TIMEOUT_S)):
                    self._pool.mark_bad(transport)
                    last_failure = f"{transport.endpoint.grpc_target}: not reachable"
                    continue
                try:
                    response = await getattr(transport.stub(), method)(
                        request, timeout=left, metadata=self._metadata
                    )
                except grpc.aio.AioRpcError as error:
                    last_failure = self._failed(transport, error, method, idempotent)
                    continue
                self._pool.mark_good(transport)
                return response
            left = deadline - loop.time()
            if left <= 0:
                raise ServiceUnavailableError(f"{method}: no API server answered ({last_failure})")
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, MAX_ROUND_PAUSE_S)

    def _failed(
        self, transport: Transport, error: grpc.aio.AioRpcError, method: str, idempotent: bool
    ) -> str:
        """Raise what the caller must see, or describe a failure worth trying elsewhere."""
        status = status_of(error)
        where = transport.endpoint.grpc_target
        if status is not None:
            api_error = error_from_status(status)
            if not (idempotent and isinstance(api_error, ServiceUnavailableError)):
                raise api_error
            self._pool.mark_bad(transport)
            return f"{where}: {api_error}"
        if error.code() not in TRANSPORT_FAILURES:
            raise error_from_status({"message": f"{method}: {error.details()}"}, 500)
        self._pool.mark_bad(transport)
        if not idempotent:
            raise ServiceUnavailableError(
                f"{method} on {where} failed after it was sent ({error.code().name}): "
                "it may or may not have been applied"
            )
        return f"{where}: {error.code().name} {error.details()}"

    # --- watches (HTTP) -------------------------------------------------------------------------

    async def watch(
        self,
        resource: ResourceInfo,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        cursor = _WatchCursor(resource_version, deadline)
        path = collection_path(resource, namespace)
        selectors = options_map(labelSelector=label_selector, fieldSelector=field_selector)
        loop = asyncio.get_running_loop()
        give_up_at, pause = loop.time() + self._call_timeout_s, FIRST_ROUND_PAUSE_S
        last_failure = "no API server answered"
        while True:
            for transport in self._pool.ordered():
                timeout_left = cursor.timeout_left()
                if timeout_left == 0:
                    return
                params = {
                    "watch": "true",
                    **selectors,
                    **options_map(
                        resourceVersion=cursor.resource_version,
                        allowWatchBookmarks=allow_bookmarks,
                        timeoutSeconds=timeout_left,
                    ),
                }
                try:
                    async for event in self._stream(transport, path, params):
                        cursor.advance(event)
                        give_up_at, pause = loop.time() + self._call_timeout_s, FIRST_ROUND_PAUSE_S
                        yield event
                    self._pool.mark_good(transport)
                    return
                except _StreamBroken as broken:
                    self._pool.mark_bad(transport)
                    last_failure = str(broken)
                if loop.time() >= give_up_at:
                    raise ServiceUnavailableError(f"watch {path}: {last_failure}")
            await asyncio.sleep(max(0.0, min(pause, give_up_at - loop.time())))
            pause = min(pause * 2, MAX_ROUND_PAUSE_S)

    async def _stream(
        self, transport: Transport, path: str, params: Mapping[str, str]
    ) -> AsyncIterator[WatchEvent]:
        """One HTTP watch stream's events; `_StreamBroken` when it ends badly."""
        url = transport.endpoint.rest_url + path
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        ssl = transport.endpoint.ssl_context()
        try:
            async with self._http().get(
                url, params=params, headers=self._headers, ssl=ssl if ssl else True, timeout=timeout
            ) as response:
                if response.status != 200:
                    await _raise_http_error(response)
                buffer = b""
                async for chunk in response.content.iter_any():
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield decode_event(line)
                if buffer.strip():
                    raise _StreamBroken(f"{url}: the stream ended inside an event")
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise _StreamBroken(f"{url}: {type(error).__name__}: {error}") from error

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


async def _raise_http_error(response: aiohttp.ClientResponse) -> None:
    """The typed error of a refused watch; a 503 is a broken stream (try another server)."""
    try:
        status = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        status = {"message": f"the server answered {response.status}"}
    error: ApiError = error_from_status(status, response.status)
    if isinstance(error, ServiceUnavailableError):
        raise _StreamBroken(f"{response.url}: {error}")
    raise error


def _address(resource: ResourceInfo, namespace: str | None) -> dict[str, str]:
    """Fields 1-4 of every request: group, version, resource, namespace ("" when none)."""
    return {
        "group": resource.group,
        "version": resource.version,
        "resource": resource.plural,
        "namespace": namespace if namespace and resource.namespaced else "",
    }


def _object(response: Any) -> JsonObject:
    decoded = json.loads(response.object_json)
    assert isinstance(decoded, dict), "the API server answers with a JSON object"
    return decoded
