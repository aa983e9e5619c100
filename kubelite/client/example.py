"""`ConfigMapMirror`: an example controller built only from the client parts, and a guide.

What it does: in one namespace, for every ConfigMap labelled ``mirror=yes`` keep a ConfigMap
``<name>-mirror`` (labelled ``mirror-of=<name>``) with the same ``data``; delete a mirror whose
source is gone or no longer labelled. A ConfigMap called ``<name>-mirror`` without that label is
someone else's and is left alone.

How to write a controller with these parts (client-go's sample-controller shape):

1. **One informer per kind** (`Informer`) fills a local cache (`Indexer`) and calls handlers.
2. **Handlers only enqueue a key** on a `WorkQueue` — the key of the object the controller
   owns the decision for (here the *source*; a mirror event enqueues its source's key). They
   never look at what changed: the event only says "look at this key again".
3. **Workers** take a key, call `sync(key)`, then ``forget`` it on success or
   ``add_rate_limited`` it on error (retried with backoff), and always ``done``.
4. **`sync(key)` is idempotent and level-triggered**: it reads the *current* cached state,
   computes the difference to the desired state with a pure function (`plan_mirror`), and
   makes at most one write. Running it twice, or for a key that needs nothing, writes nothing.
5. **Never mutate cached objects** (they are frozen): build new dicts or `thaw` a copy.
   Writes carry the cached resourceVersion, so a stale cache gets a 409 and a retry.
6. **Missed events are healed by resync**: with ``resync_period`` the informer re-delivers
   every cached object, and a re-list after a broken watch delivers the differences, so a
   key lost on the way is enqueued again.
7. **Start workers only after the cache has synced** (`wait_for_sync`).

A sketch::

    class MyController:
        def __init__(self, client, namespace):
            self.informer = Informer(client, CONFIGMAPS, namespace, resync_period=30)
            self.queue = WorkQueue[str]()
            self.informer.add_handlers(on_add=self.enqueue, on_delete=self.enqueue,
                                       on_update=lambda old, new: self.enqueue(new))
        def enqueue(self, obj): self.queue.add(object_key(obj))
        async def sync(self, key):
            obj = self.informer.indexer.get(key)        # current state, frozen
            ...                                         # pure plan -> at most one write
        async def run(self, workers=2):
            async with self.informer:
                await self.informer.wait_for_sync(timeout=30)
                await asyncio.gather(*(self.worker() for _ in range(workers)))

Unit tests pre-fill a `FakeClient` and the informer's indexer, call `sync(key)` directly and
assert on ``client.writes()`` (see ``tests/unit/client/test_example_controller.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.api.errors import NotFoundError
from kubelite.client.cache import object_key, split_key
from kubelite.client.informer import Informer, Sleep
from kubelite.client.interface import CONFIGMAPS, Client
from kubelite.client.workqueue import WorkQueue

log = logging.getLogger(__name__)

SOURCE_LABEL = "mirror"
SOURCE_VALUE = "yes"
MIRROR_OF_LABEL = "mirror-of"
MIRROR_SUFFIX = "-mirror"


def mirror_name(source_name: str) -> str:
    return f"{source_name}{MIRROR_SUFFIX}"


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def is_source(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and _labels(obj).get(SOURCE_LABEL) == SOURCE_VALUE


def mirrored_source(obj: Mapping[str, Any] | None) -> str | None:
    """The source name a mirror we own points to; None for anything else."""
    if obj is None:
        return None
    source = _labels(obj).get(MIRROR_OF_LABEL)
    return source if source and obj["metadata"]["name"] == mirror_name(source) else None


def source_key_of(obj: Mapping[str, Any]) -> str:
    """The key `sync` works on for an event about `obj`: its own, or its source's."""
    source = mirrored_source(obj)
    if source is None:
        return object_key(obj)
    return object_key({"metadata": {"namespace": obj["metadata"].get("namespace"), "name": source}})


