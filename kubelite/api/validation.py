"""Object validation: the API server's 422 field errors, with upstream's wording.

This module owns `FieldError` (one broken rule at one field path), the primitives that build
them, object metadata, the core kinds (Pod, Service, Namespace, ConfigMap, Secret) and the
`validate` entry point; `validation_workloads` holds the controllers' kinds (Deployment,
ReplicaSet, StatefulSet, DaemonSet, Job, CronJob) and the pod-template rules they share. The
handler runs `apply_defaults` first, then `validate` on the defaulted object (and on the stored
one for updates) and turns a non-empty list into a 422 ``Invalid`` Status::

    [e.message() for e in validate("", "v1", "Pod", pod)]
    # ['spec.containers[0].image: Required value',
    #  'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and
    #   65535, inclusive']

Messages follow Kubernetes 1.31 (the version ``/version`` reports). Bad values print as Go's
``%#v`` would for strings, numbers, string maps and selectors; for other structs (a whole pod
template) we omit the value where upstream prints the struct.

The module is longer than most because the message primitives and the core kinds share one
vocabulary of constructors; splitting Service or ConfigMap out would only add import hops.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from kubelite.api.labels import (
    DNS1123_LABEL_FMT,
    dns1123_subdomain_errors,
    go_quote,
    label_key_errors,
    label_value_errors,
)
from kubelite.api.quantity import QuantityError, parse_quantity

JSONDict = dict[str, Any]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
DNS1123_LABEL_MAX_LENGTH = 63
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
IMMUTABLE = "field is immutable"

_DNS1123_LABEL_RE = re.compile(DNS1123_LABEL_FMT)
_DNS1035_LABEL_RE = re.compile(DNS1035_LABEL_FMT)
_CONFIG_KEY_RE = re.compile(CONFIG_KEY_FMT)


class ErrorType(enum.Enum):
    """Upstream ``field.ErrorType``; the value is the text its ``String()`` prints."""

    REQUIRED = "Required value"
    INVALID = "Invalid value"
    NOT_SUPPORTED = "Unsupported value"
    DUPLICATE = "Duplicate value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""A `FieldError.value` that is not printed (upstream's ``omitValue``)."""

# Types whose message never shows the value, whatever it is.
_VALUELESS = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG})


@dataclass(frozen=True)
class GoText:
    """A bad value printed verbatim, as upstream prints a ``fmt.Stringer`` (``IntOrString``)."""

    text: str


def go_string_map(value: object) -> str:
    """Go's ``%#v`` of a ``map[string]string`` (None is a nil map)."""
    if value is None:
        return "map[string]string(nil)"
    items = sorted(as_dict(value).items())
    return (
        "map[string]string{"
        + ", ".join(f"{go_quote(k)}:{go_quote(str(v))}" for k, v in items)
        + "}"
    )


def go_string_slice(value: object) -> str:
    """Go's ``%#v`` of a ``[]string`` (None is a nil slice)."""
    if value is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(str(item)) for item in as_list(value)) + "}"


def _go_value(value: object) -> str:
    """The bad value as upstream's ``ErrorBody`` prints a JSON-shaped Go value."""
    if value is None:
        return '"null"'  # upstream substitutes the string "null", then quotes it
    if isinstance(value, GoText):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return go_string_map(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return go_string_slice(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class FieldError:
    """One validation failure: ``field: <Type>[: value][: detail]`` once rendered."""

    type: ErrorType
    field: str
    value: Any = OMIT
    detail: str = ""

    def message(self) -> str:
        """Upstream ``field.Error.Error()``, e.g. ``spec.replicas: Invalid value: -1: must be…``."""
        body = self.type.value
        if self.type not in _VALUELESS and self.value is not OMIT:
            body += ": " + _go_value(self.value)
        if self.detail:
            body += ": " + self.detail
        return f"{self.field}: {body}"


# --- constructors (upstream's field.Required, field.Invalid, ...) --------------------------------


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, path, OMIT, detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, path, value, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, path, OMIT, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, path, value)


def too_long(path: str, limit: int) -> FieldError:
    return FieldError(ErrorType.TOO_LONG, path, OMIT, f"must have at most {limit} bytes")


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(item) for item in supported)
    return FieldError(ErrorType.NOT_SUPPORTED, path, value, detail)


