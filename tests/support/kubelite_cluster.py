"""A 3-member kubelite store cluster, started the way an operator would start it.

Contract with `kubelite store` (DESIGN.md §3), per member sN:

    python -m kubelite store --name sN --data-dir DIR
        --listen-client-urls http://127.0.0.1:0 --listen-peer-urls http://IP:2380
        --initial-cluster s1=http://IP1:2380,s2=http://IP2:2380,s3=http://IP3:2380
        --initial-cluster-state new --peer-password-file FILE

Once the member serves client requests it atomically writes DIR/endpoints.json:

    {"client_urls": ["http://127.0.0.1:PORT"]}

The port is new on every start, so the file is deleted before each (re)start and the client
endpoint is read from it, never remembered. `store_args` are appended to every member's command
line, e.g. ``KubeliteCluster(registry, tmp, store_args=["--snapshot-count", "50"])``.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from support.procs import ProcessRegistry, child_env
from support.store_cluster import CLUSTER_SIZE, Member, StoreCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS_FILE = "endpoints.json"


class KubeliteCluster(StoreCluster):
    backend = "kubelite"

    def __init__(
        self,
        registry: ProcessRegistry,
        base_dir: Path,
        size: int = CLUSTER_SIZE,
        store_args: Sequence[str] = (),
    ) -> None:
        super().__init__(registry, base_dir, size)
        self.store_args = list(store_args)

    @property
    def password_file(self) -> Path:
        return self.base_dir / "peer-password"

    def _argv(self, member: Member, initial_cluster: str) -> list[str]:
        if not self.password_file.exists():
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self.password_file.write_text(secrets.token_hex(16) + "\n")
            self.password_file.chmod(0o600)
        return [
            sys.executable,
            "-m",
            "kubelite",
            "store",
            "--name",
            member.name,
            "--data-dir",
            str(member.data_dir),
            "--listen-client-urls",
            "http://127.0.0.1:0",
            "--listen-peer-urls",
            member.peer_url,
            "--initial-cluster",
            initial_cluster,
            "--initial-cluster-state",
            "new",
            "--peer-password-file",
            str(self.password_file),
            *self.store_args,
        ]

    def _before_start(self, member: Member) -> None:
        (member.data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)

    def _client_endpoint(self, member: Member) -> str | None:
        try:
            published = json.loads((member.data_dir / ENDPOINTS_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        url: str = published["client_urls"][0]
        return url.removeprefix("http://").rstrip("/")

    def _env(self) -> dict[str, str] | None:
        path = child_env().get("PYTHONPATH", "")
        return child_env({"PYTHONPATH": f"{REPO_ROOT}:{path}" if path else str(REPO_ROOT)})

    def _cwd(self) -> Path | None:
        return REPO_ROOT
