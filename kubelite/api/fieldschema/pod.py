"""Known fields of ``PodSpec``, ``Container``, ``PodStatus`` and everything below them (v1.31).

Nothing here is left open: every field of the v1.31 ``PodSpec``, ``Container`` (and
``EphemeralContainer``), probes, lifecycle hooks, security contexts, affinity, tolerations,
topology spread, DNS config, resource claims, ``PodStatus`` and ``ContainerStatus`` is listed.
Volumes are `kubelite.api.fieldschema.volumes`.
"""

from __future__ import annotations

from typing import Final

from kubelite.api.fieldschema.meta import LABEL_SELECTOR, LOCAL_OBJECT_REFERENCE, OBJECT_META
from kubelite.api.fieldschema.nodes import (
    RESOURCE_LIST,
    SCALARS,
    STRING_MAP,
    ListOf,
    extend,
    list_of,
    struct,
)
from kubelite.api.fieldschema.volumes import (
    OBJECT_FIELD_SELECTOR,
    RESOURCE_FIELD_SELECTOR,
    VOLUME,
)

# --- containers -----------------------------------------------------------------------------

_KEY_SELECTOR: Final = extend(LOCAL_OBJECT_REFERENCE, "key", "optional")

ENV_VAR: Final = struct(
    "name",
    "value",
    valueFrom=struct(
        fieldRef=OBJECT_FIELD_SELECTOR,
        resourceFieldRef=RESOURCE_FIELD_SELECTOR,
        configMapKeyRef=_KEY_SELECTOR,
        secretKeyRef=_KEY_SELECTOR,
    ),
)

ENV_FROM_SOURCE: Final = struct(
    "prefix",
    configMapRef=extend(LOCAL_OBJECT_REFERENCE, "optional"),
    secretRef=extend(LOCAL_OBJECT_REFERENCE, "optional"),
)

RESOURCE_REQUIREMENTS: Final = struct(
    limits=RESOURCE_LIST, requests=RESOURCE_LIST, claims=list_of("name", "request")
)

_EXEC: Final = struct(command=SCALARS)
_HTTP_GET: Final = struct("path", "port", "host", "scheme", httpHeaders=list_of("name", "value"))
_TCP_SOCKET: Final = struct("port", "host")

PROBE: Final = struct(
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
    # upstream's inline ProbeHandler:
    exec=_EXEC,
    httpGet=_HTTP_GET,
    tcpSocket=_TCP_SOCKET,
    grpc=struct("port", "service"),
)

_LIFECYCLE_HANDLER: Final = struct(
    exec=_EXEC, httpGet=_HTTP_GET, tcpSocket=_TCP_SOCKET, sleep=struct("seconds")
)
LIFECYCLE: Final = struct(postStart=_LIFECYCLE_HANDLER, preStop=_LIFECYCLE_HANDLER)

SE_LINUX_OPTIONS: Final = struct("user", "role", "type", "level")
WINDOWS_OPTIONS: Final = struct(
    "gmsaCredentialSpecName", "gmsaCredentialSpec", "runAsUserName", "hostProcess"
)
_PROFILE: Final = struct("type", "localhostProfile")  # seccomp and AppArmor alike

SECURITY_CONTEXT: Final = struct(
    "privileged",
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "procMount",
    capabilities=struct(add=SCALARS, drop=SCALARS),
    seLinuxOptions=SE_LINUX_OPTIONS,
    windowsOptions=WINDOWS_OPTIONS,
    seccompProfile=_PROFILE,
    appArmorProfile=_PROFILE,
)

CONTAINER: Final = struct(
    "name",
    "image",
    "workingDir",
    "restartPolicy",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "stdin",
    "stdinOnce",
    "tty",
    command=SCALARS,
    args=SCALARS,
    ports=list_of("name", "hostPort", "containerPort", "protocol", "hostIP"),
    envFrom=ListOf(ENV_FROM_SOURCE),
    env=ListOf(ENV_VAR),
    resources=RESOURCE_REQUIREMENTS,
    resizePolicy=list_of("resourceName", "restartPolicy"),
    volumeMounts=list_of(
        "name",
        "readOnly",
        "recursiveReadOnly",
        "mountPath",
        "subPath",
        "mountPropagation",
        "subPathExpr",
    ),
    volumeDevices=list_of("name", "devicePath"),
    livenessProbe=PROBE,
    readinessProbe=PROBE,
    startupProbe=PROBE,
    lifecycle=LIFECYCLE,
    securityContext=SECURITY_CONTEXT,
)

EPHEMERAL_CONTAINER: Final = extend(CONTAINER, "targetContainerName")

# --- scheduling -----------------------------------------------------------------------------

_NODE_SELECTOR_TERM: Final = struct(
    matchExpressions=list_of("key", "operator", values=SCALARS),
    matchFields=list_of("key", "operator", values=SCALARS),
)

