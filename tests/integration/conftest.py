"""Fixtures of the integration tests: clusters a single test may break as it likes.

- `new_cluster(backend="kubelite", size=3, store_args=())`: start a fresh cluster for this test
  only (kubelite: `store_args` go on every member's command line, e.g. ``--snapshot-count 50``);
  every member is stopped when the test ends, whatever state the test left it in.

Tests that only read and write can use the shared, module-scoped `store` fixture from
``tests/conftest.py`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pytest
from support.etcd_cluster import EtcdCluster, etcd_binary
from support.kubelite_cluster import KubeliteCluster
from support.procs import ProcessRegistry
from support.store_cluster import CLUSTER_SIZE, NewCluster, StoreCluster


@pytest.fixture
def new_cluster(
    process_registry: ProcessRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NewCluster]:
    started: list[StoreCluster] = []

    def make(
        backend: str = "kubelite", size: int = CLUSTER_SIZE, store_args: Sequence[str] = ()
    ) -> StoreCluster:
        base_dir = tmp_path_factory.mktemp(f"{backend}-{size}")
        cluster: StoreCluster
        if backend == "etcd":
            if etcd_binary() is None:
                if os.environ.get("KUBELITE_REQUIRE_ETCD") == "1":
                    pytest.fail("KUBELITE_REQUIRE_ETCD=1 but no etcd binary is installed")
                pytest.skip("etcd binary not installed (Debian package etcd-server)")
            assert not store_args, "store_args are kubelite flags"
            cluster = EtcdCluster(process_registry, base_dir, size)
        else:
            cluster = KubeliteCluster(process_registry, base_dir, size, store_args)
        started.append(cluster)
        cluster.start()
        return cluster

    try:
        yield make
    finally:
        for cluster in started:
            cluster.stop()
