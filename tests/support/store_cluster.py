"""A 3-member (or 5-member) store cluster on loopback, shared by real etcd and kubelite.

Each member gets its own random loopback address 127.<100-250>.<0-255>.<2-254> and the
fixed peer port 2380, so no port is ever picked by binding and releasing it. If a member
cannot bind because another run holds its address, the whole cluster is thrown away and
started again on new addresses (at most `START_ATTEMPTS` times).

Lifecycle of `start()`:

    choose addresses -> spawn every member -> each member serves Maintenance.Status
    -> a Put succeeds through every member -> usable

Subclasses say how to launch a member (`_argv`) and where its client endpoint is
(`_client_endpoint`, which may change on restart). Everything else — kill -9, SIGSTOP /
SIGCONT, restart on the same data dirs, finding the leader — lives here.
"""

from __future__ import annotations

import abc
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from kubelite.pb import rpc_pb2
from support.grpc_api import EtcdStubs
from support.procs import ManagedProcess, ProcessRegistry
from support.wait import WaitAborted, wait_for

CLUSTER_SIZE = 3
PEER_PORT = 2380
START_ATTEMPTS = 5
SERVE_TIMEOUT_S = 60.0
WRITABLE_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 2.0
READY_KEY_PREFIX = b"/__test_support__/ready/"


class AddressInUse(WaitAborted):
    """A member could not bind its address; the cluster is retried on new addresses."""


def random_loopback_ips(count: int) -> list[str]:
    rng = random.SystemRandom()
    ips: set[str] = set()
    for _ in range(count * 100):
        if len(ips) == count:
            break
        ips.add(f"127.{rng.randint(100, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}")
    return sorted(ips)


@dataclass
class Member:
    name: str
    ip: str
    data_dir: Path
    process: ManagedProcess

    @property
    def peer_url(self) -> str:
        return f"http://{self.ip}:{PEER_PORT}"


