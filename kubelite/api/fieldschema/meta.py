"""Known fields of the ``meta/v1`` types and the small references every kind shares.

``ObjectMeta`` is complete (v1.31); so are ``LabelSelector``, ``OwnerReference``,
``ObjectReference``, ``metav1.Condition`` and ``DeleteOptions``. One subtree is left open:
``managedFields[].fieldsV1`` is a free-form set of field paths by design (upstream keeps it as
raw JSON), so `AnyFields` there is the truth, not a shortcut.

`top_level` builds the schema of a whole object: ``kind`` and ``apiVersion`` (upstream's inline
``TypeMeta``), ``metadata``, and the kind's own fields.
"""

from __future__ import annotations

from typing import Final

from kubelite.api.fieldschema.nodes import (
    SCALARS,
    STRING_MAP,
    AnyFields,
    ListOf,
    Node,
    Struct,
    list_of,
    struct,
)

OWNER_REFERENCE: Final = struct(
    "apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"
)

MANAGED_FIELDS_ENTRY: Final = struct(
    "manager",
    "operation",
    "apiVersion",
    "time",
    "fieldsType",
    "subresource",
    fieldsV1=AnyFields("FieldsV1 is a free-form set of field paths (raw JSON upstream)"),
)

OBJECT_META: Final = struct(
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    labels=STRING_MAP,
    annotations=STRING_MAP,
    ownerReferences=ListOf(OWNER_REFERENCE),
    finalizers=SCALARS,
    managedFields=ListOf(MANAGED_FIELDS_ENTRY),
)

LABEL_SELECTOR: Final = struct(
    matchLabels=STRING_MAP,
    matchExpressions=list_of("key", "operator", values=SCALARS),
)

OBJECT_REFERENCE: Final = struct(
    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"
)

LOCAL_OBJECT_REFERENCE: Final = struct("name")

CONDITION: Final = struct(
    "type", "status", "observedGeneration", "lastTransitionTime", "reason", "message"
)
"""``metav1.Condition`` (Service status); the workload kinds have their own condition types."""

TYPE_META: Final = ("kind", "apiVersion")

DELETE_OPTIONS: Final = struct(
    *TYPE_META,
    "gracePeriodSeconds",
    "orphanDependents",
    "propagationPolicy",
    preconditions=struct("uid", "resourceVersion"),
    dryRun=SCALARS,
)


def top_level(*scalars: str, **nested: Node) -> Struct:
    """A whole object: ``kind``, ``apiVersion``, ``metadata`` and the given fields."""
    return struct(*TYPE_META, *scalars, metadata=OBJECT_META, **nested)
