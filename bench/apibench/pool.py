"""The parent side of the load generator: `apibench.worker` processes, one per share of clients.

Workers live for one measurement: `Workers(specs, log_dir)` starts one process per spec, sends
it its spec and waits until all are ready; leaving the `with` block ends them (SIGKILL after a
grace period), whatever happened inside.

    with Workers([spec_a, spec_b], log_dir) as workers:     # both prepared (e.g. watchers open)
        workers.broadcast({"cmd": "go"})
        results = workers.results(timeout=30)               # one result per worker
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from storebench.cluster import BenchError
from storebench.pool import Worker

from apibench.worker import CreateSpec, WatchSpec

READY_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 10.0


class Workers:
    """One worker process per spec, prepared together; see the module docstring."""

    def __init__(self, specs: Sequence[CreateSpec | WatchSpec], log_dir: Path) -> None:
        self.specs = specs
        self.log_dir = log_dir
        self.processes: list[Worker] = []
        self.ready: list[dict[str, Any]] = []

    def __enter__(self) -> Workers:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i, spec in enumerate(self.specs):
                process = Worker(i, self.log_dir / f"worker{i}.log", "apibench.worker")
                self.processes.append(process)
                mode = "watch" if isinstance(spec, WatchSpec) else "creates"
                process.send({"cmd": "prepare", "spec": {"mode": mode, **asdict(spec)}})
            self.ready = [p.expect("ready", READY_TIMEOUT_S) for p in self.processes]
        except BaseException:
            self.__exit__(BenchError)
            raise
        return self

    def __exit__(self, exc_type: object = None, *rest: object) -> None:
        """Ends every worker: asks them to exit, or kills them at once after an exception."""
        for process in self.processes:
            process.close(at_once=exc_type is not None)

    def broadcast(self, message: dict[str, Any]) -> None:
        for process in self.processes:
            process.send(message)

    def results(self, timeout: float) -> list[dict[str, Any]]:
        return [p.expect("result", timeout) for p in self.processes]

    @property
    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.processes]
