"""Client runtime benchmark: how fast one informer syncs and keeps up. Prints figures; not a test.

Starts our 3-member store and one `kubelite apiserver` (the same launchers as
`bench/api_bench.py`), creates N pods through `kubelite.client.ApiClient`, then measures in
this process:

- informer initial sync: seconds from `start()` to `has_synced` over N pods (paged LIST,
  500 a page), and the resident memory the informer's cache added (psutil RSS delta);
- events/s end to end: a bounded burst of pod patches is written by a second client while the
  informer's handler counts what arrives, from the first write until every write has been
  seen. This is bounded by how fast the writers go (the line says whether the informer lagged);
- events/s of the informer alone: the same `Informer` fed by an in-memory client that replays
  pre-built MODIFIED events as fast as it can take them (freeze, index, handler per event).

    python bench/client_bench.py            # 10,000 pods, 3,000 updates
    python bench/client_bench.py --quick    # 1,000 pods, 500 updates
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

from apibench.servers import ApiServers  # noqa: E402
from storebench.cluster import Cluster, KubeliteBackend  # noqa: E402

from kubelite.client.api import ApiClient  # noqa: E402
from kubelite.client.config import Endpoint  # noqa: E402
from kubelite.client.informer import Informer  # noqa: E402
from kubelite.client.interface import (  # noqa: E402
    MERGE_PATCH,
    PODS,
    JsonObject,
    WatchEvent,
)

NAMESPACE = "default"
CONCURRENCY = 64
TIME_LIMIT_S = 300.0
MB = 1024 * 1024


def pod(index: int) -> JsonObject:
    return {
        "metadata": {"name": f"bench-{index:06d}", "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }


async def run_bounded(
    jobs: list[int], work: Callable[[int], Awaitable[None]], deadline: float
) -> None:
    """Run `work(i)` for every job with CONCURRENCY tasks, stopping at `deadline`."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty() and time.monotonic() < deadline:
            await work(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def measure(endpoint: Endpoint, pods: int, updates: int) -> list[str]:
    deadline = time.monotonic() + TIME_LIMIT_S
    async with ApiClient([endpoint]) as writer:
        started = time.monotonic()

        async def create(i: int) -> None:
            await writer.create(PODS, NAMESPACE, pod(i))

        await run_bounded(list(range(pods)), create, deadline)
        created_s = time.monotonic() - started
        lines = [f"created {pods:,} pods in {created_s:.1f} s ({pods / created_s:,.0f}/s)"]

        me = psutil.Process()
        rss_before = me.memory_info().rss
        async with ApiClient([endpoint]) as reader:
            informer = Informer(reader, PODS, NAMESPACE, page_size=500)
            seen = {"events": 0}
            informer.add_handlers(
                on_update=lambda old, new: seen.__setitem__("events", seen["events"] + 1)
            )
            started = time.monotonic()
            informer.start()
            synced = await informer.wait_for_sync(TIME_LIMIT_S)
            sync_s = time.monotonic() - started
            rss_added = (me.memory_info().rss - rss_before) / MB
            lines.append(
                f"informer initial sync of {len(informer.indexer):,} pods: {sync_s:.2f} s"
                f" (synced: {synced}); cache RSS added {rss_added:.1f} MB"
            )

            async def touch(i: int) -> None:
                patch = {"metadata": {"annotations": {"bench/touch": str(i)}}}
                await writer.patch(PODS, NAMESPACE, f"bench-{i % pods:06d}", patch, MERGE_PATCH)

            started = time.monotonic()
            await run_bounded(list(range(updates)), touch, deadline)
            written_s = time.monotonic() - started
            while seen["events"] < updates and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # the measurement's own poll, bounded by the deadline
            handled_s = time.monotonic() - started
            lines.append(
                f"informer events: {seen['events']:,}/{updates:,} handled in {handled_s:.2f} s"
                f" -> {seen['events'] / handled_s:,.0f} events/s"
                f" (writes took {written_s:.2f} s: the informer kept up with the writers"
                f" {'and' if handled_s - written_s < 1.0 else 'but'} lagged"
                f" {handled_s - written_s:.2f} s at the end)"
            )
            await informer.stop()
    return lines


class ReplayClient:
    """Just enough of `Client` for an informer: a list of `pods`, then `events` MODIFIED events."""

    def __init__(self, pods: int, events: int) -> None:
        self.items = [
            {
                **pod(i),
                "metadata": {
                    **pod(i)["metadata"],
                    "namespace": NAMESPACE,
                    "resourceVersion": str(i + 1),
                },
            }
            for i in range(pods)
        ]
        self.events = events
        self.watches = 0

    async def list(self, *args: object, **kwargs: object) -> JsonObject:
        metadata = {"resourceVersion": str(len(self.items))}
        return {"kind": "PodList", "metadata": metadata, "items": self.items}

    async def watch(self, *args: object, **kwargs: object) -> AsyncIterator[WatchEvent]:
        self.watches += 1
        if self.watches > 1:
            await asyncio.Event().wait()  # one replay only; the informer is stopped meanwhile
        base = len(self.items)
        for n in range(self.events):
            item = self.items[n % len(self.items)]
            metadata = {**item["metadata"], "resourceVersion": str(base + n + 1)}
            yield WatchEvent("MODIFIED", {**item, "metadata": metadata})


async def informer_alone(pods: int, events: int) -> str:
    seen = {"events": 0}
    done = asyncio.Event()

    def count(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        seen["events"] += 1
        if seen["events"] == events:
            done.set()

    informer = Informer(ReplayClient(pods, events), PODS, NAMESPACE)  # type: ignore[arg-type]
    informer.add_handlers(on_update=count)
    started = time.monotonic()
    informer.start()
    await asyncio.wait_for(done.wait(), TIME_LIMIT_S)
    handled_s = time.monotonic() - started
    await informer.stop()
    return (
        f"informer alone (in-memory replay, {pods:,} pods listed first): {events:,} events in"
        f" {handled_s:.2f} s -> {events / handled_s:,.0f} events/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 pods and 500 updates")
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=3_000)
    args = parser.parse_args()
    pods, updates = (1_000, 500) if args.quick else (args.pods, args.updates)
    base_dir = Path(tempfile.mkdtemp(prefix="client-bench-"))
    cluster = Cluster(KubeliteBackend(), base_dir / "store")
    servers = ApiServers([], base_dir / "apiservers", count=1)
    try:
        cluster.start()
        servers = ApiServers(cluster.endpoints, base_dir / "apiservers", count=1)
        servers.start()
        endpoint = Endpoint(servers.urls[0], servers.grpc_target(0))
        lines = asyncio.run(measure(endpoint, pods, updates))
        lines.append(f"API server RSS {servers.rss(0) / MB:.1f} MB")
        lines.append(asyncio.run(informer_alone(pods, updates * 10)))
    finally:
        servers.stop()
        servers.kill_all()
        cluster.stop()
        cluster.kill_all()
    print(f"client_bench ({psutil.cpu_count()} CPUs, our 3-member store, one API server)")
    print("\n".join(f"  {line}" for line in lines))


if __name__ == "__main__":
    main()
