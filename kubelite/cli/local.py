"""`kubelite up`, `down` and `status`: a whole local cluster as supervised processes.

`up` lays out one folder (default ``./.kubelite``)::

    .kubelite/
      peer-password          Raft password shared by the store members (mode 0600)
      processes.json         name -> argv, read by the supervisor
      supervisor.pid
      logs/<name>.log
      store/s1, s2, s3       each member's data dir (journal, snapshot, endpoints.json)
      apiserver/a1, a2       each API server's endpoints.json
      kubeconfig             for kubectl, kctl and the Python client (contexts a1 and a2)

and starts a detached supervisor (`kubelite.cli.supervisor`) that runs and restarts the
processes. It waits until every store member answers and a leader is elected and both API
servers are ready (``/readyz``), then prints the endpoints. Later issues add schedulers,
controller managers and node agents to the same table.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click
import grpc

from kubelite.pb import rpc_pb2, rpc_pb2_grpc

STORE_MEMBERS = ("s1", "s2", "s3")
API_SERVERS = ("a1", "a2")
API_PORT_OFFSET = 100


def _store_ports(index: int, base: int) -> tuple[int, int]:
    return base + index * 10, base + index * 10 + 1


def store_argv(cluster_dir: Path, base_port: int) -> dict[str, list[str]]:
    peers = ",".join(
        f"{name}=http://127.0.0.1:{_store_ports(i, base_port)[1]}"
        for i, name in enumerate(STORE_MEMBERS)
    )
    table = {}
    for i, name in enumerate(STORE_MEMBERS):
        client, peer = _store_ports(i, base_port)
        table[f"store-{name}"] = [
            sys.executable,
            "-m",
            "kubelite",
            "store",
            "--name",
            name,
            "--data-dir",
            str(cluster_dir / "store" / name),
            "--listen-client-urls",
            f"http://127.0.0.1:{client}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            peers,
            "--peer-password-file",
            str(cluster_dir / "peer-password"),
        ]
    return table


def api_server_port(index: int, base: int) -> int:
    return base + API_PORT_OFFSET + index


def api_grpc_port(index: int, base: int) -> int:
    return base + API_PORT_OFFSET + 10 + index


def apiserver_argv(cluster_dir: Path, base_port: int) -> dict[str, list[str]]:
    servers = ",".join(
        f"http://127.0.0.1:{_store_ports(i, base_port)[0]}" for i in range(len(STORE_MEMBERS))
    )
    table = {}
    for i, name in enumerate(API_SERVERS):
        folder = cluster_dir / "apiserver" / name
        table[f"apiserver-{name}"] = [
            sys.executable,
            "-m",
            "kubelite",
            "apiserver",
            "--etcd-servers",
            servers,
            "--bind-address",
            "127.0.0.1",
            "--port",
            str(api_server_port(i, base_port)),
            "--grpc-port",
            str(api_grpc_port(i, base_port)),
            "--endpoints-file",
            str(folder / "endpoints.json"),
        ]
    return table


def api_urls(base_port: int) -> list[str]:
    return [f"http://127.0.0.1:{api_server_port(i, base_port)}" for i in range(len(API_SERVERS))]


def kubeconfig_text(urls: list[str], grpc_targets: list[str]) -> str:
    """A kubeconfig with one context per API server; the first is current."""
    clusters = [
        {
            "name": name,
            "cluster": {
                "server": url,
                # Where kubelite's own clients (kubelite.client) reach the components' gRPC API.
                "extensions": [{"name": "kubelite", "extension": {"grpc": grpc}}],
            },
        }
        for name, url, grpc in zip(API_SERVERS, urls, grpc_targets, strict=True)
    ]
    contexts = [
        {"name": name, "context": {"cluster": name, "user": "local", "namespace": "default"}}
        for name in API_SERVERS
    ]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "contexts": contexts,
        "current-context": API_SERVERS[0],
        "users": [{"name": "local", "user": {}}],
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"


def api_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1.0) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _supervisor_pid(cluster_dir: Path) -> int | None:
    try:
        pid = int((cluster_dir / "supervisor.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def store_endpoints(cluster_dir: Path) -> list[str]:
    urls = []
    for name in STORE_MEMBERS:
        path = cluster_dir / "store" / name / "endpoints.json"
        if path.exists():
            urls.extend(json.loads(path.read_text())["client_urls"])
    return urls


def member_status(url: str) -> rpc_pb2.StatusResponse | None:
    target = url.removeprefix("http://")
    with grpc.insecure_channel(target) as channel:
        try:
            stub = rpc_pb2_grpc.MaintenanceStub(channel)
            return stub.Status(rpc_pb2.StatusRequest(), timeout=1.0)
        except grpc.RpcError:
            return None


def _wait_ready(cluster_dir: Path, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    last = "no member has written endpoints.json yet"
    while time.monotonic() < deadline:
        urls = store_endpoints(cluster_dir)
        if len(urls) == len(STORE_MEMBERS):
            statuses = [member_status(u) for u in urls]
            leaders = {s.leader for s in statuses if s is not None}
            if None not in statuses and len(leaders) == 1 and 0 not in leaders:
                return True, ""
            answering = sum(s is not None for s in statuses)
            last = f"members answering: {answering}, leaders seen: {leaders}"
        time.sleep(0.1)
    return False, last


def _wait_api_ready(urls: list[str], deadline: float) -> tuple[bool, str]:
    waiting = list(urls)
    while time.monotonic() < deadline:
        waiting = [url for url in urls if not api_ready(url)]
        if not waiting:
            return True, ""
        time.sleep(0.1)
    return False, f"API servers not ready: {', '.join(waiting)}"


@click.command("up")
@click.option(
    "--dir", "cluster_dir", default=".kubelite", show_default=True, type=click.Path(file_okay=False)
)
@click.option(
    "--base-port",
    default=12379,  # clear of a system etcd on 2379/2380
    show_default=True,
    help="Member i listens on base+10i (client) and base+10i+1 (peer).",
)
@click.option("--timeout", default=60.0, show_default=True)
def up_command(cluster_dir: str, base_port: int, timeout: float) -> None:
    """Start a local cluster (a 3-member store) as supervised processes."""
    folder = Path(cluster_dir).resolve()
    if _supervisor_pid(folder) is not None:
        raise click.ClickException(
            f"a cluster is already running in {folder}; `kubelite down --dir {cluster_dir}` first"
        )
    folder.mkdir(parents=True, exist_ok=True)
    password = folder / "peer-password"
    if not password.exists():
        password.write_text(secrets.token_urlsafe(32))
        password.chmod(0o600)
    processes = {**store_argv(folder, base_port), **apiserver_argv(folder, base_port)}
    (folder / "processes.json").write_text(json.dumps(processes, indent=2))
    for name in API_SERVERS:
        (folder / "apiserver" / name).mkdir(parents=True, exist_ok=True)
    urls = api_urls(base_port)
    grpc_targets = [f"127.0.0.1:{api_grpc_port(i, base_port)}" for i in range(len(API_SERVERS))]
    (folder / "kubeconfig").write_text(kubeconfig_text(urls, grpc_targets))
    (folder / "logs").mkdir(exist_ok=True)
    with (folder / "logs" / "supervisor.log").open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "kubelite.cli.supervisor", str(folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (folder / "supervisor.pid").write_text(str(supervisor.pid))
    started = time.monotonic()
    ready, why = _wait_ready(folder, timeout)
    if ready:
        ready, why = _wait_api_ready(urls, started + timeout)
    if not ready:
        _stop_supervisor(folder, timeout=15.0)
        raise click.ClickException(
            f"the cluster did not become ready in {timeout:.0f}s ({why}); logs in {folder / 'logs'}"
        )
    endpoints = ",".join(u.removeprefix("http://") for u in store_endpoints(folder))
    click.echo(f"kubelite is up (3 store members, 2 API servers; logs in {folder / 'logs'}).")
    click.echo(f"  store endpoints: {endpoints}")
    click.echo(f"  API servers:     {', '.join(urls)}")
    click.echo(f"  kubeconfig:      {folder / 'kubeconfig'}")
    click.echo(f"  try:  KUBECONFIG={folder / 'kubeconfig'} kubectl get namespaces")
    click.echo(f"        ETCDCTL_API=3 etcdctl --endpoints={endpoints} endpoint status -w table")
    click.echo(f"  stop: kubelite down --dir {cluster_dir}")


@click.command("down")
@click.option(
    "--dir", "cluster_dir", default=".kubelite", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--timeout", default=30.0, show_default=True)
def down_command(cluster_dir: str, timeout: float) -> None:
    """Stop the local cluster started by `kubelite up` (data is kept)."""
    folder = Path(cluster_dir).resolve()
    if _supervisor_pid(folder) is None:
        click.echo(f"no cluster is running in {folder}")
        return
    _stop_supervisor(folder, timeout)
    click.echo(f"stopped the cluster in {folder}")


def _stop_supervisor(folder: Path, timeout: float) -> None:
    pid = _supervisor_pid(folder)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _supervisor_pid(folder) is not None:
        time.sleep(0.1)
    if _supervisor_pid(folder) is not None:
        raise click.ClickException(f"supervisor {pid} did not stop within {timeout:.0f}s")
    (folder / "supervisor.pid").unlink(missing_ok=True)


@click.command("status")
@click.option(
    "--dir", "cluster_dir", default=".kubelite", show_default=True, type=click.Path(file_okay=False)
)
def status_command(cluster_dir: str) -> None:
    """Show each store member (endpoint, leader, term, revision) and each API server."""
    folder = Path(cluster_dir).resolve()
    if _supervisor_pid(folder) is None:
        click.echo(f"no cluster is running in {folder}")
    for url in store_endpoints(folder):
        status = member_status(url)
        if status is None:
            click.echo(f"{url}  not answering")
            continue
        role = "leader" if status.leader == status.header.member_id else "follower"
        click.echo(
            f"{url}  {role:8}  term {status.raftTerm}  revision {status.header.revision}"
            f"  applied {status.raftAppliedIndex}"
        )
    for name in API_SERVERS:
        path = folder / "apiserver" / name / "endpoints.json"
        if path.exists():
            url = json.loads(path.read_text())["url"]
            state = "ready" if api_ready(url) else "not ready"
            click.echo(f"{url}  apiserver {name}  {state}")
