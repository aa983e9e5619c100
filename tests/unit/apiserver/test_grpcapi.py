"""The API server's gRPC service (kubelite.apiserver.grpcapi), served for real on 127.0.0.1.

Each test starts `start_grpc_server` on port 0 over a `Registry` whose storage is the
in-memory `MemStorage` (with real watch caches for the resources a test watches), calls it
through the generated async stub, and checks the answer: the object JSON or the stream of watch
events, or the gRPC code plus the Kubernetes Status carried in ``kubelite-status-bin``, and
what the call added to the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from support.memstorage import MemStorage
from support.tls import self_signed
from support.wait import wait_for_async

from kubelite.api import errors as api_errors
from kubelite.api.errors import InvalidError
from kubelite.api.resources import RESOURCES
from kubelite.apiserver.app import ApiServer
from kubelite.apiserver.codec import resource_prefix
from kubelite.apiserver.grpcapi import (
    STATUS_METADATA_KEY,
    start_grpc_server,
    tls_credentials,
)
from kubelite.apiserver.inflight import InflightLimiter, Limits
from kubelite.apiserver.metrics import ApiMetrics
from kubelite.apiserver.registry import Registry
from kubelite.apiserver.storage import StorageUnavailable, StoredItem
from kubelite.apiserver.watchcache import WatchCache, WatchEvent, WatchEventType
from kubelite.pb import apiserver_pb2 as pb
from kubelite.pb import apiserver_pb2_grpc as pb_grpc

RPC_TIMEOUT_S = 10.0
JsonObject = dict[str, Any]


@dataclass
class Parts:
    """What `start_grpc_server` serves from (in production, the whole `ApiServer`)."""

    registry: Registry
    caches: dict[str, WatchCache] = field(default_factory=dict)
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    limits: Limits = field(default_factory=Limits)
    inflight: InflightLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.inflight = InflightLimiter(self.limits)


@dataclass
class Cluster:
    """One served registry: the stub to call it, what it serves from, its storage, the port."""

    stub: Any  # pb_grpc.ApiStub (the generated module is untyped for mypy)
    parts: Parts
    storage: MemStorage
    port: int

    @property
    def registry(self) -> Registry:
        return self.parts.registry


@contextlib.asynccontextmanager
async def serving(
    storage: MemStorage | None = None,
    *,
    watched: tuple[str, ...] = (),
    limits: Limits | None = None,
    queue_size: int = 1_000,
) -> AsyncIterator[Cluster]:
    """The gRPC service over `storage`, with watch caches for the `watched` resources."""
    storage = storage if storage is not None else MemStorage()
    caches = {
        plural: WatchCache(storage, resource_prefix(plural), watcher_queue_size=queue_size)
        for plural in watched
    }
    for cache in caches.values():
        await cache.start()
    parts = Parts(Registry(storage, caches), caches, ApiMetrics(), limits or Limits())
    await parts.registry.ensure_namespaces()
    server, port = await start_grpc_server(parts, "127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Cluster(pb_grpc.ApiStub(channel), parts, storage, port)
    finally:
        await channel.close(None)
        await server.stop(None)
        for cache in caches.values():
            await cache.stop()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with serving() as served:
        yield served


# --- helpers -----------------------------------------------------------------------------


def dump(obj: object) -> bytes:
    return json.dumps(obj).encode()


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> JsonObject:
    metadata: JsonObject = {"name": name, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def pod(name: str) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


def core(resource: str, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    """The addressing fields of a request for a core/v1 resource."""
    return {"group": "", "version": "v1", "resource": resource, "namespace": namespace, **fields}


async def call(rpc: Callable[..., Awaitable[Any]], request: Any) -> Any:
    return await rpc(request, timeout=RPC_TIMEOUT_S)


async def obj_of(rpc: Callable[..., Awaitable[Any]], request: Any) -> JsonObject:
    """Call an RPC answering with ``object_json`` and decode it."""
    response = await call(rpc, request)
    decoded: JsonObject = json.loads(response.object_json)
    return decoded


async def failure(rpc: Callable[..., Awaitable[Any]], request: Any) -> tuple[Any, JsonObject]:
    """The gRPC code and the Status of a call that must fail (as a client rebuilds it)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(rpc, request)
    return status_of(caught.value)


def status_of(error: grpc.aio.AioRpcError) -> tuple[Any, JsonObject]:
    """The gRPC code of a failed call and the Status its trailer carries."""
    # grpc-stubs types the sync RpcError's tuple; an aio error carries grpc.aio.Metadata.
    trailing = cast(grpc.aio.Metadata, error.trailing_metadata())
    trailer = trailing.get_all(STATUS_METADATA_KEY)
    assert len(trailer) == 1, f"one {STATUS_METADATA_KEY} trailer, got {trailing!r}"
    status: JsonObject = json.loads(trailer[0])
    assert error.details() == status.get("message", ""), "details must be the Status message"
    return error.code(), status


async def create_configmap(cluster: Cluster, cm: JsonObject) -> JsonObject:
    return await obj_of(
        cluster.stub.Create, pb.CreateRequest(**core("configmaps"), object_json=dump(cm))
    )


