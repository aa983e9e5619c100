"""EventRecorder: Events written in the background, repeats aggregated, errors never raised."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.api.errors import GroupResource, NotFoundError, ServiceUnavailableError
from kubelite.client.events import NORMAL, WARNING, EventRecorder
from kubelite.client.fake import FakeClient
from kubelite.client.interface import EVENTS, NODES, PODS

START = datetime(2024, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def setup(**kwargs: Any) -> tuple[FakeClient, EventRecorder, Clock, dict[str, Any]]:
    client = FakeClient()
    pod = await client.create(PODS, "default", {"metadata": {"name": "web-0"}})
    client.clear_actions()
    clock = Clock()
    return client, EventRecorder(client, "kubelet", "node-1", now=clock, **kwargs), clock, pod


async def events(client: FakeClient) -> list[dict[str, Any]]:
    return list((await client.list(EVENTS))["items"])


async def test_event_has_the_upstream_shape() -> None:
    client, recorder, _, pod = await setup()
    recorder.event(pod, WARNING, "BackOff", "Back-off restarting failed container")
    await recorder.close()
    [event] = await events(client)
    assert event["metadata"]["name"] == f"web-0.{int(START.timestamp()) * 10**9:x}"
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "web-0",
        "uid": pod["metadata"]["uid"],
        "apiVersion": "v1",
        "resourceVersion": pod["metadata"]["resourceVersion"],
    }
    assert event["source"] == {"component": "kubelet", "host": "node-1"}
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "BackOff", 1)
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-01-01T00:00:00Z"
    assert (event["reportingComponent"], event["reportingInstance"]) == ("kubelet", "node-1")


async def test_cluster_scoped_object_events_go_to_default() -> None:
    client, recorder, _, _ = await setup()
    node = await client.create(NODES, None, {"metadata": {"name": "n1"}})
    recorder.event(node, NORMAL, "NodeReady", "Node n1 status is now: NodeReady")
    await recorder.close()
    [event] = await events(client)
    assert event["metadata"]["namespace"] == "default"
    assert "namespace" not in event["involvedObject"]


@pytest.mark.parametrize(
    ("second", "later", "expected_counts"),
    [
        pytest.param((NORMAL, "Pulled", "done"), 5, [2], id="repeat-aggregates"),
        pytest.param((NORMAL, "Pulled", "other message"), 5, [1, 1], id="other-message"),
        pytest.param((NORMAL, "Started", "done"), 5, [1, 1], id="other-reason"),
        pytest.param((WARNING, "Pulled", "done"), 5, [1, 1], id="other-type"),
        pytest.param((NORMAL, "Pulled", "done"), 600, [2], id="window-edge"),
        pytest.param((NORMAL, "Pulled", "done"), 601, [1, 1], id="outside-window"),
    ],
)
async def test_aggregation(
    second: tuple[str, str, str], later: int, expected_counts: list[int]
) -> None:
    client, recorder, clock, pod = await setup()
    recorder.event(pod, NORMAL, "Pulled", "done")
    clock.now = START + timedelta(seconds=later)  # the time is taken when event() is called
    recorder.event(pod, *second)
    await recorder.close()
    assert sorted(e["count"] for e in await events(client)) == expected_counts


async def test_repeats_patch_count_and_last_timestamp() -> None:
    client, recorder, clock, pod = await setup()
    recorder.event(pod, NORMAL, "Pulled", "done")
    clock.now = START + timedelta(seconds=30)
    for _ in range(3):
        recorder.event(pod, NORMAL, "Pulled", "done")
    await recorder.close()
    [event] = await events(client)
    assert event["count"] == 4
    assert event["lastTimestamp"] == "2024-01-01T00:00:30Z"
    assert event["firstTimestamp"] == "2024-01-01T00:00:00Z"
    assert [a.verb for a in client.writes()] == ["create", "patch", "patch", "patch"]


async def test_aggregated_event_deleted_meanwhile_is_created_again() -> None:
    client, recorder, _, pod = await setup()
    recorder.event(pod, NORMAL, "Pulled", "done")
    await asyncio.wait_for(recorder._queue.join(), 5)
    [event] = await events(client)
    await client.delete(EVENTS, "default", event["metadata"]["name"])
    recorder.event(pod, NORMAL, "Pulled", "done")
    await recorder.close()
    [again] = await events(client)
    assert again["count"] == 1 and again["metadata"]["name"] != event["metadata"]["name"]


async def test_write_errors_are_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    client, recorder, _, pod = await setup()
    client.fail_next("create", ServiceUnavailableError("no API server answered"))
    recorder.event(pod, NORMAL, "First", "lost")
    recorder.event(pod, NORMAL, "Second", "kept")
    await recorder.close()
    assert [e["reason"] for e in await events(client)] == ["Second"]
    assert recorder.dropped == 1
    assert "no API server answered" in caplog.text


async def test_full_queue_drops_without_blocking_or_raising() -> None:
    client, recorder, _, pod = await setup(queue_size=2)
    for index in range(5):  # the writer cannot run before we await
        recorder.event(pod, NORMAL, f"R{index}", "m")
    assert recorder.dropped == 3
    await recorder.close()
    assert sorted(e["reason"] for e in await events(client)) == ["R0", "R1"]


async def test_events_after_close_are_dropped() -> None:
    client, recorder, _, pod = await setup()
    await recorder.close()
    recorder.event(pod, NORMAL, "Late", "m")
    assert recorder.dropped == 1
    assert await events(client) == []


async def test_cache_is_bounded() -> None:
    client, recorder, _, pod = await setup(cache_size=2)
    for reason in ["A", "B", "C", "A"]:  # A was evicted by C: a new Event, not a patch
        recorder.event(pod, NORMAL, reason, "m")
    await recorder.close()
    assert sorted(e["reason"] for e in await events(client)) == ["A", "A", "B", "C"]


async def test_not_found_on_patch_starts_a_new_event() -> None:
    client, recorder, _, pod = await setup()
    recorder.event(pod, NORMAL, "Pulled", "done")
    client.fail_next("patch", NotFoundError(GroupResource("", "events"), "web-0.x"))
    recorder.event(pod, NORMAL, "Pulled", "done")
    await recorder.close()
    assert len(await events(client)) == 2
