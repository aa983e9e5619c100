"""The ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for, and each kind's columns.

This module owns the Table envelope and the column definitions (name, type, format,
description, priority) for every kind we print; `kubelite.api.printers` owns the cells. The API
server calls `table_for` when a request's Accept header asks for ``as=Table``::

    table_for("Pod", [pod], now, resource_version="42", continue_token=None)
    -> {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "42"},
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", ...}, ...],
        "rows": [{"cells": ["web-0", "1/1", "Running", "0", "5m", ...],
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": {...the pod's full metadata...}}}]}

Priority-1 columns are the ``-o wide`` ones; they are always sent and kubectl hides them. A
kind without its own printer gets Name and Age. Column names, order, types and priorities
follow upstream's printers; the descriptions are our own short wording (kubectl never shows
them).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.api import printers
from kubelite.api.printers import Cell, Obj

CellsFunction = Callable[[Obj, datetime], list[Cell]]


@dataclass(frozen=True)
class Column:
    """One ``TableColumnDefinition``; ``priority=1`` marks an ``-o wide`` column."""

    name: str
    type: str
    description: str
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class Printer:
    """A kind's columns and the function that fills one row of them."""

    columns: tuple[Column, ...]
    cells: CellsFunction


def _string(name: str, description: str, priority: int = 0) -> Column:
    return Column(name, "string", description, priority)


def _integer(name: str, description: str) -> Column:
    return Column(name, "integer", description)


NAME = Column("Name", "string", "Name of the object, unique within its namespace.", format="name")
AGE = _string("Age", "Time since the object's creationTimestamp.")
CONTAINERS = _string("Containers", "Names of each container in the template.", 1)
IMAGES = _string("Images", "Images referenced by each container in the template.", 1)
SELECTOR = _string("Selector", "Label query over the pods this object manages.", 1)

