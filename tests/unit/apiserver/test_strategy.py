"""Per-kind write decisions: create, update, delete, binding and scale, against upstream's rules.

Everything is called the way the registry calls it: a stored object (what `prepare_create`
returned), the request body, and a fixed clock. Messages are asserted word for word where they
are upstream's (kubectl prints them verbatim).
"""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.errors import ApiError, BadRequestError, ConflictError, InvalidError
from kubelite.api.meta import NAMESPACE_MISMATCH, format_time, parse_time
from kubelite.api.resources import RESOURCES, ResourceInfo
from kubelite.apiserver import strategy
from kubelite.apiserver.strategy import (
    DeleteNow,
    DeleteOptions,
    MarkDeleting,
    Scope,
    apply_scale,
    bind_pod,
    binding_target,
    check_body_type,
    check_name_matches,
    check_preconditions,
    parse_delete_options,
    parse_dry_run,
    plan_delete,
    prepare_create,
    prepare_update,
    scale_of,
    should_delete_after_update,
)

Json = dict[str, Any]

NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
UID = "0b1c2d3e-0000-4000-8000-000000000001"


def _info(group: str, plural: str) -> ResourceInfo:
    info = RESOURCES.lookup(group, "v1", plural)
    assert info is not None, (group, plural)
    return info


PODS = _info("", "pods")
NODES = _info("", "nodes")
NAMESPACES = _info("", "namespaces")
SERVICES = _info("", "services")
CONFIGMAPS = _info("", "configmaps")
EVENTS = _info("", "events")
ENDPOINTS = _info("", "endpoints")
DEPLOYMENTS = _info("apps", "deployments")
REPLICASETS = _info("apps", "replicasets")
STATEFULSETS = _info("apps", "statefulsets")
JOBS = _info("batch", "jobs")
LEASES = _info("coordination.k8s.io", "leases")


def _at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def _ts(seconds: float = 0) -> str:
    return format_time(_at(seconds))


def _get(obj: Any, path: str) -> Any:
    """``spec.containers.0.image`` style lookup; a missing key raises."""
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def _container(image: str = "nginx:1.27") -> Json:
    return {"name": "c", "image": image}


def _pod_body(name: str = "web", **spec: Any) -> Json:
    return {"metadata": {"name": name}, "spec": {"containers": [_container()], **spec}}


def _template(app: str = "web") -> Json:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [_container()]}}


def _deployment_body(name: str = "web", **spec: Any) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": _template(), **spec},
    }


def _create(info: ResourceInfo, body: Json, namespace: str | None = "default") -> Json:
    return prepare_create(
        info, body, namespace=namespace, now=NOW, new_uid=UID, random_suffix="x2k8q"
    )


def _stored(info: ResourceInfo, body: Json, rv: str = "7") -> Json:
    """What the registry would hand back after a create: the object plus its resourceVersion."""
    namespace = "default" if info.namespaced else None
    obj = _create(info, body, namespace)
    obj["metadata"]["resourceVersion"] = rv
    return obj


def _stored_pod(
    node: str | None = "node-1",
    phase: str | None = None,
    finalizers: list[str] | None = None,
    **spec: Any,
) -> Json:
    pod = _stored(PODS, _pod_body(**spec))
    if node is not None:
        pod["spec"]["nodeName"] = node
    if phase is not None:
        pod["status"]["phase"] = phase
    if finalizers is not None:
        pod["metadata"]["finalizers"] = finalizers
    return pod


def _stored_namespace(spec_finalizers: list[str] | None = None) -> Json:
    body: Json = {"metadata": {"name": "dev"}}
    if spec_finalizers is not None:
        body["spec"] = {"finalizers": spec_finalizers}
    ns = _stored(NAMESPACES, body)
    if spec_finalizers is not None:  # the defaulting keeps what the client sent
        assert ns["spec"]["finalizers"] == spec_finalizers
    return ns


def _with_meta(obj: Json, **metadata: Any) -> Json:
    result = copy.deepcopy(obj)
    result["metadata"].update(metadata)
    return result


# --- small lookups --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "resource", "kind", "status", "create_on_update"),
    [
        pytest.param(PODS, "pods", "Pod", True, False, id="pods"),
        pytest.param(NODES, "nodes", "Node", True, False, id="nodes"),
        pytest.param(NAMESPACES, "namespaces", "Namespace", True, False, id="namespaces"),
        pytest.param(CONFIGMAPS, "configmaps", "ConfigMap", False, False, id="configmaps"),
        pytest.param(
            DEPLOYMENTS, "deployments.apps", "Deployment.apps", True, False, id="deployments"
        ),
        pytest.param(JOBS, "jobs.batch", "Job.batch", True, False, id="jobs"),
        pytest.param(ENDPOINTS, "endpoints", "Endpoints", False, True, id="endpoints"),
        pytest.param(EVENTS, "events", "Event", False, True, id="events"),
        pytest.param(
            LEASES,
            "leases.coordination.k8s.io",
            "Lease.coordination.k8s.io",
            False,
            True,
            id="leases",
        ),
    ],
)
def test_resource_facts(
    info: ResourceInfo, resource: str, kind: str, status: bool, create_on_update: bool
) -> None:
    assert str(strategy.group_resource(info)) == resource
    assert str(strategy.group_kind(info)) == kind
    assert strategy.has_status(info) is status
    assert strategy.allows_create_on_update(info) is create_on_update


# --- request bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"metadata": {"name": "web"}}, id="python-client-no-kind"),
        pytest.param({"kind": "", "metadata": {"name": "web"}}, id="empty-kind"),
        pytest.param({"kind": "Pod", "apiVersion": "v1"}, id="matching-kind"),
        pytest.param({"kind": "Pod", "metadata": None}, id="null-metadata"),
    ],
)
def test_body_type_accepted(body: Json) -> None:
    assert check_body_type(PODS, body) is body


BODY_TYPE_ERRORS = [
    pytest.param(PODS, [], "", "the body of the request must be a Pod object", id="list-body"),
    pytest.param(PODS, None, "", "the body of the request must be a Pod object", id="empty-body"),
    pytest.param(
        PODS,
        "pod",
        "Binding",
        "the body of the request must be a Binding object",
        id="expected-kind",
    ),
    pytest.param(
        PODS,
        {"kind": "Service", "apiVersion": "v1"},
        "",
        'Service in version "v1" cannot be handled as a Pod: '
        "the kind of the object does not match the kind of the resource",
        id="kind-mismatch",
    ),
    pytest.param(
        DEPLOYMENTS,
        {"kind": "StatefulSet", "apiVersion": "apps/v1"},
        "",
        'StatefulSet in version "apps/v1" cannot be handled as a Deployment: '
        "the kind of the object does not match the kind of the resource",
        id="kind-mismatch-apps",
    ),
    pytest.param(
        PODS, {"kind": "Pod", "metadata": []}, "", "metadata must be an object", id="metadata"
    ),
]