async def create_pod(cluster: Cluster, name: str) -> JsonObject:
    request = pb.CreateRequest(**core("pods"), object_json=dump(pod(name)))
    return await obj_of(cluster.stub.Create, request)


# --- get, create, update ---------------------------------------------------------------------


async def test_create_then_get_returns_the_stored_object(cluster: Cluster) -> None:
    created = await create_configmap(cluster, configmap("web", color="blue"))
    got = await obj_of(cluster.stub.Get, pb.GetRequest(**core("configmaps", name="web")))
    assert got == created
    assert got["data"] == {"color": "blue"}
    assert got["metadata"]["namespace"] == "default"
    assert got["metadata"]["resourceVersion"] and got["metadata"]["uid"]


async def test_cluster_scoped_resources_take_no_namespace(cluster: Cluster) -> None:
    request = pb.CreateRequest(
        **core("namespaces", ""), object_json=dump({"metadata": {"name": "dev"}})
    )
    await obj_of(cluster.stub.Create, request)
    got = await obj_of(cluster.stub.Get, pb.GetRequest(**core("namespaces", "", name="dev")))
    assert got["kind"] == "Namespace"


async def test_get_of_a_missing_object_is_not_found(cluster: Cluster) -> None:
    code, status = await failure(cluster.stub.Get, pb.GetRequest(**core("pods", name="nope")))
    assert code == grpc.StatusCode.NOT_FOUND
    assert status["reason"] == "NotFound"
    assert status["code"] == 404
    assert status["message"] == 'pods "nope" not found'
    assert status["details"] == {"name": "nope", "kind": "pods"}


async def test_second_create_is_already_exists(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("web"))
    request = pb.CreateRequest(**core("configmaps"), object_json=dump(configmap("web")))
    code, status = await failure(cluster.stub.Create, request)
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "web" already exists'


async def test_update_replaces_the_object(cluster: Cluster) -> None:
    created = await create_configmap(cluster, configmap("web", color="blue"))
    changed = {**created, "data": {"color": "green"}}
    request = pb.UpdateRequest(**core("configmaps", name="web"), object_json=dump(changed))
    response = await call(cluster.stub.Update, request)
    updated = json.loads(response.object_json)
    assert not response.created
    assert updated["data"] == {"color": "green"}
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]


async def test_update_with_a_stale_resource_version_is_conflict(cluster: Cluster) -> None:
    created = await create_configmap(cluster, configmap("web", color="blue"))
    first = {**created, "data": {"color": "green"}}
    await call(
        cluster.stub.Update,
        pb.UpdateRequest(**core("configmaps", name="web"), object_json=dump(first)),
    )
    stale = {**created, "data": {"color": "red"}}  # still carries the old resourceVersion
    request = pb.UpdateRequest(**core("configmaps", name="web"), object_json=dump(stale))
    code, status = await failure(cluster.stub.Update, request)
    assert code == grpc.StatusCode.ABORTED
    assert status["reason"] == "Conflict"
    assert status["code"] == 409
    assert "the object has been modified" in status["message"]


async def test_update_creates_a_missing_lease(cluster: Cluster) -> None:
    lease = {"metadata": {"name": "node-1"}, "spec": {"holderIdentity": "node-1"}}
    request = pb.UpdateRequest(
        group="coordination.k8s.io",
        version="v1",
        resource="leases",
        namespace="kube-node-lease",
        name="node-1",
        object_json=dump(lease),
    )
    response = await call(cluster.stub.Update, request)
    assert response.created
    assert json.loads(response.object_json)["spec"]["holderIdentity"] == "node-1"


async def test_update_ignores_status_and_update_status_changes_only_status(
    cluster: Cluster,
) -> None:
    created = await create_pod(cluster, "web")
    address = core("pods", name="web")
    running = {**created, "status": {"phase": "Running"}}
    main_write = pb.UpdateRequest(**address, object_json=dump(running))
    after_main = json.loads((await call(cluster.stub.Update, main_write)).object_json)
    assert after_main["status"].get("phase") != "Running"

    labelled = {**after_main, "metadata": {**after_main["metadata"], "labels": {"a": "b"}}}
    status_write = pb.UpdateRequest(**address, object_json=dump({**labelled, **running}))
    response = await call(cluster.stub.UpdateStatus, status_write)
    after_status = json.loads(response.object_json)
    assert after_status["status"]["phase"] == "Running"
    assert not after_status["metadata"].get("labels"), "a status write must not change labels"


async def test_update_status_of_a_kind_without_status_is_not_found(cluster: Cluster) -> None:
    created = await create_configmap(cluster, configmap("web"))
    request = pb.UpdateRequest(**core("configmaps", name="web"), object_json=dump(created))
    code, status = await failure(cluster.stub.UpdateStatus, request)
    assert code == grpc.StatusCode.NOT_FOUND
    assert status["message"] == "the server could not find the requested resource"


