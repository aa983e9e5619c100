"""fieldValidation through the write path: strategy decisions, the registry, the REST shell.

What each directive does with a body or patch that has unknown or duplicate fields, checked
where it is decided (`strategy`), where it reaches the store (`Registry` over `MemStorage`),
and what a client sees over HTTP (status codes, Status messages, ``Warning`` headers). Patch
expectations are upstream's, from kubernetes' ``test/integration/apiserver/
field_validation_test.go``: the patch body's duplicates first, then the patched object's
unknown fields in key order, and no decode prefix on the message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.memstorage import MemStorage
from support.wait import wait_for_async

from kubelite.api.errors import BadRequestError
from kubelite.api.fieldvalidation import FieldValidation, WarningRecorder, warning_header
from kubelite.api.resources import RESOURCES, ResourceInfo
from kubelite.apiserver import strategy
from kubelite.apiserver.app import ApiServer
from kubelite.apiserver.codec import decode_object
from kubelite.apiserver.registry import Registry
from kubelite.apiserver.strategy import FieldDecoding

Json = dict[str, Any]
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _info(group: str, plural: str) -> ResourceInfo:
    info = RESOURCES.lookup(group, "v1", plural)
    assert info is not None, (group, plural)
    return info


PODS = _info("", "pods")
DEPLOYMENTS = _info("apps", "deployments")
CONFIGMAPS = _info("", "configmaps")


def deployment(name: str = "web", **container: Any) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", **container}]},
            },
        },
    }


def pod(name: str = "web") -> Json:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}]}}


# --- strategy ---------------------------------------------------------------------------------

TYPO = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "imagePullPolcy": "x"}]}}


def test_strict_create_is_upstreams_decode_error() -> None:
    with pytest.raises(BadRequestError) as caught:
        strategy.decode_fields(("", "v1", "Pod"), TYPO, FieldDecoding(FieldValidation.STRICT))
    assert caught.value.status()["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagePullPolcy"'
    )
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("directive", "warnings"),
    [
        (FieldValidation.WARN, ('299 - "unknown field \\"spec.containers[0].imagePullPolcy\\""',)),
        (FieldValidation.IGNORE, ()),
    ],
)
def test_warn_and_ignore_drop_the_field(
    directive: FieldValidation, warnings: tuple[str, ...]
) -> None:
    decoding = FieldDecoding(directive)
    decoded = strategy.decode_fields(("", "v1", "Pod"), TYPO, decoding)
    assert decoded == {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    assert decoding.warnings.headers == warnings


def test_strict_patch_message_has_no_decode_prefix() -> None:
    decoding = FieldDecoding(FieldValidation.STRICT)
    problems = strategy.patch_problems(MERGE, b'{"spec": {"paused": true, "paused": false}}',
                                       decoding)  # fmt: skip
    with pytest.raises(BadRequestError) as caught:
        strategy.decode_patched(
            ("apps", "v1", "Deployment"), {"spec": {"pausd": True}}, problems, decoding
        )
    assert caught.value.status()["message"] == (
        'strict decoding error: duplicate field "spec.paused", unknown field "spec.pausd"'
    )


def test_ignore_skips_the_patch_body_check() -> None:
    body = b'{"spec": {"paused": true, "paused": false}}'
    assert strategy.patch_problems(MERGE, body, FieldDecoding()) == ()


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ('unknown field "spec.foo"', '299 - "unknown field \\"spec.foo\\""'),
        ("back\\slash", '299 - "back\\\\slash"'),
        ("ünïcode", '299 - "ünïcode"'),
        ("line\nbreak", None),
    ],
)
def test_warning_header(text: str, header: str | None) -> None:
    assert warning_header(text) == header


def _recorded(*texts: str) -> list[str]:
    recorder = WarningRecorder()
    for text in texts:
        recorder.add(text)
    return [json.loads(h.removeprefix("299 - ")) for h in recorder.headers]


def test_warnings_are_kept_once_in_order() -> None:
    assert _recorded("b", "a", "b", "", "c") == ["b", "a", "c"]


def test_warnings_past_4096_characters_are_cut_to_256_then_dropped() -> None:
    """Upstream's recorder: whole while they fit, then every one cut to 256 characters (those
    already kept included) until the cut ones reach 4096, then nothing more."""
    long = [f"{i:02d}" + "x" * 998 for i in range(4)]  # 4 x 1000 characters fit
    assert _recorded(*long) == long
    recorded = _recorded(*long, "y" * 300, *(f"{i:02d}" + "z" * 300 for i in range(20)))
    assert [len(text) for text in recorded] == [256] * 16
    assert recorded[4] == "y" * 256
    assert recorded[-1].startswith("10")


# --- the registry -----------------------------------------------------------------------------


@pytest.fixture
async def registry() -> Registry:
    registry = Registry(MemStorage())
    await registry.ensure_namespaces(("default",))
    return registry


async def stored(registry: Registry, info: ResourceInfo, name: str) -> Json:
    item = await registry.storage.get(f"/registry/{info.plural}/default/{name}")
    assert item is not None
    return decode_object(item.value, item.mod_revision)


@pytest.mark.parametrize("directive", [FieldValidation.WARN, FieldValidation.IGNORE])
async def test_unknown_fields_never_reach_the_store(
    registry: Registry, directive: FieldValidation
) -> None:
    body = deployment(imagePullPolcy="Always")
    body["spec"]["replicaz"] = 3
    await registry.create(DEPLOYMENTS, "default", body, fields=FieldDecoding(directive))
    obj = await stored(registry, DEPLOYMENTS, "web")
    assert "replicaz" not in obj["spec"]
    assert "imagePullPolcy" not in obj["spec"]["template"]["spec"]["containers"][0]


async def test_internal_callers_drop_unknown_fields_silently(registry: Registry) -> None:
    created = await registry.create(CONFIGMAPS, "default", {"metadata": {"name": "c"}, "x": 1})
    assert "x" not in created
    updated, _ = await registry.update(
        CONFIGMAPS, "default", "c", {"metadata": {"name": "c"}, "data": {}, "y": 2}
    )
    assert "y" not in updated


async def test_strict_create_writes_nothing(registry: Registry) -> None:
    with pytest.raises(BadRequestError):
        await registry.create(
            DEPLOYMENTS,
            "default",
            deployment(imagePullPolcy="Always"),
            fields=FieldDecoding(FieldValidation.STRICT),
        )
    assert await registry.storage.get("/registry/deployments/default/web") is None


async def test_put_that_creates_reports_once(registry: Registry) -> None:
    leases = _info("coordination.k8s.io", "leases")
    decoding = FieldDecoding(FieldValidation.WARN)
    body = {"metadata": {"name": "l"}, "spec": {"holder": "a"}}
    _, created = await registry.update(leases, "default", "l", body, fields=decoding)
    assert created
    assert decoding.warnings.headers == ('299 - "unknown field \\"spec.holder\\""',)


MERGE_PATCH_BODY = b"""{"spec": {
  "unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
  "paused": true, "paused": false,
  "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
    "unknownNested": "val1", "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"""
UPSTREAM_MERGE_PATCH_ERROR = (
    'strict decoding error: duplicate field "spec.unknownDupe", duplicate field '
    '"spec.paused", duplicate field "spec.template.spec.containers[0].imagePullPolicy", '
    'unknown field "spec.template.spec.containers[0].unknownNested", unknown field '
    '"spec.unknown1", unknown field "spec.unknownDupe"'
)
JSON_PATCH_BODY = b"""[
  {"op": "add", "path": "/spec/unknown1", "value": "val1", "foo": "bar"},
  {"op": "add", "path": "/spec/unknown2", "path": "/spec/unknown3", "value": "val1"},
  {"op": "add", "path": "/spec/unknownDupe", "value": "valDupe"},
  {"op": "add", "path": "/spec/unknownDupe", "value": "valDupe2"},
  {"op": "add", "path": "/spec/paused", "value": true},
  {"op": "add", "path": "/spec/paused", "value": false},
  {"op": "add", "path": "/spec/template/spec/containers/0/unknownNested", "value": "val1"},
  {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Always"},
  {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}
]"""
UPSTREAM_JSON_PATCH_ERROR = (
    'strict decoding error: json patch unknown field "[0].foo", json patch duplicate field '
    '"[1].path", unknown field "spec.template.spec.containers[0].unknownNested", unknown '
    'field "spec.unknown1", unknown field "spec.unknown3", unknown field "spec.unknownDupe"'
)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        pytest.param(MERGE, MERGE_PATCH_BODY, UPSTREAM_MERGE_PATCH_ERROR, id="merge"),
        pytest.param(STRATEGIC, MERGE_PATCH_BODY, UPSTREAM_MERGE_PATCH_ERROR, id="strategic"),
        pytest.param(JSON_PATCH, JSON_PATCH_BODY, UPSTREAM_JSON_PATCH_ERROR, id="json-patch"),
    ],
)
async def test_strict_patches_as_upstream(
    registry: Registry, content_type: str, body: bytes, message: str
) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())
    with pytest.raises(BadRequestError) as caught:
        await registry.patch(
            DEPLOYMENTS, "default", "web", content_type, body,
            fields=FieldDecoding(FieldValidation.STRICT),
        )  # fmt: skip
    assert caught.value.status()["message"] == message