@pytest.mark.parametrize(("info", "body", "expected_kind", "message"), BODY_TYPE_ERRORS)
def test_body_type_errors(
    info: ResourceInfo, body: object, expected_kind: str, message: str
) -> None:
    with pytest.raises(BadRequestError) as raised:
        check_body_type(info, body, expected_kind=expected_kind)
    assert raised.value.status()["code"] == 400
    assert raised.value.message == message


def test_body_type_with_expected_kind() -> None:
    body = {"kind": "Binding", "target": {"name": "n"}}
    assert check_body_type(PODS, body, expected_kind="Binding") is body


def test_name_must_match_url() -> None:
    check_name_matches(PODS, {"metadata": {"name": "web"}}, "web")
    check_name_matches(PODS, {"metadata": {}}, "web")  # the URL names it
    with pytest.raises(BadRequestError) as raised:
        check_name_matches(PODS, {"metadata": {"name": "db"}}, "web")
    assert raised.value.message == (
        "the name of the object (db) does not match the name on the URL (web)"
    )


# --- create ---------------------------------------------------------------------------------

CREATED_FIELDS = [
    # server-owned metadata
    pytest.param(PODS, _pod_body(), "metadata.uid", UID, id="uid"),
    pytest.param(PODS, _pod_body(), "metadata.creationTimestamp", _ts(), id="created-at"),
    pytest.param(PODS, _pod_body(), "metadata.generation", 1, id="generation"),
    pytest.param(PODS, _pod_body(), "metadata.namespace", "default", id="namespace-from-url"),
    pytest.param(PODS, _pod_body(), "apiVersion", "v1", id="api-version-stamped"),
    pytest.param(PODS, _pod_body(), "kind", "Pod", id="kind-stamped"),
    pytest.param(
        DEPLOYMENTS,
        {k: v for k, v in _deployment_body().items() if k not in ("kind", "apiVersion")},
        "apiVersion",
        "apps/v1",
        id="apps-api-version-stamped",
    ),
    pytest.param(
        CONFIGMAPS,
        {"metadata": {"generateName": "cfg-"}},
        "metadata.name",
        "cfg-x2k8q",
        id="generate-name",
    ),
    # pod defaults (reference §5.2)
    pytest.param(PODS, _pod_body(), "spec.restartPolicy", "Always", id="pod-restart-policy"),
    pytest.param(PODS, _pod_body(), "spec.dnsPolicy", "ClusterFirst", id="pod-dns-policy"),
    pytest.param(PODS, _pod_body(), "spec.schedulerName", "default-scheduler", id="pod-scheduler"),
    pytest.param(
        PODS, _pod_body(), "spec.terminationGracePeriodSeconds", 30, id="pod-grace-period"
    ),
    pytest.param(PODS, _pod_body(), "spec.serviceAccountName", "default", id="pod-sa"),
    pytest.param(
        PODS,
        _pod_body(),
        "spec.containers.0.imagePullPolicy",
        "IfNotPresent",
        id="pod-pull-policy-tagged",
    ),
    pytest.param(
        PODS,
        {"metadata": {"name": "web"}, "spec": {"containers": [_container("nginx")]}},
        "spec.containers.0.imagePullPolicy",
        "Always",
        id="pod-pull-policy-untagged",
    ),
    pytest.param(
        PODS,
        _pod_body(),
        "status",
        {"phase": "Pending", "qosClass": "BestEffort"},
        id="pod-status-defaults",
    ),
    # status is the server's for kinds with /status
    pytest.param(
        PODS,
        {**_pod_body(), "status": {"phase": "Running", "podIP": "10.0.0.5"}},
        "status",
        {"phase": "Pending", "qosClass": "BestEffort"},
        id="pod-status-reset",
    ),
    pytest.param(
        DEPLOYMENTS,
        {**_deployment_body(), "status": {"replicas": 3, "readyReplicas": 3}},
        "status",
        {},
        id="deployment-status-reset",
    ),
    pytest.param(
        NAMESPACES,
        {"metadata": {"name": "dev"}, "status": {"phase": "Terminating"}},
        "status",
        {"phase": "Active"},
        id="namespace-status-reset",
    ),
    pytest.param(
        NODES,
        {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": 4}}},
        "status",
        {"capacity": {"cpu": "4"}},
        id="node-status-kept-from-kubelet",
    ),
    # workload and namespace defaults
    pytest.param(DEPLOYMENTS, _deployment_body(), "spec.replicas", 1, id="deployment-replicas"),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        "spec.strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        id="deployment-strategy",
    ),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        "spec.template.spec.restartPolicy",
        "Always",
        id="deployment-template-pod-defaults",
    ),
    pytest.param(
        NAMESPACES,
        {"metadata": {"name": "dev"}},
        "spec.finalizers",
        ["kubernetes"],
        id="namespace-finalizer",
    ),
    pytest.param(
        NAMESPACES,
        {"metadata": {"name": "dev"}},
        "metadata.labels",
        {"kubernetes.io/metadata.name": "dev"},
        id="namespace-name-label",
    ),
]


@pytest.mark.parametrize(("info", "body", "path", "expected"), CREATED_FIELDS)
def test_create_sets(info: ResourceInfo, body: Json, path: str, expected: Any) -> None:
    namespace = "default" if info.namespaced else None
    assert _get(_create(info, body, namespace), path) == expected


@pytest.mark.parametrize(
    "key",
    [
        "resourceVersion",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ],
)
def test_create_drops_client_sent_server_fields(key: str) -> None:
    body = _pod_body()
    body["metadata"][key] = "5" if key == "resourceVersion" else _ts(-60)
    assert key not in _create(PODS, body)["metadata"]


def test_create_overwrites_client_uid_and_generation() -> None:
    body = _pod_body()
    body["metadata"].update(uid="mine", generation=9, creationTimestamp=_ts(-3600))
    metadata = _create(PODS, body)["metadata"]
    assert (metadata["uid"], metadata["generation"]) == (UID, 1)
    assert metadata["creationTimestamp"] == _ts()


def test_create_does_not_change_the_body() -> None:
    body = {**_pod_body(), "status": {"phase": "Running"}}
    before = copy.deepcopy(body)
    _create(PODS, body)
    assert body == before


def test_cluster_scoped_create_drops_body_namespace() -> None:
    body = {"metadata": {"name": "n1", "namespace": "default"}}
    # The registry passes the URL's namespace (None); even a stray one is ignored.
    assert "namespace" not in _create(NODES, body, namespace="default")["metadata"]


@pytest.mark.parametrize("body_namespace", ["default", "", None])
def test_create_accepts_matching_or_absent_namespace(body_namespace: str | None) -> None:
    body = _pod_body()
    body["metadata"]["namespace"] = body_namespace
    assert _create(PODS, body)["metadata"]["namespace"] == "default"


def test_create_refuses_other_namespace() -> None:
    body = _pod_body()
    body["metadata"]["namespace"] = "kube-system"
    with pytest.raises(BadRequestError) as raised:
        _create(PODS, body)
    assert raised.value.message == NAMESPACE_MISMATCH
    assert NAMESPACE_MISMATCH == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

