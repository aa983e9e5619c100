"""Child processes for tests: output to a log file, controlled and cleaned up by PID.

A `ProcessRegistry` (one per test session, from the `process_registry` fixture) starts every
long-running child a test needs. Each child writes stdout and stderr to its own log file, in
append mode, so a restarted member keeps one log with a marker line per start. When a test
fails, the `pytest_runtest_makereport` hook in `tests/conftest.py` attaches the tail of the
logs of the processes that were alive during the test to its report. At the end of the
session the registry kills whatever is still running.

Signals always go to the PID we started (never to a name pattern).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 60


@dataclass
class ManagedProcess:
    """One child process; `start()` can be called again after it has exited."""

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path | None = None
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float | None = None  # time.monotonic() of the last start
    ended_at: float | None = None  # time.monotonic() when we last saw it gone

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,  # a Ctrl-C to pytest must not hit the children first
            )
        self.started_at, self.ended_at = time.monotonic(), None

    def is_running(self) -> bool:
        if self.popen is None:
            return False
        if self.popen.poll() is None:
            return True
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        return False

    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def _signal(self, sig: signal.Signals) -> None:
        if self.is_running():
            assert self.popen is not None
            self.popen.send_signal(sig)

    def _reap(self, timeout: float) -> None:
        assert self.popen is not None
        self.popen.wait(timeout=timeout)
        self.is_running()

    def kill(self) -> None:
        """SIGKILL and reap. SIGKILL also ends a stopped (SIGSTOPped) process."""
        if self.popen is None:
            return
        self._signal(signal.SIGKILL)
        self._reap(STOP_TIMEOUT_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if not self.is_running():
            return
        self._signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
        self._signal(signal.SIGTERM)
        try:
            self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = self.log_text().splitlines()[-lines:]
        state = "running" if self.is_running() else f"exited rc={self.returncode()}"
        header = f"----- {self.name} (pid {self.pid}, {state}) log {self.log_path}"
        return "\n".join([header, *tail])

    def was_alive_since(self, since: float) -> bool:
        if self.popen is None:
            return False
        return self.is_running() or (self.ended_at is not None and self.ended_at >= since)


@dataclass
class ProcessRegistry:
    """Every long-running child of the test session; kills them all at the end."""

    processes: list[ManagedProcess] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        """Register and start a process."""
        proc = ManagedProcess(name=name, argv=argv, log_path=log_path, cwd=cwd, env=env)
        self.processes.append(proc)
        proc.start()
        return proc

    def logs_since(self, since: float) -> str:
        """Log tails of the processes alive at any point after `since` (a monotonic time)."""
        return "\n\n".join(p.log_tail() for p in self.processes if p.was_alive_since(since))

    def kill_all(self) -> None:
        for proc in self.processes:
            proc.kill()


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for children: ours without proxy settings (all traffic is loopback)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(extra or {})
    return env
