"""List and watch options: parsing the query, matching objects, and continue tokens.

Pure. The REST and gRPC shells turn their request into `ListOptions` with
`parse_list_options`; the registry filters with `ListOptions.matches` and pages with
`encode_continue` / `decode_continue`. The continue token is opaque to clients: base64 of
``{"rv": <revision the first page was read at>, "start": "<next key>"}``, so every page of
one list is read at the same revision, like upstream's.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.api.errors import (
    BadRequestError,
    GroupKind,
    InvalidError,
    field_forbidden,
    field_not_supported,
)
from kubelite.api.fields import (
    FieldSelector,
    FieldSelectorError,
    convert_field_selector,
    field_set,
    parse_field_selector,
)
from kubelite.api.labels import LabelSelector, SelectorError, parse_label_selector
from kubelite.api.meta import parse_resource_version

MAX_LIMIT: Final = 100_000
MIN_REQUEST_TIMEOUT_S: Final = 1800.0
"""Without timeoutSeconds a watch ends after 1 to 2 times this (upstream --min-request-timeout)."""
RV_MATCH_VALUES: Final = ("", "NotOlderThan", "Exact")
_BAD_CONTINUE: Final = "continue key is not valid: incorrect encoded start resourceVersion"


def _empty_labels() -> LabelSelector:
    return parse_label_selector("")


def _empty_fields() -> FieldSelector:
    return parse_field_selector("")


@dataclass(frozen=True)
class ListOptions:
    """A list or watch request's selectors, paging and resourceVersion."""

    resource: str
    labels: LabelSelector = field(default_factory=_empty_labels)
    fields: FieldSelector = field(default_factory=_empty_fields)
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    allow_bookmarks: bool = False
    timeout_seconds: int | None = None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        if not self.labels.empty and not self.labels.matches(metadata.get("labels") or {}):
            return False
        return self.fields.empty or self.fields.matches(field_set(self.resource, obj))

    def watch_seconds(self, random_fraction: float) -> float:
        """How long a watch may last: ``timeoutSeconds``, else 1 to 2 times the minimum request
        timeout (`random_fraction` in [0, 1)), so that clients do not all re-watch at once."""
        if self.timeout_seconds:
            return float(self.timeout_seconds)
        return MIN_REQUEST_TIMEOUT_S * (1 + random_fraction)

    @property
    def revision(self) -> int | None:
        """The resourceVersion as a revision; None when unset. ``"0"`` gives 0."""
        if self.resource_version == "":
            return None
        return parse_resource_version(self.resource_version)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"invalid value for {name}: {raw!r}: must be an integer") from None
    if value < 0:
        raise BadRequestError(f"invalid value for {name}: {raw!r}: must not be negative")
    return value


def _check_resource_version_match(rv_match: str, rv: str, token: str) -> None:
    """Upstream's ListOptions validation: every problem at once, as one 422 Invalid."""
    if not rv_match:
        return
    path = "resourceVersionMatch"
    errors = []
    if not rv:
        errors.append(
            field_forbidden(
                path, "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        )
    if token:
        errors.append(
            field_forbidden(path, "resourceVersionMatch is forbidden when continue is provided")
        )
    if rv_match not in RV_MATCH_VALUES:
        errors.append(field_not_supported(path, rv_match, ("Exact", "NotOlderThan", "")))
    if rv_match == "Exact" and rv == "0":
        errors.append(
            field_forbidden(
                path, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
            )
        )
    if errors:
        raise InvalidError(GroupKind("meta.k8s.io", "ListOptions"), "", errors)


def parse_list_options(resource: str, query: Mapping[str, str]) -> ListOptions:
    """`ListOptions` from URL query parameters; 400 with upstream's wording on bad input."""
    try:
        labels = parse_label_selector(query.get("labelSelector", ""))
    except SelectorError as error:
        raise BadRequestError(error.message) from None
    try:
        fields = convert_field_selector(
            resource, parse_field_selector(query.get("fieldSelector", ""))
        )
    except FieldSelectorError as error:
        raise BadRequestError(str(error)) from None
    rv = query.get("resourceVersion", "")
    if rv and parse_resource_version(rv) is None:
        raise BadRequestError(f"invalid resource version: {rv!r}")
    rv_match = query.get("resourceVersionMatch", "")
    token = query.get("continue", "")
    _check_resource_version_match(rv_match, rv, token)
    limit = min(_int_param(query, "limit") or 0, MAX_LIMIT)
    if token and rv not in ("", "0"):
        raise BadRequestError("specifying resource version is not allowed when using continue")
    return ListOptions(
        resource=resource,
        labels=labels,
        fields=fields,
        limit=limit,
        continue_token=token,
        resource_version=rv,
        resource_version_match=rv_match,
        allow_bookmarks=_flag(query.get("allowWatchBookmarks")),
        timeout_seconds=_int_param(query, "timeoutSeconds"),
    )


def is_watch(query: Mapping[str, str]) -> bool:
    return _flag(query.get("watch"))


def encode_continue(revision: int, next_key: str) -> str:
    raw = json.dumps({"rv": revision, "start": next_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """The (revision, start key) of a continue token; 400 if it was not made by us."""
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        revision, start = decoded["rv"], decoded["start"]
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        raise BadRequestError(_BAD_CONTINUE) from None
    if type(revision) is not int or not isinstance(start, str) or revision <= 0:
        raise BadRequestError(_BAD_CONTINUE)
    return revision, start
