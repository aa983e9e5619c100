"""Row cells for ``kubectl get``: what each column of a kind's Table says about one object.

This module owns the per-kind rules that turn a stored object (a plain JSON dict) into the
cells of one Table row, following kubectl's server-side printers (``pkg/printers/internalversion``
upstream) and apimachinery's ``HumanDuration`` for ages. `kubelite.api.tables` owns the column
definitions and the Table envelope; the two agree on column order by construction: each
``*_cells`` function returns the cells in the order its kind's columns are declared, wide
(priority 1) columns included, because the server always sends them and kubectl hides them
client-side. Time never comes from the clock: every function that prints an age takes ``now``.

Worked example, a pod created 200 seconds ago with one ready container restarted three times,
last at ``now - 120s``::

    pod_cells(pod, now) == ["web-0", "1/1", "Running", "3 (2m ago)", "3m20s",
                            "10.1.0.5", "node-a", "<none>", "<none>"]

The pod status precedence (init containers, then container reasons, then Terminating) and the
Endpoints, Service and Event formats are spelled out next to the code that implements them.
The module runs past 400 lines because it is one table of small per-kind functions; splitting
it by kind would only scatter the shared helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.api.labels import format_label_selector

Obj = Mapping[str, Any]
Cell = str | int

NONE = "<none>"
UNKNOWN = "<unknown>"
_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_LEGACY_NODE_ROLE_LABEL = "kubernetes.io/role"
_NODE_UNREACHABLE_REASON = "NodeLost"
_ENDPOINTS_SHOWN = 3


# --- durations -----------------------------------------------------------------------------


def _trunc_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward zero, as Go's does (Python's ``//`` floors)."""
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def _plural_part(value: int, unit: str, rest: int, rest_unit: str) -> str:
    return f"{value}{unit}" if rest == 0 else f"{value}{unit}{rest}{rest_unit}"


