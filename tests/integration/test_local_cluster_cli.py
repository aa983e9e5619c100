"""`kubelite up`, `kubelite status` and `kubelite down` drive a whole local cluster.

`up --dir D --base-port P` starts a supervisor whose members listen on 127.0.0.1:P+10i (clients)
and P+10i+1 (Raft), and whose two API servers listen on P+100 and P+101. The base port is
random in 20000-60000, outside the kernel's ephemeral range when there is room, and `up` is
tried again on another port when a member could not bind. `status` then lists the three
members, one of them leading, and both API servers ready; the cluster takes a write; real
kubectl with the written kubeconfig lists the bootstrap namespaces; `down` stops the
supervisor and every process it ran.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import psutil
from support.grpc_api import EtcdStubs
from support.kubelite_cluster import REPO_ROOT
from support.procs import STOP_TIMEOUT_S, child_env

from kubelite.pb import rpc_pb2

PORT_RANGE = (20000, 60000)
PORT_SPAN = 112  # P .. P+21: three members; P+100, P+101: API servers; P+110, P+111: gRPC
UP_ATTEMPTS = 3
UP_TIMEOUT_S = 60
CLI_TIMEOUT_S = UP_TIMEOUT_S + 30


def pick_base_port(rng: random.Random) -> int:
    low, high = PORT_RANGE
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        ephemeral_low, ephemeral_high = (int(part) for part in text.split())
    except (OSError, ValueError):
        ephemeral_low = ephemeral_high = 0
    candidates = [
        (start, end)
        for start, end in (
            (low, min(high, ephemeral_low - 1)),
            (max(low, ephemeral_high + 1), high),
        )
        if end - start > PORT_SPAN
    ] or [(low, high)]
    start, end = rng.choice(candidates)
    return rng.randint(start, end - PORT_SPAN)


def kubelite_cli(*args: str | Path | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubelite", *map(str, args)],
        cwd=REPO_ROOT,
        env=child_env({"PYTHONPATH": str(REPO_ROOT)}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def logs_of(folder: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted((folder / "logs").glob("*.log"))
    )


def supervised_pids(folder: Path) -> list[int]:
    """The supervisor `up` started in `folder` and every process under it."""
    try:
        supervisor = psutil.Process(int((folder / "supervisor.pid").read_text()))
        return [supervisor.pid, *(child.pid for child in supervisor.children(recursive=True))]
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return []


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_leftovers(pids: list[int]) -> None:
    """Last resort after a failed `down`: SIGKILL the processes this test started, by PID."""
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
            processes[-1].kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(processes, timeout=STOP_TIMEOUT_S)


def start_cluster(tmp_path: Path) -> tuple[Path, int, subprocess.CompletedProcess[str]]:
    rng = random.Random()
    tried = []
    for attempt in range(1, UP_ATTEMPTS + 1):
        folder, base = tmp_path / f"try{attempt}", pick_base_port(rng)
        up = kubelite_cli("up", "--dir", folder, "--base-port", base, "--timeout", UP_TIMEOUT_S)
        if up.returncode == 0:
            return folder, base, up
        logs = logs_of(folder)
        tried.append(f"base port {base}: rc={up.returncode}\n{up.stdout}{up.stderr}\n{logs}")
        kill_leftovers(supervised_pids(folder))
        if "address already in use" not in logs.lower():
            break
    raise AssertionError("kubelite up failed:\n" + "\n".join(tried))


def test_up_status_down(tmp_path: Path, key_prefix: bytes) -> None:
    folder, base, up = start_cluster(tmp_path)
    endpoints = {f"127.0.0.1:{base + 10 * i}" for i in range(3)}
    pids = supervised_pids(folder)
    try:
        assert "kubelite is up" in up.stdout, up.stdout
        assert set(re.findall(r"127\.0\.0\.1:\d+", up.stdout)) >= endpoints, up.stdout

        status = kubelite_cli("status", "--dir", folder)
        assert status.returncode == 0, status.stdout + status.stderr
        lines = status.stdout.splitlines()
        store_lines = [line for line in lines if "127.0.0.1:" in line and "apiserver" not in line]
        members = [line.split() for line in store_lines]
        api_lines = [line for line in lines if "apiserver" in line]
        assert len(api_lines) == 2 and all("not ready" not in line for line in api_lines), lines
        assert {fields[0].removeprefix("http://") for fields in members} == endpoints, status.stdout
        roles = sorted(fields[1] for fields in members)
        assert roles == ["follower", "follower", "leader"], status.stdout

        with EtcdStubs.connect(sorted(endpoints)[0]) as stubs:
            stubs.kv.Put(rpc_pb2.PutRequest(key=key_prefix + b"k", value=b"up"))
            found = stubs.kv.Range(rpc_pb2.RangeRequest(key=key_prefix + b"k")).kvs
        assert [kv.value for kv in found] == [b"up"]

        kubectl = subprocess.run(
            ["kubectl", "get", "namespaces", "-o", "name", "--request-timeout", "10s"],
            env=child_env(
                {"KUBECONFIG": str(folder / "kubeconfig"), "KUBECACHEDIR": str(tmp_path / "kc")}
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert kubectl.returncode == 0, kubectl.stderr
        assert "namespace/kube-system" in kubectl.stdout.split(), kubectl.stdout
    finally:
        down = kubelite_cli("down", "--dir", folder)
        if down.returncode != 0:
            kill_leftovers(pids)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert len(pids) == 6, f"supervisor, 3 members and 2 API servers expected, found {pids}"
    still_running = [pid for pid in pids if alive(pid)]
    assert not still_running, f"still running after down: {still_running}\n{logs_of(folder)}"
    after = kubelite_cli("status", "--dir", folder)
    assert "no cluster is running" in after.stdout, after.stdout
