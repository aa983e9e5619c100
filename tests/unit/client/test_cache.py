"""The informer cache: keys, indexes, re-list differences and read-only objects."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from kubelite.client.cache import (
    NAMESPACE_INDEX,
    Indexer,
    ReadOnlyDict,
    freeze,
    object_key,
    split_key,
)


def pod(name: str, namespace: str = "default", node: str = "", rv: str = "1") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv,
                     "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
    }  # fmt: skip


def by_node() -> Indexer:
    return Indexer({"nodeName": lambda obj: [obj["spec"].get("nodeName", "")]})


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        ({"metadata": {"name": "web", "namespace": "default"}}, "default/web"),
        ({"metadata": {"name": "node-1"}}, "node-1"),
        ({"metadata": {"name": "node-1", "namespace": ""}}, "node-1"),
    ],
    ids=["namespaced", "cluster-scoped", "empty-namespace"],
)
def test_object_key(obj: dict[str, Any], key: str) -> None:
    assert object_key(obj) == key


def test_object_key_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        object_key({"metadata": {}})


def test_split_key() -> None:
    assert split_key("default/web") == ("default", "web")
    assert split_key("node-1") == (None, "node-1")


def test_add_get_delete() -> None:
    cache = Indexer()
    old, new = cache.add(pod("web"))
    assert old is None and new == pod("web")
    assert cache.get("default/web") == pod("web")
    assert cache.get_by_name("default", "web") == pod("web")
    assert cache.keys() == ["default/web"] and len(cache) == 1 and "default/web" in cache
    old, _ = cache.update(pod("web", rv="2"))
    assert old is not None and old["metadata"]["resourceVersion"] == "1"
    assert cache.delete("default/web") == pod("web", rv="2")
    assert cache.delete(pod("web")) is None
    assert cache.list() == []


def test_indexes_follow_updates_and_deletes() -> None:
    cache = by_node()
    cache.add(pod("a", node="n1"))
    cache.add(pod("b", node="n1"))
    cache.add(pod("c", namespace="kube-system", node="n2"))
    assert [p["metadata"]["name"] for p in cache.by_index("nodeName", "n1")] == ["a", "b"]
    assert cache.index_keys(NAMESPACE_INDEX, "kube-system") == ["kube-system/c"]
    cache.update(pod("b", node="n2", rv="2"))
    assert cache.index_keys("nodeName", "n1") == ["default/a"]
    assert cache.index_keys("nodeName", "n2") == ["default/b", "kube-system/c"]
    cache.delete("default/a")
    assert cache.by_index("nodeName", "n1") == []
    assert cache.index_values("nodeName") == ["n2"]


def test_indexer_added_later_indexes_existing_objects() -> None:
    cache = Indexer()
    cache.add(pod("a", node="n1"))
    cache.add_indexers({"nodeName": lambda obj: [obj["spec"]["nodeName"]]})
    assert cache.index_keys("nodeName", "n1") == ["default/a"]
    with pytest.raises(ValueError, match="already exists"):
        cache.add_indexers({"nodeName": lambda obj: []})


def test_unknown_index_is_an_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        Indexer().by_index("nope", "x")


def test_replace_reports_the_differences() -> None:
    cache = by_node()
    for obj in (pod("same"), pod("changed", node="n1"), pod("gone", node="n1")):
        cache.add(obj)
    result = cache.replace([pod("same"), pod("changed", node="n2", rv="5"), pod("new")], "9")
    assert [o["metadata"]["name"] for o in result.added] == ["new"]
    assert [(o["spec"]["nodeName"], n["spec"]["nodeName"]) for o, n in result.updated] == [
        ("n1", "n2")
    ]
    assert [o["metadata"]["name"] for o in result.deleted] == ["gone"]
    assert sorted(cache.keys()) == ["default/changed", "default/new", "default/same"]
    assert cache.index_keys("nodeName", "n1") == []
    assert cache.resource_version == "9"


def test_replace_without_resource_versions_compares_content() -> None:
    cache = Indexer()
    cache.add({"metadata": {"name": "x"}, "data": {"a": "1"}})
    result = cache.replace([{"metadata": {"name": "x"}, "data": {"a": "2"}}], "")
    assert len(result.updated) == 1
    assert cache.replace([{"metadata": {"name": "x"}, "data": {"a": "2"}}], "").updated == []


MUTATIONS: list[tuple[str, Callable[[Any], object]]] = [
    ("set-top", lambda o: o.__setitem__("spec", {})),
    ("set-nested", lambda o: o["spec"].__setitem__("nodeName", "n9")),
    ("del-nested", lambda o: o["metadata"]["labels"].__delitem__("app")),
    ("pop", lambda o: o["metadata"]["labels"].pop("app")),
    ("update", lambda o: o["metadata"].update(name="x")),
    ("setdefault", lambda o: o.setdefault("status", {})),
    ("list-append", lambda o: o["spec"]["containers"].append({})),
    ("list-item", lambda o: o["spec"]["containers"][0].__setitem__("image", "y")),
    ("list-setitem", lambda o: o["spec"]["containers"].__setitem__(0, {})),
    ("list-sort", lambda o: o["spec"]["containers"].sort()),
]


@pytest.mark.parametrize("mutate", [m for _, m in MUTATIONS], ids=[i for i, _ in MUTATIONS])
def test_cached_objects_refuse_mutation(mutate: Callable[[Any], object]) -> None:
    cache = Indexer()
    cache.add(pod("web"))
    with pytest.raises(TypeError, match="read-only"):
        mutate(cache.get("default/web"))
    assert cache.get("default/web") == pod("web")


def test_cache_keeps_its_own_copy_of_what_was_added() -> None:
    original = pod("web")
    cache = Indexer()
    cache.add(original)
    original["spec"]["nodeName"] = "changed-by-caller"
    cached = cache.get("default/web")
    assert cached is not None and cached["spec"]["nodeName"] == ""


def test_copies_are_plain_and_mutable() -> None:
    cache = Indexer()
    cache.add(pod("web"))
    for copied in (cache.get_copy("default/web"), copy.deepcopy(cache.get("default/web"))):
        assert copied is not None and type(copied) is dict
        assert type(copied["spec"]["containers"]) is list
        copied["spec"]["containers"][0]["image"] = "y"
    assert cache.get_copy("nope") is None
    cached = cache.get("default/web")
    assert cached is not None and cached["spec"]["containers"][0]["image"] == "x"


def test_frozen_objects_still_behave_like_json() -> None:
    frozen = freeze(pod("web"))
    assert isinstance(frozen, dict) and isinstance(frozen, ReadOnlyDict)
    assert json.loads(json.dumps(frozen)) == pod("web")
    assert frozen == pod("web")
