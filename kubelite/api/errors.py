"""The typed API errors and the one place they become Kubernetes `Status` objects and gRPC codes.

Code inside the API raises an `ApiError` subclass; the HTTP and gRPC shells catch `ApiError`
once and answer with ``error.status()`` and ``error.code`` (HTTP) or ``error.grpc_code``.
Messages and ``details`` follow upstream's ``k8s.io/apimachinery/pkg/api/errors`` word for word,
because kubectl prints them verbatim (``Error from server (NotFound): pods "x" not found``)::

    >>> NotFoundError(GroupResource("apps", "deployments"), "web").status()["message"]
    'deployments.apps "web" not found'

`InvalidError` takes field errors, the counterpart of upstream's ``field.Error``: this module's
`FieldError`, or any value of the `FieldProblem` shape (such as the validation module's). Their
rendering (``spec.replicas: Invalid value: -1: must be ...``) is what ends up in the message and
in ``details.causes``. It runs past 400 lines because the table below is one mapping;
splitting it would give the HTTP and gRPC shells two places to look.

=========================  =====  =====================  ===================
class                      code   reason                 gRPC status
=========================  =====  =====================  ===================
`BadRequestError`          400    BadRequest             INVALID_ARGUMENT
`UnauthorizedError`        401    Unauthorized           UNAUTHENTICATED
`ForbiddenError`           403    Forbidden              PERMISSION_DENIED
`NotFoundError`            404    NotFound               NOT_FOUND
`MethodNotAllowedError`    405    MethodNotAllowed       UNIMPLEMENTED
`AlreadyExistsError`       409    AlreadyExists          ALREADY_EXISTS
`ConflictError`            409    Conflict               ABORTED
`ExpiredError`             410    Expired                OUT_OF_RANGE
`GoneError`                410    Gone                   OUT_OF_RANGE
`RequestTooLargeError`     413    RequestEntityTooLarge  RESOURCE_EXHAUSTED
`UnsupportedMediaError`    415    UnsupportedMediaType   INVALID_ARGUMENT
`InvalidError`             422    Invalid                INVALID_ARGUMENT
`TooManyRequestsError`     429    TooManyRequests        RESOURCE_EXHAUSTED
`InternalError`            500    InternalError          INTERNAL
`ServiceUnavailableError`  503    ServiceUnavailable     UNAVAILABLE
`RequestTimeoutError`      504    Timeout                DEADLINE_EXCEEDED
=========================  =====  =====================  ===================
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol

import grpc

from kubelite.api.labels import go_quote

OPTIMISTIC_LOCK_MESSAGE: Final = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class Reason(enum.StrEnum):
    """``Status.reason``: the machine-readable word clients switch on."""

    BAD_REQUEST = "BadRequest"
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    NOT_FOUND = "NotFound"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    ALREADY_EXISTS = "AlreadyExists"
    CONFLICT = "Conflict"
    GONE = "Gone"
    EXPIRED = "Expired"
    REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    INVALID = "Invalid"
    TOO_MANY_REQUESTS = "TooManyRequests"
    INTERNAL_ERROR = "InternalError"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    TIMEOUT = "Timeout"


class CauseType(enum.StrEnum):
    """``StatusCause.reason`` for field errors (upstream ``field.ErrorType``)."""

    FIELD_VALUE_REQUIRED = "FieldValueRequired"
    FIELD_VALUE_INVALID = "FieldValueInvalid"
    FIELD_VALUE_NOT_SUPPORTED = "FieldValueNotSupported"
    FIELD_VALUE_DUPLICATE = "FieldValueDuplicate"
    FIELD_VALUE_FORBIDDEN = "FieldValueForbidden"
    FIELD_VALUE_TOO_LONG = "FieldValueTooLong"


# The words upstream's ErrorType.String() prints in front of a field error's value.
_CAUSE_WORDS: Final[dict[CauseType, str]] = {
    CauseType.FIELD_VALUE_REQUIRED: "Required value",
    CauseType.FIELD_VALUE_INVALID: "Invalid value",
    CauseType.FIELD_VALUE_NOT_SUPPORTED: "Unsupported value",
    CauseType.FIELD_VALUE_DUPLICATE: "Duplicate value",
    CauseType.FIELD_VALUE_FORBIDDEN: "Forbidden",
    CauseType.FIELD_VALUE_TOO_LONG: "Too long",
}

_CAUSE_BY_WORDS: Final = {words: cause for cause, words in _CAUSE_WORDS.items()}

# Types whose body never shows the bad value (upstream ErrorBody's first cases).
_VALUELESS: Final = frozenset(
    {
        CauseType.FIELD_VALUE_REQUIRED,
        CauseType.FIELD_VALUE_FORBIDDEN,
        CauseType.FIELD_VALUE_TOO_LONG,
    }
)


@dataclass(frozen=True)
class GroupResource:
    """A resource qualified by API group; prints as ``deployments.apps`` or ``pods`` (core)."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class GroupKind:
    """A kind qualified by API group; prints as ``Deployment.apps`` or ``Pod`` (core)."""

    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final[Any] = _Omit()
