"""Strategic merge patch against upstream's semantics, one table per rule.

Expected results follow upstream's ``strategicpatch`` (its own test cases for ordering and
directives) and the merge keys in ``k8s.io/api``'s struct tags. Each case is
(kind, live object, patch, expected object).
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.mergekeys import BUILTIN_SCHEMAS, KindKey, schema_for
from kubelite.api.patcherrors import MalformedPatchError, PatchError, PatchNotApplicableError
from kubelite.api.strategic import apply_strategic_merge_patch

POD: KindKey = ("", "v1", "Pod")
NODE: KindKey = ("", "v1", "Node")
SERVICE: KindKey = ("", "v1", "Service")
DEPLOYMENT: KindKey = ("apps", "v1", "Deployment")


def smp(kind: KindKey, original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    schema = schema_for(kind)
    assert schema is not None
    return apply_strategic_merge_patch(schema, original, patch)


def pod_spec(**spec: Any) -> dict[str, Any]:
    return {"spec": spec}


def containers(*items: dict[str, Any]) -> dict[str, Any]:
    return pod_spec(containers=list(items))


def names(*names: str) -> list[dict[str, str]]:
    return [{"name": name} for name in names]


# --- objects --------------------------------------------------------------------------------

MAPS = [
    pytest.param(
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"b": "2"}}},
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        id="objects-merge-recursively",
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"a": None}}},
        {"metadata": {"labels": {"b": "2"}}},
        id="null-deletes-a-key",
    ),
    pytest.param(
        {"spec": {}},
        {"spec": {"nodeName": None}},
        {"spec": {}},
        id="null-for-an-absent-key-changes-nothing",
    ),
    pytest.param(
        {},
        {"spec": {"securityContext": {"runAsUser": 1, "runAsGroup": None}}},
        {"spec": {"securityContext": {"runAsUser": 1}}},
        id="nulls-inside-a-new-object-are-dropped",
    ),
    pytest.param(
        {"spec": {"nodeName": "a"}},
        {"spec": {"nodeName": {"x": 1, "y": None}}},
        {"spec": {"nodeName": {"x": 1}}},
        id="object-replaces-scalar-without-its-nulls",
    ),
    pytest.param(
        {"spec": {"affinity": {"nodeAffinity": {"x": 1}}}},
        {"spec": {"affinity": "none"}},
        {"spec": {"affinity": "none"}},
        id="scalar-replaces-object",
    ),
    pytest.param(
        {"spec": {"affinity": {"nodeAffinity": {"x": 1}, "podAffinity": {"y": 2}}}},
        {"spec": {"affinity": {"$patch": "replace", "podAntiAffinity": {"z": 3}}}},
        {"spec": {"affinity": {"podAntiAffinity": {"z": 3}}}},
        id="patch-replace-replaces-an-object",
    ),
    pytest.param(
        {"spec": {"affinity": {"nodeAffinity": {"x": 1}}}},
        {"spec": {"affinity": {"$patch": "delete"}}},
        {"spec": {"affinity": {}}},
        id="patch-delete-empties-an-object",
    ),
    pytest.param(
        {"spec": {}},
        {"spec": {"affinity": {"$patch": "replace", "podAntiAffinity": {"z": 3}}}},
        {"spec": {}},
        id="directive-object-for-an-absent-key-is-dropped-as-upstream",
    ),
    pytest.param(
        {},
        {"spec": {"$setElementOrder/containers": names("a"), "containers": names("a")}},
        {"spec": {"containers": names("a")}},
        id="directives-inside-a-new-object-are-not-stored",
    ),
    pytest.param(
        {"metadata": {"name": "p"}},
        {"$patch": "replace", "metadata": {"name": "q"}},
        {"metadata": {"name": "q"}},
        id="patch-replace-at-the-top",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), MAPS)
def test_objects(original: dict[str, Any], patch: dict[str, Any], expected: Any) -> None:
    assert smp(POD, original, patch) == expected


RETAIN_KEYS = [
    pytest.param(
        DEPLOYMENT,
        {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {"spec": {"strategy": {"type": "Recreate"}}},
        id="deployment-strategy-rolling-update-to-recreate",
    ),
    pytest.param(
        POD,
        pod_spec(volumes=[{"name": "data", "hostPath": {"path": "/x"}}, {"name": "tmp"}]),
        pod_spec(volumes=[{"$retainKeys": ["emptyDir", "name"], "emptyDir": {}, "name": "data"}]),
        pod_spec(volumes=[{"name": "data", "emptyDir": {}}, {"name": "tmp"}]),
        id="volume-source-switched-in-a-merged-item",
    ),
    pytest.param(
        DEPLOYMENT,
        {"spec": {"strategy": {"type": "Recreate"}}},
        {"spec": {"strategy": {"$retainKeys": ["type", "rollingUpdate"], "rollingUpdate": None}}},
        {"spec": {"strategy": {"type": "Recreate"}}},
        id="nulls-need-not-be-retained",
    ),
]


@pytest.mark.parametrize(("kind", "original", "patch", "expected"), RETAIN_KEYS)
def test_retain_keys(kind: KindKey, original: Any, patch: Any, expected: Any) -> None:
    assert smp(kind, original, patch) == expected


# --- lists merged by key --------------------------------------------------------------------

NGINX = {"name": "nginx", "image": "nginx:1.25"}
SIDECAR = {"name": "sidecar", "image": "busybox:1.35"}

MERGE_KEYS = [
    pytest.param(
        POD,
        containers(NGINX, SIDECAR),
        containers({"name": "nginx", "image": "nginx:1.27"}),
        containers({"name": "nginx", "image": "nginx:1.27"}, SIDECAR),
        id="containers-by-name",
    ),
    pytest.param(
        POD,
        containers(NGINX),
        containers({"name": "log", "image": "fluentd", "stdin": None}),
        containers({"name": "log", "image": "fluentd"}, NGINX),
        id="new-container-goes-first-without-its-nulls",
    ),
    pytest.param(
        POD,
        pod_spec(initContainers=[{"name": "init", "image": "a"}]),
        pod_spec(initContainers=[{"name": "init", "image": "b"}]),
        pod_spec(initContainers=[{"name": "init", "image": "b"}]),
        id="init-containers-by-name",
    ),
    pytest.param(
        POD,
        pod_spec(ephemeralContainers=[{"name": "debug", "image": "a"}]),
        pod_spec(ephemeralContainers=[{"name": "debug2", "image": "b"}]),
        pod_spec(
            ephemeralContainers=[{"name": "debug2", "image": "b"}, {"name": "debug", "image": "a"}]
        ),
        id="ephemeral-containers-by-name",
    ),
    pytest.param(
        POD,
        containers(
            {"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
        ),
        containers(
            {"name": "c", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}
        ),
        containers(
            {
                "name": "c",
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "value": "3"},
                    {"name": "C", "value": "4"},
                ],
            }
        ),
        id="env-by-name",
    ),
    pytest.param(
        POD,
        containers({"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP"}]}),
        containers({"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}),
        containers(
            {"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]}
        ),
        id="container-ports-by-container-port",
    ),
    pytest.param(
        POD,
        containers({"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "x"}]}),
        containers({"name": "c", "volumeMounts": [{"mountPath": "/a", "readOnly": True}]}),
        containers(
            {"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "x", "readOnly": True}]}
        ),
        id="volume-mounts-by-mount-path",
    ),
    pytest.param(
        POD,
        containers({"name": "c", "volumeDevices": [{"devicePath": "/dev/a", "name": "x"}]}),
        containers({"name": "c", "volumeDevices": [{"devicePath": "/dev/b", "name": "y"}]}),
        containers(
            {
                "name": "c",
                "volumeDevices": [
                    {"devicePath": "/dev/b", "name": "y"},
                    {"devicePath": "/dev/a", "name": "x"},
                ],
            }
        ),
        id="volume-devices-by-device-path",
    ),
    pytest.param(
        POD,
        pod_spec(imagePullSecrets=names("a")),
        pod_spec(imagePullSecrets=names("b")),
        pod_spec(imagePullSecrets=names("b", "a")),
        id="image-pull-secrets-by-name",
    ),
    pytest.param(
        POD,
        pod_spec(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a"]}]),
        pod_spec(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["b"]}]),
        pod_spec(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["b"]}]),
        id="host-aliases-by-ip-hostnames-atomic",
    ),
    pytest.param(
        POD,
        pod_spec(topologySpreadConstraints=[{"topologyKey": "zone", "maxSkew": 1}]),
        pod_spec(topologySpreadConstraints=[{"topologyKey": "zone", "maxSkew": 2}]),
        pod_spec(topologySpreadConstraints=[{"topologyKey": "zone", "maxSkew": 2}]),
        id="topology-spread-constraints-by-topology-key",
    ),
    pytest.param(
        POD,
        pod_spec(schedulingGates=names("a", "b")),
        pod_spec(schedulingGates=[{"$patch": "delete", "name": "a"}]),
        pod_spec(schedulingGates=names("b")),
        id="scheduling-gates-by-name",
    ),
    pytest.param(
        POD,
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False"},
                    {"type": "PodScheduled", "status": "True"},
                ]
            }
        },
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "PodScheduled", "status": "True"},
                ]
            }
        },
        id="pod-conditions-by-type",
    ),
    pytest.param(
        POD,
        {"status": {"podIPs": [{"ip": "10.0.0.1"}]}},
        {"status": {"podIPs": [{"ip": "fd00::1"}]}},
        {"status": {"podIPs": [{"ip": "fd00::1"}, {"ip": "10.0.0.1"}]}},
        id="pod-ips-by-ip",
    ),
    pytest.param(
        POD,
        {
            "metadata": {
                "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "controller": True}]
            }
        },
        {
            "metadata": {
                "ownerReferences": [{"uid": "u1", "controller": None}, {"uid": "u2", "kind": "X"}]
            }
        },
        {
            "metadata": {
                "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet"}, {"uid": "u2", "kind": "X"}]
            }
        },
        id="owner-references-by-uid",
    ),
    pytest.param(
        NODE,
        {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}},
        {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
        {
            "status": {
                "conditions": [{"type": "Ready", "status": "Unknown", "reason": "KubeletReady"}]
            }
        },
        id="node-conditions-by-type",
    ),
    pytest.param(
        NODE,
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
        {"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}},
        {
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": "n1"},
                    {"type": "InternalIP", "address": "10.0.0.1"},
                ]
            }
        },
        id="node-addresses-by-type",
    ),
    pytest.param(
        SERVICE,
        {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
        {"spec": {"ports": [{"port": 80, "name": "http"}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443}]}},
        id="service-ports-by-port",
    ),
    pytest.param(
        ("", "v1", "ServiceAccount"),
        {"secrets": names("token-a")},
        {"secrets": names("token-b")},
        {"secrets": names("token-b", "token-a")},
        id="service-account-secrets-by-name",
    ),
    pytest.param(
        DEPLOYMENT,
        {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
        {"status": {"conditions": [{"type": "Progressing", "status": "True"}]}},
        {
            "status": {
                "conditions": [
                    {"type": "Progressing", "status": "True"},
                    {"type": "Available", "status": "True"},
                ]
            }
        },
        id="deployment-conditions-by-type",
    ),
    pytest.param(
        ("batch", "v1", "Job"),
        {"spec": {"template": containers(NGINX)}, "status": {"conditions": [{"type": "Complete"}]}},
        {"spec": {"template": containers(SIDECAR)}, "status": {"conditions": [{"type": "Failed"}]}},
        {
            "spec": {"template": containers(SIDECAR, NGINX)},
            "status": {"conditions": [{"type": "Failed"}, {"type": "Complete"}]},
        },
        id="job-template-containers-and-conditions",
    ),
    pytest.param(
        ("", "v1", "Namespace"),
        {"status": {"conditions": [{"type": "A"}]}},
        {"status": {"conditions": [{"type": "B"}]}},
        {"status": {"conditions": [{"type": "B"}, {"type": "A"}]}},
        id="namespace-conditions-by-type",
    ),
]


@pytest.mark.parametrize(("kind", "original", "patch", "expected"), MERGE_KEYS)
def test_lists_merged_by_key(kind: KindKey, original: Any, patch: Any, expected: Any) -> None:
    assert smp(kind, original, patch) == expected


# --- atomic lists and sets of scalars -------------------------------------------------------

ATOMIC_AND_SETS = [
    pytest.param(
        POD,
        pod_spec(tolerations=[{"key": "a", "operator": "Exists"}]),
        pod_spec(tolerations=[{"key": "b", "operator": "Exists", "value": None}]),
        pod_spec(tolerations=[{"key": "b", "operator": "Exists"}]),
        id="tolerations-replaced-wholesale",
    ),
    pytest.param(
        NODE,
        {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}},
        {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}},
        {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}},
        id="node-taints-replaced-wholesale",
    ),
    pytest.param(
        POD,
        containers({"name": "c", "args": ["a", "b"], "command": ["x"]}),
        containers({"name": "c", "args": ["c"]}),
        containers({"name": "c", "args": ["c"], "command": ["x"]}),
        id="container-args-replaced-wholesale",
    ),
    pytest.param(
        ("", "v1", "Endpoints"),
        {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]},
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]},
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]},
        id="endpoints-subsets-replaced-wholesale",
    ),
    pytest.param(
        ("", "v1", "Namespace"),
        {"spec": {"finalizers": ["kubernetes"]}},
        {"spec": {"finalizers": ["other"]}},
        {"spec": {"finalizers": ["other"]}},
        id="namespace-spec-finalizers-replaced-wholesale",
    ),
    pytest.param(
        POD,
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"finalizers": ["c", "d"]}},
        {"metadata": {"finalizers": ["a", "b", "c", "d"]}},
        id="finalizers-set-union",
    ),
    pytest.param(
        POD,
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"finalizers": ["b", "b"]}},
        {"metadata": {"finalizers": ["a", "b"]}},
        id="finalizers-duplicates-collapse",
    ),
    pytest.param(
        POD,
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "z"]}},
        {"metadata": {"finalizers": ["a", "c"]}},
        id="delete-from-primitive-list",
    ),
    pytest.param(
        POD,
        {"metadata": {}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
        {"metadata": {}},
        id="delete-from-an-absent-primitive-list",
    ),
    pytest.param(
        POD,
        {"metadata": {"finalizers": ["a", "b"]}},
        {
            "metadata": {
                "$setElementOrder/finalizers": ["b", "c"],
                "$deleteFromPrimitiveList/finalizers": ["a"],
                "finalizers": ["c"],
            }
        },
        {"metadata": {"finalizers": ["b", "c"]}},
        id="kubectl-apply-finalizers-change",
    ),
    pytest.param(
        NODE,
        {"spec": {"podCIDRs": ["10.0.0.0/24"]}},
        {"spec": {"podCIDRs": ["fd00::/64"]}},
        {"spec": {"podCIDRs": ["fd00::/64", "10.0.0.0/24"]}},
        id="node-pod-cidrs-set-union",
    ),
    pytest.param(
        POD,
        {"spec": {"nodeSelector": {"a": "1"}}},
        {"spec": {"nodeSelector": {"b": "2"}, "unknownList": [1]}},
        {"spec": {"nodeSelector": {"a": "1", "b": "2"}, "unknownList": [1]}},
        id="unknown-fields-merge-like-untagged-ones",
    ),
]


@pytest.mark.parametrize(("kind", "original", "patch", "expected"), ATOMIC_AND_SETS)
def test_atomic_lists_and_sets(kind: KindKey, original: Any, patch: Any, expected: Any) -> None:
    assert smp(kind, original, patch) == expected


# --- list directives and order --------------------------------------------------------------

A, B, C, D = ({"name": name, "image": name} for name in "abcd")

LIST_DIRECTIVES = [
    pytest.param(
        containers(A, B, C),
        containers({"$patch": "delete", "name": "b"}),
        containers(A, C),
        id="delete-an-item",
    ),
    pytest.param(
        containers(A, B),
        containers({"$patch": "delete", "name": "z"}),
        containers(A, B),
        id="delete-a-missing-item",
    ),
    pytest.param(
        containers(A, B),
        containers({"$patch": "replace"}, {"name": "c", "image": "c", "tty": None}),
        containers({"name": "c", "image": "c"}),
        id="replace-the-list",
    ),
    pytest.param(
        containers(A, B, C),
        pod_spec(**{"$setElementOrder/containers": names("c", "a", "b")}),
        containers(C, A, B),
        id="set-element-order-alone-reorders",
    ),
    pytest.param(
        containers(A, B),
        pod_spec(**{"$setElementOrder/containers": names("b", "c", "a"), "containers": [C]}),
        containers(B, C, A),
        id="set-element-order-places-a-new-item",
    ),
    pytest.param(
        containers(A, B, C),
        pod_spec(
            **{
                "$setElementOrder/containers": names("c", "a"),
                "containers": [{"name": "c", "tty": True}],
            }
        ),
        containers(B, {**C, "tty": True}, A),
        id="set-element-order-server-only-item-before-a-later-live-item",
    ),
    pytest.param(
        containers(A, B, C),
        containers(D, {"name": "b", "tty": True}),
        containers(D, A, {**B, "tty": True}, C),
        id="merged-order-interleaves-like-upstream",
    ),
    pytest.param(
        containers(A, B, D),
        pod_spec(
            **{
                "$setElementOrder/containers": names("b", "c"),
                "containers": [C, {"name": "a", "$patch": "delete"}],
            }
        ),
        containers(B, D, C),
        id="new-item-takes-the-deleted-slot-as-upstream",
    ),
    pytest.param(
        pod_spec(),
        pod_spec(**{"$setElementOrder/containers": names("b", "a"), "containers": [B, A]}),
        containers(B, A),
        id="set-element-order-on-a-new-list",
    ),
    pytest.param(
        containers(
            {"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
        ),
        containers(
            {
                "name": "c",
                "$setElementOrder/env": names("A"),
                "env": [{"$patch": "delete", "name": "B"}],
            }
        ),
        containers({"name": "c", "env": [{"name": "A", "value": "1"}]}),
        id="nested-set-element-order-with-delete",
    ),
    pytest.param(
        containers(
            {"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
        ),
        containers({"name": "c", "env": [{"name": "A", "value": "3"}]}),
        containers(
            {"name": "c", "env": [{"name": "A", "value": "3"}, {"name": "A", "value": "2"}]}
        ),
        id="duplicate-live-keys-merge-into-the-first",
    ),
    pytest.param(
        containers(
            {"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
        ),
        containers({"name": "c", "env": [{"$patch": "delete", "name": "A"}]}),
        containers({"name": "c", "env": []}),
        id="delete-removes-every-item-with-the-key",
    ),
    pytest.param(
        {"spec": {"containers": None}},
        containers(A),
        containers(A),
        id="list-over-a-live-null",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), LIST_DIRECTIVES)
def test_list_directives_and_order(original: Any, patch: Any, expected: Any) -> None:
    assert smp(POD, original, patch) == expected


# --- errors ---------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        {"spec": {"$patch": "merge"}},
        MalformedPatchError,
        "unknown patch type",
        id="map-patch-merge",
    ),
    pytest.param(
        {"spec": {"$patch": "bogus"}},
        MalformedPatchError,
        "unknown patch type",
        id="map-unknown-directive",
    ),
    pytest.param(
        containers({"$patch": "merge"}),
        MalformedPatchError,
        "merging lists cannot yet be specified",
        id="list-patch-merge",
    ),
    pytest.param(
        containers({"$patch": "bogus"}),
        MalformedPatchError,
        "unknown patch type",
        id="list-unknown-directive",
    ),
    pytest.param(
        containers({"image": "x"}),
        MalformedPatchError,
        "merge key: name",
        id="item-without-merge-key",
    ),
    pytest.param(
        containers({"$patch": "delete"}),
        MalformedPatchError,
        "merge key: name",
        id="delete-without-merge-key",
    ),
    pytest.param(
        {"spec": {"strategy": {"$retainKeys": "type"}}},
        MalformedPatchError,
        "retainKeys",
        id="retain-keys-not-a-list",
    ),
    pytest.param(
        {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
        MalformedPatchError,
        "retainKeys",
        id="retain-keys-missing-a-patched-key",
    ),
    pytest.param(
        pod_spec(**{"$setElementOrder/containers": "a"}),
        MalformedPatchError,
        "must be a list",
        id="set-element-order-not-a-list",
    ),
    pytest.param(
        pod_spec(**{"$setElementOrder/containers": names("a", "b"), "containers": names("b", "a")}),
        MalformedPatchError,
        "doesn't match",
        id="set-element-order-contradicts-the-patch",
    ),
    pytest.param(
        pod_spec(**{"$setElementOrder/containers": ["a"], "containers": names("a")}),
        MalformedPatchError,
        "merge key",
        id="set-element-order-items-without-merge-key",
    ),
    pytest.param(
        pod_spec(**{"$setElementOrdercontainers": []}),
        MalformedPatchError,
        "setElementOrder",
        id="set-element-order-without-slash",
    ),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
        MalformedPatchError,
        "primitive list",
        id="delete-from-primitive-list-not-a-list",
    ),
    pytest.param(
        {"metadata": {"finalizers": [["a"]]}},
        PatchNotApplicableError,
        "lists of lists",
        id="list-of-lists",
    ),
    pytest.param(
        {"metadata": {"finalizers": [1]}},
        PatchNotApplicableError,
        "not identical",
        id="mixed-item-types",
    ),
]


@pytest.mark.parametrize(("patch", "error", "message"), ERRORS)
def test_errors(patch: dict[str, Any], error: type[PatchError], message: str) -> None:
    original = {
        "metadata": {"finalizers": ["x"]},
        "spec": {"containers": names("a", "b"), "strategy": {"type": "Recreate"}},
    }
    with pytest.raises(error, match=message):
        smp(DEPLOYMENT if "strategy" in str(patch) else POD, original, patch)


def test_objects_in_a_set_of_scalars_cannot_be_merged() -> None:
    with pytest.raises(PatchNotApplicableError, match="without merge key for podCIDRs"):
        smp(NODE, {"spec": {"podCIDRs": [{"a": 1}]}}, {"spec": {"podCIDRs": [{"b": 2}]}})


def test_inputs_are_not_changed_and_results_share_nothing() -> None:
    original = containers(A, B)
    patch = containers({"name": "a", "image": "z"}, {"$patch": "delete", "name": "b"})
    before = (repr(original), repr(patch))
    result = smp(POD, original, patch)
    assert (repr(original), repr(patch)) == before
    result["spec"]["containers"][0]["image"] = "changed"
    assert original["spec"]["containers"][0]["image"] == "a"


def test_every_served_kind_has_metadata_merge_keys() -> None:
    for kind, schema in BUILTIN_SCHEMAS.items():
        metadata = schema["metadata"].fields
        assert metadata["ownerReferences"].merge_key == "uid", kind
        assert metadata["finalizers"].merge, kind


def test_unknown_kind_has_no_schema() -> None:
    assert schema_for(("example.com", "v1", "Widget")) is None
