"""``pods/log`` through real API servers to a fake node agent: the Python client and kubectl.

The API server proxies ``GET /api/v1/namespaces/<ns>/pods/<pod>/log`` to the node agent of the
pod's Node (its InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``, path
``/containerLogs/<ns>/<pod>/<container>``). Here that agent is `FakeNodeAgent`, an aiohttp
server on 127.0.0.1 port 0 running its own event loop in a thread, so the tests can call the
blocking Python client and run kubectl while it serves. Every container's log is::

    <container> line 1
    ...
    <container> line 5
    <container> followed          (only with follow=true, once the test calls release())

The `apiservers` fixture runs two `kubelite apiserver` processes over the module's store
cluster, so every test runs on both backends. Each test makes its own namespace and Node
(created, then its status written with a PUT of ``nodes/<node>/status``) and binds its pods
to that Node; nothing else runs, so pods stay Pending with the node the test bound them to.
"""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support.apiservers import ApiServers
from support.procs import child_env

LOG_LINES: Final = 5
FOLLOW_WAIT_S: Final = 30.0  # a follow stream the test never releases still ends
AGENT_START_TIMEOUT_S: Final = 10.0
REQUEST_TIMEOUT_S: Final = 20.0
TIMEOUT: Final[dict[str, Any]] = {"_request_timeout": REQUEST_TIMEOUT_S}
KUBECTL_REQUEST_TIMEOUT: Final = "--request-timeout=20s"
SUBPROCESS_TIMEOUT_S: Final = 60.0
LINE_WAIT_S: Final = 20.0
PROMPT_ERROR_S: Final = 10.0  # an unreachable agent is reported at once, not retried for long


def log_lines(container: str) -> list[str]:
    return [f"{container} line {n}" for n in range(1, LOG_LINES + 1)]


# --- the fake node agent ---------------------------------------------------------------------


class FakeNodeAgent:
    """A node agent's log endpoint (see the module docstring), started and stopped by a test.

    ``tailLines=N`` keeps the last N lines; ``follow=true`` sends them one write at a time,
    then waits for `release` of that pod before its last line. `requests` records the path and
    query of every request it answered, for checks of what the API server passed on.
    """

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-node-agent")
        self._runner: web.AppRunner | None = None
        self._released: dict[tuple[str, str], asyncio.Event] = {}

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self.port = future.result(AGENT_START_TIMEOUT_S)

    def stop(self) -> None:
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(AGENT_START_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(AGENT_START_TIMEOUT_S)
        self._loop.close()

    def release(self, namespace: str, pod: str) -> None:
        """Let the follow streams of `pod` send their last line and end."""
        self._loop.call_soon_threadsafe(self._event(namespace, pod).set)

    def _event(self, namespace: str, pod: str) -> asyncio.Event:
        return self._released.setdefault((namespace, pod), asyncio.Event())

    async def _serve(self) -> int:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        container = request.match_info["container"]
        self.requests.append((request.path, dict(request.query)))
        lines = log_lines(container)
        tail = request.query.get("tailLines")
        if tail is not None:
            lines = lines[len(lines) - int(tail) :] if int(tail) else []
        response = web.StreamResponse()
        response.content_type = "text/plain"
        await response.prepare(request)
        if request.query.get("follow") != "true":
            await response.write("".join(f"{line}\n" for line in lines).encode())
            await response.write_eof()
            return response
        for line in lines:
            await response.write(f"{line}\n".encode())  # each write goes out at once
        try:
            await asyncio.wait_for(self._event(namespace, pod).wait(), FOLLOW_WAIT_S)
        except TimeoutError:
            return response  # never released: end without the last line
        await response.write(f"{container} followed\n".encode())
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def agent() -> Iterator[FakeNodeAgent]:
    served = FakeNodeAgent()
    served.start()
    try:
        yield served
    finally:
        served.stop()


# --- the cluster side --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """One test's view: a Python client and kubectl on API server 0, and its namespace."""

    core: client.CoreV1Api
    kubeconfig: Path
    cache_dir: Path
    namespace: str

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args, "-n", self.namespace, KUBECTL_REQUEST_TIMEOUT],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )

    def env(self) -> dict[str, str]:
        return child_env({"KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir)})

    def node(self, name: str, agent_port: int | None) -> None:
        """Create Node `name`, then PUT its status: the agent at 127.0.0.1:`agent_port`
        (no daemon endpoint at all when None)."""
        self.core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name)), **TIMEOUT)
        node = self.core.read_node(name, **TIMEOUT)
        node.status = client.V1NodeStatus(
            addresses=[client.V1NodeAddress(type="InternalIP", address="127.0.0.1")],
            daemon_endpoints=(
                client.V1NodeDaemonEndpoints(
                    kubelet_endpoint=client.V1DaemonEndpoint(port=agent_port)
                )
                if agent_port is not None
                else None
            ),
        )
        self.core.replace_node_status(name, node, **TIMEOUT)

    def pod(
        self,
        name: str,
        containers: tuple[str, ...] = ("app",),
        node: str = "",
        init_containers: tuple[str, ...] = (),
    ) -> None:
        """Create pod `name` and, with a `node`, bind it there (as the scheduler would)."""
        spec = client.V1PodSpec(
            containers=[client.V1Container(name=c, image="busybox") for c in containers],
            init_containers=[client.V1Container(name=c, image="busybox") for c in init_containers]
            or None,
        )
        body = client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec)
        self.core.create_namespaced_pod(self.namespace, body, **TIMEOUT)
        if node:
            binding = client.V1Binding(
                metadata=client.V1ObjectMeta(name=name),
                target=client.V1ObjectReference(kind="Node", name=node),
            )
            # The reply is a Status the typed model cannot hold (reference §3.8).
            self.core.create_namespaced_pod_binding(
                name, self.namespace, binding, _preload_content=False, **TIMEOUT
            )

    def log(self, pod: str, **options: Any) -> str:
        text: str = self.core.read_namespaced_pod_log(pod, self.namespace, **options, **TIMEOUT)
        return text

    def log_error(self, pod: str, **options: Any) -> tuple[int, dict[str, Any]]:
        """The HTTP code and Status of a log request that must fail."""
        with pytest.raises(ApiException) as caught:
            self.log(pod, **options)
        status: dict[str, Any] = json.loads(caught.value.body or "{}")
        assert status.get("kind") == "Status", caught.value.body
        assert status["code"] == caught.value.status
        return caught.value.status, status


