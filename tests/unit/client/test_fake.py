"""FakeClient: the in-memory Client behaves like the API server where controllers can tell."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.api.errors import (
    AlreadyExistsError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
)
from kubelite.client.fake import Action, FakeClient
from kubelite.client.interface import (
    DEPLOYMENTS,
    JSON_PATCH,
    NODES,
    PODS,
    STRATEGIC_MERGE_PATCH,
    WatchEvent,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


@pytest.fixture
def client() -> FakeClient:
    return FakeClient(now=lambda: NOW)


async def test_create_sets_server_metadata_and_bumps_resource_version(client: FakeClient) -> None:
    first = await client.create(PODS, "default", pod("a"))
    second = await client.create(PODS, "default", {"metadata": {"generateName": "web-"}})
    assert first["metadata"]["resourceVersion"] == "1"
    assert second["metadata"]["resourceVersion"] == "2"
    assert first["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert second["metadata"]["name"].startswith("web-") and len(second["metadata"]["name"]) == 9
    assert second["kind"] == "Pod" and second["apiVersion"] == "v1"
    assert client.actions == [
        ("create", "pods", "default", "a"),
        Action("create", "pods", "default", ""),
    ]


@pytest.mark.parametrize(
    ("setup", "call", "error", "message"),
    [
        pytest.param(
            [pod("a")],
            lambda c: c.create(PODS, "default", pod("a")),
            AlreadyExistsError,
            'pods "a" already exists',
            id="create-exists",
        ),
        pytest.param(
            [],
            lambda c: c.create(PODS, "default", {"metadata": {}}),
            InvalidError,
            'Pod "" is invalid: metadata.name: Required value: name or generateName is required',
            id="create-no-name",
        ),
        pytest.param(
            [],
            lambda c: c.get(DEPLOYMENTS, "default", "web"),
            NotFoundError,
            'deployments.apps "web" not found',
            id="get-missing",
        ),
        pytest.param(
            [pod("a")],
            lambda c: c.update(
                PODS, "default", {**pod("a"), "metadata": {"name": "a", "resourceVersion": "7"}}
            ),
            ConflictError,
            'Operation cannot be fulfilled on pods "a": the object has been modified; '
            "please apply your changes to the latest version and try again",
            id="update-stale",
        ),
        pytest.param(
            [pod("a")],
            lambda c: c.delete(PODS, "default", "a", preconditions={"uid": "other"}),
            ConflictError,
            'Operation cannot be fulfilled on pods "a": Precondition failed: UID in '
            "precondition: other, UID in object meta: 00000000-0000-0000-0000-000000000001",
            id="delete-uid-precondition",
        ),
        pytest.param(
            [pod("a")],
            lambda c: c.list(PODS, label_selector="a in (x"),
            BadRequestError,
            None,
            id="list-bad-selector",
        ),
        pytest.param(
            [pod("a")],
            lambda c: c.patch(
                PODS, "default", "a", [{"op": "remove", "path": "/nope"}], JSON_PATCH
            ),
            BadRequestError,
            None,
            id="patch-not-applicable",
        ),
    ],
)
async def test_errors(
    setup: list[dict[str, Any]], call: Any, error: type[Exception], message: str | None
) -> None:
    client = FakeClient(setup)
    with pytest.raises(error) as raised:
        await call(client)
    if message is not None:
        assert str(raised.value) == message


async def test_update_and_status_scopes(client: FakeClient) -> None:
    created = await client.create(PODS, "default", pod("a"))
    changed = {**created, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    updated = await client.update(PODS, "default", changed)
    assert updated["spec"] == {"nodeName": "n1"}
    assert "phase" not in (updated.get("status") or {})  # main update ignores status
    status = await client.update_status(
        PODS, "default", {**updated, "spec": {}, "status": {"phase": "Running"}}
    )
    assert status["status"] == {"phase": "Running"}
    assert status["spec"] == {"nodeName": "n1"}  # status update ignores spec
    assert status["metadata"]["resourceVersion"] == "3"
    assert [a.verb for a in client.writes()] == ["create", "update", "update_status"]


@pytest.mark.parametrize(
    ("patch", "patch_type", "expected_labels"),
    [
        pytest.param({"metadata": {"labels": {"b": "2"}}}, None, {"a": "1", "b": "2"}, id="merge"),
        pytest.param(
            {"metadata": {"labels": {"a": None}}}, STRATEGIC_MERGE_PATCH, {}, id="strategic"
        ),
        pytest.param(
            [{"op": "add", "path": "/metadata/labels/c", "value": "3"}],
            JSON_PATCH,
            {"a": "1", "c": "3"},
            id="json",
        ),
    ],
)
async def test_patch(patch: Any, patch_type: str | None, expected_labels: dict[str, str]) -> None:
    client = FakeClient([pod("x", a="1")])
    kwargs = {} if patch_type is None else {"patch_type": patch_type}
    patched = await client.patch(PODS, "default", "x", patch, **kwargs)
    assert patched["metadata"]["labels"] == expected_labels
    assert patched["metadata"]["resourceVersion"] == "2"
    assert client.actions == [("patch", "pods", "default", "x")]


async def test_patch_with_stale_resource_version_conflicts() -> None:
    client = FakeClient([pod("x")])
    with pytest.raises(ConflictError):
        await client.patch(PODS, "default", "x", {"metadata": {"resourceVersion": "9"}})


@pytest.mark.parametrize(
    ("namespace", "labels", "fields", "expected"),
    [
        pytest.param(None, "", "", ["a", "b", "c"], id="all"),
        pytest.param("default", "", "", ["a", "b"], id="namespace"),
        pytest.param(None, "app=web", "", ["a", "c"], id="label"),
        pytest.param(None, "app!=web", "", ["b"], id="label-not"),
        pytest.param(None, "", "metadata.name=b", ["b"], id="field"),
        pytest.param(None, "app=web", "metadata.namespace=other", ["c"], id="both"),
    ],
)
async def test_list_selectors(
    namespace: str | None, labels: str, fields: str, expected: list[str]
) -> None:
    client = FakeClient([pod("a", app="web"), pod("b", app="db"), pod("c", "other", app="web")])
    page = await client.list(PODS, namespace, label_selector=labels, field_selector=fields)
    assert sorted(item["metadata"]["name"] for item in page["items"]) == expected
    assert page["kind"] == "PodList"
    assert page["metadata"]["resourceVersion"] == "3"


async def test_list_pages_with_continue() -> None:
    client = FakeClient([pod(f"p{i}") for i in range(5)])
    names, token, versions = [], "", set()
    while True:
        page = await client.list(PODS, "default", limit=2, continue_token=token)
        names += [item["metadata"]["name"] for item in page["items"]]
        versions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
        await client.create(PODS, "default", pod(f"q{len(names)}"))  # later writes
    assert names[:5] == ["p0", "p1", "p2", "p3", "p4"]
    assert versions == {"5"}
    client.compact(6)
    first = await client.list(PODS, "default", limit=1)
    with pytest.raises(ExpiredError):
        client.compact(int(first["metadata"]["resourceVersion"]) + 1)
        await client.list(PODS, "default", limit=1, continue_token=first["metadata"]["continue"])


async def test_cluster_scoped_and_delete_and_bind(client: FakeClient) -> None:
    await client.create(NODES, None, {"metadata": {"name": "n1", "namespace": "x"}})
    node = await client.get(NODES, None, "n1")
    assert "namespace" not in node["metadata"]
    await client.create(PODS, "default", pod("a"))
    await client.bind("default", "a", "n1")
    bound = await client.get(PODS, "default", "a")
    assert bound["spec"]["nodeName"] == "n1"
    assert bound["status"]["conditions"][0]["type"] == "PodScheduled"
    with pytest.raises(ConflictError, match='already assigned to node "n1"'):
        await client.bind("default", "a", "n2")
    deleted = await client.delete(PODS, "default", "a", preconditions={"resourceVersion": "3"})
    assert deleted["metadata"]["resourceVersion"] == "4"
    with pytest.raises(NotFoundError):
        await client.get(PODS, "default", "a")


async def test_fail_next_injects_one_failure_and_records_the_action() -> None:
    client = FakeClient([pod("a")])
    client.fail_next("update", ServiceUnavailableError("no API server answered"))
    current = await client.get(PODS, "default", "a")
    with pytest.raises(ServiceUnavailableError):
        await client.update(PODS, "default", current)
    await client.update(PODS, "default", current)  # the next one succeeds
    assert client.writes() == [("update", "pods", "default", "a")] * 2


async def collect(stream: AsyncIterator[WatchEvent], count: int) -> list[tuple[str, str]]:
    events = []
    async with asyncio.timeout(5):
        async for event in stream:
            events.append((event.type, event.object["metadata"]["name"]))
            if len(events) == count:
                break
    return events


async def test_watch_replays_history_after_a_version_then_follows() -> None:
    client = FakeClient([pod("a"), pod("b")])  # rv 1, 2
    await client.delete(PODS, "default", "a")  # rv 3
    stream = client.watch(PODS, "default", resource_version="1")
    assert await collect(stream, 2) == [("ADDED", "b"), ("DELETED", "a")]
    later = asyncio.ensure_future(collect(stream, 1))
    await asyncio.sleep(0)  # let the watch park on the live wait
    await client.create(PODS, "default", pod("c"))
    assert await later == [("ADDED", "c")]


async def test_watch_from_empty_version_lists_first() -> None:
    client = FakeClient([pod("a"), pod("b", "other")])
    stream = client.watch(PODS, "default")
    assert await collect(stream, 1) == [("ADDED", "a")]
    patched = asyncio.ensure_future(collect(stream, 1))
    await client.patch(PODS, "default", "a", {"metadata": {"labels": {"x": "y"}}})
    assert await patched == [("MODIFIED", "a")]


async def test_watch_selector_entering_and_leaving() -> None:
    client = FakeClient([pod("a", app="web")])
    stream = client.watch(PODS, None, resource_version="1", label_selector="app=web")
    await client.patch(PODS, "default", "a", {"metadata": {"labels": {"app": "db"}}})
    await client.patch(PODS, "default", "a", {"metadata": {"labels": {"app": "web"}}})
    await client.create(PODS, "default", pod("b", app="db"))
    await client.delete(PODS, "default", "a")
    events = await collect(stream, 3)
    assert events == [("DELETED", "a"), ("ADDED", "a"), ("DELETED", "a")]


async def test_watch_deleted_carries_the_deletion_revision() -> None:
    client = FakeClient([pod("a")])
    await client.delete(PODS, "default", "a")
    async for event in client.watch(PODS, resource_version="1"):
        assert (event.type, event.resource_version) == ("DELETED", "2")
        break


async def test_watch_from_compacted_version_expires() -> None:
    client = FakeClient([pod("a"), pod("b"), pod("c")])
    client.compact(2)
    with pytest.raises(ExpiredError, match=r"too old resource version: 1 \(2\)"):
        await collect(client.watch(PODS, resource_version="1"), 1)
    assert await collect(client.watch(PODS, resource_version="2"), 1) == [("ADDED", "c")]


@pytest.mark.parametrize("error", [None, ServiceUnavailableError("gone")], ids=["end", "raise"])
async def test_break_watches_ends_open_streams(error: Exception | None) -> None:
    client = FakeClient([pod("a")])
    seen: list[str] = []

    async def consume() -> None:
        async for event in client.watch(PODS, resource_version="0"):
            seen.append(event.type)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    client.break_watches(error)
    async with asyncio.timeout(5):
        if error is None:
            await task
        else:
            with pytest.raises(ServiceUnavailableError):
                await task
    assert seen == ["ADDED"]


async def test_watch_timeout_ends_stream() -> None:
    client = FakeClient()
    async with asyncio.timeout(5):
        events = [e async for e in client.watch(PODS, resource_version="0", timeout_seconds=0)]
    assert events == []


async def test_returned_objects_are_copies() -> None:
    client = FakeClient([pod("a")])
    got = await client.get(PODS, "default", "a")
    got["metadata"]["labels"]["mutated"] = "yes"
    assert "mutated" not in (await client.get(PODS, "default", "a"))["metadata"]["labels"]