INVALID_CREATES = [
    pytest.param(
        PODS,
        {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c"}]}},
        'Pod "web" is invalid: spec.containers[0].image: Required value',
        [("FieldValueRequired", "spec.containers[0].image", "Required value")],
        id="pod-without-image",
    ),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(replicas=-1),
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0",
        [
            (
                "FieldValueInvalid",
                "spec.replicas",
                "Invalid value: -1: must be greater than or equal to 0",
            )
        ],
        id="deployment-negative-replicas",
    ),
    pytest.param(
        CONFIGMAPS,
        {"metadata": {}},
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required',
        [
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        ],
        id="no-name",
    ),
    pytest.param(
        PODS,
        _pod_body(restartPolicy="Sometimes") | {"metadata": {"name": "web", "labels": {"a": "b*"}}},
        f'Pod "web" is invalid: [metadata.labels: Invalid value: "b*": {LABEL_VALUE_RULE}, '
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
        '"Always", "OnFailure", "Never"]',
        [
            ("FieldValueInvalid", "metadata.labels", f'Invalid value: "b*": {LABEL_VALUE_RULE}'),
            (
                "FieldValueNotSupported",
                "spec.restartPolicy",
                'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
            ),
        ],
        id="two-errors-aggregated",
    ),
]


@pytest.mark.parametrize(("info", "body", "message", "causes"), INVALID_CREATES)
def test_create_validation(
    info: ResourceInfo, body: Json, message: str, causes: list[tuple[str, str, str]]
) -> None:
    with pytest.raises(InvalidError) as raised:
        _create(info, body)
    status = raised.value.status()
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["message"] == message
    details = status["details"]
    assert details["kind"] == info.kind
    assert details.get("group", "") == info.group
    assert details.get("name", "") == (body.get("metadata") or {}).get("name", "")
    assert [(c["reason"], c["field"], c["message"]) for c in details["causes"]] == causes


def test_create_validates_after_defaulting() -> None:
    # restartPolicy is required, but defaulting fills it in before validation runs.
    assert _create(PODS, _pod_body())["spec"]["restartPolicy"] == "Always"


# --- update ---------------------------------------------------------------------------------


def _update(info: ResourceInfo, old: Json, change: Any, scope: Scope = Scope.MAIN) -> Json:
    new = copy.deepcopy(old)
    change(new)
    return prepare_update(info, old, new, scope=scope)


def _set(path: str, value: Any) -> Any:
    def change(obj: Json) -> None:
        *parents, last = path.split(".")
        target = obj
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        target[last] = value

    return change


GENERATIONS = [
    pytest.param(DEPLOYMENTS, _deployment_body(), _set("spec.replicas", 3), 2, id="spec-change"),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        _set("spec.template.spec.containers.0.image", "nginx:1.28"),
        2,
        id="template-change",
    ),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        _set("metadata.labels", {"app": "web", "tier": "fe"}),
        1,
        id="label-change",
    ),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        _set("metadata.annotations", {"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
        1,
        id="annotation-change",
    ),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        _set("status", {"replicas": 5}),
        1,
        id="status-change-on-main-ignored",
    ),
    pytest.param(DEPLOYMENTS, _deployment_body(), lambda obj: None, 1, id="no-change"),
    pytest.param(
        DEPLOYMENTS,
        _deployment_body(),
        lambda obj: [obj.pop("kind"), obj.pop("apiVersion")],
        1,
        id="kind-omitted-by-client",
    ),
    pytest.param(
        CONFIGMAPS,
        {"metadata": {"name": "cfg"}, "data": {"a": "1"}},
        _set("data", {"a": "2"}),
        2,
        id="configmap-data",
    ),
    pytest.param(
        CONFIGMAPS,
        {"metadata": {"name": "cfg"}, "data": {"a": "1"}},
        _set("metadata.labels", {"x": "y"}),
        1,
        id="configmap-labels",
    ),
    pytest.param(
        NODES,
        {"metadata": {"name": "n1"}},
        _set("spec.unschedulable", True),
        2,
        id="node-cordon",
    ),
]


@pytest.mark.parametrize(("info", "body", "change", "generation"), GENERATIONS)
def test_generation(info: ResourceInfo, body: Json, change: Any, generation: int) -> None:
    old = _stored(info, body)
    assert _update(info, old, change)["metadata"]["generation"] == generation


def test_generation_keeps_counting() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())
    once = _update(DEPLOYMENTS, old, _set("spec.replicas", 2))
    twice = _update(DEPLOYMENTS, once, _set("spec.replicas", 3))
    assert twice["metadata"]["generation"] == 3


def test_main_scope_ignores_status() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())
    old["status"] = {"replicas": 1}
    new = _update(DEPLOYMENTS, old, _set("status", {"replicas": 9}))
    assert new["status"] == {"replicas": 1}


def test_status_scope_changes_only_status() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())

    def change(obj: Json) -> None:
        obj["spec"]["replicas"] = 9
        obj["metadata"]["labels"] = {"changed": "yes"}
        obj["metadata"]["finalizers"] = ["example.com/x"]
        obj["status"] = {"replicas": 1, "observedGeneration": 1}

    new = _update(DEPLOYMENTS, old, change, Scope.STATUS)
    assert new["status"] == {"replicas": 1, "observedGeneration": 1}
    assert new["spec"] == old["spec"]
    assert new["metadata"]["labels"] == old["metadata"]["labels"]
    assert "finalizers" not in new["metadata"]
    assert new["metadata"]["generation"] == 1


def test_status_scope_keeps_client_resource_version_for_the_precondition() -> None:
    old = _stored(PODS, _pod_body(), rv="7")
    new = _update(PODS, old, _set("metadata.resourceVersion", "5"), Scope.STATUS)
    assert new["metadata"]["resourceVersion"] == "5"


def test_update_keeps_server_owned_metadata() -> None:
    old = _with_meta(_stored(DEPLOYMENTS, _deployment_body()), finalizers=["example.com/x"])
    old["metadata"].update(deletionTimestamp=_ts(), deletionGracePeriodSeconds=0)

    def change(obj: Json) -> None:
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            obj["metadata"].pop(key)
        obj["metadata"]["selfLink"] = "/apis/apps/v1/namespaces/default/deployments/web"

    metadata = _update(DEPLOYMENTS, old, change)["metadata"]
    assert metadata["uid"] == UID
    assert metadata["creationTimestamp"] == _ts()
    assert (metadata["deletionTimestamp"], metadata["deletionGracePeriodSeconds"]) == (_ts(), 0)
    assert "selfLink" not in metadata


def test_update_cannot_start_deletion() -> None:
    old = _stored(CONFIGMAPS, {"metadata": {"name": "cfg"}})
    new = _update(CONFIGMAPS, old, _set("metadata.deletionTimestamp", _ts()))
    assert "deletionTimestamp" not in new["metadata"]


def test_update_cannot_change_uid() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())
    with pytest.raises(InvalidError) as raised:
        _update(DEPLOYMENTS, old, _set("metadata.uid", "other"))
    assert raised.value.message == (
        'Deployment.apps "web" is invalid: metadata.uid: Invalid value: "other": field is immutable'
    )


