"""The parent side of the load generator: a few long-lived `storebench.worker` processes.

The same pool drives both stores, so both see the same client. A run spreads `clients` over
the workers, prepares every worker (channels connected), starts them together, optionally
calls `during(pool)` while the load runs (the leader-kill measurement does its work there),
and collects one result per worker.

    with WorkerPool(3, log_dir) as pool:
        results = pool.run(spec_for_worker, clients=50)
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from storebench import BENCH_DIR, REPO_ROOT
from storebench.cluster import BenchError, child_env
from storebench.worker import LoadSpec

READY_TIMEOUT_S = 60.0
RESULT_GRACE_S = 60.0
EXIT_TIMEOUT_S = 10.0


class Worker:
    """One load-generator process speaking JSON lines; `module` is what it runs
    (``storebench.worker`` here, ``apibench.worker`` for the API-server bench)."""

    def __init__(self, index: int, log_path: Path, module: str = "storebench.worker") -> None:
        env = child_env()
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BENCH_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.index = index
        self.log = log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=BENCH_DIR,
            start_new_session=True,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.popen.stdout is not None
        threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True).start()

    def _read(self, stdout: IO[bytes]) -> None:
        for line in stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write((json.dumps(message) + "\n").encode())
        self.popen.stdin.flush()

    def expect(self, key: str, timeout: float) -> Any:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"load worker {self.index}: no {key!r} within {timeout}s") from None
        if message is None or key not in message:
            raise BenchError(
                f"load worker {self.index} ended or answered {message!r}; see {self.log.name}"
            )
        return message[key]

    def close(self, at_once: bool = False) -> None:
        """Ask the worker to exit (kill it when `at_once`, or when it does not go)."""
        if self.popen.poll() is None and at_once:
            self.popen.kill()
            self.popen.wait(timeout=EXIT_TIMEOUT_S)
        if self.popen.poll() is None:
            try:
                self.send({"cmd": "exit"})
                self.popen.wait(timeout=EXIT_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                self.popen.kill()
                self.popen.wait(timeout=EXIT_TIMEOUT_S)
        self.log.close()


def split_clients(clients: int, workers: int) -> list[tuple[int, int]]:
    """(first global client index, client count) per worker that gets any clients."""
    shares = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
    offsets = [sum(shares[:i]) for i in range(workers)]
    return [(offset, share) for offset, share in zip(offsets, shares, strict=True) if share]


class WorkerPool:
    def __init__(self, size: int, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.workers = [Worker(i, log_dir / f"worker{i}.log") for i in range(size)]
        self.active: list[Worker] = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.close()

    def broadcast(self, message: dict[str, Any]) -> None:
        for worker in self.active:
            worker.send(message)

    def run(
        self,
        spec_for: Callable[[int, int], LoadSpec],
        clients: int,
        during: Callable[[WorkerPool], None] | None = None,
    ) -> list[dict[str, Any]]:
        """`spec_for(first_client, client_count)` gives each worker's spec; one result each."""
        shares = split_clients(clients, len(self.workers))
        specs = [spec_for(offset, count) for offset, count in shares]
        self.active = self.workers[: len(specs)]
        for worker, spec in zip(self.active, specs, strict=True):
            worker.send({"cmd": "prepare", "spec": asdict(spec)})
        for worker in self.active:
            worker.expect("ready", READY_TIMEOUT_S)
        self.broadcast({"cmd": "go"})
        if during is not None:
            try:
                during(self)
            except BaseException:
                self.broadcast({"cmd": "stop"})  # end the load, then drop its results
                for worker in self.active:
                    worker.expect("result", RESULT_GRACE_S)
                raise
        limit = max(s.warmup_s + s.duration_s for s in specs) + RESULT_GRACE_S
        return [worker.expect("result", limit) for worker in self.active]
