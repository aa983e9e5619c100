"""List and watch options: query parsing, object matching and continue tokens.

Query dicts are what aiohttp's ``request.query`` gives the REST shell (already percent-decoded:
kubectl's ``labelSelector=app%3Dweb`` arrives as ``app=web``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.errors import BadRequestError, InvalidError
from kubelite.apiserver.listing import (
    MAX_LIMIT,
    ListOptions,
    decode_continue,
    encode_continue,
    is_watch,
    parse_list_options,
)


def _bad_request(resource: str, query: dict[str, str]) -> str:
    with pytest.raises(BadRequestError) as raised:
        parse_list_options(resource, query)
    status = raised.value.status()
    assert (status["code"], status["reason"]) == (400, "BadRequest")
    return str(status["message"])


def _pod(
    name: str = "web",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    node: str | None = None,
    phase: str | None = "Running",
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        "status": {},
    }
    if labels is not None:
        pod["metadata"]["labels"] = labels
    if node is not None:
        pod["spec"]["nodeName"] = node
    if phase is not None:
        pod["status"]["phase"] = phase
    return pod


# --- defaults -------------------------------------------------------------------------------


def test_empty_query_gives_defaults() -> None:
    options = parse_list_options("pods", {})
    assert options.resource == "pods"
    assert options.labels.empty and options.fields.empty
    assert (options.limit, options.continue_token) == (0, "")
    assert (options.resource_version, options.resource_version_match) == ("", "")
    assert options.revision is None
    assert options.allow_bookmarks is False
    assert options.timeout_seconds is None
    assert options.matches({}) and options.matches(_pod())


def test_recorded_informer_query() -> None:
    """kubectl rollout status / wait / delete's wait (reference §3.3)."""
    options = parse_list_options(
        "deployments",
        {
            "fieldSelector": "metadata.name=web",
            "resourceVersion": "0",
            "limit": "500",
        },
    )
    assert options.fields.requires_exact_match("metadata.name") == "web"
    assert (options.revision, options.limit) == (0, 500)
    watch = parse_list_options(
        "deployments",
        {
            "fieldSelector": "metadata.name=web",
            "resourceVersion": "123",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "417",
            "watch": "true",
        },
    )
    assert (watch.revision, watch.allow_bookmarks, watch.timeout_seconds) == (123, True, 417)


# --- label selectors ------------------------------------------------------------------------

LABEL_MATCHES = [
    pytest.param("", {}, True, id="empty-selects-all"),
    pytest.param("app=web", {"app": "web"}, True, id="equals"),
    pytest.param("app=web", {"app": "db"}, False, id="equals-other-value"),
    pytest.param("app=web", {}, False, id="equals-missing"),
    pytest.param("app==web", {"app": "web"}, True, id="double-equals"),
    pytest.param("app!=web", {"app": "db"}, True, id="not-equals"),
    pytest.param("app!=web", {}, True, id="not-equals-missing-matches"),
    pytest.param("app!=web", {"app": "web"}, False, id="not-equals-same"),
    pytest.param("tier in (fe,be)", {"tier": "be"}, True, id="in"),
    pytest.param("tier in (fe,be)", {"tier": "db"}, False, id="in-other"),
    pytest.param("tier in (fe,be)", {}, False, id="in-missing"),
    pytest.param("tier notin (fe)", {"tier": "be"}, True, id="notin"),
    pytest.param("tier notin (fe)", {}, True, id="notin-missing-matches"),
    pytest.param("tier notin (fe)", {"tier": "fe"}, False, id="notin-listed"),
    pytest.param("app", {"app": ""}, True, id="exists"),
    pytest.param("app", {"other": "x"}, False, id="exists-missing"),
    pytest.param("!app", {"other": "x"}, True, id="does-not-exist"),
    pytest.param("!app", {"app": "web"}, False, id="does-not-exist-present"),
    pytest.param("app=web,tier in (fe)", {"app": "web", "tier": "fe"}, True, id="comma-is-and"),
    pytest.param("app=web,tier in (fe)", {"app": "web", "tier": "be"}, False, id="and-one-fails"),
    pytest.param("app=web,!canary", {"app": "web", "canary": "1"}, False, id="and-not-exists"),
    pytest.param("app = web", {"app": "web"}, True, id="spaces-around-operator"),
    pytest.param("app=", {"app": ""}, True, id="empty-value"),
    pytest.param("example.com/app=web", {"example.com/app": "web"}, True, id="prefixed-key"),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), LABEL_MATCHES)
