"""The OpenAPI answers kubectl needs to run ``apply``/``create -f``/``replace -f``.

This module owns ``/openapi/v2`` and a minimal ``/openapi/v3``; neither carries real schemas
(reference/kubernetes-api.md §0.4 and §2.2):

- ``GET /openapi/v2`` answers 200 with an empty body and a Protobuf Content-Type. An empty body
  is a valid empty document; kubectl's client-side validation then finds no schema and passes.
- ``GET /openapi/v3`` answers a root index naming one document per group-version::

      {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=4F1C…"}, …}}

  and ``GET /openapi/v3/apis/apps/v1`` answers that group-version's document, in which every
  PATCH operation carries ``x-kubernetes-group-version-kind`` and a ``fieldValidation`` query
  parameter. kubectl ≥ 1.27 sees the parameter, skips client-side validation and sends
  ``?fieldValidation=Strict`` for the server to check.

The hash is the SHA-512 of the document's canonical JSON, so it changes exactly when the
document does; kubectl caches documents by it. Every PATCH operation for a kind must carry the
parameter, because kubectl looks only at the first matching operation in a Go map (random
order).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kubelite.api.discovery import VERSION_INFO
from kubelite.api.resources import GroupVersion, GroupVersionKind, ResourceInfo, ResourceRegistry

JSON = dict[str, Any]

OPENAPI_V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
OPENAPI_V3_CONTENT_TYPE = "application/json"
OPENAPI_V3_PREFIX = "/openapi/v3/"


@dataclass(frozen=True)
class OpenAPIV2Answer:
    """The whole ``/openapi/v2`` response: status, Content-Type and (empty) body."""

    status: int = 200
    content_type: str = OPENAPI_V2_CONTENT_TYPE
    body: bytes = b""


OPENAPI_V2 = OpenAPIV2Answer()


def v3_path_key(gv: GroupVersion) -> str:
    """The root index key of a group-version: ``api/v1`` or ``apis/apps/v1``."""
    return gv.path_prefix.lstrip("/")


def v3_document(registry: ResourceRegistry, gv: GroupVersion) -> JSON:
    """The per-group-version OpenAPI v3 document: PATCH operations only, no schemas."""
    paths: JSON = {}
    for info in registry.in_group_version(gv.group, gv.version):
        paths[_item_path(info)] = {"patch": _patch_operation(info, info.gvk)}
        for sub in info.subresources:
            if "patch" in sub.verbs:
                operation = _patch_operation(info, info.subresource_gvk(sub))
                paths[f"{_item_path(info)}/{sub.name}"] = {"patch": operation}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def document_hash(document: JSON) -> str:
    """SHA-512 (upper-case hex, as upstream) of the document's canonical JSON."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha512(canonical.encode()).hexdigest().upper()


def v3_root(registry: ResourceRegistry) -> JSON:
    """The ``/openapi/v3`` index: one ``serverRelativeURL`` (with hash) per group-version."""
    paths: JSON = {}
    for gv in registry.group_versions:
        key = v3_path_key(gv)
        digest = document_hash(v3_document(registry, gv))
        paths[key] = {"serverRelativeURL": f"{OPENAPI_V3_PREFIX}{key}?hash={digest}"}
    return {"paths": paths}


def v3_document_for_path(registry: ResourceRegistry, key: str) -> JSON | None:
    """The document for ``/openapi/v3/<key>`` (``key`` = ``apis/apps/v1``), or None (404).

    The ``hash`` query parameter is not checked: a stale hash still gets the current document,
    as upstream does.
    """
    for gv in registry.group_versions:
        if v3_path_key(gv) == key.strip("/"):
            return v3_document(registry, gv)
    return None


def _item_path(info: ResourceInfo) -> str:
    namespace = "/namespaces/{namespace}" if info.namespaced else ""
    return f"{info.group_version.path_prefix}{namespace}/{info.plural}/{{name}}"


def _query(name: str, description: str) -> JSON:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string"}}


def _path(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _patch_operation(info: ResourceInfo, gvk: GroupVersionKind) -> JSON:
    parameters = [_path("name")]
    if info.namespaced:
        parameters.append(_path("namespace"))
    parameters += [
        _query("dryRun", "When present, do not persist the change (value: All)."),
        _query("fieldManager", "Name of the actor making the change."),
        _query("fieldValidation", "Ignore, Warn or Strict handling of unknown fields."),
        {"name": "force", "in": "query", "schema": {"type": "boolean"}},
        _query("pretty", "Pretty-print the output."),
    ]
    return {
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": gvk.group,
            "version": gvk.version,
            "kind": gvk.kind,
        },
    }