async def test_invalid_object_keeps_its_causes(cluster: Cluster) -> None:
    bad = {"metadata": {"name": "Bad_Name"}, "spec": {"containers": []}}
    request = pb.CreateRequest(**core("pods"), object_json=dump(bad))
    code, status = await failure(cluster.stub.Create, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status["reason"] == "Invalid"
    fields = {cause["field"] for cause in status["details"]["causes"]}
    assert {"metadata.name", "spec.containers"} <= fields
    pods = RESOURCES.lookup("", "v1", "pods")
    assert pods is not None
    with pytest.raises(InvalidError) as direct:
        await cluster.registry.create(pods, "default", bad)
    assert status == direct.value.status(), "the client gets the registry's Status unchanged"


# --- patch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch_type", "patch", "expected"),
    [
        pytest.param(
            "application/merge-patch+json",
            {"data": {"color": None, "size": "L"}},
            {"size": "L"},
            id="merge",
        ),
        pytest.param(
            "application/json-patch+json",
            [{"op": "replace", "path": "/data/color", "value": "green"}],
            {"color": "green"},
            id="json",
        ),
        pytest.param(
            "application/strategic-merge-patch+json",
            {"data": {"size": "L"}},
            {"color": "blue", "size": "L"},
            id="strategic",
        ),
    ],
)
async def test_patch_of_each_type(
    cluster: Cluster, patch_type: str, patch: object, expected: dict[str, str]
) -> None:
    await create_configmap(cluster, configmap("web", color="blue"))
    request = pb.PatchRequest(
        **core("configmaps", name="web"), patch_type=patch_type, patch=dump(patch)
    )
    patched = await obj_of(cluster.stub.Patch, request)
    assert patched["data"] == expected
    got = await obj_of(cluster.stub.Get, pb.GetRequest(**core("configmaps", name="web")))
    assert got == patched


async def test_strategic_patch_merges_containers_by_name(cluster: Cluster) -> None:
    await create_pod(cluster, "web")
    patch = {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}
    request = pb.PatchRequest(
        **core("pods", name="web"),
        patch_type="application/strategic-merge-patch+json",
        patch=dump(patch),
    )
    patched = await obj_of(cluster.stub.Patch, request)
    assert [c["image"] for c in patched["spec"]["containers"]] == ["busybox:2"]


async def test_patch_status_changes_only_status(cluster: Cluster) -> None:
    await create_pod(cluster, "web")
    patch = {"status": {"phase": "Running"}, "metadata": {"labels": {"a": "b"}}}
    request = pb.PatchRequest(
        **core("pods", name="web"), patch_type="application/merge-patch+json", patch=dump(patch)
    )
    patched = await obj_of(cluster.stub.PatchStatus, request)
    assert patched["status"]["phase"] == "Running"
    assert not patched["metadata"].get("labels")


async def test_patch_of_an_unknown_type_is_unsupported_media_type(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("web"))
    request = pb.PatchRequest(
        **core("configmaps", name="web"), patch_type="text/plain", patch=b"{}"
    )
    code, status = await failure(cluster.stub.Patch, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status["reason"] == "UnsupportedMediaType"
    assert status["code"] == 415


async def test_malformed_patch_is_bad_request(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("web"))
    request = pb.PatchRequest(
        **core("configmaps", name="web"), patch_type="application/merge-patch+json", patch=b"{oops"
    )
    code, status = await failure(cluster.stub.Patch, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status["reason"] == "BadRequest"


# --- list --------------------------------------------------------------------------------


async def list_of(cluster: Cluster, namespace: str = "default", **options: str) -> JsonObject:
    request = pb.ListRequest(**core("configmaps", namespace), list_options=options)
    return await obj_of(cluster.stub.List, request)


def names(listed: JsonObject) -> list[str]:
    return [item["metadata"]["name"] for item in listed["items"]]


async def test_list_answers_the_rest_list_shape(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("a"))
    await create_configmap(cluster, configmap("b"))
    listed = await list_of(cluster)
    assert listed["kind"] == "ConfigMapList"
    assert listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) >= 1
    assert "continue" not in listed["metadata"]
    assert names(listed) == ["a", "b"]


async def test_list_with_an_empty_namespace_spans_namespaces(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("here"))
    elsewhere = {**configmap("there"), "metadata": {"name": "there"}}
    await obj_of(
        cluster.stub.Create,
        pb.CreateRequest(**core("configmaps", "kube-system"), object_json=dump(elsewhere)),
    )
    assert names(await list_of(cluster, "")) == ["here", "there"]
    assert names(await list_of(cluster, "kube-system")) == ["there"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"labelSelector": "tier=web"}, ["a", "c"], id="label-equals"),
        pytest.param({"labelSelector": "tier in (db),!canary"}, ["b"], id="label-set"),
        pytest.param({"fieldSelector": "metadata.name=c"}, ["c"], id="field"),
        pytest.param(
            {"labelSelector": "tier=web", "fieldSelector": "metadata.name!=a"}, ["c"], id="both"
        ),
    ],
)
async def test_list_with_selectors(
    cluster: Cluster, options: dict[str, str], expected: list[str]
) -> None:
    await create_configmap(cluster, configmap("a", {"tier": "web"}))
    await create_configmap(cluster, configmap("b", {"tier": "db"}))
    await create_configmap(cluster, configmap("c", {"tier": "web"}))
    await create_configmap(cluster, configmap("d", {"tier": "db", "canary": "yes"}))
    assert names(await list_of(cluster, **options)) == expected


