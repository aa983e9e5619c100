"""Generic CRUD over the store for every served resource: the one write path of the API server.

The REST and gRPC front ends decode a request and call one method here; each method reads
what it needs, asks `kubelite.apiserver.strategy` (pure) what to write, and makes one
conditional write, so optimistic concurrency holds across any number of API servers::

    PUT  -> get item -> strategy.prepare_update -> storage.update(key, bytes, item.mod_revision)
              RevisionMismatch: client sent a resourceVersion -> 409 Conflict
                                 it did not                   -> read again and retry

Reads with resourceVersion "0" and every watch are served by the resource's watch cache;
everything else reads the store (linearizable). Storage errors become `ApiError`s here, once.

Every write takes a `strategy.FieldDecoding` (the request's ``fieldValidation``): a body, or a
patched object, loses the fields its kind does not have before anything else looks at it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from kubelite.api import meta, patch
from kubelite.api.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    GroupResource,
    InvalidError,
    NotFoundError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnsupportedMediaError,
    success_status,
)
from kubelite.api.mergekeys import KindKey
from kubelite.api.patcherrors import (
    MalformedPatchError,
    PatchError,
    PatchNotApplicableError,
    TooManyPatchOperationsError,
    UnsupportedPatchTypeError,
)
from kubelite.api.resources import RESOURCES, ResourceInfo
from kubelite.api.validation import invalid
from kubelite.apiserver import strategy
from kubelite.apiserver.codec import (
    collection_prefix,
    decode_object,
    encode_object,
    object_key,
)
from kubelite.apiserver.listing import ListOptions, decode_continue, encode_continue
from kubelite.apiserver.storage import (
    Compacted,
    FutureRevision,
    KeyExists,
    RevisionMismatch,
    Storage,
    StorageError,
    StorageUnavailable,
    StoredItem,
    ValueTooLarge,
)
from kubelite.apiserver.watchcache import CacheWatcher

JsonObject = dict[str, Any]

UPDATE_ATTEMPTS: Final = 16
FRESHNESS_TIMEOUT_S: Final = 3.0
SERVICE_CIDR: Final = ipaddress.ip_network("10.96.0.0/12")
IP_ALLOCATION_KEY: Final = "/registry/ranges/serviceips/"
BOOTSTRAP_NAMESPACES: Final = ("default", "kube-system", "kube-public", "kube-node-lease")


class ContinueExpiredError(ExpiredError):
    def __init__(self) -> None:
        ApiError.__init__(
            self,
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter.",
        )


@dataclass(frozen=True)
class Environment:
    """The impure inputs of a write: the clock, uids and random name suffixes."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_uid: Callable[[], str] = lambda: str(uuid.uuid4())
    random_suffix: Callable[[], str] = lambda: meta.random_name_suffix(secrets.randbelow)
    random_below: Callable[[int], int] = secrets.randbelow


class ResourceCache(Protocol):
    """What the registry needs of a resource's watch cache (`kubelite.apiserver.watchcache`)."""

    @property
    def revision(self) -> int: ...

    async def wait_fresh(self, revision: int, timeout: float) -> bool: ...

    def snapshot(self, key_prefix: str) -> tuple[list[JsonObject], int]: ...

    def lookup(self, key: str) -> JsonObject | None: ...

    async def watch(
        self,
        key_prefix: str,
        start_revision: int | None,
        predicate: Callable[[JsonObject], bool] | None = None,
        *,
        bookmarks: bool = False,
    ) -> CacheWatcher: ...


@dataclass(frozen=True)
class ListResult:
    items: list[JsonObject]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None

    def body(self, info: ResourceInfo) -> JsonObject:
        """The list object the API answers with: ``PodList`` with metadata and ``items``."""
        metadata: JsonObject = {"resourceVersion": self.resource_version}
        if self.continue_token:
            metadata["continue"] = self.continue_token
        if self.remaining is not None:
            metadata["remainingItemCount"] = self.remaining
        return {
            "kind": f"{info.kind}List",
            "apiVersion": info.api_version,
            "metadata": metadata,
            "items": self.items,
        }


@dataclass(frozen=True)
class DeleteResult:
    """`obj` is the deleted object (``gone``) or the object now marked for deletion."""

    obj: JsonObject
    gone: bool


