"""The max-in-flight limits of one API server process, shared by its REST and gRPC listeners.

Upstream's ``--max-requests-inflight`` (read-only, 400) and
``--max-mutating-requests-inflight`` (200): one request over a limit is refused at once with
429 TooManyRequests and ``Retry-After: 1``. Long-running requests (watches, followed logs)
are not counted. One `InflightLimiter` per process, so a client cannot double its share by
using both listeners::

    with server.inflight.admit(read_only=True):
        ...  # serve the request
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from kubelite.api.errors import TooManyRequestsError

TOO_MANY_REQUESTS: Final = "Too many requests, please try again later."


@dataclass(frozen=True)
class Limits:
    max_requests_inflight: int = 400
    max_mutating_requests_inflight: int = 200


class InflightLimiter:
    """Counts the requests being served, read-only and mutating apart (module docstring)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._inflight = {True: 0, False: 0}

    def current(self, *, read_only: bool) -> int:
        return self._inflight[read_only]

    @contextlib.contextmanager
    def admit(self, *, read_only: bool) -> Iterator[None]:
        limit = (
            self.limits.max_requests_inflight
            if read_only
            else self.limits.max_mutating_requests_inflight
        )
        if self._inflight[read_only] >= limit:
            raise TooManyRequestsError(TOO_MANY_REQUESTS, retry_after_seconds=1)
        self._inflight[read_only] += 1
        try:
            yield
        finally:
            self._inflight[read_only] -= 1
