"""Strategic merge patch (``application/strategic-merge-patch+json``) with Kubernetes semantics.

Applies a strategic merge patch the way a Kubernetes API server does (the server side only: no
patch creation), with the patch strategies and merge keys of the built-in kinds from
`kubelite.api.mergekeys`. Behaviour was pinned against Kubernetes' documented semantics and its
observable results (see tests/unit/api/test_patch_strategic.py).

Data flows one way: `apply_strategic_merge_patch` deep-copies both documents, then `_merge_map`
walks the patch, and for every key either deletes (``null``), recurses into an object, merges or
replaces a list, or takes the patch value.

What a patch can say, with ``kubectl set image`` as the worked example::

    {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}

- objects merge key by key; ``null`` deletes a key;
- a list tagged ``merge`` with a merge key (``containers`` by ``name``) merges item by item:
  the nginx item above is merged into the live nginx container, sidecar is kept;
- a merged list of scalars (``finalizers``) is a set union; ``$deleteFromPrimitiveList/<list>``
  removes values from it;
- any other list is replaced wholesale;
- ``{"$patch": "replace"}`` in an object replaces it, ``{"$patch": "delete"}`` empties it; in a
  merged list an item ``{"$patch": "delete", "name": "x"}`` removes the items keyed ``x`` and
  ``{"$patch": "replace"}`` makes the other items of the patch list the whole list;
- ``$setElementOrder/<list>`` gives the order of the patch's items (items the patch does not
  mention keep their place among them); ``$retainKeys`` drops every key it does not list.

Merged lists come out in the order a Kubernetes API server produces: patch items in patch order,
live-only items in live order, interleaved so that a live-only item goes first only if it came
before the next patch item in the live list. So new items lead: patching live ``[a, b, c]`` with
``[d, b']`` gives ``[d, a, b', c]``, and ``kubectl patch`` adding a container puts it first.

Where upstream would leave a directive or a ``null`` inside a value it takes from the patch, and
rely on decoding into a Go struct to drop it, we drop it here, because we store JSON as it is.
Where upstream answers with a bare 500 or panics (lists of lists, mixed item types, an item
without its merge key) we raise a typed `PatchError`.

The module is longer than most (~450 lines) because it is one recursive algorithm whose parts
call each other; split, each part would need the others' private helpers."""

from __future__ import annotations

import copy
from typing import Any, Final

from kubelite.api.mergekeys import NO_METADATA, FieldMeta, Schema
from kubelite.api.patcherrors import MalformedPatchError, PatchNotApplicableError

JsonObject = dict[str, Any]

DIRECTIVE: Final = "$patch"
DELETE: Final = "delete"
REPLACE: Final = "replace"
MERGE: Final = "merge"
RETAIN_KEYS: Final = "$retainKeys"
SET_ELEMENT_ORDER: Final = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList"

_ABSENT: Final = object()


def apply_strategic_merge_patch(
    schema: Schema, original: JsonObject, patch: JsonObject
) -> JsonObject:
    """Apply ``patch`` to ``original`` for a kind described by ``schema``; returns a new object.

    Neither argument is changed, and the result shares nothing mutable with them.
    """
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


# ---- objects -------------------------------------------------------------------------------


def _merge_map(original: JsonObject, patch: JsonObject, schema: Schema) -> JsonObject:
    """Merge ``patch`` into ``original`` (both ours to change) and return the result."""
    if DIRECTIVE in patch:
        return _map_directive(patch)
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, schema)
    for key, value in patch.items():
        _merge_field(original, key, value, schema)
    return original


def _map_directive(patch: JsonObject) -> JsonObject:
    directive = patch[DIRECTIVE]
    if directive == REPLACE:
        return _literal_members({k: v for k, v in patch.items() if k != DIRECTIVE})
    if directive == DELETE:
        return {}
    raise MalformedPatchError(f"unknown patch type: {directive} in map: {patch}")


