"""A 3-member store cluster for benchmarks: kubelite or real etcd 3.4, on loopback.

Each member gets its own random loopback address 127.<100-250>.<0-255>.<2-254> with the peer
port 2380 (and, for etcd, the client port 2379); no port is ever picked by binding and
releasing it. kubelite members listen for clients on 127.0.0.1:0 and publish the real port in
<data-dir>/endpoints.json, which is deleted before every (re)start and read, never remembered.
If a member cannot bind because another run holds its address, the whole cluster is thrown
away and started again on new addresses.

    cluster = Cluster(KUBELITE, base_dir)       # or Cluster(ETCD, base_dir)
    cluster.start()                             # every member serves and takes a write
    i = cluster.leader(); cluster.kill(i); cluster.restart(i)
    cluster.stop()

This mirrors tests/support/store_cluster.py but carries no pytest machinery, so a benchmark
runs without the test tree.
"""

from __future__ import annotations

import functools
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc

from kubelite.pb import rpc_pb2, rpc_pb2_grpc
from storebench import BENCH_DIR, REPO_ROOT

CLUSTER_SIZE = 3
PEER_PORT = 2380
ETCD_CLIENT_PORT = 2379
START_ATTEMPTS = 5
START_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
READY_KEY_PREFIX = b"/__bench__/ready/"
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]

T = TypeVar("T")


class BenchError(RuntimeError):
    """A cluster did not reach the state a measurement needs."""


class MemberExited(BenchError):
    """A member being started has exited: waiting for it is pointless."""


class AddressInUse(MemberExited):
    """A member could not bind its loopback address; retry on new addresses."""


