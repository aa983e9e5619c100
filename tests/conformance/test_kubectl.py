"""Real `kubectl` against real API servers: what a user of the control plane sees.

The `apiservers` fixture runs two `kubelite apiserver` processes over the module's store
cluster (kubelite's Raft store, or a real etcd), so every test runs on both backends. The
installed `kubectl` is a dispatcher that runs `kubectl.1.31` because our `/version` says minor
31. Every invocation gets a fresh discovery cache (`KUBECACHEDIR`), an explicit kubeconfig, a
`--request-timeout` and a subprocess timeout; `kubectl get -w`, which never ends by itself, runs
as a managed process whose output goes to a log file that the test polls, and is killed by PID.

Each test that writes works in its own namespace, created with `kubectl create namespace`.
Read-only tests share the `sample` namespace, filled once per backend by `kubectl create -f`:

    namespace sample: deployment web (nginx + sidecar), service web, pod solo, configmap settings

No controllers run here, so object status stays as the API server wrote it (deployments report
0 ready replicas, pods stay Pending, nodes have no Ready condition and show `Unknown`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apiservers import ApiServers
from support.kubectl import Kubectl
from support.procs import ManagedProcess, ProcessRegistry
from support.wait import wait_for

WATCH_REQUEST_TIMEOUT = "--request-timeout=60s"  # the watch ends by itself even if never killed
WATCH_OUTPUT_WAIT_S = 20.0
DELETE_PROMPT_S = 10.0
SAMPLE_NAMESPACE = "sample"
RFC1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or"
    " '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used"
    r" for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.fixture(scope="module")
def kubectl(apiservers: ApiServers, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(apiservers, tmp_path_factory.mktemp("kubectl-cache"))


MAX_NAMESPACE_LENGTH = 58  # so that node_name_for() stays a valid label value (63)


@pytest.fixture
def namespace_name(request: pytest.FixtureRequest) -> str:
    """A namespace name no other test of the module uses, e.g. "scale-deployment-kubelite"."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_")).strip("-")
    if len(slug) <= MAX_NAMESPACE_LENGTH:
        return slug
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    return f"{slug[: MAX_NAMESPACE_LENGTH - 9].rstrip('-')}-{digest}"


def node_name_for(namespace: str) -> str:
    """The name of the Node the test using `namespace` creates."""
    return f"{namespace}-node"


@pytest.fixture
def namespace(kubectl: Kubectl, namespace_name: str) -> str:
    assert kubectl("create", "namespace", namespace_name) == (
        f"namespace/{namespace_name} created\n"
    )
    return namespace_name


# ----- manifests -------------------------------------------------------------------------


def manifests(*objects: dict[str, Any]) -> str:
    """A multi-document YAML file, as a user would write it."""
    return yaml.safe_dump_all(objects, sort_keys=False)


def namespace_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": {"mode": name},
    }


def deployment(
    name: str,
    namespace: str,
    replicas: int = 2,
    nginx_image: str = "nginx:1.25",
    nginx_env: tuple[str, ...] = ("A", "B"),
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": nginx_image,
                            "env": [{"name": var, "value": var.lower()} for var in nginx_env],
                        },
                        {"name": "sidecar", "image": "busybox:1.36"},
                    ]
                },
            },
        },
    }


def service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def pod(name: str, namespace: str, node_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    if node_name is not None:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": spec,
    }


def node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
    }


# ----- output parsing --------------------------------------------------------------------


def parse_table(text: str) -> list[dict[str, str]]:
    """kubectl's human output as rows keyed by header; columns start where the header's do.

    Headers may hold single spaces ("NOMINATED NODE"); columns are 2+ spaces apart.
    """
    header, *rows = [line for line in text.splitlines() if line.strip()]
    starts = [0, *(match.end() for match in re.finditer(r" {2,}(?=\S)", header))]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[start:end].strip() for start, end in bounds]
    return [
        {name: row[start:end].strip() for name, (start, end) in zip(names, bounds, strict=True)}
        for row in rows
    ]


