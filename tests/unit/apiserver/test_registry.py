"""The registry's write path over the in-memory storage: every verb without a server.

Each test builds a `Registry` over `support.memstorage.MemStorage` with a fixed clock, counted
uids and scripted random picks, so stored objects are exact. Two storage doubles add what
MemStorage leaves out on purpose:

- `RacingStorage`: a rival writer gets in just before the next conditional write (a lost
  race, deterministically);
- `YieldingStorage`: every read lets the other tasks run before the reader continues, so N
  concurrent read-modify-write requests all read the same revision.

The pure decisions (defaults, scopes, delete plans) are specified in test_strategy.py; here
we check what reaches the store: keys, revisions, and which writes happen at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

import pytest
from support.memstorage import MemStorage

from kubelite.api.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnsupportedMediaError,
)
from kubelite.api.meta import format_time, parse_time
from kubelite.api.resources import RESOURCES, ResourceInfo
from kubelite.apiserver.codec import decode_object, encode_object
from kubelite.apiserver.listing import ListOptions, parse_list_options
from kubelite.apiserver.registry import (
    BOOTSTRAP_NAMESPACES,
    IP_ALLOCATION_KEY,
    SERVICE_CIDR,
    Environment,
    Registry,
    storage_error,
)
from kubelite.apiserver.storage import (
    Compacted,
    FutureRevision,
    StorageError,
    StorageUnavailable,
    StoredItem,
    ValueTooLarge,
)
from kubelite.apiserver.strategy import DeleteOptions, Scope
from kubelite.apiserver.watchcache import WatchCache

Json = dict[str, Any]

NOW = parse_time("2024-01-01T12:00:00Z")
SUFFIX = "x2k8q"
TIMEOUT = 5.0
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _info(group: str, plural: str) -> ResourceInfo:
    info = RESOURCES.lookup(group, "v1", plural)
    assert info is not None, (group, plural)
    return info


PODS = _info("", "pods")
NAMESPACES = _info("", "namespaces")
SERVICES = _info("", "services")
CONFIGMAPS = _info("", "configmaps")
SECRETS = _info("", "secrets")
EVENTS = _info("", "events")
ENDPOINTS = _info("", "endpoints")
DEPLOYMENTS = _info("apps", "deployments")
LEASES = _info("coordination.k8s.io", "leases")


# --- deterministic environment and storage doubles --------------------------------------------


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def environment(below: Iterable[int] | None = None) -> Environment:
    """Fixed clock, uids ``uid(1), uid(2), …``, suffix `SUFFIX`, and scripted random picks
    (``0, 1, 2, …`` unless `below` says otherwise)."""
    uids = (uid(n) for n in itertools.count(1))
    picks = iter(below) if below is not None else itertools.count()
    return Environment(
        now=lambda: NOW,
        new_uid=lambda: next(uids),
        random_suffix=lambda: SUFFIX,
        random_below=lambda n: next(picks) % n,
    )


class RacingStorage(MemStorage):
    """A rival writer puts its object just before the next conditional update or delete."""

    def __init__(self) -> None:
        super().__init__()
        self._rival: tuple[str, bytes] | None = None
        self.conditional_writes = 0

    def race_next_write(self, key: str, obj: Json) -> None:
        self._rival = (key, encode_object(obj))

    async def _let_rival_in(self) -> None:
        self.conditional_writes += 1
        if self._rival is not None:
            (key, value), self._rival = self._rival, None
            await self.put(key, value)

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        await self._let_rival_in()
        return await super().update(key, value, expected_mod_revision)

    async def delete(self, key: str, expected_mod_revision: int) -> int:
        await self._let_rival_in()
        return await super().delete(key, expected_mod_revision)


class YieldingStorage(MemStorage):
    """Reads and creates yield to the event loop once, so concurrent requests interleave:
    every reader sees the state before any of them writes, and creates meet in the store."""

    async def get(self, key: str) -> StoredItem | None:
        item = await super().get(key)
        await asyncio.sleep(0)  # a scheduling point, not a wait
        return item

    async def create(self, key: str, value: bytes) -> int:
        await asyncio.sleep(0)
        return await super().create(key, value)


async def new_registry(storage: MemStorage, **kwargs: Any) -> Registry:
    registry = Registry(storage, env=environment(**kwargs))
    await registry.ensure_namespaces((*BOOTSTRAP_NAMESPACES, "other"))
    return registry


@pytest.fixture
def storage() -> MemStorage:
    return MemStorage()


@pytest.fixture
async def registry(storage: MemStorage) -> Registry:
    return await new_registry(storage)


# --- request bodies and small helpers ----------------------------------------------------------


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> Json:
    metadata: Json = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def pod(name: str = "web", node: str | None = None) -> Json:
    spec: Json = {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


def service(name: str = "web", cluster_ip: str | None = None) -> Json:
    spec: Json = {"selector": {"app": name}, "ports": [{"port": 80}]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"name": name}, "spec": spec}


def deployment(name: str = "web", **spec: Any) -> Json:
    labels = {"app": name}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": template, **spec},
    }


def options(resource: str = "configmaps", **query: str) -> ListOptions:
    return parse_list_options(resource, query)


def names(objects: Iterable[Json]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


def rv(obj: Json) -> int:
    return int(obj["metadata"]["resourceVersion"])


def ts(seconds: float = 0) -> str:
    return format_time(NOW + timedelta(seconds=seconds))


async def stored(storage: MemStorage, key: str) -> Json | None:
    """The object at `key` exactly as the store holds it, or None."""
    item = await storage.get(key)
    return None if item is None else decode_object(item.value, item.mod_revision)


async def configmaps_in(registry: Registry, namespace: str | None = "default") -> list[str]:
    return names((await registry.list(CONFIGMAPS, namespace, options())).items)


# --- ensure_namespaces --------------------------------------------------------------------------


async def test_ensure_namespaces_creates_each_bootstrap_namespace_once(storage: MemStorage) -> None:
    registry = Registry(storage, env=environment())
    await registry.ensure_namespaces()
    after_first = storage.revision
    await registry.ensure_namespaces()

    assert storage.revision == after_first == 1 + len(BOOTSTRAP_NAMESPACES)
    listed = await registry.list(NAMESPACES, None, options("namespaces"))
    assert names(listed.items) == sorted(BOOTSTRAP_NAMESPACES)
    for ns in listed.items:
        assert ns["status"] == {"phase": "Active"}
        assert ns["spec"] == {"finalizers": ["kubernetes"]}


async def test_two_registries_racing_on_one_store_create_each_namespace_once() -> None:
    storage = YieldingStorage()
    first = Registry(storage, env=environment())
    second = Registry(storage, env=environment())

    await asyncio.gather(first.ensure_namespaces(), second.ensure_namespaces())

    assert storage.revision == 1 + len(BOOTSTRAP_NAMESPACES)
    assert sorted(e.key.rsplit("/", 1)[1] for e in storage.history) == sorted(BOOTSTRAP_NAMESPACES)


# --- create -------------------------------------------------------------------------------------


async def test_create_returns_the_stored_object_with_server_owned_metadata(
    registry: Registry, storage: MemStorage
) -> None:
    created = await registry.create(CONFIGMAPS, "default", configmap("app", a="1"))

    assert created["metadata"] == {
        "name": "app",
        "namespace": "default",
        "uid": uid(6),  # five namespaces came first
        "creationTimestamp": "2024-01-01T12:00:00Z",
        "generation": 1,
        "resourceVersion": str(storage.revision),
    }
    assert await stored(storage, "/registry/configmaps/default/app") == created
    assert await registry.get(CONFIGMAPS, "default", "app") == created


async def test_create_ignores_client_owned_fields_it_must_set_itself(registry: Registry) -> None:
    body = configmap("app")
    body["metadata"].update(uid="mine", resourceVersion="99", generation=7)

    created = await registry.create(CONFIGMAPS, "default", body)

    assert created["metadata"]["uid"] == uid(6)
    assert created["metadata"]["generation"] == 1
    assert rv(created) != 99


@pytest.mark.parametrize(
    ("info", "namespace", "body", "path", "expected"),
    [
        pytest.param(PODS, "default", pod(), "spec.restartPolicy", "Always", id="pod-restart"),
        pytest.param(PODS, "default", pod(), "status.phase", "Pending", id="pod-phase"),
        pytest.param(DEPLOYMENTS, "default", deployment(), "spec.replicas", 1, id="replicas"),
        pytest.param(SERVICES, "default", service(), "spec.type", "ClusterIP", id="svc-type"),
        pytest.param(
            NAMESPACES, None, {"metadata": {"name": "x"}}, "status.phase", "Active", id="ns-phase"
        ),
    ],
)
async def test_create_applies_defaults(
    registry: Registry,
    info: ResourceInfo,
    namespace: str | None,
    body: Json,
    path: str,
    expected: object,
) -> None:
    created = await registry.create(info, namespace, body)

    value: Any = created
    for part in path.split("."):
        value = value[part]
    assert value == expected
    assert await registry.get(info, namespace, created["metadata"]["name"]) == created


async def test_generate_name_appends_the_random_suffix(registry: Registry) -> None:
    created = await registry.create(CONFIGMAPS, "default", {"metadata": {"generateName": "web-"}})

    assert created["metadata"]["name"] == f"web-{SUFFIX}"
    assert await registry.get(CONFIGMAPS, "default", f"web-{SUFFIX}") == created


@pytest.mark.parametrize(
    ("namespace", "error", "message"),
    [
        pytest.param(
            "default", AlreadyExistsError, 'configmaps "taken" already exists', id="exists"
        ),
        pytest.param("nowhere", NotFoundError, 'namespaces "nowhere" not found', id="no-namespace"),
        pytest.param(
            "doomed",
            ForbiddenError,
            "forbidden: unable to create new content in namespace doomed because it is being "
            "terminated",
            id="terminating-namespace",
        ),
    ],
)
async def test_create_refusals_write_nothing(
    registry: Registry,
    storage: MemStorage,
    namespace: str,
    error: type[ApiError],
    message: str,
) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("taken"))
    await registry.create(NAMESPACES, None, {"metadata": {"name": "doomed"}})
    await registry.delete(NAMESPACES, None, "doomed", DeleteOptions())
    before = storage.revision

    with pytest.raises(error) as raised:
        await registry.create(CONFIGMAPS, namespace, configmap("taken"))

    assert raised.value.message == message
    assert storage.revision == before


async def test_create_of_an_invalid_object_is_422(registry: Registry, storage: MemStorage) -> None:
    before = storage.revision
    with pytest.raises(InvalidError):
        await registry.create(PODS, "default", {"metadata": {"name": "web"}, "spec": {}})
    assert storage.revision == before


async def test_dry_run_create_returns_the_object_and_persists_nothing(
    registry: Registry, storage: MemStorage
) -> None:
    before = storage.revision

    would_be = await registry.create(PODS, "default", pod(), dry_run=True)

    assert would_be["metadata"]["name"] == "web"
    assert would_be["spec"]["restartPolicy"] == "Always"
    assert storage.revision == before
    with pytest.raises(NotFoundError):
        await registry.get(PODS, "default", "web")


# --- services: cluster IPs ---------------------------------------------------------------------


def ip_key(ip: str) -> str:
    return IP_ALLOCATION_KEY + ip


async def test_service_gets_a_cluster_ip_claimed_under_the_range_key(storage: MemStorage) -> None:
    registry = await new_registry(storage, below=[1000])

    created = await registry.create(SERVICES, "default", service())

    ip = created["spec"]["clusterIP"]
    assert ip == str(SERVICE_CIDR[2 + 1000])
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    assert created["spec"]["clusterIPs"] == [ip]
    assert await storage.get(ip_key(ip)) is not None


async def test_allocation_draws_again_when_the_ip_is_taken(storage: MemStorage) -> None:
    registry = await new_registry(storage, below=[5, 5, 5, 9])
    first = await registry.create(SERVICES, "default", service("a"))

    second = await registry.create(SERVICES, "default", service("b"))

    assert first["spec"]["clusterIP"] == str(SERVICE_CIDR[2 + 5])
    assert second["spec"]["clusterIP"] == str(SERVICE_CIDR[2 + 9])


async def test_requested_cluster_ip_is_claimed(registry: Registry, storage: MemStorage) -> None:
    created = await registry.create(SERVICES, "default", service(cluster_ip="10.96.0.10"))

    assert created["spec"]["clusterIP"] == "10.96.0.10"
    assert await storage.get(ip_key("10.96.0.10")) is not None


async def test_requested_cluster_ip_already_taken_is_invalid(
    registry: Registry, storage: MemStorage
) -> None:
    await registry.create(SERVICES, "default", service("a", cluster_ip="10.96.0.10"))
    before = storage.revision

    with pytest.raises(InvalidError) as raised:
        await registry.create(SERVICES, "default", service("b", cluster_ip="10.96.0.10"))

    assert "provided IP is already allocated" in raised.value.message
    assert storage.revision == before
    assert (await registry.get(SERVICES, "default", "a"))["spec"]["clusterIP"] == "10.96.0.10"


async def test_headless_service_claims_no_ip(registry: Registry, storage: MemStorage) -> None:
    created = await registry.create(SERVICES, "default", service(cluster_ip="None"))

    assert created["spec"]["clusterIP"] == "None"
    assert created["spec"]["clusterIPs"] == ["None"]
    ranges = await storage.list(IP_ALLOCATION_KEY)
    assert ranges.items == ()


async def test_delete_releases_the_ip_for_the_next_service(
    registry: Registry, storage: MemStorage
) -> None:
    await registry.create(SERVICES, "default", service("a", cluster_ip="10.96.0.10"))

    result = await registry.delete(SERVICES, "default", "a", DeleteOptions())

    assert result.gone
    assert await storage.get(ip_key("10.96.0.10")) is None
    again = await registry.create(SERVICES, "default", service("b", cluster_ip="10.96.0.10"))
    assert again["spec"]["clusterIP"] == "10.96.0.10"


async def test_a_create_that_finds_the_name_taken_releases_the_ip_it_claimed(
    registry: Registry, storage: MemStorage
) -> None:
    await registry.create(SERVICES, "default", service("a", cluster_ip="10.96.0.10"))

    with pytest.raises(AlreadyExistsError):
        await registry.create(SERVICES, "default", service("a", cluster_ip="10.96.0.20"))

    assert await storage.get(ip_key("10.96.0.20")) is None
    assert await storage.get(ip_key("10.96.0.10")) is not None


async def test_a_service_removed_by_its_last_finalizer_releases_its_ip(
    registry: Registry, storage: MemStorage
) -> None:
    body = service("a", cluster_ip="10.96.0.10")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await registry.create(SERVICES, "default", body)
    marked = (await registry.delete(SERVICES, "default", "a", DeleteOptions())).obj

    marked["metadata"]["finalizers"] = []
    await registry.update(SERVICES, "default", "a", marked)

    with pytest.raises(NotFoundError):
        await registry.get(SERVICES, "default", "a")
    assert await storage.get(ip_key("10.96.0.10")) is None


async def test_an_update_that_omits_cluster_ip_keeps_the_allocated_one(
    registry: Registry,
) -> None:
    created = await registry.create(SERVICES, "default", service(cluster_ip="10.96.0.10"))
    body = service()
    body["metadata"]["labels"] = {"tier": "front"}

    updated, _ = await registry.update(SERVICES, "default", "web", body)

    assert updated["spec"]["clusterIP"] == "10.96.0.10"
    assert updated["spec"]["clusterIPs"] == created["spec"]["clusterIPs"]


# --- get ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "namespace", "name", "message"),
    [
        pytest.param(CONFIGMAPS, "default", "nope", 'configmaps "nope" not found', id="missing"),
        pytest.param(CONFIGMAPS, "other", "app", 'configmaps "app" not found', id="other-ns"),
        pytest.param(
            DEPLOYMENTS, "default", "app", 'deployments.apps "app" not found', id="grouped"
        ),
    ],
)
async def test_get_of_a_missing_object_is_404(
    registry: Registry, info: ResourceInfo, namespace: str, name: str, message: str
) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("app"))

    with pytest.raises(NotFoundError) as raised:
        await registry.get(info, namespace, name)

    assert raised.value.code == 404
    assert raised.value.message == message


@pytest.mark.parametrize("name", ["", "a/b", ".."], ids=["empty", "slash", "dotdot"])
async def test_a_name_that_cannot_be_a_key_is_400(registry: Registry, name: str) -> None:
    with pytest.raises(BadRequestError):
        await registry.get(CONFIGMAPS, "default", name)


# --- list ---------------------------------------------------------------------------------------


@pytest.fixture
async def labelled(registry: Registry) -> Registry:
    """a, b (app=web), c (app=db) in default; d (app=web) in other."""
    for namespace, name, app in [
        ("default", "a", "web"),
        ("default", "b", "web"),
        ("default", "c", "db"),
        ("other", "d", "web"),
    ]:
        await registry.create(CONFIGMAPS, namespace, configmap(name, {"app": app}))
    return registry


@pytest.mark.parametrize(
    ("namespace", "query", "expected"),
    [
        pytest.param("default", {}, ["a", "b", "c"], id="one-namespace"),
        pytest.param("other", {}, ["d"], id="other-namespace"),
        pytest.param("kube-system", {}, [], id="empty-namespace"),
        pytest.param(None, {}, ["a", "b", "c", "d"], id="all-namespaces"),
        pytest.param("default", {"labelSelector": "app=web"}, ["a", "b"], id="label-eq"),
        pytest.param("default", {"labelSelector": "app!=web"}, ["c"], id="label-ne"),
        pytest.param(None, {"labelSelector": "app in (db,x)"}, ["c"], id="label-in"),
        pytest.param(None, {"labelSelector": "!app"}, [], id="label-absent"),
        pytest.param("default", {"fieldSelector": "metadata.name=b"}, ["b"], id="field-name"),
        pytest.param(
            None, {"fieldSelector": "metadata.namespace!=default"}, ["d"], id="field-namespace"
        ),
        pytest.param(
            None,
            {"labelSelector": "app=web", "fieldSelector": "metadata.name!=a"},
            ["b", "d"],
            id="both",
        ),
    ],
)
async def test_list_by_namespace_and_selectors(
    labelled: Registry,
    storage: MemStorage,
    namespace: str | None,
    query: dict[str, str],
    expected: list[str],
) -> None:
    result = await labelled.list(CONFIGMAPS, namespace, options(**query))

    assert names(result.items) == expected
    assert result.resource_version == str(storage.revision)
    assert result.continue_token == ""


async def test_list_pages_are_read_at_the_first_pages_revision(
    registry: Registry, storage: MemStorage
) -> None:
    for name in "abcde":
        await registry.create(CONFIGMAPS, "default", configmap(name, v="old"))

    first = await registry.list(CONFIGMAPS, "default", options(limit="2"))
    await registry.delete(CONFIGMAPS, "default", "c", DeleteOptions())
    await registry.create(CONFIGMAPS, "default", configmap("bb"))
    await registry.update(CONFIGMAPS, "default", "d", configmap("d", v="new"))
    second = await registry.list(
        CONFIGMAPS, "default", options(limit="2", **{"continue": first.continue_token})
    )
    third = await registry.list(
        CONFIGMAPS, "default", options(limit="2", **{"continue": second.continue_token})
    )

    assert [names(p.items) for p in (first, second, third)] == [["a", "b"], ["c", "d"], ["e"]]
    assert second.items[1]["data"] == {"v": "old"}
    assert first.resource_version == second.resource_version == third.resource_version
    assert first.continue_token and second.continue_token and third.continue_token == ""
    assert await configmaps_in(registry) == ["a", "b", "bb", "d", "e"]


async def test_limit_counts_only_matching_objects(labelled: Registry) -> None:
    first = await labelled.list(CONFIGMAPS, None, options(limit="1", labelSelector="app=web"))
    rest = await labelled.list(
        CONFIGMAPS,
        None,
        options(limit="5", labelSelector="app=web", **{"continue": first.continue_token}),
    )

    assert names(first.items) == ["a"]
    assert names(rest.items) == ["b", "d"]
    assert rest.continue_token == ""


async def test_a_limit_that_ends_exactly_at_the_last_match_gives_no_continue(
    labelled: Registry,
) -> None:
    result = await labelled.list(CONFIGMAPS, "default", options(limit="3"))

    assert names(result.items) == ["a", "b", "c"]
    assert result.continue_token == ""


async def test_continue_after_compaction_is_410_expired(
    registry: Registry, storage: MemStorage
) -> None:
    for name in "abc":
        await registry.create(CONFIGMAPS, "default", configmap(name))
    first = await registry.list(CONFIGMAPS, "default", options(limit="1"))
    await registry.update(CONFIGMAPS, "default", "c", configmap("c", v="2"))
    await storage.compact(storage.revision)

    with pytest.raises(ExpiredError) as raised:
        await registry.list(CONFIGMAPS, "default", options(**{"continue": first.continue_token}))

    assert raised.value.code == 410
    assert "continue parameter is too old" in raised.value.message


@pytest.fixture
async def cache(registry: Registry, storage: MemStorage) -> AsyncIterator[WatchCache]:
    async with WatchCache(storage, "/registry/configmaps/") as started:
        assert await started.wait_synced(TIMEOUT), "the configmaps cache never listed"
        yield started


@pytest.fixture
def cached(registry: Registry, cache: WatchCache) -> Registry:
    """A registry over the same storage whose configmaps lists at RV="0" use `cache`."""
    return Registry(registry.storage, {"configmaps": cache}, registry.env)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "store"])
async def test_rv_0_lists_come_from_the_cache_when_there_is_one(
    registry: Registry,
    cached: Registry,
    cache: WatchCache,
    storage: MemStorage,
    use_cache: bool,
) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("a", {"app": "web"}))
    await registry.create(CONFIGMAPS, "default", configmap("b", {"app": "db"}))
    assert await cache.wait_fresh(storage.revision, TIMEOUT), f"cache at {cache.revision}"
    storage.fail_next("list", StorageUnavailable("the store is down"))
    query = options(resourceVersion="0", labelSelector="app=web")

    if use_cache:
        result = await cached.list(CONFIGMAPS, "default", query)
        assert names(result.items) == ["a"]
        assert result.resource_version == str(cache.revision)
    # Without a cache the store answers RV="0" lists; with one, the store was never asked, so
    # the failure is still pending for this uncached list.
    with pytest.raises(ServiceUnavailableError):
        await registry.list(CONFIGMAPS, "default", query)


async def test_a_cached_list_without_rv_still_reads_the_store(
    cached: Registry, storage: MemStorage
) -> None:
    storage.fail_next("list", StorageUnavailable("the store is down"))

    with pytest.raises(ServiceUnavailableError):
        await cached.list(CONFIGMAPS, "default", options())


async def test_a_cached_list_at_rv_n_waits_until_the_cache_has_n(
    registry: Registry, cached: Registry, storage: MemStorage
) -> None:
    created = await registry.create(CONFIGMAPS, "default", configmap("fresh"))

    result = await cached.list(CONFIGMAPS, "default", options(resourceVersion=str(rv(created))))

    assert names(result.items) == ["fresh"]
    assert int(result.resource_version) >= rv(created)


@pytest.mark.parametrize("cached_namespace", [True, False], ids=["in-cache", "not-yet-cached"])
async def test_a_create_checks_its_namespace_in_the_cache_first(
    registry: Registry, storage: MemStorage, cached_namespace: bool
) -> None:
    async with WatchCache(storage, "/registry/namespaces/") as namespaces:
        assert await namespaces.wait_fresh(storage.revision, TIMEOUT), "namespaces never listed"
        with_cache = Registry(registry.storage, {"namespaces": namespaces}, registry.env)
        if not cached_namespace:
            with_cache = Registry(registry.storage, {}, registry.env)
        storage.fail_next("get", StorageUnavailable("the store is down"))

        if cached_namespace:
            created = await with_cache.create(CONFIGMAPS, "default", configmap("c"))
            assert created["metadata"]["namespace"] == "default"
        else:
            with pytest.raises(ServiceUnavailableError):
                await with_cache.create(CONFIGMAPS, "default", configmap("c"))


# --- update -------------------------------------------------------------------------------------


async def test_update_with_a_stale_resource_version_is_409(
    registry: Registry, storage: MemStorage
) -> None:
    created = await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    await registry.update(CONFIGMAPS, "default", "app", configmap("app", v="2"))
    before = storage.revision

    body = configmap("app", v="3")
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]

    with pytest.raises(ConflictError) as raised:
        await registry.update(CONFIGMAPS, "default", "app", body)

    assert raised.value.message == (
        'Operation cannot be fulfilled on configmaps "app": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert storage.revision == before


async def test_update_without_resource_version_is_retried_after_a_lost_race() -> None:
    storage = RacingStorage()
    registry = await new_registry(storage)
    await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    rival = await registry.get(CONFIGMAPS, "default", "app")
    rival["data"] = {"v": "rival"}
    storage.race_next_write("/registry/configmaps/default/app", rival)
    writes_before = storage.conditional_writes

    updated, created = await registry.update(CONFIGMAPS, "default", "app", configmap("app", v="2"))

    assert not created
    assert storage.conditional_writes - writes_before == 2
    assert updated["data"] == {"v": "2"}
    assert rv(updated) == storage.revision
    assert await stored(storage, "/registry/configmaps/default/app") == updated


async def test_update_with_resource_version_that_loses_a_race_is_409() -> None:
    storage = RacingStorage()
    registry = await new_registry(storage)
    current = await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    storage.race_next_write("/registry/configmaps/default/app", {**current, "data": {"v": "r"}})
    body = configmap("app", v="2")
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]

    with pytest.raises(ConflictError):
        await registry.update(CONFIGMAPS, "default", "app", body)

    assert (await registry.get(CONFIGMAPS, "default", "app"))["data"] == {"v": "r"}


async def test_an_unchanged_update_writes_no_new_revision(
    registry: Registry, storage: MemStorage
) -> None:
    current = await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    before = storage.revision

    updated, _ = await registry.update(CONFIGMAPS, "default", "app", current)

    assert storage.revision == before
    assert updated == current


@pytest.mark.parametrize(
    ("scope", "replicas", "status_replicas", "generation"),
    [
        pytest.param(Scope.MAIN, 3, 0, 2, id="main-keeps-status"),
        pytest.param(Scope.STATUS, 1, 3, 1, id="status-keeps-spec"),
    ],
)
async def test_update_scopes(
    registry: Registry,
    scope: Scope,
    replicas: int,
    status_replicas: int,
    generation: int,
) -> None:
    current = await registry.create(DEPLOYMENTS, "default", deployment())
    current["status"] = {"replicas": 0}
    current, _ = await registry.update(DEPLOYMENTS, "default", "web", current, scope=Scope.STATUS)
    body = {**current, "spec": {**current["spec"], "replicas": 3}, "status": {"replicas": 3}}
    body["metadata"] = {**body["metadata"], "labels": {"app": "web", "changed": "yes"}}

    updated, _ = await registry.update(DEPLOYMENTS, "default", "web", body, scope=scope)

    assert updated["spec"]["replicas"] == replicas
    assert updated["status"]["replicas"] == status_replicas
    assert updated["metadata"]["generation"] == generation
    changed_labels = updated["metadata"]["labels"].get("changed")
    assert changed_labels == ("yes" if scope is Scope.MAIN else None)
    assert await registry.get(DEPLOYMENTS, "default", "web") == updated


async def test_a_metadata_only_update_keeps_the_generation(registry: Registry) -> None:
    current = await registry.create(DEPLOYMENTS, "default", deployment())
    current["metadata"]["annotations"] = {"note": "x"}

    updated, _ = await registry.update(DEPLOYMENTS, "default", "web", current)

    assert updated["metadata"]["generation"] == 1
    assert rv(updated) > rv(current)


@pytest.mark.parametrize(
    ("info", "body"),
    [
        pytest.param(
            LEASES, {"metadata": {"name": "x"}, "spec": {"holderIdentity": "a"}}, id="lease"
        ),
        pytest.param(ENDPOINTS, {"metadata": {"name": "x"}}, id="endpoints"),
        pytest.param(
            EVENTS,
            {"metadata": {"name": "x"}, "involvedObject": {"kind": "Pod", "name": "p"}},
            id="event",
        ),
    ],
)
async def test_put_creates_a_missing_object_of_some_kinds(
    registry: Registry, storage: MemStorage, info: ResourceInfo, body: Json
) -> None:
    obj, created = await registry.update(info, "default", "x", body)

    assert created
    assert rv(obj) == storage.revision
    assert obj["metadata"]["uid"]
    assert await registry.get(info, "default", "x") == obj


@pytest.mark.parametrize(
    ("info", "body", "scope"),
    [
        pytest.param(CONFIGMAPS, configmap("x"), Scope.MAIN, id="configmap"),
        pytest.param(PODS, pod("x"), Scope.MAIN, id="pod"),
        pytest.param(PODS, pod("x"), Scope.STATUS, id="pod-status"),
    ],
)
async def test_put_of_a_missing_object_of_other_kinds_is_404(
    registry: Registry, storage: MemStorage, info: ResourceInfo, body: Json, scope: Scope
) -> None:
    before = storage.revision

    with pytest.raises(NotFoundError):
        await registry.update(info, "default", "x", body, scope=scope)

    assert storage.revision == before


async def test_put_with_another_name_in_the_body_is_400(registry: Registry) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("app"))

    with pytest.raises(BadRequestError, match="does not match the name on the URL"):
        await registry.update(CONFIGMAPS, "default", "app", configmap("other"))


async def test_dry_run_update_persists_nothing(registry: Registry, storage: MemStorage) -> None:
    current = await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    before = storage.revision

    would_be, _ = await registry.update(
        CONFIGMAPS, "default", "app", configmap("app", v="2"), dry_run=True
    )

    assert would_be["data"] == {"v": "2"}
    assert storage.revision == before
    assert await registry.get(CONFIGMAPS, "default", "app") == current


# --- patch --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "image", "replicas", "generation"),
    [
        pytest.param(
            STRATEGIC,
            {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "n:2"}]}}}},
            "n:2",
            1,
            2,
            id="strategic-merges-containers-by-name",
        ),
        pytest.param(MERGE, {"spec": {"replicas": 4}}, "nginx:1.27", 4, 2, id="merge"),
        pytest.param(
            JSON_PATCH,
            [{"op": "replace", "path": "/spec/replicas", "value": 2}],
            "nginx:1.27",
            2,
            2,
            id="json-patch",
        ),
        pytest.param(
            MERGE, {"metadata": {"labels": {"x": "y"}}}, "nginx:1.27", 1, 1, id="metadata-only"
        ),
    ],
)
async def test_patch_types(
    registry: Registry,
    storage: MemStorage,
    content_type: str,
    body: object,
    image: str,
    replicas: int,
    generation: int,
) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())

    patched = await registry.patch(
        DEPLOYMENTS, "default", "web", content_type, json.dumps(body).encode()
    )

    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("nginx", image)]
    assert patched["spec"]["replicas"] == replicas
    assert patched["metadata"]["generation"] == generation
    assert rv(patched) == storage.revision
    assert await registry.get(DEPLOYMENTS, "default", "web") == patched


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(
            MERGE, {"metadata": {"resourceVersion": "{rv}"}, "data": {"v": "2"}}, id="merge"
        ),
        pytest.param(
            STRATEGIC, {"metadata": {"resourceVersion": "{rv}"}, "data": {"v": "2"}}, id="strategic"
        ),
        pytest.param(
            JSON_PATCH,
            [
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "{rv}"},
                {"op": "replace", "path": "/data/v", "value": "2"},
            ],
            id="json-patch",
        ),
    ],
)
async def test_a_patch_carrying_a_stale_resource_version_is_409(
    registry: Registry, storage: MemStorage, content_type: str, body: object
) -> None:
    stale = await registry.create(CONFIGMAPS, "default", configmap("app", v="0"))
    await registry.update(CONFIGMAPS, "default", "app", configmap("app", v="1"))
    before = storage.revision
    raw = json.dumps(body).replace("{rv}", stale["metadata"]["resourceVersion"]).encode()

    with pytest.raises(ConflictError):
        await registry.patch(CONFIGMAPS, "default", "app", content_type, raw)

    assert storage.revision == before


async def test_a_patch_carrying_the_current_resource_version_applies(registry: Registry) -> None:
    current = await registry.create(CONFIGMAPS, "default", configmap("app", v="0"))
    body = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}}
    body["data"] = {"v": "1"}

    patched = await registry.patch(CONFIGMAPS, "default", "app", MERGE, json.dumps(body).encode())

    assert patched["data"] == {"v": "1"}


@pytest.mark.parametrize("content_type", [MERGE, STRATEGIC, JSON_PATCH])
async def test_a_patch_without_resource_version_is_reapplied_after_a_lost_race(
    content_type: str,
) -> None:
    storage = RacingStorage()
    registry = await new_registry(storage)
    current = await registry.create(CONFIGMAPS, "default", configmap("app", a="0", b="0"))
    storage.race_next_write(
        "/registry/configmaps/default/app", {**current, "data": {"a": "0", "b": "rival"}}
    )
    body: object = {"data": {"a": "mine"}}
    if content_type == JSON_PATCH:
        body = [{"op": "replace", "path": "/data/a", "value": "mine"}]

    patched = await registry.patch(
        CONFIGMAPS, "default", "app", content_type, json.dumps(body).encode()
    )

    assert patched["data"] == {"a": "mine", "b": "rival"}
    assert await stored(storage, "/registry/configmaps/default/app") == patched


async def test_a_patch_pinned_to_the_read_revision_that_loses_a_race_is_409() -> None:
    storage = RacingStorage()
    registry = await new_registry(storage)
    current = await registry.create(CONFIGMAPS, "default", configmap("app", a="0"))
    storage.race_next_write("/registry/configmaps/default/app", {**current, "data": {"a": "r"}})
    body = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}}
    body["data"] = {"a": "mine"}

    with pytest.raises(ConflictError):
        await registry.patch(CONFIGMAPS, "default", "app", MERGE, json.dumps(body).encode())

    assert (await registry.get(CONFIGMAPS, "default", "app"))["data"] == {"a": "r"}


async def test_a_patch_that_changes_the_name_is_400(
    registry: Registry, storage: MemStorage
) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("app"))
    before = storage.revision

    with pytest.raises(BadRequestError, match="may not be changed"):
        await registry.patch(CONFIGMAPS, "default", "app", MERGE, b'{"metadata":{"name":"x"}}')

    assert storage.revision == before


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        pytest.param("application/apply-patch+yaml", b"{}", UnsupportedMediaError, id="apply"),
        pytest.param("text/plain", b"{}", UnsupportedMediaError, id="text"),
        pytest.param(None, b"{}", UnsupportedMediaError, id="none"),
        pytest.param(MERGE, b"{not json", BadRequestError, id="malformed"),
        pytest.param(
            JSON_PATCH,
            b'[{"op":"test","path":"/data/v","value":"other"}]',
            InvalidError,
            id="failed-test-op",
        ),
    ],
)
async def test_patch_refusals(
    registry: Registry,
    storage: MemStorage,
    content_type: str | None,
    body: bytes,
    error: type[ApiError],
) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    before = storage.revision

    with pytest.raises(error) as raised:
        await registry.patch(CONFIGMAPS, "default", "app", content_type, body)

    if error is UnsupportedMediaError:
        assert raised.value.code == 415
        assert MERGE in raised.value.message
    assert storage.revision == before


async def test_patch_of_a_missing_object_is_404(registry: Registry) -> None:
    with pytest.raises(NotFoundError):
        await registry.patch(CONFIGMAPS, "default", "nope", MERGE, b"{}")


async def test_a_status_patch_changes_only_status(registry: Registry) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())
    body = {"spec": {"replicas": 9}, "status": {"replicas": 2}}

    patched = await registry.patch(
        DEPLOYMENTS, "default", "web", MERGE, json.dumps(body).encode(), scope=Scope.STATUS
    )

    assert (patched["spec"]["replicas"], patched["status"]["replicas"]) == (1, 2)
    assert patched["metadata"]["generation"] == 1


# --- delete -------------------------------------------------------------------------------------


async def test_delete_removes_the_object_and_reports_it_gone(
    registry: Registry, storage: MemStorage
) -> None:
    created = await registry.create(CONFIGMAPS, "default", configmap("app"))

    result = await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions())

    assert result.gone
    assert result.obj["metadata"]["uid"] == created["metadata"]["uid"]
    assert rv(result.obj) == storage.revision
    with pytest.raises(NotFoundError):
        await registry.get(CONFIGMAPS, "default", "app")
    with pytest.raises(NotFoundError):
        await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions())


@pytest.mark.parametrize(
    ("precondition", "gone"),
    [
        pytest.param({"precondition_uid": "created"}, True, id="uid-matches"),
        pytest.param({"precondition_uid": "someone-else"}, False, id="uid-differs"),
        pytest.param({"precondition_resource_version": "created"}, True, id="rv-matches"),
        pytest.param({"precondition_resource_version": "1"}, False, id="rv-differs"),
    ],
)
async def test_delete_preconditions(
    registry: Registry, storage: MemStorage, precondition: dict[str, str], gone: bool
) -> None:
    created = await registry.create(CONFIGMAPS, "default", configmap("app"))
    actual = {
        "precondition_uid": created["metadata"]["uid"],
        "precondition_resource_version": created["metadata"]["resourceVersion"],
    }
    resolved = {k: actual[k] if v == "created" else v for k, v in precondition.items()}

    if gone:
        assert (await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions(**resolved))).gone
    else:
        with pytest.raises(ConflictError, match="Precondition failed"):
            await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions(**resolved))
        assert await registry.get(CONFIGMAPS, "default", "app") == created


async def test_a_finalizer_holds_the_object_until_an_update_removes_it(
    registry: Registry, storage: MemStorage
) -> None:
    body = configmap("app")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await registry.create(CONFIGMAPS, "default", body)

    marked = await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions())
    again = await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions())

    assert not marked.gone
    assert marked.obj["metadata"]["deletionTimestamp"] == ts()
    assert marked.obj["metadata"]["deletionGracePeriodSeconds"] == 0
    assert rv(marked.obj) == storage.revision
    assert again.obj == marked.obj, "a second delete changes nothing"
    assert await registry.get(CONFIGMAPS, "default", "app") == marked.obj

    adding = {**marked.obj, "metadata": {**marked.obj["metadata"]}}
    adding["metadata"]["finalizers"] = ["example.com/hold", "example.com/more"]
    with pytest.raises(InvalidError, match="no new finalizers can be added"):
        await registry.update(CONFIGMAPS, "default", "app", adding)

    released = {**marked.obj, "metadata": {**marked.obj["metadata"], "finalizers": []}}
    result, _ = await registry.update(CONFIGMAPS, "default", "app", released)

    assert rv(result) == storage.revision
    with pytest.raises(NotFoundError):
        await registry.get(CONFIGMAPS, "default", "app")


@pytest.mark.parametrize(
    ("policy", "finalizers"),
    [
        pytest.param("Foreground", ["foregroundDeletion"], id="foreground"),
        pytest.param("Orphan", ["orphan"], id="orphan"),
        pytest.param("Background", None, id="background-deletes-now"),
        pytest.param(None, None, id="default-deletes-now"),
    ],
)
async def test_propagation_policy(
    registry: Registry, policy: str | None, finalizers: list[str] | None
) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())

    result = await registry.delete(
        DEPLOYMENTS, "default", "web", DeleteOptions(propagation_policy=policy)
    )

    assert result.gone == (finalizers is None)
    if finalizers is not None:
        kept = await registry.get(DEPLOYMENTS, "default", "web")
        assert kept["metadata"]["finalizers"] == finalizers
        assert kept["metadata"]["deletionTimestamp"] == ts()


@pytest.mark.parametrize(
    ("node", "grace", "gone", "deadline"),
    [
        pytest.param("node-1", None, False, 30, id="bound-default-grace"),
        pytest.param("node-1", 10, False, 10, id="bound-explicit-grace"),
        pytest.param("node-1", 0, True, None, id="bound-grace-0"),
        pytest.param(None, None, True, None, id="unscheduled"),
    ],
)
async def test_pod_deletion_is_graceful_only_on_a_node(
    registry: Registry, node: str | None, grace: int | None, gone: bool, deadline: int | None
) -> None:
    await registry.create(PODS, "default", pod(node=node))

    result = await registry.delete(
        PODS, "default", "web", DeleteOptions(grace_period_seconds=grace)
    )

    assert result.gone == gone
    if deadline is not None:
        metadata = (await registry.get(PODS, "default", "web"))["metadata"]
        assert metadata["deletionTimestamp"] == ts(deadline)
        assert metadata["deletionGracePeriodSeconds"] == deadline


async def test_a_force_delete_removes_a_pod_that_is_terminating(registry: Registry) -> None:
    await registry.create(PODS, "default", pod(node="node-1"))
    await registry.delete(PODS, "default", "web", DeleteOptions())

    result = await registry.delete(PODS, "default", "web", DeleteOptions(grace_period_seconds=0))

    assert result.gone
    with pytest.raises(NotFoundError):
        await registry.get(PODS, "default", "web")


async def test_a_namespace_terminates_until_its_spec_finalizers_are_gone(
    registry: Registry, storage: MemStorage
) -> None:
    await registry.create(CONFIGMAPS, "other", configmap("left"))

    first = await registry.delete(NAMESPACES, None, "other", DeleteOptions())
    revision = storage.revision
    second = await registry.delete(NAMESPACES, None, "other", DeleteOptions())

    assert not first.gone and not second.gone
    assert first.obj["status"]["phase"] == "Terminating"
    assert first.obj["metadata"]["deletionTimestamp"] == ts()
    assert storage.revision == revision, "a second delete of a terminating namespace writes nothing"
    with pytest.raises(ForbiddenError):
        await registry.create(CONFIGMAPS, "other", configmap("new"))
    assert await configmaps_in(registry, "other") == ["left"], "content stays readable"

    finalized = await registry.get(NAMESPACES, None, "other")
    finalized["spec"]["finalizers"] = []
    await registry.update(NAMESPACES, None, "other", finalized)

    with pytest.raises(NotFoundError):
        await registry.get(NAMESPACES, None, "other")


async def test_finalize_changes_only_spec_finalizers_and_lets_the_namespace_go(
    registry: Registry,
) -> None:
    await registry.delete(NAMESPACES, None, "other", DeleteOptions())
    terminating = await registry.get(NAMESPACES, None, "other")
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"finalizers": []}}

    with pytest.raises(ConflictError):
        await registry.finalize_namespace("other", stale)
    kept = await registry.finalize_namespace(
        "other", {"metadata": {"labels": {"ignored": "yes"}}, "spec": {"finalizers": ["x"]}}
    )
    assert kept["spec"]["finalizers"] == ["x"]
    assert kept["metadata"].get("labels") == terminating["metadata"].get("labels")

    await registry.finalize_namespace("other", {"spec": {"finalizers": []}})

    with pytest.raises(NotFoundError):
        await registry.get(NAMESPACES, None, "other")


async def test_dry_run_delete_persists_nothing(registry: Registry, storage: MemStorage) -> None:
    created = await registry.create(CONFIGMAPS, "default", configmap("app"))
    before = storage.revision

    result = await registry.delete(CONFIGMAPS, "default", "app", DeleteOptions(dry_run=True))

    assert result.gone
    assert storage.revision == before
    assert await registry.get(CONFIGMAPS, "default", "app") == created


async def test_delete_collection_deletes_what_the_selector_matches_in_the_namespace(
    labelled: Registry,
) -> None:
    result = await labelled.delete_collection(
        CONFIGMAPS, "default", options(labelSelector="app=web"), DeleteOptions()
    )

    assert names(result.items) == ["a", "b"]
    assert await configmaps_in(labelled, None) == ["c", "d"]


async def test_delete_collection_marks_what_a_finalizer_holds(registry: Registry) -> None:
    held = configmap("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await registry.create(CONFIGMAPS, "default", held)
    await registry.create(CONFIGMAPS, "default", configmap("free"))

    result = await registry.delete_collection(CONFIGMAPS, "default", options(), DeleteOptions())

    assert names(result.items) == ["free", "held"]
    assert await configmaps_in(registry) == ["held"]


# --- pods/binding and pods/eviction -------------------------------------------------------------


def binding(node: str) -> Json:
    return {"metadata": {"name": "web"}, "target": {"kind": "Node", "name": node}}


async def test_bind_sets_the_node_and_the_scheduled_condition(
    registry: Registry, storage: MemStorage
) -> None:
    await registry.create(PODS, "default", pod())

    status = await registry.bind("default", "web", binding("node-1"))

    assert (status["status"], status["code"]) == ("Success", 201)
    bound = await registry.get(PODS, "default", "web")
    assert bound["spec"]["nodeName"] == "node-1"
    assert {
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": ts(),
    } in bound["status"]["conditions"]
    assert rv(bound) == storage.revision


async def test_a_second_bind_is_409_and_keeps_the_first_node(registry: Registry) -> None:
    await registry.create(PODS, "default", pod())
    await registry.bind("default", "web", binding("node-1"))

    with pytest.raises(ConflictError, match='already assigned to node "node-1"'):
        await registry.bind("default", "web", binding("node-2"))

    assert (await registry.get(PODS, "default", "web"))["spec"]["nodeName"] == "node-1"


async def test_bind_of_a_missing_pod_is_404(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match='pods "web" not found'):
        await registry.bind("default", "web", binding("node-1"))


async def test_bind_is_retried_when_another_write_gets_in_first() -> None:
    storage = RacingStorage()
    registry = await new_registry(storage)
    current = await registry.create(PODS, "default", pod())
    rival = {**current, "metadata": {**current["metadata"], "labels": {"x": "y"}}}
    storage.race_next_write("/registry/pods/default/web", rival)

    await registry.bind("default", "web", binding("node-1"))

    bound = await registry.get(PODS, "default", "web")
    assert (bound["spec"]["nodeName"], bound["metadata"]["labels"]) == ("node-1", {"x": "y"})


@pytest.mark.parametrize(
    ("node", "body", "gone"),
    [
        pytest.param("node-1", {"deleteOptions": {}}, False, id="bound-graceful"),
        pytest.param("node-1", {"deleteOptions": {"gracePeriodSeconds": 0}}, True, id="grace-0"),
        pytest.param("node-1", None, False, id="no-body"),
        pytest.param(None, {}, True, id="unscheduled"),
    ],
)
async def test_evict_is_a_delete_with_the_eviction_options(
    registry: Registry, node: str | None, body: Json | None, gone: bool
) -> None:
    await registry.create(PODS, "default", pod(node=node))

    status = await registry.evict("default", "web", body)

    assert (status["status"], status["code"]) == ("Success", 201)
    if gone:
        with pytest.raises(NotFoundError):
            await registry.get(PODS, "default", "web")
    else:
        metadata = (await registry.get(PODS, "default", "web"))["metadata"]
        assert metadata["deletionTimestamp"] == ts(30)


async def test_evict_of_a_missing_pod_is_404(registry: Registry) -> None:
    with pytest.raises(NotFoundError):
        await registry.evict("default", "web", {})


# --- scale --------------------------------------------------------------------------------------


async def test_get_scale_is_the_parents_view(registry: Registry) -> None:
    created = await registry.create(DEPLOYMENTS, "default", deployment(replicas=2))

    scale = await registry.get_scale(DEPLOYMENTS, "default", "web")

    assert scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}
    assert scale["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]


@pytest.mark.parametrize(
    ("replicas", "generation", "writes"),
    [
        pytest.param(3, 2, True, id="more"),
        pytest.param(0, 2, True, id="zero"),
        pytest.param(1, 1, False, id="unchanged"),
    ],
)
async def test_update_scale(
    registry: Registry, storage: MemStorage, replicas: int, generation: int, writes: bool
) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())
    before = storage.revision

    scale = await registry.update_scale(
        DEPLOYMENTS, "default", "web", {"spec": {"replicas": replicas}}
    )

    parent = await registry.get(DEPLOYMENTS, "default", "web")
    assert (parent["spec"]["replicas"], parent["metadata"]["generation"]) == (replicas, generation)
    assert scale["spec"]["replicas"] == replicas
    assert scale["metadata"]["resourceVersion"] == parent["metadata"]["resourceVersion"]
    assert (storage.revision > before) == writes


@pytest.mark.parametrize(
    ("scale", "error"),
    [
        pytest.param({"spec": {"replicas": -1}}, InvalidError, id="negative"),
        pytest.param({"spec": {"replicas": "3"}}, InvalidError, id="string"),
        pytest.param(
            {"metadata": {"resourceVersion": "2"}, "spec": {"replicas": 3}},
            ConflictError,
            id="stale-rv",
        ),
        pytest.param([], BadRequestError, id="not-an-object"),
    ],
)
async def test_update_scale_refusals(
    registry: Registry, storage: MemStorage, scale: object, error: type[ApiError]
) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())
    before = storage.revision

    with pytest.raises(error):
        await registry.update_scale(DEPLOYMENTS, "default", "web", scale)

    assert storage.revision == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(MERGE, {"spec": {"replicas": 5}}, id="merge"),
        pytest.param(STRATEGIC, {"spec": {"replicas": 5}}, id="strategic"),
        pytest.param(
            JSON_PATCH, [{"op": "replace", "path": "/spec/replicas", "value": 5}], id="json-patch"
        ),
    ],
)
async def test_patch_scale(registry: Registry, content_type: str, body: object) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())

    scale = await registry.patch_scale(
        DEPLOYMENTS, "default", "web", content_type, json.dumps(body).encode()
    )

    parent = await registry.get(DEPLOYMENTS, "default", "web")
    assert scale["spec"]["replicas"] == parent["spec"]["replicas"] == 5
    assert parent["metadata"]["generation"] == 2


async def test_patch_scale_is_reapplied_after_a_lost_race() -> None:
    storage = RacingStorage()
    registry = await new_registry(storage)
    current = await registry.create(DEPLOYMENTS, "default", deployment())
    rival = {**current, "metadata": {**current["metadata"], "annotations": {"a": "b"}}}
    storage.race_next_write("/registry/deployments/default/web", rival)

    await registry.patch_scale(DEPLOYMENTS, "default", "web", MERGE, b'{"spec":{"replicas":5}}')

    parent = await registry.get(DEPLOYMENTS, "default", "web")
    assert (parent["spec"]["replicas"], parent["metadata"]["annotations"]) == (5, {"a": "b"})


async def test_patch_scale_to_a_negative_count_is_422(registry: Registry) -> None:
    await registry.create(DEPLOYMENTS, "default", deployment())

    with pytest.raises(InvalidError):
        await registry.patch_scale(
            DEPLOYMENTS, "default", "web", MERGE, b'{"spec":{"replicas":-2}}'
        )


# --- storage failures ---------------------------------------------------------------------------

Call = Callable[[Registry], Awaitable[object]]

STORE_CALLS: list[tuple[str, str, Call]] = [
    ("get", "get", lambda r: r.get(CONFIGMAPS, "default", "app")),
    ("list", "list", lambda r: r.list(CONFIGMAPS, "default", options())),
    ("create", "create", lambda r: r.create(CONFIGMAPS, "default", configmap("new"))),
    ("create-reads-ns", "get", lambda r: r.create(CONFIGMAPS, "default", configmap("new"))),
    ("update", "update", lambda r: r.update(CONFIGMAPS, "default", "app", configmap("app", v="2"))),
    (
        "patch",
        "update",
        lambda r: r.patch(CONFIGMAPS, "default", "app", MERGE, b'{"data":{"v":"9"}}'),
    ),
    ("delete", "delete", lambda r: r.delete(CONFIGMAPS, "default", "app", DeleteOptions())),
]


@pytest.mark.parametrize(
    ("operation", "call"), [pytest.param(op, call, id=i) for i, op, call in STORE_CALLS]
)
async def test_an_unavailable_store_is_503_with_retry_after(
    registry: Registry, storage: MemStorage, operation: str, call: Call
) -> None:
    await registry.create(CONFIGMAPS, "default", configmap("app", v="1"))
    before = storage.revision
    storage.fail_next(operation, StorageUnavailable("no leader"))

    with pytest.raises(ServiceUnavailableError) as raised:
        await call(registry)

    assert raised.value.code == 503
    assert raised.value.retry_after_seconds == 1
    assert raised.value.status()["details"]["retryAfterSeconds"] == 1
    assert storage.revision == before
    await call(registry)  # the next attempt goes through


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        pytest.param(StorageUnavailable("x"), ServiceUnavailableError, 503, id="unavailable"),
        pytest.param(ValueTooLarge("x"), RequestTooLargeError, 413, id="too-large"),
        pytest.param(Compacted(3, 7), ExpiredError, 410, id="compacted"),
        pytest.param(FutureRevision("x"), RequestTimeoutError, 504, id="future"),
        pytest.param(StorageError("x"), ServiceUnavailableError, 503, id="other"),
    ],
)
def test_storage_error_mapping(error: StorageError, expected: type[ApiError], code: int) -> None:
    mapped = storage_error(error)

    assert type(mapped) is expected
    assert mapped.code == code


# --- concurrency --------------------------------------------------------------------------------

WRITERS = 10  # under UPDATE_ATTEMPTS: the last of N lock-step writers needs N attempts


async def test_concurrent_patches_without_resource_version_lose_no_write() -> None:
    storage = YieldingStorage()
    registry = await new_registry(storage)
    await registry.create(CONFIGMAPS, "default", configmap("counter"))
    before = storage.revision

    async def add_entry(i: int) -> Json:
        body = json.dumps({"data": {f"writer-{i}": "1"}}).encode()
        return await registry.patch(CONFIGMAPS, "default", "counter", MERGE, body)

    results = await asyncio.gather(*(add_entry(i) for i in range(WRITERS)))

    final = await registry.get(CONFIGMAPS, "default", "counter")
    assert sorted(final["data"]) == sorted(f"writer-{i}" for i in range(WRITERS))
    assert storage.revision == before + WRITERS, "one store write per request"
    assert sorted(rv(r) for r in results) == list(range(before + 1, before + WRITERS + 1))


async def test_concurrent_updates_with_one_resource_version_have_one_winner() -> None:
    storage = YieldingStorage()
    registry = await new_registry(storage)
    await registry.create(CONFIGMAPS, "default", configmap("counter", n="0"))
    reads = await asyncio.gather(
        *(registry.get(CONFIGMAPS, "default", "counter") for _ in range(WRITERS))
    )

    async def increment(obj: Json) -> tuple[Json, bool]:
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return await registry.update(CONFIGMAPS, "default", "counter", obj)

    results = await asyncio.gather(*(increment(o) for o in reads), return_exceptions=True)

    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(losers) == WRITERS - 1
    assert all(isinstance(r, ConflictError) for r in losers), losers
    assert (await registry.get(CONFIGMAPS, "default", "counter"))["data"] == {"n": "1"}


async def test_clients_that_retry_conflicts_lose_no_increment() -> None:
    storage = YieldingStorage()
    registry = await new_registry(storage)
    await registry.create(CONFIGMAPS, "default", configmap("counter", n="0"))
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        for _ in range(WRITERS * 2):
            obj = await registry.get(CONFIGMAPS, "default", "counter")
            obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
            try:
                await registry.update(CONFIGMAPS, "default", "counter", obj)
                return
            except ConflictError:
                conflicts += 1
        raise AssertionError("an increment never got through")

    await asyncio.gather(*(increment() for _ in range(WRITERS)))

    assert (await registry.get(CONFIGMAPS, "default", "counter"))["data"] == {"n": str(WRITERS)}
    assert conflicts > 0, "the writers never overlapped, so nothing was tested"
