"""Per-kind write decisions: what create, update, delete, binding and scale turn a request into.

Everything here is pure: the registry (`kubelite.apiserver.registry`) reads the stored object,
calls one of these functions with the clock, uid and random suffix as arguments, and makes one
conditional write of the result. The rules are upstream's strategies, restricted to the kinds
kubelite serves:

- create: server-owned metadata (`kubelite.api.meta`), defaults, validation -> 422 Invalid.
- update: scope (main resource vs ``/status``), generation, defaults, validation, and the
  finalizer rules (no new finalizers once deletion started; an object whose last finalizer
  goes away while it is being deleted is removed for real).
- delete: `plan_delete` says whether the object goes now or is marked (finalizers,
  propagation policy, graceful pod deletion).
- pods/binding, pods/eviction options, and ``/scale`` for the scalable kinds.
- fieldValidation: every body (and every patched object) loses the fields its kind does not
  have (`kubelite.api.fieldschema`); ``Strict`` turns them into a 400, ``Warn`` into
  ``Warning`` headers collected by a per-request `WarningRecorder`, ``Ignore`` says nothing.

It runs past 400 lines because it is the one place for every per-kind write decision; each
section above is short and independent, and the registry reads as a list of calls into it.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from kubelite.api import meta
from kubelite.api.defaults import apply_defaults
from kubelite.api.errors import (
    BadRequestError,
    ConflictError,
    GroupKind,
    GroupResource,
    InvalidError,
)
from kubelite.api.fieldschema import schema_for_kind
from kubelite.api.fieldvalidation import (
    FieldValidation,
    StrictError,
    WarningRecorder,
    check_fields,
    patch_body_problems,
    strict_decoding_message,
)
from kubelite.api.labels import format_label_selector, go_quote
from kubelite.api.mergekeys import KindKey
from kubelite.api.patch import JSON_PATCH, media_type_of
from kubelite.api.resources import ResourceInfo
from kubelite.api.validation import forbidden, go_string_slice, invalid, validate

JsonObject = dict[str, Any]

DEFAULT_POD_GRACE_SECONDS: Final = 30
FOREGROUND_FINALIZER: Final = "foregroundDeletion"
ORPHAN_FINALIZER: Final = "orphan"
NAMESPACE_FINALIZER: Final = "kubernetes"
PROPAGATION_POLICIES: Final = ("Background", "Foreground", "Orphan")
_TERMINAL_PHASES: Final = ("Succeeded", "Failed")
_CREATE_ON_UPDATE: Final = frozenset({"endpoints", "events", "leases"})
"""Resources whose PUT creates a missing object (upstream ``AllowCreateOnUpdate``)."""


def group_resource(info: ResourceInfo) -> GroupResource:
    return GroupResource(info.group, info.plural)


def group_kind(info: ResourceInfo) -> GroupKind:
    return GroupKind(info.group, info.kind)


def kind_key(info: ResourceInfo) -> KindKey:
    return (info.group, info.version, info.kind)


BINDING_KIND: Final[KindKey] = ("", "v1", "Binding")
EVICTION_KIND: Final[KindKey] = ("policy", "v1", "Eviction")
SCALE_KIND: Final[KindKey] = ("autoscaling", "v1", "Scale")


def has_status(info: ResourceInfo) -> bool:
    return info.subresource("status") is not None


def allows_create_on_update(info: ResourceInfo) -> bool:
    return info.plural in _CREATE_ON_UPDATE


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _meta(obj: JsonObject) -> JsonObject:
    value = obj.setdefault("metadata", {})
    assert isinstance(value, dict)
    return value


# --- request bodies --------------------------------------------------------------------------


def check_body_type(info: ResourceInfo, body: object, *, expected_kind: str = "") -> JsonObject:
    """The request body as an object of the resource's kind; 400 for anything else.

    ``kind``/``apiVersion`` may be absent (the Python client drops them); when present they
    must name the resource's type.
    """
    kind = expected_kind or info.kind
    if not isinstance(body, dict):
        raise BadRequestError(f"the body of the request must be a {kind} object")
    body_kind = body.get("kind")
    if body_kind not in (None, "", kind):
        raise BadRequestError(
            f"{body_kind} in version {go_quote(str(body.get('apiVersion', '')))} cannot be "
            f"handled as a {kind}: the kind of the object does not match the kind of the resource"
        )
    body_version = body.get("apiVersion")
    if not expected_kind and body_version not in (None, "", info.api_version):
        raise BadRequestError(
            f"the API version in the data ({body_version}) does not match the expected API "
            f"version ({info.api_version})"
        )
    if body.get("metadata") is not None and not isinstance(body.get("metadata"), dict):
        raise BadRequestError("metadata must be an object")
    return body


def check_name_matches(info: ResourceInfo, body: JsonObject, url_name: str) -> None:
    body_name = name_of(body)
    if body_name and body_name != url_name:
        raise BadRequestError(
            f"the name of the object ({body_name}) does not match the name on the URL ({url_name})"
        )


def _raise_if_invalid(info: ResourceInfo, obj: JsonObject, old: JsonObject | None) -> None:
    errors = validate(info.group, info.version, info.kind, obj, old)
    if errors:
        raise InvalidError(group_kind(info), name_of(obj), errors)


_OMIT_WHEN_EMPTY: Final = ("labels", "annotations", "finalizers", "ownerReferences")


def _stamp_type(info: ResourceInfo, obj: JsonObject) -> None:
    """Set kind/apiVersion, and drop empty metadata maps and lists as upstream's omitempty."""
    obj["apiVersion"] = info.api_version
    obj["kind"] = info.kind
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        for key in _OMIT_WHEN_EMPTY:
            if key in metadata and metadata[key] in ({}, [], None):
                del metadata[key]


