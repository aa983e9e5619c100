"""Request paths: every URL shape the REST shell serves, and the ones upstream answers with 404.

Segments are what follows ``/api/v1/`` or ``/apis/<group>/<version>/``, already split on ``/``
(so a trailing slash leaves an empty last segment, as aiohttp's ``tail.split("/")`` does).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.errors import NotFoundError, PathNotFoundError
from kubelite.api.resources import RESOURCES, GroupVersion, ResourceInfo, ResourceRegistry
from kubelite.apiserver.paths import ResourcePath, parse_resource_path


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
DEPLOYMENTS = _info("apps", "deployments")
REPLICASETS = _info("apps", "replicasets")
STATEFULSETS = _info("apps", "statefulsets")
DAEMONSETS = _info("apps", "daemonsets")
JOBS = _info("batch", "jobs")
LEASES = _info("coordination.k8s.io", "leases")

APPS, BATCH, COORDINATION = "apps", "batch", "coordination.k8s.io"


def _path(text: str) -> list[str]:
    return text.split("/")


SERVED = [
    # --- core, namespaced -----------------------------------------------------------------
    pytest.param("", "pods", ResourcePath(PODS), id="all-namespaces-pods"),
    pytest.param("", "events", ResourcePath(EVENTS), id="all-namespaces-events"),
    pytest.param(
        "", "namespaces/default/pods", ResourcePath(PODS, "default"), id="namespaced-collection"
    ),
    pytest.param("", "namespaces/default/pods/web", ResourcePath(PODS, "default", "web"), id="pod"),
    pytest.param(
        "",
        "namespaces/default/pods/web/status",
        ResourcePath(PODS, "default", "web", "status"),
        id="pod-status",
    ),
    pytest.param(
        "",
        "namespaces/default/pods/web/binding",
        ResourcePath(PODS, "default", "web", "binding"),
        id="pod-binding",
    ),
    pytest.param(
        "",
        "namespaces/default/pods/web/eviction",
        ResourcePath(PODS, "default", "web", "eviction"),
        id="pod-eviction",
    ),
    pytest.param(
        "",
        "namespaces/default/pods/web/log",
        ResourcePath(PODS, "default", "web", "log"),
        id="pod-log",
    ),
    pytest.param(
        "",
        "namespaces/default/services/web/status",
        ResourcePath(SERVICES, "default", "web", "status"),
        id="service-status",
    ),
    pytest.param(
        "",
        "namespaces/kube-system/configmaps/cfg",
        ResourcePath(CONFIGMAPS, "kube-system", "cfg"),
        id="configmap",
    ),
    pytest.param(
        "",
        "namespaces/default/bindings",
        ResourcePath(PODS, "default", None, "binding", legacy_binding=True),
        id="legacy-bindings",
    ),
    # A namespace literally called "namespaces" or "bindings" is still a namespace.
    pytest.param(
        "",
        "namespaces/namespaces/pods",
        ResourcePath(PODS, "namespaces"),
        id="namespace-named-namespaces",
    ),
    pytest.param(
        "",
        "namespaces/bindings/pods/p",
        ResourcePath(PODS, "bindings", "p"),
        id="namespace-named-bindings",
    ),
    # An object may be called like a subresource.
    pytest.param(
        "",
        "namespaces/default/pods/status",
        ResourcePath(PODS, "default", "status"),
        id="pod-named-status",
    ),
    # --- core, cluster-scoped -------------------------------------------------------------
    pytest.param("", "nodes", ResourcePath(NODES), id="nodes"),
    pytest.param("", "nodes/node-1", ResourcePath(NODES, None, "node-1"), id="node"),
    pytest.param(
        "", "nodes/node-1/status", ResourcePath(NODES, None, "node-1", "status"), id="node-status"
    ),
    pytest.param("", "namespaces", ResourcePath(NAMESPACES), id="namespaces"),
    pytest.param("", "namespaces/dev", ResourcePath(NAMESPACES, None, "dev"), id="namespace"),
    pytest.param(
        "",
        "namespaces/dev/status",
        ResourcePath(NAMESPACES, None, "dev", "status"),
        id="namespace-status",
    ),
    pytest.param(
        "",
        "namespaces/dev/finalize",
        ResourcePath(NAMESPACES, None, "dev", "finalize"),
        id="namespace-finalize",
    ),
    # --- other groups ---------------------------------------------------------------------
    pytest.param(APPS, "deployments", ResourcePath(DEPLOYMENTS), id="all-namespaces-deployments"),
    pytest.param(
        APPS,
        "namespaces/default/deployments",
        ResourcePath(DEPLOYMENTS, "default"),
        id="deployments",
    ),
    pytest.param(
        APPS,
        "namespaces/default/deployments/web",
        ResourcePath(DEPLOYMENTS, "default", "web"),
        id="deployment",
    ),
    pytest.param(
        APPS,
        "namespaces/default/deployments/web/scale",
        ResourcePath(DEPLOYMENTS, "default", "web", "scale"),
        id="deployment-scale",
    ),
    pytest.param(
        APPS,
        "namespaces/default/deployments/web/status",
        ResourcePath(DEPLOYMENTS, "default", "web", "status"),
        id="deployment-status",
    ),
    pytest.param(
        APPS,
        "namespaces/default/replicasets/web-1/scale",
        ResourcePath(REPLICASETS, "default", "web-1", "scale"),
        id="replicaset-scale",
    ),
    pytest.param(
        APPS,
        "namespaces/default/statefulsets/db/scale",
        ResourcePath(STATEFULSETS, "default", "db", "scale"),
        id="statefulset-scale",
    ),
    pytest.param(
        APPS,
        "namespaces/kube-system/daemonsets/proxy/status",
        ResourcePath(DAEMONSETS, "kube-system", "proxy", "status"),
        id="daemonset-status",
    ),
    pytest.param(BATCH, "jobs", ResourcePath(JOBS), id="all-namespaces-jobs"),
    pytest.param(
        BATCH,
        "namespaces/default/jobs/pi/status",
        ResourcePath(JOBS, "default", "pi", "status"),
        id="job-status",
    ),
    pytest.param(
        COORDINATION,
        "namespaces/kube-node-lease/leases",
        ResourcePath(LEASES, "kube-node-lease"),
        id="leases",
    ),
    pytest.param(
        COORDINATION,
        "namespaces/kube-node-lease/leases/node-1",
        ResourcePath(LEASES, "kube-node-lease", "node-1"),
        id="lease",
    ),
]


@pytest.mark.parametrize(("group", "tail", "expected"), SERVED)
def test_served_paths(group: str, tail: str, expected: ResourcePath) -> None:
    assert parse_resource_path(group, "v1", _path(tail)) == expected


NOT_FOUND = [
    # --- unknown names --------------------------------------------------------------------
    pytest.param("", "widgets", id="unknown-resource"),
    pytest.param("", "namespaces/default/widgets", id="unknown-namespaced-resource"),
    pytest.param("", "Pods", id="resource-names-are-case-sensitive"),
    pytest.param("", "namespaces/default/pods/web/exec", id="unserved-subresource-exec"),
    pytest.param("", "namespaces/default/pods/web/scale", id="pods-have-no-scale"),
    pytest.param("", "namespaces/default/configmaps/c/status", id="configmaps-have-no-status"),
    pytest.param("", "nodes/node-1/proxy", id="unserved-node-proxy"),
    pytest.param("", "namespaces/dev/log", id="namespace-unknown-subresource"),
    pytest.param(APPS, "namespaces/default/daemonsets/d/scale", id="daemonsets-have-no-scale"),
    # --- objects outside their namespace ---------------------------------------------------
    pytest.param("", "pods/web", id="namespaced-object-without-namespace"),
    pytest.param("", "pods/web/status", id="namespaced-subresource-without-namespace"),
    pytest.param(APPS, "deployments/web", id="apps-object-without-namespace"),
    # --- cluster-scoped kinds under a namespace -------------------------------------------
    pytest.param("", "namespaces/default/nodes", id="nodes-under-namespace"),
    pytest.param("", "namespaces/default/nodes/n1", id="node-under-namespace"),
    pytest.param("", "namespaces/default/namespaces", id="namespaces-under-namespace"),
    # --- resources of another group -------------------------------------------------------
    pytest.param("", "namespaces/default/deployments", id="deployments-under-core"),
    pytest.param("", "deployments", id="all-deployments-under-core"),
    pytest.param(APPS, "namespaces/default/pods", id="pods-under-apps"),
    pytest.param(APPS, "pods", id="all-pods-under-apps"),
    pytest.param(APPS, "namespaces", id="namespaces-under-apps"),
    pytest.param(APPS, "namespaces/default", id="namespace-under-apps"),
    pytest.param(APPS, "namespaces/default/status", id="namespace-status-under-apps"),
    pytest.param(APPS, "namespaces/default/bindings", id="legacy-bindings-under-apps"),
    pytest.param(BATCH, "namespaces/default/deployments", id="deployments-under-batch"),
    # --- empty segments -------------------------------------------------------------------
    pytest.param("", "", id="empty"),
    pytest.param("", "/pods", id="leading-empty-segment"),
    pytest.param("", "pods/", id="all-pods-trailing-slash"),
    pytest.param("", "nodes/", id="empty-node-name"),
    pytest.param("", "nodes//status", id="empty-node-name-with-subresource"),
    pytest.param("", "namespaces/", id="empty-namespace-name"),
    pytest.param("", "namespaces//pods", id="empty-namespace"),
    pytest.param("", "namespaces//pods/web", id="empty-namespace-with-name"),
    pytest.param("", "namespaces//bindings", id="empty-namespace-legacy-bindings"),
    pytest.param(APPS, "namespaces//deployments", id="empty-namespace-apps"),
    pytest.param("", "namespaces/default/pods/", id="empty-pod-name"),
    pytest.param("", "namespaces/default/pods//status", id="empty-pod-name-with-subresource"),
    pytest.param("", "namespaces/default/pods/web/", id="empty-subresource"),
    pytest.param("", "namespaces/dev/", id="empty-namespace-subresource"),
    # --- too many segments ----------------------------------------------------------------
    pytest.param("", "namespaces/default/pods/web/log/extra", id="pod-too-deep"),
    pytest.param("", "nodes/n1/status/extra", id="node-too-deep"),
    pytest.param("", "namespaces/dev/status/extra", id="namespace-status-too-deep"),
    pytest.param("", "namespaces/dev/finalize/extra", id="namespace-finalize-too-deep"),
    pytest.param("", "namespaces/default/bindings/web", id="legacy-bindings-with-name"),
    pytest.param(APPS, "namespaces/default/deployments/web/scale/x", id="scale-too-deep"),
]


@pytest.mark.parametrize(("group", "tail"), NOT_FOUND)
def test_not_found(group: str, tail: str) -> None:
    with pytest.raises(PathNotFoundError) as raised:
        parse_resource_path(group, "v1", _path(tail))
    status = raised.value.status()
    assert status["code"] == 404
    assert status["reason"] == "NotFound"
    assert status["message"] == "the server could not find the requested resource"
    assert "details" not in status


@pytest.mark.parametrize(
    ("group", "version", "tail"),
    [
        pytest.param("", "v2", "pods", id="core-v2-collection"),
        pytest.param("", "v1beta1", "namespaces/dev", id="core-v1beta1-namespace"),
        pytest.param("", "v2", "namespaces/dev/status", id="core-v2-namespace-status"),
        pytest.param("", "v2", "namespaces/default/bindings", id="core-v2-legacy-bindings"),
        pytest.param(APPS, "v1beta2", "namespaces/default/deployments", id="apps-v1beta2"),
        pytest.param("extensions", "v1beta1", "deployments", id="unknown-group"),
    ],
)
def test_unknown_version_or_group(group: str, version: str, tail: str) -> None:
    with pytest.raises(PathNotFoundError):
        parse_resource_path(group, version, _path(tail))


def test_no_segments_at_all() -> None:
    with pytest.raises(PathNotFoundError):
        parse_resource_path("", "v1", [])


def test_path_not_found_is_a_not_found() -> None:
    # The HTTP shell maps every NotFoundError to 404; the path error must be one.
    assert issubclass(PathNotFoundError, NotFoundError)


def test_other_registry() -> None:
    # The registry is an argument: a registry without pods serves no pod paths.
    core = GroupVersion("", "v1")
    registry = ResourceRegistry(group_versions=(core,), resources=(NODES,))
    assert parse_resource_path("", "v1", ["nodes", "n1"], registry) == ResourcePath(
        NODES, None, "n1"
    )
    for tail in ("pods", "namespaces/default/pods", "namespaces/default/bindings", "namespaces"):
        with pytest.raises(PathNotFoundError):
            parse_resource_path("", "v1", _path(tail), registry)


# --- properties -----------------------------------------------------------------------------

_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12
)
_namespaced = [info for info in RESOURCES.resources if info.namespaced]


@given(
    info=st.sampled_from(_namespaced),
    namespace=_segment,
    name=_segment,
)
def test_namespaced_object_round_trip(info: ResourceInfo, namespace: str, name: str) -> None:
    """Any non-empty namespace and name, however odd, name exactly that object."""
    parsed = parse_resource_path(
        info.group, info.version, ["namespaces", namespace, info.plural, name]
    )
    assert parsed == ResourcePath(info, namespace, name)


@given(
    info=st.sampled_from(RESOURCES.resources),
    name=_segment,
    sub=_segment,
)
def test_subresources_are_exactly_the_registered_ones(
    info: ResourceInfo, name: str, sub: str
) -> None:
    prefix = ["namespaces", "ns"] if info.namespaced else []
    segments = [*prefix, info.plural, name, sub]
    if info.subresource(sub) is None:
        with pytest.raises(PathNotFoundError):
            parse_resource_path(info.group, info.version, segments)
    else:
        parsed = parse_resource_path(info.group, info.version, segments)
        assert (parsed.info, parsed.name, parsed.subresource) == (info, name, sub)


@given(segments=st.lists(st.text(max_size=12), max_size=7), group=st.sampled_from(["", APPS]))
def test_any_segments_give_a_path_or_a_404(segments: list[str], group: str) -> None:
    """Never anything but a `ResourcePath` or the generic 404 (no 500 from a bad URL)."""
    try:
        parsed = parse_resource_path(group, "v1", segments)
    except PathNotFoundError:
        return
    assert parsed.info.group == group
    assert "" not in (parsed.namespace, parsed.name, parsed.subresource)
    if parsed.info.namespaced and parsed.name is not None:
        assert parsed.namespace is not None
