"""Defaulting against upstream: one table row per default the API server fills in, per kind.

Each row names a kind, an object as a client sends it, a dotted path into the defaulted object
and the value upstream stores there (``SetDefaults_*`` plus the admission plugins clients see).
The properties check that defaulting never mutates its input and that defaulting a defaulted
object changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.defaults import apply_defaults, pod_qos_class

KINDS = {
    "Pod": ("", "v1"),
    "Service": ("", "v1"),
    "Namespace": ("", "v1"),
    "Node": ("", "v1"),
    "Secret": ("", "v1"),
    "ConfigMap": ("", "v1"),
    "Deployment": ("apps", "v1"),
    "ReplicaSet": ("apps", "v1"),
    "StatefulSet": ("apps", "v1"),
    "DaemonSet": ("apps", "v1"),
    "Job": ("batch", "v1"),
    "CronJob": ("batch", "v1"),
    "PersistentVolumeClaim": ("", "v1"),
    "ResourceQuota": ("", "v1"),
}


def defaulted(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    group, version = KINDS[kind]
    return apply_defaults(group, version, kind, obj)


def lookup(obj: Any, path: str) -> Any:
    """Follow a dotted path; integer parts index lists (``spec.containers.0.name``)."""
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.25", **extra}


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": list(containers or [container()]), **spec},
    }


def template(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container()], **spec}}


def workload(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(), **spec},
    }


def resources(limits: dict[str, Any] | None = None, requests: dict[str, Any] | None = None) -> Any:
    value: dict[str, Any] = {}
    if limits is not None:
        value["limits"] = limits
    if requests is not None:
        value["requests"] = requests
    return container(resources=value)


TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]

CASES = [
    # --- Pod spec
    ("Pod", pod(), "spec.restartPolicy", "Always", "pod-restart-policy"),
    ("Pod", pod(), "spec.dnsPolicy", "ClusterFirst", "pod-dns-policy"),
    ("Pod", pod(), "spec.schedulerName", "default-scheduler", "pod-scheduler"),
    ("Pod", pod(), "spec.terminationGracePeriodSeconds", 30, "pod-grace"),
    ("Pod", pod(), "spec.serviceAccountName", "default", "pod-service-account"),
    ("Pod", pod(), "spec.serviceAccount", "default", "pod-service-account-deprecated"),
    ("Pod", pod(serviceAccount="sa"), "spec.serviceAccountName", "sa", "pod-sa-from-deprecated"),
    ("Pod", pod(), "spec.enableServiceLinks", True, "pod-service-links"),
    ("Pod", pod(), "spec.priority", 0, "pod-priority"),
    ("Pod", pod(), "spec.securityContext", {}, "pod-security-context"),
    ("Pod", pod(restartPolicy="Never"), "spec.restartPolicy", "Never", "pod-keeps-sent-value"),
    # --- containers
    ("Pod", pod(), "spec.containers.0.terminationMessagePath", "/dev/termination-log", "msg-path"),
    ("Pod", pod(), "spec.containers.0.terminationMessagePolicy", "File", "msg-policy"),
    ("Pod", pod(), "spec.containers.0.resources", {}, "container-resources"),
    ("Pod", pod(), "spec.containers.0.imagePullPolicy", "IfNotPresent", "pull-tagged"),
    ("Pod", pod(container(image="nginx")), "spec.containers.0.imagePullPolicy", "Always",
     "pull-untagged"),
    ("Pod", pod(container(image="nginx:latest")), "spec.containers.0.imagePullPolicy", "Always",
     "pull-latest"),
    ("Pod", pod(container(image="localhost:5000/web")), "spec.containers.0.imagePullPolicy",
     "Always", "pull-registry-port-untagged"),
    ("Pod", pod(container(image="web@sha256:abc")), "spec.containers.0.imagePullPolicy",
     "IfNotPresent", "pull-digest"),
    ("Pod", pod(container(imagePullPolicy="Never")), "spec.containers.0.imagePullPolicy", "Never",
     "pull-sent"),
    ("Pod", pod(container(ports=[{"containerPort": 80}])), "spec.containers.0.ports.0.protocol",
     "TCP", "port-protocol"),
    ("Pod", {"metadata": {}, "spec": {"containers": [container()],
                                      "initContainers": [container(name="init")]}},
     "spec.initContainers.0.terminationMessagePolicy", "File", "init-container"),
    # --- tolerations (DefaultTolerationSeconds)
    ("Pod", pod(), "spec.tolerations", TOLERATIONS, "tolerations-added"),
    ("Pod", pod(tolerations=[{"operator": "Exists"}]), "spec.tolerations",
     [{"operator": "Exists"}], "tolerations-wildcard-kept"),
    ("Pod", pod(tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                              "effect": "NoExecute", "tolerationSeconds": 5}]),
     "spec.tolerations.1.key", "node.kubernetes.io/unreachable", "tolerations-one-present"),
    # --- quantities and QoS
    ("Pod", pod(resources({"cpu": 1, "memory": "1024Mi"})), "spec.containers.0.resources",
     {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
     "requests-from-limits"),
    ("Pod", pod(resources(requests={"cpu": 0.5})), "spec.containers.0.resources.requests.cpu",
     "500m", "request-number-normalized"),
    ("Pod", pod(resources(requests={"cpu": "abc"})), "spec.containers.0.resources.requests.cpu",
     "abc", "bad-quantity-left-for-validation"),
    ("Pod", pod(), "status.phase", "Pending", "status-phase"),
    ("Pod", pod(), "status.qosClass", "BestEffort", "qos-best-effort"),
    ("Pod", pod(resources({"cpu": "1", "memory": "1Gi"})), "status.qosClass", "Guaranteed",
     "qos-guaranteed"),
    ("Pod", pod(resources({"cpu": "1"})), "status.qosClass", "Burstable", "qos-cpu-limit-only"),
    ("Pod", pod(resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "500m"})), "status.qosClass",
     "Burstable", "qos-request-below-limit"),
    ("Pod", pod(resources(requests={"memory": "1Gi"})), "status.qosClass", "Burstable",
     "qos-request-only"),
    ("Pod", pod(resources(requests={"cpu": "0"})), "status.qosClass", "BestEffort",
     "qos-zero-request"),
    # --- Deployment
    ("Deployment", workload(), "spec.replicas", 1, "deployment-replicas"),
    ("Deployment", workload(), "spec.strategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
     "deployment-strategy"),
    ("Deployment", workload(strategy={"type": "Recreate"}), "spec.strategy", {"type": "Recreate"},
     "deployment-recreate"),
    ("Deployment", workload(strategy={"rollingUpdate": {"maxSurge": 1}}),
     "spec.strategy.rollingUpdate", {"maxSurge": 1, "maxUnavailable": "25%"},
     "deployment-partial-rolling"),
    ("Deployment", workload(), "spec.revisionHistoryLimit", 10, "deployment-history"),
    ("Deployment", workload(), "spec.progressDeadlineSeconds", 600, "deployment-deadline"),
    ("Deployment", workload(), "spec.template.spec.restartPolicy", "Always", "deployment-template"),
    ("Deployment", workload(), "spec.template.spec.containers.0.imagePullPolicy", "IfNotPresent",
     "deployment-template-container"),
    # --- ReplicaSet, StatefulSet, DaemonSet
    ("ReplicaSet", workload(), "spec.replicas", 1, "replicaset-replicas"),
    ("ReplicaSet", workload(replicas=0), "spec.replicas", 0, "replicaset-zero-kept"),
    ("ReplicaSet", workload(), "spec.template.spec.dnsPolicy", "ClusterFirst",
     "replicaset-template"),
    ("StatefulSet", workload(), "spec.podManagementPolicy", "OrderedReady", "sts-policy"),
    ("StatefulSet", workload(), "spec.updateStrategy",
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, "sts-strategy"),
    ("StatefulSet", workload(), "spec.revisionHistoryLimit", 10, "sts-history"),
    ("StatefulSet", workload(), "spec.replicas", 1, "sts-replicas"),
    ("StatefulSet", workload(), "spec.persistentVolumeClaimRetentionPolicy",
     {"whenDeleted": "Retain", "whenScaled": "Retain"}, "sts-pvc-retention"),
    ("DaemonSet", workload(), "spec.updateStrategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
     "ds-strategy"),
    ("DaemonSet", workload(updateStrategy={"type": "OnDelete"}), "spec.updateStrategy",
     {"type": "OnDelete"}, "ds-on-delete"),
    ("DaemonSet", workload(), "spec.revisionHistoryLimit", 10, "ds-history"),
    # --- Job, CronJob
    ("Job", {"spec": {"template": template(restartPolicy="Never")}}, "spec.completions", 1,
     "job-completions"),
    ("Job", {"spec": {"template": template()}}, "spec.parallelism", 1, "job-parallelism"),
    ("Job", {"spec": {"template": template()}}, "spec.backoffLimit", 6, "job-backoff"),
    ("Job", {"spec": {"template": template()}}, "spec.completionMode", "NonIndexed", "job-mode"),
    ("Job", {"spec": {"template": template()}}, "spec.template.spec.dnsPolicy", "ClusterFirst",
     "job-template"),
    ("CronJob", {"spec": {"jobTemplate": {"spec": {"template": template()}}}},
     "spec.concurrencyPolicy", "Allow", "cronjob-concurrency"),
    ("CronJob", {"spec": {"jobTemplate": {"spec": {"template": template()}}}},
     "spec.successfulJobsHistoryLimit", 3, "cronjob-success-history"),
    ("CronJob", {"spec": {"jobTemplate": {"spec": {"template": template()}}}},
     "spec.failedJobsHistoryLimit", 1, "cronjob-failed-history"),
    ("CronJob", {"spec": {"jobTemplate": {"spec": {"template": template()}}}},
     "spec.jobTemplate.spec.backoffLimit", 6, "cronjob-job-defaults"),
    # --- Service
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.type", "ClusterIP", "svc-type"),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.sessionAffinity", "None",
     "svc-affinity"),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.ports",
     [{"port": 80, "protocol": "TCP", "targetPort": 80}], "svc-port"),
    ("Service", {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}},
     "spec.ports.0.targetPort", "http", "svc-named-target-kept"),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.internalTrafficPolicy", "Cluster",
     "svc-internal-traffic"),
    ("Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}},
     "spec.externalTrafficPolicy", "Cluster", "svc-nodeport-external-traffic"),
    ("Service", {"spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}},
     "spec.sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}}, "svc-client-ip"),
    # --- Namespace, Node, Secret
    ("Namespace", {"metadata": {"name": "team"}}, "spec.finalizers", ["kubernetes"],
     "ns-finalizers"),
    ("Namespace", {"metadata": {"name": "team"}}, "status.phase", "Active", "ns-phase"),
    ("Namespace", {"metadata": {"name": "team"}}, "metadata.labels",
     {"kubernetes.io/metadata.name": "team"}, "ns-name-label"),
    ("Node", {"status": {"capacity": {"cpu": 4, "memory": "2048Mi", "pods": "110"}}},
     "status.capacity", {"cpu": "4", "memory": "2Gi", "pods": "110"}, "node-capacity"),
    ("Node", {"status": {"allocatable": {"cpu": "3500m"}}}, "status.allocatable",
     {"cpu": "3500m"}, "node-allocatable"),
    ("Secret", {"data": {}}, "type", "Opaque", "secret-type"),
    ("Pod", pod(container(ports=[{"containerPort": 53}]), hostNetwork=True),
     "spec.containers.0.ports.0.hostPort", 53, "pod-host-network-host-port"),
    ("PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "1024Mi"}}}},
     "spec.resources.requests.storage", "1Gi", "pvc-storage"),
    ("PersistentVolumeClaim", {"spec": {}}, "spec.volumeMode", "Filesystem", "pvc-volume-mode"),
    ("ResourceQuota", {"spec": {"hard": {"pods": 10, "requests.cpu": 0.5}}}, "spec.hard",
     {"pods": "10", "requests.cpu": "500m"}, "quota-hard"),
    ("ConfigMap", {"data": {"a": "b"}}, "data", {"a": "b"}, "configmap-untouched"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "obj", "path", "expected"),
    [pytest.param(*case[:4], id=case[4]) for case in CASES],
)
def test_default(kind: str, obj: dict[str, Any], path: str, expected: Any) -> None:
    assert lookup(defaulted(kind, obj), path) == expected


def test_job_with_parallelism_leaves_completions_unset() -> None:
    spec = defaulted("Job", {"spec": {"parallelism": 3, "template": template()}})["spec"]
    assert "completions" not in spec
    assert spec["parallelism"] == 3


def test_service_gets_no_cluster_ip() -> None:
    spec = defaulted("Service", {"spec": {"ports": [{"port": 80}]}})["spec"]
    assert "clusterIP" not in spec
    assert "clusterIPs" not in spec


def test_templates_do_not_get_pod_only_defaults() -> None:
    spec = defaulted("Deployment", workload())["spec"]["template"]["spec"]
    for key in ("tolerations", "serviceAccountName", "priority", "enableServiceLinks"):
        assert key not in spec


def test_unknown_kind_is_copied() -> None:
    obj = {"spec": {"x": [1]}}
    result = apply_defaults("example.com", "v1", "Widget", obj)
    assert result == obj
    assert result is not obj


def test_qos_of_empty_spec_is_best_effort() -> None:
    assert pod_qos_class({}) == "BestEffort"


# --- properties -------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "1", "x", "25%", "1Gi"])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "name", "port", "cpu"]), inner, max_size=3)
    ),
    max_leaves=8,
)
_quantity = st.one_of(
    st.integers(0, 4096), st.sampled_from(["100m", "1", "1024Mi", "0.5", "bad", "2Gi"])
)
_resources = st.fixed_dictionaries(
    {},
    optional={
        "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), _quantity, max_size=2),
        "requests": st.dictionaries(st.sampled_from(["cpu", "memory"]), _quantity, max_size=2),
    },
)
_container = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b"])},
    optional={
        "image": st.sampled_from(["nginx", "nginx:latest", "nginx:1", "r:5000/x", 3]),
        "resources": _resources,
        "ports": st.lists(
            st.fixed_dictionaries({"containerPort": st.integers(0, 9)}, optional={"x": _json}),
            max_size=2,
        ),
        "imagePullPolicy": st.sampled_from(["Never", "Always"]),
    },
)
_pod_spec = st.fixed_dictionaries(
    {},
    optional={
        "containers": st.lists(_container, max_size=2),
        "initContainers": st.lists(_container, max_size=1),
        "tolerations": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "key": st.sampled_from(["", "node.kubernetes.io/not-ready"]),
                    "effect": st.sampled_from(["", "NoExecute", "NoSchedule"]),
                },
            ),
            max_size=2,
        ),
        "restartPolicy": st.sampled_from(["Never", "OnFailure"]),
        "serviceAccount": st.sampled_from(["", "sa"]),
        "extra": _json,
    },
)
_template = st.fixed_dictionaries({}, optional={"spec": _pod_spec, "metadata": _json})
_spec = st.fixed_dictionaries(
    {},
    optional={
        "template": _template,
        "jobTemplate": st.fixed_dictionaries({}, optional={"spec": st.just({})}),
        "strategy": st.fixed_dictionaries(
            {}, optional={"type": st.sampled_from(["Recreate", "RollingUpdate"])}
        ),
        "updateStrategy": st.fixed_dictionaries(
            {}, optional={"type": st.sampled_from(["OnDelete", "RollingUpdate"])}
        ),
        "ports": st.lists(
            st.fixed_dictionaries(
                {}, optional={"port": st.integers(0, 5), "targetPort": st.sampled_from([0, "h"])}
            ),
            max_size=2,
        ),
        "sessionAffinity": st.sampled_from(["None", "ClientIP"]),
        "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]),
        "replicas": st.integers(0, 3),
        "parallelism": st.integers(0, 3),
        "containers": st.lists(_container, max_size=2),
    },
)
_objects = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={"name": st.sampled_from(["a", ""])}),
        "spec": st.one_of(_spec, _json),
        "status": st.fixed_dictionaries(
            {}, optional={"capacity": st.dictionaries(st.just("cpu"), _quantity)}
        ),
    },
)


@settings(max_examples=300)
@given(kind=st.sampled_from(sorted(KINDS)), obj=_objects)
def test_defaulting_is_idempotent_and_pure(kind: str, obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    once = defaulted(kind, obj)
    assert obj == before  # the input is untouched
    assert defaulted(kind, once) == once
