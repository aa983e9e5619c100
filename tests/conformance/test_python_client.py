"""The official Python client (kubernetes==37.0.2) against two real API servers, on both stores.

What the reference (``/work/shared/reference/kubernetes-api.md`` §3 to §5) says a client sees,
checked through the client's own typed methods: its pydantic models are strict, so every call
that returns also proves the reply deserialised. Each test works in its own namespace; server 0
is where things happen unless a test is about the second replica. Watches never block: every
one runs with a server-side ``timeout_seconds`` and stops at a sentinel write it waits for.

The module is longer than our usual 400 lines because it is one specification of the client's
view, read top to bottom (CRUD, status, scale, binding, lists, watches, replicas, deletion,
patches, defaults), and all of it shares the two API servers of a backend.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel
from support.apiservers import ApiServers
from support.grpc_api import EtcdStubs
from support.store_cluster import StoreCluster
from support.wait import wait_for

from kubelite.pb import rpc_pb2

REQUEST_TIMEOUT_S = 10.0
TIMEOUT: dict[str, Any] = {"_request_timeout": REQUEST_TIMEOUT_S}
WATCH_TIMEOUT_S = 8
"""Server-side end of every watch here: a missing event fails the test after this long."""
EVENT_WAIT_S = 10.0
MERGE_PATCH = "application/merge-patch+json"


@dataclass
class Server:
    """The typed APIs of one API server, on one ApiClient."""

    url: str
    api_client: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api
    coordination: client.CoordinationV1Api

    @classmethod
    def connect(cls, url: str) -> Server:
        configuration = client.Configuration()
        configuration.host = url
        api_client = client.ApiClient(configuration)
        return cls(
            url,
            api_client,
            client.CoreV1Api(api_client),
            client.AppsV1Api(api_client),
            client.BatchV1Api(api_client),
            client.CoordinationV1Api(api_client),
        )


@pytest.fixture
def servers(apiservers: ApiServers) -> Iterator[list[Server]]:
    """One client per API server, built per test: a restart gives a server a new URL."""
    connected = [Server.connect(url) for url in apiservers.urls]
    try:
        yield connected
    finally:
        for server in connected:
            server.api_client.close()


@pytest.fixture
def ns(servers: list[Server]) -> str:
    name = f"pc-{secrets.token_hex(4)}"
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    servers[0].core.create_namespace(body, **TIMEOUT)
    return name


def api_error(call: Callable[[], object]) -> ApiException:
    """The ApiException `call` raises; its body must be a Kubernetes Status."""
    with pytest.raises(ApiException) as caught:
        call()
    error = caught.value
    body = json.loads(error.body) if error.body else {}
    assert body.get("kind") == "Status", f"not a Status: {error.body!r}"
    assert body.get("code") == error.status, body
    return error


def meta(name: str, **fields: Any) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, **fields)


def container(name: str = "app", image: str = "nginx:1.27", **fields: Any) -> client.V1Container:
    return client.V1Container(name=name, image=image, **fields)


def pod_spec(**fields: Any) -> client.V1PodSpec:
    return client.V1PodSpec(containers=[container()], **fields)


def template(name: str, **spec_fields: Any) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=meta(name, labels={"app": name}), spec=pod_spec(**spec_fields)
    )


def selector(name: str) -> client.V1LabelSelector:
    return client.V1LabelSelector(match_labels={"app": name})


def configmap(name: str, labels: dict[str, str] | None = None, **fields: Any) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=meta(name, labels=labels, **fields), data={"k": "v"})


def deployment(name: str, replicas: int = 1, **fields: Any) -> client.V1Deployment:
    spec = client.V1DeploymentSpec(
        replicas=replicas, selector=selector(name), template=template(name)
    )
    return client.V1Deployment(metadata=meta(name), spec=spec, **fields)


def pod(name: str, labels: dict[str, str] | None = None, **spec_fields: Any) -> client.V1Pod:
    return client.V1Pod(metadata=meta(name, labels=labels), spec=pod_spec(**spec_fields))


def bind(server: Server, ns: str, pod_name: str, node: str) -> Any:
    """POST pods/binding; the reply is a Status the typed model cannot hold (reference §3.8)."""
    body = client.V1Binding(
        metadata=meta(pod_name), target=client.V1ObjectReference(kind="Node", name=node)
    )
    return server.core.create_namespaced_pod_binding(
        pod_name, ns, body, _preload_content=False, **TIMEOUT
    )


def names(items: list[Any]) -> list[str]:
    return [item.metadata.name for item in items]


# --- typed CRUD for every served kind ----------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How the typed client spells one resource: ``{verb}_{suffix}`` on `api`."""

    api: str
    suffix: str
    namespaced: bool
    manifest: Callable[[str, str], BaseModel]

    def call(self, server: Server, verb: str, ns: str, *args: Any, **kwargs: Any) -> Any:
        """`verb` (``read``, ``patch_scale``…) with the namespace put where the client wants it:
        ``create_namespaced_pod(ns, body)``, ``read_namespaced_pod(name, ns)``."""
        action, _, subresource = verb.partition("_")
        method = getattr(getattr(server, self.api), f"{action}_{self.suffix}")
        if subresource:
            method = getattr(getattr(server, self.api), f"{action}_{self.suffix}_{subresource}")
        scoped = args
        if self.namespaced and action in ("create", "list"):
            scoped = (ns, *args)
        elif self.namespaced:
            scoped = (args[0], ns, *args[1:])
        return method(*scoped, **kwargs, **TIMEOUT)


