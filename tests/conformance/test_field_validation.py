"""fieldValidation as users meet it: real kubectl 1.31 and the Python client against real servers.

kubectl finds ``fieldValidation`` in our ``/openapi/v3``, skips its own schema check and lets
the server judge: ``apply``/``create``/``replace`` send ``fieldValidation=Strict`` (a typo is a
400 and nothing is written), ``--validate=warn`` sends ``Warn`` (the write happens, the typo is
dropped and kubectl prints the server's ``Warning`` header), ``--validate=false`` sends
``Ignore`` (dropped silently). The Python client sends what ``field_validation=`` says, and
nothing by default, which upstream treats as Warn. Its models are strict, so its unknown field
is a real-world one: pod-level ``spec.resources``, which the v37 models know and a 1.31 server
does not (version skew).

Every kubectl run gets the module's discovery cache directory (``KUBECACHEDIR``), an explicit
kubeconfig, a ``--request-timeout`` and a subprocess timeout. Each test works in its own
namespace; everything it checks is read back after the write returned, so nothing waits.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support.apiservers import ApiServers
from support.kubectl import Kubectl

CLIENT_TIMEOUT: dict[str, Any] = {"_request_timeout": 10.0}
TYPO = "imagePullPolcy"
TYPO_PATH = f"spec.template.spec.containers[0].{TYPO}"
STRICT_ERROR = f'strict decoding error: unknown field "{TYPO_PATH}"'


@pytest.fixture(scope="module")
def kubectl(apiservers: ApiServers, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(apiservers, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))
    name = f"fv-{slug.strip('-')[:40].rstrip('-')}-{secrets.token_hex(3)}"
    kubectl.ok("create", "namespace", name)
    return name


def deployment_manifest(namespace: str, image: str = "nginx:1.27", typo: bool = True) -> str:
    container: dict[str, Any] = {"name": "web", "image": image}
    if typo:
        container[TYPO] = "IfNotPresent"
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [container]},
                },
            },
        },
        sort_keys=False,
    )


def stored_container(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    deployment = kubectl.json("get", "deployment", "web", "-n", namespace)
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


# --- kubectl ------------------------------------------------------------------------------------


def test_apply_with_a_typo_fails_and_writes_nothing(kubectl: Kubectl, namespace: str) -> None:
    stderr = kubectl.fails("apply", "-f", "-", stdin=deployment_manifest(namespace))
    assert stderr == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version '
        f'"v1" cannot be handled as a Deployment: {STRICT_ERROR}\n'
    )
    assert kubectl.fails("get", "deployment", "web", "-n", namespace) == (
        'Error from server (NotFound): deployments.apps "web" not found\n'
    )


def test_apply_validate_false_drops_the_typo(kubectl: Kubectl, namespace: str) -> None:
    done = kubectl.ok("apply", "--validate=false", "-f", "-", stdin=deployment_manifest(namespace))
    assert (done.stdout, done.stderr) == ("deployment.apps/web created\n", "")
    container = stored_container(kubectl, namespace)
    assert TYPO not in container
    assert container["image"] == "nginx:1.27"


def test_apply_validate_warn_prints_the_servers_warning(kubectl: Kubectl, namespace: str) -> None:
    done = kubectl.ok("apply", "--validate=warn", "-f", "-", stdin=deployment_manifest(namespace))
    assert done.stdout == "deployment.apps/web created\n"
    assert done.stderr == f'Warning: unknown field "{TYPO_PATH}"\n'
    assert TYPO not in stored_container(kubectl, namespace)


def test_reapply_with_a_typo_fails_and_changes_nothing(kubectl: Kubectl, namespace: str) -> None:
    """The re-apply is a strategic merge PATCH: the patched object is what gets checked."""
    kubectl.ok("apply", "-f", "-", stdin=deployment_manifest(namespace, typo=False))
    before = kubectl.json("get", "deployment", "web", "-n", namespace)
    changed = deployment_manifest(namespace, image="nginx:1.28")
    stderr = kubectl.fails("apply", "-f", "-", stdin=changed)
    assert stderr.startswith("Error from server (BadRequest): error when applying patch:")
    assert stderr.endswith(f'for: "STDIN": error when patching "STDIN": {STRICT_ERROR}\n')
    after = kubectl.json("get", "deployment", "web", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_create_and_replace_are_strict_too(kubectl: Kubectl, namespace: str) -> None:
    manifest = deployment_manifest(namespace)
    assert kubectl.fails("create", "-f", "-", stdin=manifest) == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version '
        f'"v1" cannot be handled as a Deployment: {STRICT_ERROR}\n'
    )
    kubectl.ok("create", "-f", "-", stdin=deployment_manifest(namespace, typo=False))
    assert kubectl.fails("replace", "-f", "-", stdin=manifest) == (
        'Error from server (BadRequest): error when replacing "STDIN": Deployment in version '
        f'"v1" cannot be handled as a Deployment: {STRICT_ERROR}\n'
    )


# --- the Python client ----------------------------------------------------------------------------


@pytest.fixture
def core(apiservers: ApiServers) -> Iterator[client.CoreV1Api]:
    configuration = client.Configuration()
    configuration.host = apiservers.urls[0]
    api_client = client.ApiClient(configuration)
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def client_namespace(core: client.CoreV1Api) -> str:
    name = f"fv-client-{secrets.token_hex(4)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def pod_with_pod_level_resources(name: str) -> client.V1Pod:
    """``spec.resources`` (pod-level resources) arrived after 1.31: unknown to our server."""
    spec = client.V1PodSpec(
        containers=[client.V1Container(name="main", image="busybox:1.36")],
        resources=client.V1ResourceRequirements(limits={"cpu": "1"}),
    )
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec)


def test_python_client_strict_is_a_400(core: client.CoreV1Api, client_namespace: str) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(
            client_namespace,
            pod_with_pod_level_resources("strict"),
            field_validation="Strict",
            **CLIENT_TIMEOUT,
        )
    assert caught.value.status == 400
    status = json.loads(caught.value.body)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "BadRequest", 400)
    assert status["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.resources"'
    )
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("strict", client_namespace, **CLIENT_TIMEOUT)
    assert missing.value.status == 404


@pytest.mark.parametrize("field_validation", ["Warn", None], ids=["warn", "default"])
def test_python_client_warn_and_default_drop_and_warn(
    core: client.CoreV1Api, client_namespace: str, field_validation: str | None
) -> None:
    options = {"field_validation": field_validation} if field_validation else {}
    created, code, headers = core.create_namespaced_pod_with_http_info(
        client_namespace, pod_with_pod_level_resources("warned"), **options, **CLIENT_TIMEOUT
    )
    assert code == 201
    assert headers["Warning"] == '299 - "unknown field \\"spec.resources\\""'
    assert created.spec.resources is None
    stored = core.read_namespaced_pod("warned", client_namespace, **CLIENT_TIMEOUT)
    assert stored.spec.resources is None


def test_python_client_unsupported_directive_is_422(
    core: client.CoreV1Api, client_namespace: str
) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"k": "v"})
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(
            client_namespace, body, field_validation="strict", **CLIENT_TIMEOUT
        )
    assert caught.value.status == 422
    assert json.loads(caught.value.body)["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
        '"strict": supported values: "", "Ignore", "Strict", "Warn"'
    )