"""A bad value that is not printed (upstream's ``omitValue``)."""


def go_value(value: object) -> str:
    """Render a bad value as upstream's field error does (``%v``, ``%q`` or ``%#v``)."""
    if value is None:
        return '"null"'  # upstream substitutes the string "null", then prints it with %q
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        body = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + body + "}"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[]string{" + ", ".join(go_quote(item) for item in value) + "}"
    # Upstream prints other Go structures with %#v; JSON is the closest readable equivalent.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class FieldProblem(Protocol):
    """What `InvalidError` needs of a field error: ours, or any with the same shape.

    ``type`` is a `CauseType` or an enum whose values are upstream's display words
    (``"Required value"``); ``message()`` is upstream's ``field.Error.Error()``.
    """

    @property
    def type(self) -> enum.Enum: ...

    @property
    def field(self) -> str: ...

    def message(self) -> str: ...


def cause_of(problem: FieldProblem) -> dict[str, str]:
    """The ``details.causes`` entry for one field error (the message without its path)."""
    kind = problem.type
    reason = kind if isinstance(kind, CauseType) else _CAUSE_BY_WORDS[str(kind.value)]
    body = problem.message().removeprefix(f"{problem.field}: ")
    return {"reason": reason.value, "message": body, "field": problem.field}


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of an object (upstream ``field.Error``)."""

    type: CauseType
    field: str
    bad_value: object = OMIT
    detail: str = ""

    def body(self) -> str:
        """The message without the field path (upstream ``ErrorBody``), used in causes."""
        text = _CAUSE_WORDS[self.type]
        if self.type not in _VALUELESS and self.bad_value is not OMIT:
            text = f"{text}: {go_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def message(self) -> str:
        """Upstream ``field.Error.Error()``: ``spec.replicas: Invalid value: -1: ...``."""
        return f"{self.field}: {self.body()}"

    def __str__(self) -> str:
        return self.message()

    def cause(self) -> dict[str, str]:
        return cause_of(self)


def field_required(path: str, detail: str = "") -> FieldError:
    return FieldError(CauseType.FIELD_VALUE_REQUIRED, path, OMIT, detail)


def field_invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(CauseType.FIELD_VALUE_INVALID, path, value, detail)


def field_not_supported(path: str, value: object, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return FieldError(CauseType.FIELD_VALUE_NOT_SUPPORTED, path, value, detail)


def field_duplicate(path: str, value: object) -> FieldError:
    return FieldError(CauseType.FIELD_VALUE_DUPLICATE, path, value)


def field_forbidden(path: str, detail: str) -> FieldError:
    return FieldError(CauseType.FIELD_VALUE_FORBIDDEN, path, OMIT, detail)


def field_too_long(path: str, value: object, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(
        CauseType.FIELD_VALUE_TOO_LONG, path, value, f"may not be more than {max_length} {unit}"
    )


def aggregate_message(errors: Sequence[object]) -> str:
    """Upstream ``utilerrors.Aggregate.Error()``: one message, or ``[a, b]`` without repeats."""
    messages = list(dict.fromkeys(str(e) for e in errors))
    if len(messages) <= 1:
        return messages[0] if messages else ""
    return "[" + ", ".join(messages) + "]"


@dataclass(frozen=True)
class StatusDetails:
    """``Status.details``; empty fields are left out of the JSON, as upstream's omitempty does."""

    name: str = ""
    group: str = ""
    kind: str = ""
    uid: str = ""
    causes: tuple[dict[str, str], ...] = ()
    retry_after_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("name", self.name),
            ("group", self.group),
            ("kind", self.kind),
            ("uid", self.uid),
        ):
            if value:
                out[key] = value
        if self.causes:
            out["causes"] = [dict(c) for c in self.causes]
        if self.retry_after_seconds:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out


