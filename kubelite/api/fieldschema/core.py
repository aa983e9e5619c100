"""Known fields of the core/v1 kinds kubelite serves, whole objects including ``status``.

Pod, Node, Namespace, Service, Endpoints, ConfigMap, Secret, Event and ServiceAccount, with
every v1.31 field; the pod's insides are `kubelite.api.fieldschema.pod`. The request bodies of
``pods/binding`` (core/v1 Binding) and ``pods/eviction`` (policy/v1 Eviction) are here too.
Kinds without a ``spec`` or ``status`` upstream (ConfigMap, Secret, Endpoints, Event,
ServiceAccount; Namespace has both) have none here either, so ``status`` on a ConfigMap is an
unknown field, as it is upstream.
"""

from __future__ import annotations

from typing import Final

from kubelite.api.fieldschema.meta import (
    CONDITION,
    DELETE_OPTIONS,
    LOCAL_OBJECT_REFERENCE,
    OBJECT_REFERENCE,
    top_level,
)
from kubelite.api.fieldschema.nodes import (
    RESOURCE_LIST,
    SCALARS,
    STRING_MAP,
    ListOf,
    list_of,
    struct,
)
from kubelite.api.fieldschema.pod import POD_SPEC, POD_STATUS

POD: Final = top_level(spec=POD_SPEC, status=POD_STATUS)

_NODE_CONFIG_SOURCE: Final = struct(
    configMap=struct("namespace", "name", "uid", "resourceVersion", "kubeletConfigKey")
)

NODE: Final = top_level(
    spec=struct(
        "podCIDR",
        "providerID",
        "unschedulable",
        "externalID",
        podCIDRs=SCALARS,
        taints=list_of("key", "value", "effect", "timeAdded"),
        configSource=_NODE_CONFIG_SOURCE,
    ),
    status=struct(
        "phase",
        capacity=RESOURCE_LIST,
        allocatable=RESOURCE_LIST,
        conditions=list_of(
            "type", "status", "lastHeartbeatTime", "lastTransitionTime", "reason", "message"
        ),
        addresses=list_of("type", "address"),
        # Upstream's JSON name really is "Port", capitalised.
        daemonEndpoints=struct(kubeletEndpoint=struct("Port")),
        nodeInfo=struct(
            "machineID",
            "systemUUID",
            "bootID",
            "kernelVersion",
            "osImage",
            "containerRuntimeVersion",
            "kubeletVersion",
            "kubeProxyVersion",
            "operatingSystem",
            "architecture",
        ),
        images=list_of("sizeBytes", names=SCALARS),
        volumesInUse=SCALARS,
        volumesAttached=list_of("name", "devicePath"),
        config=struct(
            "error",
            assigned=_NODE_CONFIG_SOURCE,
            active=_NODE_CONFIG_SOURCE,
            lastKnownGood=_NODE_CONFIG_SOURCE,
        ),
        runtimeHandlers=list_of(
            "name", features=struct("recursiveReadOnlyMounts", "userNamespaces")
        ),
        features=struct("supplementalGroupsPolicy"),
    ),
)

NAMESPACE: Final = top_level(
    spec=struct(finalizers=SCALARS),
    status=struct(
        "phase",
        conditions=list_of("type", "status", "lastTransitionTime", "reason", "message"),
    ),
)

SERVICE: Final = top_level(
    spec=struct(
        "clusterIP",
        "type",
        "sessionAffinity",
        "loadBalancerIP",
        "externalName",
        "externalTrafficPolicy",
        "healthCheckNodePort",
        "publishNotReadyAddresses",
        "ipFamilyPolicy",
        "allocateLoadBalancerNodePorts",
        "loadBalancerClass",
        "internalTrafficPolicy",
        "trafficDistribution",
        ports=list_of("name", "protocol", "appProtocol", "port", "targetPort", "nodePort"),
        selector=STRING_MAP,
        clusterIPs=SCALARS,
        externalIPs=SCALARS,
        loadBalancerSourceRanges=SCALARS,
        sessionAffinityConfig=struct(clientIP=struct("timeoutSeconds")),
        ipFamilies=SCALARS,
    ),
    status=struct(
        loadBalancer=struct(
            ingress=list_of("ip", "hostname", "ipMode", ports=list_of("port", "protocol", "error"))
        ),
        conditions=ListOf(CONDITION),
    ),
)

_ENDPOINT_ADDRESS: Final = struct("ip", "hostname", "nodeName", targetRef=OBJECT_REFERENCE)

ENDPOINTS: Final = top_level(
    subsets=list_of(
        addresses=ListOf(_ENDPOINT_ADDRESS),
        notReadyAddresses=ListOf(_ENDPOINT_ADDRESS),
        ports=list_of("name", "port", "protocol", "appProtocol"),
    )
)

CONFIG_MAP: Final = top_level("immutable", data=STRING_MAP, binaryData=STRING_MAP)

SECRET: Final = top_level("immutable", "type", data=STRING_MAP, stringData=STRING_MAP)

EVENT: Final = top_level(
    "reason",
    "message",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "type",
    "eventTime",
    "action",
    "reportingComponent",
    "reportingInstance",
    involvedObject=OBJECT_REFERENCE,
    source=struct("component", "host"),
    series=struct("count", "lastObservedTime"),
    related=OBJECT_REFERENCE,
)

SERVICE_ACCOUNT: Final = top_level(
    "automountServiceAccountToken",
    secrets=ListOf(OBJECT_REFERENCE),
    imagePullSecrets=ListOf(LOCAL_OBJECT_REFERENCE),
)

BINDING: Final = top_level(target=OBJECT_REFERENCE)
"""The body of ``POST pods/{name}/binding`` (core/v1 Binding)."""

EVICTION: Final = top_level(deleteOptions=DELETE_OPTIONS)
"""The body of ``POST pods/{name}/eviction`` (policy/v1 Eviction)."""