@dataclass(frozen=True)
class MirrorPlan:
    """The one write `sync` makes: verb ``create``/``update``/``delete``, or ``none``."""

    verb: str
    body: dict[str, Any] | None = None


def desired_mirror(source: Mapping[str, Any]) -> dict[str, Any]:
    metadata = source["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": mirror_name(metadata["name"]),
            "namespace": metadata.get("namespace"),
            "labels": {MIRROR_OF_LABEL: metadata["name"]},
        },
        "data": dict(source.get("data") or {}),
    }


def plan_mirror(
    source_name: str, source: Mapping[str, Any] | None, mirror: Mapping[str, Any] | None
) -> MirrorPlan:
    """Pure: what to do about one source name given the cached source and mirror."""
    ours = mirror is not None and mirrored_source(mirror) == source_name
    if mirror is not None and not ours:
        return MirrorPlan("none")  # a foreign object with our name: never touch it
    if not is_source(source):
        return MirrorPlan("delete") if ours else MirrorPlan("none")
    assert source is not None
    want = desired_mirror(source)
    if mirror is None:
        return MirrorPlan("create", want)
    if dict(mirror.get("data") or {}) == want["data"]:
        return MirrorPlan("none")
    metadata = {**mirror["metadata"], "labels": {**_labels(mirror), **want["metadata"]["labels"]}}
    return MirrorPlan("update", {**want, "metadata": metadata})


class ConfigMapMirror:
    """The controller: one informer, one queue, workers calling `sync` (module docstring)."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        *,
        resync_period: float | None = 30.0,
        queue: WorkQueue[str] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.informer = Informer(
            client, CONFIGMAPS, namespace, resync_period=resync_period, sleep=sleep
        )
        self.queue: WorkQueue[str] = queue or WorkQueue[str]()
        self.informer.add_handlers(
            on_add=self.enqueue,
            on_update=lambda _old, new: self.enqueue(new),
            on_delete=self.enqueue,
        )

    def enqueue(self, obj: Mapping[str, Any]) -> None:
        self.queue.add(source_key_of(obj))

    async def sync(self, key: str) -> None:
        """Make the mirror of source `key` match the cache's current state; idempotent."""
        namespace, name = split_key(key)
        indexer = self.informer.indexer
        mirror_key = object_key({"metadata": {"namespace": namespace, "name": mirror_name(name)}})
        mirror = indexer.get(mirror_key)
        plan = plan_mirror(name, indexer.get(key), mirror)
        if plan.verb == "create":
            await self._client.create(CONFIGMAPS, namespace, plan.body or {})
        elif plan.verb == "update":
            await self._client.update(CONFIGMAPS, namespace, plan.body or {})
        elif plan.verb == "delete":
            assert mirror is not None
            uid = mirror["metadata"].get("uid")
            with contextlib.suppress(NotFoundError):  # already gone: the desired state
                await self._client.delete(
                    CONFIGMAPS, namespace, mirror_name(name),
                    preconditions={"uid": uid} if uid else None,
                )  # fmt: skip

    async def process_next(self) -> bool:
        """One worker step: take a key, sync it, retry it later on error. False on shutdown."""
        key = await self.queue.get()
        if key is None:
            return False
        try:
            await self.sync(key)
        except Exception:  # every failure is logged and retried with backoff
            log.warning("sync %s failed; retrying", key, exc_info=True)
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
        finally:
            self.queue.done(key)
        return True

    async def worker(self) -> None:
        while await self.process_next():
            pass

    async def run(self, workers: int = 2, sync_timeout: float = 30.0) -> None:
        """Run until cancelled: informer first, workers once its cache has synced."""
        async with self.informer:
            if not await self.informer.wait_for_sync(timeout=sync_timeout):
                raise RuntimeError(f"configmaps cache of {self.namespace} did not sync")
            tasks = [asyncio.create_task(self.worker()) for _ in range(workers)]
            try:
                await asyncio.gather(*tasks)
            finally:
                self.queue.shutdown()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