def _merge_field(original: JsonObject, key: str, value: Any, schema: Schema) -> None:
    if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
        target = _directive_target(key, DELETE_FROM_PRIMITIVE_LIST)
        _delete_from_primitive_list(original, target, value)
        return
    if value is None:
        original.pop(key, None)
        return
    current = original.get(key)
    meta = schema.get(key, NO_METADATA)
    if isinstance(current, dict) and isinstance(value, dict):
        original[key] = _merge_map(current, value, meta.fields)
    elif isinstance(current, list) and isinstance(value, list):
        original[key] = _merge_list(current, value, meta, key)[0]
    else:
        _take(original, key, value)


def _take(original: JsonObject, key: str, value: Any) -> None:
    """Set ``original[key]`` to the patch value, cleaned of directives and null members."""
    taken, keep = _literal(value)
    if keep:
        original[key] = taken
    else:
        original.pop(key, None)


def _literal(value: Any) -> tuple[Any, bool]:
    """A patch value as it is stored: no null object members, no directives.

    Returns (value, keep); an object carrying ``$patch`` is not kept, as upstream's
    ``removeDirectives`` does.
    """
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        return _literal_members(value), True
    if isinstance(value, list):
        return _literal_items(value), True
    return value, True


def _literal_members(value: JsonObject) -> JsonObject:
    cleaned: JsonObject = {}
    for key, member in value.items():
        if member is None or _is_parallel_directive(key):
            continue
        taken, keep = _literal(member)
        if keep:
            cleaned[key] = taken
    return cleaned


def _literal_items(items: list[Any]) -> list[Any]:
    return [taken for taken, keep in map(_literal, items) if keep]


def _is_parallel_directive(key: str) -> bool:
    return key == RETAIN_KEYS or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST))


def _directive_target(key: str, prefix: str) -> str:
    """``$setElementOrder/containers`` -> ``containers``."""
    head, slash, target = key.partition("/")
    if head != prefix or not slash:
        kind = "primitive list" if prefix == DELETE_FROM_PRIMITIVE_LIST else "setElementOrder list"
        raise MalformedPatchError(f"invalid patch format of {kind}: {key!r}")
    return target


def _apply_retain_keys(original: JsonObject, patch: JsonObject) -> None:
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise MalformedPatchError("invalid patch format of retainKeys: $retainKeys must be a list")
    names = {name for name in retained if isinstance(name, str)}
    for key, value in patch.items():
        if value is None or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST)):
            continue
        if key not in names:
            raise MalformedPatchError(
                f"invalid patch format of retainKeys: {key!r} is patched but not retained"
            )
    for key in [key for key in original if key not in names]:
        del original[key]


def _delete_from_primitive_list(original: JsonObject, key: str, values: Any) -> None:
    if not isinstance(values, list):
        raise MalformedPatchError(
            f"invalid patch format of primitive list: {DELETE_FROM_PRIMITIVE_LIST}/{key} "
            "must be a list"
        )
    current = original.get(key)
    if isinstance(current, list):
        original[key] = [item for item in current if not _contains(values, item, "")]


# ---- $setElementOrder ----------------------------------------------------------------------


def _merge_ordered_lists(original: JsonObject, patch: JsonObject, schema: Schema) -> None:
    """Merge each list that has a ``$setElementOrder/<list>`` and put it in that order.

    Both the directive and the list it orders are removed from ``patch``.
    """
    for directive in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        name = _directive_target(directive, SET_ELEMENT_ORDER)
        if not isinstance(order, list):
            raise MalformedPatchError(f"{directive} must be a list")
        meta = schema.get(name, NO_METADATA)
        current, patched = _lists_to_order(original, patch, name)
        if patched is not None:
            _check_order_matches(patched, order, meta.merge_key)
        if current is None and patched is None:
            continue
        live_order = current or []
        if patched is None:
            merged = live_order
        elif current is None:
            merged = _literal_items(patched)
        else:
            merged, live_order = _merge_list(current, patched, meta, name)
        in_order, server_only = _partition(merged, order, meta.merge_key)
        original[name] = _normalize_order(in_order, server_only, order, live_order, meta.merge_key)


