"""API errors against upstream: exact Status bodies, HTTP and gRPC codes, field error wording."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api import errors as api_errors
from kubelite.api.errors import (
    OMIT,
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    CauseType,
    ConflictError,
    ExpiredError,
    FieldError,
    ForbiddenError,
    GoneError,
    GroupKind,
    GroupResource,
    InternalError,
    InvalidError,
    MethodNotAllowedError,
    NotFoundError,
    PathNotFoundError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    StatusDetails,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedMediaError,
    aggregate_message,
    field_duplicate,
    field_forbidden,
    field_invalid,
    field_not_supported,
    field_required,
    field_too_long,
    go_value,
    success_status,
)

PODS = GroupResource("", "pods")
DEPLOYMENTS = GroupResource("apps", "deployments")
DEPLOYMENT = GroupKind("apps", "Deployment")


def failure(code: int, reason: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


REPLICAS = field_invalid("spec.replicas", -1, "must be greater than or equal to 0")

STATUS_BODIES = [
    pytest.param(
        NotFoundError(DEPLOYMENTS, "web"),
        failure(
            404,
            "NotFound",
            'deployments.apps "web" not found',
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
        id="not-found-grouped",
    ),
    pytest.param(
        NotFoundError(PODS, "x"),
        failure(404, "NotFound", 'pods "x" not found', {"name": "x", "kind": "pods"}),
        id="not-found-core",
    ),
    pytest.param(
        NotFoundError(GroupResource("", "namespaces"), "x"),
        failure(404, "NotFound", 'namespaces "x" not found', {"name": "x", "kind": "namespaces"}),
        id="namespace-missing-on-create",
    ),
    pytest.param(
        PathNotFoundError(),
        failure(404, "NotFound", "the server could not find the requested resource"),
        id="unknown-path",
    ),
    pytest.param(
        AlreadyExistsError(PODS, "x"),
        failure(409, "AlreadyExists", 'pods "x" already exists', {"name": "x", "kind": "pods"}),
        id="already-exists",
    ),
    pytest.param(
        ConflictError(PODS, "x"),
        failure(
            409,
            "Conflict",
            'Operation cannot be fulfilled on pods "x": the object has been modified; please '
            "apply your changes to the latest version and try again",
            {"name": "x", "kind": "pods"},
        ),
        id="conflict-core",
    ),
    pytest.param(
        ConflictError(DEPLOYMENTS, "web"),
        failure(
            409,
            "Conflict",
            'Operation cannot be fulfilled on deployments.apps "web": the object has been '
            "modified; please apply your changes to the latest version and try again",
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
        id="conflict-grouped",
    ),
    pytest.param(
        InvalidError(DEPLOYMENT, "web", [REPLICAS]),
        failure(
            422,
            "Invalid",
            'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be '
            "greater than or equal to 0",
            {
                "name": "web",
                "group": "apps",
                "kind": "Deployment",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: -1: must be greater than or equal to 0",
                        "field": "spec.replicas",
                    }
                ],
            },
        ),
        id="invalid-one-cause",
    ),
    pytest.param(
        InvalidError(
            GroupKind("", "Pod"),
            "p",
            [field_required("spec.containers", ""), field_required("metadata.name", "")],
        ),
        failure(
            422,
            "Invalid",
            'Pod "p" is invalid: [spec.containers: Required value, metadata.name: Required value]',
            {
                "name": "p",
                "kind": "Pod",
                "causes": [
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": "spec.containers",
                    },
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": "metadata.name",
                    },
                ],
            },
        ),
        id="invalid-two-causes-bracketed",
    ),
    pytest.param(
        InvalidError(GroupKind("", "Pod"), "p", []),
        failure(422, "Invalid", 'Pod "p" is invalid', {"name": "p", "kind": "Pod"}),
        id="invalid-no-causes",
    ),
    pytest.param(
        BadRequestError('strict decoding error: unknown field "spec.foo"'),
        failure(400, "BadRequest", 'strict decoding error: unknown field "spec.foo"'),
        id="bad-request",
    ),
    pytest.param(
        UnauthorizedError(), failure(401, "Unauthorized", "Unauthorized"), id="unauthorized"
    ),
    pytest.param(
        ForbiddenError(
            PODS,
            "",
            'User "u" cannot list resource "pods" in API group "" in the namespace "default"',
        ),
        failure(
            403,
            "Forbidden",
            'pods is forbidden: User "u" cannot list resource "pods" in API group "" in the '
            'namespace "default"',
            {"kind": "pods"},
        ),
        id="forbidden-collection",
    ),
    pytest.param(
        ForbiddenError(
            PODS, "x", "unable to create new content in namespace x because it is being terminated"
        ),
        failure(
            403,
            "Forbidden",
            'pods "x" is forbidden: unable to create new content in namespace x because it is '
            "being terminated",
            {"name": "x", "kind": "pods"},
        ),
        id="forbidden-named",
    ),
    pytest.param(
        ForbiddenError(None, "", "no"),
        failure(403, "Forbidden", "forbidden: no"),
        id="forbidden-unqualified",
    ),
    pytest.param(
        MethodNotAllowedError(),
        failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        id="method-not-allowed",
    ),
    pytest.param(
        ExpiredError(5, 17),
        failure(410, "Expired", "too old resource version: 5 (17)"),
        id="expired",
    ),
    pytest.param(
        GoneError("the resource is gone"),
        failure(410, "Gone", "the resource is gone"),
        id="gone",
    ),
    pytest.param(
        RequestTooLargeError("limit is 3145728"),
        failure(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"),
        id="too-large",
    ),
    pytest.param(
        UnsupportedMediaError(["application/json", "application/yaml"]),
        failure(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml",
        ),
        id="unsupported-media",
    ),
    pytest.param(
        TooManyRequestsError(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            10,
            [{"reason": "DisruptionBudget", "message": "needs 1 healthy pods"}],
        ),
        failure(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            {
                "causes": [{"reason": "DisruptionBudget", "message": "needs 1 healthy pods"}],
                "retryAfterSeconds": 10,
            },
        ),
        id="too-many-requests-eviction",
    ),
    pytest.param(
        InternalError("boom"),
        failure(
            500, "InternalError", "Internal error occurred: boom", {"causes": [{"message": "boom"}]}
        ),
        id="internal",
    ),
    pytest.param(
        ServiceUnavailableError("no leader", 1),
        failure(503, "ServiceUnavailable", "no leader", {"retryAfterSeconds": 1}),
        id="unavailable",
    ),
    pytest.param(
        RequestTimeoutError("request did not complete within 60s", 2),
        failure(
            504,
            "Timeout",
            "Timeout: request did not complete within 60s",
            {"retryAfterSeconds": 2},
        ),
        id="timeout",
    ),
]


@pytest.mark.parametrize(("error", "expected"), STATUS_BODIES)
def test_status_body_matches_upstream(error: ApiError, expected: dict[str, Any]) -> None:
    assert error.status() == expected
    assert error.code == expected["code"]
    assert str(error) == expected["message"]


CODES = [
    pytest.param(BadRequestError("x"), 400, grpc.StatusCode.INVALID_ARGUMENT, id="bad-request"),
    pytest.param(UnauthorizedError(), 401, grpc.StatusCode.UNAUTHENTICATED, id="unauthorized"),
    pytest.param(
        ForbiddenError(PODS, "x", "no"), 403, grpc.StatusCode.PERMISSION_DENIED, id="forbidden"
    ),
    pytest.param(NotFoundError(PODS, "x"), 404, grpc.StatusCode.NOT_FOUND, id="not-found"),
    pytest.param(PathNotFoundError(), 404, grpc.StatusCode.NOT_FOUND, id="path-not-found"),
    pytest.param(
        MethodNotAllowedError(), 405, grpc.StatusCode.UNIMPLEMENTED, id="method-not-allowed"
    ),
    pytest.param(
        AlreadyExistsError(PODS, "x"), 409, grpc.StatusCode.ALREADY_EXISTS, id="already-exists"
    ),
    pytest.param(ConflictError(PODS, "x"), 409, grpc.StatusCode.ABORTED, id="conflict"),
    pytest.param(ExpiredError(1, 2), 410, grpc.StatusCode.OUT_OF_RANGE, id="expired"),
    pytest.param(GoneError("x"), 410, grpc.StatusCode.OUT_OF_RANGE, id="gone"),
    pytest.param(
        RequestTooLargeError("x"), 413, grpc.StatusCode.RESOURCE_EXHAUSTED, id="too-large"
    ),
    pytest.param(
        UnsupportedMediaError([]), 415, grpc.StatusCode.INVALID_ARGUMENT, id="unsupported-media"
    ),
    pytest.param(
        InvalidError(DEPLOYMENT, "web", [REPLICAS]),
        422,
        grpc.StatusCode.INVALID_ARGUMENT,
        id="invalid",
    ),
    pytest.param(TooManyRequestsError("x"), 429, grpc.StatusCode.RESOURCE_EXHAUSTED, id="too-many"),
    pytest.param(InternalError("x"), 500, grpc.StatusCode.INTERNAL, id="internal"),
    pytest.param(ServiceUnavailableError("x"), 503, grpc.StatusCode.UNAVAILABLE, id="unavailable"),
    pytest.param(RequestTimeoutError("x"), 504, grpc.StatusCode.DEADLINE_EXCEEDED, id="timeout"),
]


@pytest.mark.parametrize(("error", "http", "rpc"), CODES)
def test_http_and_grpc_codes(error: ApiError, http: int, rpc: grpc.StatusCode) -> None:
    assert (error.code, error.grpc_code) == (http, rpc)
    assert error.status()["code"] == http


FIELD_ERRORS = [
    pytest.param(
        field_required("metadata.name", "name or generateName is required"),
        CauseType.FIELD_VALUE_REQUIRED,
        "metadata.name: Required value: name or generateName is required",
        id="required-with-detail",
    ),
    pytest.param(
        field_invalid("spec.replicas", -1, "must be greater than or equal to 0"),
        CauseType.FIELD_VALUE_INVALID,
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        id="invalid-int",
    ),
    pytest.param(
        field_invalid("metadata.name", "Web_1", "a lowercase RFC 1123 subdomain"),
        CauseType.FIELD_VALUE_INVALID,
        'metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain',
        id="invalid-string-go-quoted",
    ),
    pytest.param(
        field_invalid("metadata.uid", None, "field is immutable"),
        CauseType.FIELD_VALUE_INVALID,
        'metadata.uid: Invalid value: "null": field is immutable',
        id="invalid-null-printed-as-quoted-string",
    ),
    pytest.param(
        field_not_supported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"]),
        CauseType.FIELD_VALUE_NOT_SUPPORTED,
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        id="not-supported",
    ),
    pytest.param(
        field_duplicate("spec.containers[1].name", "app"),
        CauseType.FIELD_VALUE_DUPLICATE,
        'spec.containers[1].name: Duplicate value: "app"',
        id="duplicate",
    ),
    pytest.param(
        field_forbidden("spec", "pod updates may not change fields other than image"),
        CauseType.FIELD_VALUE_FORBIDDEN,
        "spec: Forbidden: pod updates may not change fields other than image",
        id="forbidden-hides-value",
    ),
    pytest.param(
        field_too_long("metadata.annotations", "x" * 10, 262144),
        CauseType.FIELD_VALUE_TOO_LONG,
        "metadata.annotations: Too long: may not be more than 262144 bytes",
        id="too-long-hides-value",
    ),
]


@pytest.mark.parametrize(("error", "cause_type", "text"), FIELD_ERRORS)
def test_field_error_wording(error: FieldError, cause_type: CauseType, text: str) -> None:
    assert error.type is cause_type
    assert str(error) == text
    assert error.cause() == {
        "reason": cause_type.value,
        "message": text.removeprefix(f"{error.field}: "),
        "field": error.field,
    }


GO_VALUES = [
    pytest.param(-1, "-1", id="int"),
    pytest.param(True, "true", id="bool"),
    pytest.param(1.5, "1.5", id="float"),
    pytest.param(2.0, "2", id="integral-float"),
    pytest.param(None, '"null"', id="none-as-upstream-quoted-string"),
    pytest.param({"b": "2", "a": "1"}, 'map[string]string{"a":"1", "b":"2"}', id="string-map"),
    pytest.param(["x", "y"], '[]string{"x", "y"}', id="string-list"),
    pytest.param('a"b\n', '"a\\"b\\n"', id="string-escaped"),
    pytest.param({"b": 1, "a": [2]}, '{"a":[2],"b":1}', id="other-object-as-json"),
]


@pytest.mark.parametrize(("value", "text"), GO_VALUES)
def test_go_value(value: object, text: str) -> None:
    assert go_value(value) == text


AGGREGATES = [
    pytest.param([], "", id="empty"),
    pytest.param(["a"], "a", id="one"),
    pytest.param(["a", "b"], "[a, b]", id="two"),
    pytest.param(["a", "b", "a"], "[a, b]", id="repeats-dropped"),
    pytest.param(["a", "a"], "a", id="all-same-unbracketed"),
]


@pytest.mark.parametrize(("messages", "text"), AGGREGATES)
def test_aggregate_message(messages: list[str], text: str) -> None:
    assert aggregate_message(messages) == text


SUCCESSES = [
    pytest.param(
        success_status(201),
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        id="created",
    ),
    pytest.param(
        success_status(200, StatusDetails(name="x", kind="pods", uid="u1")),
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": "x", "kind": "pods", "uid": "u1"},
            "code": 200,
        },
        id="delete-with-details",
    ),
]


@pytest.mark.parametrize(("body", "expected"), SUCCESSES)
def test_success_status(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert body == expected


def test_retry_after_is_exposed_for_the_header() -> None:
    assert TooManyRequestsError("slow down", 7).retry_after_seconds == 7
    assert NotFoundError(PODS, "x").retry_after_seconds == 0


def test_omitted_value_is_not_printed() -> None:
    error = FieldError(CauseType.FIELD_VALUE_INVALID, "spec.selector", OMIT, "empty selector")
    assert error.message() == "spec.selector: Invalid value: empty selector"


class _DisplayWords(enum.Enum):
    """The shape of another module's field error type: values are upstream's display words."""

    REQUIRED = "Required value"
    NOT_SUPPORTED = "Unsupported value"


@dataclass(frozen=True)
class _ForeignFieldError:
    type: _DisplayWords
    field: str
    text: str

    def message(self) -> str:
        return f"{self.field}: {self.text}"


def test_invalid_error_accepts_any_field_error_of_the_same_shape() -> None:
    errors = [
        _ForeignFieldError(_DisplayWords.REQUIRED, "spec.containers", "Required value"),
        _ForeignFieldError(
            _DisplayWords.NOT_SUPPORTED,
            "spec.restartPolicy",
            'Unsupported value: "x": supported values: "Always"',
        ),
    ]
    status = InvalidError(GroupKind("", "Pod"), "p", errors).status()
    assert status["message"] == (
        'Pod "p" is invalid: [spec.containers: Required value, spec.restartPolicy: '
        'Unsupported value: "x": supported values: "Always"]'
    )
    assert status["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"},
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "x": supported values: "Always"',
            "field": "spec.restartPolicy",
        },
    ]


def test_invalid_error_keeps_its_field_errors() -> None:
    assert InvalidError(DEPLOYMENT, "web", [REPLICAS]).errors == (REPLICAS,)


names = st.text(st.characters(codec="utf-8"), max_size=20)


@given(group=st.sampled_from(["", "apps", "batch"]), name=names)
def test_not_found_details_always_name_the_resource(group: str, name: str) -> None:
    status = NotFoundError(GroupResource(group, "things"), name).status()
    details = status["details"]
    assert details["kind"] == "things"
    assert details.get("group", "") == group
    assert details.get("name", "") == name
    assert status["message"].endswith(" not found")


# --- error_from_status: what a client rebuilds from a received Status ----------------------------

ROUND_TRIPS = [
    pytest.param(
        api_errors.NotFoundError(api_errors.GroupResource("apps", "deployments"), "w"),
        id="not-found",
    ),
    pytest.param(
        api_errors.AlreadyExistsError(api_errors.GroupResource("", "pods"), "p"), id="exists"
    ),
    pytest.param(
        api_errors.ConflictError(api_errors.GroupResource("", "pods"), "p"), id="conflict"
    ),
    pytest.param(api_errors.ExpiredError(5, 9), id="expired"),
    pytest.param(
        api_errors.InvalidError(
            api_errors.GroupKind("apps", "Deployment"),
            "w",
            [api_errors.field_invalid("spec.replicas", -1, "must be greater than or equal to 0")],
        ),
        id="invalid",
    ),
    pytest.param(api_errors.TooManyRequestsError("slow down", retry_after_seconds=2), id="429"),
    pytest.param(api_errors.ServiceUnavailableError("store down", 1), id="503"),
]


@pytest.mark.parametrize("error", ROUND_TRIPS)
def test_a_status_comes_back_as_the_same_typed_error(error: api_errors.ApiError) -> None:
    rebuilt = api_errors.error_from_status(error.status())

    assert type(rebuilt) is type(error)
    assert rebuilt.status() == error.status()
    assert rebuilt.retry_after_seconds == error.retry_after_seconds


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        pytest.param({}, 503, api_errors.ServiceUnavailableError, id="no-reason-uses-code"),
        pytest.param({"reason": "Weird", "code": 404}, 0, api_errors.NotFoundError, id="code"),
        pytest.param("not a status", 0, api_errors.InternalError, id="garbage"),
        pytest.param(
            {"details": {"causes": ["x", {"a": 1}]}}, 422, api_errors.InvalidError, id="odd-causes"
        ),
    ],
)
def test_odd_statuses_still_give_a_typed_error(
    status: object, code: int, expected: type[api_errors.ApiError]
) -> None:
    assert type(api_errors.error_from_status(status, code)) is expected