@pytest.mark.parametrize("content_type", [MERGE, STRATEGIC])
async def test_warn_patch_keeps_the_known_changes_only(
    registry: Registry, content_type: str
) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())
    decoding = FieldDecoding(FieldValidation.WARN)
    await registry.patch(
        DEPLOYMENTS, "default", "web", content_type, MERGE_PATCH_BODY, fields=decoding
    )
    obj = await stored(registry, DEPLOYMENTS, "web")
    assert obj["spec"]["paused"] is False
    assert "unknown1" not in obj["spec"]
    assert obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert len(decoding.warnings.headers) == 6


async def test_a_stored_unknown_field_does_not_fail_later_strict_patches(
    registry: Registry,
) -> None:
    """Objects written before fields were checked may hold unknown fields: a patch drops them
    silently instead of blaming the patch."""
    obj = deployment()
    obj["spec"]["legacy"] = True
    await registry.storage.put("/registry/deployments/default/web", json.dumps(obj).encode())
    patched = await registry.patch(
        DEPLOYMENTS, "default", "web", MERGE, b'{"spec": {"paused": true}}',
        fields=FieldDecoding(FieldValidation.STRICT),
    )  # fmt: skip
    assert patched["spec"]["paused"] is True
    assert "legacy" not in patched["spec"]


