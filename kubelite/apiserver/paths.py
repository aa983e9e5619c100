"""Request paths: which resource, namespace, object and subresource a REST URL names.

Pure. The REST shell hands over the group, version and the path segments after the
group-version prefix; the answer is a `ResourcePath` or a 404 (`PathNotFoundError`)::

    parse_resource_path("", "v1", ["namespaces", "default", "pods", "web", "log"])
    -> ResourcePath(pods, namespace="default", name="web", subresource="log")
    parse_resource_path("", "v1", ["pods"])                 -> all pods (namespace None)
    parse_resource_path("", "v1", ["namespaces", "dev"])    -> the Namespace "dev"
    parse_resource_path("", "v1", ["namespaces", "dev", "bindings"])  -> a pods/binding POST

Segments are already percent-decoded by the HTTP layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubelite.api.errors import PathNotFoundError
from kubelite.api.resources import RESOURCES, ResourceInfo, ResourceRegistry


@dataclass(frozen=True)
class ResourcePath:
    """What a resource URL names. `namespace` None: cluster-scoped, or all namespaces."""

    info: ResourceInfo
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    legacy_binding: bool = False
    """``POST /api/v1/namespaces/{ns}/bindings`` (the Binding names the pod in its body)."""


def _object_path(
    info: ResourceInfo, namespace: str | None, rest: Sequence[str], registry: ResourceRegistry
) -> ResourcePath:
    if not rest:
        return ResourcePath(info, namespace)
    if not rest[0] or len(rest) > 2:
        raise PathNotFoundError()
    name = rest[0]
    if len(rest) == 1:
        return ResourcePath(info, namespace, name)
    sub = rest[1]
    if info.subresource(sub) is None:
        raise PathNotFoundError()
    return ResourcePath(info, namespace, name, sub)


def parse_resource_path(
    group: str, version: str, segments: Sequence[str], registry: ResourceRegistry = RESOURCES
) -> ResourcePath:
    """The `ResourcePath` for the segments after ``/api/v1`` or ``/apis/<g>/<v>``."""
    if not segments or not segments[0]:
        raise PathNotFoundError()
    first = segments[0]
    if first == "namespaces" and len(segments) >= 3 and group == "":
        namespace = segments[1]
        if not namespace:
            raise PathNotFoundError()
        third = segments[2]
        inner = registry.lookup(group, version, third)
        if inner is not None and inner.namespaced:
            return _object_path(inner, namespace, segments[3:], registry)
        pods = registry.lookup(group, version, "pods")
        if third == "bindings" and len(segments) == 3 and pods is not None:
            return ResourcePath(pods, namespace, None, "binding", legacy_binding=True)
        namespaces = registry.lookup("", version, "namespaces")
        if namespaces is not None and len(segments) == 3 and namespaces.subresource(third):
            return ResourcePath(namespaces, None, namespace, third)
        raise PathNotFoundError()
    if first == "namespaces" and len(segments) >= 3:
        namespace = segments[1]
        inner = registry.lookup(group, version, segments[2])
        if inner is None or not inner.namespaced or not namespace:
            raise PathNotFoundError()
        return _object_path(inner, namespace, segments[3:], registry)
    info = registry.lookup(group, version, first)
    if info is None:
        raise PathNotFoundError()
    if info.namespaced and len(segments) > 1:
        # /api/v1/pods/x is not a path upstream serves: objects live under their namespace.
        raise PathNotFoundError()
    return _object_path(info, None, segments[1:], registry)
