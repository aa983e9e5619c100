"""PATCH bodies: decode one, apply it to a stored object, say what went wrong in a typed error.

This module owns the one entry point the API server calls, `apply_patch`, and the two patch
types that need no knowledge of the kind:

- JSON patch (RFC 6902, ``application/json-patch+json``): a list of operations, applied by the
  ``jsonpatch`` library (pinned ``jsonpatch==1.47``), with the limits the API server enforces
  upstream: at most 10000 operations, and at most 3 MiB copied by ``copy`` operations.
- JSON merge patch (RFC 7386, ``application/merge-patch+json``): ``null`` deletes, objects merge
  recursively, anything else replaces.

Strategic merge patch (``application/strategic-merge-patch+json``) is `kubelite.api.strategic`,
driven by the merge keys in `kubelite.api.mergekeys`; it is refused with 415 for a kind without
them, as upstream refuses it for custom resources. Errors are `kubelite.api.patcherrors`, which
says the HTTP status of each.

Worked example, ``kubectl cordon``::

    apply_patch(("", "v1", "Node"), node, b'{"spec":{"unschedulable":true}}',
                "application/strategic-merge-patch+json")

returns a copy of ``node`` with ``spec.unschedulable`` set. No function here changes its
arguments, and results share nothing mutable with them, so callers may pass cached objects.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any, Final

import jsonpatch

from kubelite.api.mergekeys import KindKey, schema_for
from kubelite.api.patcherrors import (
    MalformedPatchError,
    PatchError,
    PatchNotApplicableError,
    TooManyPatchOperationsError,
    UnsupportedPatchTypeError,
)
from kubelite.api.strategic import apply_strategic_merge_patch, json_type

__all__ = [
    "JSON_PATCH",
    "MAX_JSON_PATCH_COPY_BYTES",
    "MAX_JSON_PATCH_OPERATIONS",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "MalformedPatchError",
    "PatchError",
    "PatchNotApplicableError",
    "TooManyPatchOperationsError",
    "UnsupportedPatchTypeError",
    "accepted_patch_types",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "decode_patch_body",
    "json_merge_patch",
    "loads_strict_json",
]

JsonObject = dict[str, Any]
PatchBody = bytes | bytearray | str | Mapping[str, Any] | list[Any]

JSON_PATCH: Final = "application/json-patch+json"
MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"

MAX_JSON_PATCH_OPERATIONS: Final = 10_000
"""Upstream's ``maxJSONPatchOperations``; more is 413."""

MAX_JSON_PATCH_COPY_BYTES: Final = 3 * 1024 * 1024
"""Upstream's ``JSONPatchMaxCopyBytes``: ``copy`` ops may add at most this much JSON, so that
a short patch cannot double a document thousands of times."""

