"""The REST verbs on resources: turn one HTTP request into one registry call and back.

`ResourceHandler.handle` receives the parsed `ResourcePath` and dispatches on method and
subresource; it never decides anything itself (that is `registry` and `strategy`). Every
`ApiError` it lets through becomes a Status reply in `kubelite.apiserver.app`'s middleware::

    GET    collection  -> list (or watch with ?watch=true)     POST   collection -> create
    DELETE collection  -> deletecollection                     GET    object     -> get
    PUT    object      -> update                               PATCH  object     -> patch
    DELETE object      -> delete
    status / scale     -> GET, PUT, PATCH;  binding, eviction -> POST;  log -> GET (proxied)

Every write reads ``?fieldValidation=`` (`_field_decoding`: 422 for a value upstream refuses)
before its body, hands it to the registry, and answers Warn's warnings as ``Warning`` headers
(``299 - "unknown field \"spec.foo\""``), which kubectl prints as ``Warning: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from kubelite.api.errors import (
    ApiError,
    BadRequestError,
    MethodNotAllowedError,
    StatusDetails,
    success_status,
)
from kubelite.api.fieldvalidation import loads_json_keeping_duplicates, parse_field_validation
from kubelite.api.patch import media_type_of
from kubelite.api.resources import ResourceInfo
from kubelite.api.tables import table_for
from kubelite.apiserver import strategy
from kubelite.apiserver.codec import compact_json
from kubelite.apiserver.listing import ListOptions, is_watch, parse_list_options
from kubelite.apiserver.negotiation import (
    JSON_TYPES,
    YAML_TYPES,
    decode_body,
    wants_table,
)
from kubelite.apiserver.paths import ResourcePath
from kubelite.apiserver.podlogs import PodLogProxy
from kubelite.apiserver.registry import Registry
from kubelite.apiserver.watchhttp import WatchStreamer

JsonObject = dict[str, Any]
JSON_CONTENT_TYPE: Final = "application/json"
RETURN_DELETED_OBJECT: Final = frozenset({"pods", "services", "serviceaccounts"})
"""Resources whose DELETE answers with the deleted object, not a Status (upstream's
``ReturnDeletedObject``; the Python client's typed delete methods expect it)."""


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=compact_json(body), content_type=JSON_CONTENT_TYPE)


def _dry_run(query: Mapping[str, str]) -> bool:
    return strategy.parse_dry_run(query.get("dryRun"))


def _field_decoding(request: web.Request, options_kind: str) -> strategy.FieldDecoding:
    """A write's ``fieldValidation`` (validated as upstream validates `options_kind`, i.e.
    ``CreateOptions``, ``UpdateOptions`` or ``PatchOptions``) and how its body was sent."""
    directive = parse_field_validation(request.query.get("fieldValidation"), options_kind)
    is_yaml = media_type_of(request.headers.get("Content-Type")) in YAML_TYPES
    return strategy.FieldDecoding(directive, sorted_keys=is_yaml)


def _with_warnings(response: web.Response, decoding: strategy.FieldDecoding) -> web.Response:
    for header in decoding.warnings.headers:
        response.headers.add("Warning", header)
    return response


