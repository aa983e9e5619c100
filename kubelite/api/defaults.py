"""Server-side defaulting: the fields the API server fills in before it validates and stores.

This module owns upstream's ``SetDefaults_*`` functions for the built-in kinds we serve, plus
the bits of admission that clients see as defaults (``DefaultTolerationSeconds``, the
``default`` service account, pod ``priority``) and the pod status set on create (``phase``,
``qosClass``). It does not allocate anything (Service IPs, node ports, generated names):
allocation needs state and lives with the registry.

`apply_defaults` is pure and idempotent: it deep-copies its input and returns the copy with
every missing default filled in; values the client sent are never overwritten::

    apply_defaults("apps", "v1", "Deployment", {"spec": {"template": {...}}})
    # -> spec.replicas 1, strategy RollingUpdate 25%/25%, revisionHistoryLimit 10, ...

Quantities in container resources, node capacity/allocatable, claims and quotas are rewritten
to their canonical strings ("cpu": 1 -> "1", "memory": "1024Mi" -> "1Gi"); a value that is not
a quantity is left as it is for validation to report.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

from kubelite.api.quantity import QuantityError, normalize_quantity, parse_quantity

JSONDict = dict[str, Any]

DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
_COMPUTE_RESOURCES = ("cpu", "memory")


def _child(parent: JSONDict, key: str) -> JSONDict:
    """`parent[key]` as a dict, created when missing or null (never replaces a non-dict)."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else {}


def _items(parent: JSONDict, key: str) -> list[JSONDict]:
    value = parent.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _normalize_quantities(resources: object) -> None:
    if not isinstance(resources, dict):
        return
    for name, value in resources.items():
        # A value that is no quantity stays as sent: validation reports it with its path.
        with contextlib.suppress(QuantityError):
            resources[name] = normalize_quantity(value)


# --- pods ----------------------------------------------------------------------------------------


def _image_pull_policy(image: object) -> str:
    # Upstream looks at the tag after the last ':' of the last path component; a digest
    # (``@sha256:...``) counts as a tag other than latest.
    if not isinstance(image, str):
        return "IfNotPresent"
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _default_container(container: JSONDict) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("imagePullPolicy", _image_pull_policy(container.get("image")))
    resources = _child(container, "resources")
    limits = resources.get("limits")
    _normalize_quantities(limits)
    _normalize_quantities(resources.get("requests"))
    # SetDefaults_Pod: a resource with a limit but no request is requested at its limit.
    if isinstance(limits, dict) and limits:
        requests = _child(resources, "requests")
        for name, value in limits.items():
            requests.setdefault(name, value)
    for port in _items(container, "ports"):
        port.setdefault("protocol", "TCP")


def _default_pod_spec(spec: JSONDict) -> None:
    """``SetDefaults_PodSpec`` and its containers: shared by pods and every pod template."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    _child(spec, "securityContext")
    for container in _items(spec, "containers") + _items(spec, "initContainers"):
        _default_container(container)


def _default_pod_template(template: object) -> None:
    if isinstance(template, dict):
        _default_pod_spec(_child(template, "spec"))


def _tolerates(tolerations: list[JSONDict], key: str) -> bool:
    # DefaultTolerationSeconds skips a taint the pod already tolerates for NoExecute; an
    # empty key or effect is a wildcard.
    return any(
        t.get("key", "") in ("", key) and t.get("effect", "") in ("", "NoExecute")
        for t in tolerations
    )


def _add_default_tolerations(spec: JSONDict) -> None:
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = spec["tolerations"] = []
    present = [t for t in tolerations if isinstance(t, dict)]
    for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        if not _tolerates(present, key):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )


def _summed(containers: list[JSONDict], section: str) -> dict[str, int]:
    """Nano-unit totals of the non-zero cpu/memory entries in `section` over `containers`."""
    totals: dict[str, int] = {}
    for container in containers:
        resources = container.get("resources")
        values = resources.get(section) if isinstance(resources, dict) else None
        if not isinstance(values, dict):
            continue
        for name in _COMPUTE_RESOURCES:
            if name not in values:
                continue
            try:
                nanos = parse_quantity(str(values[name])).nanos
            except QuantityError:
                continue
            if nanos != 0:
                totals[name] = totals.get(name, 0) + nanos
    return totals


def pod_qos_class(spec: JSONDict) -> str:
    """Upstream ``GetPodQOS`` over containers and init containers (after request defaulting)."""
    containers = _items(spec, "containers") + _items(spec, "initContainers")
    requests = _summed(containers, "requests")
    limits = _summed(containers, "limits")
    if not requests and not limits:
        return "BestEffort"
    guaranteed = True
    for container in containers:
        resources = container.get("resources")
        container_limits = resources.get("limits") if isinstance(resources, dict) else None
        if not isinstance(container_limits, dict) or not all(
            name in container_limits for name in _COMPUTE_RESOURCES
        ):
            guaranteed = False
    if guaranteed and set(limits) == set(_COMPUTE_RESOURCES) and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _default_pod(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    _default_pod_spec(spec)
    if spec.get("hostNetwork") is True:
        # SetDefaults_Pod: with the host's network, a container port is also a host port.
        for container in _items(spec, "containers") + _items(spec, "initContainers"):
            for port in _items(container, "ports"):
                if not port.get("hostPort") and "containerPort" in port:
                    port["hostPort"] = port["containerPort"]
    # Pod-only defaults (templates do not get them): SetDefaults_Pod and admission plugins.
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    _add_default_tolerations(spec)
    status = _child(obj, "status")
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", pod_qos_class(spec))


# --- workloads -----------------------------------------------------------------------------------


def _default_rolling_update(strategy: JSONDict, defaults: JSONDict) -> None:
    if strategy.get("type") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        for key, value in defaults.items():
            rolling.setdefault(key, value)


def _default_deployment(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _child(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    _default_rolling_update(strategy, {"maxUnavailable": "25%", "maxSurge": "25%"})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_pod_template(spec.get("template"))


def _zero_status_counts(obj: JSONDict, *fields: str) -> None:
    """Status counters upstream always serialises (no ``omitempty``): 0 until a controller
    reports; the Python client's models reject a status without them."""
    status = _child(obj, "status")
    for name in fields:
        status.setdefault(name, 0)