def storage_error(error: StorageError) -> ApiError:
    """The one mapping from storage errors to API errors."""
    if isinstance(error, StorageUnavailable):
        return ServiceUnavailableError(f"the store is unavailable: {error}", retry_after_seconds=1)
    if isinstance(error, ValueTooLarge):
        return RequestTooLargeError("the object is larger than the store accepts (1.5 MiB)")
    if isinstance(error, Compacted):
        return ExpiredError(error.requested, error.compact_revision)
    if isinstance(error, FutureRevision):
        return RequestTimeoutError("Too large resource version", retry_after_seconds=1)
    return ServiceUnavailableError(f"storage error: {error}", retry_after_seconds=1)


def patch_error(error: PatchError, info: ResourceInfo, name: str) -> ApiError:
    """Patch application errors as API errors (table in `kubelite.api.patcherrors`)."""
    if isinstance(error, UnsupportedPatchTypeError):
        return UnsupportedMediaError(error.accepted)
    if isinstance(error, TooManyPatchOperationsError):
        return RequestTooLargeError(str(error))
    if isinstance(error, PatchNotApplicableError):
        cause = invalid("", "", str(error))
        return InvalidError(strategy.group_kind(info), name, [cause])
    if isinstance(error, MalformedPatchError):
        return BadRequestError(str(error))
    return BadRequestError(str(error))


