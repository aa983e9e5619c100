"""Label selectors against upstream's behaviour: parse tables, error wording, matching, properties.

Expected strings come from apimachinery's ``labels`` tests and from reading its parser; the
properties check the parser against a naive matcher written from the documented semantics.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.labels import (
    EVERYTHING,
    NOTHING,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    format_label_selector,
    go_quote,
    label_key_errors,
    label_selector_from_dict,
    label_value_errors,
    new_requirement,
    parse_label_selector,
    selector_from_set,
)

NAME_REGEX_ERROR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_REGEX_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN_REGEX_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
OPERATORS = "in, notin, =, ==, !=, gt, lt"


# --- parsing ---------------------------------------------------------------------------------

VALID = [
    pytest.param("", "", id="empty-selects-everything"),
    pytest.param("x=a,y=b,z=c", "x=a,y=b,z=c", id="equalities"),
    pytest.param("x!=a,y=b", "x!=a,y=b", id="not-equals"),
    pytest.param("x==a", "x==a", id="double-equals-kept"),
    pytest.param("x=", "x=", id="empty-value"),
    pytest.param("x= ,z= ", "x=,z=", id="empty-values-with-spaces"),
    pytest.param("!x", "!x", id="does-not-exist"),
    pytest.param("x", "x", id="exists"),
    pytest.param("x>1,z<5", "x>1,z<5", id="gt-lt"),
    pytest.param("x=a,a=x", "a=x,x=a", id="sorted-by-key"),
    pytest.param("\rx", "x", id="carriage-return-is-whitespace"),
    pytest.param("foo  in\t (abc)", "foo in (abc)", id="tabs-and-spaces"),
    pytest.param("x notin\n (abc)", "x notin (abc)", id="newline"),
    pytest.param("x in (abc,abc)", "x in (abc)", id="duplicate-values-collapse"),
    pytest.param("x in ()", "x in ()", id="empty-set-is-empty-value"),
    pytest.param("x in (abc,)", "x in (,abc)", id="trailing-comma-empty-value"),
    pytest.param("x in (a,,)", "x in (,a)", id="double-comma-before-paren"),
    pytest.param("x notin (, a)", "x notin (,a)", id="leading-comma"),
    pytest.param(
        "x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()", id="mixed"
    ),
    pytest.param("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)", id="keywords-as-values"),
    pytest.param("notin=in", "notin=in", id="keywords-as-key-and-value"),
    pytest.param("tier in (fe, be), app==web", "app==web,tier in (be,fe)", id="kubectl-style"),
    pytest.param("example.com/app=web", "example.com/app=web", id="prefixed-key"),
    pytest.param(
        "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
        "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
        id="dotted-values",
    ),
    pytest.param("x=a \x00 ignored (", "x=a", id="nul-ends-input-like-go"),
]


@pytest.mark.parametrize(("text", "rendered"), VALID)
def test_parse_renders_like_upstream(text: str, rendered: str) -> None:
    assert str(parse_label_selector(text)) == rendered


INVALID = [
    pytest.param("x==a==b", "found '==', expected: ',' or 'end of string'", id="two-operators"),
    pytest.param("!x=a", "found '=', expected: ',' or 'end of string'", id="not-with-value"),
    pytest.param("x,,y", "found ',', expected: identifier after ','", id="empty-term"),
    pytest.param(",x", "found ',', expected: !, identifier, or 'end of string'", id="lead-comma"),
    pytest.param("a in (x),", "found '', expected: identifier after ','", id="trailing-comma"),
    pytest.param("a in (x)b", "found 'b', expected: ',' or 'end of string'", id="no-comma"),
    pytest.param("(", "found '(', expected: !, identifier, or 'end of string'", id="paren"),
    pytest.param(
        "x nott in (y)",
        f"unable to parse requirement: found 'nott', expected: {OPERATORS}",
        id="unknown-operator",
    ),
    pytest.param(
        "a b", f"unable to parse requirement: found 'b', expected: {OPERATORS}", id="space"
    ),
    pytest.param(
        "a (", f"unable to parse requirement: found '(', expected: {OPERATORS}", id="bare-paren"
    ),
    pytest.param(
        "a in (x y)",
        "unable to parse requirement: found 'y', expected: ',' or ')'",
        id="values-need-commas",
    ),
    pytest.param(
        "a notin(",
        "unable to parse requirement: found '', expected: ',', ')' or identifier",
        id="unclosed-set",
    ),
    pytest.param(
        "x in (a,(",
        "unable to parse requirement: found '(', expected: ',', or identifier",
        id="paren-in-set",
    ),
    pytest.param(
        "x in a", "unable to parse requirement: found 'a' expected: '('", id="set-without-paren"
    ),
    pytest.param(
        "x=(", "unable to parse requirement: found '(', expected: identifier", id="paren-value"
    ),
    pytest.param("!", "unable to parse requirement: found '', expected: identifier", id="bang"),
    pytest.param(
        "x<a",
        'unable to parse requirement: values[0]: Invalid value: "a": '
        "for 'Gt', 'Lt' operators, the value must be an integer",
        id="lt-needs-integer",
    ),
    pytest.param(
        "x=a||y=b",
        f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {VALUE_REGEX_ERROR}',
        id="bad-value",
    ),
    pytest.param(
        "A/B/c",
        f'unable to parse requirement: <nil>: Invalid value: "A/B/c": a qualified name '
        f"{NAME_REGEX_ERROR} with an optional DNS subdomain prefix and '/' "
        "(e.g. 'example.com/MyName')",
        id="key-with-two-slashes",
    ),
    pytest.param(
        "-x",
        f'unable to parse requirement: <nil>: Invalid value: "-x": name part {NAME_REGEX_ERROR}',
        id="bad-key",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_errors_are_worded_like_the_api_server(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_label_selector(text)
    assert raised.value.message == message
    assert str(raised.value) == message


MATCHES = [
    pytest.param("", {"x": "y"}, True, id="empty-matches-all"),
    pytest.param("x=y", {"x": "y"}, True, id="equal"),
    pytest.param("x=y,z=w", {"x": "y", "z": "w"}, True, id="and"),
    pytest.param("x!=y,z!=w", {"x": "z", "z": "a"}, True, id="not-equal"),
    pytest.param("x!=y", {}, True, id="not-equal-absent-key"),
    pytest.param("x", {"x": "z"}, True, id="exists"),
    pytest.param("!x", {"y": "z"}, True, id="not-exists"),
    pytest.param("x>1", {"x": "2"}, True, id="gt"),
    pytest.param("x<1", {"x": "0"}, True, id="lt"),
    pytest.param("x=z", {}, False, id="equal-absent-key"),
    pytest.param("x=y", {"x": "z"}, False, id="equal-other-value"),
    pytest.param("x=y,z=w", {"x": "w", "z": "w"}, False, id="and-fails"),
    pytest.param("x", {"y": "z"}, False, id="exists-fails"),
    pytest.param("!x", {"x": "z"}, False, id="not-exists-fails"),
    pytest.param("x>1", {"x": "0"}, False, id="gt-fails"),
    pytest.param("x>1", {"x": "v2"}, False, id="gt-non-integer-label"),
    pytest.param("x>1", {}, False, id="gt-absent"),
    pytest.param("x in ()", {"x": ""}, True, id="in-empty-value"),
    pytest.param("x in (a,b)", {"x": "b"}, True, id="in"),
    pytest.param("x notin (a,b)", {"x": "c"}, True, id="notin"),
    pytest.param("x notin (a,b)", {}, True, id="notin-absent-key"),
    pytest.param("x notin (a,b)", {"x": "a"}, False, id="notin-fails"),
    pytest.param("x=", {"x": ""}, True, id="empty-value-present"),
    pytest.param("x=", {}, False, id="empty-value-absent"),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_requires_exact_match_finds_pinned_values() -> None:
    selector = parse_label_selector("app=web,tier in (fe),env in (a,b),!canary")
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("tier") == "fe"
    assert selector.requires_exact_match("env") is None
    assert selector.requires_exact_match("canary") is None
    assert selector.requires_exact_match("missing") is None


# --- validation messages -------------------------------------------------------------------------

KEYS = [
    pytest.param("app", [], id="plain"),
    pytest.param("example.com/app", [], id="prefixed"),
    pytest.param("a" * 63, [], id="63-chars"),
    pytest.param("a" * 64, ["name part must be no more than 63 characters"], id="too-long"),
    pytest.param("", ["name part must be non-empty", f"name part {NAME_REGEX_ERROR}"], id="empty"),
    pytest.param("/app", ["prefix part must be non-empty"], id="empty-prefix"),
    pytest.param(
        "Example.com/app", [f"prefix part {SUBDOMAIN_REGEX_ERROR}"], id="uppercase-prefix"
    ),
    pytest.param(
        "example.com/",
        ["name part must be non-empty", f"name part {NAME_REGEX_ERROR}"],
        id="empty-name",
    ),
    pytest.param("-app", [f"name part {NAME_REGEX_ERROR}"], id="leading-dash"),
    pytest.param(
        "x" * 254 + "/a",
        ["prefix part must be no more than 253 characters"],
        id="prefix-too-long",
    ),
]


@pytest.mark.parametrize(("key", "errors"), KEYS)
def test_label_key_errors(key: str, errors: list[str]) -> None:
    assert label_key_errors(key) == errors


VALUES = [
    pytest.param("", [], id="empty"),
    pytest.param("v1.2_x-Y", [], id="all-classes"),
    pytest.param("-x", [VALUE_REGEX_ERROR], id="leading-dash"),
    pytest.param("a b", [VALUE_REGEX_ERROR], id="space"),
    pytest.param("é", [VALUE_REGEX_ERROR], id="non-ascii"),
    pytest.param("a" * 64, ["must be no more than 63 characters"], id="too-long"),
    pytest.param("é" * 32, ["must be no more than 63 characters", VALUE_REGEX_ERROR], id="bytes"),
    pytest.param("x\n", [VALUE_REGEX_ERROR], id="trailing-newline"),
]


@pytest.mark.parametrize(("value", "errors"), VALUES)
def test_label_value_errors(value: str, errors: list[str]) -> None:
    assert label_value_errors(value) == errors


def test_name_message_matches_the_documented_example() -> None:
    # The double spaces after each example are upstream's.
    assert label_key_errors("-")[0] == (
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


REQUIREMENT_ERRORS = [
    pytest.param(
        "x",
        Operator.IN,
        [],
        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't "
        "be empty",
        id="in-without-values",
    ),
    pytest.param(
        "x",
        Operator.EQUALS,
        ["a", "b"],
        'values: Invalid value: []string{"a", "b"}: exact-match compatibility requires one '
        "single value",
        id="equals-two-values",
    ),
    pytest.param(
        "x",
        Operator.EXISTS,
        ["foo"],
        'values: Invalid value: []string{"foo"}: values set must be empty for exists and does '
        "not exist",
        id="exists-with-value",
    ),
    pytest.param(
        "x",
        Operator.GREATER_THAN,
        [],
        "values: Invalid value: []string(nil): for 'Gt', 'Lt' operators, exactly one value is "
        "required",
        id="gt-without-value",
    ),
    pytest.param(
        "x",
        Operator.LESS_THAN,
        ["bar"],
        "values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be an integer",
        id="lt-non-integer",
    ),
    pytest.param(
        "a" * 254,
        Operator.EXISTS,
        [],
        f'key: Invalid value: "{"a" * 254}": name part must be no more than 63 characters',
        id="long-key",
    ),
    pytest.param(
        "x",
        Operator.EQUALS,
        ["a b"],
        f'values[0][x]: Invalid value: "a b": {VALUE_REGEX_ERROR}',
        id="bad-value",
    ),
    pytest.param(
        "-x",
        Operator.IN,
        [],
        f'[key: Invalid value: "-x": name part {NAME_REGEX_ERROR}, values: Invalid value: '
        "[]string(nil): for 'in', 'notin' operators, values set can't be empty]",
        id="aggregated",
    ),
]


@pytest.mark.parametrize(("key", "operator", "values", "message"), REQUIREMENT_ERRORS)
def test_new_requirement_errors(
    key: str, operator: Operator, values: list[str], message: str
) -> None:
    with pytest.raises(SelectorError) as raised:
        new_requirement(key, operator, values)
    assert raised.value.message == message


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param('a"b\\c', '"a\\"b\\\\c"', id="quote-and-backslash"),
        pytest.param("\t\n\x00\x7f", '"\\t\\n\\x00\\x7f"', id="controls"),
        pytest.param("é\xa0", '"é\\u00a0"', id="unicode"),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


# --- metav1.LabelSelector and label maps ---------------------------------------------------------

DEPLOYMENT_SELECTOR = {
    "matchLabels": {"app": "web"},
    "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["fe", "be"]},
        {"key": "canary", "operator": "DoesNotExist"},
        {"key": "track", "operator": "NotIn", "values": ["old"]},
        {"key": "zone", "operator": "Exists"},
    ],
}

DICT_MATCHES = [
    pytest.param({"app": "web", "tier": "fe", "zone": "a"}, True, id="all-hold"),
    pytest.param({"app": "web", "tier": "fe", "zone": "a", "track": "new"}, True, id="notin"),
    pytest.param({"app": "web", "tier": "fe"}, False, id="exists-fails"),
    pytest.param({"app": "web", "tier": "fe", "zone": "a", "canary": ""}, False, id="dne-fails"),
    pytest.param({"app": "web", "tier": "x", "zone": "a"}, False, id="in-fails"),
    pytest.param({"app": "api", "tier": "fe", "zone": "a"}, False, id="match-labels-fail"),
    pytest.param({"app": "web", "tier": "fe", "zone": "a", "track": "old"}, False, id="notin-f"),
]


@pytest.mark.parametrize(("labels", "expected"), DICT_MATCHES)
def test_label_selector_dict_matches(labels: dict[str, str], expected: bool) -> None:
    assert label_selector_from_dict(DEPLOYMENT_SELECTOR).matches(labels) is expected


def test_label_selector_dict_renders_sorted_by_key() -> None:
    rendered = "app=web,!canary,tier in (be,fe),track notin (old),zone"
    assert str(label_selector_from_dict(DEPLOYMENT_SELECTOR)) == rendered
    assert format_label_selector(DEPLOYMENT_SELECTOR) == rendered


def test_nil_selector_matches_nothing_and_empty_matches_everything() -> None:
    assert label_selector_from_dict(None) is NOTHING
    assert not NOTHING.matches({})
    assert label_selector_from_dict({}) is EVERYTHING
    assert label_selector_from_dict({"matchLabels": {}, "matchExpressions": []}).matches({"a": "b"})
    assert EVERYTHING.empty and not NOTHING.empty


DICT_ERRORS = [
    pytest.param(
        {"matchExpressions": [{"key": "a", "operator": "Foo"}]},
        '"Foo" is not a valid label selector operator',
        id="unknown-operator",
    ),
    pytest.param(
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't "
        "be empty",
        id="in-without-values",
    ),
    pytest.param(
        {"matchLabels": {"app": "a b"}},
        f'values[0][app]: Invalid value: "a b": {VALUE_REGEX_ERROR}',
        id="bad-match-label",
    ),
]


@pytest.mark.parametrize(("selector", "message"), DICT_ERRORS)
def test_label_selector_dict_errors(selector: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        label_selector_from_dict(selector)
    assert raised.value.message == message
    assert format_label_selector(selector) == "<error>"


def test_format_label_selector_shows_none_for_empty() -> None:
    assert format_label_selector(None) == "<none>"
    assert format_label_selector({}) == "<none>"


def test_selector_from_set_is_an_unvalidated_equality_selector() -> None:
    selector = selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})
    assert selector_from_set(None).empty and selector_from_set({}).empty


# --- properties ----------------------------------------------------------------------------------

# Small pools so that generated selectors and label sets actually collide.
KEY_POOL = ["app", "tier", "example.com/x", "in", "notin", "a.b_c-d"]
VALUE_POOL = ["", "web", "fe", "be", "1", "2", "10", "in", "v1.0"]

keys = st.sampled_from(KEY_POOL)
values = st.sampled_from(VALUE_POOL)
label_sets = st.dictionaries(keys, values, max_size=len(KEY_POOL))


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    operator = draw(st.sampled_from(list(Operator)))
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        chosen: list[str] = []
    elif operator in (Operator.IN, Operator.NOT_IN):
        chosen = draw(st.lists(values, min_size=1, max_size=3))
    elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        chosen = [str(draw(st.integers(0, 12)))]
    else:
        chosen = [draw(values)]
    return new_requirement(draw(keys), operator, chosen)


def reference_matches(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    """The documented semantics, written out case by case."""
    present = requirement.key in labels
    value = labels.get(requirement.key, "")
    operator = requirement.operator
    if operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
        return present and value in requirement.values
    if operator in (Operator.NOT_EQUALS, Operator.NOT_IN):
        return not present or value not in requirement.values
    if operator is Operator.EXISTS:
        return present
    if operator is Operator.DOES_NOT_EXIST:
        return not present
    if not present or not value.isdigit():
        return False
    limit = int(requirement.values[0])
    return int(value) > limit if operator is Operator.GREATER_THAN else int(value) < limit


@given(st.lists(requirements(), max_size=4), label_sets)
def test_rendered_selector_parses_to_the_same_meaning(
    terms: list[Requirement], labels: dict[str, str]
) -> None:
    rendered = ",".join(str(term) for term in terms)
    parsed = parse_label_selector(rendered)
    expected = all(reference_matches(term, labels) for term in terms)
    assert parsed.matches(labels) is expected


@given(st.lists(requirements(), max_size=4))
def test_rendering_is_canonical(terms: list[Requirement]) -> None:
    once = str(parse_label_selector(",".join(str(term) for term in terms)))
    assert str(parse_label_selector(once)) == once


EXPRESSION_OPERATOR = {
    Operator.EQUALS: "In",
    Operator.DOUBLE_EQUALS: "In",
    Operator.IN: "In",
    Operator.NOT_EQUALS: "NotIn",
    Operator.NOT_IN: "NotIn",
    Operator.EXISTS: "Exists",
    Operator.DOES_NOT_EXIST: "DoesNotExist",
}


@given(st.lists(requirements(), max_size=4), label_sets)
def test_dict_selector_agrees_with_reference(
    terms: list[Requirement], labels: dict[str, str]
) -> None:
    expressible = [term for term in terms if term.operator in EXPRESSION_OPERATOR]
    expressions = [
        {
            "key": term.key,
            "operator": EXPRESSION_OPERATOR[term.operator],
            "values": list(term.values),
        }
        for term in expressible
    ]
    selector = label_selector_from_dict({"matchExpressions": expressions})
    expected = all(reference_matches(term, labels) for term in expressible)
    assert selector.matches(labels) is expected


@given(st.text(alphabet="ab=!(),<> \tinotx1-./\\", max_size=30))
def test_parser_fails_only_with_selector_errors(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except SelectorError:
        return
    assert isinstance(selector, LabelSelector)
    assert str(parse_label_selector(str(selector))) == str(selector)
