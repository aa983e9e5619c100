"""``fieldValidation``: finding unknown and duplicate fields in a request, as upstream decodes.

Upstream decodes a request body into Go structs: a field the struct lacks is an *unknown
field*, a key an object names twice is a *duplicate field*. Both are reported in the way the
request's ``fieldValidation`` directive asks (`FieldValidation`), and neither survives: unknown
fields never reach storage, and only the last of a duplicated key's values counts. This module
owns the pure parts, over the schemas of `kubelite.api.fieldschema`:

- `parse_field_validation`: the directive of a query (absent or ``""``: Warn, the API's
  documented default since v1.23); anything else is upstream's 422 on ``CreateOptions`` etc.;
- `loads_json_keeping_duplicates`: request JSON whose objects remember a duplicated key;
- `check_fields`: walk an object against a schema; the problems found, in upstream's order,
  and the object without its unknown fields;
- `patch_body_problems`: the duplicates in a patch body (and, for a JSON patch, unknown and
  duplicate fields of its operations), which upstream reports before the patched object's;
- `WarningRecorder`: what Warn reports, as upstream's per-request recorder keeps warnings,
  and `warning_header`, the ``Warning: 299 - "..."`` value carrying one.

Worked example, with ``pod = {"kind": "Pod", "spec": {"containers": [{"name": "a",
"imagePullPolcy": "x"}]}}``: ``check_fields(POD, pod)`` is a `FieldCheck` whose ``value`` is
``{"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}`` and whose ``problems`` are
``(StrictError(Problem.UNKNOWN, "spec.containers[0].imagePullPolcy"),)``, and
``strict_decoding_message(check.problems)`` is upstream's
``strict decoding error: unknown field "spec.containers[0].imagePullPolcy"``.

Order of the problems, as upstream reports them: for a decoded request body, the document's
order (a duplicate where its second occurrence stands, a key both unknown and duplicated only
as unknown); for a YAML body or a patched object, keys in sorted order (upstream sees those as
a Go map turned into JSON). No function here changes its arguments.
"""

from __future__ import annotations

import enum
import json
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubelite.api.errors import GroupKind, InvalidError, field_not_supported
from kubelite.api.fieldschema.nodes import ListOf, MapOf, Node, Struct
from kubelite.api.labels import go_quote


class FieldValidation(enum.Enum):
    """The ``fieldValidation`` directive of a create, update or patch."""

    IGNORE = "Ignore"
    WARN = "Warn"
    STRICT = "Strict"


DEFAULT_FIELD_VALIDATION: Final = FieldValidation.WARN
"""What an absent or empty ``fieldValidation`` means (the documented default since v1.23)."""

_SUPPORTED: Final = ("", "Ignore", "Strict", "Warn")  # upstream's sorted list, "" included


def parse_field_validation(value: str | None, options_kind: str) -> FieldValidation:
    """The directive a query's ``fieldValidation`` value names.

    `options_kind` is the options type upstream validates it on (``CreateOptions``,
    ``UpdateOptions``, ``PatchOptions``); a value it does not support is 422 Invalid, e.g.
    ``CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict":
    supported values: "", "Ignore", "Strict", "Warn"``.
    """
    if not value:
        return DEFAULT_FIELD_VALIDATION
    for directive in FieldValidation:
        if directive.value == value:
            return directive
    error = field_not_supported("fieldValidation", value, _SUPPORTED)
    raise InvalidError(GroupKind("meta.k8s.io", options_kind), "", [error])


class Problem(enum.Enum):
    UNKNOWN = "unknown field"
    DUPLICATE = "duplicate field"


@dataclass(frozen=True)
class StrictError:
    """One strict decoding error; ``str()`` is upstream's text (``unknown field "spec.x"``).

    `prefix` is ``"json patch "`` for the operations of a JSON patch, as upstream says it.
    """

    problem: Problem
    path: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"{self.prefix}{self.problem.value} {go_quote(self.path)}"


def strict_decoding_message(problems: Iterable[StrictError]) -> str:
    """Upstream's ``strict decoding error: <problem>, <problem>, ...``."""
    return "strict decoding error: " + ", ".join(str(p) for p in problems)


# --- decoding JSON that remembers duplicated keys ------------------------------------------