# --- fieldValidation -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDecoding:
    """How a write treats fields its kind does not have.

    `directive` is the request's ``fieldValidation`` (callers inside the server that set
    nothing get Ignore: unknown fields are dropped silently); `sorted_keys` is set for YAML
    bodies, whose problems upstream lists in key order; `warnings` collects Warn's warnings
    (upstream records them on the request's context, the REST shell turns them into headers).
    """

    directive: FieldValidation = FieldValidation.IGNORE
    sorted_keys: bool = False
    warnings: WarningRecorder = field(default_factory=WarningRecorder)


def _report(
    problems: Iterable[StrictError], decoding: FieldDecoding, message: Callable[[str], str]
) -> None:
    found = tuple(problems)
    if not found or decoding.directive is FieldValidation.IGNORE:
        return
    if decoding.directive is FieldValidation.STRICT:
        raise BadRequestError(message(strict_decoding_message(found)))
    for problem in found:
        decoding.warnings.add(str(problem))


def decode_fields(key: KindKey, body: object, decoding: FieldDecoding) -> Any:
    """A create/update body of kind `key` without the fields the kind lacks.

    Strict: 400 ``Pod in version "v1" cannot be handled as a Pod: strict decoding error:
    unknown field "spec.foo"`` (upstream's decode error); Warn: one warning per problem. A body
    that is not an object is returned as it is, for the caller to refuse.
    """
    schema = schema_for_kind(key)
    if schema is None or not isinstance(body, dict):
        return body
    check = check_fields(schema, body, sorted_keys=decoding.sorted_keys)
    _, version, kind = key
    prefix = f"{kind} in version {go_quote(version)} cannot be handled as a {kind}: "
    _report(check.problems, decoding, lambda text: prefix + text)
    return check.value


def patch_problems(
    content_type: str | None, body: bytes, decoding: FieldDecoding
) -> tuple[StrictError, ...]:
    """What a PATCH body itself gets reported for (its duplicated keys; a JSON patch's
    unknown operation fields), computed once per request; nothing when Ignore."""
    if decoding.directive is FieldValidation.IGNORE:
        return ()
    return patch_body_problems(body, json_patch=media_type_of(content_type) == JSON_PATCH)


def decode_patched(
    key: KindKey, patched: JsonObject, problems: tuple[StrictError, ...], decoding: FieldDecoding
) -> JsonObject:
    """A patched object of kind `key` without unknown fields. The patch body's own `problems`
    come first, then the patched object's in key order; Strict makes them a plain 400
    ``strict decoding error: ...`` (upstream's patch handler has no decode prefix)."""
    schema = schema_for_kind(key)
    if schema is None:
        return patched
    check = check_fields(schema, patched, sorted_keys=True)
    _report((*problems, *check.problems), decoding, lambda text: text)
    value: JsonObject = check.value
    return value


def known_fields_only(key: KindKey, obj: JsonObject) -> JsonObject:
    """A stored object without fields its kind lacks, silently: an object written before
    kubelite checked fields must not make every later patch of it fail under Strict."""
    schema = schema_for_kind(key)
    if schema is None:
        return obj
    value: JsonObject = check_fields(schema, obj).value
    return value


