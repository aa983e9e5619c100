"""Health endpoints (/livez, /readyz, /healthz, plain and ?verbose, as upstream words them) and
the last-resort error answer: a bug is a 500 Status, or a 503 while the server is stopping."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.inprocess_api import inprocess_api
from support.memstorage import MemStorage
from support.wait import wait_for_async

from kubelite.apiserver.app import ApiServer


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


@pytest.mark.parametrize(
    ("stopping", "code", "reason"),
    [
        pytest.param(False, 500, "InternalError", id="serving: a bug is a 500 Status"),
        pytest.param(True, 503, "ServiceUnavailable", id="stopping: retry elsewhere"),
    ],
)
async def test_an_unexpected_failure_is_a_status_and_503_while_stopping(
    stopping: bool, code: int, reason: str
) -> None:
    storage = MemStorage()
    server = ApiServer(storage)
    await server.start()
    try:
        async with TestClient(TestServer(server.application())) as http:
            await wait_for_async(server.bootstrapped.is_set, 10.0, "namespaces bootstrapped")
            server.stopping = stopping
            storage.fail_next("get", RuntimeError("the store channel is closed"))  # type: ignore[arg-type]
            answer = await http.get("/api/v1/namespaces/default/configmaps/x")
            status = await answer.json()
    finally:
        await server.stop()
    assert (answer.status, status["code"], status["reason"]) == (code, code, reason)