_MAX_MESSAGE: Final = 200
_JSON_PATCH_OPS: Final = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def accepted_patch_types(kind_key: KindKey) -> tuple[str, ...]:
    """The patch media types `apply_patch` accepts for a kind."""
    if schema_for(kind_key) is None:
        return (JSON_PATCH, MERGE_PATCH)
    return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def media_type_of(content_type: str | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8`` (parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def apply_patch(
    kind_key: KindKey, original: Mapping[str, Any], body: PatchBody, content_type: str | None
) -> JsonObject:
    """Apply a PATCH request's body to ``original``, an object of kind ``kind_key``.

    ``body`` is the raw request body, or an already decoded JSON value. ``content_type`` is the
    request's Content-Type header; parameters such as ``charset`` are ignored.
    Raises a `PatchError`; an unknown content type is checked before the body is read.
    """
    media_type = media_type_of(content_type)
    if media_type == JSON_PATCH:
        return apply_json_patch(original, decode_patch_body(body))
    if media_type == MERGE_PATCH:
        return apply_merge_patch(original, decode_patch_body(body))
    schema = schema_for(kind_key)
    if media_type == STRATEGIC_MERGE_PATCH and schema is not None:
        patch = _patch_object(decode_patch_body(body), "strategic merge patch")
        return apply_strategic_merge_patch(schema, dict(original), patch)
    raise UnsupportedPatchTypeError(media_type, accepted_patch_types(kind_key))


def decode_patch_body(body: PatchBody) -> Any:
    """The JSON value of a request body; an already decoded value is returned as it is.

    Refuses what Go's decoder refuses and Python's accepts: NaN, Infinity, out-of-range numbers.
    """
    if not isinstance(body, bytes | bytearray | str):
        return body
    try:
        return loads_strict_json(body)
    except ValueError as error:
        raise MalformedPatchError(f"the patch body is not valid JSON: {error}") from None


def loads_strict_json(body: bytes | bytearray | str) -> Any:
    """`json.loads` refusing what Go's decoder refuses (NaN, Infinity, huge numbers); every
    failure, including undecodable bytes and too deep nesting, is a `ValueError`."""
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("the document is nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _patch_object(patch: Any, patch_type: str) -> JsonObject:
    if not isinstance(patch, dict):
        raise MalformedPatchError(f"a {patch_type} must be a JSON object, got {json_type(patch)}")
    return patch


# ---- JSON patch (RFC 6902) -----------------------------------------------------------------


def apply_json_patch(original: Mapping[str, Any], operations: Any) -> JsonObject:
    """Apply a decoded RFC 6902 patch; all operations or none take effect.

    A body that is not a list of objects is 400; a failing operation (a missing path, a failed
    ``test``, an unknown ``op``) is 422, as upstream answers each.
    """
    checked = _json_patch_operations(operations)
    document: Any = copy.deepcopy(dict(original))
    copied = 0
    for index, operation in enumerate(checked):
        if operation.get("op") == "copy":
            copied += _copied_size(document, operation, index)
            if copied > MAX_JSON_PATCH_COPY_BYTES:
                raise PatchNotApplicableError(
                    f"{_describe(operation, index)}: unable to copy, the patch would copy more "
                    f"than {MAX_JSON_PATCH_COPY_BYTES} bytes"
                )
        document = _apply_operation(document, operation, index)
    if not isinstance(document, dict):
        raise PatchNotApplicableError(
            f"the patched document must be a JSON object, got {json_type(document)}"
        )
    return document


def _json_patch_operations(operations: Any) -> list[JsonObject]:
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise MalformedPatchError("a JSON patch must be a JSON array of operation objects")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise TooManyPatchOperationsError(len(operations), MAX_JSON_PATCH_OPERATIONS)
    for index, operation in enumerate(operations):
        if operation.get("op") not in _JSON_PATCH_OPS:
            raise PatchNotApplicableError(
                f"{_describe(operation, index)}: unknown operation, expected one of "
                f"{', '.join(sorted(_JSON_PATCH_OPS))}"
            )
    return operations


def _apply_operation(document: Any, operation: JsonObject, index: int) -> Any:
    """Apply one operation in place (``document`` is our copy) and return the new document."""
    try:
        return jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise PatchNotApplicableError(f"{_describe(operation, index)}: {_brief(error)}") from None


def _copied_size(document: Any, operation: JsonObject, index: int) -> int:
    """The size in bytes of the JSON that a ``copy`` operation copies."""
    source = operation.get("from")
    if not isinstance(source, str):
        raise PatchNotApplicableError(f"{_describe(operation, index)}: 'from' must be a string")
    try:
        value = jsonpatch.JsonPointer(source).resolve(document)
    except jsonpatch.JsonPointerException as error:
        raise PatchNotApplicableError(f"{_describe(operation, index)}: {_brief(error)}") from None
    return len(json.dumps(value, separators=(",", ":")))


def _describe(operation: JsonObject, index: int) -> str:
    return f"json patch operation {index} ({operation.get('op')!r} {operation.get('path')!r})"


def _brief(error: Exception) -> str:
    """The library's message, cut short: some quote the whole document."""
    message = str(error)
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


# ---- JSON merge patch (RFC 7386) -----------------------------------------------------------


def apply_merge_patch(original: Mapping[str, Any], patch: Any) -> JsonObject:
    """Apply a decoded RFC 7386 merge patch to an object; the patch must be an object too."""
    return _merge_into(copy.deepcopy(dict(original)), _patch_object(patch, "merge patch"))


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 ``MergePatch(target, patch)`` for any JSON values; returns a new value.

    One refinement, as Kubernetes' library does: a value taken from the patch loses its null
    object members at every depth, also inside arrays, so no ``null`` is ever stored.
    """
    if not isinstance(patch, dict):
        return _without_null_members(patch)
    return _merge_into(copy.deepcopy(target) if isinstance(target, dict) else {}, patch)


def _merge_into(target: JsonObject, patch: JsonObject) -> JsonObject:
    """Merge ``patch`` into ``target``, which is ours to change."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = _without_null_members(value)
    return target


def _without_null_members(value: Any) -> Any:
    """A fresh copy of a patch value without null object members."""
    if isinstance(value, dict):
        return {k: _without_null_members(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_members(item) for item in value]
    return value
