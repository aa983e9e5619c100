"""A tiny process supervisor for `kubelite up`: start children, restart the ones that die.

Runs detached as ``python -m kubelite.cli.supervisor <cluster-dir>``. It reads the process
table that `kubelite up` wrote (``<dir>/processes.json``: name -> argv), starts each with its
log in ``<dir>/logs/<name>.log``, restarts a child that exits with a capped exponential backoff,
and on SIGTERM stops every child (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 10.0
MAX_BACKOFF = 10.0


@dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    backoff: float = 0.5
    restart_at: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()


def supervise(cluster_dir: Path) -> None:
    table: dict[str, list[str]] = json.loads((cluster_dir / "processes.json").read_text())
    (cluster_dir / "logs").mkdir(exist_ok=True)
    children = [Child(n, argv, cluster_dir / "logs" / f"{n}.log") for n, argv in table.items()]
    stopping = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    for child in children:
        child.start()
    while not stopping:
        now = time.monotonic()
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                if now - child.started_at > 30:
                    child.backoff = 0.5
                child.restart_at = now + child.backoff
                child.backoff = min(child.backoff * 2, MAX_BACKOFF)
                child.process = None
            if child.process is None and now >= child.restart_at:
                child.start()
        time.sleep(0.2)
    _stop_all(children)


def _stop_all(children: list[Child]) -> None:
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    supervise(Path(sys.argv[1]))
