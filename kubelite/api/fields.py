"""Field selectors: the `fieldSelector` syntax, which fields each resource supports, their values.

A field selector is a comma-joined AND of ``field=value``, ``field==value`` or ``field!=value``
terms; in values a backslash escapes ``\\``, ``,`` and ``=``. Parsing knows nothing of
resources; `convert_field_selector` then checks every field against the resource's table (as the
API server's field-label conversion does, with upstream's per-group error wording) and
`field_set` renders an object's selectable fields the way upstream's ``ToSelectableFields``
does, so matching is plain string equality with "" for anything absent::

    selector = parse_field_selector("spec.nodeName=,status.phase!=Failed")
    selector = convert_field_selector("pods", selector)     # FieldSelectorError if unsupported
    selector.matches(field_set("pods", pod))                  # unscheduled, not failed

Values are rendered as upstream renders them: booleans "true"/"false", integers in decimal,
missing strings "". Resources are keyed by plural name ("pods", "jobs"); every resource not in
the table supports ``metadata.name`` and ``metadata.namespace`` only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from kubelite.api.labels import go_quote


class FieldSelectorError(ValueError):
    """A field selector that cannot be parsed or is not supported; `message` is upstream's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FieldOperator(enum.Enum):
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="


# "==" before "=" so that "a==b" does not leave "=b" as the value.
_OPERATORS = (FieldOperator.NOT_EQUALS, FieldOperator.DOUBLE_EQUALS, FieldOperator.EQUALS)


def escape_value(value: str) -> str:
    """Upstream ``fields.EscapeValue``: backslash-escape ``\\``, ``,`` and ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(text: str) -> str:
    """Upstream ``fields.UnescapeValue``; raises on a bad escape or a bare ``,``/``=``."""
    chars: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            if ch not in "\\,=":
                raise FieldSelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            chars.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Upstream formats the rune with %v, which prints its code point.
            raise FieldSelectorError(
                f"invalid field selector: unescaped character in value: {ord(ch)}"
            )
        else:
            chars.append(ch)
    if escaped:
        raise FieldSelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(chars)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: FieldOperator
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return not equal if self.operator is FieldOperator.NOT_EQUALS else equal

    def __str__(self) -> str:
        operator = "!=" if self.operator is FieldOperator.NOT_EQUALS else "="
        return f"{self.field}{operator}{escape_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of requirements, in upstream's order (terms sorted as written)."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(requirement.matches(fields) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def requires_exact_match(self, name: str) -> str | None:
        """The value `name` must equal, if some term pins it (``metadata.name=x``)."""
        for requirement in self.requirements:
            if requirement.field == name and requirement.operator is not FieldOperator.NOT_EQUALS:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _split_terms(text: str) -> list[str]:
    # Commas split terms unless escaped; the escape stays in the term for unescape_value.
    terms: list[str] = []
    start = 0
    escaped = False
    for index, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, FieldOperator, str] | None:
    # The field part cannot be escaped: the first operator found splits the term.
    for index in range(len(term)):
        for operator in _OPERATORS:
            if term.startswith(operator.value, index):
                return term[:index], operator, term[index + len(operator.value) :]
    return None


def parse_field_selector(text: str) -> FieldSelector:
    """Upstream ``fields.ParseSelector``; the empty string selects everything.

    >>> str(parse_field_selector("status.phase!=Failed,spec.nodeName=node\\\\,1"))
    'spec.nodeName=node\\\\,1,status.phase!=Failed'
    """
    requirements = []
    for term in sorted(_split_terms(text)) if text else []:
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise FieldSelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        name, operator, raw_value = split
        requirements.append(FieldRequirement(name, operator, unescape_value(raw_value)))
    return FieldSelector(tuple(requirements))


# --- per-resource tables --------------------------------------------------------------------------

_Object = Mapping[str, object]
_Extractor = Callable[[_Object], str]


def _lookup(obj: _Object, path: tuple[str, ...]) -> object:
    current: object = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _string(*path: str) -> _Extractor:
    def extract(obj: _Object) -> str:
        value = _lookup(obj, path)
        return value if isinstance(value, str) else ""

    return extract


def _boolean(*path: str) -> _Extractor:
    # strconv.FormatBool of a Go bool, whose zero value is false.
    def extract(obj: _Object) -> str:
        return "true" if _lookup(obj, path) is True else "false"

    return extract


def _integer(*path: str) -> _Extractor:
    # strconv.Itoa of a Go int32, whose zero value is 0.
    def extract(obj: _Object) -> str:
        value = _lookup(obj, path)
        is_number = isinstance(value, int) and not isinstance(value, bool)
        return str(value) if is_number else "0"

    return extract


def _pod_ip(pod: _Object) -> str:
    # Upstream reads the internal podIPs[0], which v1 conversion fills from status.podIP.
    if primary := _string("status", "podIP")(pod):
        return primary
    ips = _lookup(pod, ("status", "podIPs"))
    first = ips[0] if isinstance(ips, list) and ips else None
    return _string("ip")(first) if isinstance(first, Mapping) else ""


def _event_source(event: _Object) -> str:
    return _string("source", "component")(event) or _string("reportingComponent")(event)


_NAME = {"metadata.name": _string("metadata", "name")}
_NAMESPACE = {"metadata.namespace": _string("metadata", "namespace")}


class _Wording(enum.Enum):
    """How the API server words an unsupported field, which depends on the kind's group."""

    CORE = "field label not supported: {label}"
    JOB = "field label {quoted} not supported for batchv1.Job"
    DEFAULT = '{quoted} is not a known field selector: only "metadata.name", "metadata.namespace"'