# --- create and update -----------------------------------------------------------------------


def prepare_create(
    info: ResourceInfo,
    body: JsonObject,
    *,
    namespace: str | None,
    now: datetime,
    new_uid: str,
    random_suffix: str,
) -> JsonObject:
    """The object to store for a create (defaulted and validated), or an `ApiError`."""
    obj = meta.prepare_create(
        body,
        namespace=namespace if info.namespaced else None,
        now=now,
        new_uid=new_uid,
        random_suffix=random_suffix,
        status_subresource=has_status(info) and info.plural != "nodes",
    )
    _stamp_type(info, obj)
    obj = apply_defaults(info.group, info.version, info.kind, obj)
    _raise_if_invalid(info, obj, None)
    return obj


class Scope(enum.Enum):
    MAIN = "main"
    STATUS = "status"


def _update_scope(info: ResourceInfo, scope: Scope) -> meta.UpdateScope:
    if scope is Scope.STATUS:
        return meta.UpdateScope.STATUS
    return meta.UpdateScope.MAIN if has_status(info) else meta.UpdateScope.WHOLE


def prepare_update(
    info: ResourceInfo, old: JsonObject, body: JsonObject, *, scope: Scope = Scope.MAIN
) -> JsonObject:
    """The object to store for a PUT/PATCH of stored `old` with the (patched) `body`."""
    obj = meta.prepare_update(old, body, scope=_update_scope(info, scope))
    _stamp_type(info, obj)
    obj = apply_defaults(info.group, info.version, info.kind, obj)
    _check_finalizers_update(info, old, obj)
    _raise_if_invalid(info, obj, old)
    return obj


def _finalizers(obj: Mapping[str, Any]) -> list[str]:
    values = (obj.get("metadata") or {}).get("finalizers") or []
    return [str(value) for value in values]


def _check_finalizers_update(info: ResourceInfo, old: JsonObject, new: JsonObject) -> None:
    if not (old.get("metadata") or {}).get("deletionTimestamp"):
        return
    added = set(_finalizers(new)) - set(_finalizers(old))
    if added:
        error = forbidden(
            "metadata.finalizers",
            f"no new finalizers can be added if the object is being deleted, "
            f"found new finalizers {go_string_slice(sorted(added))}",
        )
        raise InvalidError(group_kind(info), name_of(new), [error])


def should_delete_after_update(obj: Mapping[str, Any]) -> bool:
    """An object being deleted whose last finalizer is gone is removed for real.

    A pod still inside its grace period (``deletionGracePeriodSeconds`` > 0) stays until its
    node agent confirms, as upstream's pod strategy does.
    """
    metadata = obj.get("metadata") or {}
    if not metadata.get("deletionTimestamp") or _finalizers(obj):
        return False
    if obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
        return False  # the namespace controller still has content to remove
    return not metadata.get("deletionGracePeriodSeconds")


# --- delete ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteOptions:
    """What a DELETE (body or query) asks for; see `parse_delete_options`."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


def _optional_int(value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequestError(f"{name} must be an integer")
    try:
        return int(str(value))
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {value!r}") from None


def parse_dry_run(value: object) -> bool:
    """``dryRun`` from a query (``"All"``) or a body (``["All"]``); anything else is a 400."""
    values = value if isinstance(value, list) else [] if value is None else [value]
    if any(item != "All" for item in values):
        raise BadRequestError(f"Invalid dry run value: {value!r}: supported value is All")
    return bool(values)


def parse_delete_options(body: object, query: Mapping[str, str]) -> DeleteOptions:
    """DeleteOptions from a JSON body and/or query parameters (the query wins when both)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequestError("the body of a delete request must be a DeleteOptions object")
    preconditions = body.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise BadRequestError("preconditions must be an object")
    grace = _optional_int(
        query.get("gracePeriodSeconds", body.get("gracePeriodSeconds")), "gracePeriodSeconds"
    )
    if grace is not None and grace < 0:
        grace = 1  # upstream: a negative grace period means "as soon as possible", i.e. 1
    policy = query.get("propagationPolicy", body.get("propagationPolicy"))
    if body.get("orphanDependents") is True and policy is None:
        policy = "Orphan"
    if policy is not None and policy not in PROPAGATION_POLICIES:
        raise InvalidError(
            GroupKind("", "DeleteOptions"),
            "",
            [invalid("propagationPolicy", policy, "must be Background, Foreground or Orphan")],
        )
    dry_run = parse_dry_run(query["dryRun"] if "dryRun" in query else body.get("dryRun"))
    return DeleteOptions(
        grace_period_seconds=grace,
        propagation_policy=str(policy) if policy is not None else None,
        precondition_uid=preconditions.get("uid"),
        precondition_resource_version=preconditions.get("resourceVersion"),
        dry_run=dry_run,
    )