def _default_replica_set(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    _default_pod_template(spec.get("template"))
    _zero_status_counts(obj, "replicas")


def _default_stateful_set(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    _default_rolling_update(strategy, {"partition": 0})
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    _default_pod_template(spec.get("template"))
    _zero_status_counts(obj, "replicas")


def _default_daemon_set(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    _default_rolling_update(strategy, {"maxUnavailable": 1, "maxSurge": 0})
    spec.setdefault("revisionHistoryLimit", 10)
    _default_pod_template(spec.get("template"))
    _zero_status_counts(
        obj, "currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"
    )


def _default_job_spec(spec: JSONDict) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )
    spec.setdefault("manualSelector", False)
    _default_pod_template(spec.get("template"))


def _default_job(obj: JSONDict) -> None:
    _default_job_spec(_child(obj, "spec"))


def _default_cron_job(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _default_job_spec(_child(_child(spec, "jobTemplate"), "spec"))


# --- core kinds ----------------------------------------------------------------------------------


def _default_service(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        client_ip = _child(_child(spec, "sessionAffinityConfig"), "clientIP")
        client_ip.setdefault("timeoutSeconds", 10800)
    service_type = spec["type"]
    if service_type != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if service_type in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in _items(spec, "ports"):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and "port" in port:
            port["targetPort"] = port["port"]


def _default_namespace(obj: JSONDict) -> None:
    _child(obj, "spec").setdefault("finalizers", ["kubernetes"])
    _child(obj, "status").setdefault("phase", "Active")
    metadata = _child(obj, "metadata")
    name = metadata.get("name")
    if isinstance(name, str) and name:
        # Upstream always (re)sets this label to the name.
        _child(metadata, "labels")["kubernetes.io/metadata.name"] = name


def _default_node(obj: JSONDict) -> None:
    status = obj.get("status")
    if isinstance(status, dict):
        _normalize_quantities(status.get("capacity"))
        _normalize_quantities(status.get("allocatable"))


def _default_persistent_volume_claim(obj: JSONDict) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("volumeMode", "Filesystem")
    resources = spec.get("resources")
    if isinstance(resources, dict):
        _normalize_quantities(resources.get("requests"))
        _normalize_quantities(resources.get("limits"))
    status = obj.get("status")
    if isinstance(status, dict):
        _normalize_quantities(status.get("capacity"))


def _default_resource_quota(obj: JSONDict) -> None:
    for section in ("spec", "status"):
        part = obj.get(section)
        if isinstance(part, dict):
            _normalize_quantities(part.get("hard"))
            _normalize_quantities(part.get("used"))


def _default_secret(obj: JSONDict) -> None:
    obj.setdefault("type", "Opaque")


_DEFAULTERS: dict[tuple[str, str], Callable[[JSONDict], None]] = {
    ("", "Pod"): _default_pod,
    ("", "Service"): _default_service,
    ("", "Namespace"): _default_namespace,
    ("", "Node"): _default_node,
    ("", "Secret"): _default_secret,
    ("", "PersistentVolumeClaim"): _default_persistent_volume_claim,
    ("", "ResourceQuota"): _default_resource_quota,
    ("", "ReplicationController"): _default_replica_set,
    ("", "PodTemplate"): lambda obj: _default_pod_template(obj.get("template")),
    ("apps", "Deployment"): _default_deployment,
    ("apps", "ReplicaSet"): _default_replica_set,
    ("apps", "StatefulSet"): _default_stateful_set,
    ("apps", "DaemonSet"): _default_daemon_set,
    ("batch", "Job"): _default_job,
    ("batch", "CronJob"): _default_cron_job,
}


def apply_defaults(group: str, version: str, kind: str, obj: JSONDict) -> JSONDict:
    """A defaulted deep copy of `obj`; kinds without defaults come back as a plain copy.

    `version` is accepted for symmetry with `validate`; every kind we serve has one version.
    """
    result = copy.deepcopy(obj)
    defaulter = _DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(result)
    return result
