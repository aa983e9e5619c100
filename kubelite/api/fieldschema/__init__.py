"""Which JSON fields each kind kubelite serves has: the facts behind ``fieldValidation``.

Upstream decodes every request body into Go structs, so a field the struct does not have is
reported (``fieldValidation=Strict|Warn``) and never stored. kubelite keeps objects as JSON, so
it writes those structs' field names down instead, per kind (v1.31):

- `nodes`: the five shapes (`Struct`, `MapOf`, `ListOf`, `Scalar`, `AnyFields`) and builders;
- `meta`: ObjectMeta, selectors, references, DeleteOptions;
- `volumes`, `pod`: everything under a PodSpec and a PodStatus;
- `core`, `workloads`: the whole objects of core/v1 and apps/v1 + batch/v1;
- `kinds`: the table by (group, version, kind), with Lease and Scale.

`kubelite.api.fieldvalidation` walks objects against these schemas. The only subtree left
open is ``metadata.managedFields[].fieldsV1``, free-form by design.
"""

from kubelite.api.fieldschema.kinds import KIND_SCHEMAS, schema_for_kind
from kubelite.api.fieldschema.nodes import (
    AnyFields,
    ListOf,
    MapOf,
    Node,
    Scalar,
    Struct,
)

__all__ = [
    "KIND_SCHEMAS",
    "AnyFields",
    "ListOf",
    "MapOf",
    "Node",
    "Scalar",
    "Struct",
    "schema_for_kind",
]
