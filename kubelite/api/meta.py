"""Server-owned object metadata: what create and update set, keep and drop, and its formats.

The API server's write path calls `prepare_create` or `prepare_update` on the decoded body
before validation and storage; the store then stamps ``metadata.resourceVersion`` with
`format_resource_version` of its revision. Everything that would make these functions
impure (the clock, uuid4, randomness) comes in as arguments::

    prepare_create({"metadata": {"generateName": "web-"}}, namespace="default",
                   now=datetime(2024, 1, 1, tzinfo=UTC), new_uid="0b1c…", random_suffix="x2k8q")
    -> {"metadata": {"generateName": "web-", "name": "web-x2k8q", "namespace": "default",
                     "uid": "0b1c…", "creationTimestamp": "2024-01-01T00:00:00Z",
                     "generation": 1}}

Update scopes (upstream's main-resource and ``/status`` strategies):

==========  ==================================  ===============================================
scope       taken from the request              generation +1 when
==========  ==================================  ===============================================
MAIN        everything but ``status``           anything outside metadata and status changed
STATUS      ``status`` only                     never
WHOLE       everything (kinds without /status)  anything outside metadata changed
==========  ==================================  ===============================================

It also owns timestamp formats (``metav1.Time`` and ``MicroTime``), resourceVersion strings and
the ownerReference helpers controllers use (`owner_reference`, `controller_of`).
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kubelite.api.errors import BadRequestError, GroupKind, InvalidError, field_invalid
from kubelite.api.labels import go_quote

JsonObject = dict[str, Any]

# Upstream's utilrand alphabet: no vowels (no accidental words) and no 0/1/3 (look-alikes).
NAME_SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LENGTH: Final = 5
_MAX_NAME_LENGTH: Final = 63
_MAX_GENERATED_BASE: Final = _MAX_NAME_LENGTH - NAME_SUFFIX_LENGTH

NAMESPACE_MISMATCH: Final = (
    "the namespace of the provided object does not match the namespace sent on the request"
)

# Client-sent fields the server owns on create; each is dropped or overwritten.
_SERVER_OWNED_ON_CREATE: Final = (
    "resourceVersion",
    "uid",
    "selfLink",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_GO_RFC3339_LAYOUT: Final = "2006-01-02T15:04:05Z07:00"


# --- names -----------------------------------------------------------------------------------


def random_name_suffix(randbelow: Callable[[int], int]) -> str:
    """Five characters from upstream's alphabet; pass ``secrets.randbelow`` or a seeded RNG's."""
    alphabet = NAME_SUFFIX_ALPHABET
    return "".join(alphabet[randbelow(len(alphabet))] for _ in range(NAME_SUFFIX_LENGTH))


def generate_name(base: str, suffix: str) -> str:
    """Upstream's SimpleNameGenerator: the base cut to 58 characters, then the random suffix."""
    return base[:_MAX_GENERATED_BASE] + suffix


# --- timestamps ------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC: the Python client serialises naive ones without offset.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _seconds(utc: datetime) -> str:
    # Not strftime: glibc's %Y does not pad years below 1000 to four digits.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )


def format_time(moment: datetime) -> str:
    """``metav1.Time``: RFC 3339 in UTC, whole seconds, ``Z`` (``2024-01-01T00:00:00Z``)."""
    return _seconds(_utc(moment)) + "Z"


def format_micro_time(moment: datetime) -> str:
    """``metav1.MicroTime``: six decimals (``2024-01-01T00:00:00.000000Z``)."""
    utc = _utc(moment)
    return f"{_seconds(utc)}.{utc.microsecond:06d}Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp, with offsets and fractions as clients send; UTC result.

    Raises `BadRequestError` for anything else, as upstream's JSON decoding does.
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise BadRequestError(
            f"parsing time {go_quote(str(text))} as {go_quote(_GO_RFC3339_LAYOUT)}: "
            "cannot parse as RFC 3339"
        )
    fraction = match.group("fraction") or ""
    zone = match.group("zone") or ""
    zone = "+00:00" if zone in ("Z", "z") else zone
    # Go emits up to nine decimals; Python keeps six.
    normalized = f"{text[:10]}T{text[11:19]}{fraction[:7]}{zone}"
    try:
        return _utc(datetime.fromisoformat(normalized))
    except (ValueError, OverflowError) as error:  # month 13; an offset past year 1 or 9999
        raise BadRequestError(
            f"parsing time {go_quote(text)} as {go_quote(_GO_RFC3339_LAYOUT)}: {error}"
        ) from error


def normalize_time(text: str) -> str:
    """A client timestamp as the server stores and returns it (``metav1.Time``)."""
    return format_time(parse_time(text))


def normalize_micro_time(text: str) -> str:
    """A client timestamp as the server stores and returns it (``MicroTime``)."""
    return format_micro_time(parse_time(text))


# --- resourceVersion -------------------------------------------------------------------------


def format_resource_version(revision: int) -> str:
    """The opaque string clients see for a store revision."""
    if revision < 0:
        raise ValueError(f"revision must be non-negative, got {revision}")
    return str(revision)


def parse_resource_version(text: str) -> int | None:
    """A client's resourceVersion as a revision; ``None`` when unset (empty).

    Bad values get upstream's list/watch answer: 400 ``invalid resource version: ...``.
    """
    if text == "":
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    raise BadRequestError(
        f"invalid resource version: resourceVersion: Invalid value: {go_quote(text)}: "
        f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax"
    )


