"""`kubelite store`: run one member of the replicated store, with etcd's flag names."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from kubelite import eventloop
from kubelite.store.config import (
    ConfigError,
    StoreConfig,
    parse_initial_cluster,
    parse_url,
    parse_url_list,
)


def _read_password(password_file: str | None, insecure: bool) -> str | None:
    if password_file:
        text = Path(password_file).read_text().strip()
        if not text:
            raise click.UsageError(f"--peer-password-file {password_file} is empty")
        return text
    env = os.environ.get("KUBELITE_PEER_PASSWORD")
    if env:
        return env
    if insecure:
        return None
    raise click.UsageError(
        "the Raft peer port needs a password: give --peer-password-file (or set "
        "KUBELITE_PEER_PASSWORD); --insecure-peer runs without one, for local experiments only"
    )


@click.command("store")
@click.option("--name", required=True, help="This member's name in --initial-cluster.")
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Journal, snapshot and endpoints.json live here.",
)
@click.option(
    "--listen-client-urls",
    default="http://127.0.0.1:2379",
    show_default=True,
    help="Comma-separated; port 0 picks a free port (see endpoints.json).",
)
@click.option(
    "--advertise-client-urls",
    default=None,
    help="Client URLs to announce (default: the listening URLs).",
)
@click.option(
    "--listen-peer-urls",
    required=True,
    help="The Raft address to bind, e.g. http://127.0.0.1:2380.",
)
@click.option(
    "--initial-cluster", required=True, help="name=http://host:port,... for all 3 or 5 members."
)
@click.option(
    "--initial-cluster-state",
    type=click.Choice(["new", "existing"]),
    default="new",
    show_default=True,
)
@click.option(
    "--initial-advertise-peer-urls",
    default=None,
    hidden=True,
    help="Accepted for etcd compatibility; the --initial-cluster entry is used.",
)
@click.option(
    "--peer-password-file",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="Shared secret that encrypts and authenticates Raft traffic.",
)
@click.option(
    "--insecure-peer",
    is_flag=True,
    help="Allow an unauthenticated Raft port (local experiments only).",
)
@click.option(
    "--auto-compaction-retention",
    default=10_000,
    show_default=True,
    type=int,
    help="Keep this many revisions of history (0 = never compact automatically).",
)
@click.option(
    "--request-timeout",
    default=5.0,
    show_default=True,
    type=float,
    help="Seconds a write or linearizable read may wait to commit.",
)
@click.option(
    "--watch-progress-notify-interval",
    default=600.0,
    show_default=True,
    type=float,
    help="Seconds between progress notifications to idle watchers that asked for them.",
)
@click.option(
    "--snapshot-count",
    default=20_000,
    show_default=True,
    type=click.IntRange(min=2),
    help="Raft entries between snapshots (log compactions).",
)
@click.option("--log-level", default="INFO", show_default=True)
def store_command(
    name: str,
    data_dir: str,
    listen_client_urls: str,
    advertise_client_urls: str | None,
    listen_peer_urls: str,
    initial_cluster: str,
    initial_cluster_state: str,
    initial_advertise_peer_urls: str | None,
    peer_password_file: str | None,
    insecure_peer: bool,
    auto_compaction_retention: int,
    request_timeout: float,
    watch_progress_notify_interval: float,
    snapshot_count: int,
    log_level: str,
) -> None:
    """Run one member of the Raft-replicated, etcd v3 compatible store."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pysyncobj").setLevel(logging.WARNING)
    password = _read_password(peer_password_file, insecure_peer)
    try:
        config = StoreConfig(
            name=name,
            data_dir=Path(data_dir),
            listen_client=parse_url_list(listen_client_urls, "--listen-client-urls"),
            advertise_client=[u.strip() for u in advertise_client_urls.split(",")]
            if advertise_client_urls
            else None,
            listen_peer=parse_url(listen_peer_urls.split(",")[0], "--listen-peer-urls"),
            initial_cluster=parse_initial_cluster(initial_cluster),
            initial_cluster_state=initial_cluster_state,
            peer_password=password,
            auto_compaction_retention=auto_compaction_retention,
            request_timeout=request_timeout,
            progress_notify_interval=watch_progress_notify_interval,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from kubelite.store.member import serve_until_signalled

    # Two busy threads share the GIL (gRPC loop and Raft tick); the default 5 ms switch
    # interval would add up to 5 ms to every hand-off between them.
    sys.setswitchinterval(float(os.environ.get("KUBELITE_SWITCH_INTERVAL", "0.0005")))

    from kubelite.store.raft import PeerBindError, RaftSettings

    settings = RaftSettings(log_compaction_entries=snapshot_count)
    try:
        eventloop.run(serve_until_signalled(config, settings))
    except (PeerBindError, OSError) as exc:
        logging.getLogger("kubelite.store").error("%s (address already in use?)", exc)
        raise SystemExit(1) from None
