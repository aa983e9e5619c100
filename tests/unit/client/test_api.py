"""`kubelite.client.api.ApiClient` against real API servers running in the test's event loop.

Every test serves `ApiServer` over a `MemStorage` with `support.inprocess_api` (REST + gRPC on
127.0.0.1 port 0); failover tests run two servers over one storage and stop one of them.
Kubeconfig loading is checked as a table of documents (`parse_kubeconfig`, then one file).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.inprocess_api import inprocess_api
from support.memstorage import MemStorage

from kubelite.api.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
)
from kubelite.client.api import ApiClient, collection_path
from kubelite.client.config import (
    ClientConfig,
    Endpoint,
    KubeconfigError,
    load_kubeconfig,
    parse_kubeconfig,
)
from kubelite.client.interface import (
    CONFIGMAPS,
    DEPLOYMENTS,
    NODES,
    PODS,
    JsonObject,
    WatchEvent,
)

TIMEOUT_S = 10.0


def configmap(name: str, **data: str) -> JsonObject:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def pod(name: str) -> JsonObject:
    container = {"name": "c", "image": "busybox"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with inprocess_api() as endpoint, ApiClient([endpoint], call_timeout_s=5) as api:
        yield api


async def collect(events: AsyncIterator[WatchEvent], count: int) -> list[WatchEvent]:
    """The next `count` events (BOOKMARKs skipped); fails with what arrived on timeout."""
    seen: list[WatchEvent] = []
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async for event in events:
                if event.type != "BOOKMARK":
                    seen.append(event)
                if len(seen) == count:
                    break
    except TimeoutError:
        pytest.fail(f"expected {count} events, got {[(e.type, e.resource_version) for e in seen]}")
    return seen


def names(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.object["metadata"]["name"]) for e in events]


# --- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "namespace", "path"),
    [
        (PODS, "default", "/api/v1/namespaces/default/pods"),
        (PODS, None, "/api/v1/pods"),
        (NODES, "default", "/api/v1/nodes"),
        (DEPLOYMENTS, "ns1", "/apis/apps/v1/namespaces/ns1/deployments"),
    ],
    ids=["namespaced", "all-namespaces", "cluster-scoped", "group"],
)
def test_collection_path(resource: Any, namespace: str | None, path: str) -> None:
    assert collection_path(resource, namespace) == path


# --- reads and writes -------------------------------------------------------------------------


async def test_create_get_update_patch_delete(client: ApiClient) -> None:
    created = await client.create(CONFIGMAPS, "default", configmap("a", k="1"))
    assert (await client.get(CONFIGMAPS, "default", "a"))["data"] == {"k": "1"}
    created["data"] = {"k": "2"}
    updated = await client.update(CONFIGMAPS, "default", created)
    assert updated["data"] == {"k": "2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    patched = await client.patch(CONFIGMAPS, "default", "a", {"data": {"x": "y"}})
    assert patched["data"] == {"k": "2", "x": "y"}
    await client.delete(CONFIGMAPS, "default", "a")
    with pytest.raises(NotFoundError):
        await client.get(CONFIGMAPS, "default", "a")


async def test_status_writes_and_bind(client: ApiClient) -> None:
    created = await client.create(PODS, "default", pod("p"))
    created["status"] = {"phase": "Running"}
    assert (await client.update_status(PODS, "default", created))["status"]["phase"] == "Running"
    patched = await client.patch(
        PODS, "default", "p", {"status": {"phase": "Succeeded"}}, status=True
    )
    assert patched["status"]["phase"] == "Succeeded"
    await client.bind("default", "p", "node-1")
    assert (await client.get(PODS, "default", "p"))["spec"]["nodeName"] == "node-1"


async def test_delete_with_preconditions(client: ApiClient) -> None:
    created = await client.create(CONFIGMAPS, "default", configmap("a"))
    with pytest.raises(ConflictError):
        await client.delete(CONFIGMAPS, "default", "a", preconditions={"resourceVersion": "1"})
    rv = created["metadata"]["resourceVersion"]
    await client.delete(CONFIGMAPS, "default", "a", preconditions={"resourceVersion": rv})


async def _not_found(client: ApiClient) -> None:
    await client.get(CONFIGMAPS, "default", "missing")


async def _already_exists(client: ApiClient) -> None:
    await client.create(CONFIGMAPS, "default", configmap("twice"))
    await client.create(CONFIGMAPS, "default", configmap("twice"))


async def _stale_update(client: ApiClient) -> None:
    created = await client.create(CONFIGMAPS, "default", configmap("stale"))
    await client.update(CONFIGMAPS, "default", {**created, "data": {"a": "1"}})
    await client.update(CONFIGMAPS, "default", {**created, "data": {"a": "2"}})


async def _invalid(client: ApiClient) -> None:
    await client.create(CONFIGMAPS, "default", configmap("Not_A_Name"))


@pytest.mark.parametrize(
    ("action", "error_type"),
    [
        (_not_found, NotFoundError),
        (_already_exists, AlreadyExistsError),
        (_stale_update, ConflictError),
        (_invalid, InvalidError),
    ],
    ids=["not-found", "already-exists", "conflict", "invalid"],
)
async def test_typed_errors(client: ApiClient, action: Any, error_type: type[Exception]) -> None:
    with pytest.raises(error_type):
        await action(client)


async def test_invalid_carries_causes(client: ApiClient) -> None:
    with pytest.raises(InvalidError) as caught:
        await _invalid(client)
    causes = caught.value.status()["details"]["causes"]
    assert [cause["field"] for cause in causes] == ["metadata.name"]


async def test_list_pages_and_selectors(client: ApiClient) -> None:
    for index in range(5):
        obj = configmap(f"cm-{index}")
        obj["metadata"]["labels"] = {"even": str(index % 2 == 0).lower()}
        await client.create(CONFIGMAPS, "default", obj)
    seen, token = [], ""
    for _ in range(5):
        page = await client.list(CONFIGMAPS, "default", limit=2, continue_token=token)
        seen += [item["metadata"]["name"] for item in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert seen == [f"cm-{i}" for i in range(5)]
    even = await client.list(CONFIGMAPS, None, label_selector="even=true")
    assert [item["metadata"]["name"] for item in even["items"]] == ["cm-0", "cm-2", "cm-4"]


# --- watches ----------------------------------------------------------------------------------


async def test_watch_from_resource_version(client: ApiClient) -> None:
    first = await client.create(CONFIGMAPS, "default", configmap("a"))
    await client.create(CONFIGMAPS, "default", configmap("b"))
    await client.delete(CONFIGMAPS, "default", "a")
    since = first["metadata"]["resourceVersion"]
    events = client.watch(CONFIGMAPS, "default", resource_version=since)
    assert names(await collect(events, 2)) == [("ADDED", "b"), ("DELETED", "a")]
    await events.aclose()  # type: ignore[attr-defined]


async def test_watch_from_now_lists_current_state_then_changes(client: ApiClient) -> None:
    await client.create(CONFIGMAPS, "default", configmap("a"))
    events = client.watch(CONFIGMAPS, "default")
    assert names(await collect(events, 1)) == [("ADDED", "a")]
    await client.create(CONFIGMAPS, "default", configmap("b"))
    assert names(await collect(events, 1)) == [("ADDED", "b")]
    await events.aclose()  # type: ignore[attr-defined]


async def test_watch_ends_at_timeout_with_a_bookmark(client: ApiClient) -> None:
    created = await client.create(CONFIGMAPS, "default", configmap("a"))
    rv = created["metadata"]["resourceVersion"]
    async with asyncio.timeout(TIMEOUT_S):
        events = [
            e
            async for e in client.watch(
                CONFIGMAPS, "default", resource_version=rv, timeout_seconds=1
            )
        ]
    assert [e.type for e in events] == ["BOOKMARK"]
    assert int(events[0].resource_version) >= int(rv)


async def test_watch_of_compacted_history_is_expired() -> None:
    storage = MemStorage()
    for index in range(3):
        await storage.put(f"/registry/configmaps/default/old-{index}", b"{}")
    await storage.compact(storage.revision)
    async with inprocess_api(storage) as endpoint, ApiClient([endpoint], call_timeout_s=5) as api:
        with pytest.raises(ExpiredError):
            async with asyncio.timeout(TIMEOUT_S):
                async for _ in api.watch(CONFIGMAPS, "default", resource_version="2"):
                    pass


# --- failover ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def replicas(
    count: int,
) -> AsyncIterator[tuple[list[Endpoint], list[contextlib.AsyncExitStack]]]:
    """`count` servers over one storage; each on its own stack so a test can stop it."""
    storage = MemStorage()
    stacks = [contextlib.AsyncExitStack() for _ in range(count)]
    try:
        endpoints = [await stack.enter_async_context(inprocess_api(storage)) for stack in stacks]
        yield endpoints, stacks
    finally:
        for stack in stacks:
            await stack.aclose()


async def test_calls_move_to_the_next_server_when_the_first_stops() -> None:
    async with replicas(2) as (endpoints, stacks), ApiClient(endpoints, call_timeout_s=5) as api:
        await api.create(CONFIGMAPS, "default", configmap("a"))
        await stacks[0].aclose()
        assert (await api.get(CONFIGMAPS, "default", "a"))["metadata"]["name"] == "a"
        # A create is not idempotent, but the stopped server's channel never connects,
        # so the request certainly never left: it goes to the second server.
        await api.create(CONFIGMAPS, "default", configmap("b"))
        listed = await api.list(CONFIGMAPS, "default")
        assert [item["metadata"]["name"] for item in listed["items"]] == ["a", "b"]


async def test_non_idempotent_call_to_a_dead_endpoint_fails_over_before_sending() -> None:
    async with replicas(2) as (endpoints, stacks):
        await stacks[0].aclose()
        async with ApiClient(endpoints, call_timeout_s=5) as api:
            created = await api.create(CONFIGMAPS, "default", configmap("a"))
            assert created["metadata"]["name"] == "a"


async def test_watch_resumes_on_another_server_without_gap_or_duplicate() -> None:
    async with replicas(2) as (endpoints, stacks), ApiClient(endpoints, call_timeout_s=5) as api:
        start = await api.create(CONFIGMAPS, "default", configmap("a"))
        rv = start["metadata"]["resourceVersion"]
        events = api.watch(CONFIGMAPS, "default", resource_version=rv)
        await api.create(CONFIGMAPS, "default", configmap("b"))
        assert names(await collect(events, 1)) == [("ADDED", "b")]
        await stacks[0].aclose()
        await api.create(CONFIGMAPS, "default", configmap("c"))
        await api.delete(CONFIGMAPS, "default", "b")
        assert names(await collect(events, 2)) == [("ADDED", "c"), ("DELETED", "b")]
        await events.aclose()  # type: ignore[attr-defined]


async def test_every_server_down_is_service_unavailable_within_the_deadline() -> None:
    async with replicas(2) as (endpoints, stacks):
        for stack in stacks:
            await stack.aclose()
        async with ApiClient(endpoints, call_timeout_s=1) as api:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ServiceUnavailableError):
                await api.get(CONFIGMAPS, "default", "a")
            with pytest.raises(ServiceUnavailableError):
                async for _ in api.watch(CONFIGMAPS, "default", resource_version="1"):
                    pass
            assert loop.time() - started < 2 * (1 + 2.0) + 1, "deadline (+ connect time) exceeded"


# --- kubeconfig -------------------------------------------------------------------------------

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def kubeconfig(
    clusters: list[tuple[str, str, str | None]],
    current_cluster: str,
    token: str | None = None,
    **cluster_extra: Any,
) -> JsonObject:
    def cluster(server: str, grpc: str | None) -> JsonObject:
        body: JsonObject = {"server": server, **cluster_extra}
        if grpc:
            body["extensions"] = [{"name": "kubelite", "extension": {"grpc": grpc}}]
        return body

    user: JsonObject = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": cluster(s, g)} for n, s, g in clusters],
        "contexts": [
            {
                "name": "ctx",
                "context": {"cluster": current_cluster, "user": "u", "namespace": "ns1"},
            }
        ],
        "current-context": "ctx",
        "users": [{"name": "u", "user": user}],
    }


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            kubeconfig([("one", "http://127.0.0.1:1", "127.0.0.1:2")], "one"),
            ClientConfig((Endpoint("http://127.0.0.1:1", "127.0.0.1:2"),), None, "ns1"),
        ),
        (
            kubeconfig(
                [("a", "http://h:1", "h:2"), ("b", "http://h:3/", "h:4")], "b", token="s3cret"
            ),
            ClientConfig(
                (Endpoint("http://h:3", "h:4"), Endpoint("http://h:1", "h:2")), "s3cret", "ns1"
            ),
        ),
        (
            kubeconfig([("a", "http://h:1", None), ("b", "http://h:3", "h:4")], "a"),
            ClientConfig((Endpoint("http://h:3", "h:4"),), None, "ns1"),
        ),
        (
            kubeconfig(
                [("tls", "https://h:1", "h:2")],
                "tls",
                **{"certificate-authority-data": base64.b64encode(CA_PEM).decode()},
            ),
            ClientConfig((Endpoint("https://h:1", "h:2", CA_PEM),), None, "ns1"),
        ),
        (
            kubeconfig(
                [("tls", "https://h:1", "h:2")], "tls", None, **{"insecure-skip-tls-verify": True}
            ),
            ClientConfig((Endpoint("https://h:1", "h:2", None, True),), None, "ns1"),
        ),
    ],
    ids=["one-cluster", "current-first-and-token", "skip-without-grpc", "ca-data", "insecure"],
)
def test_parse_kubeconfig(document: JsonObject, expected: ClientConfig) -> None:
    assert parse_kubeconfig(document) == expected
    assert parse_kubeconfig(document).token == expected.token


@pytest.mark.parametrize(
    "document",
    [
        kubeconfig([("a", "http://h:1", None)], "a"),
        {"clusters": "nope"},
    ],
    ids=["no-grpc-extension", "clusters-not-a-list"],
)
def test_parse_kubeconfig_errors(document: JsonObject) -> None:
    with pytest.raises(KubeconfigError):
        parse_kubeconfig(document)


@pytest.mark.parametrize("dump", [json.dumps, yaml.safe_dump], ids=["json", "yaml"])
def test_load_kubeconfig_file(tmp_path: Path, dump: Any) -> None:
    path = tmp_path / "config"
    path.write_text(dump(kubeconfig([("a", "http://h:1", "h:2")], "a", token="t")))
    assert load_kubeconfig(path) == ClientConfig((Endpoint("http://h:1", "h:2"),), "t", "ns1")


def test_endpoints_file(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"url": "http://127.0.0.1:1", "grpc": "127.0.0.1:2"}))
    assert Endpoint.from_endpoints_file(path) == Endpoint("http://127.0.0.1:1", "127.0.0.1:2")


async def test_client_from_kubeconfig_talks_to_the_server(tmp_path: Path) -> None:
    async with inprocess_api() as endpoint:
        document = kubeconfig([("a", endpoint.rest_url, endpoint.grpc_target)], "a", token="t")
        path = tmp_path / "config"
        path.write_text(yaml.safe_dump(document))
        async with ApiClient.from_kubeconfig(path) as api:
            namespaces = await api.list(NODES)
            assert namespaces["items"] == []
