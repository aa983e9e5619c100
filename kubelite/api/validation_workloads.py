"""Validation of pods and the kinds that stamp pods out of a template.

This module owns the pod spec rules (containers, ports, resources, restart and DNS policy), the
pod update rule (only images, ``activeDeadlineSeconds``, added tolerations and removed
scheduling gates may change) and the controllers' rules: a selector that matches the template
labels, non-negative replica counts, rolling-update bounds, immutable selectors and Job
templates. Primitives and `FieldError` come from `kubelite.api.validation`, whose `validate`
dispatches here. Field paths and messages are upstream's (Kubernetes 1.31), for example::

    spec.template.metadata.labels: Invalid value: map[string]string{"app":"db"}:
        `selector` does not match template `labels`
"""

from __future__ import annotations

import copy
import re

from kubelite.api.labels import SelectorError, go_quote, label_selector_from_dict
from kubelite.api.quantity import parse_quantity
from kubelite.api.validation import (
    IMMUTABLE,
    OMIT,
    PROTOCOLS,
    FieldError,
    GoText,
    JSONDict,
    as_dict,
    as_list,
    dns1123_label_errors,
    duplicate,
    forbidden,
    go_string_map,
    go_string_slice,
    immutable,
    invalid,
    is_int,
    nonnegative,
    not_supported,
    port_name_errors,
    port_number,
    quantity_errors,
    required,
    validate_annotations,
    validate_labels,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MAX_INT32 = 2**31 - 1
_PERCENT_RE = re.compile("[0-9]+%")
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)
_POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


# --- containers and pod specs --------------------------------------------------------------------


