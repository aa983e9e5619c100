"""`FakeClient`: the `Client` protocol in memory, for unit tests of controllers and client parts.

Like client-go's ``fake.NewSimpleClientset``: objects live in a dict keyed by (resource,
namespace, name); one integer resourceVersion is bumped by every write; every call is recorded
in `actions` as an `Action` (verb, resource, namespace, name), with the verb being the method's
name (``update_status``, ``bind``…) and the resource ``plural`` or ``plural.group``::

    client = FakeClient([pod])                       # pre-filled, not recorded
    await sync(client, "default/web")                # the code under test
    assert client.writes() == [Action("create", "pods", "default", "web-x2k8q")]

Writes go through `kubelite.api.meta`'s `prepare_create`/`prepare_update` as the API server's
do, and append to an in-memory event log that `watch` replays after a resourceVersion and then
follows. `compact` drops old history (older starts raise `ExpiredError`), `break_watches` ends
every open watch as a lost connection does, and `fail_next` makes the next call of a verb raise.
Delete is immediate (no finalizers or grace periods); bookmarks are never sent.

`FakeClock` is the `kubelite.client.workqueue.Clock` for tests: time moves only on `advance`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import heapq
import itertools
import random
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kubelite.api import meta
from kubelite.api.errors import (
    AlreadyExistsError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    GroupKind,
    GroupResource,
    InvalidError,
    NotFoundError,
    UnsupportedMediaError,
    field_invalid,
    field_required,
)
from kubelite.api.fields import field_set, parse_field_selector
from kubelite.api.labels import go_quote, parse_label_selector
from kubelite.api.patch import apply_patch
from kubelite.api.patcherrors import PatchError, UnsupportedPatchTypeError
from kubelite.api.resources import RESOURCES, ResourceInfo
from kubelite.client.interface import MERGE_PATCH, PODS, JsonObject, WatchEvent

_Key = tuple[str, str, str]  # (resource, namespace or "", name)


class Action(NamedTuple):
    """One recorded call; compares equal to a plain 4-tuple."""

    verb: str
    resource: str
    namespace: str | None
    name: str


@dataclass(frozen=True)
class _Change:
    revision: int
    key: _Key
    type: str
    object: JsonObject
    previous: JsonObject | None


def resource_key(resource: ResourceInfo) -> str:
    """``pods`` or ``deployments.apps``: how actions and keys name a resource."""
    return str(GroupResource(resource.group, resource.plural))


def _name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


class FakeClient:
    """An in-memory `Client` (see the module docstring)."""

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] = (),
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        seed: int = 0,
    ) -> None:
        self.actions: list[Action] = []
        self._now = now
        self._random = random.Random(seed)
        self._objects: dict[_Key, JsonObject] = {}
        self._log: list[_Change] = []
        self._revision = 0
        self._compacted = 0
        self._uids = 0
        self._failures: defaultdict[str, deque[BaseException]] = defaultdict(deque)
        self._changed = asyncio.Event()
        self._break: tuple[int, BaseException | None] = (0, None)
        for obj in objects:
            self.add_object(obj)

    # --- test controls -----------------------------------------------------------------------

    def add_object(self, obj: Mapping[str, Any]) -> JsonObject:
        """Store `obj` (resource found from its kind) without recording an action."""
        group = str(obj.get("apiVersion", "v1")).rpartition("/")[0]
        resource = RESOURCES.for_kind(str(obj["kind"]), group)
        if resource is None:
            raise ValueError(f"unknown kind {obj.get('kind')!r}")
        namespace = (obj.get("metadata") or {}).get("namespace") or "default"
        return self._create(resource, namespace if resource.namespaced else None, obj)

    def fail_next(self, verb: str, error: BaseException) -> None:
        """Make the next call of `verb` (a method name: ``update_status``…) raise `error`."""
        self._failures[verb].append(error)

    def compact(self, revision: int) -> None:
        """Forget history up to `revision`: watches starting before it raise `ExpiredError`."""
        self._compacted = max(self._compacted, revision)
        self._log = [change for change in self._log if change.revision > self._compacted]
        self._notify()

    def break_watches(self, error: BaseException | None = None) -> None:
        """End every open watch now: the stream stops, or raises `error` if one is given."""
        self._break = (self._break[0] + 1, error)
        self._notify()

    def writes(self) -> list[Action]:
        """The recorded actions without reads (get, list, watch)."""
        return [a for a in self.actions if a.verb not in ("get", "list", "watch")]

    def clear_actions(self) -> None:
        self.actions.clear()

    @property
    def resource_version(self) -> str:
        return str(self._revision)

    # --- the Client protocol -----------------------------------------------------------------

    async def get(self, resource: ResourceInfo, namespace: str | None, name: str) -> JsonObject:
        self._record("get", resource, namespace, name)
        return copy.deepcopy(self._stored(resource, namespace, name))

    async def list(
        self,
        resource: ResourceInfo,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> JsonObject:
        self._record("list", resource, namespace, "")
        matches = self._matcher(resource, namespace, label_selector, field_selector)
        revision, start = self._revision, ""
        if continue_token:
            revision, start = self._decode_continue(continue_token)
        rkey = resource_key(resource)
        after = tuple(start.split("/", 1)) if start else ()
        keys = sorted(k for k in self._objects if k[0] == rkey and k[1:] > after)
        items = [copy.deepcopy(self._objects[k]) for k in keys if matches(self._objects[k])]
        list_meta: JsonObject = {"resourceVersion": str(revision)}
        if limit and len(items) > limit:
            items = items[:limit]
            last = items[-1]["metadata"]
            token = f"{revision}:{last.get('namespace', '')}/{last['name']}"
            list_meta["continue"] = base64.urlsafe_b64encode(token.encode()).decode()
        kind = f"{resource.kind}List"
        return {
            "kind": kind,
            "apiVersion": resource.api_version,
            "metadata": list_meta,
            "items": items,
        }

    async def create(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        self._record("create", resource, namespace, _name_of(obj))
        return copy.deepcopy(self._create(resource, namespace, obj))

    async def update(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        self._record("update", resource, namespace, _name_of(obj))
        scope = meta.UpdateScope.MAIN if resource.subresource("status") else meta.UpdateScope.WHOLE
        return copy.deepcopy(self._update(resource, namespace, obj, scope))

    async def update_status(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        self._record("update_status", resource, namespace, _name_of(obj))
        return copy.deepcopy(self._update(resource, namespace, obj, meta.UpdateScope.STATUS))

    async def patch(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = MERGE_PATCH,
        *,
        status: bool = False,
    ) -> JsonObject:
        self._record("patch", resource, namespace, name)
        current = self._stored(resource, namespace, name)
        kind_key = (resource.group, resource.version, resource.kind)
        try:
            patched = apply_patch(kind_key, current, patch, patch_type)
        except UnsupportedPatchTypeError as error:
            raise UnsupportedMediaError(error.accepted) from None
        except PatchError as error:
            raise BadRequestError(str(error)) from None
        if status:
            scope = meta.UpdateScope.STATUS
        elif resource.subresource("status"):
            scope = meta.UpdateScope.MAIN
        else:
            scope = meta.UpdateScope.WHOLE
        return copy.deepcopy(self._update(resource, namespace, patched, scope))

    async def delete(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> JsonObject:
        self._record("delete", resource, namespace, name)
        current = self._stored(resource, namespace, name)
        stored_meta = current["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != stored_meta.get(field):
                why = (
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {stored_meta.get(field, '')}"
                )
                raise ConflictError(self._group_resource(resource), name, why)
        key = self._key(resource, namespace, name)
        del self._objects[key]
        return copy.deepcopy(self._commit(key, "DELETED", current, current))

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        self._record("bind", PODS, namespace, pod_name)
        pod = copy.deepcopy(self._stored(PODS, namespace, pod_name))
        assigned = (pod.get("spec") or {}).get("nodeName")
        if assigned:
            why = f"pod {pod_name} is already assigned to node {go_quote(assigned)}"
            raise ConflictError(GroupResource("", "pods/binding"), pod_name, why)
        pod.setdefault("spec", {})["nodeName"] = node_name
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions", []) if c.get("type") != "PodScheduled"]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": meta.format_time(self._now()),
            }
        )
        status["conditions"] = conditions
        key = self._key(PODS, namespace, pod_name)
        self._commit(key, "MODIFIED", pod, self._objects[key])

    async def watch(
        self,
        resource: ResourceInfo,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        self._record("watch", resource, namespace, "")
        matches = self._matcher(resource, namespace, label_selector, field_selector)
        rkey, generation = resource_key(resource), self._break[0]
        start = meta.parse_resource_version(resource_version)
        if not start:  # "" or "0": the current state as ADDED first
            start = self._revision
            for key in sorted(k for k in self._objects if k[0] == rkey):
                if matches(self._objects[key]):
                    yield WatchEvent("ADDED", copy.deepcopy(self._objects[key]))
        deadline = None
        if timeout_seconds is not None:
            deadline = asyncio.get_running_loop().time() + timeout_seconds
        while True:
            if start < self._compacted:
                raise ExpiredError(start, self._compacted)
            for change in [c for c in self._log if c.revision > start and c.key[0] == rkey]:
                start = change.revision
                event = _filtered(change, matches)
                if event is not None:
                    yield event
            if self._break[0] != generation:
                if self._break[1] is not None:
                    raise self._break[1]
                return
            try:
                async with asyncio.timeout_at(deadline):
                    await self._changed.wait()
            except TimeoutError:
                return

    async def close(self) -> None:
        self.break_watches()

    # --- the store ---------------------------------------------------------------------------

    def _record(self, verb: str, resource: ResourceInfo, namespace: str | None, name: str) -> None:
        self.actions.append(Action(verb, resource_key(resource), namespace, name))
        if self._failures[verb]:
            raise self._failures[verb].popleft()

    def _group_resource(self, resource: ResourceInfo) -> GroupResource:
        return GroupResource(resource.group, resource.plural)

    def _key(self, resource: ResourceInfo, namespace: str | None, name: str) -> _Key:
        return (resource_key(resource), (namespace or "") if resource.namespaced else "", name)

    def _stored(self, resource: ResourceInfo, namespace: str | None, name: str) -> JsonObject:
        obj = self._objects.get(self._key(resource, namespace, name))
        if obj is None:
            raise NotFoundError(self._group_resource(resource), name)
        return obj

    def _create(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        self._uids += 1
        suffix = meta.random_name_suffix(self._random.randrange)
        prepared = meta.prepare_create(
            obj,
            namespace=namespace if resource.namespaced else None,
            now=self._now(),
            new_uid=str(uuid.UUID(int=self._uids)),
            random_suffix=suffix,
        )
        prepared.setdefault("kind", resource.kind)
        prepared.setdefault("apiVersion", resource.api_version)
        name = _name_of(prepared)
        if not name:
            required = field_required("metadata.name", "name or generateName is required")
            raise InvalidError(GroupKind(resource.group, resource.kind), "", [required])
        key = self._key(resource, namespace, name)
        if key in self._objects:
            raise AlreadyExistsError(self._group_resource(resource), name)
        return self._commit(key, "ADDED", prepared, None)

    def _update(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        obj: Mapping[str, Any],
        scope: meta.UpdateScope,
    ) -> JsonObject:
        name = _name_of(obj)
        current = self._stored(resource, namespace, name)
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(self._group_resource(resource), name)
        prepared = meta.prepare_update(current, obj, scope=scope)
        prepared.setdefault("kind", resource.kind)
        prepared.setdefault("apiVersion", resource.api_version)
        if _name_of(prepared) != name:
            invalid = field_invalid("metadata.name", _name_of(prepared), "field is immutable")
            raise InvalidError(GroupKind(resource.group, resource.kind), name, [invalid])
        return self._commit(self._key(resource, namespace, name), "MODIFIED", prepared, current)

    def _commit(
        self, key: _Key, kind: str, obj: JsonObject, previous: JsonObject | None
    ) -> JsonObject:
        self._revision += 1
        stored = meta.with_resource_version(obj, self._revision)
        if kind != "DELETED":
            self._objects[key] = stored
        self._log.append(_Change(self._revision, key, kind, stored, previous))
        self._notify()
        return stored

    def _notify(self) -> None:
        # Wake every waiting watch; each re-reads the log from its own position.
        self._changed.set()
        self._changed = asyncio.Event()

    def _matcher(
        self, resource: ResourceInfo, namespace: str | None, labels: str, fields: str
    ) -> Callable[[Mapping[str, Any]], bool]:
        try:
            label_sel = parse_label_selector(labels)
            field_sel = parse_field_selector(fields)
        except ValueError as error:
            raise BadRequestError(str(error)) from None
        scoped = namespace if resource.namespaced else None

        def matches(obj: Mapping[str, Any]) -> bool:
            obj_meta = obj.get("metadata") or {}
            if scoped and obj_meta.get("namespace") != scoped:
                return False
            if not label_sel.matches(obj_meta.get("labels") or {}):
                return False
            return field_sel.matches(field_set(resource.plural, obj))

        return matches

    def _decode_continue(self, token: str) -> tuple[int, str]:
        try:
            revision, _, start = base64.urlsafe_b64decode(token).decode().partition(":")
            parsed = int(revision)
        except ValueError:
            raise BadRequestError("continue key is not valid: illegal base64 data") from None
        if parsed < self._compacted:
            raise ExpiredError(parsed, self._compacted)
        return parsed, start


def _filtered(change: _Change, matches: Callable[[Mapping[str, Any]], bool]) -> WatchEvent | None:
    """The event a selecting watch sees: leaving the selection is DELETED, entering is ADDED."""
    now = matches(change.object)
    before = change.previous is not None and matches(change.previous)
    if change.type == "DELETED":
        return WatchEvent("DELETED", copy.deepcopy(change.object)) if before else None
    if now:
        return WatchEvent("MODIFIED" if before else "ADDED", copy.deepcopy(change.object))
    if before and change.previous is not None:
        gone = meta.with_resource_version(change.previous, change.revision)
        return WatchEvent("DELETED", gone)
    return None


class FakeClock:
    """A `Clock` whose time moves only when a test calls `advance`; sleepers wake then."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sequence = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._sequence), wakeup))
        await wakeup

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper that is due (they run at the next await)."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wakeup = heapq.heappop(self._sleepers)
            if not wakeup.done():
                wakeup.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending: lets a test wait until its subject is parked."""
        return sum(1 for _, _, wakeup in self._sleepers if not wakeup.done())
