"""The Raft peer port: never unauthenticated by accident, bound to one address, closed to strangers.

* Without --peer-password-file (or --insecure-peer) the store refuses to start and says why.
* Each member listens only on its own peer address (from --initial-cluster) and on the client
  address it was given: nothing on a wildcard address (seen with psutil for the member's PID).
* A member started with the wrong password in place of a killed member never receives the
  cluster's data and never learns of a leader, so it cannot take writes; the other two keep
  working, and the real member, restarted, catches up.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import grpc
import psutil
import pytest
from support.grpc_api import EtcdStubs
from support.kubelite_cluster import REPO_ROOT
from support.procs import ProcessRegistry, child_env
from support.store_cluster import PEER_PORT, NewCluster, StoreCluster, random_loopback_ips
from support.wait import WaitTimeout, wait_for
from support.write_load import linearizable_barrier, read_prefix

from kubelite.pb import rpc_pb2

REFUSAL_TIMEOUT_S = 60.0
SERVE_TIMEOUT_S = 60.0
# A member with the right password catches up in about a second; pysyncobj retries a peer
# connection every 0.5 s. Watching the impostor this long gives it a dozen chances.
IMPOSTOR_WATCH_S = 6.0


def kubelite_env() -> dict[str, str]:
    env = child_env({"PYTHONPATH": str(REPO_ROOT)})
    env.pop("KUBELITE_PEER_PASSWORD", None)
    return env


def test_store_without_peer_password_refuses_to_start(tmp_path: Path) -> None:
    ips = random_loopback_ips(3)
    cluster = ",".join(f"s{n}=http://{ip}:{PEER_PORT}" for n, ip in enumerate(ips, start=1))
    argv = [
        sys.executable,
        "-m",
        "kubelite",
        "store",
        "--name=s1",
        f"--data-dir={tmp_path / 's1'}",
        "--listen-client-urls=http://127.0.0.1:0",
        f"--listen-peer-urls=http://{ips[0]}:{PEER_PORT}",
        f"--initial-cluster={cluster}",
    ]
    done = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=kubelite_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "--peer-password-file" in output and "--insecure-peer" in output, output
    assert "Traceback" not in output, output
    assert not (tmp_path / "s1" / "endpoints.json").exists()


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on; v4-mapped v6 as v4."""
    found = set()
    for conn in psutil.Process(pid).net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            address = ipaddress.ip_address(conn.laddr.ip)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            found.add((str(address), conn.laddr.port))
    return found


def test_each_member_listens_only_on_its_own_addresses(new_cluster: NewCluster) -> None:
    store = new_cluster()
    for index, member in enumerate(store.members):
        assert member.process.pid is not None
        client_host, client_port = store.endpoint(index).rsplit(":", 1)
        expected = {(member.ip, PEER_PORT), (client_host, int(client_port))}
        assert listening(member.process.pid) == expected, member.name


def serving_endpoint(data_dir: Path) -> str:
    urls: list[str] = json.loads((data_dir / "endpoints.json").read_text())["client_urls"]
    return urls[0].removeprefix("http://")


def put_through(store: StoreCluster, index: int, key: bytes, value: bytes) -> None:
    with EtcdStubs.connect(store.endpoint(index)) as stubs:
        stubs.kv.Put(rpc_pb2.PutRequest(key=key, value=value))


def test_member_with_wrong_password_gets_no_data(
    new_cluster: NewCluster, process_registry: ProcessRegistry, tmp_path: Path, key_prefix: bytes
) -> None:
    store = new_cluster()
    leader = store.leader()
    victim = (leader + 1) % len(store.members)
    others = [i for i in range(len(store.members)) if i != victim]
    put_through(store, leader, key_prefix + b"before", b"1")
    store.kill(victim)

    real = store.members[victim]
    wrong_password = tmp_path / "wrong-password"
    wrong_password.write_text("not-the-cluster-password\n")
    wrong_password.chmod(0o600)
    argv = list(real.process.argv)
    argv[argv.index("--data-dir") + 1] = str(tmp_path / "impostor")
    argv[argv.index("--peer-password-file") + 1] = str(wrong_password)
    impostor = process_registry.spawn(
        f"impostor-{real.name}",
        argv,
        tmp_path / "impostor.log",
        cwd=real.process.cwd,
        env=real.process.env,
    )
    try:
        endpoint = wait_for(
            lambda: serving_endpoint(tmp_path / "impostor"),
            SERVE_TIMEOUT_S,
            describe=lambda: f"the impostor serving clients\n{impostor.log_tail()}",
        )
        with EtcdStubs.connect(endpoint) as stubs:
            for index in others:
                put_through(store, index, key_prefix + f"during-{index}".encode(), b"2")

            def impostor_joined() -> bool:
                status = stubs.maintenance.Status(rpc_pb2.StatusRequest(), timeout=2.0)
                return bool(status.leader or read_prefix(endpoint, key_prefix))

            with pytest.raises(WaitTimeout):
                wait_for(impostor_joined, IMPOSTOR_WATCH_S, "the impostor knowing a leader or data")
            with pytest.raises(grpc.RpcError) as refused:
                stubs.kv.Put(rpc_pb2.PutRequest(key=key_prefix + b"impostor", value=b"x"))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
            assert impostor.is_running()
    finally:
        impostor.kill()

    for index in others:
        put_through(store, index, key_prefix + f"after-{index}".encode(), b"3")
    expected = read_prefix(store.endpoint(leader), key_prefix, serializable=False)
    assert len(expected) == 5 and key_prefix + b"impostor" not in expected
    store.restart(victim)
    linearizable_barrier(store.endpoint(victim))
    assert read_prefix(store.endpoint(victim), key_prefix) == expected
