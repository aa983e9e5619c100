"""`kubelite apiserver`: run one stateless API server in front of the store (ours or etcd).

It serves REST on ``--bind-address:--port`` and the components' gRPC API
(`kubelite.apiserver.grpcapi`) on ``--bind-address:--grpc-port`` (port 0 picks a free one),
then prints and, with ``--endpoints-file``, writes where it serves::

    {"url": "http://127.0.0.1:43117", "grpc": "127.0.0.1:43119"}

TLS is served on both when ``--tls-cert-file`` and ``--tls-private-key-file`` are both given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import ssl
import sys
from pathlib import Path

import click
import grpc
from aiohttp import web

from kubelite import eventloop
from kubelite.apiserver.app import ApiServer
from kubelite.apiserver.etcd import EtcdStorage
from kubelite.apiserver.grpcapi import STOP_GRACE_S, host_port, start_grpc_server, tls_credentials
from kubelite.apiserver.inflight import Limits
from kubelite.gcpolicy import GcPolicy

SHUTDOWN_GRACE_S = 1.0


def _split_servers(value: str) -> list[str]:
    servers = [part.strip() for part in value.split(",") if part.strip()]
    if not servers:
        raise click.BadParameter("give at least one store URL", param_hint="--etcd-servers")
    return servers


async def serve(
    servers: list[str],
    bind_address: str,
    port: int,
    endpoints_file: Path | None,
    tls: ssl.SSLContext | None,
    limits: Limits,
    request_timeout: float,
    grpc_port: int,
    grpc_credentials: grpc.ServerCredentials | None,
) -> None:
    storage = EtcdStorage(servers, request_timeout=request_timeout)
    server = ApiServer(storage, limits)
    await server.start()
    runner = web.AppRunner(server.application(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(
        runner,
        bind_address,
        port,
        ssl_context=tls,
        # SO_REUSEADDR: a restarted server (the supervisor of `kubelite up`) rebinds its port
        # while old connections sit in TIME_WAIT; on Linux it never lets two listeners share it.
        reuse_address=True,
        shutdown_timeout=SHUTDOWN_GRACE_S,  # open watches end at once; clients re-watch
    )
    await site.start()
    sockets = runner.addresses
    bound_port = int(sockets[0][1]) if sockets else port
    scheme = "https" if tls else "http"
    url = f"{scheme}://{bind_address}:{bound_port}"
    # --- gRPC for components: same registry, same errors ---
    grpc_server, grpc_bound = await start_grpc_server(
        server, bind_address, grpc_port, grpc_credentials
    )
    grpc_address = host_port(bind_address, grpc_bound)
    if endpoints_file is not None:
        tmp = endpoints_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "grpc": grpc_address}))
        tmp.replace(endpoints_file)
    print(f"kubelite apiserver: serving {url}, grpc {grpc_address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    collector = asyncio.create_task(GcPolicy().run())
    try:
        await stop.wait()
    finally:
        collector.cancel()
        # Bounded: a store that cannot be reached must not keep the process from exiting.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_GRACE_S + STOP_GRACE_S + 2):
                await grpc_server.stop(STOP_GRACE_S)
                server.stopping = True  # requests failing from here on get 503, not 500
                await runner.cleanup()
                await server.stop()


@click.command("apiserver")
@click.option(
    "--etcd-servers", required=True, help="Store client URLs, comma separated (ours or etcd)."
)
@click.option("--bind-address", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=6443, show_default=True)
@click.option(
    "--endpoints-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write {'url': ..., 'grpc': 'host:port'} here once serving (useful with port 0).",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the gRPC API for components (0 picks a free one; see --endpoints-file).",
)
@click.option("--tls-cert-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tls-private-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--max-requests-inflight", type=click.IntRange(1), default=400, show_default=True)
@click.option(
    "--max-mutating-requests-inflight", type=click.IntRange(1), default=200, show_default=True
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    help="Seconds one store call may take before it is retried elsewhere or fails.",
)
def apiserver_command(
    etcd_servers: str,
    bind_address: str,
    port: int,
    endpoints_file: Path | None,
    tls_cert_file: Path | None,
    tls_private_key_file: Path | None,
    max_requests_inflight: int,
    max_mutating_requests_inflight: int,
    request_timeout: float,
    grpc_port: int,
) -> None:
    """Serve the Kubernetes API (REST) over the store at --etcd-servers."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    if (tls_cert_file is None) != (tls_private_key_file is None):
        raise click.UsageError("give both --tls-cert-file and --tls-private-key-file, or neither")
    tls = None
    grpc_credentials = None
    if tls_cert_file is not None and tls_private_key_file is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(tls_cert_file, tls_private_key_file)
        grpc_credentials = tls_credentials(tls_cert_file, tls_private_key_file)
    limits = Limits(max_requests_inflight, max_mutating_requests_inflight)
    servers = _split_servers(etcd_servers)
    try:
        eventloop.run(
            serve(
                servers,
                bind_address,
                port,
                endpoints_file,
                tls,
                limits,
                request_timeout,
                grpc_port,
                grpc_credentials,
            )
        )
    except OSError as error:
        raise click.ClickException(f"cannot serve on {bind_address}:{port}: {error}") from None
