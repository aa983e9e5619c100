"""Label selectors: the `labelSelector` syntax, `metav1.LabelSelector` dicts, label validation.

This module owns everything the API server and the controllers need to decide "does this label
set match": parsing the string clients send (``kubectl get -l``, ``?labelSelector=``), turning a
Deployment's or ReplicaSet's ``spec.selector`` dict into the same `LabelSelector`, and the label
key/value rules that produce the API server's validation messages. Data flows one way::

    "app=web,tier in (fe,be),!canary"  --parse_label_selector-->  LabelSelector(requirements)
    {"matchLabels": {...}, "matchExpressions": [...]}  --label_selector_from_dict-->  LabelSelector
    LabelSelector.matches({"app": "web", "tier": "fe"})  ->  True
    str(LabelSelector)  ->  "app=web,!canary,tier in (be,fe)"     (sorted by key, upstream's String)

Parsing mirrors apimachinery's ``labels.Parse`` token for token (including the Gt/Lt operators
``x>1``/``x<5`` it also accepts), so error strings are the API server's, e.g.
``unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt`` for ``a b``.
Validation wording is that of Kubernetes 1.31, the version our ``/version`` reports (newer
servers say "bytes" where 1.31 says "characters"). The one deliberate difference from 1.31: a
value list with an empty element before ``)`` (``x in (a,,)``) parses, as in current upstream,
instead of failing.

The module is longer than most because the lexer, parser and validation messages have to agree
with each other to the character; splitting them would scatter one contract over three files.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# --- validation messages (k8s.io/apimachinery/pkg/util/validation, v0.31) -----------------------

QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_MAX_LENGTH = 63
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_MAX_LENGTH = 253

_QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)

_QUALIFIED_NAME_RE = re.compile(QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT)
_INT64_RE = re.compile(r"[+-]?[0-9]+")

_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """Quote `text` as Go's ``%q`` does (upstream messages embed bad values this way)."""
    out = ['"']
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _byte_length(text: str) -> int:
    # Go's len() counts UTF-8 bytes.
    return len(text.encode("utf-8", "surrogatepass"))


