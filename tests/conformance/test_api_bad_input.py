"""Bad requests to a real API server get a Kubernetes Status with the right code, never a 5xx.

Raw HTTP (``http.client``, so a request goes out exactly as written, with or without a
Content-Type) against the first API server of the module, on both stores. Three parts:

* a table of bad requests, one per row: the expected code and reason, and the Status body
  (kind, status Failure, the same code; causes for 422) -- reference §4;
* a hypothesis property: random bytes or JSON posted, put and patched to resource URLs is
  answered below 500, with a Status whenever it is refused, and the server stays ready;
* max-in-flight: a server started with ``--max-mutating-requests-inflight 1`` refuses a burst of
  concurrent creates in part with 429 TooManyRequests and Retry-After, and serves the rest.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.apiservers import ApiServers, is_ready
from support.procs import ProcessRegistry
from support.store_cluster import StoreCluster

REQUEST_TIMEOUT_S = 10.0
MiB = 1024 * 1024
PATH_NOT_FOUND = "the server could not find the requested resource"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
EXISTING = "existing"
"""A ConfigMap every test namespace holds, for updates and patches to hit."""
EXISTING_PATH = CONFIGMAPS + "/" + EXISTING


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = "application/json",
) -> Reply:
    """One request on a fresh connection; no Content-Type header when `content_type` is None."""
    url = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=REQUEST_TIMEOUT_S)
    try:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return Reply(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


def encode(obj: object) -> bytes:
    return json.dumps(obj).encode()


def assert_failure_status(reply: Reply) -> dict[str, Any]:
    """The reply body is a Kubernetes Status describing the reply's own code."""
    try:
        status = reply.json()
    except ValueError:
        raise AssertionError(f"{reply.status}: body is not JSON: {reply.body[:300]!r}") from None
    assert isinstance(status, dict), status
    assert (status.get("kind"), status.get("apiVersion")) == ("Status", "v1"), status
    assert status.get("status") == "Failure", status
    assert status.get("code") == reply.status, status
    assert status.get("message"), status
    return status


@pytest.fixture
def url(apiservers: ApiServers) -> str:
    return apiservers.urls[0]


