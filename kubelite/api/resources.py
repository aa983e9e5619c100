"""The registry of every resource the API server serves, and the lookups over it.

This module owns the one table that says which kinds exist, under which group/version and
plural, whether they are namespaced, which verbs and subresources they have, and the short
names and categories kubectl resolves. Discovery (`kubelite.api.discovery`), OpenAPI
(`kubelite.api.openapi`), the REST router and the CLI all read it; none of them keeps a list
of its own. Values follow upstream Kubernetes 1.31 (``kubectl api-resources -o wide``),
restricted to what kubelite serves::

    RESOURCES.lookup("apps", "v1", "deployments")       -> ResourceInfo(kind="Deployment", ...)
    RESOURCES.for_kind("Deployment")                   -> the same entry
    RESOURCES.for_short_name("deploy")                 -> the same entry
    RESOURCES.resolve("deployments.apps")              -> the same entry (kubectl's spelling)
    RESOURCES.lookup(...).subresource("scale").kind    -> "Scale" (autoscaling/v1)

Upstream subresources we do not serve (exec, attach, portforward, proxy, ephemeralcontainers,
serviceaccounts/token) are left out on purpose: discovery must not advertise what a request
would answer with 404. The ``policy/v1`` group is advertised with no resources of its own so
that old kubectl (1.20) finds it before using ``pods/eviction``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
"""Verbs of an ordinary collection resource, in upstream's (alphabetical) order."""

STATUS_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class GroupVersion:
    """An API group and version; the core group is ``""``."""

    group: str
    version: str

    def __str__(self) -> str:
        """``v1`` for the core group, ``apps/v1`` otherwise (the ``apiVersion`` spelling)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path_prefix(self) -> str:
        """URL prefix of the group-version: ``/api/v1`` or ``/apis/apps/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


@dataclass(frozen=True)
class GroupVersionKind:
    """The type of an object: what ``apiVersion`` plus ``kind`` say."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return str(GroupVersion(self.group, self.version))


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/log``; ``group``/``version`` are set only when they differ.

    ``pods/eviction`` answers in ``policy/v1`` and ``deployments/scale`` in ``autoscaling/v1``;
    every other subresource speaks its parent's group-version.
    """

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource, e.g. ``apps/v1 deployments``, with its subresources."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()

    @property
    def group_version(self) -> GroupVersion:
        return GroupVersion(self.group, self.version)

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)

    @property
    def api_version(self) -> str:
        return str(self.group_version)

    def subresource(self, name: str) -> Subresource | None:
        """The subresource called ``name`` (``"status"``, ``"scale"``…), or None."""
        return next((sub for sub in self.subresources if sub.name == name), None)

    def subresource_gvk(self, sub: Subresource) -> GroupVersionKind:
        """The type a subresource answers with, filling in the parent's group-version."""
        group = self.group if sub.group is None else sub.group
        version = self.version if sub.version is None else sub.version
        return GroupVersionKind(group, version, sub.kind)


@dataclass(frozen=True)
class ResourceRegistry:
    """An immutable set of resources plus the group-versions advertised in discovery.

    ``group_versions`` is ordered as discovery lists it (core first, then the groups in
    upstream's order) and may hold a group-version with no resources (``policy/v1``).
    """

    group_versions: tuple[GroupVersion, ...]
    resources: tuple[ResourceInfo, ...]
    _by_plural: dict[tuple[str, str, str], ResourceInfo] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_plural: dict[tuple[str, str, str], ResourceInfo] = {}
        for info in self.resources:
            if info.group_version not in self.group_versions:
                raise ValueError(f"{info.plural}: group-version {info.api_version} not listed")
            key = (info.group, info.version, info.plural)
            if key in by_plural:
                raise ValueError(f"{info.plural}.{info.group}: listed twice")
            by_plural[key] = info
        # A frozen dataclass may still fill its own cache once, while it is being built.
        object.__setattr__(self, "_by_plural", by_plural)

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        """The resource served at ``<prefix>/<plural>`` of ``group/version``, or None."""
        return self._by_plural.get((group, version, plural))

    def in_group_version(self, group: str, version: str) -> tuple[ResourceInfo, ...]:
        """The resources of one group-version, in registry order."""
        return tuple(r for r in self.resources if r.group == group and r.version == version)

    def for_kind(self, kind: str, group: str | None = None) -> ResourceInfo | None:
        """The resource whose objects have ``kind`` (optionally within ``group``), or None."""
        return next(
            (
                info
                for info in self.resources
                if info.kind == kind and (group is None or info.group == group)
            ),
            None,
        )

    def for_gvk(self, gvk: GroupVersionKind) -> ResourceInfo | None:
        """The resource storing objects of exactly this group/version/kind, or None."""
        return next((info for info in self.resources if info.gvk == gvk), None)

    def for_short_name(self, short_name: str) -> ResourceInfo | None:
        """The resource with this short name (``po``, ``deploy``…), or None."""
        return next((info for info in self.resources if short_name in info.short_names), None)

    def in_category(self, category: str) -> tuple[ResourceInfo, ...]:
        """Resources in a category such as ``all`` (what ``kubectl get all`` lists)."""
        return tuple(info for info in self.resources if category in info.categories)

    def resolve(self, name: str) -> ResourceInfo | None:
        """Resolve a resource the way kubectl's argument does.

        Accepts a plural, singular, short name or kind, optionally qualified by group
        (``deployments.apps``, ``deploy.apps``); matching is case-insensitive.
        """
        lowered = name.lower()
        for info in self.resources:
            if lowered in _spellings(info) or (
                info.group and lowered in {f"{s}.{info.group}" for s in _spellings(info)}
            ):
                return info
        return None