def _max_length_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _regex_error(message: str, regex: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    quoted = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {quoted}regex used for validation is '{regex}')"


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Upstream ``IsDNS1123Subdomain``: one message per broken rule, empty when valid."""
    errors = []
    if _byte_length(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(_max_length_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(
            _regex_error(_DNS1123_SUBDOMAIN_MESSAGE, DNS1123_SUBDOMAIN_FMT, "example.com")
        )
    return errors


def label_key_errors(key: str) -> list[str]:
    """Upstream ``IsQualifiedName``: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63."""
    parts = key.split("/")
    if len(parts) > 2:
        message = _regex_error(
            _QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
        )
        return [
            f"a qualified name {message} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    errors = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + msg for msg in dns1123_subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif _byte_length(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + _max_length_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        message = _regex_error(
            _QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
        )
        errors.append("name part " + message)
    return errors


def label_value_errors(value: str) -> list[str]:
    """Upstream ``IsValidLabelValue``: empty, or ≤ 63 of ``[-A-Za-z0-9_.]`` with alnum ends."""
    errors = []
    if _byte_length(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(_max_length_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(
            _regex_error(_LABEL_VALUE_MESSAGE, LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


# --- requirements and selectors ------------------------------------------------------------------


class SelectorError(ValueError):
    """A label selector that cannot be parsed or built; `message` is the API server's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Operator(enum.Enum):
    """``selection.Operator``; the values are upstream's spellings."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_MATCH_VALUE = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN})
_EXCLUDE_VALUE = frozenset({Operator.NOT_EQUALS, Operator.NOT_IN})
_SINGLE_VALUE = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_NO_VALUES = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_SET_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
_NUMERIC = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_RENDERED_OPERATOR = {
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}


def _parse_int64(text: str) -> int | None:
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: `key` `operator` `values` (values as given, not deduplicated)."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator in _MATCH_VALUE:
            return value is not None and value in self.values
        if self.operator in _EXCLUDE_VALUE:
            return value is None or value not in self.values
        if self.operator is Operator.EXISTS:
            return value is not None
        if self.operator is Operator.DOES_NOT_EXIST:
            return value is None
        return self._matches_number(value)

    def _matches_number(self, value: str | None) -> bool:
        have = None if value is None else _parse_int64(value)
        want = _parse_int64(self.values[0]) if len(self.values) == 1 else None
        if have is None or want is None:
            return False
        return have > want if self.operator is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator in _NO_VALUES:
            return ("!" if self.operator is Operator.DOES_NOT_EXIST else "") + self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in _SET_OPERATORS:
            values = f"({values})"
        return f"{self.key}{_RENDERED_OPERATOR[self.operator]}{values}"


def _go_string_slice(values: Sequence[str]) -> str:
    # Go's %#v of a []string; an empty one reaches upstream as a nil slice.
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(value) for value in values) + "}"


def _aggregate(errors: Iterable[str]) -> str:
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _value_count_error(operator: Operator, values: Sequence[str]) -> str | None:
    if operator in _SET_OPERATORS and not values:
        detail = "for 'in', 'notin' operators, values set can't be empty"
    elif operator in _SINGLE_VALUE and len(values) != 1:
        detail = "exact-match compatibility requires one single value"
    elif operator in _NO_VALUES and values:
        detail = "values set must be empty for exists and does not exist"
    elif operator in _NUMERIC and len(values) != 1:
        detail = "for 'Gt', 'Lt' operators, exactly one value is required"
    else:
        return None
    return f"values: Invalid value: {_go_string_slice(values)}: {detail}"


def new_requirement(key: str, operator: Operator, values: Sequence[str] = ()) -> Requirement:
    """Upstream ``labels.NewRequirement``: validate key, value count and every value."""
    errors = []
    if key_errors := label_key_errors(key):
        errors.append(f"key: Invalid value: {go_quote(key)}: {'; '.join(key_errors)}")
    if count_error := _value_count_error(operator, values):
        errors.append(count_error)
    for index, value in enumerate(values):
        if operator in _NUMERIC and _parse_int64(value) is None:
            detail = "for 'Gt', 'Lt' operators, the value must be an integer"
            errors.append(f"values[{index}]: Invalid value: {go_quote(value)}: {detail}")
    for index, value in enumerate(values):
        if value_errors := label_value_errors(value):
            path = f"values[{index}][{key}]"
            errors.append(f"{path}: Invalid value: {go_quote(value)}: {'; '.join(value_errors)}")
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, operator, tuple(values))


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements, sorted by key. `nothing` marks upstream's ``labels.Nothing()``."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every label set)."""
        return not self.nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must have, if the selector pins one (for index lookups)."""
        for requirement in self.requirements:
            if requirement.key != key:
                continue
            if requirement.operator in _MATCH_VALUE and len(requirement.values) == 1:
                return requirement.values[0]
            return None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _selector(requirements: Iterable[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


# --- the string syntax ---------------------------------------------------------------------------


class _Token(enum.Enum):
    END = "end of string"
    CLOSE_PAREN = ")"
    COMMA = ","
    NOT = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER_THAN = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS_THAN = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN_PAREN = "("


_KEYWORDS = {token.value: token for token in _Token if token not in (_Token.END, _Token.IDENTIFIER)}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_END = "\0"  # Go's lexer reads a NUL byte and the end of input alike
_BINARY_OPERATORS = {
    _Token.IN: Operator.IN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
}
_EXPECTED_OPERATORS = "in, notin, =, ==, !=, gt, lt"

_Item = tuple[_Token, str]


class _Lexer:
    """Upstream's byte-at-a-time lexer, kept in its shape so edge cases behave the same."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _read(self) -> str:
        if self._pos >= len(self._text):
            return _END
        self._pos += 1
        return self._text[self._pos - 1]

    def lex(self) -> _Item:
        ch = self._read()
        while ch in _WHITESPACE:
            ch = self._read()
        if ch == _END:
            return _Token.END, ""
        self._pos -= 1
        return self._scan_special() if ch in _SPECIAL else self._scan_word()

    def _scan_word(self) -> _Item:
        chars = []
        while (ch := self._read()) != _END:
            if ch in _SPECIAL or ch in _WHITESPACE:
                self._pos -= 1
                break
            chars.append(ch)
        word = "".join(chars)
        token = _KEYWORDS.get(word)
        return (token if token in (_Token.IN, _Token.NOT_IN) else _Token.IDENTIFIER), word

    def _scan_special(self) -> _Item:
        # The longest run of special characters that is still a token: "!=" but "!" + "(".
        symbol = ""
        longest: _Item = (_Token.END, "")
        while (ch := self._read()) != _END:
            if ch not in _SPECIAL:
                self._pos -= 1
                break
            token = _KEYWORDS.get(symbol + ch)
            if token is None:
                self._pos -= 1
                break
            symbol += ch
            longest = (token, symbol)
        return longest


