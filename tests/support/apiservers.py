"""API server processes for tests: N `kubelite apiserver`s over one store cluster.

Each server binds 127.0.0.1 port 0 and reports its URL in an endpoints file; `start()` waits
until every one answers ``/readyz`` (store reachable, caches synced, namespaces bootstrapped).
`kubeconfig(index)` writes a kubeconfig for kubectl and the Python client pointing at one of
them::

    servers = ApiServers(registry, tmp_path, store_cluster.client_urls, count=2)
    servers.start()
    servers.urls            -> ["http://127.0.0.1:40321", "http://127.0.0.1:35117"]
    servers.kubeconfig(0)   -> Path to a kubeconfig for the first one
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from support.procs import ManagedProcess, ProcessRegistry, child_env
from support.wait import wait_for

READY_TIMEOUT_S = 60.0


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2.0) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ApiServers:
    """Start, stop and address a set of API servers (see the module docstring)."""

    def __init__(
        self,
        registry: ProcessRegistry,
        base_dir: Path,
        store_urls: list[str],
        count: int = 2,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.registry = registry
        self.base_dir = base_dir
        self.store_urls = store_urls
        self.count = count
        self.extra_args = extra_args
        self.processes: list[ManagedProcess] = []

    def _endpoints_file(self, index: int) -> Path:
        return self.base_dir / f"apiserver-{index}.json"

    def _argv(self, index: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kubelite",
            "apiserver",
            "--etcd-servers",
            ",".join(self.store_urls),
            "--port",
            "0",
            "--endpoints-file",
            str(self._endpoints_file(index)),
            *self.extra_args,
        ]

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            self._endpoints_file(index).unlink(missing_ok=True)
            self.processes.append(
                self.registry.spawn(
                    f"apiserver-{index}",
                    self._argv(index),
                    self.base_dir / f"apiserver-{index}.log",
                    env=child_env(),
                )
            )
        for index in range(self.count):
            self.wait_ready(index)

    def wait_ready(self, index: int) -> str:
        process = self.processes[index]

        def ready() -> str | None:
            if not process.is_running():
                raise AssertionError(f"{process.name} exited:\n{process.log_tail()}")
            url = self.url(index)
            return url if url and is_ready(url) else None

        return wait_for(
            ready, READY_TIMEOUT_S, lambda: f"{process.name} ready\n{process.log_tail(20)}"
        )

    def url(self, index: int) -> str | None:
        path = self._endpoints_file(index)
        if not path.exists():
            return None
        return str(json.loads(path.read_text())["url"])

    @property
    def urls(self) -> list[str]:
        return [url for index in range(self.count) if (url := self.url(index))]

    def restart(self, index: int) -> None:
        self.processes[index].stop()
        self._endpoints_file(index).unlink(missing_ok=True)
        self.processes[index].start()
        self.wait_ready(index)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def kubeconfig(self, index: int = 0) -> Path:
        url = self.url(index)
        assert url is not None, "the API server has not reported its URL"
        grpc = json.loads(self._endpoints_file(index).read_text())["grpc"]
        path = self.base_dir / f"kubeconfig-{index}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": url,
                        "extensions": [{"name": "kubelite", "extension": {"grpc": grpc}}],
                    },
                }
            ],
            "contexts": [
                {
                    "name": "test",
                    "context": {"cluster": "test", "user": "test", "namespace": "default"},
                }
            ],
            "current-context": "test",
            "users": [{"name": "test", "user": {}}],
        }
        path.write_text(json.dumps(config))
        return path