def test_label_selector_matches(selector: str, labels: dict[str, str], expected: bool) -> None:
    options = parse_list_options("pods", {"labelSelector": selector})
    assert options.matches(_pod(labels=labels)) is expected


def test_label_selector_on_object_without_labels() -> None:
    options = parse_list_options("configmaps", {"labelSelector": "!app"})
    assert options.matches({"metadata": {"name": "c"}})
    assert options.matches({"metadata": {"name": "c", "labels": None}})
    assert options.matches({})


OPERATORS = "in, notin, =, ==, !=, gt, lt"

LABEL_ERRORS = [
    pytest.param(
        "a b", f"unable to parse requirement: found 'b', expected: {OPERATORS}", id="missing-op"
    ),
    pytest.param("a in", "unable to parse requirement: found '' expected: '('", id="in-no-set"),
    pytest.param(
        "!", "unable to parse requirement: found '', expected: identifier", id="bare-bang"
    ),
    pytest.param(
        ",a", "found ',', expected: !, identifier, or 'end of string'", id="leading-comma"
    ),
    pytest.param("a=b c", "found 'c', expected: ',' or 'end of string'", id="trailing-word"),
    pytest.param("a=b,", "found '', expected: identifier after ','", id="trailing-comma"),
    pytest.param(
        "a=b*",
        'unable to parse requirement: values[0][a]: Invalid value: "b*": a valid label must be '
        "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
        "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        id="invalid-value",
    ),
]


@pytest.mark.parametrize(("selector", "message"), LABEL_ERRORS)
def test_label_selector_errors(selector: str, message: str) -> None:
    """Upstream's ``labels.Parse`` text, with its one "unable to parse requirement:" prefix."""
    assert _bad_request("pods", {"labelSelector": selector}) == message


# --- field selectors ------------------------------------------------------------------------

