"""The example `ConfigMapMirror` controller, sample-controller style: pre-fill, `sync`, check.

The cache is filled from the same objects as the `FakeClient`, `sync(key)` is called directly,
and the assertions are on the writes the fake recorded. Duplicate events (sync twice) write
nothing the second time; a missed event is healed by the informer's resync.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.wait import wait_for_async

from kubelite.client.example import ConfigMapMirror, MirrorPlan, plan_mirror, source_key_of
from kubelite.client.fake import Action, FakeClient

NS = "apps"


def configmap(
    name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
        "data": data or {},
    }


def source(name: str, **data: str) -> dict[str, Any]:
    return configmap(name, data, {"mirror": "yes"})


def mirror(source_name: str, **data: str) -> dict[str, Any]:
    return configmap(f"{source_name}-mirror", data, {"mirror-of": source_name})


def controller_with(*objects: dict[str, Any]) -> tuple[FakeClient, ConfigMapMirror]:
    """A fake client holding `objects` and a controller whose cache holds the same."""
    client = FakeClient()
    controller = ConfigMapMirror(client, NS, resync_period=None)
    for obj in objects:
        controller.informer.indexer.add(client.add_object(obj))
    return client, controller


async def refill_cache(client: FakeClient, controller: ConfigMapMirror) -> None:
    """What the informer would do after the writes: the cache equals the store again."""
    page = await client.list(controller.informer.resource, NS)
    controller.informer.indexer.replace(page["items"], page["metadata"]["resourceVersion"])
    client.clear_actions()


SYNC_CASES = [
    pytest.param([source("a", k="v")], "apps/a",
                 [Action("create", "configmaps", NS, "a-mirror")], id="new-source-creates"),
    pytest.param([source("a", k="new"), mirror("a", k="old")], "apps/a",
                 [Action("update", "configmaps", NS, "a-mirror")], id="changed-data-updates"),
    pytest.param([source("a", k="v"), mirror("a", k="v")], "apps/a", [], id="in-sync-no-op"),
    pytest.param([mirror("a", k="v")], "apps/a",
                 [Action("delete", "configmaps", NS, "a-mirror")], id="source-gone-deletes"),
    pytest.param([configmap("a", {"k": "v"}), mirror("a", k="v")], "apps/a",
                 [Action("delete", "configmaps", NS, "a-mirror")], id="label-removed-deletes"),
    pytest.param([configmap("a", {"k": "v"})], "apps/a", [], id="unlabelled-ignored"),
    pytest.param([source("a", k="v"), configmap("a-mirror", {"x": "y"})], "apps/a", [],
                 id="foreign-namesake-untouched"),
    pytest.param([], "apps/a", [], id="nothing-at-all"),
]  # fmt: skip


@pytest.mark.parametrize(("objects", "key", "writes"), SYNC_CASES)
async def test_sync_writes_exactly_the_difference(
    objects: list[dict[str, Any]], key: str, writes: list[Action]
) -> None:
    client, controller = controller_with(*objects)
    await controller.sync(key)
    assert client.writes() == writes


@pytest.mark.parametrize(("objects", "key", "writes"), SYNC_CASES)
async def test_sync_twice_is_a_no_op_the_second_time(
    objects: list[dict[str, Any]], key: str, writes: list[Action]
) -> None:
    client, controller = controller_with(*objects)
    await controller.sync(key)
    await refill_cache(client, controller)
    await controller.sync(key)
    assert client.writes() == []


async def test_mirror_gets_the_source_data() -> None:
    client, controller = controller_with(source("a", k="v2", other="x"), mirror("a", k="v1"))
    await controller.sync("apps/a")
    stored = await client.get(controller.informer.resource, NS, "a-mirror")
    assert stored["data"] == {"k": "v2", "other": "x"}
    assert stored["metadata"]["labels"] == {"mirror-of": "a"}


async def test_cached_objects_are_not_mutated() -> None:
    _, controller = controller_with(source("a", k="new"), mirror("a", k="old"))
    before = controller.informer.indexer.get("apps/a-mirror")
    await controller.sync("apps/a")
    assert controller.informer.indexer.get("apps/a-mirror") == before


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        pytest.param(source("a"), "apps/a", id="source-is-its-own-key"),
        pytest.param(mirror("a"), "apps/a", id="mirror-maps-to-source"),
        pytest.param(configmap("b-mirror"), "apps/b-mirror", id="foreign-is-its-own-key"),
    ],
)
def test_events_enqueue_the_source_key(obj: dict[str, Any], key: str) -> None:
    assert source_key_of(obj) == key


def test_plan_update_keeps_the_mirror_resource_version() -> None:
    cached = {**mirror("a", k="old"), "metadata": {**mirror("a")["metadata"],
                                                   "resourceVersion": "7"}}  # fmt: skip
    plan = plan_mirror("a", source("a", k="new"), cached)
    assert plan.verb == "update" and plan.body is not None
    assert plan.body["metadata"]["resourceVersion"] == "7"
    assert plan_mirror("a", None, None) == MirrorPlan("none")


async def test_failed_sync_is_requeued_with_backoff() -> None:
    client, controller = controller_with(source("a", k="v"))
    client.fail_next("create", RuntimeError("boom"))
    controller.queue.add("apps/a")
    assert await controller.process_next()
    assert controller.queue.num_requeues("apps/a") == 1


async def test_missed_delete_is_healed_by_resync() -> None:
    """The source's DELETED event is lost (its key never reaches a worker); resync fixes it."""
    client = FakeClient([source("a", k="v"), mirror("a", k="v")])
    ticks: asyncio.Queue[None] = asyncio.Queue()

    async def resync_sleep(_seconds: float) -> None:
        await ticks.get()  # one resync per tick the test gives

    controller = ConfigMapMirror(client, NS, resync_period=60.0, sleep=resync_sleep)
    async with controller.informer:
        assert await controller.informer.wait_for_sync(timeout=2)
        await client.delete(controller.informer.resource, NS, "a")
        await wait_for_async(
            lambda: "apps/a" not in controller.informer.indexer, 2.0, "the source leaves the cache"
        )
        while len(controller.queue):  # the missed event: keys dropped without a sync
            key = await controller.queue.get()
            assert key is not None
            controller.queue.done(key)
        assert await client.get(controller.informer.resource, NS, "a-mirror")
        client.clear_actions()

        ticks.put_nowait(None)
        await wait_for_async(lambda: len(controller.queue), 2.0, "the resync enqueues keys")
        assert await controller.process_next()
    assert client.writes() == [Action("delete", "configmaps", NS, "a-mirror")]
