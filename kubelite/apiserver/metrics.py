"""Prometheus metrics of one API server, and the storage wrapper that times store calls.

Each API server owns one `ApiMetrics` (its own `CollectorRegistry`, no module-level state),
rendered at ``/metrics``. Names follow upstream where one exists:

- ``apiserver_request_total{verb,resource,code}`` and
  ``apiserver_request_duration_seconds{verb,resource}`` (watch requests are counted, not timed);
- ``apiserver_registered_watchers{resource}``: open watchers, read from the caches when scraped;
- ``kubelite_store_request_duration_seconds{operation}``: every call the registry and the
  watch caches make to the store, through `InstrumentedStorage`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kubelite.apiserver.storage import ListPage, Storage, StoredItem, WatchBatch

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The collectors of one API server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "apiserver_request_total",
            "API requests by verb, resource and HTTP code.",
            ["verb", "resource", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "apiserver_request_duration_seconds",
            "API request latency (non-streaming requests).",
            ["verb", "resource"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.watchers = Gauge(
            "apiserver_registered_watchers",
            "Open watchers per resource.",
            ["resource"],
            registry=self.registry,
        )
        self.store_latency = Histogram(
            "kubelite_store_request_duration_seconds",
            "Latency of calls to the store, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._watcher_counts: Callable[[], Mapping[str, int]] = dict

    def count_watchers_with(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._watcher_counts = counts

    def observe(self, verb: str, resource: str, code: int, seconds: float | None) -> None:
        self.requests.labels(verb, resource, str(code)).inc()
        if seconds is not None:
            self.latency.labels(verb, resource).observe(seconds)

    def render(self) -> bytes:
        for resource, count in self._watcher_counts().items():
            self.watchers.labels(resource).set(count)
        return generate_latest(self.registry)


class InstrumentedStorage:
    """A `Storage` that records the latency of every call to the one it wraps."""

    def __init__(self, inner: Storage, metrics: ApiMetrics) -> None:
        self.inner = inner
        self._histogram = metrics.store_latency

    def _observe(self, operation: str, started: float) -> None:
        self._histogram.labels(operation).observe(time.perf_counter() - started)

    async def get(self, key: str) -> StoredItem | None:
        started = time.perf_counter()
        try:
            return await self.inner.get(key)
        finally:
            self._observe("get", started)

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListPage:
        started = time.perf_counter()
        try:
            return await self.inner.list(
                prefix, start_key=start_key, limit=limit, revision=revision
            )
        finally:
            self._observe("list", started)

    async def create(self, key: str, value: bytes) -> int:
        started = time.perf_counter()
        try:
            return await self.inner.create(key, value)
        finally:
            self._observe("create", started)

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        started = time.perf_counter()
        try:
            return await self.inner.update(key, value, expected_mod_revision)
        finally:
            self._observe("update", started)

    async def delete(self, key: str, expected_mod_revision: int) -> int:
        started = time.perf_counter()
        try:
            return await self.inner.delete(key, expected_mod_revision)
        finally:
            self._observe("delete", started)

    async def current_revision(self) -> int:
        started = time.perf_counter()
        try:
            return await self.inner.current_revision()
        finally:
            self._observe("current_revision", started)

    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[WatchBatch]:
        return self.inner.watch(prefix, start_revision)

    async def close(self) -> None:
        await self.inner.close()
