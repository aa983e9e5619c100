"""Strategic-merge-patch metadata for the built-in kinds we serve: which lists merge, and by what.

Upstream keeps these facts in Go struct tags (``patchStrategy:"merge" patchMergeKey:"name"``) of
``k8s.io/api`` and ``k8s.io/apimachinery/pkg/apis/meta/v1``; this module records those facts,
read from kubernetes/api at commit 10b39a39 and kubernetes/apimachinery at eed236ce. A `Schema`
maps a JSON field name to its `FieldMeta`; a field that is absent from a schema has no metadata,
which means what it means upstream for an untagged field: objects merge key by key, lists are
replaced wholesale (atomic).

Only the paths that lead to a tagged field are written down. Tags beneath an atomic list never
apply (its items are replaced, never merged), so those are left out too: for example the merge
keys inside ``status.containerStatuses[]`` and ``spec.volumeClaimTemplates[]``.

Facts worth knowing, because they surprise people:

- ``tolerations``, node ``spec.taints``, ``args``, ``command``, ``envFrom``, endpoints
  ``subsets``, namespace ``spec.finalizers`` and service ``clusterIPs`` are atomic.
- ``metadata.finalizers`` and node ``spec.podCIDRs`` are merged as sets of strings.
- ``patchStrategy:"retainKeys"`` (deployment ``spec.strategy``, pod ``spec.volumes[]``) needs no
  entry: the ``$retainKeys`` directive is honoured wherever a patch carries it, as upstream does.

Worked example: ``schema_for(("apps", "v1", "Deployment"))["spec"].fields["template"]
.fields["spec"].fields["containers"]`` is ``FieldMeta(merge=True, merge_key="name", ...)``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

KindKey = tuple[str, str, str]
"""(group, version, kind), e.g. ``("apps", "v1", "Deployment")``; the core group is ``""``.

Any tuple with those three values works as a key, including a ``NamedTuple``.
"""


@dataclass(frozen=True)
class FieldMeta:
    """How strategic merge patch treats one field.

    ``merge``: the field is a list with ``patchStrategy:"merge"``: merged, not replaced.
    ``merge_key``: for a merged list of objects, the field that identifies an item; empty for a
    merged list of scalars, which is merged as a set.
    ``fields``: the schema of the field's value, or, for a list, of each item.
    """

    merge: bool = False
    merge_key: str = ""
    fields: Schema = field(default_factory=dict)


Schema = Mapping[str, FieldMeta]

NO_METADATA = FieldMeta()
"""What an unknown or untagged field gets: objects merge, lists are replaced."""


def _struct(fields: Schema) -> FieldMeta:
    return FieldMeta(fields=fields)


def _merge_by(merge_key: str, fields: Schema | None = None) -> FieldMeta:
    return FieldMeta(merge=True, merge_key=merge_key, fields=fields or {})


_SET_OF_SCALARS = FieldMeta(merge=True)

OBJECT_META: Schema = {
    "ownerReferences": _merge_by("uid"),
    "finalizers": _SET_OF_SCALARS,
}
_METADATA = _struct(OBJECT_META)

CONTAINER: Schema = {
    "ports": _merge_by("containerPort"),
    "env": _merge_by("name"),
    "volumeMounts": _merge_by("mountPath"),
    "volumeDevices": _merge_by("devicePath"),
}

VOLUME: Schema = {
    "ephemeral": _struct({"volumeClaimTemplate": _struct({"metadata": _METADATA})}),
}

POD_SPEC: Schema = {
    "volumes": _merge_by("name", VOLUME),  # upstream: merge,retainKeys
    "initContainers": _merge_by("name", CONTAINER),
    "containers": _merge_by("name", CONTAINER),
    "ephemeralContainers": _merge_by("name", CONTAINER),
    "imagePullSecrets": _merge_by("name"),
    "hostAliases": _merge_by("ip"),
    "topologySpreadConstraints": _merge_by("topologyKey"),
    "schedulingGates": _merge_by("name"),
    "resourceClaims": _merge_by("name"),  # upstream: merge,retainKeys
    "evictionResponders": _merge_by("name"),
}

POD_STATUS: Schema = {
    "conditions": _merge_by("type"),
    "hostIPs": _merge_by("ip"),
    "podIPs": _merge_by("ip"),
    "resourceClaimStatuses": _merge_by("name"),  # upstream: merge,retainKeys
    "nodeAllocatableResourceClaimStatuses": _merge_by(
        "resourceClaimName", {"mapping": _merge_by("name"), "overhead": _merge_by("name")}
    ),
}

POD_TEMPLATE_SPEC: Schema = {"metadata": _METADATA, "spec": _struct(POD_SPEC)}
_TEMPLATE = _struct(POD_TEMPLATE_SPEC)
_CONDITIONS_BY_TYPE: Schema = {"conditions": _merge_by("type")}


def _kind(**fields: FieldMeta) -> Schema:
    """A top-level kind: every one has ``metadata``; the rest are its own fields."""
    return {"metadata": _METADATA, **fields}


def _workload(**spec: FieldMeta) -> Schema:
    """An apps/batch kind: a pod template in ``spec``, conditions by type in ``status``."""
    return _kind(
        spec=_struct({"template": _TEMPLATE, **spec}),
        status=_struct(_CONDITIONS_BY_TYPE),
    )


BUILTIN_SCHEMAS: Mapping[KindKey, Schema] = {
    ("", "v1", "Pod"): _kind(spec=_struct(POD_SPEC), status=_struct(POD_STATUS)),
    ("", "v1", "Node"): _kind(
        spec=_struct({"podCIDRs": _SET_OF_SCALARS}),
        status=_struct({"conditions": _merge_by("type"), "addresses": _merge_by("type")}),
    ),
    ("", "v1", "Service"): _kind(
        spec=_struct({"ports": _merge_by("port")}),
        status=_struct(_CONDITIONS_BY_TYPE),
    ),
    ("", "v1", "Endpoints"): _kind(),
    ("", "v1", "ConfigMap"): _kind(),
    ("", "v1", "Secret"): _kind(),
    ("", "v1", "Event"): _kind(),
    ("", "v1", "ServiceAccount"): _kind(secrets=_merge_by("name")),
    ("", "v1", "Namespace"): _kind(status=_struct(_CONDITIONS_BY_TYPE)),
    ("apps", "v1", "Deployment"): _workload(),
    ("apps", "v1", "ReplicaSet"): _workload(),
    ("apps", "v1", "DaemonSet"): _workload(),
    ("apps", "v1", "StatefulSet"): _workload(),
    ("batch", "v1", "Job"): _workload(
        scheduling=_struct({"resourceClaims": _merge_by("name")}),
    ),
    ("coordination.k8s.io", "v1", "Lease"): _kind(),
    # The /scale subresource of deployments and replica sets.
    ("autoscaling", "v1", "Scale"): _kind(),
}


def schema_for(kind_key: KindKey) -> Schema | None:
    """The strategic-merge-patch schema of a built-in kind, or None for a kind we do not know.

    Upstream refuses strategic merge patch for kinds without Go types (custom resources) with
    415, and so does `kubelite.api.patch.apply_patch` when this returns None.
    """
    return BUILTIN_SCHEMAS.get(kind_key)