def _spellings(info: ResourceInfo) -> set[str]:
    return {info.plural, info.singular, info.kind.lower(), *info.short_names}


def _status() -> Subresource:
    return Subresource("status", "", STATUS_VERBS)


def _with_kind(sub: Subresource, kind: str) -> Subresource:
    return Subresource(sub.name, sub.kind or kind, sub.verbs, sub.group, sub.version)


def _resource(
    gv: GroupVersion,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    verbs: tuple[str, ...] = ALL_VERBS,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    subresources: tuple[Subresource, ...] = (),
) -> ResourceInfo:
    """One registry entry; subresources with an empty kind take the parent's kind."""
    return ResourceInfo(
        group=gv.group,
        version=gv.version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        verbs=verbs,
        short_names=short_names,
        categories=categories,
        subresources=tuple(_with_kind(sub, kind) for sub in subresources),
    )


CORE_V1 = GroupVersion("", "v1")
APPS_V1 = GroupVersion("apps", "v1")
BATCH_V1 = GroupVersion("batch", "v1")
POLICY_V1 = GroupVersion("policy", "v1")
COORDINATION_V1 = GroupVersion("coordination.k8s.io", "v1")

_SCALE = Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1")
_ALL = ("all",)


def _core_resources() -> tuple[ResourceInfo, ...]:
    return (
        _resource(
            CORE_V1,
            "Namespace",
            "namespaces",
            namespaced=False,
            verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
            short_names=("ns",),
            subresources=(_status(), Subresource("finalize", "", ("update",))),
        ),
        _resource(
            CORE_V1,
            "Pod",
            "pods",
            short_names=("po",),
            categories=_ALL,
            subresources=(
                _status(),
                Subresource("binding", "Binding", ("create",)),
                Subresource("log", "", ("get",)),
                Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
            ),
        ),
        _resource(
            CORE_V1,
            "Node",
            "nodes",
            namespaced=False,
            short_names=("no",),
            subresources=(_status(),),
        ),
        _resource(
            CORE_V1,
            "Service",
            "services",
            short_names=("svc",),
            categories=_ALL,
            subresources=(_status(),),
        ),
        _resource(CORE_V1, "Endpoints", "endpoints", short_names=("ep",)),
        _resource(CORE_V1, "ConfigMap", "configmaps", short_names=("cm",)),
        _resource(CORE_V1, "Secret", "secrets"),
        _resource(CORE_V1, "Event", "events", short_names=("ev",)),
        _resource(CORE_V1, "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    )


def _other_resources() -> tuple[ResourceInfo, ...]:
    scaled = (_SCALE, _status())
    return (
        _resource(
            APPS_V1,
            "Deployment",
            "deployments",
            short_names=("deploy",),
            categories=_ALL,
            subresources=scaled,
        ),
        _resource(
            APPS_V1,
            "ReplicaSet",
            "replicasets",
            short_names=("rs",),
            categories=_ALL,
            subresources=scaled,
        ),
        _resource(
            APPS_V1,
            "DaemonSet",
            "daemonsets",
            short_names=("ds",),
            categories=_ALL,
            subresources=(_status(),),
        ),
        _resource(
            APPS_V1,
            "StatefulSet",
            "statefulsets",
            short_names=("sts",),
            categories=_ALL,
            subresources=scaled,
        ),
        _resource(BATCH_V1, "Job", "jobs", categories=_ALL, subresources=(_status(),)),
        _resource(COORDINATION_V1, "Lease", "leases"),
    )


RESOURCES = ResourceRegistry(
    group_versions=(CORE_V1, APPS_V1, BATCH_V1, POLICY_V1, COORDINATION_V1),
    resources=_core_resources() + _other_resources(),
)
"""Everything kubelite serves. Immutable: build another `ResourceRegistry` in tests instead."""