@dataclass
class Registry:
    """CRUD for every resource of `RESOURCES` over one `Storage` (see the module docstring)."""

    storage: Storage
    caches: Mapping[str, ResourceCache] = field(default_factory=dict)
    env: Environment = field(default_factory=Environment)

    # --- helpers ------------------------------------------------------------------------------

    def _cache(self, info: ResourceInfo) -> ResourceCache | None:
        return self.caches.get(info.plural)

    async def _read(self, key: str) -> StoredItem | None:
        try:
            return await self.storage.get(key)
        except StorageError as error:
            raise storage_error(error) from None

    def _key(self, info: ResourceInfo, namespace: str | None, name: str) -> str:
        if not name:
            raise BadRequestError("resource name may not be empty")
        _check_segment("resource name", name)
        return object_key(info.plural, self._namespace(info, namespace), name)

    def _namespace(self, info: ResourceInfo, namespace: str | None) -> str | None:
        """The namespace part of a key: None for cluster-scoped kinds or all namespaces."""
        if not info.namespaced or not namespace:
            return None
        _check_segment("namespace", namespace)
        return namespace

    def _not_found(self, info: ResourceInfo, name: str) -> NotFoundError:
        return NotFoundError(strategy.group_resource(info), name)

    async def _require_namespace(self, namespace: str | None, *, creating: bool) -> None:
        """404 if the namespace does not exist; 403 for a create in a terminating one."""
        if not namespace:
            return
        key = object_key("namespaces", None, namespace)
        # Like upstream's NamespaceLifecycle admission: the watch cache first, the store only
        # when the cache has not seen the namespace (yet): one store round trip per create less.
        cache = self.caches.get("namespaces")
        ns = cache.lookup(key) if cache is not None else None
        if ns is None:
            item = await self._read(key)
            if item is None:
                raise NotFoundError(GroupResource("", "namespaces"), namespace)
            ns = decode_object(item.value, item.mod_revision)
        if creating and (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise ForbiddenError(
                None,
                namespace,
                f"unable to create new content in namespace {namespace} because it is "
                "being terminated",
            )

    # --- reads --------------------------------------------------------------------------------

    async def get(self, info: ResourceInfo, namespace: str | None, name: str) -> JsonObject:
        item = await self._read(self._key(info, namespace, name))
        if item is None:
            raise self._not_found(info, name)
        return decode_object(item.value, item.mod_revision)

    async def list(
        self, info: ResourceInfo, namespace: str | None, options: ListOptions
    ) -> ListResult:
        prefix = collection_prefix(info.plural, self._namespace(info, namespace))
        cache = self._cache(info)
        revision = options.revision
        if cache is not None and not options.continue_token and revision is not None:
            # "0" (any recent state) or N (not older than N): served by the watch cache.
            if revision > 0 and not await cache.wait_fresh(revision, FRESHNESS_TIMEOUT_S):
                raise RequestTimeoutError("Too large resource version", retry_after_seconds=1)
            objects, at = cache.snapshot(prefix)
            items = [obj for obj in objects if options.matches(obj)]
            return ListResult(items, meta.format_resource_version(at))
        return await self._list_from_store(prefix, options)

    async def _list_from_store(self, prefix: str, options: ListOptions) -> ListResult:
        start_key, at = prefix, 0
        if options.continue_token:
            at, start = decode_continue(options.continue_token)
            start_key = prefix + start
        limit = options.limit
        items: list[JsonObject] = []
        page_size = max(limit, 500) if limit else 0
        while True:
            try:
                page = await self.storage.list(
                    prefix, start_key=start_key, limit=page_size, revision=at
                )
            except Compacted:
                if options.continue_token:
                    raise ContinueExpiredError() from None
                raise
            except StorageError as error:
                raise storage_error(error) from None
            at = at or page.revision
            for item in page.items:
                obj = decode_object(item.value, item.mod_revision)
                if not options.matches(obj):
                    continue
                if limit and len(items) == limit:
                    token = encode_continue(at, item.key[len(prefix) :])
                    return ListResult(items, meta.format_resource_version(at), token, None)
                items.append(obj)
            if not page.more or not page.items:
                return ListResult(items, meta.format_resource_version(at))
            start_key = page.items[-1].key + "\x00"

    async def watch(
        self, info: ResourceInfo, namespace: str | None, options: ListOptions
    ) -> CacheWatcher:
        """A watcher on the resource's cache, for HTTP and gRPC watch streams alike."""
        cache = self._cache(info)
        if cache is None:
            raise ServiceUnavailableError(f"no watch cache for {info.plural}", 1)
        return await cache.watch(
            collection_prefix(info.plural, self._namespace(info, namespace)),
            options.revision or None,  # "" and "0": current state first, then changes
            options.matches,
            bookmarks=options.allow_bookmarks,
        )

    # --- create -------------------------------------------------------------------------------

    async def create(
        self,
        info: ResourceInfo,
        namespace: str | None,
        body: object,
        *,
        dry_run: bool = False,
        fields: strategy.FieldDecoding | None = None,
    ) -> JsonObject:
        request = strategy.check_body_type(info, body)
        request = strategy.decode_fields(strategy.kind_key(info), request, _decoding(fields))
        if info.namespaced:
            if not namespace:
                raise BadRequestError(f"a namespace is required to create {info.plural}")
            await self._require_namespace(namespace, creating=True)
        obj = strategy.prepare_create(
            info,
            request,
            namespace=namespace,
            now=self.env.now(),
            new_uid=self.env.new_uid(),
            random_suffix=self.env.random_suffix(),
        )
        name = strategy.name_of(obj)
        key = self._key(info, namespace, name)
        if dry_run:
            return obj
        if info.plural == "services":
            await self._allocate_cluster_ip(info, obj)
        try:
            revision = await self.storage.create(key, encode_object(obj))
        except KeyExists:
            await self._release_cluster_ip(obj)
            raise AlreadyExistsError(strategy.group_resource(info), name) from None
        except StorageError as error:
            raise storage_error(error) from None
        return meta.with_resource_version(obj, revision)

    # --- update, patch ------------------------------------------------------------------------

    async def update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        body: object,
        *,
        scope: strategy.Scope = strategy.Scope.MAIN,
        dry_run: bool = False,
        fields: strategy.FieldDecoding | None = None,
    ) -> tuple[JsonObject, bool]:
        """PUT; returns the stored object and whether it was created (PUT-creates kinds)."""
        request = strategy.check_body_type(info, body)
        request = strategy.decode_fields(strategy.kind_key(info), request, _decoding(fields))
        strategy.check_name_matches(info, request, name)
        key = self._key(info, namespace, name)
        item = await self._read(key)
        if item is None:
            if scope is strategy.Scope.MAIN and strategy.allows_create_on_update(info):
                created = await self.create(info, namespace, request, dry_run=dry_run)
                return created, True
            raise self._not_found(info, name)

        def transform(old: JsonObject) -> JsonObject:
            return self._prepare_update(info, old, request, scope)

        return await self._update_loop(info, key, name, transform, dry_run, first=item), False

    async def patch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        content_type: str | None,
        body: bytes,
        *,
        scope: strategy.Scope = strategy.Scope.MAIN,
        dry_run: bool = False,
        fields: strategy.FieldDecoding | None = None,
    ) -> JsonObject:
        key = self._key(info, namespace, name)
        kind_key: KindKey = strategy.kind_key(info)
        decoding = _decoding(fields)
        body_problems = strategy.patch_problems(content_type, body, decoding)

        def transform(stored: JsonObject) -> JsonObject:
            old = strategy.known_fields_only(kind_key, stored)
            try:
                patched = patch.apply_patch(kind_key, old, body, content_type)
            except PatchError as error:
                raise patch_error(error, info, name) from None
            strategy.check_body_type(info, patched)
            if strategy.name_of(patched) != name:
                raise BadRequestError("the name of an object may not be changed by a patch")
            patched = strategy.decode_patched(kind_key, patched, body_problems, decoding)
            return _unpinned(old, self._prepare_update(info, old, patched, scope))

        return await self._update_loop(info, key, name, transform, dry_run)

    def _prepare_update(
        self, info: ResourceInfo, old: JsonObject, request: JsonObject, scope: strategy.Scope
    ) -> JsonObject:
        if info.plural == "services" and scope is strategy.Scope.MAIN:
            request = _keep_cluster_ip(old, request)
        return strategy.prepare_update(info, old, request, scope=scope)

    async def _update_loop(
        self,
        info: ResourceInfo,
        key: str,
        name: str,
        transform: Callable[[JsonObject], JsonObject],
        dry_run: bool,
        *,
        first: StoredItem | None = None,
    ) -> JsonObject:
        """Read, transform, write conditionally; retry a lost race unless the client pinned RV."""
        item = first
        for _ in range(UPDATE_ATTEMPTS):
            if item is None:
                item = await self._read(key)
            if item is None:
                raise self._not_found(info, name)
            old = decode_object(item.value, item.mod_revision)
            new = transform(old)
            client_rv = (new.get("metadata") or {}).get("resourceVersion")
            pinned = bool(client_rv)
            if pinned and client_rv != old["metadata"]["resourceVersion"]:
                raise ConflictError(strategy.group_resource(info), name)
            if dry_run:
                return meta.with_resource_version(new, item.mod_revision)
            try:
                return await self._write_update(key, item, new)
            except RevisionMismatch:
                if pinned:
                    raise ConflictError(strategy.group_resource(info), name) from None
                item = None
            except StorageError as error:
                raise storage_error(error) from None
        raise ConflictError(strategy.group_resource(info), name, "too many concurrent updates")

    async def _write_update(self, key: str, item: StoredItem, new: JsonObject) -> JsonObject:
        if strategy.should_delete_after_update(new):
            revision = await self.storage.delete(key, item.mod_revision)
            await self._release_cluster_ip(new)
            return meta.with_resource_version(new, revision)
        value = encode_object(new)
        if value == item.value:
            return meta.with_resource_version(new, item.mod_revision)
        revision = await self.storage.update(key, value, item.mod_revision)
        return meta.with_resource_version(new, revision)

    # --- delete -------------------------------------------------------------------------------

    async def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: strategy.DeleteOptions,
    ) -> DeleteResult:
        key = self._key(info, namespace, name)
        for _ in range(UPDATE_ATTEMPTS):
            item = await self._read(key)
            if item is None:
                raise self._not_found(info, name)
            obj = decode_object(item.value, item.mod_revision)
            strategy.check_preconditions(info, obj, options)
            plan = strategy.plan_delete(info, obj, options, self.env.now())
            if options.dry_run:
                return DeleteResult(obj, isinstance(plan, strategy.DeleteNow))
            try:
                if isinstance(plan, strategy.DeleteNow):
                    revision = await self.storage.delete(key, item.mod_revision)
                    await self._release_cluster_ip(obj)
                    return DeleteResult(meta.with_resource_version(obj, revision), True)
                if not plan.changed:
                    return DeleteResult(obj, False)
                value = encode_object(plan.obj)
                revision = await self.storage.update(key, value, item.mod_revision)
                return DeleteResult(meta.with_resource_version(plan.obj, revision), False)
            except RevisionMismatch:
                continue
            except StorageError as error:
                raise storage_error(error) from None
        raise ConflictError(strategy.group_resource(info), name, "too many concurrent updates")

    async def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        list_options: ListOptions,
        options: strategy.DeleteOptions,
    ) -> ListResult:
        listed = await self.list(info, namespace, list_options)
        deleted: list[JsonObject] = []
        for obj in listed.items:
            metadata = obj.get("metadata") or {}
            with contextlib.suppress(NotFoundError):
                result = await self.delete(
                    info, metadata.get("namespace"), str(metadata.get("name")), options
                )
                deleted.append(result.obj)
        return ListResult(deleted, listed.resource_version)

    # --- subresources -------------------------------------------------------------------------

    async def bind(
        self,
        namespace: str,
        pod_name: str,
        body: object,
        *,
        fields: strategy.FieldDecoding | None = None,
    ) -> JsonObject:
        """pods/binding: assign the pod to a node; returns a success Status (201)."""
        body = strategy.decode_fields(strategy.BINDING_KIND, body, _decoding(fields))
        node = strategy.binding_target(body, pod_name)
        info = _pods()
        key = self._key(info, namespace, pod_name)

        def transform(old: JsonObject) -> JsonObject:
            bound = strategy.bind_pod(old, node, self.env.now())
            bound["metadata"].pop("resourceVersion", None)
            return bound

        await self._update_loop(info, key, pod_name, transform, False)
        return success_status(201)

    async def evict(
        self,
        namespace: str,
        pod_name: str,
        body: object,
        *,
        fields: strategy.FieldDecoding | None = None,
    ) -> JsonObject:
        """pods/eviction: a graceful delete honouring the eviction's deleteOptions (201 Status)."""
        if body is not None and not isinstance(body, dict):
            raise BadRequestError("the body of an eviction must be an Eviction object")
        eviction = strategy.decode_fields(strategy.EVICTION_KIND, body, _decoding(fields))
        delete_options = (eviction or {}).get("deleteOptions")
        options = strategy.parse_delete_options(delete_options, {})
        await self.delete(_pods(), namespace, pod_name, options)
        return success_status(201)

    async def get_scale(self, info: ResourceInfo, namespace: str | None, name: str) -> JsonObject:
        return strategy.scale_of(await self.get(info, namespace, name))

    async def update_scale(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        scale: object,
        *,
        dry_run: bool = False,
        fields: strategy.FieldDecoding | None = None,
    ) -> JsonObject:
        key = self._key(info, namespace, name)
        scale = strategy.decode_fields(strategy.SCALE_KIND, scale, _decoding(fields))

        def transform(old: JsonObject) -> JsonObject:
            scaled = strategy.apply_scale(info, old, scale)
            return strategy.prepare_update(info, old, scaled)

        return strategy.scale_of(await self._update_loop(info, key, name, transform, dry_run))

    async def patch_scale(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        content_type: str | None,
        body: bytes,
        *,
        dry_run: bool = False,
        fields: strategy.FieldDecoding | None = None,
    ) -> JsonObject:
        key = self._key(info, namespace, name)
        scale_key = strategy.SCALE_KIND
        decoding = _decoding(fields)
        body_problems = strategy.patch_problems(content_type, body, decoding)

        def transform(old: JsonObject) -> JsonObject:
            try:
                scale = patch.apply_patch(scale_key, strategy.scale_of(old), body, content_type)
            except PatchError as error:
                raise patch_error(error, info, name) from None
            scale = strategy.decode_patched(scale_key, scale, body_problems, decoding)
            scaled = strategy.apply_scale(info, old, scale)
            return _unpinned(old, strategy.prepare_update(info, old, scaled))

        return strategy.scale_of(await self._update_loop(info, key, name, transform, dry_run))

    async def finalize_namespace(
        self, name: str, body: object, *, fields: strategy.FieldDecoding | None = None
    ) -> JsonObject:
        """``namespaces/{n}/finalize``; a terminating namespace left with no finalizers goes."""
        info = RESOURCES.lookup("", "v1", "namespaces")
        assert info is not None
        body = strategy.decode_fields(strategy.kind_key(info), body, _decoding(fields))

        def transform(old: JsonObject) -> JsonObject:
            return strategy.prepare_update(info, old, strategy.finalize_namespace(old, body))

        return await self._update_loop(info, self._key(info, None, name), name, transform, False)

    # --- services: cluster IPs ----------------------------------------------------------------

    async def _claim_ip(self, ip: str) -> bool:
        try:
            await self.storage.create(IP_ALLOCATION_KEY + ip, b"")
        except KeyExists:
            return False
        except StorageError as error:
            raise storage_error(error) from None
        return True

    async def _allocate_cluster_ip(self, info: ResourceInfo, obj: JsonObject) -> None:
        """Claim spec.clusterIP (or a free one) under a store key, so replicas never collide."""
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        wanted = spec.get("clusterIP")
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
            return
        if wanted:
            if not await self._claim_ip(str(wanted)):
                error = invalid("spec.clusterIPs", [wanted], "provided IP is already allocated")
                raise InvalidError(strategy.group_kind(info), strategy.name_of(obj), [error])
        else:
            size = SERVICE_CIDR.num_addresses
            for _ in range(64):
                candidate = str(SERVICE_CIDR[2 + self.env.random_below(size - 3)])
                if await self._claim_ip(candidate):
                    wanted = candidate
                    break
            else:
                raise ServiceUnavailableError("no free service IP could be allocated")
        spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    async def _release_cluster_ip(self, obj: JsonObject) -> None:
        if obj.get("kind") != "Service":
            return
        ip = (obj.get("spec") or {}).get("clusterIP")
        if not ip or ip == "None":
            return
        key = IP_ALLOCATION_KEY + str(ip)
        with contextlib.suppress(StorageError):
            item = await self.storage.get(key)
            if item is not None:
                await self.storage.delete(key, item.mod_revision)

    # --- bootstrap ----------------------------------------------------------------------------

    async def ensure_namespaces(self, names: tuple[str, ...] = BOOTSTRAP_NAMESPACES) -> None:
        """Create the namespaces every cluster has; a replica that loses the race is fine."""
        info = RESOURCES.lookup("", "v1", "namespaces")
        assert info is not None
        for name in names:
            with contextlib.suppress(AlreadyExistsError):
                await self.create(info, None, {"metadata": {"name": name}})


