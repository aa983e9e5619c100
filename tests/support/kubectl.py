"""Real `kubectl` against the test API servers: one discovery cache per module, an explicit
kubeconfig, a ``--request-timeout`` on every command and a subprocess timeout."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.apiservers import ApiServers
from support.procs import child_env

REQUEST_TIMEOUT = "--request-timeout=20s"
SUBPROCESS_TIMEOUT_S = 60


@dataclass(frozen=True)
class Kubectl:
    """Runs `kubectl` against one of the API servers; `server` picks which (default 0)."""

    servers: ApiServers
    cache_dir: Path

    def env(self, server: int = 0) -> dict[str, str]:
        return child_env(
            {
                "KUBECONFIG": str(self.servers.kubeconfig(server)),
                "KUBECACHEDIR": str(self.cache_dir),
            }
        )

    def run(
        self, *args: str, stdin: str | None = None, server: int = 0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args, REQUEST_TIMEOUT],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(server),
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )

    def __call__(self, *args: str, stdin: str | None = None, server: int = 0) -> str:
        """stdout of a command that must succeed."""
        done = self.run(*args, stdin=stdin, server=server)
        if done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        """stderr of a command that must fail."""
        done = self.run(*args, stdin=stdin)
        if done.returncode == 0:
            raise AssertionError(f"kubectl {' '.join(args)} succeeded:\n{done.stdout}")
        return done.stderr

    def json(self, *args: str, server: int = 0) -> Any:
        return json.loads(self(*args, "-o", "json", server=server))

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The finished run of a command that must succeed (for its stderr too)."""
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done
