"""Discovery documents: ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>``.

This module owns the JSON bodies kubectl and the Python client read to learn what the server
serves, all built from the `ResourceRegistry`, and the choice between the two shapes of
``/api`` and ``/apis``: legacy (``APIVersions`` / ``APIGroupList``, then one
``APIResourceList`` per group-version) and aggregated (``APIGroupDiscoveryList``
``apidiscovery.k8s.io/v2``, everything in two requests). The HTTP handler does only::

    choice = negotiate_discovery(request.headers.get("Accept"))    # None -> 406
    body = (aggregated_discovery(RESOURCES, core=True, api_version=choice.api_version)
            if choice.aggregated else api_versions(server_address))
    respond(200, body, content_type=choice.content_type)

Shapes are those in reference/kubernetes-api.md §2.1; the fields the Python client v37 models
require (``serverAddressByClientCIDRs``; ``kind``, ``name``, ``namespaced``, ``singularName``,
``verbs`` per resource) are always present. ``/version`` reports 1.31 so that the kubectl
dispatcher runs its 1.31 binary, which sends JSON bodies (reference §0.3).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from kubelite.api.resources import GroupVersionKind, ResourceInfo, ResourceRegistry, Subresource

JSON = dict[str, Any]

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}

DISCOVERY_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"
AGGREGATED_VERSIONS: tuple[str, ...] = ("v2", "v2beta1")
"""Aggregated discovery versions we answer; v2beta1 has the same shape as v2 for our fields."""


def version_info() -> dict[str, str]:
    """The ``/version`` body (a fresh dict, so callers may add to it)."""
    return dict(VERSION_INFO)


def api_versions(server_address: str) -> JSON:
    """The legacy ``/api`` body; ``server_address`` is ``host:port`` as clients reach us."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address},
        ],
    }


def api_group_list(registry: ResourceRegistry) -> JSON:
    """The legacy ``/apis`` body: every named group with its one (preferred) version."""
    groups: list[JSON] = []
    for gv in registry.group_versions:
        if not gv.group:
            continue
        version = {"groupVersion": str(gv), "version": gv.version}
        groups.append({"name": gv.group, "versions": [version], "preferredVersion": version})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> JSON | None:
    """The ``/api/v1`` or ``/apis/<g>/<v>`` body, or None when the group-version is not served.

    Subresources are separate entries named ``pods/log`` with ``singularName: ""``; they carry
    ``group``/``version`` only when those differ from the parent's (``pods/eviction``,
    ``deployments/scale``). Entries are sorted by name, as upstream lists them.
    """
    if not any(gv.group == group and gv.version == version for gv in registry.group_versions):
        return None
    entries: list[JSON] = []
    for info in registry.in_group_version(group, version):
        entries.append(_resource_entry(info))
        entries.extend(_subresource_entry(info, sub) for sub in info.subresources)
    entries.sort(key=lambda entry: str(entry["name"]))
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


def storage_version_hash(gvk: GroupVersionKind) -> str:
    """Upstream's ``StorageVersionHash``: base64 of the first 8 bytes of sha256("g/v/Kind")."""
    digest = hashlib.sha256(f"{gvk.group}/{gvk.version}/{gvk.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode("ascii")


def _resource_entry(info: ResourceInfo) -> JSON:
    entry: JSON = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    entry["storageVersionHash"] = storage_version_hash(info.gvk)
    return entry


def _subresource_entry(info: ResourceInfo, sub: Subresource) -> JSON:
    entry: JSON = {
        "name": f"{info.plural}/{sub.name}",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": sub.kind,
        "verbs": list(sub.verbs),
    }
    if sub.group is not None:
        entry["group"] = sub.group
    if sub.version is not None:
        entry["version"] = sub.version
    return entry


def aggregated_discovery(
    registry: ResourceRegistry, *, core: bool, api_version: str = "v2"
) -> JSON:
    """The aggregated ``APIGroupDiscoveryList``: the core group for ``/api`` (``core=True``),
    every named group for ``/apis``.

    The core group's item is named ``""``. A group-version with no resources of its own
    (``policy/v1``) is listed with an empty ``resources`` list.
    """
    items: list[JSON] = []
    for gv in registry.group_versions:
        if (gv.group == "") != core:
            continue
        resources = [
            _aggregated_resource(info) for info in registry.in_group_version(gv.group, gv.version)
        ]
        resources.sort(key=lambda entry: str(entry["resource"]))
        version = {"version": gv.version, "resources": resources, "freshness": "Current"}
        items.append({"metadata": {"name": gv.group}, "versions": [version]})
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{DISCOVERY_GROUP}/{api_version}",
        "metadata": {},
        "items": items,
    }