_POD_AFFINITY_TERM: Final = struct(
    "topologyKey",
    labelSelector=LABEL_SELECTOR,
    namespaces=SCALARS,
    namespaceSelector=LABEL_SELECTOR,
    matchLabelKeys=SCALARS,
    mismatchLabelKeys=SCALARS,
)

_POD_AFFINITY: Final = struct(
    requiredDuringSchedulingIgnoredDuringExecution=ListOf(_POD_AFFINITY_TERM),
    preferredDuringSchedulingIgnoredDuringExecution=list_of(
        "weight", podAffinityTerm=_POD_AFFINITY_TERM
    ),
)

AFFINITY: Final = struct(
    nodeAffinity=struct(
        requiredDuringSchedulingIgnoredDuringExecution=struct(
            nodeSelectorTerms=ListOf(_NODE_SELECTOR_TERM)
        ),
        preferredDuringSchedulingIgnoredDuringExecution=list_of(
            "weight", preference=_NODE_SELECTOR_TERM
        ),
    ),
    podAffinity=_POD_AFFINITY,
    podAntiAffinity=_POD_AFFINITY,
)

TOLERATION: Final = struct("key", "operator", "value", "effect", "tolerationSeconds")

TOPOLOGY_SPREAD_CONSTRAINT: Final = struct(
    "maxSkew",
    "topologyKey",
    "whenUnsatisfiable",
    "minDomains",
    "nodeAffinityPolicy",
    "nodeTaintsPolicy",
    labelSelector=LABEL_SELECTOR,
    matchLabelKeys=SCALARS,
)

# --- the pod --------------------------------------------------------------------------------

POD_SECURITY_CONTEXT: Final = struct(
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "supplementalGroupsPolicy",
    "fsGroup",
    "fsGroupChangePolicy",
    seLinuxOptions=SE_LINUX_OPTIONS,
    windowsOptions=WINDOWS_OPTIONS,
    supplementalGroups=SCALARS,
    sysctls=list_of("name", "value"),
    seccompProfile=_PROFILE,
    appArmorProfile=_PROFILE,
)

POD_SPEC: Final = struct(
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "hostname",
    "subdomain",
    "schedulerName",
    "priorityClassName",
    "priority",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "setHostnameAsFQDN",
    "hostUsers",
    volumes=ListOf(VOLUME),
    initContainers=ListOf(CONTAINER),
    containers=ListOf(CONTAINER),
    ephemeralContainers=ListOf(EPHEMERAL_CONTAINER),
    nodeSelector=STRING_MAP,
    securityContext=POD_SECURITY_CONTEXT,
    imagePullSecrets=ListOf(LOCAL_OBJECT_REFERENCE),
    affinity=AFFINITY,
    tolerations=ListOf(TOLERATION),
    hostAliases=list_of("ip", hostnames=SCALARS),
    dnsConfig=struct(nameservers=SCALARS, searches=SCALARS, options=list_of("name", "value")),
    readinessGates=list_of("conditionType"),
    overhead=RESOURCE_LIST,
    topologySpreadConstraints=ListOf(TOPOLOGY_SPREAD_CONSTRAINT),
    os=struct("name"),
    schedulingGates=list_of("name"),
    resourceClaims=list_of("name", "resourceClaimName", "resourceClaimTemplateName"),
)

POD_TEMPLATE_SPEC: Final = struct(metadata=OBJECT_META, spec=POD_SPEC)

# --- status ---------------------------------------------------------------------------------

_CONTAINER_STATE: Final = struct(
    waiting=struct("reason", "message"),
    running=struct("startedAt"),
    terminated=struct(
        "exitCode", "signal", "reason", "message", "startedAt", "finishedAt", "containerID"
    ),
)

CONTAINER_STATUS: Final = struct(
    "name",
    "ready",
    "restartCount",
    "image",
    "imageID",
    "containerID",
    "started",
    state=_CONTAINER_STATE,
    lastState=_CONTAINER_STATE,
    allocatedResources=RESOURCE_LIST,
    resources=RESOURCE_REQUIREMENTS,
    volumeMounts=list_of("name", "mountPath", "readOnly", "recursiveReadOnly"),
    user=struct(linux=struct("uid", "gid", supplementalGroups=SCALARS)),
    allocatedResourcesStatus=list_of("name", resources=list_of("resourceID", "health")),
)

POD_STATUS: Final = struct(
    "phase",
    "message",
    "reason",
    "nominatedNodeName",
    "hostIP",
    "podIP",
    "startTime",
    "qosClass",
    "resize",
    conditions=list_of(
        "type", "status", "lastProbeTime", "lastTransitionTime", "reason", "message"
    ),
    hostIPs=list_of("ip"),
    podIPs=list_of("ip"),
    initContainerStatuses=ListOf(CONTAINER_STATUS),
    containerStatuses=ListOf(CONTAINER_STATUS),
    ephemeralContainerStatuses=ListOf(CONTAINER_STATUS),
    resourceClaimStatuses=list_of("name", "resourceClaimName"),
)
