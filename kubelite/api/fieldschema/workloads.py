"""Known fields of the apps/v1 and batch/v1 kinds kubelite serves, ``status`` included.

Deployment, ReplicaSet, DaemonSet, StatefulSet (its ``volumeClaimTemplates`` are whole
PersistentVolumeClaims) and Job, every v1.31 field; the pod template is
`kubelite.api.fieldschema.pod.POD_TEMPLATE_SPEC`.
"""

from __future__ import annotations

from typing import Final

from kubelite.api.fieldschema.meta import LABEL_SELECTOR, top_level
from kubelite.api.fieldschema.nodes import SCALARS, ListOf, list_of, struct
from kubelite.api.fieldschema.pod import POD_TEMPLATE_SPEC
from kubelite.api.fieldschema.volumes import PERSISTENT_VOLUME_CLAIM


def _conditions(*times: str) -> ListOf:
    """A workload kind's conditions; upstream each kind has its own condition type, which
    differ only in their timestamps (Deployment: lastUpdateTime, Job: lastProbeTime)."""
    return list_of("type", "status", "lastTransitionTime", "reason", "message", *times)


_ROLLING_UPDATE: Final = struct("maxUnavailable", "maxSurge")

DEPLOYMENT: Final = top_level(
    spec=struct(
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "paused",
        "progressDeadlineSeconds",
        selector=LABEL_SELECTOR,
        template=POD_TEMPLATE_SPEC,
        strategy=struct("type", rollingUpdate=_ROLLING_UPDATE),
    ),
    status=struct(
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "collisionCount",
        conditions=_conditions("lastUpdateTime"),
    ),
)

REPLICA_SET: Final = top_level(
    spec=struct("replicas", "minReadySeconds", selector=LABEL_SELECTOR, template=POD_TEMPLATE_SPEC),
    status=struct(
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
        conditions=_conditions(),
    ),
)

DAEMON_SET: Final = top_level(
    spec=struct(
        "minReadySeconds",
        "revisionHistoryLimit",
        selector=LABEL_SELECTOR,
        template=POD_TEMPLATE_SPEC,
        updateStrategy=struct("type", rollingUpdate=_ROLLING_UPDATE),
    ),
    status=struct(
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
        "observedGeneration",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
        "collisionCount",
        conditions=_conditions(),
    ),
)

STATEFUL_SET: Final = top_level(
    spec=struct(
        "replicas",
        "serviceName",
        "podManagementPolicy",
        "revisionHistoryLimit",
        "minReadySeconds",
        selector=LABEL_SELECTOR,
        template=POD_TEMPLATE_SPEC,
        volumeClaimTemplates=ListOf(PERSISTENT_VOLUME_CLAIM),
        updateStrategy=struct("type", rollingUpdate=struct("partition", "maxUnavailable")),
        persistentVolumeClaimRetentionPolicy=struct("whenDeleted", "whenScaled"),
        ordinals=struct("start"),
    ),
    status=struct(
        "observedGeneration",
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "currentRevision",
        "updateRevision",
        "collisionCount",
        "availableReplicas",
        conditions=_conditions(),
    ),
)

JOB: Final = top_level(
    spec=struct(
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "manualSelector",
        "ttlSecondsAfterFinished",
        "completionMode",
        "suspend",
        "podReplacementPolicy",
        "managedBy",
        podFailurePolicy=struct(
            rules=list_of(
                "action",
                onExitCodes=struct("containerName", "operator", values=SCALARS),
                onPodConditions=list_of("type", "status"),
            )
        ),
        successPolicy=struct(rules=list_of("succeededIndexes", "succeededCount")),
        selector=LABEL_SELECTOR,
        template=POD_TEMPLATE_SPEC,
    ),
    status=struct(
        "startTime",
        "completionTime",
        "active",
        "succeeded",
        "failed",
        "terminating",
        "completedIndexes",
        "failedIndexes",
        "ready",
        conditions=_conditions("lastProbeTime"),
        uncountedTerminatedPods=struct(succeeded=SCALARS, failed=SCALARS),
    ),
)
