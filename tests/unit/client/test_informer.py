"""The informer against the in-memory FakeClient: sync, delivery, re-list, resume, indexes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from support.wait import wait_for_async

from kubelite.api.errors import ServiceUnavailableError
from kubelite.client.cache import object_key
from kubelite.client.fake import FakeClient
from kubelite.client.informer import Informer
from kubelite.client.interface import PODS


def pod(name: str, node: str = "", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }


class Recorder:
    """Handlers that only record, as real handlers only enqueue."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.mutation_errors: list[TypeError] = []

    def on_add(self, obj: Mapping[str, Any]) -> None:
        self.events.append(("add", object_key(obj)))

    def on_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.events.append(("update", object_key(new)))

    def on_delete(self, obj: Mapping[str, Any]) -> None:
        self.events.append(("delete", object_key(obj)))

    def attach(self, informer: Informer) -> None:
        informer.add_handlers(on_add=self.on_add, on_update=self.on_update,
                              on_delete=self.on_delete)  # fmt: skip


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


async def wait_until(condition: Callable[[], bool], what: Callable[[], object]) -> None:
    """Wait for `condition` for up to 2 s; fail showing the last state."""
    await wait_for_async(condition, 2.0, lambda: f"condition; last state: {what()}")


def list_calls(client: FakeClient) -> int:
    return sum(1 for action in client.actions if action.verb == "list")


def watch_calls(client: FakeClient) -> int:
    return sum(1 for action in client.actions if action.verb == "watch")


@pytest.fixture
def client() -> FakeClient:
    return FakeClient([pod(f"p{i}", node="n1" if i % 2 else "n2") for i in range(5)])


def informer_for(client: FakeClient, **kwargs: Any) -> Informer:
    kwargs.setdefault("sleep", no_sleep)
    return Informer(client, PODS, page_size=2, **kwargs)


@pytest.fixture
async def started(client: FakeClient) -> AsyncIterator[tuple[Informer, Recorder]]:
    informer = informer_for(
        client, indexers={"nodeName": lambda obj: [obj["spec"].get("nodeName", "")]}
    )
    recorder = Recorder()
    recorder.attach(informer)
    async with informer:
        assert await informer.wait_for_sync(timeout=2)
        await wait_until(lambda: watch_calls(client) == 1, lambda: client.actions)
        yield informer, recorder


async def test_initial_sync_lists_in_pages(
    client: FakeClient, started: tuple[Informer, Recorder]
) -> None:
    informer, recorder = started
    assert informer.has_synced
    assert sorted(informer.indexer.keys()) == [f"default/p{i}" for i in range(5)]
    assert list_calls(client) == 3  # 5 pods, pages of 2
    assert sorted(recorder.events) == [("add", f"default/p{i}") for i in range(5)]
    assert informer.last_resource_version == client.resource_version


async def test_watch_events_reach_cache_and_handlers(
    client: FakeClient, started: tuple[Informer, Recorder]
) -> None:
    informer, recorder = started
    recorder.events.clear()
    await client.create(PODS, "default", pod("new"))
    await client.patch(PODS, "default", "p0", {"spec": {"nodeName": "n9"}})
    await client.delete(PODS, "default", "p1")
    expected = [("add", "default/new"), ("update", "default/p0"), ("delete", "default/p1")]
    await wait_until(lambda: recorder.events == expected, lambda: recorder.events)
    assert "default/p1" not in informer.indexer
    assert informer.indexer.index_keys("nodeName", "n9") == ["default/p0"]
    assert informer.last_resource_version == client.resource_version


async def test_expired_watch_relists_and_delivers_the_differences(
    client: FakeClient, started: tuple[Informer, Recorder]
) -> None:
    informer, recorder = started
    recorder.events.clear()
    # No await yields between these writes, so the watch sees none of them before the
    # compaction: it must get 410 and re-list.
    await client.delete(PODS, "default", "p0")
    await client.create(PODS, "default", pod("late"))
    await client.patch(PODS, "default", "p2", {"spec": {"nodeName": "n7"}})
    client.compact(int(client.resource_version))
    expected = {("delete", "default/p0"), ("add", "default/late"), ("update", "default/p2")}
    await wait_until(lambda: set(recorder.events) == expected, lambda: recorder.events)
    assert len(recorder.events) == 3
    assert list_calls(client) == 3 + 3  # one fresh list, in pages again
    assert sorted(informer.indexer.keys()) == sorted(
        f"default/{name}" for name in ("p1", "p2", "p3", "p4", "late")
    )
    assert informer.indexer.index_keys("nodeName", "n7") == ["default/p2"]


