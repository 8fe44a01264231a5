"""A small Kubernetes API client for the lab (standard library only): bearer token, the lab's CA,
JSON in and out. Enough to create Nodes as kubelets would and to read what the cluster made."""

from __future__ import annotations

import json
import platform
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Any

from lab.k8s.credentials import Credentials
from lab.shell import LabError

Object = dict[str, Any]
# platform.machine() -> the GOARCH a kubelet reports in kubernetes.io/arch.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class ApiError(LabError):
    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        self.status = status
        super().__init__(f"{method} {path}: {status} {reason}")


def resource_path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a collection or an object: ``v1`` lives under /api, groups under /apis."""
    parts = ["/api/v1" if api_version == "v1" else f"/apis/{api_version}"]
    if namespace is not None:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name is not None:
        parts.append(name)
    return "/".join(parts)


def node_object(name: str, address: IPv4Address, labels: Mapping[str, str] | None = None) -> Object:
    """A Node as a kubelet registers it: the well-known labels it sets, and its InternalIP."""
    arch = GOARCH.get(platform.machine(), platform.machine())
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": arch,
                **(labels or {}),
            },
        },
        "status": {
            "addresses": [{"type": "InternalIP", "address": str(address)}, {"type": "Hostname", "address": name}]
        },
    }


def condition(obj: Object, kind: str) -> str | None:
    """The status (``True``/``False``/``Unknown``) of ``obj``'s condition ``kind``, or None."""
    # A CRD just created says ``conditions: null`` for a moment.
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return str(entry.get("status"))
    return None


class ApiClient:
    """Talks to one API server at ``server`` (``https://host:port``)."""

    def __init__(self, server: str, creds: Credentials, timeout: float = 10.0) -> None:
        self.server = server.rstrip("/")
        self._token = creds.admin_token
        self._context = ssl.create_default_context(cafile=str(creds.ca_cert))
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Object | None = None, content_type: str = "application/json"
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=self.timeout) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            raise ApiError(method, path, error.code, _reason(error)) from None
        except (urllib.error.URLError, OSError) as error:
            raise LabError(f"{method} {self.server}{path}: {error}") from None
        content = text.strip()
        if content.startswith(("{", "[")):
            return json.loads(content)
        return content

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def find(self, path: str) -> Object | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def items(self, path: str) -> list[Object]:
        return list(self.get(path).get("items", []))

    def create(self, collection: str, body: Object) -> Object:
        return self.request("POST", collection, body)

    def merge_patch(self, path: str, patch: Object) -> Object:
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except ApiError as error:
            if error.status != 404:
                raise

    def version(self) -> str:
        return str(self.get("/version")["gitVersion"])

    def create_node(self, name: str, address: IPv4Address, labels: Mapping[str, str] | None = None) -> Object:
        return self.create(resource_path("v1", "nodes"), node_object(name, address, labels))

    def config_map(self, namespace: str, name: str) -> dict[str, str]:
        """The ``data`` of a ConfigMap (what a volume mount turns into one file per key)."""
        obj = self.find(resource_path("v1", "configmaps", namespace, name))
        if obj is None:
            raise LabError(f"ConfigMap {namespace}/{name} does not exist")
        return dict(obj.get("data") or {})


def _reason(error: urllib.error.HTTPError) -> str:
    """The API's Status message (it names the object and the rule); for a health endpoint's text,
    its failing checks (``[-]etcd failed: ...``); else the HTTP reason."""
    try:
        body = error.read().decode(errors="replace")
    except OSError:
        return str(error.reason)
    try:
        return str(json.loads(body).get("message") or error.reason)
    except (ValueError, AttributeError):
        failing = [line.strip() for line in body.splitlines() if line.startswith("[-]")]
        return "; ".join(failing) or str(error.reason)