@pytest.fixture
def cluster(apiservers: ApiServers, tmp_path: Path) -> Iterator[Cluster]:
    configuration = client.Configuration()
    configuration.host = apiservers.urls[0]
    with client.ApiClient(configuration) as api_client:
        core = client.CoreV1Api(api_client)
        namespace = f"logs-{secrets.token_hex(4)}"
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)), **TIMEOUT
        )
        yield Cluster(core, apiservers.kubeconfig(0), tmp_path / "kubectl-cache", namespace)


def node_name(cluster: Cluster, what: str = "node") -> str:
    return f"{cluster.namespace}-{what}"


# --- reading logs --------------------------------------------------------------------------


def test_python_client_reads_a_log_and_its_tail(cluster: Cluster, agent: FakeNodeAgent) -> None:
    node = node_name(cluster)
    cluster.node(node, agent.port)
    cluster.pod("solo", node=node)
    assert cluster.log("solo") == "".join(f"{line}\n" for line in log_lines("app"))
    assert cluster.log("solo", tail_lines=2) == "app line 4\napp line 5\n"
    path, query = agent.requests[-1]
    assert path == f"/containerLogs/{cluster.namespace}/solo/app"
    assert query == {"tailLines": "2"}


def test_python_client_names_the_container_of_a_multi_container_pod(
    cluster: Cluster, agent: FakeNodeAgent
) -> None:
    node = node_name(cluster)
    cluster.node(node, agent.port)
    cluster.pod("two", containers=("app", "sidecar"), node=node)
    cluster.pod("three", containers=("app", "sidecar"), node=node, init_containers=("setup",))
    assert cluster.log("two", container="sidecar", tail_lines=1) == "sidecar line 5\n"
    assert cluster.log("three", container="setup", tail_lines=1) == "setup line 5\n"
    code, status = cluster.log_error("two")
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == (
        "a container name must be specified for pod two, choose one of: [app sidecar]"
    )
    code, status = cluster.log_error("three")
    assert (code, status["message"]) == (
        400,
        "a container name must be specified for pod three, choose one of: [app sidecar]"
        " or one of the init containers: [setup]",
    )
    code, status = cluster.log_error("two", container="nope")
    assert (code, status["message"]) == (400, "container nope is not valid for pod two")


