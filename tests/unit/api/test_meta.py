"""Server-owned metadata: create and update preparation, timestamps, resourceVersions, owners."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.errors import BadRequestError, InvalidError
from kubelite.api.meta import (
    NAME_SUFFIX_ALPHABET,
    NAMESPACE_MISMATCH,
    UpdateScope,
    controller_of,
    format_micro_time,
    format_resource_version,
    format_time,
    generate_name,
    generation_relevant,
    is_controlled_by,
    normalize_micro_time,
    normalize_time,
    owner_reference,
    parse_resource_version,
    parse_time,
    prepare_create,
    prepare_update,
    random_name_suffix,
    with_resource_version,
)

NOW = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
STAMP = "2024-01-02T03:04:05Z"


def create(body: dict[str, Any], namespace: str | None = "default", **kw: Any) -> dict[str, Any]:
    return prepare_create(
        body, namespace=namespace, now=NOW, new_uid="uid-1", random_suffix="x2k8q", **kw
    )


SERVER_META = {"uid": "uid-1", "creationTimestamp": STAMP, "generation": 1}

CREATES = [
    pytest.param(
        {"metadata": {"name": "web"}},
        "default",
        {"metadata": {"name": "web", "namespace": "default", **SERVER_META}},
        id="plain-name",
    ),
    pytest.param(
        {"metadata": {"generateName": "web-"}},
        "default",
        {
            "metadata": {
                "generateName": "web-",
                "name": "web-x2k8q",
                "namespace": "default",
                **SERVER_META,
            }
        },
        id="generate-name",
    ),
    pytest.param(
        {"metadata": {"name": "web", "generateName": "other-"}},
        "default",
        {
            "metadata": {
                "name": "web",
                "generateName": "other-",
                "namespace": "default",
                **SERVER_META,
            }
        },
        id="name-wins-over-generate-name",
    ),
    pytest.param(
        {"metadata": {"name": "web", "namespace": "default"}},
        "default",
        {"metadata": {"name": "web", "namespace": "default", **SERVER_META}},
        id="matching-body-namespace",
    ),
    pytest.param(
        {"metadata": {"name": "web", "namespace": ""}},
        "kube-system",
        {"metadata": {"name": "web", "namespace": "kube-system", **SERVER_META}},
        id="empty-body-namespace-takes-url",
    ),
    pytest.param(
        {"metadata": {"name": "n1", "namespace": "default"}},
        None,
        {"metadata": {"name": "n1", **SERVER_META}},
        id="cluster-scoped-clears-namespace",
    ),
    pytest.param(
        {
            "metadata": {
                "name": "web",
                "resourceVersion": "42",
                "uid": "client-uid",
                "selfLink": "/api/v1/x",
                "creationTimestamp": "1999-01-01T00:00:00Z",
                "deletionTimestamp": "1999-01-01T00:00:00Z",
                "deletionGracePeriodSeconds": 30,
                "generation": 9,
                "labels": {"app": "web"},
            }
        },
        "default",
        {
            "metadata": {
                "name": "web",
                "namespace": "default",
                "labels": {"app": "web"},
                **SERVER_META,
            }
        },
        id="client-set-server-fields-dropped",
    ),
    pytest.param(
        {"kind": "ConfigMap", "data": {"a": "b"}, "metadata": None},
        "default",
        {
            "kind": "ConfigMap",
            "data": {"a": "b"},
            "metadata": {"namespace": "default", **SERVER_META},
        },
        id="null-metadata",
    ),
    pytest.param(
        {"metadata": {"name": "web"}, "status": {"phase": "Running"}},
        "default",
        {"metadata": {"name": "web", "namespace": "default", **SERVER_META}, "status": {}},
        id="status-reset-for-status-subresource",
    ),
]


@pytest.mark.parametrize(("body", "namespace", "expected"), CREATES)
def test_prepare_create(body: dict[str, Any], namespace: str | None, expected: Any) -> None:
    status_subresource = "status" in body
    before = copy.deepcopy(body)
    assert create(body, namespace, status_subresource=status_subresource) == expected
    assert body == before, "the request body must not be changed"


client_metadata = st.dictionaries(
    st.sampled_from(
        [
            "name",
            "generateName",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "labels",
        ]
    ),
    st.sampled_from(["a-", "b", "42", "1999-01-01T00:00:00Z"]) | st.integers(0, 5),
)


@given(meta=client_metadata)
def test_create_always_sets_server_fields(meta: dict[str, Any]) -> None:
    body = {"metadata": meta}
    result = create(body)["metadata"]
    assert {k: result[k] for k in SERVER_META} == SERVER_META
    assert result["namespace"] == "default"
    assert not {"resourceVersion", "deletionTimestamp", "selfLink"} & set(result)
    assert not {"deletionGracePeriodSeconds"} & set(result)
    if not meta.get("name") and meta.get("generateName"):
        assert result["name"] == f"{meta['generateName']}x2k8q"
    assert body == {"metadata": meta}


def test_create_keeps_status_for_kinds_without_status_subresource() -> None:
    body = {"metadata": {"name": "c"}, "status": {"x": 1}}
    assert create(body)["status"] == {"x": 1}


def test_create_namespace_mismatch_is_upstream_bad_request() -> None:
    with pytest.raises(BadRequestError) as caught:
        create({"metadata": {"name": "web", "namespace": "other"}}, "default")
    assert caught.value.status()["message"] == NAMESPACE_MISMATCH
    assert caught.value.code == 400


def test_create_rejects_non_object_metadata() -> None:
    with pytest.raises(BadRequestError):
        create({"metadata": ["x"]})


GENERATED_NAMES = [
    pytest.param("web-", "abcde", "web-abcde", id="short-base"),
    pytest.param("a" * 58, "bcdfg", "a" * 58 + "bcdfg", id="base-at-limit"),
    pytest.param("a" * 70, "bcdfg", "a" * 58 + "bcdfg", id="long-base-cut-to-58"),
]


@pytest.mark.parametrize(("base", "suffix", "name"), GENERATED_NAMES)
def test_generate_name(base: str, suffix: str, name: str) -> None:
    assert generate_name(base, suffix) == name
    assert len(name) <= 63


@given(seed=st.integers())
def test_random_name_suffix_uses_upstream_alphabet(seed: int) -> None:
    suffix = random_name_suffix(random.Random(seed).randrange)
    assert len(suffix) == 5
    assert set(suffix) <= set(NAME_SUFFIX_ALPHABET)


def test_random_name_suffix_is_deterministic_given_the_source() -> None:
    first = random_name_suffix(random.Random(7).randrange)
    assert random_name_suffix(random.Random(7).randrange) == first


OLD: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": "uid-1",
        "resourceVersion": "10",
        "creationTimestamp": STAMP,
        "generation": 3,
        "labels": {"app": "web"},
    },
    "spec": {"replicas": 1},
    "status": {"replicas": 1},
}


def changed(**parts: Any) -> dict[str, Any]:
    """OLD with top-level parts replaced and metadata entries merged in (None deletes)."""
    new = copy.deepcopy(OLD)
    for key, value in parts.items():
        if key == "metadata":
            for meta_key, meta_value in value.items():
                if meta_value is None:
                    new["metadata"].pop(meta_key, None)
                else:
                    new["metadata"][meta_key] = meta_value
        elif value is None:
            new.pop(key, None)
        else:
            new[key] = value
    return new


MAIN, STATUS, WHOLE = UpdateScope.MAIN, UpdateScope.STATUS, UpdateScope.WHOLE

UPDATES = [
    pytest.param(MAIN, changed(), changed(), id="no-change-same-generation"),
    pytest.param(
        MAIN,
        changed(spec={"replicas": 2}),
        changed(spec={"replicas": 2}, metadata={"generation": 4}),
        id="spec-change-bumps",
    ),
    pytest.param(
        MAIN,
        changed(metadata={"labels": {"app": "x"}, "annotations": {"a": "b"}}),
        changed(metadata={"labels": {"app": "x"}, "annotations": {"a": "b"}}),
        id="metadata-change-no-bump",
    ),
    pytest.param(
        MAIN,
        changed(status={"replicas": 5}),
        changed(),
        id="status-ignored-on-main",
    ),
    pytest.param(
        MAIN,
        changed(status=None),
        changed(),
        id="absent-status-kept-on-main",
    ),
    pytest.param(
        MAIN,
        changed(
            metadata={
                "uid": None,
                "creationTimestamp": "1999-01-01T00:00:00Z",
                "generation": 99,
                "namespace": None,
                "selfLink": "/x",
                "deletionTimestamp": "1999-01-01T00:00:00Z",
            }
        ),
        changed(),
        id="server-owned-metadata-kept",
    ),
    pytest.param(
        MAIN,
        changed(apiVersion=None, kind=None),
        changed(apiVersion=None, kind=None),
        id="missing-kind-is-not-a-change",
    ),
    pytest.param(
        MAIN,
        changed(metadata={"resourceVersion": "9"}),
        changed(metadata={"resourceVersion": "9"}),
        id="body-resource-version-kept-for-precondition",
    ),
    pytest.param(
        STATUS,
        changed(spec={"replicas": 7}, status={"replicas": 2}, metadata={"labels": {"x": "y"}}),
        changed(status={"replicas": 2}),
        id="status-write-takes-only-status",
    ),
    pytest.param(
        STATUS,
        changed(status={"replicas": 2}, metadata={"resourceVersion": "9"}),
        changed(status={"replicas": 2}, metadata={"resourceVersion": "9"}),
        id="status-write-keeps-body-resource-version",
    ),
    pytest.param(
        WHOLE,
        changed(status={"replicas": 2}),
        changed(status={"replicas": 2}, metadata={"generation": 4}),
        id="whole-status-change-bumps",
    ),
]


@pytest.mark.parametrize(("scope", "new", "expected"), UPDATES)
def test_prepare_update(scope: UpdateScope, new: dict[str, Any], expected: Any) -> None:
    before = copy.deepcopy(new)
    assert prepare_update(OLD, new, scope=scope) == expected
    assert new == before, "the request body must not be changed"


def test_update_keeps_deletion_fields_of_a_terminating_object() -> None:
    old = changed(metadata={"deletionTimestamp": STAMP, "deletionGracePeriodSeconds": 30})
    new = changed(metadata={"deletionTimestamp": None, "labels": {"a": "b"}})
    meta = prepare_update(old, new)["metadata"]
    assert (meta["deletionTimestamp"], meta["deletionGracePeriodSeconds"]) == (STAMP, 30)


@pytest.mark.parametrize("scope", [MAIN, STATUS, WHOLE], ids=lambda s: s.value)
def test_update_with_another_uid_is_invalid(scope: UpdateScope) -> None:
    with pytest.raises(InvalidError) as caught:
        prepare_update(OLD, changed(metadata={"uid": "other"}), scope=scope)
    assert str(caught.value) == (
        'Deployment.apps "web" is invalid: metadata.uid: Invalid value: "other": field is immutable'
    )


def test_update_namespace_mismatch_is_bad_request() -> None:
    with pytest.raises(BadRequestError, match="does not match the namespace"):
        prepare_update(OLD, changed(metadata={"namespace": "other"}))


json_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b"])
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("xy"), inner),
    max_leaves=4,
)
top_level = st.dictionaries(
    st.sampled_from(["spec", "status", "data", "rules", "apiVersion", "kind"]), json_values
)
labels = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["a", "b"]))


def naive_bumps(old: dict[str, Any], new: dict[str, Any], scope: UpdateScope) -> bool:
    """Reference: generation moves iff a field outside metadata (and status) differs."""
    if scope is UpdateScope.STATUS:
        return False
    skip = {"metadata", "apiVersion", "kind"} | (set() if scope is WHOLE else {"status"})
    keys = (set(old) | set(new)) - skip
    return any(old.get(k, "<absent>") != new.get(k, "<absent>") for k in keys)


@given(
    old_fields=top_level,
    new_fields=top_level,
    old_labels=labels,
    new_labels=labels,
    scope=st.sampled_from(UpdateScope),
)
def test_generation_bumps_iff_non_metadata_fields_differ(
    old_fields: dict[str, Any],
    new_fields: dict[str, Any],
    old_labels: dict[str, str],
    new_labels: dict[str, str],
    scope: UpdateScope,
) -> None:
    old = {
        **old_fields,
        "metadata": {"name": "o", "uid": "u", "generation": 5, "labels": old_labels},
    }
    new = {**new_fields, "metadata": {"name": "o", "labels": new_labels}}
    result = prepare_update(old, new, scope=scope)
    assert result["metadata"]["generation"] == 5 + naive_bumps(old, new, scope)
    assert result["metadata"]["uid"] == "u"
    if scope is UpdateScope.MAIN:
        assert result.get("status") == old.get("status")
    elif scope is UpdateScope.STATUS:
        assert generation_relevant(result, scope) == generation_relevant(old, scope)
        assert result.get("status") == new.get("status")
        assert result["metadata"]["labels"] == old_labels


PARSED_TIMES = [
    pytest.param("2024-01-02T03:04:05Z", STAMP, id="canonical"),
    pytest.param("2024-01-02T03:04:05.678901+00:00", STAMP, id="python-isoformat"),
    pytest.param("2024-01-02T04:04:05+01:00", STAMP, id="offset-converted-to-utc"),
    pytest.param("2024-01-01T22:04:05-05:00", STAMP, id="negative-offset-crosses-day"),
    pytest.param("2024-01-02T03:04:05.123456789Z", STAMP, id="go-nanoseconds"),
    pytest.param("2024-01-02T03:04:05", STAMP, id="naive-is-utc"),
    pytest.param("2024-01-02t03:04:05z", STAMP, id="lower-case-separators"),
]


@pytest.mark.parametrize(("text", "canonical"), PARSED_TIMES)
def test_normalize_time(text: str, canonical: str) -> None:
    assert normalize_time(text) == canonical
    assert parse_time(text).tzinfo is UTC


MICRO_TIMES = [
    pytest.param("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000Z", id="whole-seconds"),
    pytest.param("2024-01-02T03:04:05.5+00:00", "2024-01-02T03:04:05.500000Z", id="one-decimal"),
    pytest.param(
        "2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05.123456Z", id="nanos-truncated"
    ),
]


@pytest.mark.parametrize(("text", "canonical"), MICRO_TIMES)
def test_normalize_micro_time(text: str, canonical: str) -> None:
    assert normalize_micro_time(text) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-01-02",
        "2024-13-02T03:04:05Z",
        "2024-01-02T03:04Z",
        "20240102T030405Z",
        "\u0662\u0660\u0662\u0664-01-02T03:04:05Z",
        "0001-01-01T00:00:00+01:00",
    ],
    ids=[
        "empty",
        "words",
        "date-only",
        "month-13",
        "no-seconds",
        "basic-format",
        "non-ascii-digits",
        "offset-before-year-1",
    ],
)
def test_parse_time_rejects_non_rfc3339(text: str) -> None:
    with pytest.raises(BadRequestError, match="parsing time"):
        parse_time(text)


def test_format_time_and_micro_time() -> None:
    moment = datetime(2024, 1, 2, 4, 4, 5, 678901, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == STAMP
    assert format_micro_time(moment) == "2024-01-02T03:04:05.678901Z"


@given(st.datetimes(timezones=st.just(UTC) | st.none()))
def test_micro_time_round_trips(moment: datetime) -> None:
    text = format_micro_time(moment)
    assert format_micro_time(parse_time(text)) == text
    assert normalize_time(text) == format_time(moment)


RESOURCE_VERSIONS = [
    pytest.param("", None, id="unset"),
    pytest.param("0", 0, id="zero-any"),
    pytest.param("12345", 12345, id="number"),
]


@pytest.mark.parametrize(("text", "revision"), RESOURCE_VERSIONS)
def test_parse_resource_version(text: str, revision: int | None) -> None:
    assert parse_resource_version(text) == revision


@pytest.mark.parametrize("text", ["abc", "-1", "1.5", "١٢"], ids=["word", "neg", "frac", "arabic"])
def test_parse_resource_version_rejects(text: str) -> None:
    with pytest.raises(BadRequestError, match="invalid resource version"):
        parse_resource_version(text)


@given(st.integers(min_value=0))
def test_resource_version_round_trips(revision: int) -> None:
    text = format_resource_version(revision)
    assert isinstance(text, str)
    assert parse_resource_version(text) == revision


def test_with_resource_version_copies() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    assert with_resource_version(obj, 7) == {"metadata": {"name": "x", "resourceVersion": "7"}}
    assert obj == {"metadata": {"name": "x"}}


RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "uid": "rs-u"}}
CONTROLLER_REF = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "web-1",
    "uid": "rs-u",
    "controller": True,
    "blockOwnerDeletion": True,
}
PLAIN_REF = {**CONTROLLER_REF, "uid": "other", "controller": False}

CONTROLLERS = [
    pytest.param({"metadata": {}}, None, id="no-owners"),
    pytest.param({"metadata": None}, None, id="null-metadata"),
    pytest.param({"metadata": {"ownerReferences": [PLAIN_REF]}}, None, id="owner-not-controller"),
    pytest.param(
        {"metadata": {"ownerReferences": [PLAIN_REF, CONTROLLER_REF]}},
        CONTROLLER_REF,
        id="controller-among-owners",
    ),
    pytest.param(
        {"metadata": {"ownerReferences": [{**CONTROLLER_REF, "controller": None}]}},
        None,
        id="null-controller-flag",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), CONTROLLERS)
def test_controller_of(obj: dict[str, Any], expected: Any) -> None:
    assert controller_of(obj) == expected


def test_owner_reference_from_owner() -> None:
    assert owner_reference(RS) == CONTROLLER_REF
    assert owner_reference(RS, controller=False, block_owner_deletion=False) == {
        **CONTROLLER_REF,
        "controller": False,
        "blockOwnerDeletion": False,
    }


def test_is_controlled_by_matches_uid() -> None:
    pod = {"metadata": {"ownerReferences": [CONTROLLER_REF]}}
    assert is_controlled_by(pod, RS)
    assert not is_controlled_by(pod, {"metadata": {"uid": "someone-else"}})
    assert not is_controlled_by({"metadata": {}}, RS)