def test_update_validates() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())
    with pytest.raises(InvalidError) as raised:
        _update(DEPLOYMENTS, old, _set("spec.replicas", -1))
    assert raised.value.message == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_update_refuses_other_namespace() -> None:
    old = _stored(PODS, _pod_body())
    with pytest.raises(BadRequestError) as raised:
        _update(PODS, old, _set("metadata.namespace", "kube-system"))
    assert raised.value.message == NAMESPACE_MISMATCH


def test_update_does_not_change_its_inputs() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())
    body = _with_meta(old, labels={"app": "web", "v": "2"})
    before_old, before_body = copy.deepcopy(old), copy.deepcopy(body)
    prepare_update(DEPLOYMENTS, old, body)
    assert (old, body) == (before_old, before_body)


def _deleting(finalizers: list[str]) -> Json:
    old = _stored(DEPLOYMENTS, _deployment_body())
    return _with_meta(
        old, finalizers=finalizers, deletionTimestamp=_ts(), deletionGracePeriodSeconds=0
    )


FINALIZER_UPDATES = [
    pytest.param(["a"], ["a"], None, id="unchanged"),
    pytest.param(["a", "b"], ["b"], None, id="remove-one"),
    pytest.param(["a"], [], None, id="remove-last"),
    pytest.param(["a"], ["b", "a"], '[]string{"b"}', id="add-one"),
    pytest.param(["a"], ["c", "b"], '[]string{"b", "c"}', id="add-two-sorted"),
    pytest.param(["a"], ["b"], '[]string{"b"}', id="swap"),
]


@pytest.mark.parametrize(("before", "after", "added"), FINALIZER_UPDATES)
def test_finalizers_while_deleting(before: list[str], after: list[str], added: str | None) -> None:
    old = _deleting(before)
    if added is None:
        new = _update(DEPLOYMENTS, old, _set("metadata.finalizers", after))
        assert new["metadata"].get("finalizers", []) == after
        return
    with pytest.raises(InvalidError) as raised:
        _update(DEPLOYMENTS, old, _set("metadata.finalizers", after))
    assert raised.value.message == (
        'Deployment.apps "web" is invalid: metadata.finalizers: Forbidden: no new finalizers '
        f"can be added if the object is being deleted, found new finalizers {added}"
    )
    assert raised.value.status()["details"]["causes"][0]["reason"] == "FieldValueForbidden"


def test_finalizers_may_be_added_before_deletion() -> None:
    old = _stored(DEPLOYMENTS, _deployment_body())
    new = _update(DEPLOYMENTS, old, _set("metadata.finalizers", ["example.com/x"]))
    assert new["metadata"]["finalizers"] == ["example.com/x"]


# --- delete after update --------------------------------------------------------------------


def _obj(kind: str, metadata: Json, spec: Json | None = None) -> Json:
    obj: Json = {"kind": kind, "metadata": {"name": "x", **metadata}}
    if spec is not None:
        obj["spec"] = spec
    return obj


DELETING = {"deletionTimestamp": _ts()}

DELETE_AFTER_UPDATE = [
    pytest.param(_obj("ConfigMap", {}), False, id="not-deleting"),
    pytest.param(_obj("ConfigMap", {"finalizers": ["a"]}), False, id="not-deleting-finalizers"),
    pytest.param(
        _obj("ConfigMap", {**DELETING, "deletionGracePeriodSeconds": 0, "finalizers": ["a"]}),
        False,
        id="finalizer-left",
    ),
    pytest.param(
        _obj("ConfigMap", {**DELETING, "deletionGracePeriodSeconds": 0, "finalizers": []}),
        True,
        id="last-finalizer-removed",
    ),
    pytest.param(
        _obj("ConfigMap", {**DELETING, "deletionGracePeriodSeconds": 0}),
        True,
        id="finalizers-key-removed",
    ),
    pytest.param(_obj("ConfigMap", DELETING), True, id="no-grace-recorded"),
    pytest.param(
        _obj("Pod", {**DELETING, "deletionGracePeriodSeconds": 30}),
        False,
        id="pod-within-grace-waits-for-its-node",
    ),
    pytest.param(
        _obj("Pod", {**DELETING, "deletionGracePeriodSeconds": 0}), True, id="pod-grace-over"
    ),
    pytest.param(
        _obj(
            "Namespace",
            {**DELETING, "deletionGracePeriodSeconds": 0},
            {"finalizers": ["kubernetes"]},
        ),
        False,
        id="namespace-content-left",
    ),
    pytest.param(
        _obj("Namespace", {**DELETING, "deletionGracePeriodSeconds": 0}, {"finalizers": []}),
        True,
        id="namespace-finalized",
    ),
    pytest.param(
        _obj("Namespace", {"deletionGracePeriodSeconds": 0}, {"finalizers": []}),
        False,
        id="namespace-not-deleting",
    ),
    pytest.param(
        _obj("ConfigMap", {**DELETING, "deletionGracePeriodSeconds": 0}, {"finalizers": ["x"]}),
        True,
        id="spec-finalizers-mean-nothing-elsewhere",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), DELETE_AFTER_UPDATE)
def test_should_delete_after_update(obj: Json, expected: bool) -> None:
    assert should_delete_after_update(obj) is expected


def test_finalize_flow_for_a_namespace() -> None:
    """PUT namespaces/{n}/finalize with empty spec.finalizers removes a terminating namespace."""
    ns = _stored_namespace()
    plan = plan_delete(NAMESPACES, ns, DeleteOptions(), NOW)
    assert isinstance(plan, MarkDeleting)
    finalized = prepare_update(NAMESPACES, plan.obj, _set_copy(plan.obj, "spec.finalizers", []))
    assert should_delete_after_update(finalized)


def _set_copy(obj: Json, path: str, value: Any) -> Json:
    result = copy.deepcopy(obj)
    _set(path, value)(result)
    return result


# --- delete options -------------------------------------------------------------------------

