"""Unknown and duplicate fields, as upstream's strict decoding reports them (fieldValidation).

The expected strings are upstream's own: the POST/PUT and patch cases of kubernetes'
``test/integration/apiserver/field_validation_test.go`` (the invalid Deployment body with
``unknownMeta``, ``unknown1``, ``unknownDupe``, duplicated ``paused`` and ``imagePullPolicy``).
Two properties tie the schema to real objects: every valid fixture (the validation tests'
table, defaulted or not, the deploy example, and the objects below) has no unknown field, and
one made-up key put anywhere in one is reported at exactly that path and then dropped.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.defaults import apply_defaults
from kubelite.api.errors import InvalidError
from kubelite.api.fieldschema import KIND_SCHEMAS, ListOf, MapOf, Struct, schema_for_kind
from kubelite.api.fieldvalidation import (
    DuplicateKeysDict,
    FieldValidation,
    Problem,
    StrictError,
    check_fields,
    loads_json_keeping_duplicates,
    parse_field_validation,
    patch_body_problems,
    strict_decoding_message,
)
from kubelite.api.mergekeys import KindKey
from kubelite.api.resources import RESOURCES, ResourceInfo
from unit.api.test_validation import KINDS, VALID

Json = dict[str, Any]
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "web.yaml"

POD: KindKey = ("", "v1", "Pod")
DEPLOYMENT: KindKey = ("apps", "v1", "Deployment")

UPSTREAM_INVALID_DEPLOYMENT = b"""{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "dupename", "name": "web", "unknownMeta": "metaVal",
               "labels": {"app": "nginx"}},
  "spec": {
    "unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
    "paused": true, "paused": false,
    "selector": {"matchLabels": {"app": "nginx"}},
    "template": {"metadata": {"labels": {"app": "nginx"}},
                 "spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
                                          "unknownNested": "val1",
                                          "imagePullPolicy": "Always",
                                          "imagePullPolicy": "Never"}]}}}}"""


def schema(key: KindKey) -> Struct:
    found = schema_for_kind(key)
    assert found is not None, key
    return found


def problems(key: KindKey, obj: Any, *, sorted_keys: bool = False) -> list[str]:
    return [str(p) for p in check_fields(schema(key), obj, sorted_keys=sorted_keys).problems]


# --- which fields are unknown ---------------------------------------------------------------

_CONTAINER = {"name": "app", "image": "nginx"}

UNKNOWN = [
    pytest.param(POD, {"spec": {"containers": [{**_CONTAINER, "imagePullPolcy": "Always"}]}},
                 ['unknown field "spec.containers[0].imagePullPolcy"'], id="container-typo"),
    pytest.param(POD, {"specc": {}}, ['unknown field "specc"'], id="top-level"),
    pytest.param(POD, {"metadata": {"name": "p", "lables": {"a": "b"}}},
                 ['unknown field "metadata.lables"'], id="metadata"),
    pytest.param(POD, {"spec": {"containers": [_CONTAINER, {**_CONTAINER, "livenessProbe": {
        "httpGet": {"pathh": "/", "port": 80}}}]}},
                 ['unknown field "spec.containers[1].livenessProbe.httpGet.pathh"'],
                 id="probe-in-second-container"),
    pytest.param(POD, {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x",
                                                                         "typ": "Directory"}}]}},
                 ['unknown field "spec.volumes[0].hostPath.typ"'], id="volume-source"),
    pytest.param(POD, {"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "k", "operator": "In", "value": ["a"]}]}]}}}}},
                 ['unknown field "spec.affinity.nodeAffinity.requiredDuringScheduling'
                  'IgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].value"'],
                 id="affinity"),
    pytest.param(POD, {"status": {"containerStatuses": [{"name": "a", "restarts": 1}]}},
                 ['unknown field "status.containerStatuses[0].restarts"'], id="status"),
    pytest.param(POD, {"spec": {"containers": [{**_CONTAINER, "Image": "x", "x": 1}]}},
                 ['unknown field "spec.containers[0].Image"',
                  'unknown field "spec.containers[0].x"'], id="case-sensitive-document-order"),
    pytest.param(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [
        {**_CONTAINER, "ports": [{"containerPort": 80, "hostport": 1}]}]}}}},
                 ['unknown field "spec.template.spec.containers[0].ports[0].hostport"'],
                 id="deployment-template"),
    pytest.param(("", "v1", "ConfigMap"), {"data": {"any key": "v"}, "status": {}},
                 ['unknown field "status"'], id="configmap-has-no-status"),
    pytest.param(("", "v1", "Node"), {"status": {"daemonEndpoints": {
        "kubeletEndpoint": {"port": 10250}}}},
                 ['unknown field "status.daemonEndpoints.kubeletEndpoint.port"'],
                 id="node-endpoint-port-is-capitalised"),
    pytest.param(("", "v1", "Event"), {"involvedObject": {"kind": "Pod", "nam": "x"}},
                 ['unknown field "involvedObject.nam"'], id="event"),
    pytest.param(("coordination.k8s.io", "v1", "Lease"), {"spec": {"holder": "a"}},
                 ['unknown field "spec.holder"'], id="lease"),
    pytest.param(("", "v1", "Binding"), {"target": {"name": "n", "node": "n"}},
                 ['unknown field "target.node"'], id="binding"),
    pytest.param(("policy", "v1", "Eviction"), {"deleteOptions": {"gracePeriod": 0}},
                 ['unknown field "deleteOptions.gracePeriod"'], id="eviction"),
    pytest.param(("autoscaling", "v1", "Scale"), {"spec": {"replicas": 1, "paused": True}},
                 ['unknown field "spec.paused"'], id="scale"),
    # Keys of maps are data, never unknown fields.
    pytest.param(POD, {"metadata": {"labels": {"specc": "x"}, "annotations": {"a/b": "c"}},
                       "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [
                           {**_CONTAINER, "resources": {"limits": {"example.com/gpu": "1"}}}]}},
                 [], id="map-keys"),
    pytest.param(("", "v1", "Secret"), {"data": {"x": "eA=="}, "stringData": {"y": "z"}}, [],
                 id="secret-maps"),
    pytest.param(POD, {"metadata": {"managedFields": [{"manager": "m", "fieldsV1": {
        "f:spec": {"f:anything": {}}}}]}}, [], id="fields-v1-is-open"),
    # A value of the wrong JSON type is validation's business, not an unknown field.
    pytest.param(POD, {"spec": {"containers": "nginx", "volumes": [3, None]}}, [],
                 id="wrong-types"),
    pytest.param(POD, {"spec": None, "status": {"conditions": None}}, [], id="nulls"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "obj", "expected"), UNKNOWN)
def test_unknown_fields_are_reported_at_their_path(
    key: KindKey, obj: Json, expected: list[str]
) -> None:
    assert problems(key, obj) == expected


def test_unknown_fields_are_dropped_and_the_argument_is_left_alone() -> None:
    obj = {"kind": "Pod", "spec": {"containers": [{**_CONTAINER, "imagePullPolcy": "x"}]}}
    before = copy.deepcopy(obj)
    check = check_fields(schema(POD), obj)
    assert check.value == {"kind": "Pod", "spec": {"containers": [_CONTAINER]}}
    assert obj == before


def test_an_object_without_unknown_fields_comes_back_as_it_is() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [_CONTAINER]}}
    assert check_fields(schema(POD), obj).value is obj


@pytest.mark.parametrize("info", RESOURCES.resources, ids=lambda info: info.plural)
def test_every_served_kind_and_write_subresource_has_a_schema(info: ResourceInfo) -> None:
    assert schema_for_kind((info.group, info.version, info.kind)) is not None
    for sub in info.subresources:
        if {"create", "update"} & set(sub.verbs):
            gvk = info.subresource_gvk(sub)
            assert schema_for_kind((gvk.group, gvk.version, gvk.kind)) is not None, sub


# --- duplicates and the order of problems ---------------------------------------------------


def test_upstream_invalid_deployment_in_document_order() -> None:
    body = loads_json_keeping_duplicates(UPSTREAM_INVALID_DEPLOYMENT)
    check = check_fields(schema(DEPLOYMENT), body)
    assert strict_decoding_message(check.problems) == (
        'strict decoding error: duplicate field "metadata.name", unknown field '
        '"metadata.unknownMeta", unknown field "spec.unknown1", unknown field '
        '"spec.unknownDupe", duplicate field "spec.paused", unknown field '
        '"spec.template.spec.containers[0].unknownNested", duplicate field '
        '"spec.template.spec.containers[0].imagePullPolicy"'
    )


def test_duplicates_keep_the_last_value_and_come_back_as_plain_dicts() -> None:
    body = loads_json_keeping_duplicates(UPSTREAM_INVALID_DEPLOYMENT)
    value = check_fields(schema(DEPLOYMENT), body).value
    assert value["metadata"] == {"name": "web", "labels": {"app": "nginx"}}
    assert value["spec"]["paused"] is False
    container = value["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "nginx", "image": "nginx:latest", "imagePullPolicy": "Never"}
    assert type(value["metadata"]) is dict and type(container) is dict


def test_sorted_order_is_upstreams_yaml_order() -> None:
    """For YAML bodies upstream lists the unknown fields in key order (and its YAML parser
    reports the duplicates separately, which PyYAML cannot)."""
    body = json.loads(UPSTREAM_INVALID_DEPLOYMENT)
    assert problems(DEPLOYMENT, body, sorted_keys=True) == [
        'unknown field "metadata.unknownMeta"',
        'unknown field "spec.template.spec.containers[0].unknownNested"',
        'unknown field "spec.unknown1"',
        'unknown field "spec.unknownDupe"',
    ]


def test_duplicated_map_keys_are_duplicates() -> None:
    body = loads_json_keeping_duplicates(b'{"metadata": {"labels": {"a": "1", "a": "2"}}}')
    assert problems(POD, body) == ['duplicate field "metadata.labels.a"']


def test_decoding_without_duplicates_gives_plain_dicts() -> None:
    body = loads_json_keeping_duplicates(b'{"a": {"b": [{"c": 1}]}}')
    assert type(body) is dict and type(body["a"]["b"][0]) is dict
    duplicated = loads_json_keeping_duplicates(b'{"a": 1, "b": 2, "a": 3}')
    assert isinstance(duplicated, DuplicateKeysDict)
    assert (dict(duplicated), duplicated.key_order) == ({"a": 3, "b": 2}, ("a", "b", "a"))


@pytest.mark.parametrize(
    "body", [b"NaN", b'{"a": Infinity}', b'{"a": 1e999}', b"{", b"[" * 100_000], ids=repr
)
def test_decoding_refuses_what_go_refuses(body: bytes) -> None:
    with pytest.raises(ValueError):
        loads_json_keeping_duplicates(body)


def test_strict_error_quotes_like_go() -> None:
    error = StrictError(Problem.UNKNOWN, 'spec.a"b\n')
    assert str(error) == 'unknown field "spec.a\\"b\\n"'


# --- patch bodies ---------------------------------------------------------------------------

PATCH_BODIES = [
    pytest.param(b'{"spec": {"paused": true, "paused": false, "template": {"spec": {'
                 b'"containers": [{"name": "n", "imagePullPolicy": "A", "imagePullPolicy": "B"}]'
                 b"}}}}", False,
                 ['duplicate field "spec.paused"',
                  'duplicate field "spec.template.spec.containers[0].imagePullPolicy"'],
                 id="merge-duplicates"),
    pytest.param(b'{"spec": {"unknown1": 1}}', False, [], id="merge-unknown-is-the-objects"),
    pytest.param(b'[{"op": "add", "path": "/spec/unknown1", "value": "val1", "foo": "bar"},'
                 b'{"op": "add", "path": "/spec/unknown2", "path": "/spec/unknown3", "value": 1}]',
                 True, ['json patch unknown field "[0].foo"',
                        'json patch duplicate field "[1].path"'], id="json-patch-operations"),
    pytest.param(b'[{"op": "add", "path": "/x", "value": {"a": 1, "a": 2}}]', True,
                 ['json patch duplicate field "[0].value.a"'], id="json-patch-value"),
    pytest.param(b'[{"op": "add", "foo": 1, "foo": 2}]', True,
                 ['json patch unknown field "[0].foo"'], id="json-patch-unknown-once"),
    pytest.param(b"{not json", False, [], id="malformed"),
    pytest.param(b'{"op": "add"}', True, [], id="json-patch-not-a-list"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "json_patch", "expected"), PATCH_BODIES)
def test_patch_body_problems(body: bytes, json_patch: bool, expected: list[str]) -> None:
    assert [str(p) for p in patch_body_problems(body, json_patch)] == expected


# --- the directive --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, FieldValidation.WARN),
        ("", FieldValidation.WARN),
        ("Ignore", FieldValidation.IGNORE),
        ("Warn", FieldValidation.WARN),
        ("Strict", FieldValidation.STRICT),
    ],
)
def test_field_validation_directives(value: str | None, expected: FieldValidation) -> None:
    assert parse_field_validation(value, "CreateOptions") is expected


@pytest.mark.parametrize("value", ["strict", "STRICT", "Foo", " Strict"])
def test_other_directives_are_invalid_options(value: str) -> None:
    with pytest.raises(InvalidError) as caught:
        parse_field_validation(value, "PatchOptions")
    status = caught.value.status()
    assert status["code"] == 422
    assert status["message"] == (
        f'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
        f'{json.dumps(value)}: supported values: "", "Ignore", "Strict", "Warn"'
    )


# --- properties over valid objects ----------------------------------------------------------


def _fixtures() -> Iterator[tuple[str, KindKey, Json]]:
    for kind, obj, case_id in VALID:
        group, version = KINDS[kind]
        key = (group, version, kind)
        if key in KIND_SCHEMAS:
            yield case_id, key, obj
            yield f"{case_id}-defaulted", key, apply_defaults(group, version, kind, obj)
    for doc in yaml.safe_load_all(EXAMPLES.read_text()):
        group, _, version = str(doc["apiVersion"]).rpartition("/")
        yield f"example-{doc['kind']}", (group, version, doc["kind"]), doc
    yield from ((case_id, key, obj) for case_id, key, obj in _EXTRA_OBJECTS)


_EXTRA_OBJECTS: list[tuple[str, KindKey, Json]] = [
    ("pod-kitchen-sink", POD, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "d", "uid": "u", "resourceVersion": "5",
                     "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "r", "uid": "u", "controller": True,
                                          "blockOwnerDeletion": True}],
                     "finalizers": ["f"], "managedFields": [{"manager": "kubectl",
                                                              "operation": "Update"}]},
        "spec": {
            "containers": [{
                "name": "app", "image": "nginx", "args": ["-x"],
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "envFrom": [{"configMapRef": {"name": "c"}, "prefix": "P_"}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http",
                                               "httpHeaders": [{"name": "a", "value": "b"}]},
                                   "periodSeconds": 5},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                "securityContext": {"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}},
                        {"name": "p", "projected": {"sources": [
                            {"serviceAccountToken": {"path": "t", "expirationSeconds": 600}}]}}],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                           "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {"matchLabels": {"a": "b"}}}],
            "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "n", "value": "v"}]},
            "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
        },
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}],
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                   "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                          "image": "nginx", "imageID": "", "started": True,
                                          "state": {"running": {"startedAt": "2024-01-01"}},
                                          "lastState": {}}]},
    }),
    ("node-with-status", ("", "v1", "Node"), {
        "metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "NoExecute"}]},
        "status": {"capacity": {"cpu": "4"}, "allocatable": {"pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastHeartbeatTime": "2024-01-01T00:00:00Z"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"kubeletVersion": "v1.31.0"}}}),
    ("event", ("", "v1", "Event"), {
        "metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "Scheduled", "message": "m", "source": {"component": "scheduler"},
        "count": 1, "type": "Normal", "firstTimestamp": "2024-01-01T00:00:00Z",
        "eventTime": "2024-01-01T00:00:00.000000Z", "reportingComponent": "s"}),
    ("endpoints", ("", "v1", "Endpoints"), {
        "metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.0.0.1", "targetRef": {
            "kind": "Pod", "name": "p"}}], "ports": [{"port": 80, "protocol": "TCP"}]}]}),
    ("lease", ("coordination.k8s.io", "v1", "Lease"), {
        "metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                                            "renewTime": "2024-01-01T00:00:00.000000Z"}}),
    ("serviceaccount", ("", "v1", "ServiceAccount"), {
        "metadata": {"name": "default"}, "secrets": [{"name": "s"}],
        "automountServiceAccountToken": False}),
    ("binding", ("", "v1", "Binding"), {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "n"}}),
    ("eviction", ("policy", "v1", "Eviction"), {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"},
        "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "u"},
                          "propagationPolicy": "Background", "dryRun": ["All"]}}),
    ("scale", ("autoscaling", "v1", "Scale"), {
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"},
        "spec": {"replicas": 3}, "status": {"replicas": 1, "selector": "app=web"}}),
    ("statefulset-claims", ("apps", "v1", "StatefulSet"), {
        "metadata": {"name": "db"}, "spec": {"serviceName": "db", "volumeClaimTemplates": [
            {"metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}}],
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}}}),
    ("job-status", ("batch", "v1", "Job"), {
        "metadata": {"name": "j"}, "spec": {"backoffLimit": 2, "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}},
        "status": {"active": 1, "conditions": [{"type": "Complete", "status": "True",
                                                "lastProbeTime": None}],
                   "uncountedTerminatedPods": {"succeeded": ["u"]}}}),
]  # fmt: skip

FIXTURES = list(_fixtures())


@pytest.mark.parametrize(
    ("key", "obj"), [pytest.param(key, obj, id=case_id) for case_id, key, obj in FIXTURES]
)
def test_valid_objects_have_no_unknown_fields(key: KindKey, obj: Json) -> None:
    assert problems(key, obj) == []


def _struct_positions(node: Any, value: Any, path: tuple[Any, ...] = ()) -> Iterator[Any]:
    """Every place in `value` that is an object of a `Struct` node: (path, struct)."""
    if isinstance(node, Struct) and isinstance(value, dict):
        yield path, node
        for key, item in value.items():
            if key in node.fields:
                yield from _struct_positions(node.fields[key], item, (*path, key))
    elif isinstance(node, MapOf) and isinstance(value, dict):
        for key, item in value.items():
            yield from _struct_positions(node.values, item, (*path, key))
    elif isinstance(node, ListOf) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _struct_positions(node.items, item, (*path, index))


def _display(path: tuple[Any, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


_made_up_keys = st.text(alphabet=st.sampled_from("abcxyzABCXYZ019_-./$"), min_size=1, max_size=12)


@given(case=st.sampled_from(FIXTURES), data=st.data())
def test_a_made_up_field_anywhere_is_reported_there_and_dropped(
    case: tuple[str, KindKey, Json], data: st.DataObject
) -> None:
    _, key, obj = case
    path, node = data.draw(st.sampled_from(list(_struct_positions(schema(key), obj))))
    name = data.draw(_made_up_keys.filter(lambda k: k not in node.fields))
    damaged = copy.deepcopy(obj)
    target = damaged
    for step in path:
        target = target[step]
    target[name] = data.draw(st.none() | st.integers() | st.text(max_size=3) | st.just({}))
    check = check_fields(schema(key), damaged)
    assert [str(p) for p in check.problems] == [
        str(StrictError(Problem.UNKNOWN, _display((*path, name))))
    ]
    assert check.value == obj


def _nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b'{"x": 1, "x": 2}' + b"}" * depth


def test_duplicates_in_a_deeply_nested_patch_do_not_exhaust_the_stack() -> None:
    """Whatever depth the JSON decoder accepts here, finding duplicates must cope with."""
    depth = 1000
    while depth > 0:
        try:
            loads_json_keeping_duplicates(_nested(depth))
            break
        except ValueError:
            depth -= 10
    assert depth > 100
    found = patch_body_problems(_nested(depth), json_patch=False)
    assert [p.path for p in found] == [".".join(["a"] * depth + ["x"])]


@given(
    st.recursive(
        st.none() | st.integers(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(st.tuples(st.sampled_from("abc"), inner), max_size=4)
            .map(lambda pairs: "{" + ", ".join(f'"{k}": {json.dumps(v)}' for k, v in pairs) + "}")
            .map(json.loads)
        ),
        max_leaves=15,
    )
)
def test_a_document_without_repeated_keys_has_no_duplicates(doc: Any) -> None:
    assert patch_body_problems(json.dumps(doc), json_patch=False) == ()