def with_resource_version(obj: Mapping[str, Any], revision: int) -> JsonObject:
    """A copy of `obj` with ``metadata.resourceVersion`` set to `revision`."""
    result = copy.deepcopy(dict(obj))
    _metadata(result)["resourceVersion"] = format_resource_version(revision)
    return result


# --- create and update -----------------------------------------------------------------------


def _metadata(obj: JsonObject) -> JsonObject:
    meta = obj.setdefault("metadata", {})
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise BadRequestError("metadata must be an object")
    return meta


def prepare_create(
    obj: Mapping[str, Any],
    *,
    namespace: str | None,
    now: datetime,
    new_uid: str,
    random_suffix: str,
    status_subresource: bool = False,
) -> JsonObject:
    """The object to store for a create, from the decoded request body (which is not changed).

    `namespace` is the URL's, ``None`` for cluster-scoped kinds (whose body namespace is
    cleared, as upstream does). With `status_subresource` the client's status is reset to
    ``{}`` for the kind's defaulting to fill in.
    """
    result = copy.deepcopy(dict(obj))
    meta = _metadata(result)
    if namespace is None:
        meta.pop("namespace", None)
    else:
        if meta.get("namespace") not in (None, "", namespace):
            raise BadRequestError(NAMESPACE_MISMATCH)
        meta["namespace"] = namespace
    for key in _SERVER_OWNED_ON_CREATE:
        meta.pop(key, None)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(str(meta["generateName"]), random_suffix)
    meta["uid"] = new_uid
    meta["creationTimestamp"] = format_time(now)
    meta["generation"] = 1
    if status_subresource:
        result["status"] = {}
    return result


class UpdateScope(enum.Enum):
    """Which part of the object an update may change (see the module docstring's table)."""

    MAIN = "main"
    STATUS = "status"
    WHOLE = "whole"


def generation_relevant(obj: Mapping[str, Any], scope: UpdateScope) -> dict[str, Any]:
    """The top-level fields whose change bumps ``metadata.generation`` under `scope`.

    ``kind`` and ``apiVersion`` are left out: clients may omit them from the body.
    """
    ignored = {"metadata", "kind", "apiVersion"}
    if scope is not UpdateScope.WHOLE:
        ignored.add("status")
    return {key: value for key, value in obj.items() if key not in ignored}


def _group_kind(*objs: Mapping[str, Any]) -> GroupKind:
    for obj in objs:
        if obj.get("kind"):
            api_version = str(obj.get("apiVersion", ""))
            group = api_version.rpartition("/")[0]
            return GroupKind(group, str(obj["kind"]))
    return GroupKind("", "")


def _check_uid(old: Mapping[str, Any], new: JsonObject) -> None:
    old_meta = old.get("metadata") or {}
    new_uid = _metadata(new).get("uid")
    if new_uid and new_uid != old_meta.get("uid", ""):
        name = str(old_meta.get("name", ""))
        error = field_invalid("metadata.uid", new_uid, "field is immutable")
        raise InvalidError(_group_kind(new, old), name, [error])


def _set_or_drop(obj: JsonObject, key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = copy.deepcopy(value)


def prepare_update(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    scope: UpdateScope = UpdateScope.MAIN,
) -> JsonObject:
    """The object to store for an update of stored `old` with request body `new`.

    Server-owned metadata (uid, creationTimestamp, deletion fields, generation) is kept from
    `old`; a different uid in the body is a 422, a different namespace a 400, as upstream. The
    body's resourceVersion is kept for the caller's precondition check; the store overwrites it.
    """
    request = copy.deepcopy(dict(new))
    _check_uid(old, request)
    old_meta: Mapping[str, Any] = old.get("metadata") or {}
    if scope is UpdateScope.STATUS:
        # Upstream ResetObjectMetaForStatus: a status write changes status and nothing else.
        result = copy.deepcopy(dict(old))
        _set_or_drop(result, "status", request.get("status"))
        if "resourceVersion" in _metadata(request):
            _metadata(result)["resourceVersion"] = request["metadata"]["resourceVersion"]
        return result
    result = request
    meta = _metadata(result)
    old_namespace = old_meta.get("namespace")
    if old_namespace:
        if meta.get("namespace") not in (None, "", old_namespace):
            raise BadRequestError(NAMESPACE_MISMATCH)
        meta["namespace"] = old_namespace
    else:
        meta.pop("namespace", None)
    meta.pop("selfLink", None)
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        _set_or_drop(meta, key, old_meta.get(key))
    if scope is UpdateScope.MAIN:
        _set_or_drop(result, "status", old.get("status"))
    generation = int(old_meta.get("generation", 1))
    if generation_relevant(old, scope) != generation_relevant(result, scope):
        generation += 1
    meta["generation"] = generation
    return result


# --- ownerReferences -------------------------------------------------------------------------


def owner_reference(
    owner: Mapping[str, Any], *, controller: bool = True, block_owner_deletion: bool = True
) -> JsonObject:
    """The ownerReference a controller puts on the objects it creates for `owner`."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def owner_references(obj: Mapping[str, Any]) -> list[JsonObject]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [ref for ref in refs if isinstance(ref, dict)]


def controller_of(obj: Mapping[str, Any]) -> JsonObject | None:
    """The ownerReference with ``controller: true``, if any (upstream ``GetControllerOf``)."""
    for ref in owner_references(obj):
        if ref.get("controller") is True:
            return ref
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether `owner` (matched by uid) is `obj`'s controller."""
    ref = controller_of(obj)
    owner_uid = (owner.get("metadata") or {}).get("uid")
    return ref is not None and bool(owner_uid) and ref.get("uid") == owner_uid