class _Parser:
    """Upstream's recursive-descent parser over the scanned token list."""

    def __init__(self, text: str) -> None:
        lexer = _Lexer(text)
        self._items = [lexer.lex()]
        while self._items[-1][0] is not _Token.END:
            self._items.append(lexer.lex())
        self._pos = 0

    def _lookahead(self, values: bool = True) -> _Item:
        token, literal = self._items[min(self._pos, len(self._items) - 1)]
        # In a value position "in" and "notin" are plain words: `x in (in)`, `notin=in`.
        if values and token in (_Token.IN, _Token.NOT_IN):
            return _Token.IDENTIFIER, literal
        return token, literal

    def _consume(self, values: bool = True) -> _Item:
        item = self._lookahead(values)
        self._pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._lookahead()
            if token is _Token.END:
                return requirements
            if token not in (_Token.IDENTIFIER, _Token.NOT):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error.message}") from None
            token, literal = self._consume()
            if token is _Token.END:
                return requirements
            if token is not _Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._lookahead()
            if token not in (_Token.IDENTIFIER, _Token.NOT):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator is not None:
            return new_requirement(key, operator)
        token, literal = self._consume(values=False)
        binary = _BINARY_OPERATORS.get(token)
        if binary is None:
            raise SelectorError(f"found '{literal}', expected: {_EXPECTED_OPERATORS}")
        values = self._value_set() if binary in _SET_OPERATORS else self._exact_value()
        return new_requirement(key, binary, sorted(values))

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        token, literal = self._consume()
        operator = None
        if token is _Token.NOT:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self._consume()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        if key_errors := label_key_errors(literal):
            raise SelectorError(
                f"<nil>: Invalid value: {go_quote(literal)}: {'; '.join(key_errors)}"
            )
        if operator is None and self._lookahead()[0] in (_Token.END, _Token.COMMA):
            operator = Operator.EXISTS
        return literal, operator

    def _value_set(self) -> set[str]:
        token, literal = self._consume()
        if token is not _Token.OPEN_PAREN:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead()
        if token is _Token.CLOSE_PAREN:
            self._consume()
            return {""}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        self._consume()  # the ")" _identifier_list stopped at
        return values

    def _identifier_list(self) -> set[str]:
        # Empty elements are the empty value: "(,a)", "(a,)" and "(a,,b)" all contain "".
        values: set[str] = set()
        while True:
            token, literal = self._consume()
            if token is _Token.IDENTIFIER:
                values.add(literal)
                following, following_literal = self._lookahead()
                if following is _Token.CLOSE_PAREN:
                    return values
                if following is not _Token.COMMA:
                    raise SelectorError(f"found '{following_literal}', expected: ',' or ')'")
            elif token is _Token.COMMA:
                following = self._lookahead()[0]
                if not values or following in (_Token.CLOSE_PAREN, _Token.COMMA):
                    values.add("")
                if following is _Token.CLOSE_PAREN:
                    return values
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._lookahead()[0] in (_Token.END, _Token.COMMA):
            return {""}
        token, literal = self._consume()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` string; the empty string selects everything.

    >>> str(parse_label_selector("tier in (fe, be), app==web"))
    'app==web,tier in (be,fe)'
    """
    return _selector(_Parser(text).parse())


# --- metav1.LabelSelector and plain label maps ---------------------------------------------------

_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def _string_list(values: object) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise SelectorError("values: Invalid value: must be a list of strings")
    return values


def _expression_requirement(expression: Mapping[str, object]) -> Requirement:
    name = expression.get("operator")
    operator = _EXPRESSION_OPERATORS.get(name) if isinstance(name, str) else None
    if operator is None:
        raise SelectorError(f"{go_quote(str(name or ''))} is not a valid label selector operator")
    key = expression.get("key")
    return new_requirement(
        key if isinstance(key, str) else "", operator, _string_list(expression.get("values"))
    )


def label_selector_from_dict(selector: Mapping[str, object] | None) -> LabelSelector:
    """Upstream ``metav1.LabelSelectorAsSelector``: None matches nothing, ``{}`` everything."""
    if selector is None:
        return NOTHING
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise SelectorError("selector: Invalid value: matchLabels must be a map")
    if not match_labels and not expressions:
        return EVERYTHING
    requirements = [
        new_requirement(str(key), Operator.EQUALS, [str(value)])
        for key, value in sorted(match_labels.items())
    ]
    for expression in expressions:
        if not isinstance(expression, Mapping):
            raise SelectorError("matchExpressions: Invalid value: each item must be an object")
        requirements.append(_expression_requirement(expression))
    return _selector(requirements)


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """Upstream ``labels.SelectorFromSet`` (a Service's ``spec.selector``); not validated."""
    return _selector(
        Requirement(key, Operator.EQUALS, (value,)) for key, value in (labels or {}).items()
    )


def format_label_selector(selector: Mapping[str, object] | None) -> str:
    """Upstream ``metav1.FormatLabelSelector``, as printed in ``-o wide`` Selector columns."""
    try:
        text = str(label_selector_from_dict(selector))
    except SelectorError:
        return "<error>"
    return text or "<none>"
