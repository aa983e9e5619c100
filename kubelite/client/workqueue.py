"""client-go's rate-limited work queue for asyncio, and the rate limiters it uses.

Event handlers `add` keys; workers `get` one, sync it, then call `done`. The queue owns three
guarantees a controller relies on:

- a key is queued once however many times it is added before a worker takes it (``dirty``);
- a key a worker holds (``processing``) is never handed to a second worker: added meanwhile it
  is only marked dirty, and `done` queues it again;
- `add_rate_limited` delays a key by the `max` of a per-item exponential backoff (5 ms doubling
  to 1000 s) and an overall token bucket (10 qps, burst 100) — client-go's
  ``DefaultControllerRateLimiter``; `forget` resets the item's backoff once it synced.

A worker, sample-controller style::

    while (key := await queue.get()) is not None:
        try:
            await sync(key)
        except Exception:
            queue.add_rate_limited(key)   # retried later, with backoff
        else:
            queue.forget(key)
        finally:
            queue.done(key)

Time comes from a `Clock` (``now`` and ``sleep``), so tests use ``kubelite.client.fake.FakeClock``
and never sleep. Delayed keys wait in a heap until due; `get` and `len` move due keys onto the
queue first, so a test can advance a fake clock and see the key at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class Clock(Protocol):
    """Monotonic seconds, and a way to wait for them to pass."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# --- rate limiters (pure: time is an argument or an injected function) -----------------------


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds to wait before `item` is retried; records one more failure."""
        ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures`` per item, capped at `max_delay` (client-go's same name)."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        if exponent >= 1000:  # 2.0**1024 overflows; the cap was reached long before
            return self.max_delay
        return min(self.base_delay * 2.0**exponent, self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket (``golang.org/x/time/rate`` reservations): `qps`, `burst`.

    Each `when` takes a token; once the bucket is empty a caller waits for the token that
    will have refilled by then, so N calls beyond the burst are spread ``1/qps`` apart.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, now: Callable[[], float]) -> None:
        self.qps = qps
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._last = now()

    def when(self, item: Hashable) -> float:
        now = self._now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any of `limiters` asks for (client-go's ``MaxOfRateLimiter``)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(
    clock: Clock,
    *,
    base_delay: float = 0.005,
    max_delay: float = 1000.0,
    qps: float = 10.0,
    burst: int = 100,
) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: per-item backoff, max'ed with a bucket."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base_delay, max_delay),
        BucketRateLimiter(qps, burst, now=clock.now),
    )


# --- the queue -------------------------------------------------------------------------------


class WorkQueue(Generic[K]):
    """The rate-limited, de-duplicating work queue (see the module docstring)."""

    def __init__(self, clock: Clock | None = None, rate_limiter: RateLimiter | None = None) -> None:
        self._clock: Clock = clock or MonotonicClock()
        self._limiter = rate_limiter or default_controller_rate_limiter(self._clock)
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}  # key -> when it is due (the earliest asked for)
        self._heap: list[tuple[float, int, K]] = []  # entries not in _waiting are stale
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._shutting_down = False

    def add(self, key: K) -> None:
        """Queue `key` unless it is already queued; if a worker holds it, queue it after `done`."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wake()

    def add_after(self, key: K, delay: float) -> None:
        """`add` once `delay` seconds have passed; a key waiting already keeps the earlier time."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock.now() + delay
        if key in self._waiting and self._waiting[key] <= due:
            return
        self._waiting[key] = due
        heapq.heappush(self._heap, (due, next(self._sequence), key))
        self._wake()  # a getter may have to wait for an earlier time now

    def add_rate_limited(self, key: K) -> None:
        """`add_after` the delay the rate limiter gives for one more failure of `key`."""
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset `key`'s backoff (call after it synced; it does not remove a queued key)."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    async def get(self) -> K | None:
        """The next key, now held by the caller until `done`; None once shut down and empty."""
        while True:
            self._move_due()
            if self._queue:
                key = self._queue.popleft()
                self._processing.add(key)
                self._dirty.discard(key)
                return key
            if self._shutting_down:
                return None
            await self._wait_for_work()

    def done(self, key: K) -> None:
        """The worker finished `key`; if it was added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake()
        if not self._processing:
            self._idle.set()

    def shutdown(self) -> None:
        """Refuse new keys and release waiting getters; queued keys are still handed out."""
        self._shutting_down = True
        self._waiting.clear()
        self._heap.clear()
        self._wake()

    async def shutdown_with_drain(self) -> None:
        """`shutdown`, then wait until every key a worker holds is `done`."""
        self.shutdown()
        while self._processing:
            self._idle.clear()
            await self._idle.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (delayed keys count once due)."""
        self._move_due()
        return len(self._queue)

    # --- internals ---------------------------------------------------------------------------

    def _wake(self) -> None:
        self._wakeup.set()

    def _move_due(self) -> None:
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == due:
                del self._waiting[key]
                self.add(key)

    async def _wait_for_work(self) -> None:
        # Wait for an add/done/shutdown, or until the earliest delayed key is due.
        self._wakeup.clear()
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wakeup.wait())]
        if self._heap:
            delay = max(self._heap[0][0] - self._clock.now(), 0.0)
            waiters.append(asyncio.ensure_future(self._clock.sleep(delay)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