def _kind_ref(gvk: GroupVersionKind) -> JSON:
    return {"group": gvk.group, "version": gvk.version, "kind": gvk.kind}


def _aggregated_resource(info: ResourceInfo) -> JSON:
    entry: JSON = {
        "resource": info.plural,
        "responseKind": _kind_ref(info.gvk),
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": _kind_ref(info.subresource_gvk(sub)),
                "verbs": list(sub.verbs),
            }
            for sub in sorted(info.subresources, key=lambda sub: sub.name)
        ]
    return entry


@dataclass(frozen=True)
class DiscoveryFormat:
    """Which shape to answer ``/api`` or ``/apis`` with, and its Content-Type.

    ``api_version`` is the aggregated discovery version (``"v2"``) or None for legacy JSON.
    """

    api_version: str | None

    @property
    def aggregated(self) -> bool:
        return self.api_version is not None

    @property
    def content_type(self) -> str:
        if self.api_version is None:
            return "application/json"
        return f"application/json;g={DISCOVERY_GROUP};v={self.api_version};as={AGGREGATED_KIND}"


LEGACY_JSON = DiscoveryFormat(None)


@dataclass(frozen=True)
class _MediaRange:
    media_type: str
    params: dict[str, str]
    quality: float


def negotiate_discovery(accept: str | None) -> DiscoveryFormat | None:
    """Pick the discovery shape for an ``Accept`` header; None means 406 Not Acceptable.

    Media ranges are tried by descending ``q`` (ties keep the client's order). An entry naming
    ``g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`` selects aggregated discovery; plain
    ``application/json``, ``application/*`` or ``*/*`` (or no header) selects legacy JSON. An
    ``application/json`` entry asking for some other ``as=`` (a Table) matches nothing.
    """
    if accept is None or not accept.strip():
        return LEGACY_JSON
    ranges = [r for r in _parse_accept(accept) if r.quality > 0]
    ranges.sort(key=lambda r: -r.quality)
    for media_range in ranges:
        choice = _match(media_range)
        if choice is not None:
            return choice
    return None


def _parse_accept(accept: str) -> list[_MediaRange]:
    ranges: list[_MediaRange] = []
    for part in accept.split(","):
        media_type, *raw_params = (piece.strip() for piece in part.split(";"))
        if not media_type:
            continue
        params: dict[str, str] = {}
        for raw in raw_params:
            key, sep, value = raw.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        quality = _quality(params.pop("q", "1"))
        ranges.append(_MediaRange(media_type.lower(), params, quality))
    return ranges


def _quality(raw: str) -> float:
    try:
        return max(0.0, min(1.0, float(raw)))
    except ValueError:
        return 0.0


def _match(media_range: _MediaRange) -> DiscoveryFormat | None:
    if media_range.media_type in ("*/*", "application/*"):
        return LEGACY_JSON
    if media_range.media_type != "application/json":
        return None
    params = media_range.params
    if "as" not in params and "g" not in params and "v" not in params:
        return LEGACY_JSON
    if (
        params.get("g") == DISCOVERY_GROUP
        and params.get("as") == AGGREGATED_KIND
        and params.get("v") in AGGREGATED_VERSIONS
    ):
        return DiscoveryFormat(params["v"])
    return None
