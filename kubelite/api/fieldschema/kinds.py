"""The known-fields schema of every kind kubelite decodes from a request body.

One table, `KIND_SCHEMAS`, keyed like `kubelite.api.mergekeys` by (group, version, kind): the
served kinds, the bodies of the ``pods/binding`` and ``pods/eviction`` subresources, and the
autoscaling/v1 Scale of ``/scale``. Lease and Scale are small enough to live here::

    schema_for_kind(("apps", "v1", "Deployment")).fields["spec"]   -> the DeploymentSpec Struct
    schema_for_kind(("example.com", "v1", "Widget"))               -> None (not ours)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from kubelite.api.fieldschema.core import (
    BINDING,
    CONFIG_MAP,
    ENDPOINTS,
    EVENT,
    EVICTION,
    NAMESPACE,
    NODE,
    POD,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
)
from kubelite.api.fieldschema.meta import top_level
from kubelite.api.fieldschema.nodes import Struct, struct
from kubelite.api.fieldschema.workloads import (
    DAEMON_SET,
    DEPLOYMENT,
    JOB,
    REPLICA_SET,
    STATEFUL_SET,
)
from kubelite.api.mergekeys import KindKey

LEASE: Final = top_level(
    spec=struct(
        "holderIdentity",
        "leaseDurationSeconds",
        "acquireTime",
        "renewTime",
        "leaseTransitions",
        "strategy",
        "preferredHolder",
    )
)

SCALE: Final = top_level(spec=struct("replicas"), status=struct("replicas", "selector"))
"""autoscaling/v1 Scale, the body of ``/scale`` writes (``status.selector`` is a string)."""

KIND_SCHEMAS: Final[Mapping[KindKey, Struct]] = {
    ("", "v1", "Pod"): POD,
    ("", "v1", "Node"): NODE,
    ("", "v1", "Namespace"): NAMESPACE,
    ("", "v1", "Service"): SERVICE,
    ("", "v1", "Endpoints"): ENDPOINTS,
    ("", "v1", "ConfigMap"): CONFIG_MAP,
    ("", "v1", "Secret"): SECRET,
    ("", "v1", "Event"): EVENT,
    ("", "v1", "ServiceAccount"): SERVICE_ACCOUNT,
    ("", "v1", "Binding"): BINDING,
    ("policy", "v1", "Eviction"): EVICTION,
    ("apps", "v1", "Deployment"): DEPLOYMENT,
    ("apps", "v1", "ReplicaSet"): REPLICA_SET,
    ("apps", "v1", "DaemonSet"): DAEMON_SET,
    ("apps", "v1", "StatefulSet"): STATEFUL_SET,
    ("batch", "v1", "Job"): JOB,
    ("coordination.k8s.io", "v1", "Lease"): LEASE,
    ("autoscaling", "v1", "Scale"): SCALE,
}


def schema_for_kind(kind_key: KindKey) -> Struct | None:
    """The known fields of a kind, or None for a kind kubelite has no schema for."""
    return KIND_SCHEMAS.get(kind_key)
