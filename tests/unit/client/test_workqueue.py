"""The work queue: dedup, in-flight exclusion, delays and client-go's rate limiters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.client.fake import FakeClock
from kubelite.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    WorkQueue,
)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 0.005, id="first"),
        pytest.param(1, 0.01, id="second"),
        pytest.param(10, 0.005 * 1024, id="eleventh"),
        pytest.param(17, 655.36, id="near-cap"),
        pytest.param(18, 1000.0, id="capped"),
        pytest.param(5000, 1000.0, id="no-overflow"),
    ],
)
def test_item_exponential_backoff(failures: int, expected: float) -> None:
    limiter = ItemExponentialFailureRateLimiter()
    for _ in range(failures):
        limiter.when("k")
    assert limiter.when("k") == pytest.approx(expected)
    assert limiter.num_requeues("k") == failures + 1
    assert limiter.when("other") == 0.005
    limiter.forget("k")
    assert (limiter.num_requeues("k"), limiter.when("k")) == (0, 0.005)


@pytest.mark.parametrize(
    ("qps", "burst", "calls", "expected_last"),
    [
        pytest.param(10, 100, 100, 0.0, id="within-burst"),
        pytest.param(10, 100, 101, 0.1, id="first-beyond-burst"),
        pytest.param(10, 100, 105, 0.5, id="spread-1/qps"),
        pytest.param(1, 1, 3, 2.0, id="tiny-bucket"),
    ],
)
def test_bucket(qps: float, burst: int, calls: int, expected_last: float) -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps, burst, now=clock.now)
    delays = [limiter.when(i) for i in range(calls)]
    assert delays[-1] == pytest.approx(expected_last)


def test_bucket_refills_with_time() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(10, 2, now=clock.now)
    assert [limiter.when("a") for _ in range(3)] == pytest.approx([0, 0, 0.1])
    clock.advance(10)  # refills to the burst, no more
    assert [limiter.when("a") for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_max_of_limiters_takes_the_longest() -> None:
    clock = FakeClock()
    limiter = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000), BucketRateLimiter(10, 1, now=clock.now)
    )
    assert limiter.when("a") == 0.005  # bucket has a token, backoff wins
    assert limiter.when("b") == pytest.approx(0.1)  # bucket empty, it wins
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


async def until(condition: Callable[[], bool], describe: str) -> None:
    """Yield to other tasks until `condition` holds (no time passes: the clock is fake)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"still waiting for {describe}")


def queue() -> tuple[WorkQueue[str], FakeClock]:
    clock = FakeClock()
    return WorkQueue(clock), clock


async def get_now(q: WorkQueue[str]) -> str | None:
    async with asyncio.timeout(5):
        return await q.get()


async def test_add_deduplicates() -> None:
    q, _ = queue()
    for key in ["a", "b", "a", "a"]:
        q.add(key)
    assert len(q) == 2
    assert [await get_now(q), await get_now(q)] == ["a", "b"]
    assert len(q) == 0


async def test_key_in_flight_is_not_handed_out_again_until_done() -> None:
    q, _ = queue()
    q.add("a")
    assert await get_now(q) == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0  # dirty, not queued: no second worker may take it
    q.done("a")
    assert len(q) == 1
    assert await get_now(q) == "a"
    q.done("a")
    assert len(q) == 0


async def test_blocked_getter_wakes_on_add() -> None:
    q, _ = queue()
    getter = asyncio.ensure_future(get_now(q))
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("a")
    assert await getter == "a"


async def test_add_after_waits_for_the_clock() -> None:
    q, clock = queue()
    q.add_after("a", 2.0)
    q.add_after("a", 5.0)  # the earlier time wins
    getter = asyncio.ensure_future(get_now(q))
    await until(lambda: clock.sleepers == 1, "the getter to sleep until the key is due")
    clock.advance(1.9)
    assert len(q) == 0 and not getter.done()
    clock.advance(0.1)
    assert await getter == "a"


