"""A real API server (REST + gRPC) over a `MemStorage`, in the test's own event loop.

`inprocess_api(storage)` starts `kubelite.apiserver.app.ApiServer` the way
`kubelite.apiserver.main.serve` does — REST on an aiohttp `TCPSite`, gRPC with
`start_grpc_server` — both on 127.0.0.1 port 0, waits until it has bootstrapped (default
namespaces), and yields its `Endpoint`. Leaving the context stops it (open watch streams are
cut, as when a process dies). Several servers over one `MemStorage` act as replicas::

    storage = MemStorage()
    async with inprocess_api(storage) as first, inprocess_api(storage) as second:
        async with ApiClient([first, second]) as client:
            ...

To stop one replica in the middle of a test, enter it on its own `contextlib.AsyncExitStack`
and ``await stack.aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from kubelite.apiserver.app import ApiServer
from kubelite.apiserver.grpcapi import host_port, start_grpc_server, tls_credentials
from kubelite.apiserver.storage import Storage
from kubelite.client.config import Endpoint
from support.memstorage import MemStorage

BOOTSTRAP_TIMEOUT_S = 10.0
STOP_GRACE_S = 0.1


class _Replica:
    """The shared storage as one server sees it: closing it leaves the other servers' watches."""

    def __init__(self, storage: MemStorage) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    async def close(self) -> None:
        pass


@contextlib.asynccontextmanager
async def inprocess_api(
    storage: MemStorage | None = None, tls: tuple[Path, Path] | None = None
) -> AsyncIterator[Endpoint]:
    """Serve an `ApiServer` over `storage` (a new one if None); yields its `Endpoint`.

    With `tls` (a PEM certificate and key file) both listeners serve TLS, as with
    ``--tls-cert-file``/``--tls-private-key-file``; the endpoint trusts that certificate.
    """
    ssl_context, credentials, ca_data = None, None, None
    if tls is not None:
        cert_file, key_file = tls
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(cert_file, key_file)
        credentials = tls_credentials(cert_file, key_file)
        ca_data = cert_file.read_bytes()
    server = ApiServer(cast(Storage, _Replica(storage or MemStorage())))
    await server.start()
    runner = web.AppRunner(
        server.application(),
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=STOP_GRACE_S,  # open watches are cut at once, as when a process dies
    )
    await runner.setup()
    grpc_server = None
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = int(runner.addresses[0][1])
        grpc_server, grpc_port = await start_grpc_server(server, "127.0.0.1", 0, credentials)
        async with asyncio.timeout(BOOTSTRAP_TIMEOUT_S):
            await server.bootstrapped.wait()
        scheme = "https" if tls is not None else "http"
        yield Endpoint(
            f"{scheme}://127.0.0.1:{port}", host_port("127.0.0.1", grpc_port), ca_data=ca_data
        )
    finally:
        if grpc_server is not None:
            await grpc_server.stop(None)
        await runner.cleanup()
        await server.stop()