def test_kubectl_logs(cluster: Cluster, agent: FakeNodeAgent) -> None:
    node = node_name(cluster)
    cluster.node(node, agent.port)
    cluster.pod("solo", node=node)
    cluster.pod("two", containers=("app", "sidecar"), node=node)
    done = cluster.kubectl("logs", "solo", "--tail=3")
    assert (done.returncode, done.stdout) == (0, "app line 3\napp line 4\napp line 5\n"), done
    done = cluster.kubectl("logs", "two", "-c", "sidecar")
    assert done.stdout.splitlines() == log_lines("sidecar"), done
    # Without -c kubectl picks the first container itself (the server would answer 400).
    done = cluster.kubectl("logs", "two", "--tail=1")
    assert (done.returncode, done.stdout) == (0, "app line 5\n"), done
    assert 'Defaulted container "app" out of: app, sidecar' in done.stderr


def read_lines(stream: Any) -> queue.Queue[str | None]:
    """Lines of a text stream as they come, from a thread; None once it has ended."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_lines(lines: queue.Queue[str | None], count: int, seen: list[str]) -> list[str]:
    """The next `count` lines; fails with everything seen so far if they do not come."""
    got: list[str] = []
    for _ in range(count):
        try:
            line = lines.get(timeout=LINE_WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no line within {LINE_WAIT_S}s; seen: {seen + got}") from None
        if line is None:
            raise AssertionError(f"the output ended; seen: {seen + got}")
        got.append(line)
    return got


def test_kubectl_logs_follow_streams(cluster: Cluster, agent: FakeNodeAgent) -> None:
    node = node_name(cluster)
    cluster.node(node, agent.port)
    cluster.pod("solo", node=node)
    argv = ["kubectl", "logs", "-f", "solo", "-n", cluster.namespace, KUBECTL_REQUEST_TIMEOUT]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env()
    )
    try:
        assert process.stdout is not None
        lines = read_lines(process.stdout)
        # Every line so far arrives while the agent still holds the stream open...
        first = next_lines(lines, LOG_LINES, [])
        assert first == log_lines("app")
        assert process.poll() is None, "kubectl logs -f ended before the stream did"
        # ... and the next one as soon as the agent writes it; then the stream ends.
        agent.release(cluster.namespace, "solo")
        assert next_lines(lines, 1, first) == ["app followed"]
        assert process.wait(timeout=SUBPROCESS_TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=SUBPROCESS_TIMEOUT_S)
    assert agent.requests[-1][1] == {"follow": "true"}


# --- errors --------------------------------------------------------------------------------


def test_an_unscheduled_pod_is_bad_request(cluster: Cluster) -> None:
    cluster.pod("pending")
    code, status = cluster.log_error("pending")
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"].startswith('container "app" in pod "pending" is waiting to start')
    done = cluster.kubectl("logs", "pending")
    assert done.returncode != 0
    assert 'Error from server (BadRequest): container "app" in pod "pending"' in done.stderr


@dataclass(frozen=True)
class Unreachable:
    """How a Node can fail to lead to a node agent."""

    describe: str
    agent_port: Callable[[socket.socket], int | None]


UNREACHABLE: Final = [
    pytest.param(Unreachable("no endpoint", lambda _: None), id="no-endpoint"),
    # A socket bound but not listening: connections to its port are refused, and nobody else
    # can take the port while the test holds it.
    pytest.param(Unreachable("refused", lambda sock: int(sock.getsockname()[1])), id="agent-down"),
]


@pytest.mark.parametrize("unreachable", UNREACHABLE)
def test_a_node_without_a_reachable_agent_is_service_unavailable(
    cluster: Cluster, unreachable: Unreachable
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        node = node_name(cluster)
        cluster.node(node, unreachable.agent_port(closed))
        cluster.pod("solo", node=node)
        started = time.monotonic()
        code, status = cluster.log_error("solo")
        assert (code, status["reason"]) == (503, "ServiceUnavailable"), status
        assert node in status["message"]
        done = cluster.kubectl("logs", "solo")
        elapsed = time.monotonic() - started
    assert done.returncode != 0
    assert "Error from server (ServiceUnavailable)" in done.stderr, done.stderr
    assert elapsed < PROMPT_ERROR_S, f"{unreachable.describe}: took {elapsed:.1f}s"