def describe_fields(text: str) -> dict[str, str]:
    """The top-level `Key:  value` lines of `kubectl describe` output."""
    return {
        match.group(1): match.group(2).strip()
        for match in re.finditer(r"^([A-Z][A-Za-z-]*):[ \t]*(.*)$", text, re.MULTILINE)
    }


def names(kubectl_output: str) -> set[str]:
    return set(kubectl_output.split())


# ----- the shared read-only sample -------------------------------------------------------


@pytest.fixture(scope="module")
def sample(kubectl: Kubectl) -> str:
    """The `sample` namespace (see the module docstring); tests must not change it."""
    ns = SAMPLE_NAMESPACE
    kubectl(
        "create",
        "-f",
        "-",
        stdin=manifests(
            namespace_object(ns),
            configmap("settings", ns, labels={"app": "web"}),
            deployment("web", ns),
            service("web", ns),
            pod("solo", ns),
        ),
    )
    return ns


# ----- create, apply ---------------------------------------------------------------------


def test_create_multi_document_file(kubectl: Kubectl, namespace_name: str) -> None:
    ns = namespace_name
    document = manifests(
        namespace_object(ns),
        configmap("settings", ns),
        deployment("web", ns),
        service("web", ns),
        pod("solo", ns),
    )
    assert kubectl("create", "-f", "-", stdin=document).splitlines() == [
        f"namespace/{ns} created",
        "configmap/settings created",
        "deployment.apps/web created",
        "service/web created",
        "pod/solo created",
    ]
    assert kubectl.json("get", "namespace", ns)["status"]["phase"] == "Active"
    stored = kubectl.json("get", "configmap,deployment,service,pod", "-n", ns)
    assert [(item["kind"], item["metadata"]["name"]) for item in stored["items"]] == [
        ("ConfigMap", "settings"),
        ("Deployment", "web"),
        ("Service", "web"),
        ("Pod", "solo"),
    ]
    for item in stored["items"]:
        assert item["metadata"]["uid"] and item["metadata"]["resourceVersion"], item

    # Creating the same file again reports every object, each with the upstream message.
    assert kubectl.fails("create", "-f", "-", stdin=document).splitlines() == [
        f'Error from server (AlreadyExists): error when creating "STDIN": {what} already exists'
        for what in (
            f'namespaces "{ns}"',
            'configmaps "settings"',
            'deployments.apps "web"',
            'services "web"',
            'pods "solo"',
        )
    ]


