"""The garbage-collector policy: when it freezes and when it collects everything."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from kubelite.gcpolicy import GcPolicy, GcSettings, Step, decide


@pytest.mark.parametrize(
    ("now", "expected"),
    [(10.0, Step.FREEZE), (309.9, Step.FREEZE), (310.0, Step.FULL), (900.0, Step.FULL)],
)
def test_decide(now: float, expected: Step) -> None:
    assert decide(now, last_full_at=10.0, full_interval=300.0) is expected


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_the_policy_freezes_and_its_full_collection_frees_frozen_cycles() -> None:
    policy = GcPolicy(GcSettings(freeze_every=0.01, full_every=0.3, jitter=0.0))
    task = asyncio.create_task(policy.run())
    try:
        garbage = [Cycle() for _ in range(1000)]
        watched = weakref.ref(garbage[0])
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        del garbage
        assert watched() is not None  # frozen in a cycle: reference counting cannot free it
        collections = policy.full_collections
        for _ in range(500):
            if policy.full_collections > collections:
                break
            await asyncio.sleep(0.01)
        assert policy.full_collections > collections
        assert watched() is None
    finally:
        task.cancel()
        gc.unfreeze()