async def test_status_update_goes_through_the_same_decode(registry: Registry) -> None:
    await registry.create(PODS, "default", pod())
    body = await stored(registry, PODS, "web")
    body["status"] = {"phase": "Running", "phaze": "x"}
    with pytest.raises(BadRequestError, match=r'unknown field \\"status.phaze\\"|status.phaze'):
        await registry.update(
            PODS, "default", "web", body, scope=strategy.Scope.STATUS,
            fields=FieldDecoding(FieldValidation.STRICT),
        )  # fmt: skip


async def test_scale_binding_and_eviction_bodies(registry: Registry) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())
    await registry.create(PODS, "default", pod())
    decoding = FieldDecoding(FieldValidation.WARN)
    scale = {"metadata": {"name": "web"}, "spec": {"replicas": 2, "replica": 3}}
    assert (await registry.update_scale(DEPLOYMENTS, "default", "web", scale, fields=decoding))[
        "spec"
    ]["replicas"] == 2
    await registry.patch_scale(
        DEPLOYMENTS, "default", "web", MERGE, b'{"spec": {"replicas": 1, "x": 1}}',
        fields=decoding,
    )  # fmt: skip
    binding = {"metadata": {"name": "web"}, "target": {"name": "n1", "node": "n1"}}
    await registry.bind("default", "web", binding, fields=decoding)
    eviction = {"metadata": {"name": "web"}, "deleteOptions": {"grace": 1}}
    await registry.evict("default", "web", eviction, fields=decoding)
    assert [json.loads(h.removeprefix("299 - ")) for h in decoding.warnings.headers] == [
        'unknown field "spec.replica"',
        'unknown field "spec.x"',
        'unknown field "target.node"',
        'unknown field "deleteOptions.grace"',
    ]
    with pytest.raises(BadRequestError) as caught:
        await registry.bind("default", "web", binding, fields=FieldDecoding(FieldValidation.STRICT))
    assert caught.value.status()["message"] == (
        'Binding in version "v1" cannot be handled as a Binding: strict decoding error: '
        'unknown field "target.node"'
    )


