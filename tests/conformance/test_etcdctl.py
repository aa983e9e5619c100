"""The real `etcdctl` (API v3) against each backend: what an operator debugging the store sees.

Every command runs as a subprocess bounded by `--command-timeout` and by a subprocess
timeout; `etcdctl watch`, which never ends by itself, runs as a managed process whose output
goes to a log file that the test polls, and is killed by PID afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.procs import ProcessRegistry, child_env
from support.store_cluster import StoreCluster
from support.wait import wait_for

COMMAND_TIMEOUT_S = 10
SUBPROCESS_TIMEOUT_S = 30
WATCH_OUTPUT_WAIT_S = 20.0
LEASE_ID = re.compile(r"^lease ([0-9a-f]+) granted with TTL\((\d+)s\)$")

Etcdctl = Callable[..., str]


def etcdctl_binary() -> str | None:
    return shutil.which(os.environ.get("ETCDCTL_BINARY", "etcdctl"))


def etcdctl_argv(endpoints: list[str], *args: str) -> list[str]:
    binary = etcdctl_binary()
    assert binary is not None
    return [
        binary,
        f"--endpoints={','.join(endpoints)}",
        f"--command-timeout={COMMAND_TIMEOUT_S}s",
        "--dial-timeout=5s",
        *args,
    ]


ETCDCTL_ENV = {"ETCDCTL_API": "3"}


@pytest.fixture
def etcdctl(store: StoreCluster) -> Etcdctl:
    """etcdctl(*args, stdin=None, endpoints=None) -> stdout; fails the test on a non-zero exit."""
    if etcdctl_binary() is None:
        if os.environ.get("KUBELITE_REQUIRE_ETCD") == "1":
            pytest.fail("KUBELITE_REQUIRE_ETCD=1 but no etcdctl binary is installed")
        pytest.skip("etcdctl not installed (Debian package etcd-client)")

    def run(*args: str, stdin: str | None = None, endpoints: list[str] | None = None) -> str:
        argv = etcdctl_argv(endpoints or store.client_endpoints, *args)
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env=child_env(ETCDCTL_ENV),
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done.stdout

    return run


@pytest.fixture
def prefix(key_prefix: bytes) -> str:
    return key_prefix.decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def revision_of(etcdctl: Etcdctl, key: str) -> int:
    return int(json.loads(etcdctl("get", key, "-w", "json"))["header"]["revision"])


def test_put_and_get(etcdctl: Etcdctl, prefix: str) -> None:
    assert etcdctl("put", f"{prefix}a", "value a") == "OK\n"
    assert etcdctl("put", f"{prefix}b", "value b") == "OK\n"
    assert etcdctl("get", f"{prefix}a") == f"{prefix}a\nvalue a\n"
    assert etcdctl("get", f"{prefix}missing") == ""
    assert etcdctl("get", "--prefix", prefix) == f"{prefix}a\nvalue a\n{prefix}b\nvalue b\n"
    assert etcdctl("get", "--prefix", "--keys-only", prefix) == f"{prefix}a\n\n{prefix}b\n\n"
    assert etcdctl("get", "--prefix", "--limit=1", "--print-value-only", prefix) == "value a\n"
    assert etcdctl("get", "--prefix", "--order=DESCEND", "--sort-by=KEY", prefix) == (
        f"{prefix}b\nvalue b\n{prefix}a\nvalue a\n"
    )


def test_get_at_past_revision(etcdctl: Etcdctl, prefix: str) -> None:
    key = f"{prefix}k"
    etcdctl("put", key, "v1")
    first = revision_of(etcdctl, key)
    etcdctl("put", key, "v2")
    assert etcdctl("get", key, f"--rev={first}") == f"{key}\nv1\n"
    assert etcdctl("get", key) == f"{key}\nv2\n"


def test_get_json_has_base64_keys_and_revisions(etcdctl: Etcdctl, prefix: str) -> None:
    key = f"{prefix}k"
    etcdctl("put", key, "v1")
    etcdctl("put", key, "v2")
    reply = json.loads(etcdctl("get", key, "-w", "json"))
    header = reply["header"]
    assert header["cluster_id"] and header["member_id"] and header["raft_term"] >= 1
    revision = header["revision"]
    (kv,) = reply["kvs"]
    assert (kv["key"], kv["value"]) == (b64(key), b64("v2"))
    assert (kv["create_revision"], kv["mod_revision"], kv["version"]) == (revision - 1, revision, 2)
    assert reply["count"] == 1


def test_del(etcdctl: Etcdctl, prefix: str) -> None:
    for name in ("a", "b", "c"):
        etcdctl("put", f"{prefix}{name}", f"value {name}")
    assert etcdctl("del", f"{prefix}a") == "1\n"
    assert etcdctl("del", f"{prefix}a") == "0\n"
    assert etcdctl("del", "--prev-kv", f"{prefix}b") == f"1\n{prefix}b\nvalue b\n"
    etcdctl("put", f"{prefix}d", "value d")
    assert etcdctl("del", "--prefix", prefix) == "2\n"
    assert etcdctl("get", "--prefix", prefix) == ""


@pytest.mark.parametrize(
    "current, expected_branch, expected_value",
    [
        pytest.param("v1", "SUCCESS", "from success", id="compare-holds"),
        pytest.param("v0", "FAILURE", "from failure", id="compare-fails"),
    ],
)
def test_txn_from_stdin(
    etcdctl: Etcdctl, prefix: str, current: str, expected_branch: str, expected_value: str
) -> None:
    key, other = f"{prefix}k", f"{prefix}other"
    etcdctl("put", key, current)
    etcdctl("put", other, "o")
    # etcdctl's format: compares, blank line, success ops, blank line, failure ops, blank line.
    script = (
        f'value("{key}") = "v1"\n'
        f'version("{other}") = "1"\n'
        "\n"
        f'put {key} "from success"\n'
        f"get {other}\n"
        "\n"
        f'put {key} "from failure"\n'
        f"get {other}\n"
        "\n"
    )
    assert etcdctl("txn", stdin=script) == f"{expected_branch}\n\nOK\n\n{other}\no\n"
    assert etcdctl("get", key, "--print-value-only") == f"{expected_value}\n"


def test_watch(
    store: StoreCluster,
    etcdctl: Etcdctl,
    prefix: str,
    process_registry: ProcessRegistry,
    tmp_path: Path,
) -> None:
    etcdctl("put", f"{prefix}before", "x")
    # Start from the next revision so no event can slip in before the watch is established.
    start = revision_of(etcdctl, f"{prefix}before") + 1
    watcher = process_registry.spawn(
        "etcdctl-watch",
        etcdctl_argv(store.client_endpoints, "watch", "--prefix", f"--rev={start}", prefix),
        tmp_path / "etcdctl-watch.log",
        env=child_env(ETCDCTL_ENV),
    )
    try:
        etcdctl("put", f"{prefix}a", "1")
        etcdctl("del", f"{prefix}a")
        expected = f"PUT\n{prefix}a\n1\nDELETE\n{prefix}a\n\n"
        wait_for(
            lambda: expected in watcher.log_text(),
            WATCH_OUTPUT_WAIT_S,
            describe=lambda: f"etcdctl watch printing {expected!r}; log:\n{watcher.log_text()}",
        )
        assert watcher.is_running()
    finally:
        watcher.kill()


def test_lease_lifecycle(etcdctl: Etcdctl, prefix: str) -> None:
    grant_line = etcdctl("lease", "grant", "60").strip()
    match = LEASE_ID.match(grant_line)
    assert match and match.group(2) == "60", grant_line
    lease = match.group(1)
    try:
        etcdctl("put", f"--lease={lease}", f"{prefix}a", "leased")
        etcdctl("put", f"--lease={lease}", f"{prefix}b", "leased")

        assert etcdctl("lease", "keep-alive", "--once", lease) == (
            f"lease {lease} keepalived with TTL(60)\n"
        )
        ttl_line = etcdctl("lease", "timetolive", "--keys", lease).strip()
        ttl_match = re.fullmatch(
            rf"lease {lease} granted with TTL\(60s\), remaining\((\d+)s\), attached keys\((.*)\)",
            ttl_line,
        )
        assert ttl_match, ttl_line
        assert 0 < int(ttl_match.group(1)) <= 60
        assert sorted(ttl_match.group(2).strip("[]").split()) == [f"{prefix}a", f"{prefix}b"]

        listed = etcdctl("lease", "list").splitlines()
        assert re.fullmatch(r"found \d+ leases", listed[0]) and lease in listed[1:]
    finally:
        assert etcdctl("lease", "revoke", lease) == f"lease {lease} revoked\n"
    assert etcdctl("get", "--prefix", prefix) == ""
    assert etcdctl("lease", "timetolive", lease) == f"lease {lease} already expired\n"


def test_endpoint_status_json(store: StoreCluster, etcdctl: Etcdctl) -> None:
    statuses = json.loads(etcdctl("endpoint", "status", "-w", "json"))
    assert [s["Endpoint"] for s in statuses] == store.client_endpoints
    member_ids = {s["Status"]["header"]["member_id"] for s in statuses}
    leaders = {s["Status"]["leader"] for s in statuses}
    assert len(member_ids) == 3 and 0 not in member_ids
    assert len(leaders) == 1 and leaders <= member_ids
    for entry in statuses:
        status = entry["Status"]
        assert status["header"]["cluster_id"] and status["header"]["revision"] >= 1
        assert status["raftTerm"] >= 1 and status["raftIndex"] >= 1 and status["version"]


def test_endpoint_health(store: StoreCluster, etcdctl: Etcdctl) -> None:
    reports = json.loads(etcdctl("endpoint", "health", "-w", "json"))
    assert {r["endpoint"]: r["health"] for r in reports} == dict.fromkeys(
        store.client_endpoints, True
    )


def test_member_list_json(store: StoreCluster, etcdctl: Etcdctl) -> None:
    reply = json.loads(etcdctl("member", "list", "-w", "json"))
    by_name = {m["name"]: m for m in reply["members"]}
    assert sorted(by_name) == ["s1", "s2", "s3"]
    for index, member in enumerate(store.members):
        listed = by_name[member.name]
        assert listed["peerURLs"] == [member.peer_url]
        assert listed["clientURLs"] == [store.client_urls[index]]
        assert listed["ID"]
    assert reply["header"]["cluster_id"]


def test_member_list_table(store: StoreCluster, etcdctl: Etcdctl) -> None:
    rows = [line.split(", ") for line in etcdctl("member", "list").splitlines()]
    # ID, status, name, peer URLs, client URLs, is learner
    assert sorted((r[1], r[2], r[3], r[4], r[5]) for r in rows) == [
        ("started", m.name, m.peer_url, store.client_urls[i], "false")
        for i, m in enumerate(store.members)
    ]


def test_snapshot_save(store: StoreCluster, etcdctl: Etcdctl, prefix: str, tmp_path: Path) -> None:
    etcdctl("put", f"{prefix}k", "in the snapshot")
    target = tmp_path / "backup.db"
    output = etcdctl("snapshot", "save", str(target), endpoints=store.client_endpoints[:1])
    assert f"Snapshot saved at {target}" in output
    assert target.is_file() and target.stat().st_size > 0
