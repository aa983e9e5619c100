"""Health endpoints: /livez, /readyz and /healthz, plain and ?verbose, as upstream words them."""

from __future__ import annotations

import aiohttp
import pytest
from support.inprocess_api import inprocess_api


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/livez", "ok", id="livez"),
        pytest.param("/readyz", "ok", id="readyz"),
        pytest.param("/healthz", "ok", id="healthz"),
        pytest.param("/livez?verbose", "[+]ping ok\nlivez check passed\n", id="livez-verbose"),
        pytest.param(
            "/readyz?verbose",
            "[+]ping ok\n[+]etcd ok\n[+]poststarthook/bootstrap-namespaces ok\n"
            "[+]watch-caches ok\nreadyz check passed\n",
            id="readyz-verbose",
        ),
    ],
)
async def test_a_ready_server_says_so(path: str, expected: str) -> None:
    async with (
        inprocess_api() as endpoint,
        aiohttp.ClientSession() as session,
        session.get(endpoint.rest_url + path, timeout=aiohttp.ClientTimeout(total=10)) as answer,
    ):
        assert answer.status == 200
        assert await answer.text() == expected