# --- the REST shell ---------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[TestClient[Any, Any]]:
    server = ApiServer(MemStorage())
    await server.start()
    try:
        async with TestClient(TestServer(server.application())) as client:
            await wait_for_async(server.bootstrapped.is_set, 10.0, "namespaces bootstrapped")
            yield client
    finally:
        await server.stop()


DEPLOYMENTS_URL = "/apis/apps/v1/namespaces/default/deployments"
JSON_BODY = {"Content-Type": "application/json"}
TYPO_BODY = json.dumps(deployment(imagePullPolcy="Always"))
TYPO_FIELD = "spec.template.spec.containers[0].imagePullPolcy"


async def test_rest_strict_is_a_400_status(http: TestClient[Any, Any]) -> None:
    answer = await http.post(
        DEPLOYMENTS_URL + "?fieldValidation=Strict", data=TYPO_BODY, headers=JSON_BODY
    )
    status = await answer.json()
    assert (answer.status, status["reason"], status["code"]) == (400, "BadRequest", 400)
    assert status["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        f'unknown field "{TYPO_FIELD}"'
    )


@pytest.mark.parametrize("query", ["?fieldValidation=Warn", "", "?fieldValidation="])
async def test_rest_warn_is_the_default_and_answers_warning_headers(
    http: TestClient[Any, Any], query: str
) -> None:
    answer = await http.post(DEPLOYMENTS_URL + query, data=TYPO_BODY, headers=JSON_BODY)
    assert answer.status == 201
    assert answer.headers.getall("Warning") == [f'299 - "unknown field \\"{TYPO_FIELD}\\""']
    created = await answer.json()
    assert "imagePullPolcy" not in created["spec"]["template"]["spec"]["containers"][0]


async def test_rest_ignore_answers_no_warning(http: TestClient[Any, Any]) -> None:
    answer = await http.post(
        DEPLOYMENTS_URL + "?fieldValidation=Ignore", data=TYPO_BODY, headers=JSON_BODY
    )
    assert answer.status == 201
    assert "Warning" not in answer.headers


async def test_rest_duplicates_in_json_bodies(http: TestClient[Any, Any]) -> None:
    body = '{"metadata": {"name": "c", "name": "d"}, "data": {"a": "1"}}'
    answer = await http.post(
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", data=body, headers=JSON_BODY
    )
    assert (await answer.json())["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'duplicate field "metadata.name"'
    )


async def test_rest_yaml_bodies_are_checked_in_key_order(http: TestClient[Any, Any]) -> None:
    body = "metadata: {name: c, zz: 1, aa: 2}\ndata: {a: '1'}\n"
    answer = await http.post(
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        data=body,
        headers={"Content-Type": "application/yaml"},
    )
    assert (await answer.json())["message"].endswith(
        'strict decoding error: unknown field "metadata.aa", unknown field "metadata.zz"'
    )


@pytest.mark.parametrize(
    ("method", "url", "options"),
    [
        ("POST", DEPLOYMENTS_URL, "CreateOptions"),
        ("PUT", DEPLOYMENTS_URL + "/web", "UpdateOptions"),
        ("PATCH", DEPLOYMENTS_URL + "/web", "PatchOptions"),
        ("PUT", DEPLOYMENTS_URL + "/web/scale", "UpdateOptions"),
        ("POST", "/api/v1/namespaces/default/pods/web/binding", "CreateOptions"),
    ],
)
async def test_rest_unsupported_directive_is_422(
    http: TestClient[Any, Any], method: str, url: str, options: str
) -> None:
    answer = await http.request(
        method,
        url + "?fieldValidation=strict",
        data="{}",
        headers={"Content-Type": MERGE if method == "PATCH" else "application/json"},
    )
    status = await answer.json()
    assert (answer.status, status["reason"]) == (422, "Invalid")
    assert status["message"] == (
        f'{options}.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


async def test_rest_patch_warns(http: TestClient[Any, Any]) -> None:
    assert (await http.post(DEPLOYMENTS_URL, json=deployment())).status == 201
    answer = await http.patch(
        DEPLOYMENTS_URL + "/web?fieldValidation=Warn",
        data='{"spec": {"paused": true, "pasued": true}}',
        headers={"Content-Type": STRATEGIC},
    )
    assert answer.status == 200
    assert answer.headers.getall("Warning") == ['299 - "unknown field \\"spec.pasued\\""']
    assert (await answer.json())["spec"]["paused"] is True