@pytest.fixture
def ns(url: str) -> str:
    name = f"bad-{secrets.token_hex(4)}"
    created = send(url, "POST", "/api/v1/namespaces", encode({"metadata": {"name": name}}))
    assert created.status == 201, created
    existing = encode({"metadata": {"name": EXISTING}, "data": {"k": "v"}})
    assert send(url, "POST", CONFIGMAPS.format(ns=name), existing).status == 201
    return name


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A bad request (``{ns}`` in `path` is the test's namespace) and the answer it must get."""

    method: str
    path: str
    code: int
    reason: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    message: str = ""
    """A fragment the Status message must contain."""


def configmap(name: str = "cm", **metadata: Any) -> bytes:
    return encode({"metadata": {"name": name, **metadata}, "data": {"k": "v"}})


def _query(**params: str) -> str:
    return CONFIGMAPS + "?" + urllib.parse.urlencode(params)


OVERSIZED = encode({"metadata": {"name": "big"}, "data": {"k": "x" * (3 * MiB + 1024)}})

BAD_REQUESTS = {
    "malformed-json": Bad("POST", CONFIGMAPS, 400, "BadRequest", b'{"metadata": {'),
    "malformed-yaml": Bad(
        "POST", CONFIGMAPS, 400, "BadRequest", b"metadata: [unclosed\n  - {", "application/yaml"
    ),
    "wrong-kind": Bad(
        "POST",
        CONFIGMAPS,
        400,
        "BadRequest",
        encode({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
    ),
    "wrong-api-version": Bad(
        "POST",
        CONFIGMAPS,
        400,
        "BadRequest",
        encode({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}),
    ),
    "namespace-mismatch": Bad(
        "POST",
        CONFIGMAPS,
        400,
        "BadRequest",
        configmap(namespace="some-other"),
        message="does not match the namespace",
    ),
    "invalid-name": Bad("POST", CONFIGMAPS, 422, "Invalid", configmap("Not_A_Name")),
    "invalid-label-key": Bad(
        "POST", CONFIGMAPS, 422, "Invalid", configmap(labels={"bad key!": "v"})
    ),
    "invalid-label-value": Bad(
        "POST", CONFIGMAPS, 422, "Invalid", configmap(labels={"k": "-bad value-"})
    ),
    "unknown-resource": Bad(
        "GET", "/api/v1/namespaces/{ns}/widgets", 404, "NotFound", message=PATH_NOT_FOUND
    ),
    "unknown-group": Bad(
        "GET", "/apis/example.com/v1/things", 404, "NotFound", message=PATH_NOT_FOUND
    ),
    "unknown-subresource": Bad(
        "GET", EXISTING_PATH + "/frobnicate", 404, "NotFound", message=PATH_NOT_FOUND
    ),
    "post-on-object": Bad("POST", EXISTING_PATH, 405, "MethodNotAllowed", configmap()),
    "put-on-collection": Bad("PUT", CONFIGMAPS, 405, "MethodNotAllowed", configmap()),
    "delete-all-namespaces": Bad("DELETE", "/api/v1/namespaces", 405, "MethodNotAllowed"),
    "body-over-3MiB": Bad("POST", CONFIGMAPS, 413, "RequestEntityTooLarge", OVERSIZED),
    "protobuf-body": Bad(
        "POST",
        CONFIGMAPS,
        415,
        "UnsupportedMediaType",
        b"k8s\x00\x0a\x0c\x0a\x02v1",
        "application/vnd.kubernetes.protobuf",
    ),
    "unsupported-patch-type": Bad(
        "PATCH",
        EXISTING_PATH,
        415,
        "UnsupportedMediaType",
        b'{"data": {}}',
        "application/x-made-up-patch+json",
    ),
    "stale-update": Bad(
        "PUT",
        EXISTING_PATH,
        409,
        "Conflict",
        configmap(EXISTING, resourceVersion="1"),
        message="the object has been modified",
    ),
    "duplicate-create": Bad(
        "POST", CONFIGMAPS, 409, "AlreadyExists", configmap(EXISTING), message="already exists"
    ),
    "missing-namespace": Bad(
        "POST",
        "/api/v1/namespaces/no-such-namespace/configmaps",
        404,
        "NotFound",
        configmap(),
        message='namespaces "no-such-namespace" not found',
    ),
    "bad-resource-version": Bad("GET", _query(resourceVersion="abc"), 400, "BadRequest"),
    "bad-continue-token": Bad(
        "GET", _query(limit="1", **{"continue": "garbage!"}), 400, "BadRequest"
    ),
    "bad-label-selector": Bad("GET", _query(labelSelector="a in ("), 400, "BadRequest"),
    "bad-field-selector": Bad("GET", _query(fieldSelector="metadata.name"), 400, "BadRequest"),
    "unsupported-field-selector": Bad("GET", _query(fieldSelector="data.k=v"), 400, "BadRequest"),
    "bogus-dry-run": Bad("POST", _query(dryRun="Bogus"), 400, "BadRequest", configmap()),
    "rv-match-without-rv": Bad(
        "GET",
        _query(resourceVersionMatch="Exact"),
        422,
        "Invalid",
        message='ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden',
    ),
    "bogus-field-validation": Bad(
        "POST",
        _query(fieldValidation="strict"),
        422,
        "Invalid",
        configmap(),
        message='fieldValidation: Unsupported value: "strict"',
    ),
}


@pytest.mark.parametrize("bad", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
def test_bad_request_gets_a_status(url: str, ns: str, bad: Bad) -> None:
    reply = send(url, bad.method, bad.path.format(ns=ns), bad.body, bad.content_type)
    assert reply.status == bad.code, reply
    status = assert_failure_status(reply)
    assert status.get("reason") == bad.reason, status
    assert bad.message in status["message"], status
    if bad.code == 422:
        causes = (status.get("details") or {}).get("causes") or []
        assert causes and all(c.get("field") and c.get("reason") for c in causes), status


# --- random bodies -----------------------------------------------------------------------------

PODS = "/api/v1/namespaces/{ns}/pods"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
CREATE_PATHS = [
    CONFIGMAPS,
    PODS,
    "/api/v1/namespaces/{ns}/services",
    DEPLOYMENTS,
    "/apis/batch/v1/namespaces/{ns}/jobs",
    PODS + "/fuzz/binding",
    PODS + "/fuzz/eviction",
]
OBJECT_PATHS = [
    CONFIGMAPS + "/fuzz",
    PODS + "/fuzz",
    PODS + "/fuzz/status",
    DEPLOYMENTS + "/fuzz",
    DEPLOYMENTS + "/fuzz/scale",
    LEASES + "/fuzz",
]
BODY_TYPES = [None, "application/json", "application/yaml"]
PATCH_TYPES = [
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
]
FIELD_NAMES = ["metadata", "name", "labels", "spec", "status", "containers", "replicas"]
FIELD_NAMES += ["template", "selector", "target", "image", "kind", "apiVersion", "$patch"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
OBJECTS = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({"name": st.sampled_from(["fuzz", "f-2", "", "No_Way"])})},
    optional={
        "kind": st.sampled_from(["ConfigMap", "Pod", "Deployment", "Scale", "Binding", "Nope"]),
        "apiVersion": st.sampled_from(["v1", "apps/v1", "autoscaling/v1", "nope/v9"]),
        "spec": JSON_VALUES,
        "status": JSON_VALUES,
        "data": JSON_VALUES,
        "target": JSON_VALUES,
    },
)
JSON_PATCH_OPS = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
            "path": st.sampled_from(
                ["", "/metadata/name", "/metadata/labels/x", "/spec", "/spec/replicas", "/a/0"]
            ),
        },
        optional={"value": JSON_VALUES, "from": st.sampled_from(["/spec", "/nope", "~"])},
    ),
    max_size=4,
)
BODIES = (
    st.binary(max_size=300)
    | JSON_VALUES.map(encode)
    | OBJECTS.map(encode)
    | JSON_PATCH_OPS.map(encode)
)
REQUESTS = st.one_of(
    st.tuples(st.just("POST"), st.sampled_from(CREATE_PATHS), st.sampled_from(BODY_TYPES)),
    st.tuples(st.just("PUT"), st.sampled_from(OBJECT_PATHS), st.sampled_from(BODY_TYPES)),
    st.tuples(st.just("PATCH"), st.sampled_from(OBJECT_PATHS), st.sampled_from(PATCH_TYPES)),
    st.tuples(
        st.sampled_from(["POST", "PUT", "PATCH"]),
        st.sampled_from(CREATE_PATHS + OBJECT_PATHS),
        st.sampled_from([*BODY_TYPES, *PATCH_TYPES, "text/plain"]),
    ),
)
"""(method, path, Content-Type): mostly what the URL accepts, so bodies reach decoding,
validation and patching; sometimes anything."""