def _lists_to_order(
    original: JsonObject, patch: JsonObject, name: str
) -> tuple[list[Any] | None, list[Any] | None]:
    """The live list and the patch list named by a ``$setElementOrder``, None where absent.

    The patch list is removed from ``patch``: it is merged here, not again later.
    """
    current = original.get(name)
    if current is not None and not isinstance(current, list):
        raise PatchNotApplicableError(f"{name} is not a list and cannot be ordered")
    patched = patch.pop(name, _ABSENT)
    if patched is _ABSENT:
        return current, None
    if not isinstance(patched, list):
        raise MalformedPatchError(f"{name} must be a list, as {SET_ELEMENT_ORDER}/{name} orders it")
    return current, patched


def _check_order_matches(patched: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch's items must appear in ``order``, in the same relative order."""
    items = [item for item in patched if not _is_delete_item(item)] if merge_key else patched
    at_item = at_order = 0
    while at_item < len(items) and at_order < len(order):
        item = items[at_item]
        if isinstance(item, dict) and DIRECTIVE in item:
            at_item += 1
            continue
        if _same_item(item, order[at_order], merge_key, strict=True):
            at_item += 1
        at_order += 1
    if at_item < len(items):
        raise MalformedPatchError(
            f"The order in patch list: {patched} doesn't match {SET_ELEMENT_ORDER} list: {order}"
        )


def _is_delete_item(item: Any) -> bool:
    if not isinstance(item, dict):
        raise MalformedPatchError(f"expected an object in a list merged by key, got {item!r}")
    return bool(item.get(DIRECTIVE) == DELETE)


# ---- lists ---------------------------------------------------------------------------------


def _merge_list(
    current: list[Any], patched: list[Any], meta: FieldMeta, name: str
) -> tuple[list[Any], list[Any]]:
    """Merge or replace a list; returns (the new list, the live order to keep it by).

    The live order is what a ``$setElementOrder`` pass compares live items' positions against;
    see `_merge_keyed_list` for why it is not simply ``current``.
    """
    if not meta.merge:
        return _literal_items(patched), current
    if not current and not patched:
        return current, current
    if _items_are_objects(current, patched, name):
        return _merge_keyed_list(current, patched, meta, name)
    merged = _dedupe(current + patched)
    in_patch, server_only = _partition(merged, patched, "")
    return _normalize_order(in_patch, server_only, patched, current, ""), current


def _merge_keyed_list(
    current: list[Any], patched: list[Any], meta: FieldMeta, name: str
) -> tuple[list[Any], list[Any]]:
    if not meta.merge_key:
        raise PatchNotApplicableError(f"cannot merge lists without merge key for {name}")
    live, items, replaced = _apply_list_directives(current, patched, meta.merge_key)
    if replaced:
        return _literal_items(items), live
    merged = _merge_items(live, items, meta)
    in_patch, server_only = _partition(merged, items, meta.merge_key)
    ordered = _normalize_order(in_patch, server_only, items, live, meta.merge_key)
    # Upstream deletes from and appends to the live list's Go slice in place, so the
    # $setElementOrder pass after this one sees the slots freed by deletions taken by the
    # first new items. Its tests pin the resulting order, and so do ours.
    return ordered, merged[: len(current)]


def _items_are_objects(current: list[Any], patched: list[Any], name: str) -> bool:
    """Whether a merged list holds objects; its items must all be of one JSON type."""
    kinds = {json_type(item) for item in current + patched}
    if "array" in kinds:
        raise PatchNotApplicableError(f"lists of lists are not supported: {name}")
    if len(kinds) > 1:
        raise PatchNotApplicableError(f"list element types are not identical: {name}")
    return kinds == {"object"}


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value: object, array, boolean, number, null or string."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _apply_list_directives(
    current: list[Any], patched: list[Any], merge_key: str
) -> tuple[list[Any], list[Any], bool]:
    """Carry out ``$patch`` items.

    Returns (the live list without deleted items, the patch items left, whether the patch
    items replace the list).
    """
    plain: list[Any] = []
    replace = False
    for item in patched:
        directive = item.get(DIRECTIVE, _ABSENT)
        if directive is _ABSENT:
            plain.append(item)
        elif directive == DELETE:
            _require_merge_key(item, merge_key)
            current = [live for live in current if not _same_item(live, item, merge_key)]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise MalformedPatchError("merging lists cannot yet be specified in the patch")
        else:
            raise MalformedPatchError(f"unknown patch type: {directive} in map: {item}")
    return current, plain, replace