DELETE_OPTIONS = [
    pytest.param(None, {}, DeleteOptions(), id="no-body"),
    pytest.param({}, {}, DeleteOptions(), id="empty-body"),
    pytest.param(
        {"propagationPolicy": "Background"},
        {},
        DeleteOptions(propagation_policy="Background"),
        id="kubectl-132",
    ),
    pytest.param(
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"},
        {},
        DeleteOptions(propagation_policy="Foreground"),
        id="typed-body",
    ),
    pytest.param(
        {"gracePeriodSeconds": 0, "propagationPolicy": "Background"},
        {},
        DeleteOptions(grace_period_seconds=0, propagation_policy="Background"),
        id="kubectl-force",
    ),
    pytest.param(
        None,
        {"propagationPolicy": "Foreground", "gracePeriodSeconds": "0"},
        DeleteOptions(grace_period_seconds=0, propagation_policy="Foreground"),
        id="python-query-params",
    ),
    pytest.param(
        {"gracePeriodSeconds": 30, "propagationPolicy": "Orphan"},
        {"gracePeriodSeconds": "5", "propagationPolicy": "Foreground"},
        DeleteOptions(grace_period_seconds=5, propagation_policy="Foreground"),
        id="query-wins",
    ),
    pytest.param(
        {"gracePeriodSeconds": 30},
        {"gracePeriodSeconds": ""},
        DeleteOptions(),
        id="empty-query-value-is-unset",
    ),
    pytest.param(
        {"gracePeriodSeconds": -5}, {}, DeleteOptions(grace_period_seconds=1), id="negative-is-1"
    ),
    pytest.param(
        None, {"gracePeriodSeconds": "-1"}, DeleteOptions(grace_period_seconds=1), id="neg-query"
    ),
    pytest.param(
        {"orphanDependents": True},
        {},
        DeleteOptions(propagation_policy="Orphan"),
        id="orphan-dependents",
    ),
    pytest.param({"orphanDependents": False}, {}, DeleteOptions(), id="orphan-dependents-false"),
    pytest.param(
        {"orphanDependents": True, "propagationPolicy": "Background"},
        {},
        DeleteOptions(propagation_policy="Background"),
        id="policy-beats-orphan-dependents",
    ),
    pytest.param(
        {"preconditions": {"uid": UID, "resourceVersion": "7"}},
        {},
        DeleteOptions(precondition_uid=UID, precondition_resource_version="7"),
        id="preconditions",
    ),
    pytest.param({"preconditions": None}, {}, DeleteOptions(), id="null-preconditions"),
    pytest.param({"dryRun": ["All"]}, {}, DeleteOptions(dry_run=True), id="dry-run-body"),
    pytest.param(None, {"dryRun": "All"}, DeleteOptions(dry_run=True), id="dry-run-query"),
    pytest.param({"dryRun": []}, {}, DeleteOptions(), id="dry-run-empty"),
]


@pytest.mark.parametrize(("body", "query", "expected"), DELETE_OPTIONS)
def test_parse_delete_options(body: object, query: dict[str, str], expected: DeleteOptions) -> None:
    assert parse_delete_options(body, query) == expected


DELETE_OPTION_ERRORS = [
    pytest.param(
        [],
        {},
        400,
        "the body of a delete request must be a DeleteOptions object",
        id="list-body",
    ),
    pytest.param(
        {"preconditions": "uid"}, {}, 400, "preconditions must be an object", id="preconditions"
    ),
    pytest.param(
        None,
        {"gracePeriodSeconds": "soon"},
        400,
        "gracePeriodSeconds must be an integer, got 'soon'",
        id="grace-word",
    ),
    pytest.param(
        {"gracePeriodSeconds": 1.5},
        {},
        400,
        "gracePeriodSeconds must be an integer, got 1.5",
        id="grace-float",
    ),
    pytest.param(
        {"gracePeriodSeconds": True}, {}, 400, "gracePeriodSeconds must be an integer", id="bool"
    ),
    pytest.param(
        {"propagationPolicy": "Cascade"},
        {},
        422,
        'DeleteOptions "" is invalid: propagationPolicy: Invalid value: "Cascade": '
        "must be Background, Foreground or Orphan",
        id="unknown-policy",
    ),
    pytest.param(
        None,
        {"propagationPolicy": "background"},
        422,
        'DeleteOptions "" is invalid: propagationPolicy: Invalid value: "background": '
        "must be Background, Foreground or Orphan",
        id="policy-is-case-sensitive",
    ),
]


@pytest.mark.parametrize(("body", "query", "code", "message"), DELETE_OPTION_ERRORS)
def test_parse_delete_options_errors(
    body: object, query: dict[str, str], code: int, message: str
) -> None:
    with pytest.raises(ApiError) as raised:
        parse_delete_options(body, query)
    assert raised.value.code == code
    assert raised.value.message == message


# --- preconditions --------------------------------------------------------------------------

PRECONDITIONS = [
    pytest.param(PODS, DeleteOptions(), None, id="none"),
    pytest.param(PODS, DeleteOptions(precondition_uid=UID), None, id="uid-matches"),
    pytest.param(PODS, DeleteOptions(precondition_resource_version="7"), None, id="rv-matches"),
    pytest.param(
        PODS,
        DeleteOptions(precondition_uid=UID, precondition_resource_version="7"),
        None,
        id="both-match",
    ),
    pytest.param(
        PODS,
        DeleteOptions(precondition_uid="other-uid"),
        f'Operation cannot be fulfilled on pods "web": Precondition failed: '
        f"UID in precondition: other-uid, UID in object meta: {UID}",
        id="kubelet-uid-mismatch",
    ),
    pytest.param(
        PODS,
        DeleteOptions(precondition_uid=""),
        f'Operation cannot be fulfilled on pods "web": Precondition failed: '
        f"UID in precondition: , UID in object meta: {UID}",
        id="empty-uid-is-a-value",
    ),
    pytest.param(
        DEPLOYMENTS,
        DeleteOptions(precondition_resource_version="4"),
        'Operation cannot be fulfilled on deployments.apps "web": Precondition failed: '
        "ResourceVersion in precondition: 4, ResourceVersion in object meta: 7",
        id="rv-mismatch",
    ),
    pytest.param(
        DEPLOYMENTS,
        DeleteOptions(precondition_uid="other-uid", precondition_resource_version="4"),
        'Operation cannot be fulfilled on deployments.apps "web": Precondition failed: '
        f"UID in precondition: other-uid, UID in object meta: {UID}",
        id="uid-checked-first",
    ),
]


@pytest.mark.parametrize(("info", "options", "message"), PRECONDITIONS)
def test_check_preconditions(
    info: ResourceInfo, options: DeleteOptions, message: str | None
) -> None:
    obj = _stored(info, _pod_body() if info is PODS else _deployment_body(), rv="7")
    if message is None:
        check_preconditions(info, obj, options)
        return
    with pytest.raises(ConflictError) as raised:
        check_preconditions(info, obj, options)
    status = raised.value.status()
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"] == message
    assert status["details"] == {"name": "web", "kind": info.plural} | (
        {"group": info.group} if info.group else {}
    )


# --- delete plans ---------------------------------------------------------------------------


def _marked(
    plan: strategy.DeletePlan,
    at: float,
    grace: int,
    finalizers: list[str] | None = None,
) -> Json:
    assert isinstance(plan, MarkDeleting), plan
    metadata = plan.obj["metadata"]
    assert metadata["deletionTimestamp"] == _ts(at)
    assert metadata["deletionGracePeriodSeconds"] == grace
    assert metadata.get("finalizers") == finalizers
    return plan.obj


