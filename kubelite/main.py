"""The `kubelite` command: one entry point for every component.

Each component owns its command (`kubelite.store.main`, ...); this module only names them, so
the dependency rule holds (the CLI package never imports the store or the API server). A
command's module is imported only when that command runs: a store member never loads the API
server's web stack, and each process starts smaller and sooner.
"""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "store": ("kubelite.store.main", "store_command"),
    "apiserver": ("kubelite.apiserver.main", "apiserver_command"),
    "up": ("kubelite.cli.local", "up_command"),
    "down": ("kubelite.cli.local", "down_command"),
    "status": ("kubelite.cli.local", "status_command"),
    "demo": ("kubelite.cli.demo", "demo_command"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (see `COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup)
@click.version_option("0.1.0", prog_name="kubelite")
def kubelite() -> None:
    """kubelite: a Kubernetes-style control plane over a Raft-replicated, etcd-compatible store."""