def _event(name: str, ns: str) -> client.CoreV1Event:
    involved = client.V1ObjectReference(kind="Pod", name="web-0", namespace=ns)
    return client.CoreV1Event(
        metadata=meta(name), involved_object=involved, reason="Tested", message="m", type="Normal"
    )


def _endpoints(name: str, ns: str) -> client.V1Endpoints:
    subset = client.V1EndpointSubset(
        addresses=[client.V1EndpointAddress(ip="10.1.0.5")],
        ports=[client.CoreV1EndpointPort(port=80)],
    )
    return client.V1Endpoints(metadata=meta(name), subsets=[subset])


def _secret(name: str, ns: str) -> client.V1Secret:
    return client.V1Secret(metadata=meta(name), data={"k": base64.b64encode(b"v").decode()})


def _service(name: str, ns: str) -> client.V1Service:
    spec = client.V1ServiceSpec(selector={"app": name}, ports=[client.V1ServicePort(port=80)])
    return client.V1Service(metadata=meta(name), spec=spec)


def _workload(model: type[BaseModel], spec: type[BaseModel]) -> Callable[[str, str], BaseModel]:
    def build(name: str, ns: str) -> BaseModel:
        return model(
            metadata=meta(name), spec=spec(selector=selector(name), template=template(name))
        )

    return build


def _job(name: str, ns: str) -> client.V1Job:
    spec = client.V1JobSpec(template=template(name, restart_policy="Never"))
    return client.V1Job(metadata=meta(name), spec=spec)


def _lease(name: str, ns: str) -> client.V1Lease:
    spec = client.V1LeaseSpec(holder_identity="tester", lease_duration_seconds=15)
    return client.V1Lease(metadata=meta(name), spec=spec)


def _metadata_only(model: type[BaseModel]) -> Callable[[str, str], BaseModel]:
    return lambda name, ns: model(metadata=meta(name))


_REPLICA_SET = _workload(client.V1ReplicaSet, client.V1ReplicaSetSpec)
_DAEMON_SET = _workload(client.V1DaemonSet, client.V1DaemonSetSpec)
_STATEFUL_SET = _workload(client.V1StatefulSet, client.V1StatefulSetSpec)

KINDS = [
    Kind("core", "namespace", False, _metadata_only(client.V1Namespace)),
    Kind("core", "namespaced_pod", True, lambda name, ns: pod(name)),
    Kind("core", "node", False, _metadata_only(client.V1Node)),
    Kind("core", "namespaced_service", True, _service),
    Kind("core", "namespaced_endpoints", True, _endpoints),
    Kind("core", "namespaced_config_map", True, lambda name, ns: configmap(name)),
    Kind("core", "namespaced_secret", True, _secret),
    Kind("core", "namespaced_event", True, _event),
    Kind("core", "namespaced_service_account", True, _metadata_only(client.V1ServiceAccount)),
    Kind("apps", "namespaced_deployment", True, lambda name, ns: deployment(name)),
    Kind("apps", "namespaced_replica_set", True, _REPLICA_SET),
    Kind("apps", "namespaced_daemon_set", True, _DAEMON_SET),
    Kind("apps", "namespaced_stateful_set", True, _STATEFUL_SET),
    Kind("batch", "namespaced_job", True, _job),
    Kind("coordination", "namespaced_lease", True, _lease),
]


