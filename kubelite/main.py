"""The `kubelite` command: one entry point for every component.

Each component owns its command (`kubelite.store.main`, ...); this module only gathers them, so
the dependency rule holds (the CLI package never imports the store or the API server).
"""

from __future__ import annotations

import click

from kubelite.apiserver.main import apiserver_command
from kubelite.cli.demo import demo_command
from kubelite.cli.local import down_command, status_command, up_command
from kubelite.store.main import store_command


@click.group()
@click.version_option("0.1.0", prog_name="kubelite")
def kubelite() -> None:
    """kubelite: a Kubernetes-style control plane over a Raft-replicated, etcd-compatible store."""


kubelite.add_command(store_command)
kubelite.add_command(apiserver_command)
kubelite.add_command(up_command)
kubelite.add_command(down_command)
kubelite.add_command(status_command)
kubelite.add_command(demo_command)