FIRST_DELETES = [
    # (info, object, options, None for DeleteNow or (seconds from NOW, grace, finalizers))
    pytest.param(
        CONFIGMAPS,
        _stored(CONFIGMAPS, {"metadata": {"name": "c"}}),
        DeleteOptions(),
        None,
        id="plain-object-goes-now",
    ),
    pytest.param(
        DEPLOYMENTS,
        _stored(DEPLOYMENTS, _deployment_body()),
        DeleteOptions(propagation_policy="Background"),
        None,
        id="background-goes-now",
    ),
    pytest.param(
        DEPLOYMENTS,
        _stored(DEPLOYMENTS, _deployment_body()),
        DeleteOptions(grace_period_seconds=30),
        None,
        id="grace-means-nothing-but-for-pods",
    ),
    pytest.param(PODS, _stored_pod(node=None), DeleteOptions(), None, id="unbound-pod-now"),
    pytest.param(
        PODS,
        _stored_pod(node=None),
        DeleteOptions(grace_period_seconds=60),
        None,
        id="unbound-pod-now-despite-grace",
    ),
    pytest.param(
        PODS, _stored_pod(), DeleteOptions(), (30, 30, None), id="bound-pod-default-grace"
    ),
    pytest.param(
        PODS,
        _stored_pod(terminationGracePeriodSeconds=10),
        DeleteOptions(),
        (10, 10, None),
        id="bound-pod-spec-grace",
    ),
    pytest.param(
        PODS,
        _stored_pod(terminationGracePeriodSeconds=10),
        DeleteOptions(grace_period_seconds=5),
        (5, 5, None),
        id="bound-pod-requested-grace",
    ),
    pytest.param(
        PODS,
        _stored_pod(),
        DeleteOptions(grace_period_seconds=1),
        (1, 1, None),
        id="bound-pod-negative-grace-became-1",
    ),
    pytest.param(
        PODS,
        _stored_pod(),
        DeleteOptions(grace_period_seconds=0),
        None,
        id="bound-pod-force",
    ),
    pytest.param(
        PODS, _stored_pod(terminationGracePeriodSeconds=0), DeleteOptions(), None, id="spec-zero"
    ),
    pytest.param(
        PODS, _stored_pod(phase="Succeeded"), DeleteOptions(), None, id="succeeded-pod-now"
    ),
    pytest.param(PODS, _stored_pod(phase="Failed"), DeleteOptions(), None, id="failed-pod-now"),
    pytest.param(
        PODS,
        _stored_pod(phase="Running"),
        DeleteOptions(),
        (30, 30, None),
        id="running-pod-graceful",
    ),
    pytest.param(
        PODS,
        _stored_pod(node=None, finalizers=["example.com/x"]),
        DeleteOptions(),
        (0, 0, ["example.com/x"]),
        id="unbound-pod-with-finalizer-marked",
    ),
    pytest.param(
        PODS,
        _stored_pod(finalizers=["example.com/x"]),
        DeleteOptions(),
        (30, 30, ["example.com/x"]),
        id="bound-pod-with-finalizer-graceful",
    ),
    pytest.param(
        CONFIGMAPS,
        _with_meta(_stored(CONFIGMAPS, {"metadata": {"name": "c"}}), finalizers=["example.com/x"]),
        DeleteOptions(),
        (0, 0, ["example.com/x"]),
        id="finalizer-marks",
    ),
    pytest.param(
        DEPLOYMENTS,
        _stored(DEPLOYMENTS, _deployment_body()),
        DeleteOptions(propagation_policy="Foreground"),
        (0, 0, ["foregroundDeletion"]),
        id="foreground",
    ),
    pytest.param(
        DEPLOYMENTS,
        _stored(DEPLOYMENTS, _deployment_body()),
        DeleteOptions(propagation_policy="Orphan"),
        (0, 0, ["orphan"]),
        id="orphan",
    ),
    pytest.param(
        DEPLOYMENTS,
        _with_meta(_stored(DEPLOYMENTS, _deployment_body()), finalizers=["example.com/x"]),
        DeleteOptions(propagation_policy="Foreground"),
        (0, 0, ["example.com/x", "foregroundDeletion"]),
        id="foreground-appended",
    ),
    pytest.param(
        DEPLOYMENTS,
        _with_meta(_stored(DEPLOYMENTS, _deployment_body()), finalizers=["foregroundDeletion"]),
        DeleteOptions(propagation_policy="Foreground"),
        (0, 0, ["foregroundDeletion"]),
        id="foreground-not-doubled",
    ),
    pytest.param(
        PODS,
        _stored_pod(),
        DeleteOptions(propagation_policy="Orphan"),
        (30, 30, ["orphan"]),
        id="graceful-pod-orphan",
    ),
]


@pytest.mark.parametrize(("info", "obj", "options", "expected"), FIRST_DELETES)
def test_first_delete(
    info: ResourceInfo,
    obj: Json,
    options: DeleteOptions,
    expected: tuple[int, int, list[str] | None] | None,
) -> None:
    before = copy.deepcopy(obj)
    plan = plan_delete(info, obj, options, NOW)
    assert obj == before  # the stored object is never changed in place
    if expected is None:
        assert plan == DeleteNow()
        return
    at, grace, finalizers = expected
    marked = _marked(plan, at, grace, finalizers)
    assert isinstance(plan, MarkDeleting) and plan.changed
    # Only deletion metadata changes.
    assert {k: v for k, v in marked.items() if k != "metadata"} == {
        k: v for k, v in obj.items() if k != "metadata"
    }


NAMESPACE_DELETES = [
    pytest.param(None, [], DeleteOptions(), (0, 0, None), id="default-kubernetes-finalizer"),
    pytest.param(["kubernetes"], [], DeleteOptions(), (0, 0, None), id="spec-finalizer"),
    pytest.param([], [], DeleteOptions(), None, id="no-finalizers-goes-now"),
    pytest.param(
        [], ["example.com/x"], DeleteOptions(), (0, 0, ["example.com/x"]), id="metadata-finalizer"
    ),
    pytest.param(
        ["kubernetes"],
        [],
        DeleteOptions(propagation_policy="Foreground"),
        (0, 0, ["foregroundDeletion"]),
        id="foreground",
    ),
]


@pytest.mark.parametrize(
    ("spec_finalizers", "finalizers", "options", "expected"), NAMESPACE_DELETES
)
def test_namespace_delete(
    spec_finalizers: list[str] | None,
    finalizers: list[str],
    options: DeleteOptions,
    expected: tuple[int, int, list[str] | None] | None,
) -> None:
    ns = _stored_namespace(spec_finalizers)
    if finalizers:
        ns["metadata"]["finalizers"] = finalizers
    plan = plan_delete(NAMESPACES, ns, options, NOW)
    if expected is None:
        assert plan == DeleteNow()
        return
    marked = _marked(plan, *expected)
    assert marked["status"]["phase"] == "Terminating"
    assert marked["spec"] == ns["spec"]


def test_namespace_second_delete_changes_nothing() -> None:
    first = plan_delete(NAMESPACES, _stored_namespace(), DeleteOptions(), NOW)
    assert isinstance(first, MarkDeleting)
    second = plan_delete(NAMESPACES, first.obj, DeleteOptions(grace_period_seconds=0), _at(90))
    assert second == MarkDeleting(first.obj, changed=False)


def _graceful_pod(grace: int = 30, finalizers: list[str] | None = None) -> Json:
    """A bound pod after a first DELETE at NOW with `grace` seconds."""
    plan = plan_delete(
        PODS,
        _stored_pod(finalizers=finalizers),
        DeleteOptions(grace_period_seconds=grace),
        NOW,
    )
    assert isinstance(plan, MarkDeleting)
    return plan.obj


