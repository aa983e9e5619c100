"""How objects sit in the store: their keys, and the bytes of their values.

Key layout (upstream's)::

    /registry/<resource>/<namespace>/<name>     namespaced kinds, e.g. /registry/pods/default/web
    /registry/<resource>/<name>                 cluster-scoped kinds, e.g. /registry/nodes/n1

The value is the object's compact JSON with ``metadata.resourceVersion`` left out: the
resourceVersion *is* the key's mod revision, set on the way out by `decode_object`, so the
bytes never disagree with the store about it.
"""

from __future__ import annotations

import json
from typing import Any

from kubelite.api.meta import format_resource_version

REGISTRY_ROOT = "/registry/"

JsonObject = dict[str, Any]


def resource_prefix(resource: str) -> str:
    """Prefix of every key of a resource: ``/registry/pods/``."""
    return f"{REGISTRY_ROOT}{resource}/"


def collection_prefix(resource: str, namespace: str | None) -> str:
    """Prefix of a collection: one namespace's, or all of the resource with None."""
    base = resource_prefix(resource)
    return f"{base}{namespace}/" if namespace else base


def object_key(resource: str, namespace: str | None, name: str) -> str:
    return f"{collection_prefix(resource, namespace)}{name}"


def compact_json(value: object) -> bytes:
    """The API server's one JSON encoding: compact, UTF-8 (stored values, replies, events)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def event_line(event_type: str, object_json: bytes) -> bytes:
    """A watch stream line, ``{"type":"ADDED","object":{...}}\n``, around encoded JSON."""
    return b'{"type":"' + event_type.encode() + b'","object":' + object_json + b"}\n"


def encode_object(obj: JsonObject) -> bytes:
    """The stored bytes of `obj` (its resourceVersion dropped; `obj` is not changed)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return compact_json(obj)


def decode_object(value: bytes, revision: int) -> JsonObject:
    """The object stored as `value`, with resourceVersion = `revision` (a new dict)."""
    obj: JsonObject = json.loads(value)
    meta = obj.setdefault("metadata", {})
    meta["resourceVersion"] = format_resource_version(revision)
    return obj
