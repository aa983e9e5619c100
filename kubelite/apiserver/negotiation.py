"""Content negotiation: decoding request bodies and choosing between objects and Tables.

Pure. Request bodies are JSON (with or without a Content-Type: the Python client sends
none) or YAML; Protobuf and anything else is 415. Replies are JSON; a request whose Accept
asks for ``as=Table;g=meta.k8s.io`` (what ``kubectl get`` sends) gets a Table instead.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import yaml

from kubelite.api.errors import BadRequestError, UnsupportedMediaError
from kubelite.api.patch import loads_strict_json, media_type_of

JSON_TYPES: Final = ("application/json", "")
YAML_TYPES: Final = ("application/yaml", "application/x-yaml", "text/yaml")
ACCEPTED_BODY_TYPES: Final = ("application/json", "application/yaml")
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
"""Upstream's request body limit (3 MiB); larger bodies are answered with 413."""


def decode_json(body: bytes) -> Any:
    try:
        return loads_strict_json(body)
    except ValueError as error:
        raise BadRequestError(f"the request body is not valid JSON: {error}") from None


def decode_body(content_type: str | None, body: bytes) -> Any:
    """The object in a create/update/delete body; None for an empty body."""
    kind = media_type_of(content_type)
    if not body.strip():
        return None
    if kind in JSON_TYPES:
        return decode_json(body)
    if kind in YAML_TYPES:
        return _decode_yaml(body)
    raise UnsupportedMediaError(ACCEPTED_BODY_TYPES)


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: upstream's YAML decoder keeps them as strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 wants a dot and a signed exponent in a float; JSON (and upstream's go-yaml) do not.
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


def _decode_yaml(body: bytes) -> Any:
    try:
        value = yaml.load(body, Loader=_YamlLoader)
        # Upstream converts YAML to JSON: keys become strings; NaN, ``!!binary`` and
        # explicit ``!!timestamp`` values are refused instead of reaching the store.
        return json.loads(json.dumps(value, allow_nan=False))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        raise BadRequestError(f"the request body is not valid YAML: {error}") from None


def wants_table(accept: str | None) -> bool:
    """Whether the Accept header asks for a ``meta.k8s.io`` Table before plain JSON."""
    for part in (accept or "").split(","):
        params = {
            key.strip(): value.strip()
            for key, _, value in (p.partition("=") for p in part.split(";")[1:])
        }
        if media_type_of(part) == "application/json" and params.get("as") == "Table":
            return params.get("g") == "meta.k8s.io"
        if media_type_of(part) in ("application/json", "*/*"):
            return False
    return False