def check_preconditions(info: ResourceInfo, obj: Mapping[str, Any], options: DeleteOptions) -> None:
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", ""))
    uid = options.precondition_uid
    if uid is not None and uid != metadata.get("uid"):
        why = (
            f"Precondition failed: UID in precondition: {uid}, "
            f"UID in object meta: {metadata.get('uid', '')}"
        )
        raise ConflictError(group_resource(info), name, why)
    rv = options.precondition_resource_version
    if rv is not None and rv != metadata.get("resourceVersion"):
        why = (
            f"Precondition failed: ResourceVersion in precondition: {rv}, "
            f"ResourceVersion in object meta: {metadata.get('resourceVersion', '')}"
        )
        raise ConflictError(group_resource(info), name, why)


@dataclass(frozen=True)
class DeleteNow:
    """Remove the object from the store."""


@dataclass(frozen=True)
class MarkDeleting:
    """Keep the object, now carrying deletion metadata: write `obj` (or nothing if unchanged)."""

    obj: JsonObject
    changed: bool


DeletePlan = DeleteNow | MarkDeleting


def _pod_grace(obj: Mapping[str, Any], options: DeleteOptions) -> int:
    """Upstream pod ``CheckGracefulDelete``: 0 means delete now."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        # Upstream BeforeDelete: a pending deletion changes only for an explicit grace period.
        if options.grace_period_seconds is None:
            return int(metadata.get("deletionGracePeriodSeconds") or 0)
        return max(options.grace_period_seconds, 0)
    if options.grace_period_seconds is not None:
        grace = options.grace_period_seconds
    else:
        grace = int(spec.get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE_SECONDS))
    if not spec.get("nodeName") or status.get("phase") in _TERMINAL_PHASES:
        return 0
    return max(grace, 0)


def plan_delete(
    info: ResourceInfo, obj: JsonObject, options: DeleteOptions, now: datetime
) -> DeletePlan:
    """Whether a DELETE removes `obj` now or marks it (finalizers, graceful pods, namespaces)."""
    result = copy.deepcopy(obj)
    finalizers = _finalizers(result)
    policy = options.propagation_policy
    if policy == "Foreground" and FOREGROUND_FINALIZER not in finalizers:
        finalizers.append(FOREGROUND_FINALIZER)
    elif policy == "Orphan" and ORPHAN_FINALIZER not in finalizers:
        finalizers.append(ORPHAN_FINALIZER)
    grace = _pod_grace(obj, options) if info.plural == "pods" else 0
    if info.plural == "namespaces":
        result.setdefault("status", {})["phase"] = "Terminating"
        spec_finalizers = (result.get("spec") or {}).get("finalizers") or []
        if spec_finalizers:
            finalizers = finalizers or []
            return _mark(result, obj, finalizers, 0, now, keep_without_finalizers=True)
    if not finalizers and grace == 0:
        return DeleteNow()
    return _mark(result, obj, finalizers, grace, now)


def _mark(
    result: JsonObject,
    old: JsonObject,
    finalizers: list[str],
    grace: int,
    now: datetime,
    *,
    keep_without_finalizers: bool = False,
) -> DeletePlan:
    metadata = _meta(result)
    if finalizers:
        metadata["finalizers"] = finalizers
    deadline = now + timedelta(seconds=grace)
    current_grace = metadata.get("deletionGracePeriodSeconds")
    if not metadata.get("deletionTimestamp"):
        metadata["deletionTimestamp"] = meta.format_time(deadline)
        metadata["deletionGracePeriodSeconds"] = grace
    elif current_grace is not None and grace < int(current_grace):
        # A second delete may only shorten the grace period (kubectl --grace-period=0 --force).
        if grace == 0 and not finalizers and not keep_without_finalizers:
            return DeleteNow()
        # Upstream BeforeDelete: the deadline moves back by the old grace and on by the new one
        # (never later than it was), but not into the past; a late graceful request gets 1 s.
        requested = meta.parse_time(str(metadata["deletionTimestamp"]))
        deadline = requested + timedelta(seconds=grace - int(current_grace))
        if deadline < now:
            deadline, grace = now, min(grace, 1)
        metadata["deletionTimestamp"] = meta.format_time(deadline)
        metadata["deletionGracePeriodSeconds"] = grace
    return MarkDeleting(result, result != old)


def finalize_namespace(old: JsonObject, body: object) -> JsonObject:
    """``namespaces/{n}/finalize``: `old` with only ``spec.finalizers`` taken from `body`.

    The body's resourceVersion, if any, stays a precondition; the namespace controller calls
    this once it has removed a namespace's content.
    """
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a Namespace object")
    finalizers = (body.get("spec") or {}).get("finalizers") or []
    result = copy.deepcopy(old)
    result.setdefault("spec", {})["finalizers"] = finalizers
    metadata = _meta(result)
    requested = (body.get("metadata") or {}).get("resourceVersion")
    if requested:
        metadata["resourceVersion"] = requested
    else:
        metadata.pop("resourceVersion", None)
    return result


# --- pods/binding ----------------------------------------------------------------------------


def binding_target(body: object, url_pod_name: str) -> str:
    """The node name a Binding names; 400 for a malformed body."""
    if not isinstance(body, dict):
        raise BadRequestError("the body of a binding must be a Binding object")
    target = body.get("target")
    metadata = body.get("metadata")
    if not isinstance(target, dict) or not isinstance(target.get("name"), str):
        raise InvalidError(
            GroupKind("", "Binding"),
            str(metadata.get("name", url_pod_name) if isinstance(metadata, dict) else url_pod_name),
            [invalid("target.name", target, "must name a node")],
        )
    node = target["name"]
    if not node:
        raise InvalidError(
            GroupKind("", "Binding"), url_pod_name, [invalid("target.name", node, "required")]
        )
    return str(node)


def bind_pod(pod: JsonObject, node_name: str, now: datetime) -> JsonObject:
    """The pod assigned to `node_name` with condition PodScheduled=True; 409 if bound already."""
    metadata = pod.get("metadata") or {}
    name = str(metadata.get("name", ""))
    binding = GroupResource("", "pods/binding")  # upstream's resource in these conflicts
    if metadata.get("deletionTimestamp"):
        why = f"pod {name} is being deleted, cannot be assigned to a host"
        raise ConflictError(binding, name, why)
    current = (pod.get("spec") or {}).get("nodeName")
    if current:
        why = f"pod {name} is already assigned to node {go_quote(str(current))}"
        raise ConflictError(binding, name, why)
    result = copy.deepcopy(pod)
    result.setdefault("spec", {})["nodeName"] = node_name
    status = result.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": meta.format_time(now),
        }
    )
    status["conditions"] = conditions
    return result


# --- scale -----------------------------------------------------------------------------------


def scale_of(obj: Mapping[str, Any]) -> JsonObject:
    """The autoscaling/v1 Scale view of a Deployment, ReplicaSet or StatefulSet."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    scale_meta = {
        key: metadata[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if key in metadata
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": int(spec.get("replicas", 0))},
        "status": {
            "replicas": int(status.get("replicas", 0)),
            "selector": format_label_selector(spec.get("selector")),
        },
    }


def apply_scale(info: ResourceInfo, obj: JsonObject, scale: object) -> JsonObject:
    """`obj` with spec.replicas taken from the Scale `scale` (422 on a bad value)."""
    if not isinstance(scale, dict):
        raise BadRequestError("the body must be a Scale object")
    spec, sent_meta = scale.get("spec") or {}, scale.get("metadata") or {}
    if not isinstance(spec, dict) or not isinstance(sent_meta, dict):
        raise BadRequestError("the body must be a Scale object")
    replicas = spec.get("replicas", 0)
    name = name_of(obj)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        error = invalid("spec.replicas", replicas, "must be an integer")
        raise InvalidError(GroupKind("autoscaling", "Scale"), name, [error])
    if replicas < 0:
        error = invalid("spec.replicas", replicas, "must be greater than or equal to 0")
        raise InvalidError(GroupKind("autoscaling", "Scale"), name, [error])
    result = copy.deepcopy(obj)
    result.setdefault("spec", {})["replicas"] = replicas
    scale_rv = sent_meta.get("resourceVersion")
    if scale_rv:
        _meta(result)["resourceVersion"] = scale_rv
    else:
        _meta(result).pop("resourceVersion", None)
    return result
