"""`kubelite apiserver` processes for the benchmark, in front of one store cluster.

Each server is a real `python -m kubelite apiserver --etcd-servers=<all three members>
--bind-address 127.0.0.1 --port 0 --endpoints-file F`; its URL is read from F, which is deleted
before the start and never remembered across restarts. `start()` returns once every server
answers ``/readyz`` (store reachable, watch caches synced, namespaces bootstrapped).

    servers = ApiServers(cluster.endpoints, base_dir / "apiservers", count=2)
    servers.start()
    servers.urls        -> ["http://127.0.0.1:40321", "http://127.0.0.1:35117"]
    servers.rss(0)      -> resident bytes of the first server
    servers.stop()

The process handling (start, SIGTERM then SIGKILL, log tail) is `storebench.cluster.Member`'s.
"""

from __future__ import annotations

import functools
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from storebench.cluster import BenchError, Member, child_env, poll

from apibench import REPO_ROOT

READY_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 2.0
LOOPBACK = "127.0.0.1"


def process_tree(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def rss_of(pid: int) -> int:
    return sum(p.memory_info().rss for p in process_tree(pid))


def cpu_seconds_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        for proc in process_tree(pid):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def answers_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=PROBE_TIMEOUT_S) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class ApiServers:
    """Start, address, measure and stop N API servers (see the module docstring)."""

    def __init__(self, store_endpoints: list[str], base_dir: Path, count: int) -> None:
        self.base_dir = base_dir
        servers = ",".join(f"http://{endpoint}" for endpoint in store_endpoints)
        self.members = [
            Member(
                name=f"apiserver-{i}",
                ip=LOOPBACK,
                data_dir=base_dir,
                log_path=base_dir / f"apiserver-{i}.log",
                argv=[
                    *(sys.executable, "-m", "kubelite", "apiserver"),
                    *("--etcd-servers", servers, "--bind-address", LOOPBACK, "--port", "0"),
                    *("--endpoints-file", str(self._endpoints_file(i))),
                ],
            )
            for i in range(count)
        ]

    def _endpoints_file(self, index: int) -> Path:
        return self.base_dir / f"apiserver-{index}.json"

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        env = child_env()
        for i, member in enumerate(self.members):
            self._endpoints_file(i).unlink(missing_ok=True)
            member.start(env, REPO_ROOT)
        for i, member in enumerate(self.members):
            poll(functools.partial(self._ready, i), READY_TIMEOUT_S, f"{member.name} ready")

    def _ready(self, index: int) -> bool:
        member = self.members[index]
        if not member.is_running():
            raise BenchError(f"{member.name} exited while starting\n{member.log_tail()}")
        url = self.url(index)
        return url is not None and answers_ready(url)

    def url(self, index: int) -> str | None:
        try:
            published = json.loads(self._endpoints_file(index).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return str(published["url"])

    def grpc_target(self, index: int) -> str:
        """``host:port`` of server `index`'s gRPC service (for `kubelite.client`)."""
        return str(json.loads(self._endpoints_file(index).read_text())["grpc"])

    @property
    def urls(self) -> list[str]:
        urls = [self.url(i) for i in range(len(self.members))]
        if None in urls:
            raise BenchError("an API server has not published its URL")
        return [u for u in urls if u is not None]

    @property
    def pids(self) -> list[int]:
        return [m.pid for m in self.members if m.is_running()]

    def rss(self, index: int) -> int:
        return rss_of(self.members[index].pid)

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def kill_all(self) -> None:
        for member in self.members:
            member.kill()

    def logs(self) -> str:
        return "\n".join(m.log_tail() for m in self.members)
