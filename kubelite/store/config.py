"""Store member configuration from etcd-style flags: parsing and checks, no I/O.

    --name s1 --listen-peer-urls http://127.0.0.1:2380
    --initial-cluster s1=http://127.0.0.1:2380,s2=http://127.0.0.2:2380,s3=http://127.0.0.3:2380

The member's Raft address is its entry in ``--initial-cluster``; ``--listen-peer-urls`` must name
the same port (Raft binds only that address). Member and cluster ids are stable hashes of the
names and peer URLs, like etcd's, so every member computes the same ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A flag value that cannot work; the message says which and why."""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_url(url: str, flag: str) -> HostPort:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{flag}: {url!r} is not an http(s)://host:port URL")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{flag}: {url!r} has an invalid port") from None
    if port is None:
        raise ConfigError(f"{flag}: {url!r} has no port")
    return HostPort(parts.hostname, port)


def parse_url_list(value: str, flag: str) -> list[HostPort]:
    urls = [u for u in value.split(",") if u.strip()]
    if not urls:
        raise ConfigError(f"{flag}: at least one URL is required")
    return [parse_url(u, flag) for u in urls]


def parse_initial_cluster(value: str) -> dict[str, HostPort]:
    members: dict[str, HostPort] = {}
    for entry in value.split(","):
        name, sep, url = entry.strip().partition("=")
        if not sep or not name:
            raise ConfigError(f"--initial-cluster: {entry!r} is not name=http://host:port")
        if name in members:
            raise ConfigError(f"--initial-cluster: member {name!r} is listed twice")
        members[name] = parse_url(url, "--initial-cluster")
    if len(members) not in (1, 3, 5):
        raise ConfigError(
            f"--initial-cluster: {len(members)} members given; use 3 or 5 (1 for experiments)"
        )
    return members


def _stable_id(text: str) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return value or 1


@dataclass(frozen=True)
class StoreConfig:
    name: str
    data_dir: Path
    listen_client: list[HostPort]
    advertise_client: list[str] | None
    listen_peer: HostPort
    initial_cluster: dict[str, HostPort]
    initial_cluster_state: str
    peer_password: str | None
    auto_compaction_retention: int = 10_000
    request_timeout: float = 5.0
    progress_notify_interval: float = 600.0

    def __post_init__(self) -> None:
        if self.name not in self.initial_cluster:
            raise ConfigError(f"--name {self.name!r} is not listed in --initial-cluster")
        own = self.initial_cluster[self.name]
        if own.port != self.listen_peer.port:
            raise ConfigError(
                f"--listen-peer-urls port {self.listen_peer.port} differs from this member's "
                f"--initial-cluster entry {own}"
            )
        if self.initial_cluster_state not in ("new", "existing"):
            raise ConfigError("--initial-cluster-state must be 'new' or 'existing'")
        if self.auto_compaction_retention < 0:
            raise ConfigError("--auto-compaction-retention must be >= 0")

    @property
    def raft_address(self) -> str:
        return str(self.initial_cluster[self.name])

    @property
    def peer_addresses(self) -> list[str]:
        return [str(hp) for name, hp in self.initial_cluster.items() if name != self.name]

    def member_id_of(self, name: str) -> int:
        return _stable_id(f"{name}|http://{self.initial_cluster[name]}")

    @property
    def member_id(self) -> int:
        return self.member_id_of(self.name)

    @property
    def cluster_id(self) -> int:
        spec = ",".join(f"{n}=http://{hp}" for n, hp in sorted(self.initial_cluster.items()))
        return _stable_id(spec)

    def name_of_raft_address(self, address: str) -> str | None:
        for name, hp in self.initial_cluster.items():
            if str(hp) == address:
                return name
        return None
