"""Properties of the three patch types against naive references written from the RFCs.

- merge patch agrees with RFC 7386's pseudo-code, round-trips a naive diff and is idempotent;
- strategic merge patch without merge keys is merge patch, and with merge keys is idempotent
  and keeps the relative order of patch items and of live-only items;
- JSON patch never fails with anything but a `PatchError`, and replays a library diff;
- no patch type changes its inputs.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.mergekeys import schema_for
from kubelite.api.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_patch,
)
from kubelite.api.strategic import apply_strategic_merge_patch

POD = ("", "v1", "Pod")
KEYS = st.sampled_from(["a", "b", "c", "d"])
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, -2.0]),
    st.text("xy", max_size=2),
)


def values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
        max_leaves=8,
    )


NULL_FREE = values(SCALARS)
ANY_JSON = values(st.none() | SCALARS)
NULL_FREE_OBJECTS = st.dictionaries(KEYS, NULL_FREE, max_size=4)
ANY_OBJECTS = st.dictionaries(KEYS, ANY_JSON, max_size=4)


def merge_patches() -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose members may be null (deletes); arrays hold no nulls at all."""
    member = st.recursive(
        st.none() | NULL_FREE,
        lambda inner: st.dictionaries(KEYS, inner, max_size=3),
        max_leaves=8,
    )
    return st.dictionaries(KEYS, member, max_size=4)


def rfc7386(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2, line by line."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = rfc7386(result.get(name), value)
    return result


def same_json(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def merge_diff(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that turns ``source`` into ``target`` (neither holds nulls)."""
    patch: dict[str, Any] = {name: None for name in source if name not in target}
    for name, value in target.items():
        current = source.get(name)
        if isinstance(current, dict) and isinstance(value, dict):
            nested = merge_diff(current, value)
            if nested:
                patch[name] = nested
        elif name not in source or not same_json(current, value):
            patch[name] = value
    return patch


# --- merge patch ----------------------------------------------------------------------------


@given(ANY_OBJECTS, merge_patches())
def test_merge_patch_is_rfc7386(target: dict[str, Any], patch: dict[str, Any]) -> None:
    assert same_json(apply_merge_patch(target, patch), rfc7386(target, patch))


@given(NULL_FREE_OBJECTS, NULL_FREE_OBJECTS)
def test_merge_patch_applies_a_diff(source: dict[str, Any], target: dict[str, Any]) -> None:
    assert same_json(apply_merge_patch(source, merge_diff(source, target)), target)


@given(ANY_OBJECTS, merge_patches())
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = apply_merge_patch(target, patch)
    assert same_json(apply_merge_patch(once, patch), once)


# --- strategic merge patch ------------------------------------------------------------------


@given(ANY_OBJECTS, merge_patches())
def test_strategic_without_merge_keys_is_merge_patch(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    strategic = apply_strategic_merge_patch({}, target, patch)
    assert same_json(strategic, apply_merge_patch(target, patch))


NAMES = st.lists(st.sampled_from(["p", "q", "r", "s", "t"]), unique=True, max_size=4)


@st.composite
def containers(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "image": draw(st.text("ab", max_size=2)),
            "env": [{"name": env, "value": draw(st.text("xy", max_size=1))} for env in draw(NAMES)],
        }
        for name in draw(NAMES)
    ]


def pod(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"containers": items}}


def container_names(obj: dict[str, Any]) -> list[str]:
    return [item["name"] for item in obj["spec"]["containers"]]


@given(containers(), containers())
def test_strategic_merge_by_key_is_idempotent(live: list[Any], patch: list[Any]) -> None:
    schema = schema_for(POD)
    assert schema is not None
    once = apply_strategic_merge_patch(schema, pod(live), pod(patch))
    assert apply_strategic_merge_patch(schema, once, pod(patch)) == once


@given(containers(), containers())
def test_strategic_merge_keeps_both_relative_orders(live: list[Any], patch: list[Any]) -> None:
    schema = schema_for(POD)
    assert schema is not None
    result = container_names(apply_strategic_merge_patch(schema, pod(live), pod(patch)))
    patched = [item["name"] for item in patch]
    live_only = [item["name"] for item in live if item["name"] not in patched]
    assert sorted(result) == sorted(patched + live_only)
    assert [name for name in result if name in patched] == patched
    assert [name for name in result if name in live_only] == live_only


# --- JSON patch -----------------------------------------------------------------------------

POINTERS = st.sampled_from(["", "/a", "/a/0", "/a/-", "/b", "/b/a", "/c/1", "/a/b/c", "x", "/~2"])
OPERATIONS = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"])},
    optional={"path": POINTERS | st.integers(), "from": POINTERS, "value": ANY_JSON},
)


@given(ANY_OBJECTS, st.lists(OPERATIONS, max_size=4))
def test_json_patch_fails_only_with_patch_errors(
    document: dict[str, Any], operations: list[Any]
) -> None:
    try:
        result = apply_json_patch(document, operations)
    except PatchError:
        return
    assert isinstance(result, dict)


@given(NULL_FREE_OBJECTS, NULL_FREE_OBJECTS)
def test_json_patch_replays_a_library_diff(source: dict[str, Any], target: dict[str, Any]) -> None:
    operations = jsonpatch.make_patch(source, target).patch
    assert same_json(apply_json_patch(source, operations), target)


# --- inputs ---------------------------------------------------------------------------------


@given(ANY_OBJECTS, merge_patches(), st.sampled_from([MERGE_PATCH, STRATEGIC_MERGE_PATCH]))
def test_object_patches_do_not_change_their_inputs(
    original: dict[str, Any], patch: dict[str, Any], content_type: str
) -> None:
    before = copy.deepcopy((original, patch))
    result = apply_patch(POD, original, patch, content_type)
    result["mutated"] = True
    assert (original, patch) == before


@given(ANY_OBJECTS, st.lists(OPERATIONS, max_size=4))
def test_json_patch_does_not_change_its_inputs(
    original: dict[str, Any], operations: list[Any]
) -> None:
    before = copy.deepcopy((original, operations))
    with contextlib.suppress(PatchError):
        apply_patch(POD, original, operations, JSON_PATCH)
    assert same_json((original, operations), before)
