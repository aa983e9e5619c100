"""How long-running kubelite processes use CPython's cyclic garbage collector.

A full (generation 2) collection walks every tracked object and holds the GIL throughout. A
store member or an API server keeps hundreds of thousands of long-lived objects (key versions,
event history, the watch cache) and keeps adding more, so full collections came every few
seconds and stopped every thread for 100-300 ms: that was the p99 of writes, and in the store
it also delayed Raft heartbeats.

The policy (`GcPolicy.run`, an asyncio task):

* every ``freeze_every`` seconds, `gc.freeze` what is alive: the collector stops walking it,
  while reference counting still frees it the moment it is unused. A full collection then
  walks only what was created since the last freeze (tens of milliseconds, not hundreds);
* a frozen object that later becomes garbage *inside a reference cycle* is not freed. gRPC's
  server makes one such cycle per call, so every freeze catches those of the calls in flight
  (measured: about 3,500 objects in 5 minutes under load). Every ``full_every`` seconds
  (spread by ``jitter`` so that the members of a cluster, which grow alike, do not all pause
  at once) the policy unfreezes, collects everything once (0.1-0.5 s for a large heap), and
  freezes again.

`decide` is the pure part: given the clock, what to do now.
"""

from __future__ import annotations

import asyncio
import enum
import gc
import logging
import random
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Step(enum.Enum):
    FREEZE = "freeze"
    FULL = "full"


@dataclass(frozen=True)
class GcSettings:
    freeze_every: float = 10.0
    full_every: float = 3600.0
    jitter: float = 0.2  # each process collects every full_every * (1 ± jitter)


def decide(now: float, last_full_at: float, full_interval: float) -> Step:
    """Freeze, or unfreeze and collect everything (see module docstring)."""
    return Step.FULL if now - last_full_at >= full_interval else Step.FREEZE


class GcPolicy:
    """Runs the policy in the current event loop until cancelled."""

    def __init__(self, settings: GcSettings | None = None) -> None:
        self.settings = settings or GcSettings()
        self.full_collections = 0

    async def run(self) -> None:
        settings = self.settings
        spread = 1 + random.uniform(-settings.jitter, settings.jitter)
        full_interval = settings.full_every * spread
        last_full_at = time.monotonic()
        gc.freeze()
        while True:
            await asyncio.sleep(settings.freeze_every)
            now = time.monotonic()
            if decide(now, last_full_at, full_interval) is Step.FREEZE:
                gc.freeze()
                continue
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            gc.freeze()
            last_full_at = now
            self.full_collections += 1
            log.info(
                "full garbage collection: %d objects freed, %d kept, %.0f ms",
                found,
                gc.get_freeze_count(),
                (time.perf_counter() - started) * 1000,
            )