async def test_add_rate_limited_backs_off_and_forget_resets() -> None:
    q, clock = queue()
    for _ in range(3):
        q.add_rate_limited("a")  # 5 ms, then 10 ms and 20 ms asked; the earliest wins
    assert q.num_requeues("a") == 3
    clock.advance(0.004)
    assert len(q) == 0
    clock.advance(0.001)
    assert len(q) == 1
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_releases_getters_and_refuses_adds() -> None:
    q, _ = queue()
    q.add("a")
    q.shutdown()
    q.add("b")
    q.add_after("c", 1)
    assert await get_now(q) == "a"  # queued keys still go out
    assert await get_now(q) is None
    assert q.shutting_down


async def test_shutdown_releases_a_blocked_getter() -> None:
    q, _ = queue()
    getter = asyncio.ensure_future(get_now(q))
    await asyncio.sleep(0)
    q.shutdown()
    assert await getter is None


async def test_shutdown_with_drain_waits_for_workers() -> None:
    q, _ = queue()
    q.add("a")
    key = await get_now(q)
    drain = asyncio.ensure_future(q.shutdown_with_drain())
    await until(lambda: q.shutting_down, "the drain to start")
    assert not drain.done()
    assert key is not None
    q.done(key)
    async with asyncio.timeout(5):
        await drain


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, str]]:
    keys = st.sampled_from(["a", "b", "c"])
    op = st.sampled_from(["add", "get", "done", "rate", "tick"])
    return draw(st.lists(st.tuples(op, keys), max_size=60))


@given(operations())
def test_property_single_holder_and_no_lost_adds(ops: list[tuple[str, str]]) -> None:
    """Against a naive reference: a key added after its last hand-out is handed out again."""

    async def run() -> None:
        q, clock = queue()
        held: set[str] = set()  # keys some simulated worker holds
        owed: set[str] = set()  # keys added since they were last handed out
        for op, key in ops:
            if op == "add":
                q.add(key)
                owed.add(key)
            elif op == "rate":
                q.add_rate_limited(key)
                owed.add(key)
            elif op == "tick":
                clock.advance(0.5)
            elif op == "get" and len(q):
                got = await get_now(q)
                assert got is not None and got not in held
                held.add(got)
                owed.discard(got)
            elif op == "done" and key in held:
                held.discard(key)
                q.done(key)
        for key in list(held):
            q.done(key)
        clock.advance(10_000)
        while len(q):
            got = await get_now(q)
            assert got is not None
            owed.discard(got)
            q.done(got)
        assert owed == set()

    asyncio.run(run())


@given(
    st.lists(st.sampled_from("abcd"), min_size=1, max_size=40),
    st.lists(st.integers(0, 3), min_size=1, max_size=20),
)
def test_property_concurrent_workers(adds: list[str], yields: list[int]) -> None:
    """Real tasks: no key is ever held by two workers, and every add is processed after."""

    async def run() -> None:
        q, _ = queue()
        holding: set[str] = set()
        processed_after: dict[str, int] = {}
        added_at: dict[str, int] = {}
        step = 0

        async def worker(index: int) -> None:
            nonlocal step
            while (key := await q.get()) is not None:
                assert key not in holding, f"{key} handed to two workers"
                holding.add(key)
                started = step
                for _ in range(yields[(index + step) % len(yields)]):
                    await asyncio.sleep(0)
                holding.discard(key)
                processed_after[key] = started
                q.done(key)

        workers = [asyncio.ensure_future(worker(i)) for i in range(3)]
        for key in adds:
            step += 1
            added_at[key] = step
            q.add(key)
            await asyncio.sleep(0)
        async with asyncio.timeout(5):
            while len(q) or holding:
                await asyncio.sleep(0)
            await q.shutdown_with_drain()
            await asyncio.gather(*workers)
        for key, when in added_at.items():
            assert processed_after.get(key, -1) >= when, key

    asyncio.run(run())
