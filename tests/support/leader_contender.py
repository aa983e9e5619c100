"""One leader-election contender as a process, for tests/integration/test_client_runtime.py.

    python tests/support/leader_contender.py IDENTITY NAMESPACE LEASE ENDPOINTS_FILE...

Runs `LeaderElector.run` with short timings (lease 3 s, renew 2 s, retry 0.5 s) on an
`ApiClient` over the given API servers and prints one line per transition, with the wall time
(all contenders run on one machine, so their lines can be merged and ordered)::

    LEADING c1 1718000000.123456
    STOPPED c1 1718000004.654321

SIGTERM cancels `run`, which stops leading and releases the Lease, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from kubelite.client.api import ApiClient
from kubelite.client.config import Endpoint
from kubelite.client.leaderelection import LeaderElector

LEASE_DURATION_S = 3.0
RENEW_DEADLINE_S = 2.0
RETRY_PERIOD_S = 0.5


def say(what: str, identity: str) -> None:
    print(f"{what} {identity} {time.time():.6f}", flush=True)


async def contend(identity: str, namespace: str, lease: str, endpoints: list[Endpoint]) -> None:
    async with ApiClient(endpoints, call_timeout_s=RENEW_DEADLINE_S) as client:
        elector = LeaderElector(
            client, namespace, lease, identity,
            lease_duration=LEASE_DURATION_S, renew_deadline=RENEW_DEADLINE_S,
            retry_period=RETRY_PERIOD_S,
            on_started_leading=lambda: say("LEADING", identity),
            on_stopped_leading=lambda: say("STOPPED", identity),
        )  # fmt: skip
        run = asyncio.create_task(elector.run())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, run.cancel)
        say("STARTED", identity)
        try:
            await run
        except asyncio.CancelledError:
            say("EXITING", identity)


def main(argv: list[str]) -> None:
    identity, namespace, lease, *files = argv
    endpoints = [Endpoint.from_endpoints_file(Path(path)) for path in files]
    asyncio.run(contend(identity, namespace, lease, endpoints))


if __name__ == "__main__":
    main(sys.argv[1:])
