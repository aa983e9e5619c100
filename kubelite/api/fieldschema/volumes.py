"""Known fields of ``Volume`` (every v1.31 volume source) and of ``PersistentVolumeClaim``.

All thirty volume sources are written out, the in-tree cloud ones too: each is a handful of
scalars plus, for some, a ``secretRef``, so listing them is cheap and honest. The claim types
are here because ``ephemeral.volumeClaimTemplate`` and StatefulSet ``volumeClaimTemplates`` use
them.
"""

from __future__ import annotations

from typing import Final

from kubelite.api.fieldschema.meta import LABEL_SELECTOR, LOCAL_OBJECT_REFERENCE, OBJECT_META
from kubelite.api.fieldschema.nodes import (
    RESOURCE_LIST,
    SCALARS,
    STRING_MAP,
    ListOf,
    Node,
    extend,
    list_of,
    struct,
)

OBJECT_FIELD_SELECTOR: Final = struct("apiVersion", "fieldPath")
RESOURCE_FIELD_SELECTOR: Final = struct("containerName", "resource", "divisor")

KEYS_TO_PATHS: Final = list_of("key", "path", "mode")
DOWNWARD_API_FILES: Final = list_of(
    "path", "mode", fieldRef=OBJECT_FIELD_SELECTOR, resourceFieldRef=RESOURCE_FIELD_SELECTOR
)

_PROJECTION: Final = struct(
    secret=extend(LOCAL_OBJECT_REFERENCE, "optional", items=KEYS_TO_PATHS),
    configMap=extend(LOCAL_OBJECT_REFERENCE, "optional", items=KEYS_TO_PATHS),
    downwardAPI=struct(items=DOWNWARD_API_FILES),
    serviceAccountToken=struct("audience", "expirationSeconds", "path"),
    clusterTrustBundle=struct(
        "name", "signerName", "optional", "path", labelSelector=LABEL_SELECTOR
    ),
)

PERSISTENT_VOLUME_CLAIM_SPEC: Final = struct(
    "volumeName",
    "storageClassName",
    "volumeMode",
    "volumeAttributesClassName",
    accessModes=SCALARS,
    selector=LABEL_SELECTOR,
    resources=struct(limits=RESOURCE_LIST, requests=RESOURCE_LIST),
    dataSource=struct("apiGroup", "kind", "name"),
    dataSourceRef=struct("apiGroup", "kind", "name", "namespace"),
)

PERSISTENT_VOLUME_CLAIM_STATUS: Final = struct(
    "phase",
    "currentVolumeAttributesClassName",
    accessModes=SCALARS,
    capacity=RESOURCE_LIST,
    conditions=list_of(
        "type", "status", "lastProbeTime", "lastTransitionTime", "reason", "message"
    ),
    allocatedResources=RESOURCE_LIST,
    allocatedResourceStatuses=STRING_MAP,
    modifyVolumeStatus=struct("targetVolumeAttributesClassName", "status"),
)

PERSISTENT_VOLUME_CLAIM: Final = struct(
    "kind",
    "apiVersion",
    metadata=OBJECT_META,
    spec=PERSISTENT_VOLUME_CLAIM_SPEC,
    status=PERSISTENT_VOLUME_CLAIM_STATUS,
)
"""A whole claim, as StatefulSet ``spec.volumeClaimTemplates[]`` carries it."""

_SECRET_REF: Final = LOCAL_OBJECT_REFERENCE

VOLUME_SOURCES: Final[dict[str, Node]] = {
    # The ones people use.
    "emptyDir": struct("medium", "sizeLimit"),
    "hostPath": struct("path", "type"),
    "configMap": extend(LOCAL_OBJECT_REFERENCE, "defaultMode", "optional", items=KEYS_TO_PATHS),
    "secret": struct("secretName", "defaultMode", "optional", items=KEYS_TO_PATHS),
    "persistentVolumeClaim": struct("claimName", "readOnly"),
    "downwardAPI": struct("defaultMode", items=DOWNWARD_API_FILES),
    "projected": struct("defaultMode", sources=ListOf(_PROJECTION)),
    "ephemeral": struct(
        volumeClaimTemplate=struct(metadata=OBJECT_META, spec=PERSISTENT_VOLUME_CLAIM_SPEC)
    ),
    "csi": struct(
        "driver",
        "readOnly",
        "fsType",
        volumeAttributes=STRING_MAP,
        nodePublishSecretRef=_SECRET_REF,
    ),
    "nfs": struct("server", "path", "readOnly"),
    "image": struct("reference", "pullPolicy"),
    # In-tree network and cloud volumes: deprecated or rare, but each is small.
    "gcePersistentDisk": struct("pdName", "fsType", "partition", "readOnly"),
    "awsElasticBlockStore": struct("volumeID", "fsType", "partition", "readOnly"),
    "gitRepo": struct("repository", "revision", "directory"),
    "iscsi": struct(
        "targetPortal",
        "iqn",
        "lun",
        "iscsiInterface",
        "fsType",
        "readOnly",
        "chapAuthDiscovery",
        "chapAuthSession",
        "initiatorName",
        portals=SCALARS,
        secretRef=_SECRET_REF,
    ),
    "glusterfs": struct("endpoints", "path", "readOnly"),
    "rbd": struct(
        "image",
        "fsType",
        "pool",
        "user",
        "keyring",
        "readOnly",
        monitors=SCALARS,
        secretRef=_SECRET_REF,
    ),
    "flexVolume": struct("driver", "fsType", "readOnly", secretRef=_SECRET_REF, options=STRING_MAP),
    "cinder": struct("volumeID", "fsType", "readOnly", secretRef=_SECRET_REF),
    "cephfs": struct(
        "path", "user", "secretFile", "readOnly", monitors=SCALARS, secretRef=_SECRET_REF
    ),
    "flocker": struct("datasetName", "datasetUUID"),
    "fc": struct("lun", "fsType", "readOnly", targetWWNs=SCALARS, wwids=SCALARS),
    "azureFile": struct("secretName", "shareName", "readOnly"),
    "azureDisk": struct("diskName", "diskURI", "cachingMode", "fsType", "readOnly", "kind"),
    "vsphereVolume": struct("volumePath", "fsType", "storagePolicyName", "storagePolicyID"),
    "quobyte": struct("registry", "volume", "readOnly", "user", "group", "tenant"),
    "photonPersistentDisk": struct("pdID", "fsType"),
    "portworxVolume": struct("volumeID", "fsType", "readOnly"),
    "scaleIO": struct(
        "gateway",
        "system",
        "sslEnabled",
        "protectionDomain",
        "storagePool",
        "storageMode",
        "volumeName",
        "fsType",
        "readOnly",
        secretRef=_SECRET_REF,
    ),
    "storageos": struct(
        "volumeName", "volumeNamespace", "fsType", "readOnly", secretRef=_SECRET_REF
    ),
}

VOLUME: Final = struct("name", **VOLUME_SOURCES)
"""A pod volume: its ``name`` and, inline (upstream ``VolumeSource``), one source."""