def human_duration_seconds(seconds: int) -> str:
    """apimachinery's ``HumanDuration`` for a whole number of seconds.

    Precision drops as the duration grows: seconds below 2 minutes, ``XmYs`` below 10 minutes,
    minutes below 3 hours, ``XhYm`` below 8 hours, hours below 2 days, ``XdYh`` below 8 days,
    days below 2 years, ``XyYd`` below 8 years, then years. Up to one second in the future
    counts as now (clock skew); further in the future is ``<invalid>``.
    """
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return _plural_part(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _plural_part(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _plural_part(hours // 24, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        return _plural_part(hours // 24 // 365, "y", (hours // 24) % 365, "d")
    return f"{hours // 24 // 365}y"


def human_duration(start: datetime, end: datetime) -> str:
    """`human_duration_seconds` of ``end - start``, truncating sub-second parts toward zero."""
    delta = end - start
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return human_duration_seconds(_trunc_div(microseconds, 1_000_000))


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 ``Time`` or ``MicroTime`` string, or None when unset or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def age(value: object, now: datetime) -> str:
    """Upstream ``translateTimestampSince``: time since a timestamp, ``<unknown>`` if unset."""
    moment = parse_time(value)
    return UNKNOWN if moment is None else human_duration(moment, now)


# --- small readers -------------------------------------------------------------------------


def _get(obj: Obj | None, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` or None where a step is missing or not a mapping."""
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _list(obj: Obj | None, *path: str) -> list[Any]:
    value = _get(obj, *path)
    return value if isinstance(value, list) else []


def _int(obj: Obj | None, *path: str, default: int = 0) -> int:
    value = _get(obj, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(obj: Obj | None, *path: str) -> str:
    value = _get(obj, *path)
    return value if isinstance(value, str) else ""


def name_of(obj: Obj) -> str:
    return _str(obj, "metadata", "name")


def age_of(obj: Obj, now: datetime) -> str:
    return age(_get(obj, "metadata", "creationTimestamp"), now)


def format_labels(labels: object) -> str:
    """Upstream ``labels.FormatLabels``: ``k=v`` pairs sorted by key, ``<none>`` when empty."""
    if not isinstance(labels, Mapping) or not labels:
        return NONE
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def _has_condition(conditions: Sequence[Any], condition_type: str) -> bool:
    return any(
        isinstance(c, Mapping) and c.get("type") == condition_type and c.get("status") == "True"
        for c in conditions
    )


def _container_cells(template_spec: Obj | None) -> list[Cell]:
    containers = [c for c in _list(template_spec, "containers") if isinstance(c, Mapping)]
    names = ",".join(_str(c, "name") for c in containers)
    images = ",".join(_str(c, "image") for c in containers)
    return [names, images]


def _workload_wide_cells(obj: Obj) -> list[Cell]:
    template_spec = _get(obj, "spec", "template", "spec")
    return [*_container_cells(template_spec), format_label_selector(_get(obj, "spec", "selector"))]


# --- workloads -----------------------------------------------------------------------------


def deployment_cells(obj: Obj, now: datetime) -> list[Cell]:
    ready = f"{_int(obj, 'status', 'readyReplicas')}/{_int(obj, 'spec', 'replicas', default=1)}"
    updated = _int(obj, "status", "updatedReplicas")
    available = _int(obj, "status", "availableReplicas")
    head: list[Cell] = [name_of(obj), ready, updated, available, age_of(obj, now)]
    return head + _workload_wide_cells(obj)


def replica_set_cells(obj: Obj, now: datetime) -> list[Cell]:
    desired = _int(obj, "spec", "replicas", default=1)
    head: list[Cell] = [
        name_of(obj),
        desired,
        _int(obj, "status", "replicas"),
        _int(obj, "status", "readyReplicas"),
        age_of(obj, now),
    ]
    return head + _workload_wide_cells(obj)


def stateful_set_cells(obj: Obj, now: datetime) -> list[Cell]:
    ready = f"{_int(obj, 'status', 'readyReplicas')}/{_int(obj, 'spec', 'replicas', default=1)}"
    head: list[Cell] = [name_of(obj), ready, age_of(obj, now)]
    return head + _container_cells(_get(obj, "spec", "template", "spec"))


def daemon_set_cells(obj: Obj, now: datetime) -> list[Cell]:
    counts: list[Cell] = [
        _int(obj, "status", field)
        for field in (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        )
    ]
    node_selector = format_labels(_get(obj, "spec", "template", "spec", "nodeSelector"))
    return [name_of(obj), *counts, node_selector, age_of(obj, now), *_workload_wide_cells(obj)]


def _job_status(obj: Obj) -> str:
    """Complete and Failed win over Terminating, which wins over the in-progress conditions."""
    conditions = _list(obj, "status", "conditions")
    if _has_condition(conditions, "Complete"):
        return "Complete"
    if _has_condition(conditions, "Failed"):
        return "Failed"
    if _get(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    for condition_type in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _has_condition(conditions, condition_type):
            return condition_type
    return "Running"


def _job_completions(obj: Obj) -> str:
    succeeded = _int(obj, "status", "succeeded")
    completions = _get(obj, "spec", "completions")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    parallelism = _int(obj, "spec", "parallelism")
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(obj: Obj, now: datetime) -> str:
    start = parse_time(_get(obj, "status", "startTime"))
    if start is None:
        return ""
    end = parse_time(_get(obj, "status", "completionTime"))
    return human_duration(start, now if end is None else end)


def job_cells(obj: Obj, now: datetime) -> list[Cell]:
    head: list[Cell] = [
        name_of(obj),
        _job_status(obj),
        _job_completions(obj),
        _job_duration(obj, now),
        age_of(obj, now),
    ]
    return head + _workload_wide_cells(obj)


# --- networking ----------------------------------------------------------------------------


def _port_string(ports: Sequence[Any]) -> str:
    """``80/TCP`` per port, ``443:30001/TCP`` when a node port is allocated."""
    pieces = []
    for port in ports:
        protocol = _str(port, "protocol") or "TCP"
        node_port = _int(port, "nodePort")
        middle = f":{node_port}" if node_port > 0 else ""
        pieces.append(f"{_int(port, 'port')}{middle}/{protocol}")
    return ",".join(pieces)


def _load_balancer_addresses(obj: Obj) -> list[str]:
    addresses = []
    for ingress in _list(obj, "status", "loadBalancer", "ingress"):
        address = _str(ingress, "ip") or _str(ingress, "hostname")
        if address:
            addresses.append(address)
    return addresses


def _service_external_ip(obj: Obj, service_type: str) -> str:
    external_ips = [ip for ip in _list(obj, "spec", "externalIPs") if isinstance(ip, str)]
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or NONE
    if service_type == "LoadBalancer":
        return ",".join(_load_balancer_addresses(obj) + external_ips) or "<pending>"
    if service_type == "ExternalName":
        return _str(obj, "spec", "externalName")
    return UNKNOWN


def service_cells(obj: Obj, now: datetime) -> list[Cell]:
    service_type = _str(obj, "spec", "type") or "ClusterIP"
    cluster_ips = _list(obj, "spec", "clusterIPs")
    cluster_ip = (cluster_ips[0] if cluster_ips else _str(obj, "spec", "clusterIP")) or NONE
    return [
        name_of(obj),
        service_type,
        str(cluster_ip),
        _service_external_ip(obj, service_type),
        _port_string(_list(obj, "spec", "ports")) or NONE,
        age_of(obj, now),
        format_labels(_get(obj, "spec", "selector")),
    ]


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _subset_entries(subset: Obj) -> list[str]:
    """Every ``ip:port`` of a subset, or bare IPs for a headless subset without ports."""
    ips = [_str(address, "ip") for address in _list(subset, "addresses")]
    ports = _list(subset, "ports")
    if not ports:
        return ips
    return [_host_port(ip, _int(port, "port")) for port in ports for ip in ips]


def format_endpoints(obj: Obj) -> str:
    """The first three ready endpoints, then ``+ N more...``; ``<none>`` without subsets."""
    subsets = _list(obj, "subsets")
    if not subsets:
        return NONE
    entries = [entry for subset in subsets for entry in _subset_entries(subset)]
    shown = ",".join(entries[:_ENDPOINTS_SHOWN])
    if len(entries) > _ENDPOINTS_SHOWN:
        return f"{shown} + {len(entries) - _ENDPOINTS_SHOWN} more..."
    return shown


def endpoints_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), format_endpoints(obj), age_of(obj, now)]


# --- cluster and configuration objects -----------------------------------------------------


def namespace_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), _str(obj, "status", "phase"), age_of(obj, now)]


def _mapping_size(obj: Obj, *fields: str) -> int:
    return sum(len(value) for f in fields if isinstance(value := obj.get(f), Mapping))


def config_map_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), _mapping_size(obj, "data", "binaryData"), age_of(obj, now)]


def secret_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), _str(obj, "type"), _mapping_size(obj, "data"), age_of(obj, now)]


def service_account_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), len(_list(obj, "secrets")), age_of(obj, now)]


def lease_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), _str(obj, "spec", "holderIdentity"), age_of(obj, now)]


def generic_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [name_of(obj), age_of(obj, now)]


def _event_source(obj: Obj) -> str:
    component = _str(obj, "source", "component") or _str(obj, "reportingComponent")
    instance = _str(obj, "source", "host") or _str(obj, "reportingInstance")
    return f"{component}, {instance}" if instance else component


def _event_object(obj: Obj) -> str:
    kind = _str(obj, "involvedObject", "kind").lower()
    name = _str(obj, "involvedObject", "name")
    return f"{kind}/{name}" if name else kind


def event_cells(obj: Obj, now: datetime) -> list[Cell]:
    """Series data, when present, overrides lastTimestamp and count (the events.k8s.io shape)."""
    first_seen = age(_get(obj, "firstTimestamp") or _get(obj, "eventTime"), now)
    last_seen = age(obj["lastTimestamp"], now) if _get(obj, "lastTimestamp") else first_seen
    count = _int(obj, "count")
    if isinstance(obj.get("series"), Mapping):
        last_seen = age(_get(obj, "series", "lastObservedTime"), now)
        count = _int(obj, "series", "count")
    elif count == 0:
        count = 1
    return [
        last_seen,
        _str(obj, "type"),
        _str(obj, "reason"),
        _event_object(obj),
        _str(obj, "involvedObject", "fieldPath"),
        _event_source(obj),
        _str(obj, "message").strip(),
        first_seen,
        count,
        name_of(obj),
    ]


# --- nodes ---------------------------------------------------------------------------------


def _node_status(obj: Obj) -> str:
    """``Ready``/``NotReady`` from the Ready condition, ``Unknown`` without one."""
    ready = [c for c in _list(obj, "status", "conditions") if _get(c, "type") == "Ready"]
    if not ready:
        status = "Unknown"
    else:
        status = "Ready" if _get(ready[-1], "status") == "True" else "NotReady"
    if _get(obj, "spec", "unschedulable") is True:
        status += ",SchedulingDisabled"
    return status


def node_roles(labels: object) -> str:
    """Roles from ``node-role.kubernetes.io/<role>`` keys and ``kubernetes.io/role`` values."""
    roles: set[str] = set()
    if isinstance(labels, Mapping):
        for key, value in labels.items():
            if key.startswith(_NODE_ROLE_PREFIX) and key != _NODE_ROLE_PREFIX:
                roles.add(key.removeprefix(_NODE_ROLE_PREFIX))
            elif key == _LEGACY_NODE_ROLE_LABEL and value:
                roles.add(str(value))
    return ",".join(sorted(roles)) or NONE


def _node_address(obj: Obj, address_type: str) -> str:
    for address in _list(obj, "status", "addresses"):
        if _get(address, "type") == address_type:
            return _str(address, "address")
    return NONE


def node_cells(obj: Obj, now: datetime) -> list[Cell]:
    info = _get(obj, "status", "nodeInfo")
    return [
        name_of(obj),
        _node_status(obj),
        node_roles(_get(obj, "metadata", "labels")),
        age_of(obj, now),
        _str(info, "kubeletVersion"),
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        _str(info, "osImage") or UNKNOWN,
        _str(info, "kernelVersion") or UNKNOWN,
        _str(info, "containerRuntimeVersion") or UNKNOWN,
    ]


# --- pods ----------------------------------------------------------------------------------


@dataclass
class _PodTally:
    """What the container-status walk has found so far for one pod row."""

    reason: str
    ready: int = 0
    restarts: int = 0
    last_restart: datetime | None = None
    sidecar_restarts: int = 0
    sidecar_last_restart: datetime | None = None


def _later(current: datetime | None, status: Obj) -> datetime | None:
    """The later of ``current`` and the status's last termination time."""
    finished = parse_time(_get(status, "lastState", "terminated", "finishedAt"))
    if finished is None or (current is not None and current >= finished):
        return current
    return finished


def _exit_reason(terminated: Obj) -> str:
    """A terminated state's reason, else ``Signal:N`` or ``ExitCode:N``."""
    if _str(terminated, "reason"):
        return _str(terminated, "reason")
    if _int(terminated, "signal"):
        return f"Signal:{_int(terminated, 'signal')}"
    return f"ExitCode:{_int(terminated, 'exitCode')}"


def _sidecar_names(pod: Obj) -> set[str]:
    """Init containers with ``restartPolicy: Always`` run beside the app containers."""
    return {
        _str(c, "name")
        for c in _list(pod, "spec", "initContainers")
        if _get(c, "restartPolicy") == "Always"
    }


def _walk_init_containers(pod: Obj, tally: _PodTally) -> bool:
    """Tally init containers in order; True (and an ``Init:`` reason) if one is unfinished."""
    sidecars = _sidecar_names(pod)
    init_count = len(_list(pod, "spec", "initContainers"))
    for index, status in enumerate(_list(pod, "status", "initContainerStatuses")):
        tally.restarts += _int(status, "restartCount")
        tally.last_restart = _later(tally.last_restart, status)
        is_sidecar = _str(status, "name") in sidecars
        if is_sidecar:
            tally.sidecar_restarts += _int(status, "restartCount")
            tally.sidecar_last_restart = _later(tally.sidecar_last_restart, status)
        terminated = _get(status, "state", "terminated")
        waiting_reason = _str(status, "state", "waiting", "reason")
        if isinstance(terminated, Mapping) and _int(terminated, "exitCode") == 0:
            continue
        if is_sidecar and _get(status, "started") is True:
            tally.ready += 1 if _get(status, "ready") is True else 0
            continue
        if isinstance(terminated, Mapping):
            tally.reason = "Init:" + _exit_reason(terminated)
        elif waiting_reason and waiting_reason != "PodInitializing":
            tally.reason = "Init:" + waiting_reason
        else:
            tally.reason = f"Init:{index}/{init_count}"
        return True
    return False


def _walk_containers(pod: Obj, tally: _PodTally) -> None:
    """App containers, last first, so the first container's reason is the one that sticks."""
    tally.restarts = tally.sidecar_restarts
    tally.last_restart = tally.sidecar_last_restart
    has_running = False
    for status in reversed(_list(pod, "status", "containerStatuses")):
        tally.restarts += _int(status, "restartCount")
        tally.last_restart = _later(tally.last_restart, status)
        waiting_reason = _str(status, "state", "waiting", "reason")
        terminated = _get(status, "state", "terminated")
        if waiting_reason:
            tally.reason = waiting_reason
        elif isinstance(terminated, Mapping):
            tally.reason = _exit_reason(terminated)
        elif _get(status, "ready") is True and isinstance(
            _get(status, "state", "running"), Mapping
        ):
            has_running = True
            tally.ready += 1
    if tally.reason == "Completed" and has_running:
        ready = _has_condition(_list(pod, "status", "conditions"), "Ready")
        tally.reason = "Running" if ready else "NotReady"


def _initial_reason(pod: Obj) -> str:
    reason = _str(pod, "status", "reason") or _str(pod, "status", "phase")
    for condition in _list(pod, "status", "conditions"):
        if _get(condition, "type") == "PodScheduled" and (
            _get(condition, "reason") == "SchedulingGated"
        ):
            reason = "SchedulingGated"
    return reason


def pod_tally(pod: Obj) -> _PodTally:
    """Status precedence, lowest first: phase, ``status.reason``, SchedulingGated, an unfinished
    init container (``Init:1/2``, ``Init:CrashLoopBackOff``), an app container's waiting or
    terminated reason; finally deletion turns a non-terminal pod into ``Terminating`` (or
    ``Unknown`` when its node is lost)."""
    tally = _PodTally(reason=_initial_reason(pod))
    initializing = _walk_init_containers(pod, tally)
    conditions = _list(pod, "status", "conditions")
    if not initializing or _has_condition(conditions, "Initialized"):
        _walk_containers(pod, tally)
    if _get(pod, "metadata", "deletionTimestamp"):
        if _str(pod, "status", "reason") == _NODE_UNREACHABLE_REASON:
            tally.reason = "Unknown"
        elif _str(pod, "status", "phase") not in ("Succeeded", "Failed"):
            tally.reason = "Terminating"
    return tally


def _restarts_cell(tally: _PodTally, now: datetime) -> str:
    if tally.restarts == 0 or tally.last_restart is None:
        return str(tally.restarts)
    return f"{tally.restarts} ({human_duration(tally.last_restart, now)} ago)"


def _readiness_gates(pod: Obj) -> str:
    gates = _list(pod, "spec", "readinessGates")
    if not gates:
        return NONE
    statuses: dict[str, Any] = {}
    for condition in _list(pod, "status", "conditions"):
        statuses.setdefault(_str(condition, "type"), _get(condition, "status"))
    true_count = sum(1 for gate in gates if statuses.get(_str(gate, "conditionType")) == "True")
    return f"{true_count}/{len(gates)}"


def _pod_ip(pod: Obj) -> str:
    pod_ips = _list(pod, "status", "podIPs")
    ip = _str(pod_ips[0], "ip") if pod_ips else _str(pod, "status", "podIP")
    return ip or NONE


def pod_cells(obj: Obj, now: datetime) -> list[Cell]:
    tally = pod_tally(obj)
    total = len(_list(obj, "spec", "containers")) + len(_sidecar_names(obj))
    return [
        name_of(obj),
        f"{tally.ready}/{total}",
        tally.reason,
        _restarts_cell(tally, now),
        age_of(obj, now),
        _pod_ip(obj),
        _str(obj, "spec", "nodeName") or NONE,
        _str(obj, "status", "nominatedNodeName") or NONE,
        _readiness_gates(obj),
    ]


def pod_row_conditions(obj: Obj) -> list[dict[str, str]]:
    """Finished pods carry a ``Completed`` row condition, as upstream's printer sets."""
    phase = _str(obj, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]