@pytest.mark.parametrize("kind", KINDS, ids=[k.suffix.removeprefix("namespaced_") for k in KINDS])
def test_typed_crud_round_trip(servers: list[Server], ns: str, kind: Kind) -> None:
    server = servers[0]
    name = "crud" if kind.namespaced else f"{ns}-crud"  # cluster-scoped names must not clash
    created = kind.call(server, "create", ns, kind.manifest(name, ns))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None

    read = kind.call(server, "read", ns, name)
    assert read.metadata.uid == created.metadata.uid

    listed = kind.call(server, "list", ns, field_selector=f"metadata.name={name}")
    assert names(listed.items) == [name]

    read.metadata.labels = {**(read.metadata.labels or {}), "step": "replaced"}
    replaced = kind.call(server, "replace", ns, name, read)
    assert replaced.metadata.labels["step"] == "replaced"
    assert replaced.metadata.resource_version != read.metadata.resource_version

    patched = kind.call(server, "patch", ns, name, {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels.items() >= {"step": "replaced", "patched": "yes"}.items()

    kind.call(server, "delete", ns, name)
    if kind.suffix == "namespace":  # no namespace controller here: it stays, terminating
        terminating = kind.call(server, "read", ns, name)
        assert terminating.metadata.deletion_timestamp is not None
        assert terminating.status.phase == "Terminating"
    else:
        assert api_error(lambda: kind.call(server, "read", ns, name)).status == 404


# --- status subresource and generation ---------------------------------------------------------


def test_status_subresource_changes_only_status_and_leaves_generation(
    servers: list[Server], ns: str
) -> None:
    apps = servers[0].apps
    sent_status = client.V1DeploymentStatus(replicas=5, ready_replicas=5)
    created = apps.create_namespaced_deployment(
        ns, deployment("web", status=sent_status), **TIMEOUT
    )
    assert created.metadata.generation == 1
    assert not (created.status and created.status.replicas), "status sent on create was kept"

    # PUT /status: the spec change in the body is ignored, the status change kept.
    body = apps.read_namespaced_deployment("web", ns, **TIMEOUT)
    body.spec.replicas = 7
    body.status = client.V1DeploymentStatus(replicas=2, observed_generation=1)
    after_put = apps.replace_namespaced_deployment_status("web", ns, body, **TIMEOUT)
    assert (after_put.spec.replicas, after_put.status.replicas) == (1, 2)
    assert after_put.metadata.generation == 1

    # PATCH /status: likewise.
    after_patch = apps.patch_namespaced_deployment_status(
        "web", ns, {"spec": {"replicas": 9}, "status": {"availableReplicas": 1}}, **TIMEOUT
    )
    assert after_patch.spec.replicas == 1
    assert (after_patch.status.replicas, after_patch.status.available_replicas) == (2, 1)
    assert after_patch.metadata.generation == 1

    # The main resource: spec changes bump generation, status changes are ignored.
    body = apps.read_namespaced_deployment("web", ns, **TIMEOUT)
    body.spec.replicas = 3
    body.status.replicas = 99
    after_spec = apps.replace_namespaced_deployment("web", ns, body, **TIMEOUT)
    assert (after_spec.spec.replicas, after_spec.status.replicas) == (3, 2)
    assert after_spec.metadata.generation == 2

    labelled = apps.patch_namespaced_deployment(
        "web", ns, {"metadata": {"labels": {"only": "metadata"}}}, **TIMEOUT
    )
    assert labelled.metadata.generation == 2


# --- scale subresource -------------------------------------------------------------------------

SCALED = [
    kind for kind in KINDS if kind.suffix.endswith(("deployment", "replica_set", "stateful_set"))
]


@pytest.mark.parametrize("kind", SCALED, ids=[k.suffix.removeprefix("namespaced_") for k in SCALED])
def test_scale_subresource(servers: list[Server], ns: str, kind: Kind) -> None:
    server = servers[0]
    kind.call(server, "create", ns, kind.manifest("web", ns))
    scale = kind.call(server, "read_scale", ns, "web")
    assert scale.spec.replicas == 1
    assert scale.status.selector == "app=web"

    patched = kind.call(server, "patch_scale", ns, "web", {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3
    parent = kind.call(server, "read", ns, "web")
    assert (parent.spec.replicas, parent.metadata.generation) == (3, 2)

    def scale_to(replicas: int, resource_version: str) -> Any:
        body = client.V1Scale(
            metadata=meta("web", namespace=ns, resource_version=resource_version),
            spec=client.V1ScaleSpec(replicas=replicas),
        )
        return kind.call(server, "replace_scale", ns, "web", body)

    read_rv = patched.metadata.resource_version
    assert scale_to(4, read_rv).spec.replicas == 4
    assert api_error(lambda: scale_to(5, read_rv)).status == 409  # read_rv is stale now
    assert kind.call(server, "read", ns, "web").spec.replicas == 4


# --- binding and eviction ----------------------------------------------------------------------


def test_binding_assigns_a_node_once(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    core.create_namespaced_pod(ns, pod("web-0"), **TIMEOUT)
    reply = bind(servers[0], ns, "web-0", "node-a")
    assert reply.status == 201
    bound = core.read_namespaced_pod("web-0", ns, **TIMEOUT)
    assert bound.spec.node_name == "node-a"
    scheduled = [c for c in bound.status.conditions or [] if c.type == "PodScheduled"]
    assert [c.status for c in scheduled] == ["True"]

    assert api_error(lambda: bind(servers[0], ns, "web-0", "node-b")).status == 409
    assert core.read_namespaced_pod("web-0", ns, **TIMEOUT).spec.node_name == "node-a"


def test_eviction_deletes_an_unbound_pod(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    core.create_namespaced_pod(ns, pod("web-0"), **TIMEOUT)
    eviction = client.V1Eviction(metadata=meta("web-0", namespace=ns))
    core.create_namespaced_pod_eviction("web-0", ns, eviction, _preload_content=False, **TIMEOUT)
    assert api_error(lambda: core.read_namespaced_pod("web-0", ns, **TIMEOUT)).status == 404


# --- list: selectors, pagination, resourceVersion=0 --------------------------------------------

LABELLED = {
    "a": {"app": "web", "tier": "front"},
    "b": {"app": "web", "tier": "back"},
    "c": {"app": "db"},
    "d": {},
}
LABEL_SELECTIONS = {
    "app=web": ["a", "b"],
    "app==web": ["a", "b"],
    "app!=web": ["c", "d"],
    "tier in (front,back)": ["a", "b"],
    "tier notin (front)": ["b", "c", "d"],
    "tier": ["a", "b"],
    "!tier": ["c", "d"],
    "app=web,tier=back": ["b"],
}


def test_list_with_label_selectors(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    for name, labels in LABELLED.items():
        core.create_namespaced_config_map(ns, configmap(name, labels or None), **TIMEOUT)
    found = {
        query: names(core.list_namespaced_config_map(ns, label_selector=query, **TIMEOUT).items)
        for query in LABEL_SELECTIONS
    }
    assert found == LABEL_SELECTIONS


POD_FIELD_SELECTIONS = {
    "metadata.name=p-a": ["p-a"],
    "spec.nodeName=": ["p-a"],
    "spec.nodeName=n1": ["p-b"],
    "spec.nodeName!=n1": ["p-a", "p-c"],
    "status.phase=Pending": ["p-a", "p-b"],
    "status.phase=Running": ["p-c"],
    "status.phase!=Succeeded,status.phase!=Failed,spec.nodeName!=": ["p-b", "p-c"],
}


def test_list_with_field_selectors(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    for name in ("p-a", "p-b", "p-c"):
        core.create_namespaced_pod(ns, pod(name), **TIMEOUT)
    bind(servers[0], ns, "p-b", "n1")
    bind(servers[0], ns, "p-c", "n2")
    core.patch_namespaced_pod_status("p-c", ns, {"status": {"phase": "Running"}}, **TIMEOUT)
    found = {
        query: names(core.list_namespaced_pod(ns, field_selector=query, **TIMEOUT).items)
        for query in POD_FIELD_SELECTIONS
    }
    assert found == POD_FIELD_SELECTIONS

    error = api_error(lambda: core.list_namespaced_pod(ns, field_selector="spec.foo=x", **TIMEOUT))
    assert error.status == 400


def test_list_pages_with_limit_and_continue(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    expected = [f"cm-{index}" for index in range(7)]
    for name in expected:
        core.create_namespaced_config_map(ns, configmap(name), **TIMEOUT)
    pages: list[list[str]] = []
    token: str | None = None
    for _ in range(len(expected)):  # bounded: a server that never ends the list fails below
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token, **TIMEOUT)
        pages.append(names(page.items))
        token = page.metadata._continue
        if not token:
            break
    assert pages == [expected[0:3], expected[3:6], expected[6:7]]


def test_list_from_resource_version_zero_serves_recent_state(
    servers: list[Server], ns: str
) -> None:
    core = servers[0].core
    for index in range(3):
        core.create_namespaced_config_map(ns, configmap(f"cm-{index}"), **TIMEOUT)
    last: list[Any] = []

    def cached_list_complete() -> bool:
        listed = core.list_namespaced_config_map(ns, resource_version="0", **TIMEOUT)
        last[:] = [listed.metadata.resource_version, names(listed.items)]
        return names(listed.items) == ["cm-0", "cm-1", "cm-2"]

    wait_for(cached_list_complete, EVENT_WAIT_S, lambda: f"RV=0 list catches up; last {last}")
    assert int(last[0]) > 0


# --- watch -------------------------------------------------------------------------------------


def watch_until(
    stream: Iterator[dict[str, Any]], stop: Callable[[dict[str, Any]], bool], describe: str
) -> list[dict[str, Any]]:
    """Events from `stream` up to and including the first for which `stop` holds.

    The stream is a watch with ``timeout_seconds``, so it ends on its own; ending before
    `stop` holds fails with everything seen."""
    seen: list[dict[str, Any]] = []
    for event in stream:
        seen.append(event)
        if stop(event):
            return seen
    raise AssertionError(f"watch ended before {describe}; saw {summary(seen)}")


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, name) of each event; BOOKMARKs have no name."""
    return [
        (event["type"], event["raw_object"].get("metadata", {}).get("name", "")) for event in events
    ]


def is_event(kind: str, name: str) -> Callable[[dict[str, Any]], bool]:
    def matches(event: dict[str, Any]) -> bool:
        return bool(event["type"] == kind and event["raw_object"]["metadata"].get("name") == name)

    return matches


def watch_configmaps(server: Server, ns: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    return watch.Watch().stream(  # type: ignore[no-any-return]
        server.core.list_namespaced_config_map,
        ns,
        timeout_seconds=WATCH_TIMEOUT_S,
        **kwargs,
        **TIMEOUT,
    )


def list_rv(server: Server, ns: str) -> str:
    return str(server.core.list_namespaced_config_map(ns, **TIMEOUT).metadata.resource_version)


def make_changes(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("a"), **TIMEOUT)
    core.create_namespaced_config_map(ns, configmap("b"), **TIMEOUT)
    core.patch_namespaced_config_map("a", ns, {"data": {"k": "2"}}, **TIMEOUT)
    core.delete_namespaced_config_map("b", ns, **TIMEOUT)
    core.create_namespaced_config_map(ns, configmap("c"), **TIMEOUT)


CHANGES = [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b"), ("ADDED", "c")]


def test_watch_from_a_resource_version_sees_exactly_the_later_changes(
    servers: list[Server], ns: str
) -> None:
    core = servers[0].core
    core.create_namespaced_config_map(ns, configmap("before"), **TIMEOUT)
    start = list_rv(servers[0], ns)
    make_changes(core, ns)
    events = watch_until(
        watch_configmaps(servers[0], ns, resource_version=start), is_event("ADDED", "c"), "c"
    )
    assert summary(events) == CHANGES
    revisions = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and revisions[0] > int(start)
    assert events[2]["object"].data == {"k": "2"}  # typed, deserialised objects


def test_watch_with_a_label_selector_sees_objects_leave_and_enter(
    servers: list[Server], ns: str
) -> None:
    core = servers[0].core
    start = list_rv(servers[0], ns)
    core.create_namespaced_config_map(ns, configmap("x", {"tier": "web"}), **TIMEOUT)
    core.patch_namespaced_config_map("x", ns, {"metadata": {"labels": {"tier": "db"}}}, **TIMEOUT)
    core.patch_namespaced_config_map("x", ns, {"metadata": {"labels": {"tier": "web"}}}, **TIMEOUT)
    core.create_namespaced_config_map(ns, configmap("other", {"tier": "db"}), **TIMEOUT)
    core.create_namespaced_config_map(ns, configmap("sentinel", {"tier": "web"}), **TIMEOUT)
    stream = watch_configmaps(servers[0], ns, resource_version=start, label_selector="tier=web")
    events = watch_until(stream, is_event("ADDED", "sentinel"), "the sentinel")
    assert summary(events) == [
        ("ADDED", "x"),
        ("DELETED", "x"),
        ("ADDED", "x"),
        ("ADDED", "sentinel"),
    ]


def test_watch_with_bookmarks_ends_cleanly_at_its_timeout(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    core.create_namespaced_config_map(ns, configmap("a"), **TIMEOUT)
    watcher = watch.Watch()
    events = list(
        watcher.stream(
            core.list_namespaced_config_map,
            ns,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
            **TIMEOUT,
        )
    )
    assert summary(events)[0] == ("ADDED", "a")
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks, f"no BOOKMARK before the timeout: {summary(events)}"
    bookmark_rv = bookmarks[-1]["raw_object"]["metadata"]["resourceVersion"]
    assert watcher.resource_version == bookmark_rv

    # The bookmark's revision is a valid place to resume from.
    core.create_namespaced_config_map(ns, configmap("b"), **TIMEOUT)
    stream = watch_configmaps(servers[0], ns, resource_version=bookmark_rv)
    assert summary(watch_until(stream, is_event("ADDED", "b"), "b")) == [("ADDED", "b")]


def test_watch_resumes_on_the_other_replica_without_gap_or_duplicate(
    servers: list[Server], ns: str
) -> None:
    first, second = servers[0], servers[1]
    start = list_rv(first, ns)
    make_changes(first.core, ns)
    on_first = watch_until(
        watch_configmaps(first, ns, resource_version=start), is_event("ADDED", "b"), "b"
    )
    resume_at = on_first[-1]["raw_object"]["metadata"]["resourceVersion"]
    second.core.create_namespaced_config_map(ns, configmap("sentinel"), **TIMEOUT)
    on_second = watch_until(
        watch_configmaps(second, ns, resource_version=resume_at),
        is_event("ADDED", "sentinel"),
        "the sentinel",
    )
    assert summary(on_first + on_second) == [*CHANGES, ("ADDED", "sentinel")]


def store_revision(stubs: EtcdStubs) -> int:
    return int(stubs.kv.Range(rpc_pb2.RangeRequest(key=b"/", limit=1)).header.revision)


def test_watch_from_a_compacted_revision_is_expired(
    apiservers: ApiServers, store: StoreCluster, servers: list[Server], ns: str
) -> None:
    core = servers[0].core
    old = core.create_namespaced_config_map(ns, configmap("old"), **TIMEOUT)
    old_rv = old.metadata.resource_version
    # Two later writes: compacting at the last one removes old_rv + 1, where the watch starts.
    core.create_namespaced_config_map(ns, configmap("new"), **TIMEOUT)
    core.patch_namespaced_config_map("new", ns, {"data": {"k": "2"}}, **TIMEOUT)
    with EtcdStubs.connect(store.client_endpoints[0]) as stubs:
        stubs.kv.Compact(rpc_pb2.CompactionRequest(revision=store_revision(stubs), physical=True))
    apiservers.restart(1)  # its watch cache now starts after the compaction
    restarted = Server.connect(apiservers.urls[1])
    try:
        stream = watch_configmaps(restarted, ns, resource_version=old_rv)
        with pytest.raises(ApiException) as caught:
            list(stream)
    finally:
        restarted.api_client.close()
    assert caught.value.status == 410, caught.value


# --- optimistic concurrency across replicas ----------------------------------------------------


def test_stale_replace_on_one_replica_after_an_update_on_the_other_conflicts(
    servers: list[Server], ns: str
) -> None:
    first, second = servers[0].core, servers[1].core
    first.create_namespaced_config_map(ns, configmap("shared"), **TIMEOUT)
    read_on_first = first.read_namespaced_config_map("shared", ns, **TIMEOUT)
    fresh = second.read_namespaced_config_map("shared", ns, **TIMEOUT)
    fresh.data = {"k": "from-second"}
    second.replace_namespaced_config_map("shared", ns, fresh, **TIMEOUT)

    read_on_first.data = {"k": "stale"}
    error = api_error(
        lambda: first.replace_namespaced_config_map("shared", ns, read_on_first, **TIMEOUT)
    )
    assert error.status == 409
    assert json.loads(error.body)["reason"] == "Conflict"
    assert first.read_namespaced_config_map("shared", ns, **TIMEOUT).data == {"k": "from-second"}


# --- delete: options, preconditions, finalizers, graceful pods ---------------------------------


def test_delete_options_as_query_parameters_and_as_a_body(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    for name in ("fg", "orphan", "now"):
        core.create_namespaced_config_map(ns, configmap(name), **TIMEOUT)

    core.delete_namespaced_config_map("fg", ns, propagation_policy="Foreground", **TIMEOUT)
    body = client.V1DeleteOptions(propagation_policy="Orphan")
    core.delete_namespaced_config_map("orphan", ns, body=body, **TIMEOUT)
    core.delete_namespaced_config_map(
        "now", ns, propagation_policy="Background", grace_period_seconds=0, **TIMEOUT
    )
    held = {
        name: core.read_namespaced_config_map(name, ns, **TIMEOUT).metadata
        for name in ("fg", "orphan")
    }
    assert held["fg"].finalizers == ["foregroundDeletion"] and held["fg"].deletion_timestamp
    assert held["orphan"].finalizers == ["orphan"] and held["orphan"].deletion_timestamp
    assert api_error(lambda: core.read_namespaced_config_map("now", ns, **TIMEOUT)).status == 404


def test_delete_preconditions(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    uid = core.create_namespaced_config_map(ns, configmap("cm"), **TIMEOUT).metadata.uid
    wrong = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-" + uid))
    error = api_error(lambda: core.delete_namespaced_config_map("cm", ns, body=wrong, **TIMEOUT))
    assert error.status == 409
    right = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
    core.delete_namespaced_config_map("cm", ns, body=right, **TIMEOUT)
    assert api_error(lambda: core.read_namespaced_config_map("cm", ns, **TIMEOUT)).status == 404


def test_finalizer_holds_an_object_until_removed(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    held = configmap("held", finalizers=["example.com/hold"])
    core.create_namespaced_config_map(ns, held, **TIMEOUT)
    core.delete_namespaced_config_map("held", ns, **TIMEOUT)
    marked = core.read_namespaced_config_map("held", ns, **TIMEOUT)
    assert marked.metadata.deletion_timestamp is not None

    start = marked.metadata.resource_version
    core.patch_namespaced_config_map(
        "held", ns, {"metadata": {"finalizers": None}}, _content_type=MERGE_PATCH, **TIMEOUT
    )
    assert api_error(lambda: core.read_namespaced_config_map("held", ns, **TIMEOUT)).status == 404
    events = watch_until(
        watch_configmaps(servers[0], ns, resource_version=start),
        is_event("DELETED", "held"),
        "held DELETED",
    )
    assert summary(events) == [("DELETED", "held")]


def test_bound_pod_deleted_gracefully_stays_until_grace_zero(
    servers: list[Server], ns: str
) -> None:
    core = servers[0].core
    core.create_namespaced_pod(ns, pod("web-0"), **TIMEOUT)
    bind(servers[0], ns, "web-0", "node-a")
    core.delete_namespaced_pod("web-0", ns, **TIMEOUT)
    terminating = core.read_namespaced_pod("web-0", ns, **TIMEOUT)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30

    force = client.V1DeleteOptions(grace_period_seconds=0)
    core.delete_namespaced_pod("web-0", ns, body=force, **TIMEOUT)
    assert api_error(lambda: core.read_namespaced_pod("web-0", ns, **TIMEOUT)).status == 404


# --- patch content types -----------------------------------------------------------------------


def containers_of(obj: client.V1Deployment) -> dict[str, str]:
    """Image by container name (upstream puts new patch items first: order is not checked)."""
    return {c.name: c.image for c in obj.spec.template.spec.containers}


def test_patch_strategic_json_and_merge(servers: list[Server], ns: str) -> None:
    apps = servers[0].apps
    apps.create_namespaced_deployment(ns, deployment("web"), **TIMEOUT)

    def containers(*items: dict[str, str]) -> dict[str, Any]:
        return {"spec": {"template": {"spec": {"containers": list(items)}}}}

    # A dict body is a strategic merge patch: containers merge by name.
    merged = apps.patch_namespaced_deployment(
        "web", ns, containers({"name": "sidecar", "image": "busybox:1.36"}), **TIMEOUT
    )
    assert containers_of(merged) == {"app": "nginx:1.27", "sidecar": "busybox:1.36"}
    updated = apps.patch_namespaced_deployment(
        "web", ns, containers({"name": "app", "image": "nginx:1.28"}), **TIMEOUT
    )
    assert containers_of(updated) == {"app": "nginx:1.28", "sidecar": "busybox:1.36"}

    # A list body is a JSON patch.
    json_patched = apps.patch_namespaced_deployment(
        "web", ns, [{"op": "replace", "path": "/spec/replicas", "value": 4}], **TIMEOUT
    )
    assert json_patched.spec.replicas == 4

    # A merge patch replaces lists wholesale.
    replaced = apps.patch_namespaced_deployment(
        "web",
        ns,
        containers({"name": "only", "image": "redis:7"}),
        _content_type=MERGE_PATCH,
        **TIMEOUT,
    )
    assert containers_of(replaced) == {"only": "redis:7"}


# --- create: dry run, generateName, defaults ---------------------------------------------------


def test_dry_run_create_does_not_persist(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    answer = core.create_namespaced_pod(ns, pod("dry"), dry_run="All", **TIMEOUT)
    assert answer.metadata.name == "dry" and answer.spec.restart_policy == "Always"
    assert api_error(lambda: core.read_namespaced_pod("dry", ns, **TIMEOUT)).status == 404
    assert core.list_namespaced_pod(ns, **TIMEOUT).items == []


def test_generate_name_appends_a_five_character_suffix(servers: list[Server], ns: str) -> None:
    core = servers[0].core
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="web-"))
    created = [
        core.create_namespaced_config_map(ns, body, **TIMEOUT).metadata.name for _ in range(3)
    ]
    assert all(re.fullmatch(r"web-[a-z0-9]{5}", name) for name in created), created
    assert len(set(created)) == 3


def test_default_namespaces_exist(servers: list[Server]) -> None:
    listed = servers[0].core.list_namespace(**TIMEOUT)
    phases = {ns.metadata.name: ns.status.phase for ns in listed.items}
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert phases.get(name) == "Active", phases


def test_a_deleted_namespace_terminates_until_finalize_empties_its_finalizers(
    servers: list[Server], ns: str
) -> None:
    core = servers[0].core
    core.delete_namespace(ns, **TIMEOUT)
    terminating = core.read_namespace(ns, **TIMEOUT)
    assert terminating.status.phase == "Terminating"
    assert terminating.spec.finalizers == ["kubernetes"]

    terminating.spec.finalizers = []
    servers[1].core.replace_namespace_finalize(ns, terminating, **TIMEOUT)

    assert api_error(lambda: core.read_namespace(ns, **TIMEOUT)).status == 404


QOS_CASES = {
    "BestEffort": None,
    "Burstable": client.V1ResourceRequirements(requests={"cpu": "100m"}),
    "Guaranteed": client.V1ResourceRequirements(
        requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "100m", "memory": "64Mi"}
    ),
}


@pytest.mark.parametrize("qos", list(QOS_CASES))
def test_pod_defaults(servers: list[Server], ns: str, qos: str) -> None:
    body = client.V1Pod(
        metadata=meta("web-0"),
        spec=client.V1PodSpec(containers=[container(resources=QOS_CASES[qos])]),
    )
    created = servers[0].core.create_namespaced_pod(ns, body, **TIMEOUT)
    spec = created.spec
    assert (spec.restart_policy, spec.dns_policy, spec.scheduler_name) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    assert spec.termination_grace_period_seconds == 30
    tolerations = {
        (t.key, t.operator, t.effect, t.toleration_seconds) for t in spec.tolerations or []
    }
    assert tolerations >= {
        ("node.kubernetes.io/not-ready", "Exists", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "Exists", "NoExecute", 300),
    }
    assert (created.status.phase, created.status.qos_class) == ("Pending", qos)
