"""The shapes a known-fields schema is made of, and the helpers the schema modules build with.

A schema says which JSON field names an object of a kind may carry, the way upstream's Go
structs do with their ``json:"..."`` tags; nothing more (no types, no required fields). It has
five shapes:

- `Struct`: an object with a fixed set of field names, each with the schema of its value;
- `MapOf`: an object whose keys are data (labels, ``ConfigMap.data``, resource lists);
- `ListOf`: a list whose items all have one schema;
- `Scalar`: a string, number, boolean or null (also ``IntOrString``, quantities and times);
- `AnyFields`: an object whose content is deliberately not described; the reason is kept.

Worked example, an ``EnvVar``::

    struct("name", "value", valueFrom=ENV_VAR_SOURCE)

is a `Struct` whose ``name`` and ``value`` are `Scalar` and whose ``valueFrom`` is another
`Struct`. `kubelite.api.fieldvalidation` walks objects against these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Scalar:
    """A JSON scalar: nothing below it can be an unknown field."""


@dataclass(frozen=True)
class Struct:
    """An object with exactly these field names (upstream: a Go struct)."""

    fields: Mapping[str, Node]


@dataclass(frozen=True)
class MapOf:
    """An object whose keys are data, each value of schema `values` (upstream: a Go map)."""

    values: Node


@dataclass(frozen=True)
class ListOf:
    """A list whose items have schema `items` (upstream: a Go slice)."""

    items: Node


@dataclass(frozen=True)
class AnyFields:
    """An object whose fields are not checked, on purpose; `why` says why."""

    why: str


Node = Scalar | Struct | MapOf | ListOf | AnyFields

SCALAR: Final = Scalar()
SCALARS: Final = ListOf(SCALAR)
"""A list of strings or numbers (``args``, ``finalizers``, ``supplementalGroups``)."""
STRING_MAP: Final = MapOf(SCALAR)
"""``map[string]string``: labels, annotations, ``nodeSelector``, ``ConfigMap.data``."""
RESOURCE_LIST: Final = MapOf(SCALAR)
"""``ResourceList``: resource name to quantity (``{"cpu": "500m"}``)."""


def struct(*scalars: str, **nested: Node) -> Struct:
    """A `Struct` whose `scalars` are `Scalar` fields and `nested` the structured ones.

    A field whose name is a Python keyword goes in as ``**{"continue": SCALAR}``.
    """
    fields: dict[str, Node] = dict.fromkeys(scalars, SCALAR)
    overlap = fields.keys() & nested.keys()
    if overlap:
        raise ValueError(f"fields named twice: {sorted(overlap)}")
    fields.update(nested)
    return Struct(fields)


def extend(base: Struct, *scalars: str, **nested: Node) -> Struct:
    """`base` with more fields: upstream's inline embedding (``json:",inline"``), as in
    ``ConfigMapKeySelector`` = ``LocalObjectReference`` + ``key`` + ``optional``."""
    extra = struct(*scalars, **nested)
    overlap = base.fields.keys() & extra.fields.keys()
    if overlap:
        raise ValueError(f"fields named twice: {sorted(overlap)}")
    return Struct({**base.fields, **extra.fields})


def list_of(*scalars: str, **nested: Node) -> ListOf:
    """A list of `struct` items: ``list_of("name", "value")`` for ``[]HTTPHeader``."""
    return ListOf(struct(*scalars, **nested))