def _decoding(fields: strategy.FieldDecoding | None) -> strategy.FieldDecoding:
    """A write's field decoding; callers that name none get Ignore (unknown fields are still
    dropped, silently): the gRPC service, bootstrap and tests."""
    return fields if fields is not None else strategy.FieldDecoding()


def _check_segment(what: str, value: str) -> None:
    """A name or namespace becomes one key segment: it must not reach into other keys."""
    if "/" in value or value in (".", ".."):
        raise BadRequestError(f"invalid {what} {value!r}: may not contain '/'")


def _pods() -> ResourceInfo:
    info = RESOURCES.lookup("", "v1", "pods")
    assert info is not None
    return info


def _unpinned(old: JsonObject, new: JsonObject) -> JsonObject:
    """`new` without the resourceVersion a patch result inherits from the stored `old`.

    Only a resourceVersion the patch itself sets is a precondition; the inherited one would
    turn a lost race into a 409 instead of a retry. A patch that sent the then-current one
    still gets its 409 if it loses: the retry applies it to a newer `old`.
    """
    metadata = new.get("metadata") or {}
    if metadata.get("resourceVersion") == (old.get("metadata") or {}).get("resourceVersion"):
        metadata.pop("resourceVersion", None)
    return new


def _keep_cluster_ip(old: JsonObject, request: JsonObject) -> JsonObject:
    """An update that leaves clusterIP empty keeps the allocated one (upstream behaviour)."""
    spec = request.get("spec")
    old_spec = old.get("spec") or {}
    if not isinstance(spec, dict) or spec.get("clusterIP") or not old_spec.get("clusterIP"):
        return request
    patched = {**request, "spec": {**spec}}
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if key in old_spec and key not in spec:
            patched["spec"][key] = old_spec[key]
    return patched
