"""The informer's local store: objects by key, secondary indexes, and read-only hand-outs.

An `Indexer` holds the latest state of every object an informer has seen, keyed
``namespace/name`` (``name`` for cluster-scoped objects), like client-go's ``cache.Indexer``.
It keeps one index built in (`NAMESPACE_INDEX`) plus any named index functions the caller
registers; an index function maps an object to the index values it belongs under::

    pods = Indexer({"nodeName": lambda pod: [pod["spec"].get("nodeName", "")]})
    pods.add(pod)
    pods.by_index("nodeName", "node-1")      # the pods bound to node-1
    pods.by_index(NAMESPACE_INDEX, "default")

**Objects are stored deep-frozen.** `add`/`update`/`replace` store a `ReadOnlyDict` copy of the
caller's object, with every nested dict a `ReadOnlyDict` and every list a `ReadOnlyList`; what
`get`, `list` and `by_index` hand out are those shared frozen objects, so there is no copy per
read, and any attempt to change one (``pod["spec"]["nodeName"] = "x"``,
``pod["metadata"]["labels"].pop("app")``) raises `TypeError` at once instead of silently
corrupting the cache. They are still ``dict``/``list`` instances: ``json.dumps``, ``==`` with a
plain dict and ``isinstance(obj, dict)`` work. To change one, take a mutable deep copy first:
`get_copy`, `thaw`, or plain ``copy.deepcopy`` (which gives ordinary dicts and lists).

`replace` is the re-list step: it swaps the whole contents for a fresh list and reports what
was added, updated (resourceVersion or content changed) and deleted, so the informer can
deliver those differences to its handlers and they stay level-correct.

Not thread-safe: it belongs to one asyncio event loop, like the informer that fills it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

JsonObject = dict[str, Any]
IndexFunc = Callable[[Mapping[str, Any]], Iterable[str]]
# Aliases because `Indexer.list` shadows the builtin inside the class body.
_Objects = list[Mapping[str, Any]]
_Keys = list[str]

NAMESPACE_INDEX: Final = "namespace"


def _read_only(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise TypeError(
        "objects from the informer cache are shared and read-only; "
        "copy first (copy.deepcopy, thaw or Indexer.get_copy)"
    )


class ReadOnlyDict(dict[str, Any]):
    """A ``dict`` whose mutating methods raise `TypeError`; `copy.deepcopy` gives a plain dict."""

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> JsonObject:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> JsonObject:
        return {key: thaw(item) for key, item in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (thaw(self),))


class ReadOnlyList(list[Any]):
    """A ``list`` whose mutating methods raise `TypeError`; `copy.deepcopy` gives a plain list."""

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [thaw(item) for item in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, ([thaw(item) for item in self],))


def _frozen_list(items: Iterable[Any]) -> ReadOnlyList:
    frozen = ReadOnlyList()
    list.extend(frozen, (freeze(item) for item in items))
    return frozen


def freeze(value: Any) -> Any:
    """A deep read-only copy of a JSON value (dicts and lists frozen; scalars as they are)."""
    if isinstance(value, Mapping):
        frozen = ReadOnlyDict()
        dict.update(frozen, {str(key): freeze(item) for key, item in value.items()})
        return frozen
    if isinstance(value, list | tuple):
        return _frozen_list(value)
    return value


def thaw(value: Any) -> Any:
    """A deep mutable copy of a JSON value: plain dicts and lists all the way down."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (client-go's key func)."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or "")
    if not name:
        raise ValueError("object has no metadata.name")
    namespace = str(metadata.get("namespace") or "")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """``"ns/name"`` → ``("ns", "name")``; ``"name"`` → ``(None, "name")``."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def resource_version_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _namespace_index(obj: Mapping[str, Any]) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old_rv, new_rv = resource_version_of(old), resource_version_of(new)
    if old_rv and new_rv:
        return old_rv != new_rv
    return old != new


@dataclass
class ReplaceResult:
    """What a `Indexer.replace` changed: frozen objects; ``updated`` pairs are (old, new)."""

    added: list[Mapping[str, Any]] = field(default_factory=list)
    updated: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=list)
    deleted: list[Mapping[str, Any]] = field(default_factory=list)


class Indexer:
    """Objects by key plus named secondary indexes (see the module docstring)."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, ReadOnlyDict] = {}
        self._index_funcs: dict[str, IndexFunc] = {NAMESPACE_INDEX: _namespace_index}
        # index name -> index value -> keys
        self._indexes: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self.resource_version = ""
        self.add_indexers(indexers or {})

    # --- indexes ------------------------------------------------------------------------------

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Register more index functions; existing objects are indexed at once."""
        for name, func in indexers.items():
            if name in self._index_funcs:
                raise ValueError(f"indexer {name!r} already exists")
            self._index_funcs[name] = func
            self._indexes[name] = {}
            for key, obj in self._items.items():
                self._index_one(name, key, obj)

    def _index_one(self, name: str, key: str, obj: Mapping[str, Any]) -> None:
        index = self._indexes[name]
        for value in self._index_funcs[name](obj):
            index.setdefault(value, set()).add(key)

    def _unindex_one(self, name: str, key: str, obj: Mapping[str, Any]) -> None:
        index = self._indexes[name]
        for value in self._index_funcs[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    def _store(self, key: str, obj: ReadOnlyDict) -> ReadOnlyDict | None:
        old = self._items.get(key)
        for name in self._index_funcs:
            if old is not None:
                self._unindex_one(name, key, old)
            self._index_one(name, key, obj)
        self._items[key] = obj
        return old

    def _remove(self, key: str) -> ReadOnlyDict | None:
        old = self._items.pop(key, None)
        if old is not None:
            for name in self._index_funcs:
                self._unindex_one(name, key, old)
        return old

    # --- writes -------------------------------------------------------------------------------

    def add(self, obj: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]]:
        """Store a frozen copy of `obj` (insert or replace); returns ``(old, new)``."""
        frozen: ReadOnlyDict = freeze(obj)
        return self._store(object_key(frozen), frozen), frozen

    update = add

    def delete(self, obj_or_key: Mapping[str, Any] | str) -> Mapping[str, Any] | None:
        """Remove an object (by object or key); returns what was stored, or None."""
        key = obj_or_key if isinstance(obj_or_key, str) else object_key(obj_or_key)
        return self._remove(key)

    def replace(self, objects: Iterable[Mapping[str, Any]], resource_version: str) -> ReplaceResult:
        """Make the contents exactly `objects` (a fresh list) and report the differences.

        An object counts as updated when its resourceVersion differs from the stored one (or,
        without resourceVersions, when its content differs); unchanged objects are kept as they
        are and not reported.
        """
        result = ReplaceResult()
        fresh: dict[str, ReadOnlyDict] = {}
        for obj in objects:
            frozen: ReadOnlyDict = freeze(obj)
            fresh[object_key(frozen)] = frozen
        for key in [key for key in self._items if key not in fresh]:
            old = self._remove(key)
            assert old is not None
            result.deleted.append(old)
        for key, obj in fresh.items():
            old = self._items.get(key)
            if old is None:
                self._store(key, obj)
                result.added.append(obj)
            elif _changed(old, obj):
                self._store(key, obj)
                result.updated.append((old, obj))
        self.resource_version = resource_version
        return result

    # --- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> Mapping[str, Any] | None:
        """The shared frozen object under `key`, or None."""
        return self._items.get(key)

    def get_by_name(self, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def get_copy(self, key: str) -> JsonObject | None:
        """A mutable deep copy of the object under `key` (plain dicts), or None."""
        obj = self._items.get(key)
        return None if obj is None else thaw(obj)

    def list(self) -> _Objects:
        return list(self._items.values())

    def keys(self) -> _Keys:
        return list(self._items)

    def by_index(self, index_name: str, value: str) -> _Objects:
        """The objects whose index function `index_name` yields `value` (sorted by key)."""
        return [self._items[key] for key in self.index_keys(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> _Keys:
        if index_name not in self._indexes:
            raise KeyError(f"no indexer named {index_name!r}")
        return sorted(self._indexes[index_name].get(value, ()))

    def index_values(self, index_name: str) -> _Keys:
        """Every value the index currently holds (``nodeName`` values with pods on them…)."""
        if index_name not in self._indexes:
            raise KeyError(f"no indexer named {index_name!r}")
        return sorted(self._indexes[index_name])

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items