class ResourceHandler:
    """Serves every resource URL; see the module docstring for the verb table."""

    def __init__(self, registry: Registry, watches: WatchStreamer, logs: PodLogProxy) -> None:
        self.registry = registry
        self.watches = watches
        self.logs = logs

    async def handle(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        if path.subresource is not None:
            return await self._subresource(request, path)
        if path.name is None:
            return await self._collection(request, path)
        return await self._object(request, path)

    def _require_verb(self, info: ResourceInfo, verb: str) -> None:
        if verb not in info.verbs:
            raise MethodNotAllowedError()

    async def _body(self, request: web.Request) -> Any:
        return decode_body(request.headers.get("Content-Type"), await request.read())

    async def _object_body(self, request: web.Request) -> Any:
        """A create/update body; JSON objects remember duplicated keys for fieldValidation."""
        content_type, raw = request.headers.get("Content-Type"), await request.read()
        if media_type_of(content_type) in JSON_TYPES and raw.strip():
            try:
                return loads_json_keeping_duplicates(raw)
            except ValueError:
                pass  # decode_body below answers with the one 400 for bad JSON
        return decode_body(content_type, raw)

    def _respond(
        self, request: web.Request, info: ResourceInfo, obj: JsonObject, status: int = 200
    ) -> web.Response:
        if wants_table(request.headers.get("Accept")):
            rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            return json_response(table_for(info.kind, [obj], datetime.now(UTC), rv, None), status)
        return json_response(obj, status)

    # --- collections --------------------------------------------------------------------------

    async def _collection(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        info, query = path.info, request.query
        if request.method == "GET":
            options = parse_list_options(info.plural, query)
            if is_watch(query):
                self._require_verb(info, "watch")
                return await self.watches.stream(request, info, path.namespace, options)
            self._require_verb(info, "list")
            return await self._list(request, info, path.namespace, options)
        if request.method == "POST":
            self._require_verb(info, "create")
            if info.namespaced and path.namespace is None:
                raise MethodNotAllowedError()
            fields = _field_decoding(request, "CreateOptions")
            obj = await self.registry.create(
                info,
                path.namespace,
                await self._object_body(request),
                dry_run=_dry_run(query),
                fields=fields,
            )
            return _with_warnings(self._respond(request, info, obj, 201), fields)
        if request.method == "DELETE":
            self._require_verb(info, "deletecollection")
            delete_options = strategy.parse_delete_options(await self._body(request), query)
            result = await self.registry.delete_collection(
                info, path.namespace, parse_list_options(info.plural, query), delete_options
            )
            return json_response(result.body(info))
        raise MethodNotAllowedError()

    async def _list(
        self, request: web.Request, info: ResourceInfo, namespace: str | None, opts: ListOptions
    ) -> web.Response:
        result = await self.registry.list(info, namespace, opts)
        if wants_table(request.headers.get("Accept")):
            table = table_for(
                info.kind,
                result.items,
                datetime.now(UTC),
                result.resource_version,
                result.continue_token or None,
            )
            return json_response(table)
        return json_response(result.body(info))

    # --- objects ------------------------------------------------------------------------------

    async def _object(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        info, namespace, query = path.info, path.namespace, request.query
        name = path.name or ""
        if request.method == "GET":
            self._require_verb(info, "get")
            return self._respond(request, info, await self.registry.get(info, namespace, name))
        if request.method == "PUT":
            self._require_verb(info, "update")
            fields = _field_decoding(request, "UpdateOptions")
            obj, created = await self.registry.update(
                info,
                namespace,
                name,
                await self._object_body(request),
                dry_run=_dry_run(query),
                fields=fields,
            )
            return _with_warnings(
                self._respond(request, info, obj, 201 if created else 200), fields
            )
        if request.method == "PATCH":
            self._require_verb(info, "patch")
            fields = _field_decoding(request, "PatchOptions")
            obj = await self.registry.patch(
                info,
                namespace,
                name,
                request.headers.get("Content-Type"),
                await request.read(),
                dry_run=_dry_run(query),
                fields=fields,
            )
            return _with_warnings(self._respond(request, info, obj), fields)
        if request.method == "DELETE":
            self._require_verb(info, "delete")
            options = strategy.parse_delete_options(await self._body(request), query)
            result = await self.registry.delete(info, namespace, name, options)
            return self._delete_reply(request, info, result.obj, result.gone)
        raise MethodNotAllowedError()

    def _delete_reply(
        self, request: web.Request, info: ResourceInfo, obj: JsonObject, gone: bool
    ) -> web.Response:
        if not gone or info.plural in RETURN_DELETED_OBJECT:
            # Upstream returns the object for these, and for anything whose deletion is pending.
            return self._respond(request, info, obj)
        metadata = obj.get("metadata") or {}
        details = StatusDetails(
            name=str(metadata.get("name", "")),
            group=info.group,
            kind=info.plural,
            uid=str(metadata.get("uid", "")),
        )
        return json_response(success_status(200, details))

    # --- subresources -------------------------------------------------------------------------

    async def _subresource(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        sub = path.subresource
        if sub == "status":
            return await self._status(request, path)
        if sub == "scale":
            return await self._scale(request, path)
        if sub == "binding" and request.method == "POST":
            fields = _field_decoding(request, "CreateOptions")
            body = await self._object_body(request)
            pod_name = path.name
            if path.legacy_binding:
                pod_name = strategy.name_of(body) if isinstance(body, dict) else ""
                if not pod_name:
                    raise BadRequestError("the Binding must name the pod in metadata.name")
            assert path.namespace is not None and pod_name is not None
            status = await self.registry.bind(path.namespace, pod_name, body, fields=fields)
            return _with_warnings(json_response(status, 201), fields)
        if sub == "eviction" and request.method == "POST":
            assert path.namespace is not None and path.name is not None
            fields = _field_decoding(request, "CreateOptions")
            status = await self.registry.evict(
                path.namespace, path.name, await self._object_body(request), fields=fields
            )
            return _with_warnings(json_response(status, 201), fields)
        if sub == "log" and request.method == "GET":
            assert path.namespace is not None and path.name is not None
            pod = await self.registry.get(path.info, path.namespace, path.name)
            return await self.logs.proxy(request, pod)
        if sub == "finalize" and request.method == "PUT":
            return await self._finalize(request, path)
        raise MethodNotAllowedError()

    async def _status(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        info, namespace, name = path.info, path.namespace, path.name or ""
        dry_run = _dry_run(request.query)
        if request.method == "GET":
            return self._respond(request, info, await self.registry.get(info, namespace, name))
        if request.method == "PUT":
            fields = _field_decoding(request, "UpdateOptions")
            obj, _ = await self.registry.update(
                info,
                namespace,
                name,
                await self._object_body(request),
                scope=strategy.Scope.STATUS,
                dry_run=dry_run,
                fields=fields,
            )
            return _with_warnings(self._respond(request, info, obj), fields)
        if request.method == "PATCH":
            fields = _field_decoding(request, "PatchOptions")
            obj = await self.registry.patch(
                info,
                namespace,
                name,
                request.headers.get("Content-Type"),
                await request.read(),
                scope=strategy.Scope.STATUS,
                dry_run=dry_run,
                fields=fields,
            )
            return _with_warnings(self._respond(request, info, obj), fields)
        raise MethodNotAllowedError()

    async def _scale(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        info, namespace, name = path.info, path.namespace, path.name or ""
        dry_run = _dry_run(request.query)
        if request.method == "GET":
            return json_response(await self.registry.get_scale(info, namespace, name))
        if request.method == "PUT":
            fields = _field_decoding(request, "UpdateOptions")
            scale = await self.registry.update_scale(
                info,
                namespace,
                name,
                await self._object_body(request),
                dry_run=dry_run,
                fields=fields,
            )
            return _with_warnings(json_response(scale), fields)
        if request.method == "PATCH":
            fields = _field_decoding(request, "PatchOptions")
            scale = await self.registry.patch_scale(
                info,
                namespace,
                name,
                request.headers.get("Content-Type"),
                await request.read(),
                dry_run=dry_run,
                fields=fields,
            )
            return _with_warnings(json_response(scale), fields)
        raise MethodNotAllowedError()

    async def _finalize(self, request: web.Request, path: ResourcePath) -> web.StreamResponse:
        fields = _field_decoding(request, "UpdateOptions")
        body = await self._object_body(request)
        obj = await self.registry.finalize_namespace(path.name or "", body, fields=fields)
        return _with_warnings(self._respond(request, path.info, obj), fields)


def api_error_response(error: ApiError) -> web.Response:
    response = json_response(error.status(), error.code)
    if error.retry_after_seconds:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response
