"""Content negotiation: which request bodies decode to what, and which Accept headers get a Table.

The Accept headers are the ones recorded from real clients (reference §3.1/§3.2).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.errors import BadRequestError, UnsupportedMediaError
from kubelite.api.patch import media_type_of
from kubelite.apiserver.negotiation import decode_body, decode_json, wants_table

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}
POD_JSON = json.dumps(POD).encode()
POD_YAML = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"

# --- media types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, "", id="missing"),
        pytest.param("", "", id="empty"),
        pytest.param("application/json", "application/json", id="plain"),
        pytest.param("application/json; charset=utf-8", "application/json", id="charset"),
        pytest.param("Application/JSON;charset=UTF-8", "application/json", id="case-folded"),
        pytest.param("  application/yaml  ", "application/yaml", id="padded"),
        pytest.param(
            "application/vnd.kubernetes.protobuf",
            "application/vnd.kubernetes.protobuf",
            id="protobuf",
        ),
    ],
)
def test_media_type(header: str | None, expected: str) -> None:
    assert media_type_of(header) == expected


# --- request bodies -------------------------------------------------------------------------

DECODED = [
    pytest.param(None, POD_JSON, POD, id="no-content-type-is-json"),
    pytest.param("", POD_JSON, POD, id="empty-content-type-is-json"),
    pytest.param("application/json", POD_JSON, POD, id="json"),
    pytest.param("application/json; charset=utf-8", POD_JSON, POD, id="json-charset"),
    pytest.param("APPLICATION/JSON", POD_JSON, POD, id="json-upper-case"),
    pytest.param("application/json", POD_JSON + b"\n", POD, id="json-trailing-newline"),
    pytest.param("application/json", b"[1, 2]", [1, 2], id="json-list-is-decoded"),
    pytest.param("application/json", b'"x"', "x", id="json-scalar-is-decoded"),
    pytest.param("application/json", b'{"a": 1e308}', {"a": 1e308}, id="json-large-finite"),
    pytest.param(
        "application/json",
        '{"name": "caf\u00e9"}'.encode(),
        {"name": "caf\u00e9"},
        id="json-utf8",
    ),
    pytest.param(
        "application/json",
        '{"name": "x"}'.encode("utf-16"),
        {"name": "x"},
        id="json-utf16-detected",
    ),
    pytest.param("application/yaml", POD_YAML, POD, id="yaml"),
    pytest.param("application/x-yaml", POD_YAML, POD, id="x-yaml"),
    pytest.param("text/yaml", POD_YAML, POD, id="text-yaml"),
    pytest.param("application/yaml; charset=utf-8", POD_YAML, POD, id="yaml-charset"),
    pytest.param("application/yaml", POD_JSON, POD, id="json-is-valid-yaml"),
    pytest.param(
        "application/yaml",
        b"data:\n  built: 2024-01-01\n  at: 2024-01-01T10:00:00Z\n",
        {"data": {"built": "2024-01-01", "at": "2024-01-01T10:00:00Z"}},
        id="yaml-timestamps-stay-strings",
    ),
    pytest.param(
        "application/yaml",
        b"data:\n  1: one\n",
        {"data": {"1": "one"}},
        id="yaml-int-keys-become-strings",
    ),
    pytest.param(
        "application/yaml",
        b"[1e+21, 1.5e3, 1E5, -2e-3, .5, 0x1f, 1_000, '1e5', 1.2.3]",
        [1e21, 1500.0, 100000.0, -0.002, 0.5, 31, 1000, "1e5", "1.2.3"],
        id="yaml-json-style-floats",
    ),
    pytest.param(
        "application/yaml",
        b"a: &x [1]\nb: *x\n",
        {"a": [1], "b": [1]},
        id="yaml-aliases",
    ),
    pytest.param("application/json", b"", None, id="empty-body"),
    pytest.param("application/json", b"  \n\t ", None, id="blank-body"),
    pytest.param(None, b"", None, id="empty-body-no-content-type"),
    pytest.param("application/yaml", b"\n", None, id="empty-yaml-body"),
    pytest.param("application/yaml", b"# only a comment\n", None, id="yaml-comment-only"),
]


@pytest.mark.parametrize(("content_type", "body", "expected"), DECODED)
def test_decode_body(content_type: str | None, body: bytes, expected: Any) -> None:
    assert decode_body(content_type, body) == expected


UNSUPPORTED = [
    pytest.param("application/vnd.kubernetes.protobuf", id="protobuf"),
    pytest.param("application/vnd.kubernetes.protobuf; charset=x", id="protobuf-params"),
    pytest.param("application/strategic-merge-patch+json", id="patch-type-on-post"),
    pytest.param("application/merge-patch+json", id="merge-patch-on-post"),
    pytest.param("application/apply-patch+yaml", id="apply-patch-on-post"),
    pytest.param("application/xml", id="xml"),
    pytest.param("text/plain", id="text"),
    pytest.param("application/x-www-form-urlencoded", id="form"),
    pytest.param("*/*", id="wildcard"),
    pytest.param("json", id="bare-word"),
]


@pytest.mark.parametrize("content_type", UNSUPPORTED)
def test_unsupported_media_type(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaError) as raised:
        decode_body(content_type, POD_JSON)
    status = raised.value.status()
    assert status["code"] == 415
    assert status["reason"] == "UnsupportedMediaType"
    assert status["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml"
    )


MALFORMED = [
    pytest.param("application/json", b"{", "JSON", id="json-truncated"),
    pytest.param("application/json", b"{'a': 1}", "JSON", id="json-single-quotes"),
    pytest.param("application/json", b'{"a": 1,}', "JSON", id="json-trailing-comma"),
    pytest.param("application/json", b"{} {}", "JSON", id="json-two-documents"),
    pytest.param(None, POD_YAML, "JSON", id="yaml-without-content-type"),
    pytest.param("application/json", b"\xff\xfe\xfa", "JSON", id="json-not-unicode"),
    pytest.param("application/json", b'{"a": NaN}', "JSON", id="json-nan"),
    pytest.param("application/json", b'{"a": Infinity}', "JSON", id="json-infinity"),
    pytest.param("application/json", b'{"a": -Infinity}', "JSON", id="json-minus-infinity"),
    pytest.param("application/json", b'{"a": 1e400}', "JSON", id="json-overflow-to-infinity"),
    pytest.param("application/json", b'{"a": ' + b"9" * 5000 + b"}", "JSON", id="json-huge-int"),
    pytest.param("application/yaml", b"a: [1, 2", "YAML", id="yaml-unclosed-flow"),
    pytest.param("application/yaml", b"a: b\n c: d\n", "YAML", id="yaml-bad-indentation"),
    pytest.param("application/yaml", b"a: 1\n---\nb: 2\n", "YAML", id="yaml-two-documents"),
    pytest.param("application/yaml", b"a: !!python/name:os.system\n", "YAML", id="yaml-unsafe"),
    pytest.param("application/yaml", b"a: .nan\n", "YAML", id="yaml-nan"),
    pytest.param("application/yaml", b"a: .inf\n", "YAML", id="yaml-infinity"),
    pytest.param("application/yaml", b"a: !!binary aGk=\n", "YAML", id="yaml-binary"),
    pytest.param("application/yaml", b"a: !!timestamp 2024-01-01\n", "YAML", id="yaml-tagged-date"),
    pytest.param("application/yaml", b"? [a]\n: b\n", "YAML", id="yaml-list-key"),
    pytest.param("application/yaml", b"a: \xff\n", "YAML", id="yaml-not-unicode"),
]


@pytest.mark.parametrize(("content_type", "body", "language"), MALFORMED)
def test_malformed_body(content_type: str | None, body: bytes, language: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        decode_body(content_type, body)
    status = raised.value.status()
    assert status["code"] == 400
    assert status["reason"] == "BadRequest"
    assert status["message"].startswith(f"the request body is not valid {language}: ")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/json", b"[" * 200_000, id="json-unclosed-lists"),
        pytest.param("application/json", b'{"a":' * 100_000, id="json-unclosed-objects"),
        pytest.param("application/json", b"[" * 100_000 + b"]" * 100_000, id="json-closed-lists"),
        pytest.param("application/yaml", b"[" * 100_000, id="yaml-unclosed-lists"),
        pytest.param("application/yaml", b"[" * 100_000 + b"]" * 100_000, id="yaml-closed-lists"),
        pytest.param(
            "application/yaml",
            b"".join(b"  " * depth + b"a:\n" for depth in range(5_000)),
            id="yaml-deep-block-mapping",
        ),
    ],
)
def test_deep_nesting_is_a_bad_request(content_type: str, body: bytes) -> None:
    with pytest.raises(BadRequestError):
        decode_body(content_type, body)


def test_moderate_nesting_decodes() -> None:
    depth = 200
    body = b"[" * depth + b"]" * depth
    value = decode_body("application/json", body)
    for _ in range(depth - 1):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == []


def test_empty_body_wins_over_unsupported_type() -> None:
    # A DELETE without a body may carry any Content-Type; nothing is decoded.
    assert decode_body("application/vnd.kubernetes.protobuf", b"") is None


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(value=_json_values, content_type=st.sampled_from([None, "application/json", "text/yaml"]))
def test_json_round_trip(value: Any, content_type: str | None) -> None:
    """Whatever JSON encodes decodes to the same value (YAML is a superset of JSON)."""
    body = json.dumps(value).encode()
    assert decode_body(content_type, body) == value


@given(body=st.binary(max_size=64), content_type=st.sampled_from([None, "application/yaml"]))
def test_arbitrary_bytes_never_crash(body: bytes, content_type: str | None) -> None:
    """Garbage gives a value or a 400, never another exception (which would be a 500)."""
    try:
        value = decode_body(content_type, body)
    except BadRequestError:
        return
    json.dumps(value, allow_nan=False)  # whatever decodes is storable JSON


def test_decode_json_refuses_constants_with_their_name() -> None:
    with pytest.raises(BadRequestError, match="NaN is not a JSON value"):
        decode_json(b"[NaN]")


# --- Accept: Table or not -------------------------------------------------------------------

KUBECTL_GET_TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)

ACCEPT = [
    pytest.param(KUBECTL_GET_TABLE, True, id="kubectl-get-table-triple"),
    pytest.param("application/json;as=Table;v=v1;g=meta.k8s.io", True, id="table-v1-only"),
    pytest.param(
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        True,
        id="table-v1beta1",
    ),
    pytest.param(
        "application/json; as=Table; v=v1; g=meta.k8s.io, application/json",
        True,
        id="table-with-spaces",
    ),
    pytest.param(
        "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,"
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        True,
        id="protobuf-table-then-json-table",
    ),
    pytest.param("application/json", False, id="plain-json-o-yaml"),
    pytest.param("application/json, */*", False, id="python-client"),
    pytest.param("*/*", False, id="wildcard"),
    pytest.param(
        "application/vnd.kubernetes.protobuf,application/json", False, id="typed-client-protobuf"
    ),
    pytest.param(None, False, id="missing"),
    pytest.param("", False, id="empty"),
    pytest.param(
        "application/json,application/json;as=Table;v=v1;g=meta.k8s.io",
        False,
        id="plain-json-preferred-over-table",
    ),
    pytest.param("*/*,application/json;as=Table;v=v1;g=meta.k8s.io", False, id="wildcard-first"),
    pytest.param("application/json;as=Table;v=v1", False, id="table-without-group"),
    pytest.param("application/json;as=Table;v=v1;g=example.com", False, id="table-other-group"),
    pytest.param(
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json",
        False,
        id="partial-object-metadata",
    ),
    pytest.param(
        "application/yaml;as=Table;v=v1;g=meta.k8s.io", False, id="table-in-yaml-not-served"
    ),
    pytest.param(
        "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
        False,
        id="protobuf-table-only",
    ),
    pytest.param("aggregated-discovery-triple-is-not-a-table", False, id="nonsense"),
    pytest.param(
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
        "application/json",
        False,
        id="aggregated-discovery-triple",
    ),
]


@pytest.mark.parametrize(("accept", "expected"), ACCEPT)
def test_wants_table(accept: str | None, expected: bool) -> None:
    assert wants_table(accept) is expected


@given(st.text(max_size=80))
def test_wants_table_never_crashes(accept: str) -> None:
    assert wants_table(accept) in (True, False)