def _status(
    status: str, code: int, message: str, reason: str, details: StatusDetails | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    if message:
        body["message"] = message
    if reason:
        body["reason"] = reason
    if details is not None and (rendered := details.to_dict()):
        body["details"] = rendered
    body["code"] = code
    return body


def success_status(code: int = 200, details: StatusDetails | None = None) -> dict[str, Any]:
    """A success ``Status`` (binding, eviction and some deletes answer with one)."""
    return _status("Success", code, "", "", details)


class ApiError(Exception):
    """Base of every API error. ``str(error)`` is the client-facing message."""

    code: ClassVar[int] = 500
    reason: ClassVar[Reason] = Reason.INTERNAL_ERROR
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, details: StatusDetails | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def retry_after_seconds(self) -> int:
        """Seconds for a ``Retry-After`` header; 0 means send none."""
        return self.details.retry_after_seconds if self.details else 0

    def status(self) -> dict[str, Any]:
        """The exact upstream ``Status`` object for this error."""
        return _status("Failure", self.code, self.message, self.reason.value, self.details)


def _resource_details(resource: GroupResource, name: str) -> StatusDetails:
    # Upstream puts the *resource* (plural, lower case) into details.kind for these errors.
    return StatusDetails(name=name, group=resource.group, kind=resource.resource)


class BadRequestError(ApiError):
    code, reason, grpc_code = 400, Reason.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT


class UnauthorizedError(ApiError):
    code, reason, grpc_code = 401, Reason.UNAUTHORIZED, grpc.StatusCode.UNAUTHENTICATED

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class ForbiddenError(ApiError):
    code, reason, grpc_code = 403, Reason.FORBIDDEN, grpc.StatusCode.PERMISSION_DENIED

    def __init__(self, resource: GroupResource | None, name: str, why: str) -> None:
        if resource is None:
            message = f"forbidden: {why}"
            details = StatusDetails(name=name)
        else:
            quoted = f" {go_quote(name)}" if name else ""
            message = f"{resource}{quoted} is forbidden: {why}"
            details = _resource_details(resource, name)
        super().__init__(message, details)


class NotFoundError(ApiError):
    code, reason, grpc_code = 404, Reason.NOT_FOUND, grpc.StatusCode.NOT_FOUND

    def __init__(self, resource: GroupResource, name: str) -> None:
        message = f"{resource} {go_quote(name)} not found"
        super().__init__(message, _resource_details(resource, name))


class PathNotFoundError(NotFoundError):
    """A URL that names no resource at all (upstream's generic 404)."""

    def __init__(self) -> None:
        ApiError.__init__(self, "the server could not find the requested resource")


class MethodNotAllowedError(ApiError):
    code, reason, grpc_code = 405, Reason.METHOD_NOT_ALLOWED, grpc.StatusCode.UNIMPLEMENTED

    def __init__(
        self, message: str = "the server does not allow this method on the requested resource"
    ) -> None:
        super().__init__(message)


class AlreadyExistsError(ApiError):
    code, reason, grpc_code = 409, Reason.ALREADY_EXISTS, grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, resource: GroupResource, name: str) -> None:
        message = f"{resource} {go_quote(name)} already exists"
        super().__init__(message, _resource_details(resource, name))


class ConflictError(ApiError):
    code, reason, grpc_code = 409, Reason.CONFLICT, grpc.StatusCode.ABORTED

    def __init__(
        self, resource: GroupResource, name: str, why: str = OPTIMISTIC_LOCK_MESSAGE
    ) -> None:
        message = f"Operation cannot be fulfilled on {resource} {go_quote(name)}: {why}"
        super().__init__(message, _resource_details(resource, name))


class ExpiredError(ApiError):
    """A watch or list from a compacted resourceVersion (clients relist on it)."""

    code, reason, grpc_code = 410, Reason.EXPIRED, grpc.StatusCode.OUT_OF_RANGE

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")


class GoneError(ApiError):
    """Upstream ``NewGone``: a resource that existed and no longer does (reason ``Gone``)."""

    code, reason, grpc_code = 410, Reason.GONE, grpc.StatusCode.OUT_OF_RANGE