def poll(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """The first truthy value of `condition()` within `timeout` s; exceptions mean "not yet"."""
    deadline = time.monotonic() + timeout
    last: object = None
    for _ in range(int(timeout / POLL_INTERVAL_S) + 1):
        try:
            value = condition()
        except MemberExited:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing condition is a state to report
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    raise BenchError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def child_env() -> dict[str, str]:
    """Our environment without proxy settings (all traffic is loopback)."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


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
    log_path: Path
    argv: list[str] = field(default_factory=list)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def peer_url(self) -> str:
        return f"http://{self.ip}:{PEER_PORT}"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, env: dict[str, str], cwd: Path | None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )

    def send_signal(self, number: int) -> None:
        """Send ``number`` to the process we started, if it still runs."""
        if self.is_running():
            assert self.popen is not None
            self.popen.send_signal(number)

    def kill(self) -> None:
        """kill -9 the process we started (by its pid) and reap it."""
        self.send_signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if not self.is_running():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        self.popen.send_signal(signal.SIGCONT)  # a paused (SIGSTOPped) member acts on it then
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return "\n".join([f"----- {self.name} log {self.log_path}", *text.splitlines()[-lines:]])


class Backend:
    """How to launch one kind of member and where it serves clients."""

    name = ""
    cwd: Path | None = None

    def prepare(self, base_dir: Path) -> None:
        return None

    def argv(self, member: Member, initial_cluster: str, token: str) -> list[str]:
        raise NotImplementedError

    def before_start(self, member: Member) -> None:
        return None

    def client_endpoint(self, member: Member) -> str | None:
        raise NotImplementedError


class KubeliteBackend(Backend):
    name = "kubelite"
    cwd = REPO_ROOT

    def __init__(self) -> None:
        self.password_file: Path | None = None

    def prepare(self, base_dir: Path) -> None:
        base_dir.mkdir(parents=True, exist_ok=True)
        self.password_file = base_dir / "peer-password"
        self.password_file.write_text(secrets.token_hex(16) + "\n")
        self.password_file.chmod(0o600)

    def argv(self, member: Member, initial_cluster: str, token: str) -> list[str]:
        assert self.password_file is not None
        return [
            *(sys.executable, "-m", "kubelite", "store", "--name", member.name),
            *("--data-dir", str(member.data_dir)),
            *("--listen-client-urls", "http://127.0.0.1:0"),
            *("--listen-peer-urls", member.peer_url),
            *("--initial-cluster", initial_cluster, "--initial-cluster-state", "new"),
            *("--peer-password-file", str(self.password_file)),
        ]

    def before_start(self, member: Member) -> None:
        (member.data_dir / "endpoints.json").unlink(missing_ok=True)

    def client_endpoint(self, member: Member) -> str | None:
        try:
            published = json.loads((member.data_dir / "endpoints.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        url: str = published["client_urls"][0]
        return url.removeprefix("http://").rstrip("/")


class NoopBackend(KubeliteBackend):
    """`storebench.noop`: three processes answering Put at once, for the gRPC ceiling."""

    name = "no-op gRPC"
    cwd = BENCH_DIR

    def argv(self, member: Member, initial_cluster: str, token: str) -> list[str]:
        return [sys.executable, "-m", "storebench.noop", "--data-dir", str(member.data_dir)]


class EtcdBackend(Backend):
    name = "etcd"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def argv(self, member: Member, initial_cluster: str, token: str) -> list[str]:
        client_url = f"http://{member.ip}:{ETCD_CLIENT_PORT}"
        return [
            *(self.binary, f"--name={member.name}", f"--data-dir={member.data_dir}"),
            *(f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}"),
            *(f"--listen-peer-urls={member.peer_url}", f"--initial-cluster={initial_cluster}"),
            f"--initial-advertise-peer-urls={member.peer_url}",
            *("--initial-cluster-state=new", f"--initial-cluster-token=bench-{token}"),
            *("--logger=zap", "--log-outputs=stderr"),
        ]

    def client_endpoint(self, member: Member) -> str | None:
        return f"{member.ip}:{ETCD_CLIENT_PORT}"


def status(endpoint: str) -> rpc_pb2.StatusResponse:
    with grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        return stub.Status(rpc_pb2.StatusRequest(), timeout=PROBE_TIMEOUT_S)


def put(endpoint: str, key: bytes, value: bytes = b"") -> rpc_pb2.PutResponse:
    with grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS) as channel:
        stub = rpc_pb2_grpc.KVStub(channel)
        return stub.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=PROBE_TIMEOUT_S)


class Cluster:
    """Start, observe, kill and restart a 3-member cluster; see the module docstring."""

    def __init__(self, backend: Backend, base_dir: Path) -> None:
        self.backend = backend
        self.base_dir = base_dir
        self.token = secrets.token_hex(4)
        self.members: list[Member] = []
        self.env = child_env()

    @property
    def name(self) -> str:
        return self.backend.name

    def endpoint(self, index: int) -> str:
        endpoint = self.backend.client_endpoint(self.members[index])
        if endpoint is None:
            raise BenchError(f"{self.members[index].name} has not published its endpoint")
        return endpoint

    @property
    def endpoints(self) -> list[str]:
        return [self.endpoint(i) for i in range(len(self.members))]

    def start(self) -> None:
        self.backend.prepare(self.base_dir)
        for attempt in range(1, START_ATTEMPTS + 1):
            self._create_members(self.base_dir / f"try{attempt}")
            try:
                self._start_members(list(range(CLUSTER_SIZE)))
                return
            except AddressInUse:
                self.kill_all()
            except BaseException:
                self.kill_all()
                raise
        raise BenchError(f"{self.name}: no free loopback addresses in {START_ATTEMPTS} tries")

    def _create_members(self, attempt_dir: Path) -> None:
        self.members = [
            Member(
                name=f"s{n}",
                ip=ip,
                data_dir=attempt_dir / f"s{n}",
                log_path=attempt_dir / f"s{n}.log",
            )
            for n, ip in enumerate(random_loopback_ips(CLUSTER_SIZE), start=1)
        ]
        initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member.argv = self.backend.argv(member, initial_cluster, self.token)

    def _start_members(self, indices: list[int]) -> None:
        for i in indices:
            self.backend.before_start(self.members[i])
            self.members[i].start(self.env, self.backend.cwd)
        for i in indices:
            serving = functools.partial(self._serving, i, indices)
            poll(serving, START_TIMEOUT_S, f"{self.name} s{i + 1} serving")
        self._wait_writable(indices)

    def _wait_writable(self, indices: list[int], after: str = "") -> None:
        for i in indices:
            writable = functools.partial(self._writable, i, indices)
            poll(writable, START_TIMEOUT_S, f"a Put through {self.name} s{i + 1}{after}")

    def _check_alive(self, indices: list[int]) -> None:
        for i in indices:
            member = self.members[i]
            if member.is_running():
                continue
            tail = member.log_tail()
            if "address already in use" in tail.lower():
                raise AddressInUse(f"{member.name} could not bind\n{tail}")
            raise MemberExited(f"{self.name} {member.name} exited while starting\n{tail}")

    def _serving(self, index: int, starting: list[int]) -> bool:
        self._check_alive(starting)
        status(self.endpoint(index))
        return True

    def _writable(self, index: int, starting: list[int]) -> bool:
        self._check_alive(starting)
        put(self.endpoint(index), READY_KEY_PREFIX + self.members[index].name.encode())
        return True

    def leader(self, timeout: float = START_TIMEOUT_S) -> int:
        """Index of the member that every running member names as leader."""

        def agreed() -> int | None:
            ids: dict[int, int] = {}
            leaders: set[int] = set()
            for i, member in enumerate(self.members):
                if member.is_running():
                    answer = status(self.endpoint(i))
                    ids[answer.header.member_id] = i
                    leaders.add(answer.leader)
            if len(leaders) == 1 and (leader := leaders.pop()) in ids:
                return ids[leader] + 1  # +1: index 0 must count as found
            return None

        return poll(agreed, timeout, f"{self.name} members agreeing on a leader") - 1

    def kill(self, index: int) -> None:
        self.members[index].kill()

    def pause_all(self) -> None:
        """SIGSTOP every member: a paused cluster uses no CPU while the other store is measured."""
        for member in self.members:
            member.send_signal(signal.SIGSTOP)

    def resume_all(self) -> None:
        """SIGCONT every member, then wait until each takes a Put again (after the pause their
        election timers have all run out, so a new election may come first)."""
        for member in self.members:
            member.send_signal(signal.SIGCONT)
        self._wait_writable(list(range(len(self.members))), after=" after SIGCONT")

    def restart(self, index: int) -> None:
        """Start a killed member again on its data dir; wait until it serves and takes a Put."""
        if self.members[index].is_running():
            raise BenchError(f"{self.members[index].name} is still running")
        self._start_members([index])

    def kill_all(self) -> None:
        for member in self.members:
            member.kill()

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def logs(self) -> str:
        return "\n".join(m.log_tail() for m in self.members)