_POD = (
    NAME,
    _string("Ready", "Ready containers out of all containers in the pod."),
    _string("Status", "The aggregate status of the pod's containers."),
    _string("Restarts", "Container restarts, and how long ago the last one was."),
    AGE,
    _string("IP", "The pod's first IP address.", 1),
    _string("Node", "The node the pod is bound to.", 1),
    _string("Nominated Node", "The node the scheduler nominated after preempting pods.", 1),
    _string("Readiness Gates", "Readiness gates whose condition is True, out of all.", 1),
)
_NODE = (
    NAME,
    _string("Status", "The node's Ready condition, and whether it is schedulable."),
    _string("Roles", "Roles from the node's node-role.kubernetes.io labels."),
    AGE,
    _string("Version", "The kubelet version the node reports."),
    _string("Internal-IP", "The node's first InternalIP address.", 1),
    _string("External-IP", "The node's first ExternalIP address.", 1),
    _string("OS-Image", "The operating system image the node reports.", 1),
    _string("Kernel-Version", "The kernel version the node reports.", 1),
    _string("Container-Runtime", "The container runtime and version the node reports.", 1),
)
_DEPLOYMENT = (
    NAME,
    _string("Ready", "Ready replicas out of desired replicas."),
    _integer("Up-to-date", "Replicas running the newest pod template."),
    _integer("Available", "Replicas available for at least minReadySeconds."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)
_REPLICA_SET = (
    NAME,
    _integer("Desired", "Replicas asked for in the spec."),
    _integer("Current", "Replicas that currently exist."),
    _integer("Ready", "Replicas whose pods are ready."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)
_STATEFUL_SET = (
    NAME,
    _string("Ready", "Ready replicas out of desired replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
)
_DAEMON_SET = (
    NAME,
    _integer("Desired", "Nodes that should run the daemon pod."),
    _integer("Current", "Nodes running at least one daemon pod."),
    _integer("Ready", "Nodes whose daemon pod is ready."),
    _integer("Up-to-date", "Nodes running the newest daemon pod template."),
    _integer("Available", "Nodes whose daemon pod is available."),
    _string("Node Selector", "Labels a node must carry to run the daemon pod."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)
_JOB = (
    NAME,
    _string("Status", "The job's status."),
    _string("Completions", "Succeeded pods out of the completions asked for."),
    _string("Duration", "Time the job took to complete, or has been running."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)
_SERVICE = (
    NAME,
    _string("Type", "How the service is exposed."),
    _string("Cluster-IP", "The service's cluster IP address."),
    _string("External-IP", "Addresses the service is reachable on from outside the cluster."),
    _string("Port(s)", "Ports the service exposes, with node ports."),
    AGE,
    _string("Selector", "Label query over the pods that back the service.", 1),
)
_NAMESPACE = (NAME, _string("Status", "The phase of the namespace."), AGE)
# Upstream declares Count a string column yet fills it with an integer; kubectl prints both.
_EVENT = (
    _string("Last Seen", "Time since the event was last observed."),
    _string("Type", "Normal or Warning."),
    _string("Reason", "Short machine-readable reason for the event."),
    _string("Object", "The object the event is about, as kind/name."),
    _string("Subobject", "The field of the object the event is about.", 1),
    _string("Source", "The component that reported the event.", 1),
    _string("Message", "Human-readable description of the event."),
    _string("First Seen", "Time since the event was first observed.", 1),
    _string("Count", "How many times the event has occurred.", 1),
    Column("Name", "string", NAME.description, 1, "name"),
)
_ENDPOINTS = (NAME, _string("Endpoints", "The first few ready endpoint addresses."), AGE)
_CONFIG_MAP = (NAME, _integer("Data", "Number of data and binaryData keys."), AGE)
_SECRET = (
    NAME,
    _string("Type", "The type of the secret."),
    _integer("Data", "Number of data keys."),
    AGE,
)
_SERVICE_ACCOUNT = (NAME, _integer("Secrets", "Number of secrets listed by the account."), AGE)
_LEASE = (NAME, _string("Holder", "The identity currently holding the lease."), AGE)

PRINTERS: dict[str, Printer] = {
    "Pod": Printer(_POD, printers.pod_cells),
    "Node": Printer(_NODE, printers.node_cells),
    "Deployment": Printer(_DEPLOYMENT, printers.deployment_cells),
    "ReplicaSet": Printer(_REPLICA_SET, printers.replica_set_cells),
    "StatefulSet": Printer(_STATEFUL_SET, printers.stateful_set_cells),
    "DaemonSet": Printer(_DAEMON_SET, printers.daemon_set_cells),
    "Job": Printer(_JOB, printers.job_cells),
    "Service": Printer(_SERVICE, printers.service_cells),
    "Namespace": Printer(_NAMESPACE, printers.namespace_cells),
    "Event": Printer(_EVENT, printers.event_cells),
    "Endpoints": Printer(_ENDPOINTS, printers.endpoints_cells),
    "ConfigMap": Printer(_CONFIG_MAP, printers.config_map_cells),
    "Secret": Printer(_SECRET, printers.secret_cells),
    "ServiceAccount": Printer(_SERVICE_ACCOUNT, printers.service_account_cells),
    "Lease": Printer(_LEASE, printers.lease_cells),
}
GENERIC_PRINTER = Printer((NAME, AGE), printers.generic_cells)


def printer_for(kind: str) -> Printer:
    """The kind's own printer, or Name/Age for kinds without one (CRDs included)."""
    return PRINTERS.get(kind, GENERIC_PRINTER)


def partial_object_metadata(obj: Obj) -> dict[str, Any]:
    """The ``rows[].object`` kubectl reads ``-A``'s namespace and ``-L`` labels from."""
    metadata = obj.get("metadata")
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": copy.deepcopy(dict(metadata)) if isinstance(metadata, dict) else {},
    }


def table_row(kind: str, obj: Obj, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "cells": printer_for(kind).cells(obj, now),
        "object": partial_object_metadata(obj),
    }
    if kind == "Pod" and (conditions := printers.pod_row_conditions(obj)):
        row["conditions"] = conditions
    return row


def table_metadata(resource_version: str, continue_token: str | None) -> dict[str, str]:
    metadata = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return metadata


def table_for(
    kind: str,
    objects: Sequence[Obj],
    now: datetime,
    resource_version: str,
    continue_token: str | None,
) -> dict[str, Any]:
    """A Table of ``objects`` (all of ``kind``); a GET of one object passes a one-item list."""
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_metadata(resource_version, continue_token),
        "columnDefinitions": [column.to_dict() for column in printer_for(kind).columns],
        "rows": [table_row(kind, obj, now) for obj in objects],
    }