def test_apply_then_reapply_changed_file(kubectl: Kubectl, namespace: str) -> None:
    first = manifests(deployment("api", namespace, replicas=2))
    assert kubectl("apply", "-f", "-", stdin=first) == "deployment.apps/api created\n"
    assert kubectl("apply", "-f", "-", stdin=first) == "deployment.apps/api unchanged\n"

    # The re-apply patch carries $setElementOrder/containers, $setElementOrder/env and
    # {"$patch": "delete", "name": "B"}; see the reference's §3.6.
    changed = deployment("api", namespace, replicas=3, nginx_image="nginx:1.26", nginx_env=("A",))
    assert kubectl("apply", "-f", "-", stdin=manifests(changed)) == (
        "deployment.apps/api configured\n"
    )
    stored = kubectl.json("get", "deployment", "api", "-n", namespace)
    assert stored["spec"]["replicas"] == 3
    assert containers_summary(stored) == [
        ("nginx", "nginx:1.26", [{"name": "A", "value": "a"}]),
        ("sidecar", "busybox:1.36", None),
    ]
    last_applied = json.loads(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last_applied["spec"] == changed["spec"]
    assert stored["metadata"]["generation"] == 2
    assert kubectl("apply", "-f", "-", stdin=manifests(changed)) == (
        "deployment.apps/api unchanged\n"
    )


def test_apply_keeps_fields_it_does_not_own(kubectl: Kubectl, namespace: str) -> None:
    applied = manifests(deployment("api", namespace, nginx_env=("A", "B")))
    kubectl("apply", "-f", "-", stdin=applied)
    # Someone else adds env C; a strategic merge patch puts a merged list's new items first.
    env_c = {"containers": [{"name": "nginx", "env": [{"name": "C", "value": "c"}]}]}
    kubectl(
        "patch", "deployment", "api", "-n", namespace,
        "-p", json.dumps({"spec": {"template": {"spec": env_c}}}),
    )  # fmt: skip
    changed = manifests(deployment("api", namespace, nginx_image="nginx:1.26", nginx_env=("A",)))
    assert kubectl("apply", "-f", "-", stdin=changed) == "deployment.apps/api configured\n"
    stored = kubectl.json("get", "deployment", "api", "-n", namespace)
    assert containers_summary(stored) == [
        ("nginx", "nginx:1.26", [{"name": "C", "value": "c"}, {"name": "A", "value": "a"}]),
        ("sidecar", "busybox:1.36", None),
    ]

    # The live env list [C, A] differs in length from the file's [A], so kubectl sends a
    # $setElementOrder again (and says "configured"); the server finds nothing to change.
    assert kubectl("apply", "-f", "-", stdin=changed) == "deployment.apps/api configured\n"
    again = kubectl.json("get", "deployment", "api", "-n", namespace)
    assert again["spec"] == stored["spec"]
    assert again["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def containers_summary(deployment_object: dict[str, Any]) -> list[tuple[str, str, Any]]:
    containers = deployment_object["spec"]["template"]["spec"]["containers"]
    return [(c["name"], c["image"], c.get("env")) for c in containers]


def test_create_subcommands(kubectl: Kubectl, namespace: str) -> None:
    assert (
        kubectl(
            "create", "deployment", "hello", "--image=nginx:1.25", "--replicas=2", "-n", namespace
        )
        == "deployment.apps/hello created\n"
    )
    created = kubectl.json("get", "deployment", "hello", "-n", namespace)
    assert created["spec"]["replicas"] == 2
    assert created["spec"]["selector"] == {"matchLabels": {"app": "hello"}}
    assert [(c["name"], c["image"]) for c in created["spec"]["template"]["spec"]["containers"]] == [
        ("nginx", "nginx:1.25")
    ]

    assert (
        kubectl(
            "create",
            "configmap",
            "literal",
            "--from-literal=a=1",
            "--from-literal=b=two",
            "-n",
            namespace,
        )
        == "configmap/literal created\n"
    )
    assert kubectl.json("get", "configmap", "literal", "-n", namespace)["data"] == {
        "a": "1",
        "b": "two",
    }


# ----- get -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource, expected",
    [
        pytest.param(
            "deployment/web",
            {
                "NAME": "web",
                "READY": "0/2",
                "UP-TO-DATE": "0",
                "AVAILABLE": "0",
                "CONTAINERS": "nginx,sidecar",
                "IMAGES": "nginx:1.25,busybox:1.36",
                "SELECTOR": "app=web",
            },
            id="deployment",
        ),
        pytest.param(
            "service/web",
            {
                "NAME": "web",
                "TYPE": "ClusterIP",
                "EXTERNAL-IP": "<none>",
                "PORT(S)": "80/TCP",
                "SELECTOR": "app=web",
            },
            id="service",
        ),
        pytest.param(
            "pod/solo",
            {
                "NAME": "solo",
                "READY": "0/1",
                "STATUS": "Pending",
                "RESTARTS": "0",
                "IP": "<none>",
                "NODE": "<none>",
                "NOMINATED NODE": "<none>",
                "READINESS GATES": "<none>",
            },
            id="pod",
        ),
    ],
)
def test_get_wide_has_upstream_columns(
    kubectl: Kubectl, sample: str, resource: str, expected: dict[str, str]
) -> None:
    (row,) = parse_table(kubectl("get", resource, "-n", sample, "-o", "wide"))
    assert {column: row.get(column) for column in expected} == expected, row
    assert re.fullmatch(r"\d+s|\d+m\d*s?", row["AGE"]), row


def test_get_wide_service_shows_its_cluster_ip(kubectl: Kubectl, sample: str) -> None:
    (row,) = parse_table(kubectl("get", "service", "web", "-n", sample, "-o", "wide"))
    cluster_ip = kubectl.json("get", "service", "web", "-n", sample)["spec"]["clusterIP"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", cluster_ip)
    assert row["CLUSTER-IP"] == cluster_ip


def test_get_yaml_and_json(kubectl: Kubectl, sample: str) -> None:
    as_yaml = yaml.safe_load(kubectl("get", "deployment", "web", "-n", sample, "-o", "yaml"))
    as_json = kubectl.json("get", "deployment", "web", "-n", sample)
    assert as_yaml == as_json
    assert (as_json["apiVersion"], as_json["kind"]) == ("apps/v1", "Deployment")
    assert (as_json["metadata"]["name"], as_json["metadata"]["namespace"]) == ("web", sample)
    assert [c["image"] for c in as_json["spec"]["template"]["spec"]["containers"]] == [
        "nginx:1.25",
        "busybox:1.36",
    ]

    listed = kubectl.json("get", "configmaps", "-n", sample)
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["settings"]
    assert listed["items"][0]["data"] == {"mode": "settings"}


def test_get_all_namespaces(kubectl: Kubectl, sample: str, namespace: str) -> None:
    kubectl("create", "configmap", "settings", "-n", namespace)
    rows = parse_table(kubectl("get", "configmaps", "-A"))
    assert list(rows[0]) == ["NAMESPACE", "NAME", "DATA", "AGE"]
    found = {(row["NAMESPACE"], row["NAME"], row["DATA"]) for row in rows}
    assert {(sample, "settings", "1"), (namespace, "settings", "0")} <= found


@pytest.mark.parametrize(
    "selector, expected",
    [
        pytest.param("app=web", {"configmap/settings", "deployment.apps/web", "service/web"}),
        pytest.param("app!=web", {"pod/solo"}),
        pytest.param(
            "app in (solo,web)",
            {"configmap/settings", "deployment.apps/web", "service/web", "pod/solo"},
            id="in",
        ),
        pytest.param("app notin (web)", {"pod/solo"}, id="notin"),
        pytest.param("!app", set(), id="not-exists"),
    ],
)
def test_get_label_selector(
    kubectl: Kubectl, sample: str, selector: str, expected: set[str]
) -> None:
    output = kubectl(
        "get", "configmap,deployment,service,pod", "-n", sample, "-l", selector, "-o", "name"
    )
    assert names(output) == expected


def test_get_field_selector(kubectl: Kubectl, sample: str) -> None:
    output = kubectl(
        "get",
        "pods,configmaps",
        "-n",
        sample,
        "--field-selector",
        "metadata.name=solo",
        "-o",
        "name",
    )
    assert names(output) == {"pod/solo"}
    done = kubectl.run("get", "deployments", "-n", sample, "--field-selector", "metadata.name=nope")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"No resources found in {sample} namespace.\n"


def test_get_all(kubectl: Kubectl, sample: str) -> None:
    assert names(kubectl("get", "all", "-n", sample, "-o", "name")) == {
        "pod/solo",
        "service/web",
        "deployment.apps/web",
    }
    human = kubectl("get", "all", "-n", sample)
    for row_start in ("pod/solo ", "service/web ", "deployment.apps/web "):
        assert re.search(rf"^{re.escape(row_start)}", human, re.MULTILINE), human


def test_get_chunked(kubectl: Kubectl, namespace: str) -> None:
    kubectl(
        "create",
        "-f",
        "-",
        stdin=manifests(*(configmap(f"cm-{index}", namespace) for index in range(7))),
    )
    # -v=6 logs every request URL on stderr: 7 objects in pages of 2 take 4 requests.
    done = kubectl.run("get", "configmaps", "-n", namespace, "--chunk-size=2", "-o", "name", "-v=6")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"configmap/cm-{index}" for index in range(7)]
    pages = re.findall(rf"GET \S+/namespaces/{namespace}/configmaps\?(\S+) 200", done.stderr)
    assert len(pages) == 4, done.stderr
    assert all("limit=2" in query for query in pages), pages
    assert ["continue=" in query for query in pages] == [False, True, True, True], pages

    rows = parse_table(kubectl("get", "configmaps", "-n", namespace, "--chunk-size=2"))
    assert [row["NAME"] for row in rows] == [f"cm-{index}" for index in range(7)]


def test_get_watch(
    kubectl: Kubectl, namespace: str, process_registry: ProcessRegistry, tmp_path: Path
) -> None:
    kubectl("create", "configmap", "before", "-n", namespace)
    watcher = process_registry.spawn(
        "kubectl-get-watch",
        [
            "kubectl",
            "get",
            "configmaps",
            "-n",
            namespace,
            "-w",
            "--output-watch-events",
            WATCH_REQUEST_TIMEOUT,
        ],
        tmp_path / "kubectl-get-watch.log",
        env=kubectl.env(),
    )
    try:
        # Once the list has printed, the watch starts from the list's resourceVersion, so
        # nothing written afterwards can be missed.
        wait_for_watch_lines(watcher, [("ADDED", "before")])
        kubectl("create", "configmap", "during", "-n", namespace)
        kubectl("label", "configmap", "during", "-n", namespace, "seen=yes")
        kubectl("delete", "configmap", "during", "-n", namespace)
        wait_for_watch_lines(
            watcher,
            [
                ("ADDED", "before"),
                ("ADDED", "during"),
                ("MODIFIED", "during"),
                ("DELETED", "during"),
            ],
        )
        assert watcher.is_running(), watcher.log_tail()
    finally:
        watcher.kill()


def watch_lines(watcher: ManagedProcess) -> list[tuple[str, str]]:
    """(EVENT, NAME) of each row `kubectl get -w --output-watch-events` has printed."""
    return re.findall(r"^(ADDED|MODIFIED|DELETED)\s+(\S+)", watcher.log_text(), re.MULTILINE)


def wait_for_watch_lines(watcher: ManagedProcess, expected: list[tuple[str, str]]) -> None:
    def printed() -> bool:
        if not watcher.is_running():
            raise AssertionError(f"kubectl get -w exited:\n{watcher.log_tail()}")
        return watch_lines(watcher) == expected

    wait_for(
        printed,
        WATCH_OUTPUT_WAIT_S,
        describe=lambda: f"kubectl get -w printing {expected}; output:\n{watcher.log_text()}",
    )


def test_both_servers_agree(kubectl: Kubectl, namespace: str) -> None:
    kubectl(
        "create", "-f", "-", stdin=manifests(*(configmap(f"cm-{i}", namespace) for i in range(3)))
    )
    kubectl("label", "configmap", "cm-1", "-n", namespace, "via=second", server=1)
    kubectl("create", "configmap", "cm-3", "-n", namespace, server=1)

    def seen(server: int) -> list[tuple[str, str, str]]:
        listed = kubectl.json("get", "configmaps", "-n", namespace, server=server)
        return [
            (item["metadata"]["name"], item["metadata"]["uid"], item["metadata"]["resourceVersion"])
            for item in listed["items"]
        ]

    # A list without resourceVersion is a consistent read: no waiting for either server's cache.
    first, second = seen(0), seen(1)
    assert first == second
    assert [name for name, _, _ in first] == ["cm-0", "cm-1", "cm-2", "cm-3"]
    labels = kubectl.json("get", "configmap", "cm-1", "-n", namespace)["metadata"]["labels"]
    assert labels == {"via": "second"}


# ----- describe --------------------------------------------------------------------------


def test_describe_deployment(kubectl: Kubectl, sample: str) -> None:
    output = kubectl("describe", "deployment", "web", "-n", sample)
    fields = describe_fields(output)
    assert {key: fields.get(key) for key in ("Name", "Namespace", "Labels", "Selector")} == {
        "Name": "web",
        "Namespace": sample,
        "Labels": "app=web",
        "Selector": "app=web",
    }
    assert fields["Replicas"] == "2 desired | 0 updated | 0 total | 0 available | 0 unavailable"
    assert fields["StrategyType"] == "RollingUpdate"
    assert fields["RollingUpdateStrategy"] == "25% max unavailable, 25% max surge"
    images = re.findall(r"^\s+Image:\s+(\S+)$", output, re.MULTILINE)
    assert images == ["nginx:1.25", "busybox:1.36"], output


def test_describe_node(kubectl: Kubectl, namespace: str) -> None:
    node_name = node_name_for(namespace)
    kubectl("create", "-f", "-", stdin=manifests(node(node_name)))
    kubectl("create", "-f", "-", stdin=manifests(pod("bound", namespace, node_name=node_name)))
    output = kubectl("describe", "node", node_name)
    fields = describe_fields(output)
    assert {key: fields.get(key) for key in ("Name", "Roles", "Labels", "Unschedulable")} == {
        "Name": node_name,
        "Roles": "<none>",
        "Labels": f"kubernetes.io/hostname={node_name}",
        "Unschedulable": "false",
    }
    assert re.search(r"^Non-terminated Pods:\s+\(1 in total\)$", output, re.MULTILINE), output
    assert re.search(rf"^\s+{namespace}\s+bound\s", output, re.MULTILINE), output


# ----- label, annotate, patch, scale -----------------------------------------------------


@pytest.mark.parametrize(
    "verb, field, done, removed",
    [
        pytest.param("label", "labels", "labeled", "unlabeled", id="label"),
        pytest.param("annotate", "annotations", "annotated", "annotated", id="annotate"),
    ],
)
def test_label_and_annotate(
    kubectl: Kubectl, namespace: str, verb: str, field: str, done: str, removed: str
) -> None:
    kubectl("create", "configmap", "target", "-n", namespace)

    def change(*args: str) -> str:
        return kubectl(verb, "configmap", "target", "-n", namespace, *args)

    def current() -> dict[str, str]:
        stored = kubectl.json("get", "configmap", "target", "-n", namespace)
        return dict(stored["metadata"].get(field) or {})

    assert change("tier=a") == f"configmap/target {done}\n"
    assert current() == {"tier": "a"}

    refusal = kubectl.fails(verb, "configmap", "target", "-n", namespace, "tier=b")
    assert "'tier' already has a value (a)" in refusal and "--overwrite is false" in refusal
    assert current() == {"tier": "a"}

    assert change("tier=b", "other=x", "--overwrite") == f"configmap/target {done}\n"
    assert current() == {"tier": "b", "other": "x"}

    assert change("tier-") == f"configmap/target {removed}\n"
    assert current() == {"other": "x"}


NEW_SIDECAR = {
    "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "b:2"}]}}}
}


@pytest.mark.parametrize(
    "patch_type, patch, images",
    [
        # Strategic merge: containers merge by name, so nginx stays.
        pytest.param("strategic", NEW_SIDECAR, ["nginx:1.25", "b:2"], id="strategic"),
        # JSON merge patch (RFC 7386): lists are replaced whole, so only the sidecar is left.
        pytest.param("merge", NEW_SIDECAR, ["b:2"], id="merge"),
        pytest.param(
            "json",
            [{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "b:2"}],
            ["nginx:1.25", "b:2"],
            id="json",
        ),
    ],
)
def test_patch(
    kubectl: Kubectl, namespace: str, patch_type: str, patch: Any, images: list[str]
) -> None:
    kubectl("create", "-f", "-", stdin=manifests(deployment("web", namespace)))
    output = kubectl(
        "patch", "deployment", "web", "-n", namespace, "--type", patch_type, "-p", json.dumps(patch)
    )
    assert output == "deployment.apps/web patched\n"
    stored = kubectl.json("get", "deployment", "web", "-n", namespace)
    assert [c["image"] for c in stored["spec"]["template"]["spec"]["containers"]] == images
    assert stored["metadata"]["generation"] == 2


def test_scale_deployment(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-f", "-", stdin=manifests(deployment("web", namespace, replicas=2)))
    assert kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=5") == (
        "deployment.apps/web scaled\n"
    )
    stored = kubectl.json("get", "deployment", "web", "-n", namespace)
    assert (stored["spec"]["replicas"], stored["metadata"]["generation"]) == (5, 2)
    assert (
        kubectl("scale", "deployment/web", "-n", namespace, "--replicas=0", "--current-replicas=5")
        == "deployment.apps/web scaled\n"
    )
    assert kubectl.json("get", "deployment", "web", "-n", namespace)["spec"]["replicas"] == 0


# ----- delete ----------------------------------------------------------------------------


@pytest.mark.parametrize("wait", ["--wait=true", "--wait=false"])
def test_delete_configmap(kubectl: Kubectl, namespace: str, wait: str) -> None:
    kubectl("create", "configmap", "doomed", "-n", namespace)
    started = time.monotonic()
    output = kubectl("delete", "configmap", "doomed", "-n", namespace, wait, "--timeout=20s")
    elapsed = time.monotonic() - started
    assert output == 'configmap "doomed" deleted\n'
    assert elapsed < DELETE_PROMPT_S, f"kubectl delete {wait} took {elapsed:.1f}s"
    assert kubectl.fails("get", "configmap", "doomed", "-n", namespace) == (
        'Error from server (NotFound): configmaps "doomed" not found\n'
    )


def test_delete_pod_bound_to_node_is_graceful_unless_forced(
    kubectl: Kubectl, namespace: str
) -> None:
    node_name = node_name_for(namespace)
    kubectl(
        "create", "-f", "-", stdin=manifests(node(node_name), pod("bound", namespace, node_name))
    )

    # No node agent runs, so nobody finishes the graceful deletion: the pod stays, terminating.
    assert (
        kubectl("delete", "pod", "bound", "-n", namespace, "--wait=false")
        == 'pod "bound" deleted\n'
    )
    stored = kubectl.json("get", "pod", "bound", "-n", namespace)
    assert stored["metadata"]["deletionTimestamp"], stored["metadata"]
    assert stored["metadata"]["deletionGracePeriodSeconds"] == 30
    (row,) = parse_table(kubectl("get", "pod", "bound", "-n", namespace))
    assert row["STATUS"] == "Terminating"

    done = kubectl.run("delete", "pod", "bound", "-n", namespace, "--grace-period=0", "--force")
    assert (done.returncode, done.stdout) == (0, 'pod "bound" force deleted\n'), done.stderr
    assert "Immediate deletion does not wait for confirmation" in done.stderr
    assert kubectl.fails("get", "pod", "bound", "-n", namespace) == (
        'Error from server (NotFound): pods "bound" not found\n'
    )


def test_delete_unscheduled_pod_is_immediate(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-f", "-", stdin=manifests(pod("floating", namespace)))
    assert kubectl("delete", "pod", "floating", "-n", namespace, "--timeout=20s") == (
        'pod "floating" deleted\n'
    )
    assert kubectl("get", "pods", "-n", namespace, "-o", "name") == ""


# ----- nodes -----------------------------------------------------------------------------


def test_cordon_and_uncordon(kubectl: Kubectl, namespace_name: str) -> None:
    node_name = node_name_for(namespace_name)
    assert (
        kubectl("create", "-f", "-", stdin=manifests(node(node_name)))
        == f"node/{node_name} created\n"
    )

    def state() -> tuple[Any, str]:
        stored = kubectl.json("get", "node", node_name)
        (row,) = parse_table(kubectl("get", "node", node_name))
        return stored["spec"].get("unschedulable"), row["STATUS"]

    assert kubectl("cordon", node_name) == f"node/{node_name} cordoned\n"
    assert state() == (True, "Unknown,SchedulingDisabled")
    assert kubectl("cordon", node_name) == f"node/{node_name} already cordoned\n"

    assert kubectl("uncordon", node_name) == f"node/{node_name} uncordoned\n"
    assert state() == (None, "Unknown")


# ----- errors ----------------------------------------------------------------------------


def invalid_objects(namespace: str) -> list[dict[str, Any]]:
    negative = deployment("negative", namespace)
    negative["spec"]["replicas"] = -1
    return [configmap("Bad_Name", namespace), negative]


@pytest.mark.parametrize(
    "args, stdin, expected",
    [
        pytest.param(
            ["get", "deployment", "missing"],
            None,
            ['Error from server (NotFound): deployments.apps "missing" not found'],
            id="not-found-apps",
        ),
        pytest.param(
            ["delete", "configmap", "missing"],
            None,
            ['Error from server (NotFound): configmaps "missing" not found'],
            id="not-found-core",
        ),
        pytest.param(
            ["create", "namespace", "{ns}"],
            None,
            ['Error from server (AlreadyExists): namespaces "{ns}" already exists'],
            id="already-exists-namespace",
        ),
        pytest.param(
            ["create", "-f", "-"],
            lambda ns: manifests(configmap("existing", ns)),
            [
                'Error from server (AlreadyExists): error when creating "STDIN":'
                ' configmaps "existing" already exists'
            ],
            id="already-exists-create-file",
        ),
        pytest.param(
            ["create", "-f", "-"],
            lambda ns: manifests(*invalid_objects(ns)),
            [
                'Error from server (Invalid): error when creating "STDIN": ConfigMap "Bad_Name"'
                ' is invalid: metadata.name: Invalid value: "Bad_Name": '
                + RFC1123_SUBDOMAIN_MESSAGE,
                'Error from server (Invalid): error when creating "STDIN": Deployment.apps'
                ' "negative" is invalid: spec.replicas: Invalid value: -1: must be greater than'
                " or equal to 0",
            ],
            id="invalid-two-objects",
        ),
        # With a single error kubectl prints Invalid its own way, not as "Error from server".
        pytest.param(
            ["create", "-f", "-"],
            lambda ns: manifests(invalid_objects(ns)[0]),
            [
                'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                + RFC1123_SUBDOMAIN_MESSAGE
            ],
            id="invalid-one-object",
        ),
    ],
)
def test_errors_from_server(
    kubectl: Kubectl, namespace: str, args: list[str], stdin: Any, expected: list[str]
) -> None:
    kubectl("create", "-f", "-", stdin=manifests(configmap("existing", namespace)))
    argv = [arg.format(ns=namespace) for arg in args]
    stderr = kubectl.fails(*argv, "-n", namespace, stdin=stdin(namespace) if stdin else None)
    assert stderr.splitlines() == [line.format(ns=namespace) for line in expected]
    remaining = kubectl("get", "configmaps,deployments", "-n", namespace, "-o", "name")
    assert names(remaining) == {"configmap/existing"}


# ----- raw endpoints and discovery -------------------------------------------------------


def test_get_raw(kubectl: Kubectl) -> None:
    version = json.loads(kubectl("get", "--raw", "/version"))
    assert (version["major"], version["minor"]) == ("1", "31")
    assert version["gitVersion"].startswith("v1.31."), version
    assert kubectl("get", "--raw", "/readyz") == "ok"
    assert kubectl("get", "--raw", "/livez") == "ok"
    metrics = kubectl("get", "--raw", "/metrics")
    assert "# TYPE apiserver_request_total counter" in metrics, metrics[:2000]
    assert re.search(r"^apiserver_request_total\{.*\} \d", metrics, re.MULTILINE), metrics[:2000]


def test_api_resources(kubectl: Kubectl) -> None:
    rows = {row["NAME"]: row for row in parse_table(kubectl("api-resources"))}
    expected = {
        "pods": ("po", "v1", "true", "Pod"),
        "nodes": ("no", "v1", "false", "Node"),
        "deployments": ("deploy", "apps/v1", "true", "Deployment"),
        "leases": ("", "coordination.k8s.io/v1", "true", "Lease"),
    }
    columns = ("SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")
    assert {
        name: tuple(rows[name][column] for column in columns) for name in expected if name in rows
    } == expected
    assert {"pods", "deployments.apps", "leases.coordination.k8s.io"} <= names(
        kubectl("api-resources", "-o", "name")
    )
