"""`ApiClient` over TLS (both listeners, verified against the cluster's CA) and with a token.

The server's certificate is self-signed for 127.0.0.1 and made here with `cryptography`; the
client trusts exactly it (``certificate-authority-data`` in a kubeconfig). The token test
points the client's REST side at a recording server, because the API server does not check
tokens yet: it shows the header leaves the client on watches.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from support.inprocess_api import inprocess_api
from support.tls import self_signed

from kubelite.api.errors import ServiceUnavailableError
from kubelite.client.api import ApiClient
from kubelite.client.config import Endpoint
from kubelite.client.interface import CONFIGMAPS, NAMESPACES

TIMEOUT_S = 10


async def test_the_client_talks_tls_to_both_listeners(tmp_path: Path) -> None:
    async with inprocess_api(tls=self_signed(tmp_path)) as endpoint:
        assert endpoint.rest_url.startswith("https://")
        async with ApiClient([endpoint]) as client:
            namespace = await client.get(NAMESPACES, None, "default")  # gRPC over TLS
            created = await client.create(CONFIGMAPS, "default", {"metadata": {"name": "c"}})
            events = client.watch(  # HTTP over TLS
                CONFIGMAPS, "default", resource_version="", timeout_seconds=1
            )
            seen = [e.object["metadata"]["name"] async for e in events if e.type == "ADDED"]
    assert namespace["metadata"]["name"] == "default"
    assert created["metadata"]["name"] == "c"
    assert "c" in seen


async def test_a_client_that_does_not_trust_the_server_refuses_it(tmp_path: Path) -> None:
    async with inprocess_api(tls=self_signed(tmp_path)) as endpoint:
        untrusting = Endpoint(endpoint.rest_url, endpoint.grpc_target, ca_data=None)
        async with ApiClient([untrusting], call_timeout_s=2) as client:
            with pytest.raises(ServiceUnavailableError):
                await client.get(NAMESPACES, None, "default")


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A REST server that answers every watch with one ADDED event and records the header."""
    seen: list[str] = []

    async def watch(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        response = web.StreamResponse()
        await response.prepare(request)
        event = {"type": "ADDED", "object": {"metadata": {"name": "x", "resourceVersion": "7"}}}
        await response.write(json.dumps(event).encode() + b"\n")
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", watch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


async def test_the_token_goes_out_as_a_bearer_header(
    recording_server: tuple[str, list[str]],
) -> None:
    url, seen = recording_server
    async with ApiClient([Endpoint(url, "127.0.0.1:1")], token="s3cret") as client:
        events = client.watch(CONFIGMAPS, "default", resource_version="5", timeout_seconds=1)
        first = await anext(aiter(events))
    assert first.object["metadata"]["name"] == "x"
    assert seen and seen[0] == "Bearer s3cret"
