"""Field selectors against upstream: parsing and escaping, per-resource support, value rendering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.fields import (
    FieldOperator,
    FieldRequirement,
    FieldSelector,
    FieldSelectorError,
    convert_field_selector,
    escape_value,
    field_set,
    parse_field_selector,
    unescape_value,
)

EQ, EQEQ, NE = FieldOperator.EQUALS, FieldOperator.DOUBLE_EQUALS, FieldOperator.NOT_EQUALS

PARSED = [
    pytest.param("", (), "", id="empty"),
    pytest.param(
        "metadata.name=foo", (("metadata.name", EQ, "foo"),), "metadata.name=foo", id="equals"
    ),
    pytest.param("a==b", (("a", EQEQ, "b"),), "a=b", id="double-equals-renders-single"),
    pytest.param(
        "status.phase!=Succeeded,status.phase!=Failed",
        (("status.phase", NE, "Failed"), ("status.phase", NE, "Succeeded")),
        "status.phase!=Failed,status.phase!=Succeeded",
        id="describe-node-sorted",
    ),
    pytest.param(
        "spec.nodeName=", (("spec.nodeName", EQ, ""),), "spec.nodeName=", id="empty-value"
    ),
    pytest.param("a=b\\,c", (("a", EQ, "b,c"),), "a=b\\,c", id="escaped-comma"),
    pytest.param("a=b\\=c", (("a", EQ, "b=c"),), "a=b\\=c", id="escaped-equals"),
    pytest.param("a=b\\\\c", (("a", EQ, "b\\c"),), "a=b\\\\c", id="escaped-backslash"),
    pytest.param(",a=b,,", (("a", EQ, "b"),), "a=b", id="empty-terms-skipped"),
    pytest.param("a!=b\\=", (("a", NE, "b="),), "a!=b\\=", id="not-equals"),
    pytest.param("a = b", (("a ", EQ, " b"),), "a = b", id="spaces-kept"),
    pytest.param("x!y=z", (("x!y", EQ, "z"),), "x!y=z", id="bang-in-field"),
]


@pytest.mark.parametrize(("text", "expected", "rendered"), PARSED)
def test_parse(
    text: str, expected: tuple[tuple[str, FieldOperator, str], ...], rendered: str
) -> None:
    selector = parse_field_selector(text)
    assert selector.requirements == tuple(FieldRequirement(*term) for term in expected)
    assert str(selector) == rendered


PARSE_ERRORS = [
    pytest.param("a", "invalid selector: 'a'; can't understand 'a'", id="no-operator"),
    pytest.param("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'", id="sorted-first"),
    pytest.param(
        "a=b=c", "invalid field selector: unescaped character in value: 61", id="bare-equals"
    ),
    pytest.param("a=b\\x", "invalid field selector: invalid escape sequence: \\x", id="bad-escape"),
    pytest.param(
        "a=b\\", "invalid field selector: invalid escape sequence: \\", id="trailing-backslash"
    ),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(FieldSelectorError) as raised:
        parse_field_selector(text)
    assert raised.value.message == message


CONVERSIONS = [
    pytest.param("pods", "spec.nodeName=n1", "spec.nodeName=n1", id="pods-node"),
    pytest.param("pods", "spec.host=n1", "spec.nodeName=n1", id="pods-legacy-host"),
    pytest.param("pods", "status.podIPs=", "status.podIPs=", id="pods-podips-accepted"),
    pytest.param(
        "events",
        "involvedObject.uid=u,type=Warning",
        "involvedObject.uid=u,type=Warning",
        id="events",
    ),
    pytest.param("nodes", "spec.unschedulable=false", "spec.unschedulable=false", id="nodes"),
    pytest.param("namespaces", "status.phase=Active", "status.phase=Active", id="namespaces"),
    pytest.param("secrets", "type=Opaque", "type=Opaque", id="secrets"),
    pytest.param("services", "spec.clusterIP!=None", "spec.clusterIP!=None", id="services"),
    pytest.param("replicasets", "status.replicas=0", "status.replicas=0", id="replicasets"),
    pytest.param("jobs", "status.successful=1", "status.successful=1", id="jobs"),
    pytest.param("configmaps", "metadata.name=a", "metadata.name=a", id="default-name"),
    pytest.param("leases", "metadata.namespace=a", "metadata.namespace=a", id="default-ns"),
]


@pytest.mark.parametrize(("resource", "text", "converted"), CONVERSIONS)
def test_supported_fields_convert(resource: str, text: str, converted: str) -> None:
    assert str(convert_field_selector(resource, parse_field_selector(text))) == converted


UNSUPPORTED = [
    pytest.param("pods", "spec.foo=x", "field label not supported: spec.foo", id="pods"),
    pytest.param(
        "nodes", "metadata.namespace=", "field label not supported: metadata.namespace", id="node"
    ),
    pytest.param("namespaces", "spec.x=", "field label not supported: spec.x", id="namespaces"),
    pytest.param(
        "jobs",
        "status.failed=1",
        'field label "status.failed" not supported for batchv1.Job',
        id="jobs",
    ),
    pytest.param(
        "configmaps",
        "data.x=1",
        '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"',
        id="default",
    ),
    pytest.param(
        "pods",
        "zzz=1,spec.bad=1,metadata.name=a",
        "field label not supported: spec.bad",
        id="first-in-sorted-order",
    ),
]


@pytest.mark.parametrize(("resource", "text", "message"), UNSUPPORTED)
def test_unsupported_fields_are_rejected_like_upstream(
    resource: str, text: str, message: str
) -> None:
    with pytest.raises(FieldSelectorError) as raised:
        convert_field_selector(resource, parse_field_selector(text))
    assert raised.value.message == message


RUNNING_POD = {
    "metadata": {"name": "web-0", "namespace": "default"},
    "spec": {
        "nodeName": "n1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "hostNetwork": True,
    },
    "status": {"phase": "Running", "podIP": "10.1.0.5", "nominatedNodeName": "n2"},
}

FIELD_SETS = [
    pytest.param(
        "pods",
        RUNNING_POD,
        {
            "metadata.name": "web-0",
            "metadata.namespace": "default",
            "spec.nodeName": "n1",
            "spec.restartPolicy": "Always",
            "spec.schedulerName": "default-scheduler",
            "spec.serviceAccountName": "default",
            "spec.hostNetwork": "true",
            "status.phase": "Running",
            "status.podIP": "10.1.0.5",
            "status.nominatedNodeName": "n2",
        },
        id="pod",
    ),
    pytest.param(
        "pods",
        {},
        {
            "metadata.name": "",
            "metadata.namespace": "",
            "spec.nodeName": "",
            "spec.restartPolicy": "",
            "spec.schedulerName": "",
            "spec.serviceAccountName": "",
            "spec.hostNetwork": "false",
            "status.phase": "",
            "status.podIP": "",
            "status.nominatedNodeName": "",
        },
        id="pod-zero-values",
    ),
    pytest.param(
        "nodes",
        {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
        {"metadata.name": "n1", "spec.unschedulable": "true"},
        id="cordoned-node",
    ),
    pytest.param(
        "nodes",
        {"metadata": {"name": "n1"}, "spec": {}},
        {"metadata.name": "n1", "spec.unschedulable": "false"},
        id="node",
    ),
    pytest.param(
        "jobs",
        {"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 3}},
        {"metadata.name": "j", "metadata.namespace": "d", "status.successful": "3"},
        id="job",
    ),
    pytest.param(
        "replicasets",
        {"metadata": {"name": "r", "namespace": "d"}},
        {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "0"},
        id="replicaset-zero",
    ),
    pytest.param(
        "configmaps",
        {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "b"}},
        {"metadata.name": "c", "metadata.namespace": "d"},
        id="default",
    ),
]


@pytest.mark.parametrize(("resource", "obj", "expected"), FIELD_SETS)
def test_field_set(resource: str, obj: dict[str, object], expected: dict[str, str]) -> None:
    assert field_set(resource, obj) == expected


def test_pod_ip_falls_back_to_pod_ips() -> None:
    pod = {"status": {"podIPs": [{"ip": "fd00::5"}, {"ip": "10.0.0.5"}]}}
    assert field_set("pods", pod)["status.podIP"] == "fd00::5"


def test_event_source_falls_back_to_reporting_component() -> None:
    event = {"reportingComponent": "kubelet", "involvedObject": {"kind": "Pod", "uid": "u1"}}
    fields = field_set("events", event)
    assert fields["source"] == "kubelet"
    assert fields["reportingComponent"] == "kubelet"
    assert fields["involvedObject.uid"] == "u1"
    assert field_set("events", {"source": {"component": "sched"}})["source"] == "sched"


def test_describe_node_selector_matches_running_pods_on_the_node() -> None:
    selector = convert_field_selector(
        "pods",
        parse_field_selector("spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed"),
    )
    assert selector.matches(field_set("pods", RUNNING_POD))
    failed = {**RUNNING_POD, "status": {"phase": "Failed"}}
    assert not selector.matches(field_set("pods", failed))


def test_scheduler_selector_matches_unscheduled_pods() -> None:
    selector = parse_field_selector("spec.nodeName=")
    assert selector.matches(field_set("pods", {"spec": {}}))
    assert not selector.matches(field_set("pods", RUNNING_POD))


def test_requires_exact_match() -> None:
    selector = parse_field_selector("metadata.name==web-0,spec.nodeName!=n1")
    assert selector.requires_exact_match("metadata.name") == "web-0"
    assert selector.requires_exact_match("spec.nodeName") is None
    assert FieldSelector().empty


# --- properties ----------------------------------------------------------------------------------

FIELD_POOL = ["metadata.name", "spec.nodeName", "status.phase", "a"]
fields = st.sampled_from(FIELD_POOL)
values = st.text(alphabet="ab,=\\ !", max_size=6)
operators = st.sampled_from(list(FieldOperator))
requirements = st.builds(FieldRequirement, fields, operators, values)
field_sets = st.dictionaries(fields, st.sampled_from(["", "a", "b,", "=", "\\"]))


def reference_matches(terms: list[FieldRequirement], fields: dict[str, str]) -> bool:
    for term in terms:
        equal = fields.get(term.field, "") == term.value
        if equal == (term.operator is FieldOperator.NOT_EQUALS):
            return False
    return True


@given(st.text(max_size=20))
def test_escape_round_trips(value: str) -> None:
    assert unescape_value(escape_value(value)) == value


@given(st.lists(requirements, max_size=4), field_sets)
def test_rendered_selector_parses_to_the_same_meaning(
    terms: list[FieldRequirement], fields: dict[str, str]
) -> None:
    parsed = parse_field_selector(",".join(str(term) for term in terms))
    assert parsed.matches(fields) is reference_matches(terms, fields)
    assert {(t.field, t.value) for t in parsed.requirements} == {(t.field, t.value) for t in terms}


def meaning(selector: FieldSelector) -> list[tuple[str, bool, str]]:
    return sorted(
        (t.field, t.operator is FieldOperator.NOT_EQUALS, t.value) for t in selector.requirements
    )


@given(st.text(alphabet="ab=!,\\ .", max_size=20))
def test_parser_fails_only_with_field_selector_errors(text: str) -> None:
    try:
        selector = parse_field_selector(text)
    except FieldSelectorError:
        return
    assert meaning(parse_field_selector(str(selector))) == meaning(selector)