async def test_list_pages_with_limit_and_continue(cluster: Cluster) -> None:
    for name in "abcdef":
        await create_configmap(cluster, configmap(name))
    seen: list[str] = []
    token, revisions = "", set()
    for _ in range(10):
        options = {"limit": "2", **({"continue": token} if token else {})}
        page = await list_of(cluster, **options)
        assert len(page["items"]) <= 2
        seen += names(page)
        revisions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
        # Sorts after "f" but is newer than the first page: not part of this list.
        await create_configmap(cluster, configmap(f"late-{len(seen)}"))
    assert seen == ["a", "b", "c", "d", "e", "f"]
    assert len(revisions) == 1, "every page is read at the revision of the first"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        pytest.param({"labelSelector": "a in (b"}, "unable to parse requirement", id="label"),
        pytest.param({"fieldSelector": "spec.nope=x"}, "spec.nope", id="field"),
        pytest.param({"limit": "many"}, "limit", id="limit"),
        pytest.param({"continue": "not-a-token"}, "continue", id="continue"),
        pytest.param({"watch": "true"}, "unsupported list options watch", id="unknown-key"),
    ],
)
async def test_bad_list_options_are_bad_request(
    cluster: Cluster, options: dict[str, str], words: str
) -> None:
    request = pb.ListRequest(**core("configmaps"), list_options=options)
    code, status = await failure(cluster.stub.List, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status["reason"] == "BadRequest"
    assert words in status["message"]


async def test_bad_resource_version_match_is_invalid_list_options(cluster: Cluster) -> None:
    request = pb.ListRequest(**core("configmaps"), list_options={"resourceVersionMatch": "Exact"})
    code, status = await failure(cluster.stub.List, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["message"].startswith('ListOptions.meta.k8s.io "" is invalid: ')


# --- delete ------------------------------------------------------------------------------


async def test_delete_returns_the_deleted_object(cluster: Cluster) -> None:
    created = await create_configmap(cluster, configmap("web"))
    response = await call(cluster.stub.Delete, pb.DeleteRequest(**core("configmaps", name="web")))
    assert response.gone
    assert json.loads(response.object_json)["metadata"]["uid"] == created["metadata"]["uid"]
    code, _ = await failure(cluster.stub.Get, pb.GetRequest(**core("configmaps", name="web")))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_delete_of_a_finalized_object_marks_it(cluster: Cluster) -> None:
    request = pb.CreateRequest(
        **core("namespaces", ""), object_json=dump({"metadata": {"name": "doomed"}})
    )
    await obj_of(cluster.stub.Create, request)
    response = await call(
        cluster.stub.Delete, pb.DeleteRequest(**core("namespaces", "", name="doomed"))
    )
    assert not response.gone
    marked = json.loads(response.object_json)
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["status"]["phase"] == "Terminating"


async def test_delete_with_a_failed_precondition_is_conflict(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("web"))
    options = {"preconditions": {"uid": "not-the-uid"}}
    request = pb.DeleteRequest(**core("configmaps", name="web"), delete_options_json=dump(options))
    code, status = await failure(cluster.stub.Delete, request)
    assert code == grpc.StatusCode.ABORTED
    assert status["reason"] == "Conflict"


async def test_delete_of_a_missing_object_is_not_found(cluster: Cluster) -> None:
    code, status = await failure(
        cluster.stub.Delete, pb.DeleteRequest(**core("configmaps", name="nope"))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert status["message"] == 'configmaps "nope" not found'


# --- bind --------------------------------------------------------------------------------


def binding(node: str) -> bytes:
    return dump({"apiVersion": "v1", "kind": "Binding", "target": {"name": node}})


async def test_bind_assigns_the_pod_and_a_second_bind_is_conflict(cluster: Cluster) -> None:
    await create_pod(cluster, "web")
    request = pb.BindRequest(namespace="default", pod_name="web", binding_json=binding("node-1"))
    response = await call(cluster.stub.Bind, request)
    assert json.loads(response.status_json) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
    bound = await obj_of(cluster.stub.Get, pb.GetRequest(**core("pods", name="web")))
    assert bound["spec"]["nodeName"] == "node-1"
    again = pb.BindRequest(namespace="default", pod_name="web", binding_json=binding("node-2"))
    code, status = await failure(cluster.stub.Bind, again)
    assert code == grpc.StatusCode.ABORTED
    assert status["reason"] == "Conflict"
    assert "already assigned to node" in status["message"]


async def test_bind_of_a_missing_pod_is_not_found(cluster: Cluster) -> None:
    request = pb.BindRequest(namespace="default", pod_name="ghost", binding_json=binding("node-1"))
    code, status = await failure(cluster.stub.Bind, request)
    assert code == grpc.StatusCode.NOT_FOUND
    assert status["message"] == 'pods "ghost" not found'


async def test_bind_without_a_target_is_invalid(cluster: Cluster) -> None:
    await create_pod(cluster, "web")
    request = pb.BindRequest(
        namespace="default", pod_name="web", binding_json=dump({"kind": "Binding"})
    )
    code, status = await failure(cluster.stub.Bind, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "target.name"


# --- what clients get wrong ------------------------------------------------------------------


MALFORMED = b'{"metadata": {'


@pytest.mark.parametrize(
    ("method", "request_message"),
    [
        pytest.param(
            "Create", pb.CreateRequest(**core("configmaps"), object_json=MALFORMED), id="create"
        ),
        pytest.param(
            "Update",
            pb.UpdateRequest(**core("configmaps", name="x"), object_json=MALFORMED),
            id="update",
        ),
        pytest.param(
            "UpdateStatus",
            pb.UpdateRequest(**core("pods", name="x"), object_json=MALFORMED),
            id="update-status",
        ),
        pytest.param(
            "Delete",
            pb.DeleteRequest(**core("configmaps", name="x"), delete_options_json=MALFORMED),
            id="delete",
        ),
        pytest.param(
            "Bind",
            pb.BindRequest(namespace="default", pod_name="x", binding_json=MALFORMED),
            id="bind",
        ),
        pytest.param(
            "Create", pb.CreateRequest(**core("configmaps"), object_json=b"\xff\xfe"), id="not-utf8"
        ),
        pytest.param(
            "Create", pb.CreateRequest(**core("configmaps"), object_json=b"NaN"), id="nan"
        ),
        pytest.param("Create", pb.CreateRequest(**core("configmaps")), id="empty"),
        pytest.param(
            "Create", pb.CreateRequest(**core("configmaps"), object_json=b"[1]"), id="not-an-object"
        ),
    ],
)
async def test_undecodable_json_is_bad_request(
    cluster: Cluster, method: str, request_message: Any
) -> None:
    code, status = await failure(getattr(cluster.stub, method), request_message)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status["reason"] == "BadRequest"
    assert status["code"] == 400


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(core("widgets", name="x"), id="unknown-plural"),
        pytest.param(core("pods", name="x") | {"version": "v2"}, id="unknown-version"),
        pytest.param(core("pods", name="x") | {"group": "apps"}, id="wrong-group"),
        pytest.param(core("", name="x"), id="empty"),
    ],
)
async def test_unknown_resource_is_not_found(cluster: Cluster, address: dict[str, Any]) -> None:
    code, status = await failure(cluster.stub.Get, pb.GetRequest(**address))
    assert code == grpc.StatusCode.NOT_FOUND
    assert status["reason"] == "NotFound"
    assert status["message"] == "the server could not find the requested resource"


@pytest.mark.parametrize(
    ("address", "words"),
    [
        pytest.param(
            core("pods", "", name="x"), "a namespace is required", id="namespaced-without"
        ),
        pytest.param(core("nodes", "default", name="x"), "must be empty", id="cluster-scoped-with"),
        pytest.param(core("pods", name=""), "name may not be empty", id="no-name"),
        pytest.param(core("pods", "default/web", name="x"), "invalid namespace", id="slash-ns"),
        pytest.param(core("pods", "..", name="x"), "invalid namespace", id="dot-dot-ns"),
        pytest.param(core("pods", name="a/b"), "may not contain '/'", id="slash-name"),
    ],
)
async def test_bad_addresses_are_bad_request(
    cluster: Cluster, address: dict[str, Any], words: str
) -> None:
    code, status = await failure(cluster.stub.Get, pb.GetRequest(**address))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert words in status["message"]


async def test_a_namespace_that_does_not_exist_is_not_found(cluster: Cluster) -> None:
    request = pb.CreateRequest(**core("configmaps", "nowhere"), object_json=dump(configmap("x")))
    code, status = await failure(cluster.stub.Create, request)
    assert code == grpc.StatusCode.NOT_FOUND
    assert status["message"] == 'namespaces "nowhere" not found'


async def test_store_unavailable_is_unavailable_with_retry_after(cluster: Cluster) -> None:
    cluster.storage.fail_next("get", StorageUnavailable("no leader"))
    code, status = await failure(cluster.stub.Get, pb.GetRequest(**core("configmaps", name="x")))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert status["reason"] == "ServiceUnavailable"
    assert status["details"]["retryAfterSeconds"] == 1


async def test_an_unexpected_error_is_internal_and_the_server_keeps_serving(
    cluster: Cluster,
) -> None:
    await cluster.storage.put("/registry/configmaps/default/corrupt", b"not json")
    code, status = await failure(
        cluster.stub.Get, pb.GetRequest(**core("configmaps", name="corrupt"))
    )
    assert code == grpc.StatusCode.INTERNAL
    assert status["reason"] == "InternalError"
    assert status["code"] == 500
    assert status["message"].startswith("Internal error occurred: JSONDecodeError")
    created = await create_configmap(cluster, configmap("fine"))
    assert created["metadata"]["name"] == "fine"


async def test_a_request_that_is_not_protobuf_leaves_the_server_serving(
    cluster: Cluster,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{cluster.port}") as channel:
        raw_get = channel.unary_unary("/kubelite.apiserver.v1.Api/Get", None, None)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await raw_get(b"\xff\xff\xff\xff", timeout=RPC_TIMEOUT_S)
    # grpc refuses it before the servicer runs: no Status trailer, as the module docstring says.
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert "Error parsing message" in (caught.value.details() or "")
    created = await create_configmap(cluster, configmap("after"))
    assert created["metadata"]["name"] == "after"


# --- watch -------------------------------------------------------------------------------

Event = tuple[str, JsonObject]
EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # (missing from grpc-stubs)


def watch_call(cluster: Cluster, namespace: str = "default", **options: str) -> Any:
    """Open a Watch of configmaps (a grpc.aio UnaryStreamCall)."""
    request = pb.WatchRequest(**core("configmaps", namespace), list_options=options)
    return cluster.stub.Watch(request, timeout=RPC_TIMEOUT_S)


async def next_event(stream: Any) -> Event:
    """The next message of a watch, as (type, object); fails if the stream ends first."""
    message = await stream.read()
    assert message is not EOF, "the watch ended before the next event"
    return message.type, json.loads(message.object_json)


async def rest_of(stream: Any) -> list[Event]:
    """Every message up to the end of a watch, which must end with OK."""
    events: list[Event] = []
    while (message := await stream.read()) is not EOF:
        events.append((message.type, json.loads(message.object_json)))
    assert await stream.code() == grpc.StatusCode.OK, await stream.details()
    return events


def summary(events: list[Event]) -> list[tuple[str, str]]:
    return [(kind, obj["metadata"].get("name", "")) for kind, obj in events]


async def watch_failure(cluster: Cluster, request: Any) -> tuple[Any, JsonObject]:
    """The code and Status of a Watch refused before its first event."""
    stream = cluster.stub.Watch(request, timeout=RPC_TIMEOUT_S)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    return status_of(caught.value)


@pytest.fixture
async def watched() -> AsyncIterator[Cluster]:
    async with serving(watched=("configmaps",)) as served:
        yield served


def test_an_events_rest_line_wraps_its_object_json() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "ünïcode", "resourceVersion": "7"}}
    event = WatchEvent(WatchEventType.MODIFIED, obj, 7, "/registry/configmaps/default/x")
    object_json = event.object_json
    assert event.json_line() == b'{"type":"MODIFIED","object":' + object_json + b"}\n"
    assert json.loads(object_json) == obj


async def test_watch_without_resource_version_lists_then_follows(watched: Cluster) -> None:
    await create_configmap(watched, configmap("a"))
    await create_configmap(watched, configmap("b"))
    stream = watch_call(watched)
    try:
        first = [await next_event(stream), await next_event(stream)]
        assert summary(first) == [("ADDED", "a"), ("ADDED", "b")]
        # The watcher is registered once its first event arrived: every later write shows.
        got = await obj_of(watched.stub.Get, pb.GetRequest(**core("configmaps", name="a")))
        assert first[0][1] == got, "an event carries the object as Get answers it"
        changed = {**got, "data": {"color": "green"}}
        request = pb.UpdateRequest(**core("configmaps", name="a"), object_json=dump(changed))
        updated = json.loads((await call(watched.stub.Update, request)).object_json)
        deleted = await call(watched.stub.Delete, pb.DeleteRequest(**core("configmaps", name="b")))
        kind, obj = await next_event(stream)
        assert (kind, obj) == ("MODIFIED", updated)
        kind, obj = await next_event(stream)
        assert (kind, obj["metadata"]["name"]) == ("DELETED", "b")
        # DELETED carries the last state at the deletion's revision, as Delete answered it.
        assert obj == json.loads(deleted.object_json)
    finally:
        stream.cancel()


async def test_watch_from_a_resource_version_sends_only_later_changes(watched: Cluster) -> None:
    a = await create_configmap(watched, configmap("a"))
    await create_configmap(watched, configmap("b"))
    request = pb.DeleteRequest(**core("configmaps", name="a"))
    await call(watched.stub.Delete, request)
    stream = watch_call(
        watched, resourceVersion=a["metadata"]["resourceVersion"], timeoutSeconds="1"
    )
    assert summary(await rest_of(stream)) == [("ADDED", "b"), ("DELETED", "a")]


async def test_watch_with_a_label_selector_follows_matching(watched: Cluster) -> None:
    start = await create_configmap(watched, configmap("a", {"tier": "web"}))
    await create_configmap(watched, configmap("b", {"tier": "db"}))
    relabel = pb.PatchRequest(
        **core("configmaps", name="a"),
        patch_type="application/merge-patch+json",
        patch=dump({"metadata": {"labels": {"tier": "db"}}}),
    )
    await call(watched.stub.Patch, relabel)
    stream = watch_call(
        watched,
        resourceVersion=str(int(start["metadata"]["resourceVersion"]) - 1),
        labelSelector="tier=web",
        timeoutSeconds="1",
    )
    # "a" starts matching (its creation), then stops (the relabel): DELETED; "b" never shows.
    assert summary(await rest_of(stream)) == [("ADDED", "a"), ("DELETED", "a")]


@pytest.mark.parametrize(
    ("bookmarks", "expected"),
    [pytest.param("true", 1, id="bookmark"), pytest.param("", 0, id="none")],
)
async def test_watch_ends_at_its_timeout(watched: Cluster, bookmarks: str, expected: int) -> None:
    created = await create_configmap(watched, configmap("a"))
    rv = created["metadata"]["resourceVersion"]
    stream = watch_call(
        watched, resourceVersion=rv, allowWatchBookmarks=bookmarks, timeoutSeconds="1"
    )
    events = await rest_of(stream)
    assert len(events) == expected
    if expected:
        kind, obj = events[0]
        assert kind == "BOOKMARK"
        assert obj == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}


