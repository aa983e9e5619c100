"""``pods/{name}/log``: choose the container, find the pod's node agent, and stream its answer.

The node agent serves container logs at the address its Node object reports::

    GET http://<InternalIP or Hostname>:<status.daemonEndpoints.kubeletEndpoint.Port>
        /containerLogs/<namespace>/<pod>/<container>?follow=&tailLines=&timestamps=&previous=
                                                     &sinceSeconds=&sinceTime=&limitBytes=

and the API server copies the body through (``text/plain``, streamed when ``follow=true``).
Errors are Kubernetes Status replies with upstream's wording: no container named (400), a pod
not yet on a node (400), a node with no reachable agent (503 at once: no endpoint, connection
refused, or no answer within `ANSWER_TIMEOUT_S`). Once the log has started, a broken agent
connection just ends the stream, as upstream's proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
from aiohttp import web

from kubelite.api.errors import BadRequestError, ServiceUnavailableError
from kubelite.api.resources import RESOURCES
from kubelite.apiserver.registry import Registry

JsonObject = dict[str, Any]
PASSED_PARAMETERS: Final = (
    "follow",
    "tailLines",
    "timestamps",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
)
CONNECT_TIMEOUT_S: Final = 5.0
ANSWER_TIMEOUT_S: Final = 10.0
"""How long the agent may take to start its answer (its headers); a followed log may then idle."""
DEFAULT_CONTAINER_ANNOTATION: Final = "kubectl.kubernetes.io/default-container"


def choose_container(pod: Mapping[str, Any], requested: str | None) -> str:
    """The container whose log is asked for; 400 as upstream when it is ambiguous or unknown."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    init = [str(c.get("name")) for c in (pod.get("spec") or {}).get("initContainers") or []]
    if requested:
        if requested not in containers + init:
            raise BadRequestError(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    message = f"a container name must be specified for pod {name}"
    if containers:
        message += f", choose one of: [{' '.join(containers)}]"
    if containers and init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise BadRequestError(message)


def agent_address(node: Mapping[str, Any]) -> tuple[str, int] | None:
    """Host and port of the node agent a Node reports, or None if it reports none."""
    status = node.get("status") or {}
    port = (((status.get("daemonEndpoints") or {}).get("kubeletEndpoint")) or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    if not host or not isinstance(port, int) or port <= 0:
        return None
    return str(host), port


class PodLogProxy:
    """Streams a container's log from the node agent that runs the pod."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def proxy(self, request: web.Request, pod: JsonObject) -> web.StreamResponse:
        metadata = pod.get("metadata") or {}
        pod_name, namespace = str(metadata.get("name")), str(metadata.get("namespace"))
        container = choose_container(pod, request.query.get("container"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise BadRequestError(
                f'container "{container}" in pod "{pod_name}" is waiting to start: '
                "the pod is not scheduled to a node yet"
            )
        nodes = RESOURCES.lookup("", "v1", "nodes")
        assert nodes is not None
        node = await self.registry.get(nodes, None, str(node_name))
        address = agent_address(node)
        if address is None:
            raise unavailable(f"node {node_name} reports no node agent endpoint")
        host, port = address
        params = {k: v for k, v in request.query.items() if k in PASSED_PARAMETERS}
        url = f"http://{host}:{port}/containerLogs/{namespace}/{pod_name}/{container}"
        return await self._copy(request, url, params, str(node_name))

    async def _copy(
        self, request: web.Request, url: str, params: Mapping[str, str], node: str
    ) -> web.StreamResponse:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT_S):
                    upstream = await session.get(url, params=params)
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = str(error) or f"no answer within {ANSWER_TIMEOUT_S:g}s"
                raise unavailable(
                    f"the node agent of node {node} is not reachable: {reason}"
                ) from None
            async with upstream:
                if upstream.status != 200:
                    text = await _error_text(upstream)
                    raise BadRequestError(text or f"the node agent answered {upstream.status}")
                response = web.StreamResponse(status=200)
                response.content_type = "text/plain"
                await response.prepare(request)
                # From here on the status is sent: a broken agent connection ends the log.
                with contextlib.suppress(aiohttp.ClientError):
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                await response.write_eof()
                return response


def unavailable(message: str) -> ServiceUnavailableError:
    """503 without Retry-After: client-go retries a GET answered 5xx with Retry-After up to ten
    times, so `kubectl logs` would hang for a minute on a dead node instead of saying so."""
    return ServiceUnavailableError(message)


async def _error_text(upstream: aiohttp.ClientResponse) -> str:
    """The start of an agent's error answer ("" if it will not say within the timeout)."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            return (await upstream.text(errors="replace"))[:1000].strip()
    return ""
