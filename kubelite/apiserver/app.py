"""The API server's HTTP application: routes, middleware, and the lifecycle of its parts.

`ApiServer` owns, for one process: the storage client, one watch cache per resource, the
registry, the REST handlers and the metrics. Requests flow through three middlewares, in order:

    errors      every `ApiError` (and anything unexpected) becomes a Kubernetes Status reply
    metrics     request count and latency by verb, resource and code
    inflight    at most N read-only and M mutating requests at once, else 429 + Retry-After
                (watches and log streams are long-running and not counted, as upstream)

then reach a discovery/OpenAPI/health route or `ResourceHandler`. Set KUBELITE_LOG_REQUESTS=1
to log every request's method, path, query, Accept and Content-Type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from kubelite.api import discovery, openapi
from kubelite.api.errors import (
    ApiError,
    InternalError,
    PathNotFoundError,
    RequestTooLargeError,
    ServiceUnavailableError,
)
from kubelite.api.resources import RESOURCES
from kubelite.apiserver.codec import resource_prefix
from kubelite.apiserver.inflight import InflightLimiter, Limits
from kubelite.apiserver.metrics import ApiMetrics, InstrumentedStorage
from kubelite.apiserver.negotiation import MAX_BODY_BYTES
from kubelite.apiserver.paths import parse_resource_path
from kubelite.apiserver.podlogs import PodLogProxy
from kubelite.apiserver.registry import Registry
from kubelite.apiserver.rest import ResourceHandler, api_error_response, json_response
from kubelite.apiserver.storage import Storage, StorageError
from kubelite.apiserver.watchcache import WatchCache
from kubelite.apiserver.watchhttp import WatchStreamer

log = logging.getLogger("kubelite.apiserver")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READ_ONLY_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
RESOURCE: Final = web.RequestKey("resource", str)
"""The plural a resource request names, for metrics."""
OBJECT_NAME: Final = web.RequestKey("object_name", str)
"""The object name a resource request names ("" for a collection)."""
READY_TIMEOUT_S: Final = 2.0
BOOTSTRAP_RETRY_S: Final = 0.5


def _long_running(request: web.Request) -> bool:
    query = request.query
    if query.get("watch", "").lower() in ("1", "true"):
        return True
    return request.path.endswith("/log") and query.get("follow", "").lower() in ("1", "true")


def _verb(request: web.Request) -> str:
    method = request.method
    if method == "GET":
        if _long_running(request):
            return "WATCH"
        return "GET" if request.get(OBJECT_NAME) else "LIST"
    return method


class ApiServer:
    """One API server process's state (see the module docstring)."""

    def __init__(self, storage: Storage, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        self.metrics = ApiMetrics()
        self.storage = InstrumentedStorage(storage, self.metrics)
        self.caches = {
            info.plural: WatchCache(self.storage, resource_prefix(info.plural))
            for info in RESOURCES.resources
        }
        self.registry = Registry(self.storage, self.caches)
        self.watches = WatchStreamer(self.registry)
        self.handler = ResourceHandler(self.registry, self.watches, PodLogProxy(self.registry))
        self.limits = limits
        self.inflight = InflightLimiter(limits)
        self.bootstrapped = asyncio.Event()
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics.count_watchers_with(
            lambda: {name: cache.watcher_count for name, cache in self.caches.items()}
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        for cache in self.caches.values():
            await cache.start()
        self._tasks.append(asyncio.create_task(self._bootstrap()))

    async def _bootstrap(self) -> None:
        while True:
            try:
                await self.registry.ensure_namespaces()
            except (ApiError, StorageError) as error:
                log.warning("bootstrap: %s; retrying", error)
                await asyncio.sleep(BOOTSTRAP_RETRY_S)
                continue
            self.bootstrapped.set()
            return

    async def stop(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for cache in self.caches.values():
            await cache.stop()
        await self.storage.close()

    # --- middleware -----------------------------------------------------------------------------

    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return api_error_response(error)
        except web.HTTPRequestEntityTooLarge:
            limit = f"limit is {MAX_BODY_BYTES}"
            return api_error_response(RequestTooLargeError(limit))
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as error:  # the one place a bug becomes a 500 Status
            if self.stopping:
                # The store client and caches are closing under this request: ask the client
                # to retry elsewhere rather than report a server fault.
                log.info("failed during shutdown: %s %s: %r", request.method, request.path, error)
                return api_error_response(
                    ServiceUnavailableError("the API server is shutting down", 1)
                )
            log.exception("unexpected error serving %s %s", request.method, request.path)
            return api_error_response(InternalError(f"{type(error).__name__}: {error}"))

    @web.middleware
    async def measure(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if os.environ.get("KUBELITE_LOG_REQUESTS") == "1":
            log.info(
                "%s %s?%s accept=%r content-type=%r",
                request.method,
                request.path,
                request.query_string,
                request.headers.get("Accept"),
                request.headers.get("Content-Type"),
            )
        started = time.perf_counter()
        response = await handler(request)
        verb = _verb(request)
        resource = request.get(RESOURCE, "")
        seconds = None if verb == "WATCH" else time.perf_counter() - started
        self.metrics.observe(verb, resource, response.status, seconds)
        return response

    @web.middleware
    async def limit_inflight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if _long_running(request) or not request.path.startswith(("/api/", "/apis/")):
            return await handler(request)
        with self.inflight.admit(read_only=request.method in READ_ONLY_METHODS):
            return await handler(request)

    # --- routes ---------------------------------------------------------------------------------

    async def resource(self, request: web.Request) -> web.StreamResponse:
        group = request.match_info.get("group", "")
        version = request.match_info["version"]
        segments = request.match_info["tail"].split("/")
        path = parse_resource_path(group, version, segments)
        request[RESOURCE] = path.info.plural
        request[OBJECT_NAME] = path.name or ""
        return await self.handler.handle(request, path)

    async def version(self, request: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def core_versions(self, request: web.Request) -> web.Response:
        return self._discovery_root(request, core=True)

    async def groups(self, request: web.Request) -> web.Response:
        return self._discovery_root(request, core=False)

    def _discovery_root(self, request: web.Request, *, core: bool) -> web.Response:
        choice = discovery.negotiate_discovery(request.headers.get("Accept"))
        if choice is None:
            return web.Response(status=406, text="406 Not Acceptable")
        if choice.api_version is not None:
            body = discovery.aggregated_discovery(
                RESOURCES, core=core, api_version=choice.api_version
            )
        elif core:
            body = discovery.api_versions(request.host)
        else:
            body = discovery.api_group_list(RESOURCES)
        response = json_response(body)
        response.content_type = choice.content_type.split(";", 1)[0]
        if choice.api_version is not None:
            response.headers["Content-Type"] = choice.content_type
        response.headers["Vary"] = "Accept"
        return response

    async def group(self, request: web.Request) -> web.Response:
        name = request.match_info["group"]
        for item in discovery.api_group_list(RESOURCES)["groups"]:
            if item["name"] == name:
                return json_response({"kind": "APIGroup", "apiVersion": "v1", **item})
        raise PathNotFoundError()

    async def resource_list(self, request: web.Request) -> web.Response:
        body = discovery.api_resource_list(
            RESOURCES, request.match_info.get("group", ""), request.match_info["version"]
        )
        if body is None:
            raise PathNotFoundError()
        return json_response(body)

    async def openapi_v2(self, request: web.Request) -> web.Response:
        answer = openapi.OPENAPI_V2
        return web.Response(
            status=answer.status, body=answer.body, headers={"Content-Type": answer.content_type}
        )

    async def openapi_v3_root(self, request: web.Request) -> web.Response:
        return json_response(openapi.v3_root(RESOURCES))

    async def openapi_v3(self, request: web.Request) -> web.Response:
        document = openapi.v3_document_for_path(RESOURCES, request.match_info["tail"])
        if document is None:
            raise PathNotFoundError()
        return json_response(document)

    async def livez(self, request: web.Request) -> web.Response:
        if "verbose" in request.query:
            return web.Response(text="[+]ping ok\nlivez check passed\n")
        return web.Response(text="ok")

    async def readyz(self, request: web.Request) -> web.Response:
        """Upstream's shape: ``[+]check ok`` / ``[-]check failed: why`` lines with ?verbose."""
        problems = await self.readiness_problems()
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\nreadyz check failed")
        if "verbose" in request.query:
            checks = ("ping", "etcd", "poststarthook/bootstrap-namespaces", "watch-caches")
            lines = [f"[+]{check} ok" for check in checks]
            return web.Response(text="\n".join([*lines, "readyz check passed", ""]))
        return web.Response(text="ok")

    async def readiness_problems(self) -> list[str]:
        problems: list[str] = []
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await self.storage.current_revision()
        except (StorageError, TimeoutError) as error:
            problems.append(f"[-]etcd failed: {error or 'timed out'}")
        if not self.bootstrapped.is_set():
            problems.append("[-]poststarthook/bootstrap-namespaces failed: not finished")
        unsynced = [name for name, cache in self.caches.items() if not cache.synced]
        if unsynced:
            problems.append(f"[-]watch caches not synced: {', '.join(sorted(unsynced))}")
        return problems

    async def metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    async def not_found(self, request: web.Request) -> web.Response:
        raise PathNotFoundError()

    def application(self) -> web.Application:
        app = web.Application(
            middlewares=[self.errors, self.measure, self.limit_inflight],
            client_max_size=MAX_BODY_BYTES,
        )
        get = app.router.add_get
        get("/version", self.version)
        get("/api", self.core_versions)
        get("/apis", self.groups)
        get("/api/{version}", self.resource_list)
        get("/apis/{group}", self.group)
        get("/apis/{group}/{version}", self.resource_list)
        app.router.add_route("*", "/api/{version}/{tail:.+}", self.resource)
        app.router.add_route("*", "/apis/{group}/{version}/{tail:.+}", self.resource)
        get("/openapi/v2", self.openapi_v2)
        get("/openapi/v3", self.openapi_v3_root)
        get("/openapi/v3/{tail:.+}", self.openapi_v3)
        get("/livez", self.livez)
        get("/readyz", self.readyz)
        get("/healthz", self.readyz)
        get("/metrics", self.metrics_page)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app
