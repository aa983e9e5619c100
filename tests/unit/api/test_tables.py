"""Table output against upstream kubectl printers: columns, cells and HumanDuration.

Expected cells are what ``kubectl get -o wide`` shows for the same objects on a real cluster
(upstream ``pkg/printers/internalversion`` and apimachinery ``util/duration``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.api.printers import human_duration_seconds, pod_cells
from kubelite.api.tables import PRINTERS, table_for

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(seconds: int) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str = "x", created: int | None = 300, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "default", **extra}
    if created is not None:
        metadata["creationTimestamp"] = ago(created)
    return metadata


MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(-5, "<invalid>", id="future-beyond-skew"),
        pytest.param(-1, "0s", id="one-second-skew"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(45, "45s", id="seconds"),
        pytest.param(119, "119s", id="just-under-2m"),
        pytest.param(120, "2m", id="2m-exact"),
        pytest.param(200, "3m20s", id="minutes-seconds"),
        pytest.param(599, "9m59s", id="just-under-10m"),
        pytest.param(600, "10m", id="10m"),
        pytest.param(15 * MINUTE + 30, "15m", id="minutes-drop-seconds"),
        pytest.param(3 * HOUR - 1, "179m", id="just-under-3h"),
        pytest.param(3 * HOUR, "3h", id="3h-exact"),
        pytest.param(5 * HOUR + 3 * MINUTE, "5h3m", id="hours-minutes"),
        pytest.param(8 * HOUR, "8h", id="8h"),
        pytest.param(47 * HOUR + 59 * MINUTE, "47h", id="just-under-2d"),
        pytest.param(2 * DAY, "2d", id="2d"),
        pytest.param(2 * DAY + 5 * HOUR, "2d5h", id="days-hours"),
        pytest.param(8 * DAY + 5 * HOUR, "8d", id="8d-drops-hours"),
        pytest.param(729 * DAY, "729d", id="just-under-2y"),
        pytest.param(730 * DAY, "2y", id="2y"),
        pytest.param(731 * DAY, "2y1d", id="years-days"),
        pytest.param(8 * 365 * DAY, "8y", id="8y"),
    ],
)
def test_human_duration(seconds: int, expected: str) -> None:
    assert human_duration_seconds(seconds) == expected


def running(ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    state = {"running": {"startedAt": ago(100)}}
    return {"name": "c", "ready": ready, "restartCount": restarts, "state": state, **extra}


def waiting(reason: str, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": "c",
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
    }


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0) -> dict[str, Any]:
    state = {"terminated": {"reason": reason, "exitCode": exit_code, "signal": signal}}
    return {"name": "c", "ready": False, "restartCount": 0, "state": state}


def pod(
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    init_count: int = 0,
    deleting: bool = False,
    reason: str = "",
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    metadata = meta("web-0", 200)
    if deleting:
        metadata["deletionTimestamp"] = ago(5)
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if reason:
        status["reason"] = reason
    status["containerStatuses"] = statuses or []
    status["initContainerStatuses"] = init_statuses or []
    spec = {
        "containers": [{"name": f"c{i}"} for i in range(max(1, len(statuses or [])))],
        "initContainers": [{"name": f"i{i}"} for i in range(init_count)],
    }
    return {"kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


INITIALIZED = [{"type": "Initialized", "status": "True"}]


@pytest.mark.parametrize(
    ("obj", "ready", "status"),
    [
        pytest.param(pod("Pending"), "0/1", "Pending", id="phase-pending"),
        pytest.param(pod(statuses=[running()]), "1/1", "Running", id="running-ready"),
        pytest.param(pod(statuses=[running(ready=False)]), "0/1", "Running", id="running-unready"),
        pytest.param(
            pod("Pending", [waiting("ContainerCreating")]),
            "0/1",
            "ContainerCreating",
            id="creating",
        ),
        pytest.param(
            pod(statuses=[waiting("CrashLoopBackOff")]), "0/1", "CrashLoopBackOff", id="crashloop"
        ),
        pytest.param(
            pod("Pending", [waiting("ErrImagePull")]), "0/1", "ErrImagePull", id="errimagepull"
        ),
        pytest.param(
            pod("Pending", [waiting("ImagePullBackOff")]), "0/1", "ImagePullBackOff", id="backoff"
        ),
        pytest.param(
            pod("Succeeded", [terminated("Completed")]), "0/1", "Completed", id="completed"
        ),
        pytest.param(pod("Failed", [terminated("Error", 1)]), "0/1", "Error", id="error"),
        pytest.param(
            pod("Failed", [terminated("OOMKilled", 137)]), "0/1", "OOMKilled", id="oomkilled"
        ),
        pytest.param(pod("Failed", [terminated(exit_code=2)]), "0/1", "ExitCode:2", id="exitcode"),
        pytest.param(pod("Failed", [terminated(signal=9)]), "0/1", "Signal:9", id="signal"),
        pytest.param(
            pod(statuses=[waiting("CrashLoopBackOff"), running()]),
            "1/2",
            "CrashLoopBackOff",
            id="first-container-reason-wins",
        ),
        pytest.param(
            pod(statuses=[terminated("Completed"), running()], conditions=[]),
            "1/2",
            "NotReady",
            id="completed-with-running-not-ready",
        ),
        pytest.param(
            pod(
                statuses=[terminated("Completed"), running()],
                conditions=[{"type": "Ready", "status": "True"}],
            ),
            "1/2",
            "Running",
            id="completed-with-running-ready",
        ),
        pytest.param(
            pod("Pending", [waiting("PodInitializing")], [waiting("PodInitializing")], 2),
            "0/1",
            "Init:0/2",
            id="init-first-of-two",
        ),
        pytest.param(
            pod("Pending", [], [terminated(exit_code=0), running(ready=False)], 2),
            "0/1",
            "Init:1/2",
            id="init-second-of-two",
        ),
        pytest.param(
            pod("Pending", [], [waiting("CrashLoopBackOff")], 1),
            "0/1",
            "Init:CrashLoopBackOff",
            id="init-waiting-reason",
        ),
        pytest.param(
            pod("Failed", [], [terminated("Error", 1)], 1), "0/1", "Init:Error", id="init-failed"
        ),
        pytest.param(
            pod("Pending", [], [terminated(exit_code=3)], 1),
            "0/1",
            "Init:ExitCode:3",
            id="init-exitcode",
        ),
        pytest.param(
            pod("Pending", [waiting("ContainerCreating")], [terminated(exit_code=0)], 1),
            "0/1",
            "ContainerCreating",
            id="init-done-then-containers",
        ),
        pytest.param(
            pod(
                "Pending", [waiting("ContainerCreating")], [waiting("X")], 1, conditions=INITIALIZED
            ),
            "0/1",
            "ContainerCreating",
            id="initialized-condition-overrides-init",
        ),
        pytest.param(pod("Failed", reason="Evicted"), "0/1", "Evicted", id="status-reason"),
        pytest.param(
            pod(statuses=[running()], deleting=True), "1/1", "Terminating", id="terminating"
        ),
        pytest.param(
            pod("Succeeded", [terminated("Completed")], deleting=True),
            "0/1",
            "Completed",
            id="terminal-phase-not-terminating",
        ),
        pytest.param(
            pod(statuses=[running()], deleting=True, reason="NodeLost"),
            "1/1",
            "Unknown",
            id="deleting-on-lost-node",
        ),
        pytest.param(
            pod("Pending", conditions=[{"type": "PodScheduled", "reason": "SchedulingGated"}]),
            "0/1",
            "SchedulingGated",
            id="scheduling-gated",
        ),
    ],
)
def test_pod_ready_and_status(obj: dict[str, Any], ready: str, status: str) -> None:
    cells = pod_cells(obj, NOW)
    assert (cells[1], cells[2]) == (ready, status)


def test_pod_sidecar_counts_as_container() -> None:
    obj = pod(
        statuses=[running()],
        init_statuses=[running(started=True, restarts=2, name="i0")],
        init_count=1,
    )
    obj["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    assert pod_cells(obj, NOW)[1:4] == ["2/2", "Running", "2"]


def with_last_restart(status: dict[str, Any], seconds: int) -> dict[str, Any]:
    return {**status, "lastState": {"terminated": {"finishedAt": ago(seconds)}}}


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([running()], "0", id="none"),
        pytest.param([running(restarts=3)], "3", id="no-last-state"),
        pytest.param([with_last_restart(running(restarts=3), 120)], "3 (2m ago)", id="with-last"),
        pytest.param(
            [
                with_last_restart(running(restarts=1), 4000),
                with_last_restart(running(restarts=2), 45),
            ],
            "3 (45s ago)",
            id="summed-latest-wins",
        ),
    ],
)
def test_pod_restarts(statuses: list[dict[str, Any]], expected: str) -> None:
    assert pod_cells(pod(statuses=statuses), NOW)[3] == expected


def full_pod() -> dict[str, Any]:
    obj = pod(statuses=[with_last_restart(running(restarts=3), 120)])
    obj["spec"]["nodeName"] = "node-a"
    obj["spec"]["readinessGates"] = [{"conditionType": "g1"}, {"conditionType": "g2"}]
    obj["status"]["podIPs"] = [{"ip": "10.1.0.5"}]
    obj["status"]["conditions"] = [{"type": "g1", "status": "True"}]
    return obj


def node(**overrides: Any) -> dict[str, Any]:
    labels = {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}
    obj: dict[str, Any] = {
        "metadata": meta("node-a", 2 * DAY, labels=labels),
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [
                {"type": "Hostname", "address": "node-a"},
                {"type": "InternalIP", "address": "10.0.0.1"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.0",
                "osImage": "Debian",
                "kernelVersion": "6.1",
                "containerRuntimeVersion": "kubelite://0.1",
            },
        },
    }
    obj.update(overrides)
    return obj


WORKLOAD_SPEC = {
    "replicas": 3,
    "selector": {"matchLabels": {"app": "web"}},
    "template": {
        "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}
    },
}


def service(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": meta("web"), "spec": spec, "status": status or {}}


def job(
    status: dict[str, Any], spec: dict[str, Any] | None = None, **metadata: Any
) -> dict[str, Any]:
    return {
        "metadata": meta("pi", **metadata),
        "spec": spec or {"completions": 1},
        "status": status,
    }


def endpoints(subsets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": meta("web"), "subsets": subsets}


def addresses(*ips: str) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


EVENT = {
    "metadata": meta("web-0.17a"),
    "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{web}"},
    "type": "Normal",
    "reason": "Pulled",
    "message": " Pulled image \n",
    "source": {"component": "kubelet", "host": "node-a"},
    "firstTimestamp": ago(600),
    "lastTimestamp": ago(45),
    "count": 4,
}


@pytest.mark.parametrize(
    ("kind", "obj", "cells"),
    [
        pytest.param(
            "Pod",
            full_pod(),
            [
                "web-0",
                "1/1",
                "Running",
                "3 (2m ago)",
                "3m20s",
                "10.1.0.5",
                "node-a",
                "<none>",
                "1/2",
            ],
            id="pod-wide",
        ),
        pytest.param(
            "Pod",
            pod("Pending"),
            ["web-0", "0/1", "Pending", "0", "3m20s", "<none>", "<none>", "<none>", "<none>"],
            id="pod-unscheduled",
        ),
        pytest.param(
            "Node",
            node(),
            [
                "node-a",
                "Ready",
                "control-plane,worker",
                "2d",
                "v1.31.0",
                "10.0.0.1",
                "<none>",
                "Debian",
                "6.1",
                "kubelite://0.1",
            ],
            id="node-ready-roles",
        ),
        pytest.param(
            "Node",
            node(metadata=meta("n", None), spec={"unschedulable": True}, status={}),
            [
                "n",
                "Unknown,SchedulingDisabled",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>",
            ],
            id="node-unknown-cordoned",
        ),
        pytest.param(
            "Node",
            node(
                status={"conditions": [{"type": "Ready", "status": "Unknown"}]},
                metadata=meta("n", labels={"kubernetes.io/role": "master"}),
            ),
            [
                "n",
                "NotReady",
                "master",
                "5m",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>",
            ],
            id="node-notready-legacy-role",
        ),
        pytest.param(
            "Deployment",
            {
                "metadata": meta("web"),
                "spec": WORKLOAD_SPEC,
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
            },
            ["web", "2/3", 3, 2, "5m", "a,b", "nginx,busybox", "app=web"],
            id="deployment",
        ),
        pytest.param(
            "ReplicaSet",
            {
                "metadata": meta("web-5d"),
                "spec": WORKLOAD_SPEC,
                "status": {"replicas": 3, "readyReplicas": 1},
            },
            ["web-5d", 3, 3, 1, "5m", "a,b", "nginx,busybox", "app=web"],
            id="replicaset",
        ),
        pytest.param(
            "StatefulSet",
            {"metadata": meta("db"), "spec": WORKLOAD_SPEC, "status": {"readyReplicas": 2}},
            ["db", "2/3", "5m", "a,b", "nginx,busybox"],
            id="statefulset",
        ),
        pytest.param(
            "DaemonSet",
            {
                "metadata": meta("agent"),
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {
                        "spec": {
                            "nodeSelector": {"os": "linux"},
                            "containers": [{"name": "a", "image": "agent:1"}],
                        }
                    },
                },
                "status": {
                    "desiredNumberScheduled": 3,
                    "currentNumberScheduled": 3,
                    "numberReady": 2,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 2,
                },
            },
            ["agent", 3, 3, 2, 3, 2, "os=linux", "5m", "a", "agent:1", "app=agent"],
            id="daemonset",
        ),
        pytest.param(
            "Job",
            job(
                {
                    "succeeded": 1,
                    "startTime": ago(100),
                    "completionTime": ago(40),
                    "conditions": [{"type": "Complete", "status": "True"}],
                }
            ),
            ["pi", "Complete", "1/1", "60s", "5m", "", "", "<none>"],
            id="job-complete",
        ),
        pytest.param(
            "Job",
            job({"startTime": ago(200)}),
            ["pi", "Running", "0/1", "3m20s", "5m", "", "", "<none>"],
            id="job-running",
        ),
        pytest.param(
            "Job",
            job({"conditions": [{"type": "Failed", "status": "True"}]}, {"parallelism": 3}),
            ["pi", "Failed", "0/1 of 3", "", "5m", "", "", "<none>"],
            id="job-failed-parallel",
        ),
        pytest.param(
            "Job",
            job(
                {"conditions": [{"type": "Suspended", "status": "True"}]}, deletionTimestamp=ago(1)
            ),
            ["pi", "Terminating", "0/1", "", "5m", "", "", "<none>"],
            id="job-terminating",
        ),
        pytest.param(
            "Service",
            service(
                {
                    "type": "NodePort",
                    "clusterIP": "10.96.0.10",
                    "clusterIPs": ["10.96.0.10"],
                    "selector": {"app": "web"},
                    "ports": [
                        {"port": 80, "protocol": "TCP"},
                        {"port": 443, "nodePort": 30001, "protocol": "TCP"},
                    ],
                }
            ),
            ["web", "NodePort", "10.96.0.10", "<none>", "80/TCP,443:30001/TCP", "5m", "app=web"],
            id="service-nodeport",
        ),
        pytest.param(
            "Service",
            service(
                {
                    "type": "ClusterIP",
                    "clusterIP": "None",
                    "ports": [{"port": 53, "protocol": "UDP"}],
                }
            ),
            ["web", "ClusterIP", "None", "<none>", "53/UDP", "5m", "<none>"],
            id="service-headless",
        ),
        pytest.param(
            "Service",
            service({"type": "LoadBalancer", "clusterIP": "10.96.0.2", "ports": []}),
            ["web", "LoadBalancer", "10.96.0.2", "<pending>", "<none>", "5m", "<none>"],
            id="service-lb-pending",
        ),
        pytest.param(
            "Service",
            service(
                {"type": "LoadBalancer", "clusterIP": "10.96.0.2", "externalIPs": ["1.2.3.4"]},
                {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}},
            ),
            ["web", "LoadBalancer", "10.96.0.2", "5.6.7.8,1.2.3.4", "<none>", "5m", "<none>"],
            id="service-lb-ingress",
        ),
        pytest.param(
            "Service",
            service({"type": "ExternalName", "externalName": "example.com"}),
            ["web", "ExternalName", "<none>", "example.com", "<none>", "5m", "<none>"],
            id="service-externalname",
        ),
        pytest.param(
            "Namespace",
            {"metadata": meta("default", 15 * MINUTE), "status": {"phase": "Active"}},
            ["default", "Active", "15m"],
            id="namespace",
        ),
        pytest.param(
            "Event",
            EVENT,
            [
                "45s",
                "Normal",
                "Pulled",
                "pod/web-0",
                "spec.containers{web}",
                "kubelet, node-a",
                "Pulled image",
                "10m",
                4,
                "web-0.17a",
            ],
            id="event",
        ),
        pytest.param(
            "Event",
            {
                "metadata": meta("n.1"),
                "involvedObject": {"kind": "Node"},
                "type": "Warning",
                "reason": "Rebooted",
                "message": "m",
                "eventTime": "2026-01-10T11:59:00.000000Z",
                "reportingComponent": "kubelite",
            },
            ["60s", "Warning", "Rebooted", "node", "", "kubelite", "m", "60s", 1, "n.1"],
            id="event-new-style",
        ),
        pytest.param(
            "Event",
            {**EVENT, "series": {"count": 9, "lastObservedTime": "2026-01-10T11:59:50.000000Z"}},
            [
                "10s",
                "Normal",
                "Pulled",
                "pod/web-0",
                "spec.containers{web}",
                "kubelet, node-a",
                "Pulled image",
                "10m",
                9,
                "web-0.17a",
            ],
            id="event-series",
        ),
        pytest.param(
            "Endpoints",
            endpoints([{"addresses": addresses("10.1.0.5"), "ports": [{"port": 80}]}]),
            ["web", "10.1.0.5:80", "5m"],
            id="endpoints-one",
        ),
        pytest.param("Endpoints", endpoints([]), ["web", "<none>", "5m"], id="endpoints-none"),
        pytest.param(
            "Endpoints",
            endpoints(
                [
                    {
                        "addresses": addresses("10.1.0.5", "10.1.0.6"),
                        "ports": [{"port": 80}, {"port": 443}],
                    }
                ]
            ),
            ["web", "10.1.0.5:80,10.1.0.6:80,10.1.0.5:443 + 1 more...", "5m"],
            id="endpoints-more",
        ),
        pytest.param(
            "Endpoints",
            endpoints([{"addresses": addresses("fd00::1", "10.1.0.7")}]),
            ["web", "fd00::1,10.1.0.7", "5m"],
            id="endpoints-headless-no-ports",
        ),
        pytest.param(
            "Endpoints",
            endpoints([{"addresses": addresses("fd00::1"), "ports": [{"port": 53}]}]),
            ["web", "[fd00::1]:53", "5m"],
            id="endpoints-ipv6",
        ),
        pytest.param(
            "ConfigMap",
            {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
            ["cfg", 3, "5m"],
            id="configmap",
        ),
        pytest.param(
            "Secret",
            {"metadata": meta("s"), "type": "Opaque", "data": {"k": "dg=="}},
            ["s", "Opaque", 1, "5m"],
            id="secret",
        ),
        pytest.param(
            "ServiceAccount",
            {"metadata": meta("default"), "secrets": [{"name": "t"}]},
            ["default", 1, "5m"],
            id="serviceaccount",
        ),
        pytest.param(
            "Lease",
            {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "host_1"}},
            ["kube-scheduler", "host_1", "5m"],
            id="lease",
        ),
        pytest.param(
            "Lease", {"metadata": meta("l"), "spec": {}}, ["l", "", "5m"], id="lease-free"
        ),
        pytest.param("Widget", {"metadata": meta("w", 45)}, ["w", "45s"], id="generic"),
        pytest.param(
            "Widget", {"metadata": meta("w", None)}, ["w", "<unknown>"], id="generic-no-age"
        ),
    ],
)
def test_row_cells(kind: str, obj: dict[str, Any], cells: list[Any]) -> None:
    table = table_for(kind, [obj], NOW, "7", None)
    assert table["rows"][0]["cells"] == cells
    assert len(table["columnDefinitions"]) == len(cells)


COLUMNS = {
    "Pod": "Name Ready Status Restarts Age | IP Node Nominated_Node Readiness_Gates",
    "Node": (
        "Name Status Roles Age Version"
        " | Internal-IP External-IP OS-Image Kernel-Version Container-Runtime"
    ),
    "Deployment": "Name Ready Up-to-date Available Age | Containers Images Selector",
    "ReplicaSet": "Name Desired Current Ready Age | Containers Images Selector",
    "StatefulSet": "Name Ready Age | Containers Images",
    "DaemonSet": (
        "Name Desired Current Ready Up-to-date Available Node_Selector Age"
        " | Containers Images Selector"
    ),
    "Job": "Name Status Completions Duration Age | Containers Images Selector",
    "Service": "Name Type Cluster-IP External-IP Port(s) Age | Selector",
    "Namespace": "Name Status Age |",
    "Endpoints": "Name Endpoints Age |",
    "ConfigMap": "Name Data Age |",
    "Secret": "Name Type Data Age |",
    "ServiceAccount": "Name Secrets Age |",
    "Lease": "Name Holder Age |",
    "Widget": "Name Age |",
}


@pytest.mark.parametrize(("kind", "layout"), list(COLUMNS.items()), ids=list(COLUMNS))
def test_columns_and_wide_priority(kind: str, layout: str) -> None:
    normal, wide = layout.split("|")
    columns = table_for(kind, [], NOW, "1", None)["columnDefinitions"]
    names = [c["name"] for c in columns]
    assert names == [n.replace("_", " ") for n in normal.split() + wide.split()]
    assert [c["priority"] for c in columns] == [0] * len(normal.split()) + [1] * len(wide.split())
    assert columns[0]["format"] == "name"
    assert all(c["description"] for c in columns)


def test_event_columns_put_wide_ones_between() -> None:
    columns = table_for("Event", [], NOW, "1", None)["columnDefinitions"]
    shown = [c["name"] for c in columns if c["priority"] == 0]
    assert shown == ["Last Seen", "Type", "Reason", "Object", "Message"]


@pytest.mark.parametrize("kind", [*PRINTERS, "Widget"])
def test_cell_types_match_columns(kind: str) -> None:
    table = table_for(kind, [{"metadata": meta()}], NOW, "1", None)
    for column, cell in zip(table["columnDefinitions"], table["rows"][0]["cells"], strict=True):
        if kind == "Event" and column["name"] == "Count":
            assert isinstance(cell, int)  # upstream's own mismatch, kept for fidelity
            continue
        expected = int if column["type"] == "integer" else str
        assert isinstance(cell, expected), column["name"]


def test_table_envelope_and_partial_object_metadata() -> None:
    obj = {
        "kind": "Pod",
        "metadata": meta("web-0", labels={"app": "web"}),
        "spec": {},
        "status": {},
    }
    table = table_for("Pod", [obj], NOW, "42", "token-1")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "token-1"}
    row_object = table["rows"][0]["object"]
    assert row_object == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }
    assert row_object["metadata"] is not obj["metadata"]
    assert table_for("Pod", [], NOW, "42", None)["metadata"] == {"resourceVersion": "42"}


@pytest.mark.parametrize(
    ("phase", "conditions"),
    [
        pytest.param("Running", None, id="running-none"),
        pytest.param(
            "Succeeded",
            [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": "The pod has completed successfully.",
                }
            ],
            id="succeeded",
        ),
        pytest.param(
            "Failed",
            [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "Failed",
                    "message": "The pod failed.",
                }
            ],
            id="failed",
        ),
    ],
)
def test_finished_pod_row_conditions(phase: str, conditions: list[dict[str, str]] | None) -> None:
    row = table_for("Pod", [pod(phase)], NOW, "1", None)["rows"][0]
    assert row.get("conditions") == conditions
