"""Validation against upstream: the exact 422 messages the API server gives, per kind.

Every row defaults the object first (as the API server does), validates it, optionally against
a stored `old` object, and compares the rendered messages with the API server's. Valid objects
are listed separately and must produce no errors at all.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import (
    OMIT,
    ErrorType,
    FieldError,
    GoText,
    dns1123_label_errors,
    validate,
)

KINDS = {
    "Pod": ("", "v1"),
    "Service": ("", "v1"),
    "Namespace": ("", "v1"),
    "ConfigMap": ("", "v1"),
    "Secret": ("", "v1"),
    "Node": ("", "v1"),
    "Deployment": ("apps", "v1"),
    "ReplicaSet": ("apps", "v1"),
    "StatefulSet": ("apps", "v1"),
    "DaemonSet": ("apps", "v1"),
    "Job": ("batch", "v1"),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1"),
}

DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
CONFIG_KEY = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
POD_UPDATE = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)


def messages(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    group, version = KINDS[kind]
    new = apply_defaults(group, version, kind, obj)
    stored = None if old is None else apply_defaults(group, version, kind, old)
    return [error.message() for error in validate(group, version, kind, new, stored)]


def with_metadata(obj: dict[str, Any], name: str = "x") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, **obj}


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.25", **extra}


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return with_metadata({"spec": {"containers": list(containers or [container()]), **spec}}, "p")


def template(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"} if labels is None else labels},
        "spec": {"containers": [container()], **spec},
    }


def workload(selector: Any = ..., tmpl: Any = ..., **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}} if selector is ... else selector,
        "template": template() if tmpl is ... else tmpl,
        **spec,
    }
    if body["selector"] is None:
        del body["selector"]
    return with_metadata({"spec": body}, "web")


def job(**spec: Any) -> dict[str, Any]:
    return with_metadata({"spec": {"template": template(restartPolicy="Never"), **spec}}, "j")


def service(*ports: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return with_metadata({"spec": {"ports": list(ports or [{"port": 80}]), **spec}}, "web")


VALID = [
    ("Pod", pod(), "pod"),
    ("Pod", with_metadata({"spec": {"containers": [container()]}}, "a.b-c"), "pod-dotted-name"),
    ("Pod", {"metadata": {"generateName": "web-"}, "spec": {"containers": [container()]}},
     "pod-generate-name"),
    ("Pod", pod(container(ports=[{"containerPort": 80, "name": "http"}],
                          resources={"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}})),
     "pod-ports-resources"),
    ("Deployment", workload(), "deployment"),
    ("Deployment", workload(selector={"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "api"]}]}), "deployment-expressions"),
    ("Deployment", workload(strategy={"type": "Recreate"}), "deployment-recreate"),
    ("ReplicaSet", workload(replicas=0), "replicaset-zero"),
    ("StatefulSet", workload(serviceName="web"), "statefulset"),
    ("DaemonSet", workload(), "daemonset"),
    ("Job", job(), "job"),
    ("Job", job(selector={"matchLabels": {"app": "web"}}), "job-with-selector"),
    ("Service", service(), "service"),
    ("Service", service({"port": 80, "name": "http"}, {"port": 443, "name": "https",
                                                      "targetPort": "tls"}), "service-two-ports"),
    ("Service", with_metadata({"spec": {"clusterIP": "None"}}, "db"), "service-headless"),
    ("Service", with_metadata({"spec": {"type": "ExternalName", "externalName": "a.example"}},
                              "ext"), "service-external-name"),
    ("Namespace", {"metadata": {"name": "team-a"}}, "namespace"),
    ("ConfigMap", with_metadata({"data": {"app.conf": "x", "KEY_1": "y"}}), "configmap"),
    ("Secret", with_metadata({"data": {"tls.crt": "eA=="}}), "secret"),
    ("Node", {"metadata": {"name": "node-1.example"}}, "node"),
    ("ClusterRole", {"metadata": {"name": "system:controller:job-controller"}},
     "clusterrole-colon-name"),
    ("Secret", with_metadata({"data": {"a": "eA=="}, "stringData": {"a": "x"}}),
     "secret-key-in-data-and-string-data"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "obj"), [pytest.param(kind, obj, id=case_id) for kind, obj, case_id in VALID]
)
def test_valid_object_has_no_errors(kind: str, obj: dict[str, Any]) -> None:
    assert messages(kind, obj) == []


INVALID = [
    # --- metadata
    ("Pod", {"spec": {"containers": [container()]}},
     ["metadata.name: Required value: name or generateName is required"], "meta-name-required"),
    ("Pod", with_metadata({"spec": {"containers": [container()]}}, "Web_1"),
     [f'metadata.name: Invalid value: "Web_1": {DNS1123_SUBDOMAIN}'], "meta-name-subdomain"),
    ("Pod", {"metadata": {"generateName": "Web-"}, "spec": {"containers": [container()]}},
     [f'metadata.generateName: Invalid value: "Web-": {DNS1123_SUBDOMAIN}'],
     "meta-generate-name"),
    ("Namespace", {"metadata": {"name": "a.b"}},
     [f'metadata.name: Invalid value: "a.b": {DNS1123_LABEL}'], "meta-namespace-name-label"),
    ("Service", with_metadata({"spec": {"ports": [{"port": 80}]}}, "1web"),
     [f'metadata.name: Invalid value: "1web": {DNS1035_LABEL}'], "meta-service-name-dns1035"),
    ("ConfigMap", {"metadata": {"name": "c", "labels": {"app": "-bad"}}},
     ['metadata.labels: Invalid value: "-bad": a valid label must be an empty string or consist '
      "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
      "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
      "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"], "meta-label-value"),
    ("ConfigMap", {"metadata": {"name": "c", "annotations": {"a/b/c": "x"}}},
     ['metadata.annotations: Invalid value: "a/b/c": a qualified name must consist of '
      "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
      "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and "
      "'/' (e.g. 'example.com/MyName')"], "meta-annotation-key"),
    ("ConfigMap", {"metadata": {"name": "c", "annotations": {"big": "x" * (256 * 1024)}}},
     ["metadata.annotations: Too long: must have at most 262144 bytes"], "meta-annotations-size"),
    ("Namespace", {"metadata": {"name": "n", "namespace": "default"}},
     ["metadata.namespace: Forbidden: not allowed on this type"], "meta-cluster-scoped-ns"),
    # --- Pod
    ("Pod", with_metadata({"spec": {"containers": []}}, "p"),
     ["spec.containers: Required value"], "pod-containers-required"),
    ("Pod", pod(container(image="")), ["spec.containers[0].image: Required value"],
     "pod-image-required"),
    ("Pod", pod(container(name="App")),
     [f'spec.containers[0].name: Invalid value: "App": {DNS1123_LABEL}'], "pod-container-name"),
    ("Pod", pod(container(), container()),
     ['spec.containers[1].name: Duplicate value: "app"'], "pod-container-duplicate"),
    ("Pod", pod(container(ports=[{"containerPort": 70000}])),
     ["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
      "65535, inclusive"], "pod-port-range"),
    ("Pod", pod(container(ports=[{"containerPort": 0}])),
     ["spec.containers[0].ports[0].containerPort: Required value"], "pod-port-required"),
    ("Pod", pod(container(ports=[{"containerPort": 80, "protocol": "HTTP"}])),
     ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: '
      '"SCTP", "TCP", "UDP"'], "pod-port-protocol"),
    ("Pod", pod(restartPolicy="Sometimes"),
     ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
      '"OnFailure", "Never"'], "pod-restart-policy"),
    ("Pod", pod(terminationGracePeriodSeconds=-1),
     ["spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"],
     "pod-grace-negative"),
    ("Pod", pod(container(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})),
     ['spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or '
      "equal to cpu limit of 1"], "pod-request-above-limit"),
    ("Pod", pod(container(resources={"requests": {"memory": "-1"}})),
     ['spec.containers[0].resources.requests[memory]: Invalid value: "-1": must be greater than '
      "or equal to 0"], "pod-negative-quantity"),
    ("Pod", pod(container(resources={"limits": {"cpu": "lots"}})),
     ['spec.containers[0].resources.limits[cpu]: Invalid value: "lots": quantities must match '
      "the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
      'spec.containers[0].resources.requests[cpu]: Invalid value: "lots": quantities must match '
      "the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"],
     "pod-bad-quantity"),
    # --- Deployment, ReplicaSet, StatefulSet, DaemonSet
    ("Deployment", workload(selector=None), ["spec.selector: Required value"],
     "deployment-selector-required"),
    ("Deployment", workload(selector={}),
     ["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
      "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
      "deployment"],
     "deployment-selector-empty"),
    ("Deployment", workload(tmpl=template({"app": "db"})),
     ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"db"}: `selector` '
      "does not match template `labels`"], "deployment-selector-mismatch"),
    ("Deployment", workload(replicas=-1),
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
     "deployment-replicas-negative"),
    ("Deployment", workload(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
     ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when "
      "`maxSurge` is 0"], "deployment-surge-and-unavailable-zero"),
    ("Deployment", workload(strategy={"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}),
     ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when "
      "`maxSurge` is 0"], "deployment-percent-zero"),
    ("Deployment", workload(strategy={"rollingUpdate": {"maxUnavailable": "150%"}}),
     ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater "
      "than 100%"], "deployment-unavailable-over-100"),
    ("Deployment", workload(strategy={"rollingUpdate": {"maxSurge": "x"}}),
     ['spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": a valid percent string must be '
      "a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
      "validation is '[0-9]+%')"], "deployment-bad-percent"),
    ("Deployment", workload(strategy={"type": "Recreate", "rollingUpdate": {}}),
     ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is "
      "'Recreate'"], "deployment-recreate-with-rolling"),
    ("Deployment", workload(selector={"matchExpressions": [{"key": "app", "operator": "In",
                                                          "values": ["db"]}]}),
     ["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: "
      "`selector` does not match template `labels`"], "deployment-expression-mismatch"),
    ("Deployment", workload(tmpl={"spec": {"containers": [container()]}}),
     ["spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does "
      "not match template `labels`"], "deployment-template-without-labels"),
    ("Deployment", workload(tmpl=template(restartPolicy="Never")),
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
      '"Always"'], "deployment-template-restart"),
    ("Deployment", workload(progressDeadlineSeconds=5, minReadySeconds=10),
     ["spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"],
     "deployment-deadline-below-min-ready"),
    ("ReplicaSet", workload(replicas=-2),
     ["spec.replicas: Invalid value: -2: must be greater than or equal to 0"],
     "replicaset-replicas-negative"),
    ("ReplicaSet", workload(tmpl=template({"app": "db"})),
     ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"db"}: `selector` '
      "does not match template `labels`"], "replicaset-selector-mismatch"),
    ("StatefulSet", workload(podManagementPolicy="Random"),
     ['spec.podManagementPolicy: Unsupported value: "Random": supported values: '
      '"OrderedReady", "Parallel"'], "statefulset-policy"),
    ("StatefulSet", workload(selector=None), ["spec.selector: Required value"],
     "statefulset-selector-required"),
    ("DaemonSet", workload(updateStrategy={"rollingUpdate": {"maxUnavailable": 0}}),
     ["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when "
      "maxSurge is 0"], "daemonset-both-zero"),
    ("DaemonSet", workload(updateStrategy={"rollingUpdate": {"maxUnavailable": 1,
                                                             "maxSurge": 1}}),
     ["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when "
      "maxUnavailable is non-zero"], "daemonset-both-set"),
    # --- Job
    ("Job", with_metadata({"spec": {"template": template()}}, "j"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
      '"OnFailure", "Never"'], "job-restart-always"),
    ("Job", job(parallelism=-1),
     ["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"],
     "job-parallelism-negative"),
    ("Job", job(backoffLimit=-1),
     ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"],
     "job-backoff-negative"),
    # --- Service
    ("Service", with_metadata({"spec": {}}, "web"), ["spec.ports: Required value"],
     "service-ports-required"),
    ("Service", service({"port": 70000}),
     ["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
      "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"],
     "service-port-range"),
    ("Service", service({"port": 80}, {"port": 81}),
     ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"],
     "service-port-names-required"),
    ("Service", service({"port": 80, "name": "a"}, {"port": 81, "name": "a"}),
     ['spec.ports[1].name: Duplicate value: "a"'], "service-port-name-duplicate"),
    ("Service", service({"port": 80, "protocol": "ICMP"}),
     ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", '
      '"UDP"'], "service-protocol"),
    ("Service", service(type="Magic"),
     ['spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", '
      '"LoadBalancer", "NodePort"'], "service-type"),
    ("Service", with_metadata({"spec": {"type": "ExternalName"}}, "ext"),
     ["spec.externalName: Required value"], "service-external-name-required"),
    ("Service", service({"port": 80, "targetPort": "has_underscore"}),
     ['spec.ports[0].targetPort: Invalid value: "has_underscore": must contain only '
      "alpha-numeric characters (a-z, 0-9), and hyphens (-)"], "service-named-target"),
    # --- ConfigMap, Secret
    ("ConfigMap", with_metadata({"data": {"bad key": "x"}}),
     [f'data[bad key]: Invalid value: "bad key": {CONFIG_KEY}'], "configmap-key"),
    ("ConfigMap", with_metadata({"data": {"..a": "x"}}),
     ['data[..a]: Invalid value: "..a": must not start with \'..\''], "configmap-dotdot"),
    ("ConfigMap", with_metadata({"data": {"k": "x"}, "binaryData": {"k": "eA=="}}),
     ['data[k]: Invalid value: "k": duplicate of key present in binaryData'],
     "configmap-duplicate-key"),
    ("ClusterRole", {"metadata": {"name": "a/b"}},
     ["metadata.name: Invalid value: \"a/b\": may not contain '/'"], "clusterrole-slash"),
    ("Secret", with_metadata({"data": {"a/b": "eA=="}}),
     [f'data[a/b]: Invalid value: "a/b": {CONFIG_KEY}'], "secret-key"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [pytest.param(kind, obj, expected, id=case_id) for kind, obj, expected, case_id in INVALID],
)
def test_invalid_object_messages(kind: str, obj: dict[str, Any], expected: list[str]) -> None:
    assert messages(kind, obj) == expected


SELECTOR_V2 = (
    'v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
    "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
)


def _pod_with(**changes: Any) -> dict[str, Any]:
    obj = pod()
    obj["spec"].update(changes)
    return obj


UPDATES = [
    ("Pod", _pod_with(containers=[container(image="nginx:1.26")]), pod(), [], "pod-image-change"),
    ("Pod", _pod_with(activeDeadlineSeconds=30), pod(), [], "pod-deadline-set"),
    ("Pod", _pod_with(tolerations=[{"key": "k", "operator": "Exists"}]), pod(), [],
     "pod-toleration-added"),
    ("Pod", _pod_with(restartPolicy="Never"), pod(), [POD_UPDATE], "pod-spec-change"),
    ("Pod", pod(), _pod_with(tolerations=[{"key": "k", "operator": "Exists"}]),
     ["spec.tolerations: Forbidden: existing toleration can not be modified except its "
      "tolerationSeconds"], "pod-toleration-removed"),
    ("Pod", {**pod(), "metadata": {"name": "q", "namespace": "default"}}, pod(),
     ['metadata.name: Invalid value: "q": field is immutable'], "meta-name-immutable"),
    ("Deployment", workload(replicas=5), workload(), [], "deployment-scale"),
    ("Deployment", workload(selector={"matchLabels": {"app": "web", "v": "2"}},
                            tmpl=template({"app": "web", "v": "2"})), workload(),
     [f"spec.selector: Invalid value: {SELECTOR_V2}: field is immutable"],
     "deployment-selector-immutable"),
    ("ReplicaSet", workload(selector={"matchLabels": {"app": "web", "v": "2"}},
                            tmpl=template({"app": "web", "v": "2"})), workload(),
     [f"spec.selector: Invalid value: {SELECTOR_V2}: field is immutable"],
     "replicaset-selector-immutable"),
    ("StatefulSet", workload(replicas=3, serviceName="a"), workload(serviceName="a"), [],
     "statefulset-scale"),
    ("StatefulSet", workload(serviceName="b"), workload(serviceName="a"),
     ["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
      "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
      "'minReadySeconds' are forbidden"], "statefulset-forbidden-field"),
    ("Job", job(suspend=True), job(), [], "job-suspend"),
    ("Job", {**job(), "spec": {"template": template(restartPolicy="OnFailure")}}, job(),
     ["spec.template: Invalid value: field is immutable"], "job-template-immutable"),
    ("Service", service(clusterIP="10.0.0.2"), service(clusterIP="10.0.0.1"),
     ['spec.clusterIPs[0]: Invalid value: []string{"10.0.0.2"}: may not change once set'],
     "service-cluster-ip-immutable"),
    ("Service", service(), service(clusterIP="10.0.0.1"), [], "service-cluster-ip-omitted"),
    ("Secret", with_metadata({"type": "kubernetes.io/tls"}), with_metadata({}),
     ['type: Invalid value: "kubernetes.io/tls": field is immutable'], "secret-type-immutable"),
    ("ConfigMap", with_metadata({"immutable": True, "data": {"a": "2"}}),
     with_metadata({"immutable": True, "data": {"a": "1"}}),
     ["data: Forbidden: field is immutable when `immutable` is set"], "configmap-immutable"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "obj", "old", "expected"),
    [pytest.param(kind, obj, old, exp, id=case_id) for kind, obj, old, exp, case_id in UPDATES],
)
def test_update_messages(
    kind: str, obj: dict[str, Any], old: dict[str, Any], expected: list[str]
) -> None:
    assert messages(kind, obj, old) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(FieldError(ErrorType.REQUIRED, "a"), "a: Required value", id="required"),
        pytest.param(FieldError(ErrorType.INVALID, "a", None, "d"), 'a: Invalid value: "null": d',
                     id="null-value"),
        pytest.param(FieldError(ErrorType.INVALID, "a", True, "d"), "a: Invalid value: true: d",
                     id="bool-value"),
        pytest.param(FieldError(ErrorType.INVALID, "a", 'q"x', "d"),
                     'a: Invalid value: "q\\"x": d', id="quoted-string"),
        pytest.param(FieldError(ErrorType.INVALID, "a", GoText("25%"), "d"),
                     "a: Invalid value: 25%: d", id="stringer"),
        pytest.param(FieldError(ErrorType.INVALID, "a", OMIT, "d"), "a: Invalid value: d",
                     id="omitted-value"),
        pytest.param(FieldError(ErrorType.FORBIDDEN, "a", "x", "no"), "a: Forbidden: no",
                     id="forbidden-hides-value"),
        pytest.param(FieldError(ErrorType.DUPLICATE, "a", 3), "a: Duplicate value: 3",
                     id="duplicate"),
    ],
)  # fmt: skip
def test_field_error_message(error: FieldError, expected: str) -> None:
    assert error.message() == expected


def test_field_errors_are_frozen() -> None:
    error = FieldError(ErrorType.REQUIRED, "a")
    with pytest.raises(AttributeError):
        error.field = "b"  # type: ignore[misc]


def test_dns1123_label_too_long() -> None:
    assert dns1123_label_errors("a" * 64) == ["must be no more than 63 characters"]


# --- robustness: a malformed body is a list of field errors, never an exception ------------------

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-70000, 70000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "a", "Always", "TCP", "25%", "1Gi", "-1", "x y", "..", "a/b"]),
)
_keys = st.sampled_from(
    [
        "metadata", "name", "labels", "annotations", "spec", "containers", "image", "ports",
        "containerPort", "port", "targetPort", "selector", "matchLabels", "matchExpressions",
        "key", "operator", "values", "template", "replicas", "strategy", "rollingUpdate",
        "maxSurge", "maxUnavailable", "resources", "limits", "requests", "cpu", "data",
        "tolerations", "clusterIP", "type", "restartPolicy", "updateStrategy", "immutable",
    ]
)  # fmt: skip
_bodies = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    obj=st.dictionaries(_keys, _bodies, max_size=4),
    old=st.none() | st.dictionaries(_keys, _bodies, max_size=3),
)
def test_validation_never_raises(
    kind: str, obj: dict[str, Any], old: dict[str, Any] | None
) -> None:
    group, version = KINDS[kind]
    new = apply_defaults(group, version, kind, obj)
    stored = None if old is None else apply_defaults(group, version, kind, old)
    for error in validate(group, version, kind, new, stored):
        assert isinstance(error.message(), str)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@settings(max_examples=300)
@given(case=st.sampled_from(VALID), data=st.data())
def test_validation_never_raises_on_damaged_valid_objects(case: Any, data: st.DataObject) -> None:
    kind, obj, _ = case
    group, version = KINDS[kind]
    good = apply_defaults(group, version, kind, obj)
    damaged = copy.deepcopy(good)
    path = data.draw(st.sampled_from(_paths(damaged)[1:]))
    parent = damaged
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = data.draw(_bodies)
    for new, old in ((damaged, None), (damaged, good), (good, damaged)):
        for error in validate(group, version, kind, new, old):
            assert isinstance(error.message(), str)
