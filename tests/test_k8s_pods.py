"""The cluster lab's pure parts: which pods the lab runs for real, kwok's stages narrowed away from
them, and the status a kubelet would report (no root, no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.k8s.kwok import lab_stages, narrowed
from lab.k8s.pods import AGENT, OPERATOR, REAL_PODS, kind_of, pod_release, status_patch
from lab.shell import LabError

POD_READY = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "Stage",
    "metadata": {"name": "pod-ready"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {"matchExpressions": [{"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}]},
        "next": {"statusTemplate": "phase: Running"},
    },
}
NODE_HEARTBEAT = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "Stage",
    "metadata": {"name": "node-heartbeat"},
    "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Node"}, "next": {"statusTemplate": "{}"}},
}


def pod(labels: dict[str, str], image: str = "quay.io/cilium/operator-generic:v1.18.3@sha256:abc") -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "kube-system", "labels": labels},
        "spec": {
            "nodeName": "node1",
            "containers": [{"name": "cilium-operator", "image": image}],
            "initContainers": [{"name": "init", "image": image}],
        },
    }


def test_the_operator_and_agent_pods_are_the_labs_and_the_rest_kwoks() -> None:
    assert kind_of(pod({"io.cilium/app": "operator"})) is OPERATOR
    assert kind_of(pod({"k8s-app": "cilium"})) is AGENT
    assert kind_of(pod({"app": "whoami"})) is None


def test_pod_stages_leave_the_labs_pods_alone_and_node_stages_are_unchanged(tmp_path: Path) -> None:
    stage = narrowed(yaml.safe_load(yaml.safe_dump(POD_READY)), REAL_PODS)
    assert stage["spec"]["selector"]["matchExpressions"] == [
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": '.metadata.labels["io.cilium/app"]', "operator": "NotIn", "values": ["operator"]},
        {"key": '.metadata.labels["k8s-app"]', "operator": "NotIn", "values": ["cilium"]},
    ]
    assert narrowed(dict(NODE_HEARTBEAT), REAL_PODS) == NODE_HEARTBEAT
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    (upstream / "pod-ready.yaml").write_text(yaml.safe_dump(POD_READY))
    (upstream / "other.yaml").write_text(yaml.safe_dump({"kind": "ConfigMap"}))
    with pytest.raises(LabError, match=r"other\.yaml: not a kwok Stage object"):
        lab_stages(sorted(upstream.iterdir()), tmp_path / "out", REAL_PODS)


def test_the_release_a_pod_stands_for_is_its_image_tag() -> None:
    assert pod_release(pod({}, "quay.io/cilium/operator-generic:v1.17.8@sha256:0f")) == "1.17.8"
    assert pod_release(pod({}, "quay.io/cilium/cilium:v1.18.3")) == "1.18.3"
    with pytest.raises(ValueError, match=r"no Cilium release in its image 'quay\.io/cilium/cilium:latest'"):
        pod_release(pod({}, "quay.io/cilium/cilium:latest"))


def test_a_kubelets_status_of_a_host_network_pod() -> None:
    status = status_patch(
        pod({}), "10.0.1.10", ready=False, started_at="2026-01-01T00:00:00Z", restarts=1, last_exit="boom"
    )["status"]
    assert (status["phase"], status["podIP"], status["hostIP"]) == ("Running", "10.0.1.10", "10.0.1.10")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "False"
    (container,) = status["containerStatuses"]
    assert (container["ready"], container["restartCount"]) == (False, 1)
    assert container["lastState"]["terminated"]["message"] == "boom"
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