FIELD_MATCHES = [
    pytest.param("pods", "metadata.name=web", _pod(), True, id="name"),
    pytest.param("pods", "metadata.name=db", _pod(), False, id="name-other"),
    pytest.param("pods", "metadata.name!=db", _pod(), True, id="name-not-equals"),
    pytest.param("pods", "metadata.namespace=default", _pod(), True, id="namespace"),
    pytest.param("pods", "metadata.namespace==kube-system", _pod(), False, id="namespace-other"),
    pytest.param("pods", "spec.nodeName=node-1", _pod(node="node-1"), True, id="drain-node"),
    pytest.param("pods", "spec.nodeName=node-1", _pod(node="node-2"), False, id="other-node"),
    pytest.param("pods", "spec.nodeName=node-1", _pod(), False, id="unscheduled-not-on-node"),
    pytest.param("pods", "spec.nodeName=", _pod(), True, id="scheduler-unscheduled"),
    pytest.param("pods", "spec.nodeName=", _pod(node="node-1"), False, id="scheduled-not-empty"),
    pytest.param("pods", "spec.nodeName!=", _pod(node="node-1"), True, id="scheduled"),
    pytest.param("pods", "spec.host=node-1", _pod(node="node-1"), True, id="legacy-spec-host"),
    pytest.param(
        "pods",
        "status.phase!=Succeeded,status.phase!=Failed",
        _pod(phase="Running"),
        True,
        id="describe-node-running",
    ),
    pytest.param(
        "pods",
        "status.phase!=Succeeded,status.phase!=Failed",
        _pod(phase="Failed"),
        False,
        id="describe-node-failed",
    ),
    pytest.param("pods", "status.phase=Pending", _pod(phase=None), False, id="phase-missing"),
    pytest.param("pods", "status.phase=", _pod(phase=None), True, id="phase-missing-is-empty"),
    pytest.param(
        "pods",
        "spec.nodeName=node-1,metadata.namespace=default",
        _pod(node="node-1"),
        True,
        id="comma-is-and",
    ),
    pytest.param(
        "events",
        "involvedObject.name=web,involvedObject.kind=Pod",
        {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"}},
        True,
        id="describe-events",
    ),
    pytest.param(
        "nodes",
        "spec.unschedulable=false",
        {"metadata": {"name": "n"}, "spec": {}},
        True,
        id="node-unschedulable-default-false",
    ),
    pytest.param(
        "nodes",
        "spec.unschedulable=true",
        {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
        True,
        id="node-cordoned",
    ),
    pytest.param(
        "namespaces",
        "status.phase=Terminating",
        {"metadata": {"name": "dev"}, "status": {"phase": "Terminating"}},
        True,
        id="namespace-phase",
    ),
    pytest.param(
        "secrets",
        "type=kubernetes.io/tls",
        {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"},
        True,
        id="secret-type",
    ),
    pytest.param(
        "replicasets",
        "status.replicas=0",
        {"metadata": {"name": "rs"}, "status": {}},
        True,
        id="replicaset-replicas-default-zero",
    ),
    pytest.param(
        "jobs",
        "status.successful=1",
        {"metadata": {"name": "j"}, "status": {"succeeded": 1}},
        True,
        id="job-successful",
    ),
    pytest.param(
        "deployments",
        "metadata.name=web",
        {"metadata": {"name": "web"}},
        True,
        id="deployment-name",
    ),
]


@pytest.mark.parametrize(("resource", "selector", "obj", "expected"), FIELD_MATCHES)
def test_field_selector_matches(
    resource: str, selector: str, obj: dict[str, Any], expected: bool
) -> None:
    options = parse_list_options(resource, {"fieldSelector": selector})
    assert options.matches(obj) is expected


def test_label_and_field_selectors_both_apply() -> None:
    options = parse_list_options(
        "pods", {"labelSelector": "app=web", "fieldSelector": "spec.nodeName=node-1"}
    )
    assert options.matches(_pod(labels={"app": "web"}, node="node-1"))
    assert not options.matches(_pod(labels={"app": "web"}, node="node-2"))
    assert not options.matches(_pod(labels={"app": "db"}, node="node-1"))


FIELD_ERRORS = [
    pytest.param("pods", "spec.foo=1", "field label not supported: spec.foo", id="pods"),
    pytest.param(
        "pods",
        "status.phase=Running,spec.foo=1",
        "field label not supported: spec.foo",
        id="pods-one-bad-term",
    ),
    pytest.param(
        "nodes",
        "metadata.namespace=default",
        "field label not supported: metadata.namespace",
        id="nodes-cluster-scoped-namespace",
    ),
    pytest.param("events", "message=x", "field label not supported: message", id="events"),
    pytest.param(
        "deployments",
        "spec.replicas=1",
        '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
        id="deployments",
    ),
    pytest.param(
        "jobs",
        "status.active=1",
        'field label "status.active" not supported for batchv1.Job',
        id="jobs",
    ),
    pytest.param(
        "pods",
        "spec.nodeName",
        "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'",
        id="no-operator",
    ),
    pytest.param(
        "pods",
        "spec.nodeName=a=b",
        "invalid field selector: unescaped character in value: 61",
        id="bare-equals-in-value",
    ),
]


@pytest.mark.parametrize(("resource", "selector", "message"), FIELD_ERRORS)
def test_field_selector_errors(resource: str, selector: str, message: str) -> None:
    assert _bad_request(resource, {"fieldSelector": selector}) == message


# --- paging ---------------------------------------------------------------------------------

LIMITS = [
    pytest.param({}, 0, id="absent"),
    pytest.param({"limit": ""}, 0, id="empty"),
    pytest.param({"limit": "0"}, 0, id="zero-means-all"),
    pytest.param({"limit": "500"}, 500, id="kubectl-default"),
    pytest.param({"limit": str(MAX_LIMIT)}, MAX_LIMIT, id="at-cap"),
    pytest.param({"limit": str(MAX_LIMIT * 10)}, MAX_LIMIT, id="capped"),
]


@pytest.mark.parametrize(("query", "limit"), LIMITS)
def test_limit(query: dict[str, str], limit: int) -> None:
    assert parse_list_options("pods", query).limit == limit


INT_ERRORS = [
    pytest.param("limit", "abc", "invalid value for limit: 'abc': must be an integer", id="limit"),
    pytest.param("limit", "1.5", "invalid value for limit: '1.5': must be an integer", id="float"),
    pytest.param("limit", "-1", "invalid value for limit: '-1': must not be negative", id="neg"),
    pytest.param(
        "timeoutSeconds",
        "5s",
        "invalid value for timeoutSeconds: '5s': must be an integer",
        id="timeout-duration",
    ),
    pytest.param(
        "timeoutSeconds",
        "-3",
        "invalid value for timeoutSeconds: '-3': must not be negative",
        id="timeout-negative",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), INT_ERRORS)
def test_integer_parameter_errors(name: str, value: str, message: str) -> None:
    assert _bad_request("pods", {name: value}) == message


@pytest.mark.parametrize(
    ("query", "timeout"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"timeoutSeconds": ""}, None, id="empty"),
        pytest.param({"timeoutSeconds": "0"}, 0, id="zero"),
        pytest.param({"timeoutSeconds": "417"}, 417, id="informer"),
    ],
)
def test_timeout_seconds(query: dict[str, str], timeout: int | None) -> None:
    assert parse_list_options("pods", query).timeout_seconds == timeout


@pytest.mark.parametrize(
    ("rv", "token"),
    [
        pytest.param("", "tok", id="no-resource-version"),
        pytest.param("0", "tok", id="resource-version-zero"),
    ],
)
def test_continue_is_kept(rv: str, token: str) -> None:
    options = parse_list_options("pods", {"continue": token, "resourceVersion": rv, "limit": "5"})
    assert (options.continue_token, options.limit) == (token, 5)


def test_continue_with_resource_version_is_refused() -> None:
    message = _bad_request("pods", {"continue": "tok", "resourceVersion": "7"})
    assert message == "specifying resource version is not allowed when using continue"


# --- resourceVersion and resourceVersionMatch -----------------------------------------------

RESOURCE_VERSIONS = [
    pytest.param({}, "", None, id="absent-latest"),
    pytest.param({"resourceVersion": ""}, "", None, id="empty-latest"),
    pytest.param({"resourceVersion": "0"}, "0", 0, id="zero-any"),
    pytest.param({"resourceVersion": "123"}, "123", 123, id="exact-number"),
    pytest.param(
        {"resourceVersion": "123", "resourceVersionMatch": "NotOlderThan"},
        "123",
        123,
        id="not-older-than",
    ),
    pytest.param(
        {"resourceVersion": "123", "resourceVersionMatch": "Exact"}, "123", 123, id="exact"
    ),
    pytest.param(
        {"resourceVersion": "0", "resourceVersionMatch": "NotOlderThan"},
        "0",
        0,
        id="zero-not-older-than",
    ),
    pytest.param({"resourceVersionMatch": ""}, "", None, id="empty-match-without-rv"),
]


@pytest.mark.parametrize(("query", "rv", "revision"), RESOURCE_VERSIONS)
def test_resource_version(query: dict[str, str], rv: str, revision: int | None) -> None:
    options = parse_list_options("pods", query)
    assert options.resource_version == rv
    assert options.revision == revision
    assert options.resource_version_match == query.get("resourceVersionMatch", "")


@pytest.mark.parametrize(
    "rv",
    [
        pytest.param("abc", id="word"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="decimal"),
        pytest.param(" 1", id="leading-space"),
        pytest.param("0x10", id="hex"),
        pytest.param("\uff11\uff12", id="fullwidth-digits"),
    ],
)
def test_junk_resource_version(rv: str) -> None:
    # The text is meta.parse_resource_version's (upstream's strconv.ParseUint wording).
    quoted = json.dumps(rv, ensure_ascii=False)
    assert _bad_request("pods", {"resourceVersion": rv}) == (
        f"invalid resource version: resourceVersion: Invalid value: {quoted}: "
        f"strconv.ParseUint: parsing {quoted}: invalid syntax"
    )


FORBID = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden"
LIST_OPTIONS_INVALID = 'ListOptions.meta.k8s.io "" is invalid: '
SUPPORTED = 'supported values: "Exact", "NotOlderThan", ""'


@pytest.mark.parametrize(
    ("query", "problems"),
    [
        pytest.param(
            {"resourceVersionMatch": "NotOlderThan"},
            [f"{FORBID} unless resourceVersion is provided"],
            id="match-without-rv",
        ),
        pytest.param(
            {"resourceVersionMatch": "Exact"},
            [f"{FORBID} unless resourceVersion is provided"],
            id="exact-without-rv",
        ),
        pytest.param(
            {"resourceVersion": "5", "resourceVersionMatch": "Newest"},
            [f'resourceVersionMatch: Unsupported value: "Newest": {SUPPORTED}'],
            id="unknown-match",
        ),
        pytest.param(
            {"resourceVersion": "5", "resourceVersionMatch": "exact"},
            [f'resourceVersionMatch: Unsupported value: "exact": {SUPPORTED}'],
            id="match-is-case-sensitive",
        ),
        pytest.param(
            {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
            [
                "resourceVersionMatch: Forbidden: "
                'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
            ],
            id="exact-at-zero",
        ),
        pytest.param(
            {"resourceVersionMatch": "Newest", "continue": "abc"},
            [
                f"{FORBID} unless resourceVersion is provided",
                f"{FORBID} when continue is provided",
                f'resourceVersionMatch: Unsupported value: "Newest": {SUPPORTED}',
            ],
            id="every-problem-at-once",
        ),
    ],
)
def test_resource_version_match_errors_are_invalid_list_options(
    query: dict[str, str], problems: list[str]
) -> None:
    with pytest.raises(InvalidError) as raised:
        parse_list_options("pods", query)
    status = raised.value.status()
    assert (status["code"], status["reason"]) == (422, "Invalid")
    joined = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
    assert status["message"] == LIST_OPTIONS_INVALID + joined
    assert status["details"]["kind"] == "ListOptions"
    assert [c["field"] for c in status["details"]["causes"]] == ["resourceVersionMatch"] * len(
        problems
    )


# --- flags ----------------------------------------------------------------------------------

FLAGS = [
    pytest.param(None, False, id="absent"),
    pytest.param("", False, id="empty"),
    pytest.param("true", True, id="true"),
    pytest.param("True", True, id="title-case"),
    pytest.param("1", True, id="one"),
    pytest.param("yes", True, id="yes"),
    pytest.param("false", False, id="false"),
    pytest.param("0", False, id="zero"),
]


@pytest.mark.parametrize(("value", "expected"), FLAGS)
def test_bookmark_and_watch_flags(value: str | None, expected: bool) -> None:
    query = {} if value is None else {"allowWatchBookmarks": value, "watch": value}
    assert parse_list_options("pods", query).allow_bookmarks is expected
    assert is_watch(query) is expected


# --- continue tokens ------------------------------------------------------------------------

BAD_CONTINUE = "continue key is not valid: incorrect encoded start resourceVersion"


def _token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def test_continue_token_shape() -> None:
    token = encode_continue(42, "default/web-1")
    assert decode_continue(token) == (42, "default/web-1")
    assert "=" not in token
    payload = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert json.loads(payload) == {"rv": 42, "start": "default/web-1"}


@given(revision=st.integers(min_value=1, max_value=2**63 - 1), start=st.text())
def test_continue_round_trip(revision: int, start: str) -> None:
    token = encode_continue(revision, start)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_continue(token) == (revision, start)


GARBAGE_TOKENS = [
    pytest.param("", id="empty"),
    pytest.param("!!!", id="not-base64"),
    pytest.param("a", id="one-char"),
    pytest.param("abc", id="base64-of-binary"),
    pytest.param(_token(b"not json"), id="not-json"),
    pytest.param(_token(b"\xff\xfe\x00"), id="not-utf8"),
    pytest.param(_token(b"[]"), id="json-list"),
    pytest.param(_token(b"null"), id="json-null"),
    pytest.param(_token(b'"rv"'), id="json-string"),
    pytest.param(_token(b"7"), id="json-number"),
    pytest.param(_token(b'{"rv": 1}'), id="no-start"),
    pytest.param(_token(b'{"start": "a"}'), id="no-rv"),
    pytest.param(_token(b'{"rv": "1", "start": "a"}'), id="rv-string"),
    pytest.param(_token(b'{"rv": 1.0, "start": "a"}'), id="rv-float"),
    pytest.param(_token(b'{"rv": true, "start": "a"}'), id="rv-bool"),
    pytest.param(_token(b'{"rv": 0, "start": "a"}'), id="rv-zero"),
    pytest.param(_token(b'{"rv": -5, "start": "a"}'), id="rv-negative"),
    pytest.param(_token(b'{"rv": 1, "start": 5}'), id="start-number"),
    pytest.param(_token(b'{"rv": 1, "start": null}'), id="start-null"),
    pytest.param(_token(b'{"rv": NaN, "start": "a"}'), id="rv-nan"),
    pytest.param(_token(b"[" * 6000), id="deeply-nested"),
    pytest.param(_token(b'{"rv": ' + b"9" * 5000 + b', "start": "a"}'), id="rv-huge-digits"),
]


@pytest.mark.parametrize("token", GARBAGE_TOKENS)
def test_garbage_continue_token(token: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        decode_continue(token)
    assert raised.value.status()["code"] == 400
    assert raised.value.message == BAD_CONTINUE


@given(st.text(max_size=200))
def test_any_token_decodes_or_is_a_bad_request(token: str) -> None:
    try:
        revision, start = decode_continue(token)
    except BadRequestError:
        return
    assert type(revision) is int and revision > 0
    assert isinstance(start, str)


@given(
    labels=st.dictionaries(
        st.sampled_from(["app", "tier", "env"]), st.sampled_from(["a", "b", ""]), max_size=3
    ),
    key=st.sampled_from(["app", "tier", "env"]),
    values=st.sets(st.sampled_from(["a", "b"]), min_size=1),
)
def test_set_selectors_against_naive_reference(
    labels: dict[str, str], key: str, values: set[str]
) -> None:
    """``in``/``notin``/exists agree with plain Python set logic on the object's labels."""
    listed = ",".join(sorted(values))
    cases = {
        f"{key} in ({listed})": labels.get(key) in values,
        f"{key} notin ({listed})": labels.get(key) not in values,
        key: key in labels,
        f"!{key}": key not in labels,
    }
    for selector, expected in cases.items():
        options = parse_list_options("pods", {"labelSelector": selector})
        assert options.matches({"metadata": {"labels": labels}}) is expected, selector


def test_list_options_is_frozen() -> None:
    options = ListOptions(resource="pods")
    with pytest.raises(AttributeError):
        options.limit = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("query", "fraction", "seconds"),
    [
        pytest.param({"timeoutSeconds": "5"}, 0.9, 5.0, id="client-timeout-wins"),
        pytest.param({}, 0.0, 1800.0, id="default-low"),
        pytest.param({}, 0.5, 2700.0, id="default-spread"),
    ],
)
def test_a_watch_lasts_its_timeout_or_a_spread_default(
    query: dict[str, str], fraction: float, seconds: float
) -> None:
    assert parse_list_options("pods", query).watch_seconds(fraction) == seconds