async def test_watch_from_a_compacted_revision_is_one_expired_error() -> None:
    storage = MemStorage()
    for n in range(3):
        await storage.put("/registry/configmaps/default/old", dump(configmap(f"old{n}")))
    await storage.compact(storage.revision)
    async with serving(storage, watched=("configmaps",)) as served:
        events = await rest_of(watch_call(served, resourceVersion="2"))
    assert len(events) == 1, summary(events)
    kind, status = events[0]
    assert kind == "ERROR"
    assert status["kind"] == "Status"
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith("too old resource version: 2 (")


@pytest.mark.parametrize(
    ("request_fields", "code", "reason", "words"),
    [
        pytest.param(
            {**core("configmaps"), "list_options": {"limit": "1"}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "BadRequest",
            "unsupported watch options limit",
            id="list-only-option",
        ),
        pytest.param(
            {**core("configmaps"), "list_options": {"resourceVersion": "x"}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "BadRequest",
            "invalid resource version",
            id="bad-resource-version",
        ),
        pytest.param(
            core("gizmos"), grpc.StatusCode.NOT_FOUND, "NotFound", "could not find", id="unknown"
        ),
        pytest.param(
            core("pods"),
            grpc.StatusCode.UNAVAILABLE,
            "ServiceUnavailable",
            "no watch cache for pods",
            id="no-cache",
        ),
    ],
)
async def test_a_watch_refused_before_streaming_is_a_status(
    watched: Cluster, request_fields: dict[str, Any], code: Any, reason: str, words: str
) -> None:
    got_code, status = await watch_failure(watched, pb.WatchRequest(**request_fields))
    assert got_code == code
    assert status["reason"] == reason
    assert words in status["message"]
    metrics = watched.parts.metrics.registry
    resource = request_fields["resource"] if request_fields["resource"] != "gizmos" else ""
    labels = {"verb": "WATCH", "resource": resource, "code": str(status["code"])}
    assert metrics.get_sample_value("apiserver_request_total", labels) == 1


async def test_a_watcher_too_slow_is_ended_by_the_cache() -> None:
    async with serving(watched=("configmaps",), queue_size=2) as served:
        await create_configmap(served, configmap("first"))
        stream = watch_call(served)
        assert summary([await next_event(stream)]) == [("ADDED", "first")]
        # One store write with five changes: the cache fans all of them out at once, and the
        # watcher's queue holds two.
        burst = {f"/registry/configmaps/default/c{n}": dump(configmap(f"c{n}")) for n in range(5)}
        await served.storage.write(burst)
        assert summary(await rest_of(stream)) == [("ADDED", "c0"), ("ADDED", "c1")]
        assert served.parts.caches["configmaps"].watcher_count == 0


async def test_a_cancelled_watch_leaves_the_cache(watched: Cluster) -> None:
    await create_configmap(watched, configmap("a"))
    stream = watch_call(watched)
    await next_event(stream)
    cache = watched.parts.caches["configmaps"]
    assert cache.watcher_count == 1
    stream.cancel()
    # The server learns of the cancellation asynchronously.
    await wait_for_async(
        lambda: cache.watcher_count == 0,
        RPC_TIMEOUT_S,
        lambda: f"the watcher to leave; still {cache.watcher_count}",
    )
    assert requests_total(watched, "WATCH", "configmaps", 200) == 1


# --- metrics and in-flight limits ------------------------------------------------------------


def requests_total(cluster: Cluster, verb: str, resource: str, code: int) -> float:
    labels = {"verb": verb, "resource": resource, "code": str(code)}
    return cluster.parts.metrics.registry.get_sample_value("apiserver_request_total", labels) or 0


async def test_calls_are_counted_with_their_http_code(cluster: Cluster) -> None:
    await create_configmap(cluster, configmap("a"))
    await obj_of(cluster.stub.Get, pb.GetRequest(**core("configmaps", name="a")))
    await failure(cluster.stub.Get, pb.GetRequest(**core("configmaps", name="nope")))
    await failure(cluster.stub.Get, pb.GetRequest(**core("gizmos", name="x")))
    await create_pod(cluster, "web")
    bind = pb.BindRequest(namespace="default", pod_name="web", binding_json=binding("n1"))
    await call(cluster.stub.Bind, bind)
    assert requests_total(cluster, "POST", "configmaps", 200) == 1
    assert requests_total(cluster, "GET", "configmaps", 200) == 1
    assert requests_total(cluster, "GET", "configmaps", 404) == 1
    assert requests_total(cluster, "GET", "", 404) == 1, "unknown resources share one label"
    assert requests_total(cluster, "POST", "pods", 200) == 2, "the create and the binding"
    latency = cluster.parts.metrics.registry.get_sample_value(
        "apiserver_request_duration_seconds_count", {"verb": "GET", "resource": "configmaps"}
    )
    assert latency == 2


class GatedStorage(MemStorage):
    """A MemStorage whose reads of one key wait until the test opens the gate."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.gated_key = key
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    async def get(self, key: str) -> StoredItem | None:
        if key == self.gated_key:
            self.waiting.set()
            await self.gate.wait()
        return await super().get(key)


async def test_calls_over_the_inflight_limit_are_resource_exhausted() -> None:
    storage = GatedStorage("/registry/configmaps/default/slow")
    async with serving(storage, watched=("pods",), limits=Limits(1, 1)) as served:
        await create_configmap(served, configmap("slow"))
        slow_get = pb.GetRequest(**core("configmaps", name="slow"))
        held = asyncio.create_task(call(served.stub.Get, slow_get))
        try:
            async with asyncio.timeout(RPC_TIMEOUT_S):
                await storage.waiting.wait()
            # The one read-only slot is taken: a second read is refused at once...
            code, status = await failure(served.stub.List, pb.ListRequest(**core("configmaps")))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert (status["code"], status["reason"]) == (429, "TooManyRequests")
            assert status["message"] == "Too many requests, please try again later."
            assert status["details"]["retryAfterSeconds"] == 1
            # ... a write has its own slot, and a watch is long-running and takes none.
            await create_pod(served, "web")
            stream = served.stub.Watch(pb.WatchRequest(**core("pods")), timeout=RPC_TIMEOUT_S)
            assert summary([await next_event(stream)]) == [("ADDED", "web")]
            stream.cancel()
        finally:
            storage.gate.set()
        assert json.loads((await held).object_json)["metadata"]["name"] == "slow"
        await obj_of(served.stub.Get, slow_get)  # the slot is free again
        assert requests_total(served, "LIST", "configmaps", 429) == 1
        assert requests_total(served, "GET", "configmaps", 200) == 2


# --- serving -----------------------------------------------------------------------------


async def test_an_api_server_serves_grpc_from_its_caches_and_metrics() -> None:
    api = ApiServer(MemStorage())
    await api.start()
    server, port = await start_grpc_server(api, "127.0.0.1", 0)
    try:
        async with asyncio.timeout(RPC_TIMEOUT_S):
            await api.bootstrapped.wait()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ApiStub(channel)
            cm = dump(configmap("web"))
            await call(stub.Create, pb.CreateRequest(**core("configmaps"), object_json=cm))
            request = pb.WatchRequest(**core("configmaps"), list_options={"timeoutSeconds": "1"})
            stream = stub.Watch(request, timeout=RPC_TIMEOUT_S)
            assert summary(await rest_of(stream)) == [("ADDED", "web")]
        page = api.metrics.render().decode()
        assert 'apiserver_request_total{code="200",resource="configmaps",verb="POST"} 1.0' in page
        assert 'apiserver_request_total{code="200",resource="configmaps",verb="WATCH"} 1.0' in page
    finally:
        await server.stop(None)
        await api.stop()


async def test_serves_tls_with_the_rest_certificate(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    registry = Registry(MemStorage())
    await registry.ensure_namespaces()
    credentials = tls_credentials(cert_file, key_file)
    server, port = await start_grpc_server(Parts(registry), "127.0.0.1", 0, credentials)
    trusted = grpc.ssl_channel_credentials(root_certificates=cert_file.read_bytes())
    channel = grpc.aio.secure_channel(f"127.0.0.1:{port}", trusted)
    try:
        stub = pb_grpc.ApiStub(channel)
        got = await obj_of(stub.Get, pb.GetRequest(**core("namespaces", "", name="default")))
        assert got["metadata"]["name"] == "default"
    finally:
        await channel.close(None)
        await server.stop(None)


async def test_a_taken_port_is_an_os_error() -> None:
    parts = Parts(Registry(MemStorage()))
    server, port = await start_grpc_server(parts, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match=re.escape(f"cannot serve gRPC on 127.0.0.1:{port}")):
            await start_grpc_server(parts, "127.0.0.1", port)
    finally:
        await server.stop(None)


async def test_rest_and_grpc_share_one_inflight_budget() -> None:
    limits = Limits(max_requests_inflight=1, max_mutating_requests_inflight=1)
    server = ApiServer(MemStorage(), limits)
    with server.inflight.admit(read_only=False):  # a REST write in progress ...
        # ... so a gRPC write at the same moment is refused: one budget per process.
        with pytest.raises(api_errors.TooManyRequestsError), server.inflight.admit(read_only=False):
            pass
        with server.inflight.admit(read_only=True):  # reads have their own budget
            assert server.inflight.current(read_only=True) == 1