def _merge_items(current: list[Any], patched: list[Any], meta: FieldMeta) -> list[Any]:
    """Merge each patch item into the first live item with its key, or append it."""
    merged = list(current)
    for item in patched:
        _require_merge_key(item, meta.merge_key)
        at = _index(merged, item, meta.merge_key)
        if at < 0:
            merged.append(_literal(item)[0])
        else:
            merged[at] = _merge_map(merged[at], item, meta.fields)
    return merged


def _require_merge_key(item: JsonObject, merge_key: str) -> None:
    if merge_key not in item:
        raise MalformedPatchError(f"map: {item} does not contain declared merge key: {merge_key}")


def _dedupe(items: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if not _contains(unique, item, ""):
            unique.append(item)
    return unique


# ---- order ---------------------------------------------------------------------------------


def _partition(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Split ``items`` into those that appear in ``by`` and the rest, keeping their order."""
    present = [item for item in items if _contains(by, item, merge_key)]
    absent = [item for item in items if not _contains(by, item, merge_key)]
    return present, absent


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
) -> list[Any]:
    """Upstream's ``normalizeElementOrder``: sort both halves, then interleave them."""
    patch_items = _sorted_by(patch_items, patch_order, merge_key)
    server_only = _sorted_by(server_only, server_order, merge_key)
    return _interleave(server_only, patch_items, server_order, merge_key)


def _sorted_by(items: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    def position(item: Any) -> int:
        at = _index(order, item, merge_key)
        return at if at >= 0 else len(order)

    return sorted(items, key=position)


def _interleave(
    server_only: list[Any], patch_items: list[Any], server_order: list[Any], merge_key: str
) -> list[Any]:
    """Upstream's ``mergeSortedSlice``: a live-only item goes first only when it came before
    the next patch item in the live list; otherwise the patch item does."""
    merged: list[Any] = []
    left = right = 0
    while left < len(server_only) and right < len(patch_items):
        left_at = _index(server_order, server_only[left], merge_key)
        right_at = _index(server_order, patch_items[right], merge_key)
        if 0 <= left_at < right_at:
            merged.append(server_only[left])
            left += 1
        else:
            merged.append(patch_items[right])
            right += 1
    return merged + server_only[left:] + patch_items[right:]


# ---- equality ------------------------------------------------------------------------------


def _index(items: list[Any], wanted: Any, merge_key: str) -> int:
    for at, item in enumerate(items):
        if _same_item(item, wanted, merge_key):
            return at
    return -1


def _contains(items: list[Any], wanted: Any, merge_key: str) -> bool:
    return _index(items, wanted, merge_key) >= 0


def _same_item(left: Any, right: Any, merge_key: str, *, strict: bool = False) -> bool:
    """Same list item: equal merge-key values for objects, equal values for scalars.

    With ``strict``, an item that is not an object with the merge key is an error rather than
    a mismatch (as the API server compares merge-key values).
    """
    if not merge_key:
        return _same_scalar(left, right)
    if (
        isinstance(left, dict)
        and isinstance(right, dict)
        and merge_key in left
        and merge_key in right
    ):
        return _same_scalar(left[merge_key], right[merge_key])
    if strict:
        culprit = right if isinstance(left, dict) and merge_key in left else left
        raise MalformedPatchError(
            f"map: {culprit} does not contain declared merge key: {merge_key}"
        )
    return False


def _same_scalar(left: Any, right: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` (Python says it is), ``1`` is ``1.0``."""
    return json_type(left) == json_type(right) and bool(left == right)
