"""The one way tests wait: poll a condition until it holds or a deadline passes.

    wait_for(lambda: member.is_serving(), timeout=30,
             describe=lambda: f"member {name} serving")

On timeout it raises `WaitTimeout` (an AssertionError, so pytest shows it as a test failure)
carrying the description and the last value or exception the condition produced, e.g.

    timed out after 30.0s waiting for: member s2 serving
      last exception: StatusCode.UNAVAILABLE: failed to connect to all addresses

A condition that knows waiting is pointless (the process it waits for has exited) raises
`WaitAborted`; that propagates at once instead of being retried.

`wait_for_async` is the same for conditions on state an event loop changes (a watch cache, an
informer, a queue): it polls on the loop, so the tasks that make the condition true keep
running between polls.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline."""


class WaitAborted(Exception):
    """Raised by a condition to stop waiting immediately; never retried."""


def _text(describe: str | Callable[[], str]) -> str:
    if callable(describe):
        try:
            return describe()
        except Exception as exc:  # noqa: BLE001 - the description must never hide the timeout
            return f"<describe() failed: {exc!r}>"
    return describe


def wait_for(
    condition: Callable[[], T],
    timeout: float,
    describe: str | Callable[[], str],
    interval: float = 0.02,
) -> T:
    """Return the first truthy value of `condition()`; exceptions count as "not yet".

    Bounded both in time (`timeout` seconds) and in the number of polls.
    """
    deadline = time.monotonic() + timeout
    max_polls = math.ceil(timeout / interval) + 1
    last_value: object = None
    last_error: BaseException | None = None
    for _ in range(max_polls):
        try:
            value = condition()
        except WaitAborted:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing condition is a state to report
            last_error = exc
        else:
            if value:
                return value
            last_value, last_error = value, None
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)  # the poll interval; this helper is the only place tests pause
    last = (
        f"last exception: {type(last_error).__name__}: {last_error}"
        if last_error is not None
        else f"last value: {last_value!r}"
    )
    raise WaitTimeout(f"timed out after {timeout}s waiting for: {_text(describe)}\n  {last}")


async def wait_for_async(
    condition: Callable[[], T],
    timeout: float,
    describe: str | Callable[[], str],
    interval: float = 0.001,
) -> T:
    """`wait_for` on the running event loop: the first truthy value of `condition()`."""
    deadline = time.monotonic() + timeout
    last: object = None
    for _ in range(math.ceil(timeout / interval) + 1):
        try:
            value = condition()
        except WaitAborted:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing condition is a state to report
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)  # the poll interval, yielding to the tasks under test
    raise WaitTimeout(
        f"timed out after {timeout}s waiting for: {_text(describe)}\n  last: {last!r}"
    )
