"""A real 3-member etcd cluster: the reference the store suite is checked against.

Each member listens for clients on "IP:2379" and for peers on "IP:2380" of its own loopback
address; its data dir is under the cluster's tmp dir. `ETCD_BINARY` may name another etcd.
"""

from __future__ import annotations

import os
import shutil

from support.procs import child_env
from support.store_cluster import Member, StoreCluster

CLIENT_PORT = 2379


def etcd_binary() -> str | None:
    """Path of the etcd server binary, or None when it is not installed."""
    return shutil.which(os.environ.get("ETCD_BINARY", "etcd"))


class EtcdCluster(StoreCluster):
    backend = "etcd"

    def _argv(self, member: Member, initial_cluster: str) -> list[str]:
        binary = etcd_binary()
        if binary is None:
            raise RuntimeError("etcd binary not found (set ETCD_BINARY or install etcd-server)")
        client_url = f"http://{member.ip}:{CLIENT_PORT}"
        return [
            binary,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial_cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token=kubelite-test-{self.token}",
            "--logger=zap",
            "--log-outputs=stderr",
        ]

    def _client_endpoint(self, member: Member) -> str | None:
        return f"{member.ip}:{CLIENT_PORT}"

    def _env(self) -> dict[str, str] | None:
        return child_env()