# --- primitive checks ----------------------------------------------------------------------------


def _regex_message(message: str, regex: str, *examples: str) -> str:
    # Upstream's RegexError, double space after "," included.
    quoted = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {quoted}regex used for validation is '{regex}')"


def dns1123_label_errors(value: str) -> list[str]:
    """Upstream ``IsDNS1123Label``: container names, namespace names."""
    errors = []
    if len(value.encode()) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(f"must be no more than {DNS1123_LABEL_MAX_LENGTH} characters")
    if not _DNS1123_LABEL_RE.fullmatch(value):
        errors.append(
            _regex_message(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errors


def dns1035_label_errors(value: str) -> list[str]:
    """Upstream ``IsDNS1035Label``: Service names."""
    errors = []
    if len(value.encode()) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(f"must be no more than {DNS1123_LABEL_MAX_LENGTH} characters")
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errors.append(
            _regex_message(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                DNS1035_LABEL_FMT,
                "my-name",
                "abc-123",
            )
        )
    return errors


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def nonnegative(path: str, value: object) -> list[FieldError]:
    """Upstream ``ValidateNonnegativeField`` on an optional integer."""
    if is_int(value) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def port_number(
    path: str, value: object, *, allow_zero: bool = False, zero_required: bool = True
) -> list[FieldError]:
    """A TCP/UDP port: 1-65535.

    Zero or missing is fine with `allow_zero` (host and node ports), ``Required value`` with
    `zero_required` (container ports) and otherwise out of range (Service ports).
    """
    if value is None or value == 0:
        if allow_zero:
            return []
        if zero_required or value is None:
            return [required(path)]
    if not is_int(value) or not 1 <= value <= 65535:
        shown = value if is_int(value) else GoText(str(value))
        return [invalid(path, shown, "must be between 1 and 65535, inclusive")]
    return []


def immutable(path: str, new: object, old: object, *, show: bool = True) -> list[FieldError]:
    """Upstream ``ValidateImmutableField``; `show` False omits struct-valued bad values."""
    if new == old:
        return []
    return [invalid(path, new if show else OMIT, IMMUTABLE)]


def as_dict(value: object) -> JSONDict:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# --- metadata ------------------------------------------------------------------------------------

NameCheck = Callable[[str], list[str]]


def validate_labels(labels: object, path: str) -> list[FieldError]:
    """Upstream ``ValidateLabels``: every message is reported at the map's path."""
    errors: list[FieldError] = []
    for key, value in as_dict(labels).items():
        errors += [invalid(path, key, msg) for msg in label_key_errors(str(key))]
        if not isinstance(value, str):
            errors.append(invalid(path, value, "must be a string"))
            continue
        errors += [invalid(path, value, msg) for msg in label_value_errors(value)]
    return errors


def validate_annotations(annotations: object, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    total = 0
    for key, value in as_dict(annotations).items():
        errors += [invalid(path, key, msg) for msg in label_key_errors(str(key).lower())]
        total += len(str(key)) + len(str(value))
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def validate_metadata(
    metadata: object, name_check: NameCheck, *, namespaced: bool
) -> list[FieldError]:
    """Upstream ``ValidateObjectMeta`` (the namespace itself is checked only when present)."""
    meta = as_dict(metadata)
    errors: list[FieldError] = []
    name = meta.get("name")
    if not name:
        if not meta.get("generateName"):
            errors.append(required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        errors.append(invalid("metadata.name", name, "must be a string"))
    else:
        errors += [invalid("metadata.name", name, msg) for msg in name_check(name)]
    generate_name = meta.get("generateName")
    if isinstance(generate_name, str) and generate_name:
        # Upstream validates the prefix with a trailing dash masked, as the suffix follows it.
        masked = generate_name[:-1] + "a" if generate_name.endswith("-") else generate_name
        errors += [
            invalid("metadata.generateName", generate_name, msg) for msg in name_check(masked)
        ]
    namespace = meta.get("namespace")
    if namespaced and isinstance(namespace, str) and namespace:
        errors += [
            invalid("metadata.namespace", namespace, msg) for msg in dns1123_label_errors(namespace)
        ]
    elif not namespaced and namespace:
        errors.append(forbidden("metadata.namespace", "not allowed on this type"))
    errors += validate_labels(meta.get("labels"), "metadata.labels")
    errors += validate_annotations(meta.get("annotations"), "metadata.annotations")
    return errors


def validate_metadata_update(new: object, old: object) -> list[FieldError]:
    new_meta, old_meta = as_dict(new), as_dict(old)
    errors: list[FieldError] = []
    for key in ("name", "namespace", "uid"):
        if key in old_meta and key in new_meta:
            errors += immutable(f"metadata.{key}", new_meta[key], old_meta[key])
    return errors


# --- Namespace, ConfigMap, Secret ----------------------------------------------------------------


def config_key_errors(key: str) -> list[str]:
    """Upstream ``IsConfigMapKey``: ConfigMap and Secret data keys."""
    errors = []
    if len(key) > 253:
        errors.append("must be no more than 253 characters")
    if not _CONFIG_KEY_RE.fullmatch(key):
        errors.append(
            _regex_message(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                CONFIG_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if key == ".":
        errors.append("must not be '.'")
    elif key == "..":
        errors.append("must not be '..'")
    elif key.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def _validate_data_keys(obj: JSONDict, sections: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    for section in sections:
        for key in as_dict(obj.get(section)):
            errors += [invalid(f"{section}[{key}]", key, m) for m in config_key_errors(key)]
    return errors


def _validate_immutable_data(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    if old is None or old.get("immutable") is not True:
        return []
    errors: list[FieldError] = []
    if obj.get("immutable") is not True:
        errors.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for section in ("data", "binaryData", "stringData"):
        if obj.get(section) != old.get(section) and section != "stringData":
            errors.append(forbidden(section, "field is immutable when `immutable` is set"))
    return errors


def validate_config_map(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    errors = _validate_data_keys(obj, ("data", "binaryData"))
    binary = as_dict(obj.get("binaryData"))
    errors += [
        invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
        for key in as_dict(obj.get("data"))
        if key in binary
    ]
    return errors + _validate_immutable_data(obj, old)


def validate_secret(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    # stringData is write-only and merged over data, so a key in both is no conflict.
    errors = _validate_data_keys(obj, ("data", "stringData"))
    if old is not None:
        errors += immutable("type", obj.get("type"), old.get("type"))
    return errors + _validate_immutable_data(obj, old)


# --- Service -------------------------------------------------------------------------------------

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PROTOCOLS = ("SCTP", "TCP", "UDP")
_IANA_SVC_NAME_RE = re.compile("[-a-z0-9]+")
_HAS_LETTER_RE = re.compile("[a-z]")


def port_name_errors(name: str) -> list[str]:
    """Upstream ``IsValidPortName`` (an IANA service name), used for named target ports."""
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not _IANA_SVC_NAME_RE.fullmatch(name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if not _HAS_LETTER_RE.search(name):
        errors.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _validate_service_port(port: JSONDict, path: str, named: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    name = port.get("name")
    if named and not name:
        errors.append(required(f"{path}.name"))
    elif name:
        errors += [invalid(f"{path}.name", name, m) for m in dns1123_label_errors(str(name))]
    errors += port_number(f"{path}.port", port.get("port"), zero_required=False)
    protocol = port.get("protocol")
    if protocol not in PROTOCOLS:
        errors.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        errors += [invalid(f"{path}.targetPort", target, m) for m in port_name_errors(target)]
    else:
        errors += port_number(f"{path}.targetPort", target, zero_required=False)
    errors += port_number(f"{path}.nodePort", port.get("nodePort"), allow_zero=True)
    return errors


def _validate_service_ports(spec: JSONDict) -> list[FieldError]:
    ports = [as_dict(port) for port in as_list(spec.get("ports"))]
    headless = spec.get("clusterIP") == "None"
    if not ports and spec.get("type") != "ExternalName" and not headless:
        return [required("spec.ports")]
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        errors += _validate_service_port(port, path, named=len(ports) > 1)
        name = port.get("name")
        if isinstance(name, str) and name:
            if name in names:
                errors.append(duplicate(f"{path}.name", name))
            names.add(name)
    return errors


def validate_service(obj: JSONDict, old: JSONDict | None) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    service_type = spec.get("type")
    if service_type not in SERVICE_TYPES:
        errors.append(not_supported("spec.type", service_type, SERVICE_TYPES))
    if service_type == "ExternalName" and not spec.get("externalName"):
        errors.append(required("spec.externalName"))
    affinity = spec.get("sessionAffinity")
    if affinity not in ("ClientIP", "None"):
        errors.append(not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    errors += _validate_service_ports(spec)
    errors += validate_labels(spec.get("selector"), "spec.selector")
    if old is not None:
        errors += _validate_cluster_ip_update(spec, as_dict(old.get("spec")))
    return errors


def _validate_cluster_ip_update(spec: JSONDict, old_spec: JSONDict) -> list[FieldError]:
    # An empty clusterIP on update means "keep the allocated one" (the registry copies it
    # over); a different one is rejected unless the Service moves to or from ExternalName.
    old_ip, new_ip = old_spec.get("clusterIP"), spec.get("clusterIP")
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    if old_ip and new_ip and old_ip != new_ip:
        ips = as_list(spec.get("clusterIPs")) or [new_ip]
        return [invalid("spec.clusterIPs[0]", ips, "may not change once set")]
    return []


# --- entry point ---------------------------------------------------------------------------------

KindValidator = Callable[[JSONDict, "JSONDict | None"], list[FieldError]]

# Kinds whose objects live outside namespaces; every other kind is namespaced.
_CLUSTER_SCOPED = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }
)


def path_segment_name_errors(name: str) -> list[str]:
    """Upstream ``IsValidPathSegmentName``: RBAC names such as ``system:controller:x``."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _name_check(group: str, kind: str) -> NameCheck:
    if group == "rbac.authorization.k8s.io":
        return path_segment_name_errors
    if (group, kind) == ("", "Namespace"):
        return dns1123_label_errors
    if (group, kind) == ("", "Service"):
        return dns1035_label_errors
    return dns1123_subdomain_errors


def _kind_validators() -> dict[tuple[str, str], KindValidator]:
    # Imported here because validation_workloads builds on this module's primitives.
    from kubelite.api import validation_workloads

    return {
        ("", "ConfigMap"): validate_config_map,
        ("", "Secret"): validate_secret,
        ("", "Service"): validate_service,
        ("", "Pod"): validation_workloads.validate_pod,
        ("apps", "Deployment"): validation_workloads.validate_deployment,
        ("apps", "ReplicaSet"): validation_workloads.validate_replica_set,
        ("apps", "StatefulSet"): validation_workloads.validate_stateful_set,
        ("apps", "DaemonSet"): validation_workloads.validate_daemon_set,
        ("batch", "Job"): validation_workloads.validate_job,
    }


def validate(
    group: str, version: str, kind: str, obj: JSONDict, old: JSONDict | None = None
) -> list[FieldError]:
    """Every field error in `obj` (an update when `old`, the stored object, is given).

    Run it on the defaulted object: required-with-default fields (``restartPolicy``) are
    reported as missing otherwise. Kinds we know no rules for get the metadata checks only.
    """
    namespaced = (group, kind) not in _CLUSTER_SCOPED
    errors = validate_metadata(obj.get("metadata"), _name_check(group, kind), namespaced=namespaced)
    if old is not None:
        errors += validate_metadata_update(obj.get("metadata"), old.get("metadata"))
    validator = _kind_validators().get((group, kind))
    if validator is not None:
        errors += validator(obj, old)
    return errors


def quantity_errors(path: str, value: object) -> list[FieldError]:
    """A resource quantity: parseable and not negative (upstream ``ValidateResourceQuantity``)."""
    try:
        quantity = parse_quantity(value) if isinstance(value, str) else None
    except QuantityError as error:
        return [invalid(path, value, error.message)]
    if quantity is None:
        return [invalid(path, value, "must be a quantity string")]
    if quantity.sign() < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []
