"""The HTTP requests every measurement shares, and the aiohttp session they go through.

A benchmark pod is the smallest valid one: a name and one container with an image; the watch
measurement adds an annotation. Every request has a deadline (`REQUEST_TIMEOUT_S`), and a
session never goes through a proxy (`trust_env=False`) and opens as many connections as it
has concurrent requests (aiohttp's default pool stops at 100).

    async with client_session() as session:
        await ensure_namespace(session, url, "bench-0")
        status = await create_pod(session, url, "bench-0", "p-1")     # 201
        rv = await list_revision(session, url, "bench-0")
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

REQUEST_TIMEOUT_S = 10.0
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
POD_IMAGE = "registry.k8s.io/pause:3.9"
CREATED = 201


class RequestFailed(RuntimeError):
    """A setup request got an answer the benchmark cannot continue after."""


def client_session(timeout_s: float | None = REQUEST_TIMEOUT_S) -> aiohttp.ClientSession:
    """A session with unlimited connections; `timeout_s=None` for long-lived watch streams."""
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False)


def pod_body(namespace: str, name: str, annotations: dict[str, str] | None = None) -> bytes:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "c", "image": POD_IMAGE}]},
    }
    return json.dumps(pod, separators=(",", ":")).encode()


def pods_path(namespace: str, name: str = "") -> str:
    tail = f"/{name}" if name else ""
    return f"/api/v1/namespaces/{namespace}/pods{tail}"


async def create_pod(
    session: aiohttp.ClientSession,
    url: str,
    namespace: str,
    name: str,
    annotations: dict[str, str] | None = None,
) -> int:
    """POST one pod; the HTTP status (the body is read and dropped)."""
    body = pod_body(namespace, name, annotations)
    async with session.post(url + pods_path(namespace), data=body, headers=JSON_HEADERS) as r:
        await r.read()
        return r.status


async def get_status(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> int:
    async with session.get(url, params=params, headers=JSON_HEADERS) as r:
        await r.read()
        return r.status


async def ensure_namespace(session: aiohttp.ClientSession, url: str, name: str) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    async with session.post(url + "/api/v1/namespaces", data=body, headers=JSON_HEADERS) as answer:
        text = await answer.text()
        if answer.status not in (CREATED, 409):  # 409: it exists already
            raise RequestFailed(f"create namespace {name}: {answer.status} {text[:200]}")


async def list_pods(
    session: aiohttp.ClientSession, url: str, namespace: str | None, params: dict[str, str]
) -> dict[str, Any]:
    path = pods_path(namespace) if namespace else "/api/v1/pods"
    async with session.get(url + path, params=params, headers=JSON_HEADERS) as answer:
        if answer.status != 200:
            raise RequestFailed(f"list {path}: {answer.status} {(await answer.text())[:200]}")
        listed: dict[str, Any] = await answer.json()
        return listed


async def list_revision(session: aiohttp.ClientSession, url: str, namespace: str) -> str:
    """The resourceVersion of a consistent list of the namespace's pods (to watch from)."""
    listed = await list_pods(session, url, namespace, {"limit": "1"})
    return str(listed["metadata"]["resourceVersion"])


async def count_pods(session: aiohttp.ClientSession, url: str) -> int:
    """Pods in every namespace as this server's watch cache has them (resourceVersion=0)."""
    listed = await list_pods(session, url, None, {"resourceVersion": "0"})
    return len(listed["items"])