SECOND_DELETES = [
    # (seconds after NOW, requested grace, None for DeleteNow or (deadline from NOW, grace))
    pytest.param(5, None, (30, 30), id="repeat-keeps-deadline"),
    pytest.param(5, 30, (30, 30), id="same-grace-keeps-deadline"),
    pytest.param(5, 60, (30, 30), id="longer-grace-ignored"),
    pytest.param(5, 10, (10, 10), id="shorter-grace-counts-from-first-request"),
    pytest.param(0, 10, (10, 10), id="shorter-grace-at-once"),
    pytest.param(20, 10, (20, 1), id="shortened-into-the-past-becomes-now-and-1s"),
    pytest.param(40, 10, (40, 1), id="after-the-deadline"),
    pytest.param(5, 1, (5, 1), id="late-1s-stays-1s"),
    pytest.param(5, 0, None, id="force-removes-now"),
    pytest.param(45, 0, None, id="kubelet-confirms-after-grace"),
]


@pytest.mark.parametrize(("later", "grace", "expected"), SECOND_DELETES)
def test_second_delete_only_shortens(
    later: int, grace: int | None, expected: tuple[int, int] | None
) -> None:
    pod = _graceful_pod(30)
    plan = plan_delete(PODS, pod, DeleteOptions(grace_period_seconds=grace), _at(later))
    if expected is None:
        assert plan == DeleteNow()
        return
    deadline, new_grace = expected
    _marked(plan, deadline, new_grace)
    assert isinstance(plan, MarkDeleting)
    assert plan.changed is (new_grace != 30)


def test_force_delete_of_pod_with_finalizer_keeps_it() -> None:
    pod = _graceful_pod(30, finalizers=["example.com/x"])
    plan = plan_delete(PODS, pod, DeleteOptions(grace_period_seconds=0), _at(5))
    marked = _marked(plan, 5, 0, ["example.com/x"])
    # Once the finalizer is removed, the update removes the pod too.
    assert should_delete_after_update(_set_copy(marked, "metadata.finalizers", []))


@pytest.mark.parametrize(
    ("first_grace", "phase", "grace", "expected"),
    [
        pytest.param(60, None, None, (60, 60), id="longer-first-grace-kept-over-spec"),
        pytest.param(60, None, 30, (30, 30), id="explicit-spec-length-shortens"),
        pytest.param(30, "Succeeded", None, (30, 30), id="terminal-pod-waits-for-its-node"),
        pytest.param(30, "Failed", 0, None, id="node-agent-final-delete"),
    ],
)
def test_pending_pod_deletion_changes_only_for_explicit_grace(
    first_grace: int, phase: str | None, grace: int | None, expected: tuple[int, int] | None
) -> None:
    """Upstream BeforeDelete runs before the pod strategy once deletion has started."""
    pod = _graceful_pod(first_grace)
    if phase is not None:
        pod["status"]["phase"] = phase
    plan = plan_delete(PODS, pod, DeleteOptions(grace_period_seconds=grace), _at(5))
    if expected is None:
        assert plan == DeleteNow()
        return
    _marked(plan, *expected)


@given(
    first_grace=st.integers(min_value=1, max_value=600),
    elapsed=st.integers(min_value=0, max_value=900),
    second_grace=st.none() | st.integers(min_value=0, max_value=900),
)
def test_second_delete_never_extends(
    first_grace: int, elapsed: int, second_grace: int | None
) -> None:
    """A repeated DELETE never lengthens the grace or pushes the deadline past its old value
    (unless that is already over, when the deadline becomes the request's time)."""
    pod = _graceful_pod(first_grace)
    old_deadline = parse_time(pod["metadata"]["deletionTimestamp"])
    now = _at(elapsed)
    plan = plan_delete(PODS, pod, DeleteOptions(grace_period_seconds=second_grace), now)
    if second_grace == 0:
        assert plan == DeleteNow()
        return
    assert isinstance(plan, MarkDeleting)
    metadata = plan.obj["metadata"]
    deadline = parse_time(metadata["deletionTimestamp"])
    assert metadata["deletionGracePeriodSeconds"] <= first_grace
    assert metadata["deletionGracePeriodSeconds"] >= 1
    assert deadline <= max(old_deadline, now)
    if plan.changed:
        assert deadline >= now


# --- pods/binding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "web"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
            },
            id="scheduler",
        ),
        pytest.param(
            {"metadata": {"name": "web"}, "target": {"name": "node-1"}}, id="python-no-kind"
        ),
        pytest.param({"target": {"name": "node-1"}}, id="no-metadata"),
    ],
)
def test_binding_target(body: Json) -> None:
    assert binding_target(body, "web") == "node-1"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-target"),
        pytest.param({"target": None}, id="null-target"),
        pytest.param({"target": "node-1"}, id="string-target"),
        pytest.param({"target": {}}, id="target-without-name"),
        pytest.param({"target": {"name": 5}}, id="numeric-name"),
        pytest.param({"target": {"name": ""}}, id="empty-name"),
        pytest.param({"metadata": "web", "target": {}}, id="bad-metadata"),
    ],
)
def test_binding_target_invalid(body: Json) -> None:
    with pytest.raises(InvalidError) as raised:
        binding_target(body, "web")
    status = raised.value.status()
    assert (status["code"], status["details"]["kind"]) == (422, "Binding")
    assert [cause["field"] for cause in status["details"]["causes"]] == ["target.name"]


@pytest.mark.parametrize("body", [None, [], "node-1"])
def test_binding_body_not_an_object(body: object) -> None:
    with pytest.raises(BadRequestError) as raised:
        binding_target(body, "web")
    assert raised.value.message == "the body of a binding must be a Binding object"


def test_bind_pod() -> None:
    pod = _stored_pod(node=None)
    pod["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
        {"type": "Example", "status": "True"},
    ]
    before = copy.deepcopy(pod)
    bound = bind_pod(pod, "node-1", _at(3))
    assert pod == before
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["status"]["conditions"] == [
        {"type": "Example", "status": "True"},
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": _ts(3),
        },
    ]
    assert bound["metadata"] == pod["metadata"]


def test_bind_pod_without_status() -> None:
    pod = _stored_pod(node=None)
    del pod["status"]
    bound = bind_pod(pod, "node-1", NOW)
    assert [c["type"] for c in bound["status"]["conditions"]] == ["PodScheduled"]


BIND_CONFLICTS = [
    pytest.param(
        _stored_pod(node="node-2"),
        'Operation cannot be fulfilled on pods/binding "web": '
        'pod web is already assigned to node "node-2"',
        id="already-bound",
    ),
    pytest.param(
        _with_meta(_stored_pod(node=None), deletionTimestamp=_ts()),
        'Operation cannot be fulfilled on pods/binding "web": '
        "pod web is being deleted, cannot be assigned to a host",
        id="being-deleted",
    ),
    pytest.param(
        _with_meta(_stored_pod(node="node-2"), deletionTimestamp=_ts()),
        'Operation cannot be fulfilled on pods/binding "web": '
        "pod web is being deleted, cannot be assigned to a host",
        id="deletion-checked-first",
    ),
]