@dataclass(frozen=True)
class ResourceFields:
    """The selectable fields of one resource: how to render each, and what else is accepted.

    `accepted_only` fields pass conversion but are absent from upstream's field set, so they
    always read as ""; `aliases` are old names the conversion rewrites.
    """

    extractors: Mapping[str, _Extractor]
    wording: _Wording = _Wording.DEFAULT
    accepted_only: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def supported(self) -> frozenset[str]:
        return frozenset(self.extractors) | self.accepted_only | frozenset(self.aliases)

    def unsupported_message(self, label: str) -> str:
        return self.wording.value.format(label=label, quoted=go_quote(label))


_DEFAULT_FIELDS = ResourceFields({**_NAME, **_NAMESPACE})

_POD_FIELDS = ResourceFields(
    {
        **_NAME,
        **_NAMESPACE,
        "spec.nodeName": _string("spec", "nodeName"),
        "spec.restartPolicy": _string("spec", "restartPolicy"),
        "spec.schedulerName": _string("spec", "schedulerName"),
        "spec.serviceAccountName": _string("spec", "serviceAccountName"),
        "spec.hostNetwork": _boolean("spec", "hostNetwork"),
        "status.phase": _string("status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": _string("status", "nominatedNodeName"),
    },
    _Wording.CORE,
    accepted_only=frozenset({"status.podIPs"}),  # accepted for the downward API only
    aliases={"spec.host": "spec.nodeName"},
)

_EVENT_FIELDS = ResourceFields(
    {
        **_NAME,
        **_NAMESPACE,
        **{
            f"involvedObject.{name}": _string("involvedObject", name)
            for name in (
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            )
        },
        "reason": _string("reason"),
        "reportingComponent": _string("reportingComponent"),
        "source": _event_source,
        "type": _string("type"),
    },
    _Wording.CORE,
)

FIELDS_BY_RESOURCE: Mapping[str, ResourceFields] = MappingProxyType(
    {
        "pods": _POD_FIELDS,
        "events": _EVENT_FIELDS,
        # Cluster-scoped core kinds: upstream rejects metadata.namespace for these.
        "nodes": ResourceFields(
            {**_NAME, "spec.unschedulable": _boolean("spec", "unschedulable")}, _Wording.CORE
        ),
        "namespaces": ResourceFields(
            {**_NAME, "status.phase": _string("status", "phase")}, _Wording.CORE
        ),
        "secrets": ResourceFields({**_NAME, **_NAMESPACE, "type": _string("type")}, _Wording.CORE),
        "services": ResourceFields(
            {
                **_NAME,
                **_NAMESPACE,
                "spec.clusterIP": _string("spec", "clusterIP"),
                "spec.type": _string("spec", "type"),
            },
            _Wording.CORE,
        ),
        "replicasets": ResourceFields(
            {**_NAME, **_NAMESPACE, "status.replicas": _integer("status", "replicas")}
        ),
        "jobs": ResourceFields(
            {**_NAME, **_NAMESPACE, "status.successful": _integer("status", "succeeded")},
            _Wording.JOB,
        ),
    }
)


def resource_fields(resource: str) -> ResourceFields:
    """The field table for a plural resource name; unknown resources get name/namespace."""
    return FIELDS_BY_RESOURCE.get(resource, _DEFAULT_FIELDS)


def convert_field_selector(resource: str, selector: FieldSelector) -> FieldSelector:
    """Check every field is selectable on `resource` and apply aliases (``spec.host``).

    The first unsupported field, in the selector's (sorted) order, raises with the API server's
    message, e.g. ``field label not supported: spec.foo`` for pods.
    """
    table = resource_fields(resource)
    converted = []
    for requirement in selector.requirements:
        if requirement.field not in table.supported:
            raise FieldSelectorError(table.unsupported_message(requirement.field))
        name = table.aliases.get(requirement.field, requirement.field)
        converted.append(replace(requirement, field=name))
    return FieldSelector(tuple(converted))


def field_set(resource: str, obj: Mapping[str, object]) -> dict[str, str]:
    """The selectable fields of `obj` rendered as upstream renders them for matching."""
    return {name: extract(obj) for name, extract in resource_fields(resource).extractors.items()}
