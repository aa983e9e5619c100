"""What components need from the cluster: the `Client` protocol every part of `client/` uses.

The informer, the leader elector and the event recorder depend on this protocol, not on a
transport: `kubelite.client.api.ApiClient` implements it over the API server (gRPC for reads
and writes, HTTP watch streams for watches, several API servers with failover), and
`kubelite.client.fake.FakeClient` implements it in memory for unit tests of controllers.

Objects are Kubernetes JSON as plain dicts. Resources are named by `kubelite.api.resources`
entries (``RESOURCES.lookup("", "v1", "pods")``); the short aliases below cover what
components use. Errors are the typed errors of `kubelite.api.errors` (`NotFoundError`,
`ConflictError`, `AlreadyExistsError`, `InvalidError`, `ExpiredError`/`GoneError`,
`ServiceUnavailableError` when no API server answers)::

    pod = await client.get(PODS, "default", "web-0")
    page = await client.list(PODS, "default", label_selector="app=web", limit=500)
    since = page["metadata"]["resourceVersion"]
    async for event in client.watch(PODS, None, resource_version=since):
        ...  # event.type in ADDED/MODIFIED/DELETED/BOOKMARK; ERROR arrives as a raised ApiError
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kubelite.api.resources import RESOURCES, ResourceInfo

JsonObject = dict[str, Any]

MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"


def _resource(group: str, plural: str) -> ResourceInfo:
    info = RESOURCES.lookup(group, "v1", plural)
    assert info is not None, plural
    return info


PODS: Final = _resource("", "pods")
NODES: Final = _resource("", "nodes")
NAMESPACES: Final = _resource("", "namespaces")
EVENTS: Final = _resource("", "events")
SERVICES: Final = _resource("", "services")
ENDPOINTS: Final = _resource("", "endpoints")
CONFIGMAPS: Final = _resource("", "configmaps")
DEPLOYMENTS: Final = _resource("apps", "deployments")
REPLICASETS: Final = _resource("apps", "replicasets")
LEASES: Final = _resource("coordination.k8s.io", "leases")


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK``.

    A BOOKMARK's object carries only ``metadata.resourceVersion``.
    """

    type: str
    object: JsonObject

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion", ""))


class Client(Protocol):
    """Reads, writes and watches on the cluster (see the module docstring)."""

    async def get(self, resource: ResourceInfo, namespace: str | None, name: str) -> JsonObject: ...

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
        """The list object (``kind: PodList``, ``metadata.resourceVersion``, ``items``)."""
        ...

    async def create(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject: ...

    async def update(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject:
        """PUT; a ``metadata.resourceVersion`` in `obj` makes it conditional (409 if stale)."""
        ...

    async def update_status(
        self, resource: ResourceInfo, namespace: str | None, obj: Mapping[str, Any]
    ) -> JsonObject: ...

    async def patch(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = MERGE_PATCH,
        *,
        status: bool = False,
    ) -> JsonObject: ...

    async def delete(
        self,
        resource: ResourceInfo,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> JsonObject: ...

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None: ...

    def watch(
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
        """Events after `resource_version` ("" = current state as ADDED first, then changes).

        Raises `ExpiredError` when the version is too old (410: re-list), and ends when the
        server ends the stream; an implementation with several API servers resumes on another
        one from the last resourceVersion it delivered before giving up.
        """
        ...

    async def close(self) -> None: ...