@pytest.mark.parametrize(("pod", "message"), BIND_CONFLICTS)
def test_bind_pod_conflicts(pod: Json, message: str) -> None:
    with pytest.raises(ConflictError) as raised:
        bind_pod(pod, "node-1", NOW)
    status = raised.value.status()
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"] == message
    assert status["details"] == {"name": "web", "kind": "pods/binding"}


# --- scale ----------------------------------------------------------------------------------


def _stored_deployment(**spec: Any) -> Json:
    obj = _stored(DEPLOYMENTS, _deployment_body(**spec), rv="42")
    obj["status"] = {"replicas": 2, "readyReplicas": 2}
    return obj


def test_scale_of_deployment() -> None:
    assert scale_of(_stored_deployment(replicas=3)) == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": UID,
            "resourceVersion": "42",
            "creationTimestamp": _ts(),
        },
        "spec": {"replicas": 3},
        "status": {"replicas": 2, "selector": "app=web"},
    }


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({"matchLabels": {"app": "web"}}, "app=web", id="match-labels"),
        pytest.param({"matchLabels": {"tier": "fe", "app": "web"}}, "app=web,tier=fe", id="sorted"),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}],
            },
            "app=web,tier in (be,fe)",
            id="expressions",
        ),
    ],
)
def test_scale_selector_string(selector: Json, expected: str) -> None:
    obj = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": selector}}
    assert scale_of(obj)["status"]["selector"] == expected


def test_scale_of_object_without_status() -> None:
    scale = scale_of({"metadata": {"name": "db"}, "spec": {"replicas": 2}})
    assert scale["status"]["replicas"] == 0
    assert scale["spec"] == {"replicas": 2}


@pytest.mark.parametrize("info", [DEPLOYMENTS, REPLICASETS, STATEFULSETS])
def test_apply_scale_then_update(info: ResourceInfo) -> None:
    """kubectl scale: PATCH /scale → the parent's spec.replicas, generation +1, RV carried."""
    body = _deployment_body()
    if info is not DEPLOYMENTS:
        body["kind"] = info.kind
    if info is STATEFULSETS:
        body["spec"]["serviceName"] = "web"
    old = _stored(info, body, rv="42")
    scale = scale_of(old)
    scale["spec"]["replicas"] = 5
    scaled = apply_scale(info, old, scale)
    assert scaled["spec"]["replicas"] == 5
    assert scaled["metadata"]["resourceVersion"] == "42"  # the caller's precondition
    updated = prepare_update(info, old, scaled)
    assert updated["metadata"]["generation"] == 2
    assert scale_of(updated)["spec"]["replicas"] == 5
    assert old["spec"]["replicas"] == 1  # unchanged in place


APPLIED_SCALES = [
    pytest.param({"spec": {"replicas": 0}}, 0, None, id="to-zero"),
    pytest.param({"spec": {"replicas": 7}}, 7, None, id="up"),
    pytest.param({"spec": {}}, 0, None, id="missing-replicas-is-zero"),
    pytest.param({}, 0, None, id="missing-spec-is-zero"),
    pytest.param(
        {"metadata": {"resourceVersion": "41"}, "spec": {"replicas": 2}}, 2, "41", id="stale-rv"
    ),
    pytest.param(
        {"metadata": {"resourceVersion": ""}, "spec": {"replicas": 2}},
        2,
        None,
        id="empty-rv-unconditional",
    ),
    pytest.param({"metadata": None, "spec": {"replicas": 2}}, 2, None, id="null-metadata"),
]


@pytest.mark.parametrize(("scale", "replicas", "rv"), APPLIED_SCALES)
def test_apply_scale(scale: Json, replicas: int, rv: str | None) -> None:
    scaled = apply_scale(DEPLOYMENTS, _stored_deployment(), scale)
    assert scaled["spec"]["replicas"] == replicas
    assert scaled["metadata"].get("resourceVersion") == rv


SCALE_ERRORS = [
    pytest.param(
        {"spec": {"replicas": -1}},
        422,
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0",
        id="negative",
    ),
    pytest.param(
        {"spec": {"replicas": "3"}},
        422,
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: "3": must be an integer',
        id="string",
    ),
    pytest.param(
        {"spec": {"replicas": 1.5}},
        422,
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: 1.5: must be an integer',
        id="float",
    ),
    pytest.param(
        {"spec": {"replicas": True}},
        422,
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: true: '
        "must be an integer",
        id="bool",
    ),
    pytest.param(
        {"spec": {"replicas": None}},
        422,
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: "null": '
        "must be an integer",
        id="null",
    ),
    pytest.param([], 400, "the body must be a Scale object", id="list"),
    pytest.param({"spec": 5}, 400, "the body must be a Scale object", id="spec-number"),
    pytest.param({"spec": ["x"]}, 400, "the body must be a Scale object", id="spec-list"),
    pytest.param(
        {"metadata": "web", "spec": {"replicas": 1}},
        400,
        "the body must be a Scale object",
        id="metadata-string",
    ),
]


@pytest.mark.parametrize(("scale", "code", "message"), SCALE_ERRORS)
def test_apply_scale_errors(scale: object, code: int, message: str) -> None:
    old = _stored_deployment()
    with pytest.raises(ApiError) as raised:
        apply_scale(DEPLOYMENTS, old, scale)
    assert (raised.value.code, raised.value.message) == (code, message)
    if code == 422:
        assert raised.value.status()["details"]["group"] == "autoscaling"


# --- no request body gives a 500 ------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "metadata",
                    "spec",
                    "target",
                    "name",
                    "replicas",
                    "resourceVersion",
                    "preconditions",
                    "uid",
                    "gracePeriodSeconds",
                    "propagationPolicy",
                    "orphanDependents",
                    "dryRun",
                    "kind",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(body=_json)
def test_request_bodies_fail_only_with_api_errors(body: Any) -> None:
    """Every body-parsing entry point answers garbage with an `ApiError` (a Status), not a crash."""
    old = _stored_deployment()
    calls = [
        lambda: parse_delete_options(body, {}),
        lambda: binding_target(body, "web"),
        lambda: apply_scale(DEPLOYMENTS, old, body),
        lambda: check_body_type(PODS, body),
    ]
    for call in calls:
        with contextlib.suppress(ApiError):
            call()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, False, id="absent"),
        pytest.param("All", True, id="query-all"),
        pytest.param(["All"], True, id="body-all"),
        pytest.param([], False, id="body-empty"),
        pytest.param("false", None, id="query-false-is-not-a-value"),
        pytest.param("Bogus", None, id="query-bogus"),
        pytest.param(["All", "x"], None, id="body-bogus"),
    ],
)
def test_dry_run_accepts_only_all(value: object, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(BadRequestError, match="supported value is All"):
            parse_dry_run(value)
    else:
        assert parse_dry_run(value) is expected
