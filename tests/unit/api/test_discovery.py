"""Discovery and OpenAPI against what kubectl 1.31 and the Python client v37 read.

Expected values come from reference/kubernetes-api.md §2 (recorded client traffic) and from
``kubectl api-resources -o wide`` on upstream 1.31. Required fields are those the Python
client's models reject when missing: ``serverAddressByClientCIDRs`` on ``APIVersions``;
``kind``, ``name``, ``namespaced``, ``singularName`` and ``verbs`` on each ``APIResource``.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.discovery import (
    LEGACY_JSON,
    DiscoveryFormat,
    aggregated_discovery,
    api_group_list,
    api_resource_list,
    api_versions,
    negotiate_discovery,
    storage_version_hash,
    version_info,
)
from kubelite.api.openapi import (
    OPENAPI_V2,
    document_hash,
    v3_document,
    v3_document_for_path,
    v3_root,
)
from kubelite.api.resources import (
    ALL_VERBS,
    RESOURCES,
    GroupVersion,
    GroupVersionKind,
    ResourceInfo,
    ResourceRegistry,
)

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
AGGREGATED_V2_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
REQUIRED_RESOURCE_FIELDS = {"kind", "name", "namespaced", "singularName", "verbs"}

# plural, group, kind, short name, namespaced, in category "all"
SERVED = [
    ("namespaces", "", "Namespace", "ns", False, False),
    ("pods", "", "Pod", "po", True, True),
    ("nodes", "", "Node", "no", False, False),
    ("services", "", "Service", "svc", True, True),
    ("endpoints", "", "Endpoints", "ep", True, False),
    ("configmaps", "", "ConfigMap", "cm", True, False),
    ("secrets", "", "Secret", None, True, False),
    ("events", "", "Event", "ev", True, False),
    ("serviceaccounts", "", "ServiceAccount", "sa", True, False),
    ("deployments", "apps", "Deployment", "deploy", True, True),
    ("replicasets", "apps", "ReplicaSet", "rs", True, True),
    ("daemonsets", "apps", "DaemonSet", "ds", True, True),
    ("statefulsets", "apps", "StatefulSet", "sts", True, True),
    ("jobs", "batch", "Job", None, True, True),
    ("leases", "coordination.k8s.io", "Lease", None, True, False),
]

# legacy entry name, group-version served at, expected fields of the entry
SUBRESOURCE_ENTRIES = [
    ("pods/log", "v1", {"kind": "Pod", "verbs": ["get"]}),
    ("pods/status", "v1", {"kind": "Pod", "verbs": ["get", "patch", "update"]}),
    ("pods/binding", "v1", {"kind": "Binding", "verbs": ["create"]}),
    (
        "pods/eviction",
        "v1",
        {"kind": "Eviction", "group": "policy", "version": "v1", "verbs": ["create"]},
    ),
    ("namespaces/finalize", "v1", {"kind": "Namespace", "verbs": ["update"]}),
    ("namespaces/status", "v1", {"kind": "Namespace", "verbs": ["get", "patch", "update"]}),
    ("nodes/status", "v1", {"kind": "Node", "verbs": ["get", "patch", "update"]}),
    ("services/status", "v1", {"kind": "Service", "verbs": ["get", "patch", "update"]}),
    (
        "deployments/scale",
        "apps/v1",
        {
            "kind": "Scale",
            "group": "autoscaling",
            "version": "v1",
            "verbs": ["get", "patch", "update"],
        },
    ),
    ("deployments/status", "apps/v1", {"kind": "Deployment"}),
    ("replicasets/scale", "apps/v1", {"kind": "Scale", "group": "autoscaling"}),
    ("replicasets/status", "apps/v1", {"kind": "ReplicaSet"}),
    ("statefulsets/scale", "apps/v1", {"kind": "Scale", "group": "autoscaling"}),
    ("statefulsets/status", "apps/v1", {"kind": "StatefulSet"}),
    ("daemonsets/status", "apps/v1", {"kind": "DaemonSet"}),
    ("jobs/status", "batch/v1", {"kind": "Job"}),
]


def _split(group_version: str) -> tuple[str, str]:
    group, _, version = group_version.rpartition("/")
    return group, version


def _legacy_entries(group_version: str) -> dict[str, dict[str, Any]]:
    body = api_resource_list(RESOURCES, *_split(group_version))
    assert body is not None
    return {entry["name"]: entry for entry in body["resources"]}


# --- registry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "group", "kind", "short", "namespaced", "in_all"), SERVED, ids=[s[0] for s in SERVED]
)
def test_every_resource_is_reachable_by_plural_kind_and_short_name(
    plural: str, group: str, kind: str, short: str | None, namespaced: bool, in_all: bool
) -> None:
    info = RESOURCES.lookup(group, "v1", plural)
    assert info is not None
    assert (info.kind, info.namespaced, info.singular) == (kind, namespaced, kind.lower())
    assert RESOURCES.for_kind(kind) is info
    assert RESOURCES.for_kind(kind, group) is info
    assert RESOURCES.for_gvk(GroupVersionKind(group, "v1", kind)) is info
    assert RESOURCES.resolve(plural) is info
    assert RESOURCES.resolve(kind) is info
    assert RESOURCES.resolve(kind.lower()) is info
    if group:
        assert RESOURCES.resolve(f"{plural}.{group}") is info
    if short is not None:
        assert RESOURCES.for_short_name(short) is info
        assert RESOURCES.resolve(short) is info
    assert (info in RESOURCES.in_category("all")) is in_all


def test_registry_serves_exactly_the_designed_resources() -> None:
    assert {(r.group, r.plural) for r in RESOURCES.resources} == {(s[1], s[0]) for s in SERVED}
    assert [str(gv) for gv in RESOURCES.group_versions] == [
        "v1",
        "apps/v1",
        "batch/v1",
        "policy/v1",
        "coordination.k8s.io/v1",
    ]


def test_kinds_and_short_names_are_unique() -> None:
    kinds = [r.kind for r in RESOURCES.resources]
    shorts = [s for r in RESOURCES.resources for s in r.short_names]
    assert len(kinds) == len(set(kinds))
    assert len(shorts) == len(set(shorts))


@pytest.mark.parametrize(
    "name", ["nothing", "deployments.batch", "po.apps", ""], ids=lambda n: n or "empty"
)
def test_unknown_names_resolve_to_none(name: str) -> None:
    assert RESOURCES.resolve(name) is None
    assert RESOURCES.for_short_name(name) is None


def test_lookup_misses_on_wrong_group_or_version() -> None:
    assert RESOURCES.lookup("", "v1", "deployments") is None
    assert RESOURCES.lookup("apps", "v1beta1", "deployments") is None
    assert RESOURCES.for_kind("Deployment", group="batch") is None


def test_namespaces_cannot_be_deletecollected_like_upstream() -> None:
    namespaces = RESOURCES.lookup("", "v1", "namespaces")
    assert namespaces is not None
    assert "deletecollection" not in namespaces.verbs
    assert all(r.verbs == ALL_VERBS for r in RESOURCES.resources if r.plural != "namespaces")


def test_registry_rejects_unlisted_group_version_and_duplicates() -> None:
    lease = RESOURCES.lookup("coordination.k8s.io", "v1", "leases")
    assert lease is not None
    with pytest.raises(ValueError, match="not listed"):
        ResourceRegistry(group_versions=(GroupVersion("", "v1"),), resources=(lease,))
    with pytest.raises(ValueError, match="twice"):
        ResourceRegistry(group_versions=(lease.group_version,), resources=(lease, lease))


def test_subresource_gvk_defaults_to_the_parent() -> None:
    deployments = RESOURCES.lookup("apps", "v1", "deployments")
    assert deployments is not None
    scale, status = deployments.subresource("scale"), deployments.subresource("status")
    assert scale is not None and status is not None
    assert deployments.subresource_gvk(scale) == GroupVersionKind("autoscaling", "v1", "Scale")
    assert deployments.subresource_gvk(status) == deployments.gvk
    assert deployments.subresource("exec") is None


# --- /version, /api, /apis ------------------------------------------------------------------


def test_version_reports_1_31_with_every_field() -> None:
    info = version_info()
    assert (info["major"], info["minor"], info["gitVersion"]) == ("1", "31", "v1.31.0")
    assert set(info) == {
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    }
    info["minor"] = "changed"
    assert version_info()["minor"] == "31"


def test_api_versions_carries_the_server_address() -> None:
    assert api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
        ],
    }


def test_api_group_list_names_every_group_with_preferred_version() -> None:
    body = api_group_list(RESOURCES)
    assert (body["kind"], body["apiVersion"]) == ("APIGroupList", "v1")
    assert [g["name"] for g in body["groups"]] == ["apps", "batch", "policy", "coordination.k8s.io"]
    apps = body["groups"][0]
    assert apps["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


# --- /api/v1, /apis/<g>/<v> -----------------------------------------------------------------


@pytest.mark.parametrize(
    "group_version", ["v1", "apps/v1", "batch/v1", "policy/v1", "coordination.k8s.io/v1"]
)
def test_resource_lists_have_the_fields_the_python_client_requires(group_version: str) -> None:
    body = api_resource_list(RESOURCES, *_split(group_version))
    assert body is not None
    assert (body["kind"], body["apiVersion"], body["groupVersion"]) == (
        "APIResourceList",
        "v1",
        group_version,
    )
    assert isinstance(body["resources"], list)
    names = [entry["name"] for entry in body["resources"]]
    assert names == sorted(names)
    for entry in body["resources"]:
        assert set(entry) >= REQUIRED_RESOURCE_FIELDS, entry["name"]
        assert isinstance(entry["namespaced"], bool)
        assert all(isinstance(verb, str) for verb in entry["verbs"])


def test_policy_v1_is_advertised_without_resources_of_its_own() -> None:
    body = api_resource_list(RESOURCES, "policy", "v1")
    assert body is not None
    assert body["resources"] == []


@pytest.mark.parametrize(("group", "version"), [("", "v2"), ("apps", "v1beta1"), ("x", "v1")])
def test_unknown_group_versions_have_no_resource_list(group: str, version: str) -> None:
    assert api_resource_list(RESOURCES, group, version) is None


@pytest.mark.parametrize(
    ("name", "group_version", "expected"),
    SUBRESOURCE_ENTRIES,
    ids=[entry[0] for entry in SUBRESOURCE_ENTRIES],
)
def test_subresource_entries(name: str, group_version: str, expected: dict[str, Any]) -> None:
    entry = _legacy_entries(group_version)[name]
    assert entry["singularName"] == ""
    assert {key: entry[key] for key in expected} == expected
    if "group" not in expected:
        assert "group" not in entry and "version" not in entry


def test_pods_entry_matches_upstream() -> None:
    pods = _legacy_entries("v1")["pods"]
    assert pods == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": list(ALL_VERBS),
        "shortNames": ["po"],
        "categories": ["all"],
        "storageVersionHash": "xPOwRZ+Yhw8=",
    }


def test_entries_without_short_names_or_categories_omit_them() -> None:
    secrets = _legacy_entries("v1")["secrets"]
    assert "shortNames" not in secrets and "categories" not in secrets


def test_storage_version_hash_is_upstreams() -> None:
    # Values an upstream 1.31 API server reports for these kinds.
    assert storage_version_hash(GroupVersionKind("", "v1", "Pod")) == "xPOwRZ+Yhw8="
    assert storage_version_hash(GroupVersionKind("apps", "v1", "Deployment")) == "8aSe+NMegvE="


# --- aggregated discovery -------------------------------------------------------------------


def test_aggregated_core_group_is_named_empty() -> None:
    body = aggregated_discovery(RESOURCES, core=True)
    assert (body["kind"], body["apiVersion"], body["metadata"]) == (
        "APIGroupDiscoveryList",
        "apidiscovery.k8s.io/v2",
        {},
    )
    [core] = body["items"]
    assert core["metadata"] == {"name": ""}
    [v1] = core["versions"]
    assert (v1["version"], v1["freshness"]) == ("v1", "Current")
    resources = {r["resource"]: r for r in v1["resources"]}
    assert set(resources) == {s[0] for s in SERVED if s[1] == ""}
    nodes = resources["nodes"]
    assert nodes["scope"] == "Cluster"
    assert nodes["responseKind"] == {"group": "", "version": "v1", "kind": "Node"}


def test_aggregated_named_groups_in_discovery_order() -> None:
    body = aggregated_discovery(RESOURCES, core=False)
    names = [item["metadata"]["name"] for item in body["items"]]
    assert names == ["apps", "batch", "policy", "coordination.k8s.io"]
    policy = body["items"][2]
    assert policy["versions"] == [{"version": "v1", "resources": [], "freshness": "Current"}]


def test_aggregated_deployment_entry_matches_reference() -> None:
    body = aggregated_discovery(RESOURCES, core=False)
    apps = body["items"][0]["versions"][0]["resources"]
    deployments = next(r for r in apps if r["resource"] == "deployments")
    assert deployments == {
        "resource": "deployments",
        "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "scope": "Namespaced",
        "singularResource": "deployment",
        "verbs": list(ALL_VERBS),
        "shortNames": ["deploy"],
        "categories": ["all"],
        "subresources": [
            {
                "subresource": "scale",
                "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                "verbs": ["get", "patch", "update"],
            },
            {
                "subresource": "status",
                "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "verbs": ["get", "patch", "update"],
            },
        ],
    }


def test_aggregated_pod_eviction_answers_in_policy_v1() -> None:
    body = aggregated_discovery(RESOURCES, core=True)
    pods = next(r for r in body["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    subresources = {s["subresource"]: s for s in pods["subresources"]}
    assert set(subresources) == {"binding", "eviction", "log", "status"}
    assert subresources["eviction"]["responseKind"] == {
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
    }


def test_aggregated_and_legacy_agree_on_every_resource() -> None:
    for core in (True, False):
        for item in aggregated_discovery(RESOURCES, core=core)["items"]:
            group = item["metadata"]["name"]
            for version in item["versions"]:
                legacy = _legacy_entries(f"{group}/{version['version']}".lstrip("/"))
                for resource in version["resources"]:
                    entry = legacy[resource["resource"]]
                    assert resource["verbs"] == entry["verbs"]
                    assert resource["responseKind"]["kind"] == entry["kind"]
                    assert (resource["scope"] == "Namespaced") is entry["namespaced"]
                    for sub in resource.get("subresources", []):
                        assert f"{resource['resource']}/{sub['subresource']}" in legacy


# --- content negotiation --------------------------------------------------------------------

NEGOTIATION = [
    ("kubectl-1.31", KUBECTL_ACCEPT, DiscoveryFormat("v2")),
    ("no-header", None, LEGACY_JSON),
    ("empty", "", LEGACY_JSON),
    ("plain-json", "application/json", LEGACY_JSON),
    ("kubectl-1.20", "application/json, */*", LEGACY_JSON),
    (
        "v2beta1-only",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        DiscoveryFormat("v2beta1"),
    ),
    (
        "spaces-and-case",
        "Application/JSON ; g=apidiscovery.k8s.io ; v=v2 ; as=APIGroupDiscoveryList",
        DiscoveryFormat("v2"),
    ),
    (
        "quality-prefers-legacy",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,"
        "application/json;q=0.9",
        LEGACY_JSON,
    ),
    ("unknown-discovery-version", "application/json;g=apidiscovery.k8s.io;v=v9;as=X", None),
    ("protobuf-only", "application/vnd.kubernetes.protobuf", None),
    ("protobuf-then-any", "application/vnd.kubernetes.protobuf, */*", LEGACY_JSON),
    ("table-only", "application/json;as=Table;v=v1;g=meta.k8s.io", None),
    ("q-zero", "application/json;q=0", None),
]


@pytest.mark.parametrize(
    ("accept", "expected"), [n[1:] for n in NEGOTIATION], ids=[n[0] for n in NEGOTIATION]
)
def test_negotiate_discovery(accept: str | None, expected: DiscoveryFormat | None) -> None:
    assert negotiate_discovery(accept) == expected


def test_content_types() -> None:
    assert LEGACY_JSON.content_type == "application/json"
    assert not LEGACY_JSON.aggregated
    aggregated = negotiate_discovery(KUBECTL_ACCEPT)
    assert aggregated is not None and aggregated.aggregated
    assert aggregated.content_type == AGGREGATED_V2_TYPE


# --- OpenAPI --------------------------------------------------------------------------------


def test_openapi_v2_is_an_empty_protobuf_document() -> None:
    assert (OPENAPI_V2.status, OPENAPI_V2.body) == (200, b"")
    assert OPENAPI_V2.content_type == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def test_openapi_v3_root_lists_every_group_version_with_its_hash() -> None:
    root = v3_root(RESOURCES)
    assert set(root["paths"]) == {
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/policy/v1",
        "apis/coordination.k8s.io/v1",
    }
    for key, ref in root["paths"].items():
        path, _, query = ref["serverRelativeURL"].partition("?hash=")
        assert path == f"/openapi/v3/{key}"
        document = v3_document_for_path(RESOURCES, key)
        assert document is not None
        assert query == document_hash(document)
        assert len(query) == 128 and query == query.upper()


def test_openapi_v3_hashes_are_stable_and_distinct() -> None:
    first, second = v3_root(RESOURCES), v3_root(RESOURCES)
    assert first == second
    urls = [ref["serverRelativeURL"] for ref in first["paths"].values()]
    hashes = {url.partition("?hash=")[2] for url in urls}
    assert len(hashes) == len(urls)


def test_openapi_v3_unknown_path_is_none() -> None:
    assert v3_document_for_path(RESOURCES, "apis/extensions/v1beta1") is None


def _patch_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {path: item["patch"] for path, item in document["paths"].items() if "patch" in item}


@pytest.mark.parametrize(
    "info",
    RESOURCES.resources,
    ids=[f"{r.plural}.{r.group or 'core'}" for r in RESOURCES.resources],
)
def test_openapi_v3_patch_operations_carry_gvk_and_field_validation(info: ResourceInfo) -> None:
    document = v3_document(RESOURCES, info.group_version)
    assert document["openapi"] == "3.0.0"
    assert document["info"] == {"title": "Kubernetes", "version": "v1.31.0"}
    namespace = "/namespaces/{namespace}" if info.namespaced else ""
    item_path = f"{info.group_version.path_prefix}{namespace}/{info.plural}/{{name}}"
    operations = _patch_operations(document)
    assert operations[item_path]["x-kubernetes-group-version-kind"] == {
        "group": info.group,
        "version": info.version,
        "kind": info.kind,
    }
    for path, operation in operations.items():
        query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert "fieldValidation" in query, path


def test_openapi_v3_deployment_scale_patch_is_typed_scale() -> None:
    document = v3_document(RESOURCES, GroupVersion("apps", "v1"))
    scale = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