class RequestTooLargeError(ApiError):
    code, reason = 413, Reason.REQUEST_ENTITY_TOO_LARGE
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, why: str) -> None:
        super().__init__(f"Request entity too large: {why}")


class UnsupportedMediaError(ApiError):
    code, reason, grpc_code = 415, Reason.UNSUPPORTED_MEDIA_TYPE, grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, accepted: Iterable[str]) -> None:
        super().__init__(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        )


class InvalidError(ApiError):
    code, reason, grpc_code = 422, Reason.INVALID, grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, kind: GroupKind, name: str, errors: Sequence[FieldProblem]) -> None:
        message = f"{kind} {go_quote(name)} is invalid"
        if errors:
            message = f"{message}: {aggregate_message([e.message() for e in errors])}"
        details = StatusDetails(
            name=name,
            group=kind.group,
            kind=kind.kind,
            causes=tuple(cause_of(e) for e in errors),
        )
        super().__init__(message, details)
        self.errors = tuple(errors)


class TooManyRequestsError(ApiError):
    code, reason = 429, Reason.TOO_MANY_REQUESTS
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(
        self,
        message: str,
        retry_after_seconds: int = 0,
        causes: Sequence[dict[str, str]] = (),
    ) -> None:
        details = StatusDetails(causes=tuple(causes), retry_after_seconds=retry_after_seconds)
        super().__init__(message, details)


class InternalError(ApiError):
    def __init__(self, why: str) -> None:
        super().__init__(
            f"Internal error occurred: {why}", StatusDetails(causes=({"message": why},))
        )


class ServiceUnavailableError(ApiError):
    code, reason, grpc_code = 503, Reason.SERVICE_UNAVAILABLE, grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str, retry_after_seconds: int = 0) -> None:
        super().__init__(message, StatusDetails(retry_after_seconds=retry_after_seconds))


class RequestTimeoutError(ApiError):
    code, reason, grpc_code = 504, Reason.TIMEOUT, grpc.StatusCode.DEADLINE_EXCEEDED

    def __init__(self, why: str, retry_after_seconds: int = 0) -> None:
        details = StatusDetails(retry_after_seconds=retry_after_seconds)
        super().__init__(f"Timeout: {why}", details)


# --- the way back: a Status received by a client ------------------------------------------------

_CLASS_BY_REASON: Final[dict[str, type[ApiError]]] = {
    cls.reason.value: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        AlreadyExistsError,
        ConflictError,
        ExpiredError,
        GoneError,
        RequestTooLargeError,
        UnsupportedMediaError,
        InvalidError,
        TooManyRequestsError,
        InternalError,
        ServiceUnavailableError,
        RequestTimeoutError,
    )
}
_CLASS_BY_CODE: Final[dict[int, type[ApiError]]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    410: GoneError,
    413: RequestTooLargeError,
    415: UnsupportedMediaError,
    422: InvalidError,
    429: TooManyRequestsError,
    503: ServiceUnavailableError,
    504: RequestTimeoutError,
}


def _details_from(raw: object) -> StatusDetails | None:
    if not isinstance(raw, dict):
        return None
    causes = [cause for cause in raw.get("causes") or () if isinstance(cause, dict)]
    return StatusDetails(
        name=str(raw.get("name", "")),
        group=str(raw.get("group", "")),
        kind=str(raw.get("kind", "")),
        uid=str(raw.get("uid", "")),
        causes=tuple(
            {str(k): str(v) for k, v in cause.items()}
            for cause in causes
            if isinstance(cause, dict)
        ),
        retry_after_seconds=int(raw.get("retryAfterSeconds") or 0),
    )


def error_from_status(status: object, http_code: int = 0) -> ApiError:
    """The typed `ApiError` a received ``Status`` stands for (what a client raises).

    The class is chosen by ``reason``, else by ``code`` (or `http_code`), else `InternalError`'s
    class; message and details are the Status's own, so ``error.status()`` gives it back.
    """
    body = status if isinstance(status, dict) else {}
    reason = str(body.get("reason", ""))
    code = int(body.get("code") or http_code or 500)
    cls = _CLASS_BY_REASON.get(reason) or _CLASS_BY_CODE.get(code) or InternalError
    error = cls.__new__(cls)
    message = str(body.get("message", "")) or f"the server answered {code}"
    ApiError.__init__(error, message, _details_from(body.get("details")))
    return error