class StoreCluster(abc.ABC):
    """Start, observe and disturb a cluster of `size` members; see the module docstring."""

    backend: str = ""

    def __init__(self, registry: ProcessRegistry, base_dir: Path, size: int = CLUSTER_SIZE) -> None:
        self.registry = registry
        self.base_dir = base_dir
        self.size = size
        self.token = secrets.token_hex(4)
        self.members: list[Member] = []

    # --- what a backend provides -------------------------------------------------------

    @abc.abstractmethod
    def _argv(self, member: Member, initial_cluster: str) -> list[str]:
        """The command line that starts `member`."""

    @abc.abstractmethod
    def _client_endpoint(self, member: Member) -> str | None:
        """The "host:port" where `member` serves clients, or None while not yet known."""

    def _before_start(self, member: Member) -> None:
        """Called before every start of a member (first start and restarts)."""
        return None

    def _env(self) -> dict[str, str] | None:
        return None

    def _cwd(self) -> Path | None:
        return None

    # --- observing ------------------------------------------------------------------------

    @property
    def client_endpoints(self) -> list[str]:
        """One "host:port" per member, in member order (s1, s2, s3, ...)."""
        return [self.endpoint(i) for i in range(len(self.members))]

    @property
    def client_urls(self) -> list[str]:
        return [f"http://{endpoint}" for endpoint in self.client_endpoints]

    def endpoint(self, index: int) -> str:
        endpoint = self._client_endpoint(self.members[index])
        if endpoint is None:
            raise RuntimeError(f"{self.members[index].name} has not published its endpoint")
        return endpoint

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    def status(self, index: int) -> rpc_pb2.StatusResponse:
        with EtcdStubs.connect(self.endpoint(index)) as stubs:
            return stubs.maintenance.Status(rpc_pb2.StatusRequest(), timeout=PROBE_TIMEOUT_S)

    def leader(self, timeout: float = WRITABLE_TIMEOUT_S) -> int:
        """Index of the member that running members agree is the leader."""

        def find() -> int | None:
            ids = {}
            leaders = set()
            for i, member in enumerate(self.members):
                if not member.process.is_running():
                    continue
                try:
                    status = self.status(i)
                except grpc.RpcError:
                    continue
                ids[status.header.member_id] = i
                if status.leader:
                    leaders.add(status.leader)
            if len(leaders) == 1 and (leader := leaders.pop()) in ids:
                return ids[leader] + 1  # +1: index 0 must count as found
            return None

        found = wait_for(find, timeout, describe=lambda: f"{self.backend} leader agreed on")
        assert found is not None
        return found - 1

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        last_error: Exception | None = None
        for attempt in range(1, START_ATTEMPTS + 1):
            self._create_members(self.base_dir / f"try{attempt}")
            try:
                self._start_members(range(self.size))
                return
            except AddressInUse as exc:
                last_error = exc
                self.kill_all()
            except BaseException:
                self.kill_all()
                raise
        raise RuntimeError(
            f"{self.backend}: no free loopback addresses after {START_ATTEMPTS} attempts: "
            f"{last_error}"
        )

    def _create_members(self, attempt_dir: Path) -> None:
        ips = random_loopback_ips(self.size)
        self.members = []
        for n, ip in enumerate(ips, start=1):
            name = f"s{n}"
            data_dir = attempt_dir / name
            process = ManagedProcess(
                name=f"{self.backend}-{name}",
                argv=[],
                log_path=attempt_dir / f"{name}.log",
                cwd=self._cwd(),
                env=self._env(),
            )
            self.members.append(Member(name=name, ip=ip, data_dir=data_dir, process=process))
        initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member.process.argv = self._argv(member, initial_cluster)
            self.registry.processes.append(member.process)

    def _start_members(self, indices: range | list[int], writable: bool = True) -> None:
        starting = [self.members[i] for i in indices]
        for member in starting:
            self._before_start(member)
            member.process.start()
        for i in indices:
            self._wait_serving(i, starting)
        if writable:
            for i in indices:
                self._wait_writable(i, starting)

    @staticmethod
    def _check_alive(starting: list[Member]) -> None:
        """Stop waiting as soon as any member being started has exited."""
        for member in starting:
            if member.process.is_running():
                continue
            message = (
                f"{member.name} exited (rc={member.process.returncode()}) while starting\n"
                f"{member.process.log_tail()}"
            )
            if "address already in use" in member.process.log_text().lower():
                raise AddressInUse(message)
            raise WaitAborted(message)

    def _wait_serving(self, index: int, starting: list[Member]) -> None:
        member = self.members[index]

        def serving() -> bool:
            self._check_alive(starting)
            if self._client_endpoint(member) is None:
                return False
            self.status(index)
            return True

        wait_for(serving, SERVE_TIMEOUT_S, describe=lambda: f"{member.name} serving Status")

    def _wait_writable(self, index: int, starting: list[Member]) -> None:
        member = self.members[index]

        def write() -> bool:
            self._check_alive(starting)
            with EtcdStubs.connect(self.endpoint(index)) as stubs:
                stubs.kv.Put(
                    rpc_pb2.PutRequest(key=READY_KEY_PREFIX + member.name.encode()),
                    timeout=PROBE_TIMEOUT_S,
                )
            return True

        wait_for(write, WRITABLE_TIMEOUT_S, describe=lambda: f"a Put through {member.name}")

    def kill(self, index: int) -> None:
        """kill -9 one member."""
        self.members[index].process.kill()

    def kill_all(self) -> None:
        for member in self.members:
            member.process.kill()

    def stop(self) -> None:
        """Graceful stop (SIGTERM, then SIGKILL) of every member."""
        for member in self.members:
            member.process.stop()

    def pause(self, index: int) -> None:
        self.members[index].process.pause()

    def resume(self, index: int) -> None:
        self.members[index].process.resume()

    def restart(self, *indices: int, writable: bool = True) -> None:
        """Start stopped members again on their data dirs; by default wait until each takes a
        write (pass writable=False when the restarted members alone have no quorum)."""
        for i in indices:
            if self.members[i].process.is_running():
                raise RuntimeError(f"{self.members[i].name} is still running")
        self._start_members(list(indices), writable=writable)

    def restart_all(self) -> None:
        self.restart(*range(len(self.members)))


NewCluster = Callable[..., StoreCluster]
"""A fixture that starts a cluster for one test, e.g. ``new_cluster("kubelite", size=5)``."""
