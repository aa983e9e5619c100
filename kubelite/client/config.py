"""Where the API servers are and how to reach them: `Endpoint`, `ClientConfig`, kubeconfig.

An `Endpoint` is one API server seen from a component: its REST URL (HTTP watch streams) and
its gRPC target (reads and writes), plus the TLS trust for both. Endpoints come from

- the API server's ``--endpoints-file`` (``{"url": "http://127.0.0.1:6443", "grpc":
  "127.0.0.1:40123"}``): `Endpoint.from_endpoints_file`;
- a kubeconfig: `load_kubeconfig` takes every cluster of the file, the current context's
  first, with the gRPC address from the cluster's ``kubelite`` extension::

      clusters:
      - name: local
        cluster:
          server: https://127.0.0.1:6443
          certificate-authority-data: <base64 PEM>
          extensions:
          - name: kubelite
            extension: {grpc: "127.0.0.1:6444"}
      users:
      - name: admin
        user: {token: s3cret}

A cluster without that extension cannot serve reads and writes, so it is skipped; a file left
with no usable cluster is a `KubeconfigError`. TLS: an ``https`` server means TLS on both
transports, trusting ``certificate-authority-data`` (or ``certificate-authority``, a file) or
the system roots; ``insecure-skip-tls-verify`` disables verification for HTTPS only — gRPC's
Python API has no such switch, so gRPC then still needs the CA (see `Endpoint.grpc_credentials`).
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import yaml

GRPC_EXTENSION: Final = "kubelite"


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used: what is wrong, and in which file."""


@dataclass(frozen=True)
class Endpoint:
    """One API server: REST URL (``http(s)://host:port``) and gRPC target (``host:port``)."""

    rest_url: str
    grpc_target: str
    ca_data: bytes | None = field(default=None, repr=False)  # PEM; None: the system roots
    insecure_skip_tls_verify: bool = False

    @classmethod
    def from_endpoints_file(cls, path: Path, ca_data: bytes | None = None) -> Endpoint:
        """The endpoint an API server wrote to its ``--endpoints-file``."""
        written = json.loads(path.read_text())
        return cls(str(written["url"]), str(written["grpc"]), ca_data)

    @property
    def secure(self) -> bool:
        return self.rest_url.startswith("https://")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The aiohttp ``ssl=`` for this endpoint (None: plain HTTP)."""
        if not self.secure:
            return None
        context = ssl.create_default_context(cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def grpc_credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials (None: a plaintext channel). Verification always applies."""
        if not self.secure:
            return None
        return grpc.ssl_channel_credentials(root_certificates=self.ca_data)


@dataclass(frozen=True)
class ClientConfig:
    """What `ApiClient` needs: endpoints in order of preference, a bearer token, a namespace."""

    endpoints: tuple[Endpoint, ...]
    token: str | None = field(default=None, repr=False)
    namespace: str = "default"


def load_kubeconfig(path: Path, context: str | None = None) -> ClientConfig:
    """Read a kubeconfig (YAML or JSON) into a `ClientConfig` (see the module docstring)."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise KubeconfigError(f"{path}: cannot read kubeconfig: {error}") from error
    if not isinstance(document, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig (expected a mapping)")
    try:
        return parse_kubeconfig(document, context, base_dir=path.parent)
    except KubeconfigError as error:
        raise KubeconfigError(f"{path}: {error}") from error


def parse_kubeconfig(
    document: Mapping[str, Any], context: str | None = None, base_dir: Path = Path(".")
) -> ClientConfig:
    """The pure part of `load_kubeconfig`: a parsed kubeconfig document to a `ClientConfig`."""
    contexts = _named(document.get("contexts"), "context")
    chosen = context or str(document.get("current-context") or "")
    current = contexts.get(chosen, {}) if chosen else {}
    if context and context not in contexts:
        raise KubeconfigError(f"context {context!r} not found")
    clusters = _named(document.get("clusters"), "cluster")
    first = str(current.get("cluster") or "")
    order = sorted(clusters, key=lambda name: name != first)  # stable: current first
    endpoints = tuple(
        endpoint
        for name in order
        if (endpoint := _endpoint(name, clusters[name], base_dir)) is not None
    )
    if not endpoints:
        raise KubeconfigError(
            f"no cluster with a server and a {GRPC_EXTENSION!r} extension giving its grpc address"
        )
    user = _named(document.get("users"), "user").get(str(current.get("user") or ""), {})
    token = user.get("token")
    return ClientConfig(
        endpoints,
        str(token) if token else None,
        str(current.get("namespace") or "default"),
    )


def _named(entries: object, key: str) -> dict[str, dict[str, Any]]:
    """``[{name: n, <key>: {...}}, ...]`` as ``{n: {...}}``."""
    if entries is None:
        return {}
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise KubeconfigError(f"{key}s: expected a list")
    named: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get(key) or {}, dict):
            raise KubeconfigError(f"{key}s: every entry needs a name and a {key} mapping")
        named[str(entry.get("name", ""))] = dict(entry.get(key) or {})
    return named


def _endpoint(name: str, cluster: Mapping[str, Any], base_dir: Path) -> Endpoint | None:
    server = str(cluster.get("server") or "")
    target = _grpc_target(cluster.get("extensions"))
    if not server or not target:
        return None
    return Endpoint(
        server.rstrip("/"),
        target,
        _ca_data(name, cluster, base_dir),
        bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def _grpc_target(extensions: object) -> str | None:
    if not isinstance(extensions, list):
        return None
    for entry in extensions:
        if isinstance(entry, dict) and entry.get("name") == GRPC_EXTENSION:
            extension = entry.get("extension")
            if isinstance(extension, dict) and extension.get("grpc"):
                return str(extension["grpc"])
    return None


def _ca_data(name: str, cluster: Mapping[str, Any], base_dir: Path) -> bytes | None:
    if data := cluster.get("certificate-authority-data"):
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError as error:
            raise KubeconfigError(f"cluster {name!r}: bad certificate-authority-data") from error
    if file := cluster.get("certificate-authority"):
        try:
            return (base_dir / str(file)).read_bytes()
        except OSError as error:
            raise KubeconfigError(f"cluster {name!r}: {error}") from error
    return None
