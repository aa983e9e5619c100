"""Fixtures every test directory shares.

- `process_registry` (session): every long-running child process; killed at session end.
  When a test fails, the tails of the logs of the processes alive during it are attached to
  its report as a "process logs" section.
- `store` (module, parametrized over the backends "kubelite" and "etcd"): a started 3-member
  cluster (`support.store_cluster.StoreCluster`) with `client_endpoints` and member control.
  Without an etcd binary the etcd case is skipped, unless KUBELITE_REQUIRE_ETCD=1 (then it
  fails). Clusters are shared by the tests of a module, so each test keeps to its own keys
  under `key_prefix`.
- `stubs`: the etcd v3 gRPC stubs on a channel to the first member.
- `apiservers` (module, follows `store`'s backend): two `kubelite apiserver` processes over
  that store cluster (`support.apiservers.ApiServers`: `urls`, `kubeconfig(i)`, `restart(i)`).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Generator, Iterator

import pytest
from support.apiservers import ApiServers
from support.etcd_cluster import EtcdCluster, etcd_binary
from support.grpc_api import EtcdStubs
from support.kubelite_cluster import KubeliteCluster
from support.procs import ProcessRegistry
from support.store_cluster import StoreCluster

REGISTRY_KEY = pytest.StashKey[ProcessRegistry]()
TEST_STARTED_KEY = pytest.StashKey[float]()

BACKENDS: dict[str, type[StoreCluster]] = {"kubelite": KubeliteCluster, "etcd": EtcdCluster}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[TEST_STARTED_KEY] = time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    registry = item.config.stash.get(REGISTRY_KEY, None)
    if report.failed and registry is not None:
        logs = registry.logs_since(item.stash.get(TEST_STARTED_KEY, 0.0))
        if logs:
            report.sections.append((f"process logs ({report.when})", logs))
    return report


@pytest.fixture(scope="session")
def process_registry(pytestconfig: pytest.Config) -> Iterator[ProcessRegistry]:
    registry = ProcessRegistry()
    pytestconfig.stash[REGISTRY_KEY] = registry
    try:
        yield registry
    finally:
        registry.kill_all()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("kubelite", id="kubelite"),
        pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
    ],
)
def store(
    request: pytest.FixtureRequest,
    process_registry: ProcessRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StoreCluster]:
    backend: str = request.param
    if backend == "etcd" and etcd_binary() is None:
        if os.environ.get("KUBELITE_REQUIRE_ETCD") == "1":
            pytest.fail("KUBELITE_REQUIRE_ETCD=1 but no etcd binary is installed")
        pytest.skip("etcd binary not installed (Debian package etcd-server)")
    cluster = BACKENDS[backend](process_registry, tmp_path_factory.mktemp(f"{backend}-cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def stubs(store: StoreCluster) -> Iterator[EtcdStubs]:
    with EtcdStubs.connect(store.client_endpoints[0]) as connected:
        yield connected


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest) -> bytes:
    """A prefix no other test uses, e.g. b"/t/test_put_prev_kv_etcd_/3f9a12c0/"."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    return f"/t/{name}/{secrets.token_hex(4)}/".encode()


@pytest.fixture(scope="module")
def apiservers(
    store: StoreCluster,
    process_registry: ProcessRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiServers]:
    servers = ApiServers(
        process_registry, tmp_path_factory.mktemp("apiservers"), store.client_urls, count=2
    )
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()
