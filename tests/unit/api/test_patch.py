"""`apply_patch`: the bodies real clients send, content types, JSON patch and merge patch rules.

The kubectl bodies are the ones recorded from kubectl 1.31/1.32 in the API reference (§3.6);
the Python client v37 sends a dict as a strategic merge patch and a list as a JSON patch.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubelite.api.mergekeys import KindKey
from kubelite.api.patch import (
    JSON_PATCH,
    MAX_JSON_PATCH_OPERATIONS,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    MalformedPatchError,
    PatchError,
    PatchNotApplicableError,
    TooManyPatchOperationsError,
    UnsupportedPatchTypeError,
    accepted_patch_types,
    apply_json_patch,
    apply_merge_patch,
    apply_patch,
    json_merge_patch,
)

NODE: KindKey = ("", "v1", "Node")
DEPLOYMENT: KindKey = ("apps", "v1", "Deployment")
SCALE: KindKey = ("autoscaling", "v1", "Scale")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": {LAST_APPLIED: "{}"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "busybox:1.35"},
                    ]
                },
            },
        },
    }


def node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1"},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "t1"},
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"},
            ]
        },
    }


def with_changes(obj: dict[str, Any], *changes: tuple[str, Any]) -> dict[str, Any]:
    """``obj`` with each dotted path set to a value (``...`` deletes it)."""
    result = copy.deepcopy(obj)
    for path, value in changes:
        *parents, last = path.split(".")
        target = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is ...:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return result


APPLY_BODY = (
    '{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},'
    '"spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},'
    '{"name":"sidecar"}],"containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":'
    '"delete","name":"B"}],"image":"nginx:1.26","name":"nginx"},{"image":"busybox:1.36",'
    '"name":"sidecar"}]}}}}'
)
SET_IMAGE_BODY = (
    '{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},'
    '{"name":"sidecar"}],"containers":[{"image":"nginx:1.27","name":"nginx"}]}}}}'
)
RESTART_BODY = (
    '{"spec":{"template":{"metadata":{"annotations":'
    '{"kubectl.kubernetes.io/restartedAt":"2025-01-02T03:04:05Z"}}}}}'
)
UNDO_TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.24"}]},
}
UNDO_BODY = json.dumps(
    [
        {"op": "replace", "path": "/spec/template", "value": UNDO_TEMPLATE},
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "1"},
        },
    ]
)
HEARTBEAT_BODY = (
    '{"status":{"$setElementOrder/conditions":[{"type":"MemoryPressure"},{"type":"Ready"}],'
    '"conditions":[{"lastHeartbeatTime":"t2","type":"Ready"}]}}'
)

KUBECTL = [
    pytest.param(
        DEPLOYMENT,
        deployment(),
        STRATEGIC_MERGE_PATCH,
        APPLY_BODY,
        with_changes(
            deployment(),
            ("metadata.annotations", {LAST_APPLIED: "new"}),
            ("spec.replicas", 3),
            (
                "spec.template.spec.containers",
                [
                    {"name": "nginx", "image": "nginx:1.26", "env": [{"name": "A", "value": "1"}]},
                    {"name": "sidecar", "image": "busybox:1.36"},
                ],
            ),
        ),
        id="apply-three-way-diff",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        STRATEGIC_MERGE_PATCH,
        SET_IMAGE_BODY,
        with_changes(deployment(), ("spec.template.spec.containers.0.image", "nginx:1.27")),
        id="set-image",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        STRATEGIC_MERGE_PATCH,
        RESTART_BODY,
        with_changes(
            deployment(),
            (
                "spec.template.metadata.annotations",
                {"kubectl.kubernetes.io/restartedAt": "2025-01-02T03:04:05Z"},
            ),
        ),
        id="rollout-restart",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        JSON_PATCH,
        UNDO_BODY,
        with_changes(
            deployment(),
            ("spec.template", UNDO_TEMPLATE),
            ("metadata.annotations", {"deployment.kubernetes.io/revision": "1"}),
        ),
        id="rollout-undo-json-patch",
    ),
    pytest.param(
        SCALE,
        {
            "kind": "Scale",
            "metadata": {"name": "web"},
            "spec": {"replicas": 2},
            "status": {"replicas": 2},
        },
        MERGE_PATCH,
        '{"spec":{"replicas":5}}',
        {
            "kind": "Scale",
            "metadata": {"name": "web"},
            "spec": {"replicas": 5},
            "status": {"replicas": 2},
        },
        id="scale-merge-patch",
    ),
    pytest.param(
        NODE,
        node(),
        STRATEGIC_MERGE_PATCH,
        '{"spec":{"unschedulable":true}}',
        with_changes(node(), ("spec.unschedulable", True)),
        id="cordon",
    ),
    pytest.param(
        NODE,
        with_changes(node(), ("spec.unschedulable", True)),
        STRATEGIC_MERGE_PATCH,
        '{"spec":{"unschedulable":null}}',
        node(),
        id="uncordon",
    ),
    pytest.param(
        NODE,
        node(),
        STRATEGIC_MERGE_PATCH,
        '{"spec":{"taints":[{"effect":"NoSchedule","key":"dedicated","value":"gpu"}]}}',
        with_changes(
            node(), ("spec.taints", [{"effect": "NoSchedule", "key": "dedicated", "value": "gpu"}])
        ),
        id="taint",
    ),
    pytest.param(
        NODE,
        node(),
        STRATEGIC_MERGE_PATCH,
        HEARTBEAT_BODY,
        with_changes(node(), ("status.conditions.1.lastHeartbeatTime", "t2")),
        id="node-status-heartbeat",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        STRATEGIC_MERGE_PATCH,
        '{"metadata":{"labels":{"env":"prod"}}}',
        with_changes(deployment(), ("metadata.labels", {"env": "prod"})),
        id="label",
    ),
    pytest.param(
        DEPLOYMENT,
        with_changes(deployment(), ("metadata.labels", {"env": "prod", "tier": "web"})),
        STRATEGIC_MERGE_PATCH,
        '{"metadata":{"labels":{"env":null}}}',
        with_changes(deployment(), ("metadata.labels", {"tier": "web"})),
        id="unlabel",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        MERGE_PATCH,
        '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}',
        with_changes(
            deployment(), ("spec.template.spec.containers", [{"name": "nginx", "image": "nginx:2"}])
        ),
        id="patch-type-merge-replaces-lists",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        "application/strategic-merge-patch+json; charset=utf-8",
        b'{"spec":{"paused":true}}',
        with_changes(deployment(), ("spec.paused", True)),
        id="content-type-parameters-ignored",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        STRATEGIC_MERGE_PATCH,
        {"spec": {"replicas": 0}},
        with_changes(deployment(), ("spec.replicas", 0)),
        id="python-client-dict",
    ),
    pytest.param(
        DEPLOYMENT,
        deployment(),
        JSON_PATCH,
        [{"op": "remove", "path": "/spec/template/spec/containers/1"}],
        with_changes(
            deployment(),
            (
                "spec.template.spec.containers",
                deployment()["spec"]["template"]["spec"]["containers"][:1],
            ),
        ),
        id="python-client-list",
    ),
]


@pytest.mark.parametrize(("kind", "original", "content_type", "body", "expected"), KUBECTL)
def test_client_patches(
    kind: KindKey, original: Any, content_type: str, body: Any, expected: Any
) -> None:
    assert apply_patch(kind, original, body, content_type) == expected


def test_apply_patch_changes_nothing_it_is_given() -> None:
    original, body = deployment(), json.loads(SET_IMAGE_BODY)
    for content_type in (STRATEGIC_MERGE_PATCH, MERGE_PATCH):
        result = apply_patch(DEPLOYMENT, original, body, content_type)
        result["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
        assert original == deployment()
        assert body == json.loads(SET_IMAGE_BODY)


# --- content types and bodies ---------------------------------------------------------------

UNSUPPORTED = [
    pytest.param(DEPLOYMENT, "application/apply-patch+yaml", id="server-side-apply"),
    pytest.param(DEPLOYMENT, "application/json", id="plain-json"),
    pytest.param(DEPLOYMENT, None, id="no-content-type"),
    pytest.param(
        ("example.com", "v1", "Widget"), STRATEGIC_MERGE_PATCH, id="strategic-for-unknown-kind"
    ),
]


@pytest.mark.parametrize(("kind", "content_type"), UNSUPPORTED)
def test_unsupported_content_types_are_415(kind: KindKey, content_type: str | None) -> None:
    with pytest.raises(UnsupportedPatchTypeError, match="accepted media types include") as caught:
        apply_patch(kind, {}, b"not even json", content_type)
    assert caught.value.accepted == accepted_patch_types(kind)


def test_accepted_patch_types() -> None:
    assert accepted_patch_types(DEPLOYMENT) == (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
    assert accepted_patch_types(("example.com", "v1", "Widget")) == (JSON_PATCH, MERGE_PATCH)


BAD_BODIES = [
    pytest.param(STRATEGIC_MERGE_PATCH, b"{", "not valid JSON", id="truncated"),
    pytest.param(STRATEGIC_MERGE_PATCH, b"\xff\xfe\xfd", "not valid JSON", id="not-utf8"),
    pytest.param(MERGE_PATCH, b'{"a": NaN}', "not valid JSON", id="nan"),
    pytest.param(MERGE_PATCH, b'{"a": 1e999}', "not valid JSON", id="infinite-number"),
    pytest.param(STRATEGIC_MERGE_PATCH, b"[]", "must be a JSON object", id="strategic-array"),
    pytest.param(MERGE_PATCH, b"null", "must be a JSON object", id="merge-null"),
    pytest.param(MERGE_PATCH, b'"x"', "must be a JSON object", id="merge-string"),
    pytest.param(JSON_PATCH, b'{"op":"add"}', "JSON array of operation", id="json-patch-object"),
    pytest.param(JSON_PATCH, b'["add"]', "JSON array of operation", id="json-patch-strings"),
]


@pytest.mark.parametrize(("content_type", "body", "message"), BAD_BODIES)
def test_malformed_bodies_are_400(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(MalformedPatchError, match=message):
        apply_patch(DEPLOYMENT, deployment(), body, content_type)


# --- JSON patch (RFC 6902) ------------------------------------------------------------------

DOC = {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [1, 2, 3], "n": 1}}

JSON_PATCHES = [
    pytest.param([], DOC, id="empty"),
    pytest.param(
        [{"op": "add", "path": "/metadata/labels/y", "value": "2"}],
        with_changes(DOC, ("metadata.labels", {"x": "1", "y": "2"})),
        id="add-member",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/list/1", "value": 9}],
        with_changes(DOC, ("spec.list", [1, 9, 2, 3])),
        id="add-inserts-into-array",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/list/-", "value": 4}],
        with_changes(DOC, ("spec.list", [1, 2, 3, 4])),
        id="add-appends-with-dash",
    ),
    pytest.param(
        [{"op": "remove", "path": "/spec/list/0"}],
        with_changes(DOC, ("spec.list", [2, 3])),
        id="remove",
    ),
    pytest.param(
        [{"op": "replace", "path": "/spec/n", "value": {"deep": None}}],
        with_changes(DOC, ("spec.n", {"deep": None})),
        id="replace-keeps-nulls-as-given",
    ),
    pytest.param(
        [{"op": "move", "from": "/spec/n", "path": "/metadata/n"}],
        with_changes(DOC, ("spec.n", ...), ("metadata.n", 1)),
        id="move",
    ),
    pytest.param(
        [{"op": "copy", "from": "/metadata/labels", "path": "/spec/labels"}],
        with_changes(DOC, ("spec.labels", {"x": "1"})),
        id="copy",
    ),
    pytest.param(
        [{"op": "test", "path": "/spec/n", "value": 1.0}, {"op": "remove", "path": "/spec/n"}],
        with_changes(DOC, ("spec.n", ...)),
        id="test-passes-numbers-by-value",
    ),
    pytest.param(
        [{"op": "add", "path": "/metadata/a~1b", "value": 1}],
        with_changes(DOC, ("metadata.a/b", 1)),
        id="escaped-slash",
    ),
]


@pytest.mark.parametrize(("operations", "expected"), JSON_PATCHES)
def test_json_patch(operations: list[Any], expected: Any) -> None:
    assert apply_json_patch(DOC, operations) == expected


JSON_PATCH_FAILURES = [
    pytest.param([{"op": "remove", "path": "/spec/missing"}], "operation 1", id="remove-missing"),
    pytest.param(
        [{"op": "replace", "path": "/spec/missing", "value": 1}], "missing", id="replace-missing"
    ),
    pytest.param(
        [{"op": "add", "path": "/nope/x", "value": 1}], "nope", id="add-under-missing-parent"
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/list/9", "value": 1}], "outside of list", id="add-past-end"
    ),
    pytest.param(
        [{"op": "test", "path": "/spec/n", "value": True}], "not equal", id="test-true-is-not-1"
    ),
    pytest.param([{"op": "test", "path": "/spec/n", "value": 2}], "not equal", id="test-fails"),
    pytest.param(
        [{"op": "append", "path": "/metadata/name", "value": "x"}],
        "unknown operation",
        id="non-rfc-op",
    ),
    pytest.param([{"path": "/spec/n"}], "unknown operation", id="no-op"),
    pytest.param([{"op": "add", "value": 1}], "path", id="no-path"),
    pytest.param([{"op": "add", "path": "/spec/n"}], "value", id="no-value"),
    pytest.param(
        [{"op": "move", "from": "/spec", "path": "/spec/x"}], "own children", id="move-into-child"
    ),
    pytest.param([{"op": "copy", "from": 5, "path": "/x"}], "'from'", id="copy-from-not-a-string"),
    pytest.param(
        [{"op": "copy", "from": "/missing", "path": "/x"}], "operation 1", id="copy-from-missing"
    ),
    pytest.param([{"op": "remove", "path": ""}], "whole document", id="remove-root"),
    pytest.param(
        [{"op": "replace", "path": "", "value": [1]}], "JSON object", id="root-becomes-array"
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/list/x", "value": 1}], "operation 1", id="bad-array-index"
    ),
    pytest.param(
        [{"op": "add", "path": "/metadata/name/x", "value": 1}], "operation 1", id="into-a-string"
    ),
]


@pytest.mark.parametrize(("operations", "message"), JSON_PATCH_FAILURES)
def test_json_patch_failures_are_422_and_atomic(operations: list[Any], message: str) -> None:
    original = copy.deepcopy(DOC)
    with pytest.raises(PatchNotApplicableError, match=message):
        apply_json_patch(original, [{"op": "add", "path": "/first", "value": 1}, *operations])
    assert original == DOC


def test_json_patch_operation_limit_is_413() -> None:
    operations = [{"op": "test", "path": "/spec/n", "value": 1}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(
        TooManyPatchOperationsError, match="maximum operations in a JSON patch is 10000"
    ):
        apply_json_patch(DOC, operations)
    assert len(apply_json_patch(DOC, operations[:-1])) == len(DOC)


def test_json_patch_copy_bombs_are_refused() -> None:
    doubling = [{"op": "copy", "from": "/a", "path": f"/a/{i % 2}"} for i in range(64)]
    with pytest.raises(PatchNotApplicableError, match="more than 3145728 bytes"):
        apply_json_patch({"a": ["x" * 1000, "y"]}, doubling)


# --- JSON merge patch (RFC 7386) ------------------------------------------------------------

# RFC 7386 appendix A, plus the refinement for nulls inside arrays.
MERGE_PATCHES = [
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="rfc-replace-member"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="rfc-add-member"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="rfc-null-deletes"),
    pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="rfc-null-deletes-one"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="rfc-scalar-replaces-array"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="rfc-array-replaces-scalar"),
    pytest.param(
        {"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="rfc-nested"
    ),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="rfc-arrays-replace-wholesale"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="rfc-nulls-in-target-kept"),
    pytest.param(
        {}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="rfc-nulls-in-new-objects-dropped"
    ),
    pytest.param({"a": 1}, {"a": {"b": 2}}, {"a": {"b": 2}}, id="object-replaces-scalar"),
    pytest.param(
        {},
        {"a": [{"b": None, "c": 1}, None]},
        {"a": [{"c": 1}, None]},
        id="nulls-in-array-objects-dropped",
    ),
    pytest.param({"a": 1}, {}, {"a": 1}, id="empty-patch"),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGE_PATCHES)
def test_merge_patch(target: dict[str, Any], patch: dict[str, Any], expected: Any) -> None:
    assert apply_merge_patch(target, patch) == expected


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"a": "b"}, ["c"], ["c"], id="rfc-array-patch-replaces"),
        pytest.param({"a": "foo"}, None, None, id="rfc-null-patch-replaces"),
        pytest.param({"a": "foo"}, "bar", "bar", id="rfc-string-patch-replaces"),
        pytest.param(["a", "b"], {"a": "b", "c": None}, {"a": "b"}, id="rfc-object-patch-on-array"),
    ],
)
def test_json_merge_patch_on_any_value(target: Any, patch: Any, expected: Any) -> None:
    assert json_merge_patch(target, patch) == expected


def test_every_error_is_a_patch_error() -> None:
    for error in (
        MalformedPatchError,
        PatchNotApplicableError,
        UnsupportedPatchTypeError,
        TooManyPatchOperationsError,
    ):
        assert issubclass(error, PatchError)