def _validate_ports(container: JSONDict, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, port in enumerate(as_dict(p) for p in as_list(container.get("ports"))):
        port_path = f"{path}.ports[{index}]"
        name = port.get("name")
        if isinstance(name, str) and name:
            errors += [invalid(f"{port_path}.name", name, m) for m in port_name_errors(name)]
        errors += port_number(f"{port_path}.containerPort", port.get("containerPort"))
        errors += port_number(f"{port_path}.hostPort", port.get("hostPort"), allow_zero=True)
        protocol = port.get("protocol")
        if protocol not in PROTOCOLS:
            errors.append(not_supported(f"{port_path}.protocol", protocol, PROTOCOLS))
    return errors


def _validate_resources(resources: object, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    sections = {key: as_dict(as_dict(resources).get(key)) for key in ("limits", "requests")}
    for section, values in sections.items():
        for name, value in values.items():
            errors += quantity_errors(f"{path}.{section}[{name}]", value)
    if errors:
        return errors
    for name, request in sections["requests"].items():
        limit = sections["limits"].get(name)
        if limit is not None and parse_quantity(request) > parse_quantity(limit):
            errors.append(
                invalid(
                    f"{path}.requests[{name}]",
                    request,
                    f"must be less than or equal to {name} limit of {limit}",
                )
            )
    return errors


def _validate_container(container: JSONDict, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    name = container.get("name")
    if not name:
        errors.append(required(f"{path}.name"))
    else:
        errors += [invalid(f"{path}.name", name, m) for m in dns1123_label_errors(str(name))]
    if not container.get("image"):
        errors.append(required(f"{path}.image"))
    policy = container.get("imagePullPolicy")
    if policy not in PULL_POLICIES:
        errors.append(not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    errors += _validate_ports(container, path)
    errors += _validate_resources(container.get("resources"), f"{path}.resources")
    return errors


def _validate_containers(spec: JSONDict, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not as_list(spec.get("containers")):
        errors.append(required(f"{path}.containers"))
    names: set[object] = set()
    for section in ("initContainers", "containers"):
        for index, container in enumerate(as_dict(c) for c in as_list(spec.get(section))):
            container_path = f"{path}.{section}[{index}]"
            errors += _validate_container(container, container_path)
            name = container.get("name")
            if name and isinstance(name, str):
                if name in names:
                    errors.append(duplicate(f"{container_path}.name", name))
                names.add(name)
    return errors


def validate_pod_spec(spec: JSONDict, path: str) -> list[FieldError]:
    """Upstream ``ValidatePodSpec`` (the parts clients hit)."""
    errors = _validate_containers(spec, path)
    restart = spec.get("restartPolicy")
    if not restart:
        errors.append(required(f"{path}.restartPolicy"))
    elif restart not in RESTART_POLICIES:
        errors.append(not_supported(f"{path}.restartPolicy", restart, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns not in DNS_POLICIES:
        errors.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    grace = f"{path}.terminationGracePeriodSeconds"
    errors += nonnegative(grace, spec.get("terminationGracePeriodSeconds"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not is_int(deadline) or not 1 <= deadline <= MAX_INT32):
        errors.append(
            invalid(
                f"{path}.activeDeadlineSeconds",
                deadline,
                f"must be between 1 and {MAX_INT32}, inclusive",
            )
        )
    errors += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    return errors


def validate_pod_template(template: object, path: str) -> list[FieldError]:
    if not isinstance(template, dict):
        return [required(path)]
    meta = as_dict(template.get("metadata"))
    errors = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    errors += validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations")
    return errors + validate_pod_spec(as_dict(template.get("spec")), f"{path}.spec")


# --- pods ----------------------------------------------------------------------------------------


def _toleration_key(toleration: object) -> object:
    # tolerationSeconds may change on update (upstream allows lowering it), so it is not part
    # of a toleration's identity here.
    return sorted((k, v) for k, v in as_dict(toleration).items() if k != "tolerationSeconds")


def _masked_pod_spec(spec: JSONDict) -> JSONDict:
    """`spec` without the fields a pod update may change."""
    masked = copy.deepcopy(spec)
    for section in ("containers", "initContainers"):
        for container in as_list(masked.get(section)):
            if isinstance(container, dict):
                container.pop("image", None)
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        masked.pop(key, None)
    return masked


def _validate_pod_update(spec: JSONDict, old_spec: JSONDict) -> list[FieldError]:
    errors: list[FieldError] = []
    if _masked_pod_spec(spec) != _masked_pod_spec(old_spec):
        errors.append(forbidden("spec", _POD_UPDATE_MESSAGE))
    new_keys = [_toleration_key(t) for t in as_list(spec.get("tolerations"))]
    if any(_toleration_key(t) not in new_keys for t in as_list(old_spec.get("tolerations"))):
        errors.append(
            forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            )
        )
    old_gates = as_list(old_spec.get("schedulingGates"))
    if any(gate not in old_gates for gate in as_list(spec.get("schedulingGates"))):
        errors.append(forbidden("spec.schedulingGates", "only deletion is allowed"))
    return errors


def validate_pod(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = validate_pod_spec(spec, "spec")
    if old is not None:
        errors += _validate_pod_update(spec, as_dict(old.get("spec")))
    return errors


# --- selectors, replicas and rolling updates -----------------------------------------------------


def go_label_selector(selector: object) -> GoText:
    """Go's ``%#v`` of a ``metav1.LabelSelector``, as upstream prints a bad selector."""
    selector = as_dict(selector)
    expressions = selector.get("matchExpressions")
    if expressions is None:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    else:
        items = [
            f"v1.LabelSelectorRequirement{{Key:{go_quote(str(e.get('key', '')))}, "
            f"Operator:{go_quote(str(e.get('operator', '')))}, "
            f"Values:{go_string_slice(e.get('values'))}}}"
            for e in map(as_dict, as_list(expressions))
        ]
        rendered = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    match_labels = go_string_map(selector.get("matchLabels"))
    return GoText(f"v1.LabelSelector{{MatchLabels:{match_labels}, MatchExpressions:{rendered}}}")


def _validate_selector(spec: JSONDict, kind: str, *, optional: bool = False) -> list[FieldError]:
    """``spec.selector`` present, non-empty, well formed and matching the template labels."""
    selector = spec.get("selector")
    if selector is None:
        return [] if optional else [required("spec.selector")]
    selector = as_dict(selector)
    errors = validate_labels(selector.get("matchLabels"), "spec.selector.matchLabels")
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return [
            *errors,
            invalid(
                "spec.selector",
                go_label_selector(selector),
                f"empty selector is invalid for {kind}",
            ),
        ]
    try:
        parsed = label_selector_from_dict(selector)
    except SelectorError as error:
        return [*errors, invalid("spec.selector", OMIT, error.message)]
    raw_labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    labels = as_dict(raw_labels)
    if not errors and not parsed.matches(labels):
        errors.append(
            invalid(
                "spec.template.metadata.labels",
                GoText(go_string_map(raw_labels)),
                "`selector` does not match template `labels`",
            )
        )
    return errors


def _int_or_percent(value: object) -> int | None:
    """The number in an IntOrString (``3`` or ``"25%"``), None when it is neither."""
    if is_int(value):
        return value
    if isinstance(value, str) and _PERCENT_RE.fullmatch(value):
        return int(value[:-1])
    return None


def _validate_int_or_percent(value: object, path: str) -> list[FieldError]:
    """Upstream ``ValidatePositiveIntOrPercent`` plus ``IsNotMoreThan100Percent``."""
    if value is None:
        return []
    number = _int_or_percent(value)
    if number is None:
        if isinstance(value, str):
            return [invalid(path, value, _PERCENT_MESSAGE)]
        return [invalid(path, value, "must be an integer or percentage (e.g '5%')")]
    shown = GoText(str(value))
    if number < 0:
        return [invalid(path, shown, "must be greater than or equal to 0")]
    if isinstance(value, str) and number > 100:
        return [invalid(path, shown, "must not be greater than 100%")]
    return []


def _validate_deployment_strategy(spec: JSONDict) -> list[FieldError]:
    strategy = as_dict(spec.get("strategy"))
    kind = strategy.get("type")
    if kind not in ("Recreate", "RollingUpdate"):
        return [not_supported("spec.strategy.type", kind, ("Recreate", "RollingUpdate"))]
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            return [forbidden("spec.strategy.rollingUpdate", detail)]
        return []
    rolling = as_dict(rolling)
    path = "spec.strategy.rollingUpdate"
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    errors = _validate_int_or_percent(surge, f"{path}.maxSurge")
    errors += _validate_int_or_percent(unavailable, f"{path}.maxUnavailable")
    if errors:
        return errors
    if not _int_or_percent(surge) and not _int_or_percent(unavailable):
        errors.append(
            invalid(
                f"{path}.maxUnavailable",
                GoText(str(unavailable if unavailable is not None else 0)),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    return errors


def _validate_counts(spec: JSONDict, keys: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in keys:
        errors += nonnegative(f"spec.{key}", spec.get(key))
    return errors


def _validate_always_restart(spec: JSONDict) -> list[FieldError]:
    template_spec = as_dict(as_dict(spec.get("template")).get("spec"))
    restart = template_spec.get("restartPolicy")
    if restart is not None and restart != "Always":
        return [not_supported("spec.template.spec.restartPolicy", restart, ("Always",))]
    return []


def _selector_update(spec: JSONDict, old: JSONDict | None) -> list[FieldError]:
    if old is None:
        return []
    old_selector = as_dict(old.get("spec")).get("selector")
    new_selector = spec.get("selector")
    if new_selector == old_selector:
        return []
    return [invalid("spec.selector", go_label_selector(new_selector), IMMUTABLE)]


def _validate_replicated(
    obj: JSONDict, old: JSONDict | None, kind: str, counts: tuple[str, ...]
) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _validate_selector(spec, kind)
    errors += validate_pod_template(spec.get("template"), "spec.template")
    errors += _validate_always_restart(spec)
    errors += _validate_counts(spec, counts)
    return errors + _selector_update(spec, old)


# --- the controllers' kinds ----------------------------------------------------------------------


def validate_deployment(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    counts = ("replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds")
    errors = _validate_replicated(obj, old, "deployment", counts)
    spec = as_dict(obj.get("spec"))
    errors += _validate_deployment_strategy(spec)
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
    if is_int(deadline) and is_int(min_ready) and deadline <= min_ready:
        errors.append(
            invalid(
                "spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
            )
        )
    return errors


def validate_replica_set(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    return _validate_replicated(obj, old, "replicaset", ("replicas", "minReadySeconds"))


_STATEFUL_SET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def validate_stateful_set(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    counts = ("replicas", "minReadySeconds", "revisionHistoryLimit")
    errors = _validate_replicated(obj, old, "statefulset", counts)
    spec = as_dict(obj.get("spec"))
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        choices = ("OrderedReady", "Parallel")
        errors.append(not_supported("spec.podManagementPolicy", policy, choices))
    strategy = as_dict(spec.get("updateStrategy"))
    if strategy.get("type") not in ("OnDelete", "RollingUpdate"):
        choices = ("OnDelete", "RollingUpdate")
        errors.append(not_supported("spec.updateStrategy.type", strategy.get("type"), choices))
    partition = as_dict(strategy.get("rollingUpdate")).get("partition")
    errors += nonnegative("spec.updateStrategy.rollingUpdate.partition", partition)
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        strip = {k: v for k, v in spec.items() if k not in _STATEFUL_SET_MUTABLE}
        old_strip = {k: v for k, v in old_spec.items() if k not in _STATEFUL_SET_MUTABLE}
        if strip != old_strip:
            errors.append(
                forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                    "'minReadySeconds' are forbidden",
                )
            )
    return errors


def _validate_daemon_set_strategy(spec: JSONDict) -> list[FieldError]:
    strategy = as_dict(spec.get("updateStrategy"))
    kind = strategy.get("type")
    if kind not in ("OnDelete", "RollingUpdate"):
        return [not_supported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate"))]
    if kind != "RollingUpdate":
        return []
    path = "spec.updateStrategy.rollingUpdate"
    rolling = as_dict(strategy.get("rollingUpdate"))
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    errors = _validate_int_or_percent(unavailable, f"{path}.maxUnavailable")
    errors += _validate_int_or_percent(surge, f"{path}.maxSurge")
    if errors:
        return errors
    has_unavailable, has_surge = bool(_int_or_percent(unavailable)), bool(_int_or_percent(surge))
    if has_unavailable and has_surge:
        detail = "may not be set when maxUnavailable is non-zero"
        errors.append(invalid(f"{path}.maxSurge", GoText(str(surge)), detail))
    elif not has_unavailable and not has_surge:
        errors.append(required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errors


def validate_daemon_set(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    counts = ("minReadySeconds", "revisionHistoryLimit")
    errors = _validate_replicated(obj, old, "daemonset", counts)
    return errors + _validate_daemon_set_strategy(as_dict(obj.get("spec")))


def validate_job(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    # The registry generates a Job's selector from its uid, so it may be absent here.
    errors = _validate_selector(spec, "job", optional=True)
    errors += validate_pod_template(spec.get("template"), "spec.template")
    restart = as_dict(as_dict(spec.get("template")).get("spec")).get("restartPolicy")
    if restart not in ("OnFailure", "Never"):
        choices = ("OnFailure", "Never")
        errors.append(not_supported("spec.template.spec.restartPolicy", restart, choices))
    errors += _validate_counts(spec, ("parallelism", "completions", "backoffLimit"))
    deadline = spec.get("activeDeadlineSeconds")
    if is_int(deadline) and deadline <= 0:
        errors.append(
            invalid("spec.activeDeadlineSeconds", deadline, "must be greater than or equal to 1")
        )
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        errors += _selector_update(spec, old)
        errors += immutable(
            "spec.template", spec.get("template"), old_spec.get("template"), show=False
        )
        errors += immutable(
            "spec.completions", spec.get("completions"), old_spec.get("completions")
        )
    return errors