class DuplicateKeysDict(dict[str, Any]):
    """A JSON object that named a key more than once. It holds what Go keeps (each key's last
    value, at its first position); `key_order` is every key as the document named it."""

    key_order: tuple[str, ...] = ()


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    duplicated = DuplicateKeysDict(obj)
    duplicated.key_order = tuple(key for key, _ in pairs)
    return duplicated


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def loads_json_keeping_duplicates(body: bytes | bytearray | str) -> Any:
    """`kubelite.api.patch.loads_strict_json` (the same refusals, every failure a
    `ValueError`), except that an object with a duplicated key is a `DuplicateKeysDict`."""
    try:
        return json.loads(
            body,
            object_pairs_hook=_object_from_pairs,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise ValueError("the document is nested too deeply") from None


# --- walking an object against a schema ----------------------------------------------------


@dataclass(frozen=True)
class FieldCheck:
    """What `check_fields` found: `value` without unknown fields, and the `problems`."""

    value: Any
    problems: tuple[StrictError, ...]


def check_fields(schema: Node, value: Any, *, sorted_keys: bool = False) -> FieldCheck:
    """The unknown and duplicate fields of `value` under `schema`, and `value` without the
    unknown ones (the same object when there is nothing to drop).

    Values of the wrong JSON type (a list where an object belongs) are left to validation.
    Duplicates are only known of objects decoded by `loads_json_keeping_duplicates`; those
    come back as plain dicts wherever the schema reaches.
    """
    walker = _Walker(sorted_keys)
    cleaned = walker.walk(schema, value, "")
    return FieldCheck(cleaned, tuple(walker.problems))


_NESTED: Final = (Struct, MapOf, ListOf)
"""The shapes the walk descends into; below `Scalar` and `AnyFields` nothing is checked."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Walker:
    """One walk: the problems found so far, in the order they are met."""

    def __init__(self, sorted_keys: bool) -> None:
        self.sorted_keys = sorted_keys
        self.problems: list[StrictError] = []

    def walk(self, node: Node, value: Any, path: str) -> Any:
        if isinstance(node, Struct) and isinstance(value, dict):
            return self._object(value, path, node.fields, None)
        if isinstance(node, MapOf) and isinstance(value, dict):
            return self._object(value, path, None, node.values)
        if isinstance(node, ListOf) and isinstance(value, list):
            return self._list(node.items, value, path)
        return value  # a scalar, an open object, or a type mismatch for validation to report

    def _object(
        self,
        obj: dict[str, Any],
        path: str,
        fields: Mapping[str, Node] | None,
        values: Node | None,
    ) -> dict[str, Any]:
        """A struct (`fields`) or a map (every value of schema `values`)."""
        if fields is None and not isinstance(values, _NESTED) and type(obj) is dict:
            return obj  # a map of scalars (labels, data): no key of it can be unknown
        replaced: dict[str, Any] = {}
        dropped: set[str] = set()
        keys: Iterable[str] = sorted(obj) if self.sorted_keys else obj
        seen: set[str] | None = None
        if isinstance(obj, DuplicateKeysDict) and not self.sorted_keys:
            keys, seen = obj.key_order, set()
        for key in keys:
            if seen is not None:
                if key in seen:
                    if key not in dropped:  # unknown and duplicated: reported once, as unknown
                        self.problems.append(StrictError(Problem.DUPLICATE, _join(path, key)))
                    continue
                seen.add(key)
            child = values if fields is None else fields.get(key)
            if child is None:
                self.problems.append(StrictError(Problem.UNKNOWN, _join(path, key)))
                dropped.add(key)
                continue
            if not isinstance(child, _NESTED):
                continue  # a scalar or an open object: nothing below it to check
            value = obj[key]
            checked = self.walk(child, value, _join(path, key))
            if checked is not value:
                replaced[key] = checked
        if not replaced and not dropped and type(obj) is dict:
            return obj
        return {k: replaced.get(k, v) for k, v in obj.items() if k not in dropped}

    def _list(self, items: Node, values: list[Any], path: str) -> list[Any]:
        if not isinstance(items, _NESTED):
            return values
        checked = [self.walk(items, item, f"{path}[{i}]") for i, item in enumerate(values)]
        if all(new is old for new, old in zip(checked, values, strict=True)):
            return values
        return checked


# --- patch bodies ---------------------------------------------------------------------------

JSON_PATCH_OPERATION_FIELDS: Final = frozenset({"op", "path", "from", "value"})


def duplicate_fields(value: Any, path: str = "") -> list[StrictError]:
    """The duplicated keys anywhere in a decoded document, in document order.

    Iterative: no schema bounds a patch body's depth, and a document nested as deep as the
    JSON decoder allows must not exhaust the interpreter's stack here.
    """
    found: list[StrictError] = []
    # Each entry is a value to visit, or a StrictError to report when it is reached.
    pending: list[tuple[Any, str] | StrictError] = [(value, path)]
    while pending:
        entry = pending.pop()
        if isinstance(entry, StrictError):
            found.append(entry)
            continue
        current, where = entry
        steps: list[tuple[Any, str] | StrictError] = []
        if isinstance(current, DuplicateKeysDict):
            seen: set[str] = set()
            for key in current.key_order:
                if key in seen:
                    steps.append(StrictError(Problem.DUPLICATE, _join(where, key)))
                else:
                    seen.add(key)
                    steps.append((current[key], _join(where, key)))
        elif isinstance(current, dict):
            steps = [(item, _join(where, key)) for key, item in current.items()]
        elif isinstance(current, list):
            steps = [(item, f"{where}[{i}]") for i, item in enumerate(current)]
        pending.extend(reversed(steps))
    return found


def _json_patch_problems(operations: list[Any]) -> list[StrictError]:
    """Upstream decodes each operation strictly into {op, path, from, value}."""
    found: list[StrictError] = []
    for i, operation in enumerate(operations):
        if not isinstance(operation, dict):
            continue  # a malformed patch: applying it reports that
        seen: set[str] = set()
        keys = operation.key_order if isinstance(operation, DuplicateKeysDict) else operation
        for key in keys:
            path = f"[{i}].{key}"
            if key in seen:
                if key in JSON_PATCH_OPERATION_FIELDS:
                    found.append(StrictError(Problem.DUPLICATE, path, "json patch "))
                continue
            seen.add(key)
            if key not in JSON_PATCH_OPERATION_FIELDS:
                found.append(StrictError(Problem.UNKNOWN, path, "json patch "))
            elif key == "value":
                found.extend(
                    StrictError(p.problem, p.path, "json patch ")
                    for p in duplicate_fields(operation[key], path)
                )
    return found


def patch_body_problems(body: bytes | bytearray | str, json_patch: bool) -> tuple[StrictError, ...]:
    """What upstream reports of a patch body itself, before the patched object's problems:
    duplicated keys (merge and strategic merge patches), or the operations' unknown and
    duplicate fields (`json_patch`). A body that is not JSON has none: applying it fails."""
    try:
        decoded = loads_json_keeping_duplicates(body)
    except ValueError:
        return ()
    if json_patch:
        return tuple(_json_patch_problems(decoded)) if isinstance(decoded, list) else ()
    return tuple(duplicate_fields(decoded))


# --- warnings ------------------------------------------------------------------------------

WARNING_TOTAL_CHARS: Final = 4 * 1024
WARNING_ITEM_CHARS: Final = 256


def warning_header(text: str) -> str | None:
    """The value of a ``Warning`` header carrying `text` (``299 - "text"``, quotes and
    backslashes escaped); None for text a header cannot carry (control characters)."""
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return None
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


class WarningRecorder:
    """The warnings of one request, kept as upstream's recorder keeps them.

    Each text once, in order. While they fit in 4096 characters they go out whole; past
    that, every one (those already kept too) is cut to 256 characters, and once the cut ones
    fill 4096 characters again the rest are dropped. `headers` are the ``Warning`` values.
    """

    def __init__(self) -> None:
        self._texts: dict[str, None] = {}  # insertion-ordered set
        self._headers: list[str] = []
        self._written = 0
        self._truncating = False

    def add(self, text: str) -> None:
        if self._truncating and self._written >= WARNING_TOTAL_CHARS:
            return  # full: a body with thousands of unknown fields costs nothing more here
        if not text or text in self._texts:
            return
        self._texts[text] = None
        if not self._truncating and self._written + len(text) > WARNING_TOTAL_CHARS:
            self._truncating, self._written, self._headers = True, 0, []
            for kept in self._texts:
                self._write(kept)
            return
        self._write(text)

    def _write(self, text: str) -> None:
        if self._truncating:
            text = text[:WARNING_ITEM_CHARS]
        header = warning_header(text)
        if header is not None:
            self._written += len(text)
            self._headers.append(header)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(self._headers)