async def test_clean_stream_end_resumes_without_relist_or_duplicates(
    client: FakeClient, started: tuple[Informer, Recorder]
) -> None:
    _, recorder = started
    recorder.events.clear()
    client.break_watches()
    await wait_until(lambda: watch_calls(client) == 2, lambda: client.actions)
    await client.create(PODS, "default", pod("after"))
    await wait_until(lambda: recorder.events == [("add", "default/after")], lambda: recorder.events)
    assert list_calls(client) == 3  # resumed from the last resourceVersion, no re-list


async def test_broken_stream_relists_without_duplicates(
    client: FakeClient, started: tuple[Informer, Recorder]
) -> None:
    _, recorder = started
    recorder.events.clear()
    client.break_watches(ServiceUnavailableError("connection reset"))
    await wait_until(lambda: watch_calls(client) == 2, lambda: client.actions)
    assert list_calls(client) == 6  # a second (paged) list
    assert recorder.events == []  # nothing changed, so nothing is delivered again
    await client.delete(PODS, "default", "p3")
    await wait_until(lambda: recorder.events == [("delete", "default/p3")], lambda: recorder.events)


async def test_repeated_failures_back_off(client: FakeClient) -> None:
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    for _ in range(3):
        client.fail_next("list", ServiceUnavailableError("no API server"))
    informer = informer_for(client, sleep=record_sleep, backoff=lambda failures: failures * 1.5)
    async with informer:
        assert await informer.wait_for_sync(timeout=2)
    assert delays == [1.5, 3.0, 4.5]
    assert informer.failures == 0


async def test_wait_for_sync_times_out_while_lists_fail(client: FakeClient) -> None:
    for _ in range(1000):
        client.fail_next("list", ServiceUnavailableError("no API server"))
    informer = informer_for(client, backoff=lambda failures: 1.0)
    async with informer:
        assert not await informer.wait_for_sync(timeout=0.05)
        assert not informer.has_synced


async def test_handlers_get_read_only_objects(
    client: FakeClient, started: tuple[Informer, Recorder]
) -> None:
    informer, _ = started
    errors: list[Exception] = []

    def mutate(obj: Mapping[str, Any]) -> None:
        try:
            obj["spec"]["nodeName"] = "hijacked"  # type: ignore[index]
        except TypeError as error:
            errors.append(error)

    informer.add_handlers(on_add=mutate)  # a late handler gets the cached objects as adds
    assert len(errors) == 5
    for cached in informer.indexer.list():
        assert cached["spec"]["nodeName"] != "hijacked"


async def test_custom_index_queries(client: FakeClient, started: tuple[Informer, Recorder]) -> None:
    informer, _ = started
    on = informer.indexer.index_keys
    assert on("nodeName", "n1") == ["default/p1", "default/p3"]
    assert on("nodeName", "n2") == ["default/p0", "default/p2", "default/p4"]
    await client.create(PODS, "kube-system", pod("dns", node="n1", namespace="kube-system"))
    await wait_until(lambda: len(on("nodeName", "n1")) == 3, lambda: on("nodeName", "n1"))
    assert on("namespace", "kube-system") == ["kube-system/dns"]


async def test_a_failing_handler_does_not_stop_the_informer(client: FakeClient) -> None:
    informer = informer_for(client)
    recorder = Recorder()

    def broken(obj: Mapping[str, Any]) -> None:
        raise RuntimeError("handler bug")

    informer.add_handlers(on_add=broken)
    recorder.attach(informer)
    async with informer:
        assert await informer.wait_for_sync(timeout=2)
        await client.create(PODS, "default", pod("more"))
        await wait_until(lambda: ("add", "default/more") in recorder.events,
                         lambda: recorder.events)  # fmt: skip


async def test_resync_redelivers_cached_objects_as_updates(client: FakeClient) -> None:
    informer = Informer(client, PODS, resync_period=0.01)
    recorder = Recorder()
    recorder.attach(informer)
    async with informer:
        assert await informer.wait_for_sync(timeout=2)
        resynced = lambda: {k for kind, k in recorder.events if kind == "update"}  # noqa: E731
        await wait_until(lambda: len(resynced()) == 5, lambda: recorder.events)


async def test_namespace_and_selector_scope(client: FakeClient) -> None:
    await client.create(PODS, "other", pod("elsewhere", namespace="other"))
    informer = informer_for(client, field_selector="spec.nodeName=n1")
    async with informer:
        assert await informer.wait_for_sync(timeout=2)
        assert sorted(informer.indexer.keys()) == ["default/p1", "default/p3"]
    scoped = Informer(client, PODS, "other")
    async with scoped:
        assert await scoped.wait_for_sync(timeout=2)
        assert scoped.indexer.keys() == ["other/elsewhere"]
