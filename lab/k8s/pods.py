"""The pods the lab runs for real, and what a kubelet reports of a pod (pure, but for the probe).

kwok plays the kubelet of every other pod (it turns them Running and Ready at once). The pods
below are left to the lab's pod runner (``lab.k8s.podrunner``), which starts what each stands for
and reports it Ready only once that is ready, as a kubelet does after its readiness probe: so a
Helm release's await waits for them as on a real cluster.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lab.k8s.api import ApiClient, Object, resource_path
from lab.shell import in_netns


@dataclass(frozen=True)
class PodKind:
    """Pods the lab runs for real, recognised by one label the chart gives them."""

    name: str
    label: str
    value: str

    def matches(self, pod: Object) -> bool:
        return (pod.get("metadata", {}).get("labels") or {}).get(self.label) == self.value


# The Cilium chart's labels (1.14 to 1.18) on the operator Deployment's and agent DaemonSet's pods.
OPERATOR = PodKind("cilium-operator", "io.cilium/app", "operator")
AGENT = PodKind("cilium-agent", "k8s-app", "cilium")
REAL_PODS = (OPERATOR, AGENT)
# The image tag says which Cilium release a pod stands for (``quay.io/cilium/operator-generic:v1.18.3@sha256:...``).
_IMAGE_RELEASE = re.compile(r":v?([0-9]+\.[0-9]+\.[0-9]+)(?:@|$)")


def kind_of(pod: Object) -> PodKind | None:
    return next((kind for kind in REAL_PODS if kind.matches(pod)), None)


def pod_release(pod: Object) -> str:
    """The Cilium release of the pod's first container's image."""
    image = str(pod["spec"]["containers"][0].get("image", ""))
    found = _IMAGE_RELEASE.search(image)
    if found is None:
        raise ValueError(f"pod {pod['metadata']['name']}: no Cilium release in its image {image!r}")
    return found.group(1)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def patch_status(client: ApiClient, pod: Object, patch: dict[str, Any]) -> None:
    """Write ``patch`` (``status_patch``) to the pod's status, as its kubelet does."""
    meta = pod["metadata"]
    client.merge_patch(resource_path("v1", "pods", meta["namespace"], meta["name"]) + "/status", patch)


def _condition(kind: str, status: bool, at: str) -> dict[str, str]:
    return {"type": kind, "status": "True" if status else "False", "lastTransitionTime": at}


def status_patch(
    pod: Object, host_ip: str, *, ready: bool, started_at: str, restarts: int, last_exit: str | None = None
) -> dict[str, Any]:
    """The status a kubelet writes for ``pod`` (host network: its IPs are the node's) whose
    containers run since ``started_at``; ``last_exit``: why the previous run ended."""
    at = now()
    spec = pod["spec"]
    containers = []
    for container in spec.get("containers", []):
        entry: dict[str, Any] = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": True,
            "restartCount": restarts,
            "state": {"running": {"startedAt": started_at}},
        }
        if last_exit is not None:
            entry["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "message": last_exit}}
        containers.append(entry)
    init = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "ready": True,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": started_at}},
        }
        for c in spec.get("initContainers", [])
    ]
    return {
        "status": {
            "phase": "Running",
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": host_ip,
            "podIPs": [{"ip": host_ip}],
            "startTime": started_at,
            "conditions": [
                _condition("PodScheduled", True, at),
                _condition("Initialized", True, at),
                _condition("ContainersReady", ready, at),
                _condition("Ready", ready, at),
            ],
            "containerStatuses": containers,
            "initContainerStatuses": init,
        }
    }


def http_probe(pod: Object) -> Mapping[str, Any] | None:
    """The first container's readinessProbe when it is an HTTP GET, else None."""
    probe = pod["spec"]["containers"][0].get("readinessProbe") or {}
    return probe.get("httpGet")


# Run inside the pod's network namespace: the probe's URL answers 2xx or 3xx.
_PROBE = (
    "import sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=3) as answer:\n"
    "    sys.exit(0 if 200 <= answer.status < 400 else 1)\n"
)


def probe_passes(netns: str, http_get: Mapping[str, Any], host_ip: str) -> bool:
    """Run an httpGet readiness probe as a kubelet would, from the pod's (the node's) network."""
    host = str(http_get.get("host") or host_ip)
    url = f"{str(http_get.get('scheme', 'HTTP')).lower()}://{host}:{http_get['port']}{http_get.get('path', '/')}"
    try:
        done = subprocess.run(in_netns(netns, ["python3", "-c", _PROBE, url]), capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0