def fuzz_targets(url: str, ns: str) -> None:
    """The objects the fuzzed object URLs name, so updates and patches get past the 404."""
    container = {"name": "app", "image": "nginx"}
    template = {"metadata": {"labels": {"app": "fuzz"}}, "spec": {"containers": [container]}}
    deployment = {
        "metadata": {"name": "fuzz"},
        "spec": {"selector": {"matchLabels": {"app": "fuzz"}}, "template": template},
    }
    for path, body in (
        (CONFIGMAPS, {"metadata": {"name": "fuzz"}}),
        (PODS, {"metadata": {"name": "fuzz"}, "spec": template["spec"]}),
        (DEPLOYMENTS, deployment),
        (LEASES, {"metadata": {"name": "fuzz"}}),
    ):
        assert send(url, "POST", path.format(ns=ns), encode(body)).status == 201


def test_random_bodies_never_get_a_5xx(url: str, ns: str) -> None:
    fuzz_targets(url, ns)

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(request=REQUESTS, body=BODIES)
    def answered_without_5xx(request: tuple[str, str, str | None], body: bytes) -> None:
        method, path, content_type = request
        reply = send(url, method, path.format(ns=ns), body, content_type)
        assert reply.status < 500, (reply, reply.body[:500])
        if not 200 <= reply.status < 300:
            assert_failure_status(reply)

    answered_without_5xx()
    assert is_ready(url), "the API server is not ready after the random requests"


# --- max in flight -----------------------------------------------------------------------------

BURST = 50


def test_mutating_requests_over_the_limit_get_429(
    store: StoreCluster, process_registry: ProcessRegistry, tmp_path: Path, ns: str
) -> None:
    limited = ApiServers(
        process_registry,
        tmp_path / "limited",
        store.client_urls,
        count=1,
        extra_args=("--max-mutating-requests-inflight", "1"),
    )
    limited.start()
    try:
        limited_url = limited.urls[0]
        start_together = threading.Barrier(BURST)

        def create(index: int) -> Reply:
            start_together.wait(timeout=REQUEST_TIMEOUT_S)
            return send(limited_url, "POST", CONFIGMAPS.format(ns=ns), configmap(f"burst-{index}"))

        with ThreadPoolExecutor(max_workers=BURST) as pool:
            replies = list(pool.map(create, range(BURST)))
    finally:
        limited.stop()

    codes = sorted(reply.status for reply in replies)
    assert set(codes) == {201, 429}, codes
    for reply in replies:
        if reply.status == 429:
            assert assert_failure_status(reply)["reason"] == "TooManyRequests"
            assert reply.headers.get("Retry-After", "").isdigit(), dict(reply.headers)
