"""BIRD on the nodes, PodCIDRs from a real cilium-operator: the program's Kubernetes half on a
cluster lab, through the real engine and the real pulumi-kubernetes provider.

``tests/stacks/e2e/Pulumi.cluster-bird.yaml`` (Cilium 1.18.3, ``podCidrSource: cluster``) on a
cluster lab (``lab.k8s.labcluster``): a real API server at ``cilium.k8sServiceHost`` behind the
router, kwok as the kubelets, the real operator run from the release's ``cilium-config``. Cilium is
only the CNI here: the agent pods are the pod runner's stand-in (``AgentStandIn``, which registers
each node's CiliumNode), and BIRD's static route points at the lab's own ``cilium_host``. In
order: the first preview and ``up`` against a cluster without Cilium; the release's values are
the render command's; the PodCIDRs the program read (and BIRD announces) are the operator's; a
no-op ``up``; ``destroy`` removes the release; the lab's teardown leaves nothing.

Run as root, one at a time machine-wide:
``flock /tmp/cbgp-hostsmode.lock python -m pytest tests/e2e/test_cluster_bird.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusterkit import (
    ClusterStack,
    cluster_stack,
    helm_release,
    helm_secrets,
    kubeconfig_copies,
    leftovers,
    pod_cidrs,
    render,
)
from e2ekit import host

from lab.engine import ROOT, lab_down
from lab.k8s.api import resource_path
from lab.process import ProcessRecord, is_alive

pytestmark = pytest.mark.e2e
STACK = "cluster-bird"
STACK_FILE = ROOT / "tests" / "stacks" / "e2e" / f"Pulumi.{STACK}.yaml"
NODES = ["node1", "node2"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    with cluster_stack(tmp_path_factory.mktemp(STACK), STACK_FILE, STACK) as made:
        yield made


def test_first_preview_and_up_on_a_cluster_without_cilium(stack: ClusterStack) -> None:
    client = stack.client
    assert client.find(resource_path("v1", "configmaps", "kube-system", "cilium-config")) is None
    crd = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name="ciliumnodes.cilium.io")
    assert client.find(crd) is None, "a cluster without Cilium has no CiliumNode kind yet"
    preview = stack.engine.preview()
    assert preview.steps.get("cilium") == "create", preview.steps
    stack.engine.up()
    outputs = stack.engine.outputs()
    assert outputs["ciliumVersion"] == "1.18.3"
    assert {p["node"]: p["state"] for p in outputs["bgpPeers"].values()} == dict.fromkeys(NODES, "Established")


def test_release_values_are_what_the_render_command_writes(stack: ClusterStack, tmp_path: Path) -> None:
    release = helm_release(stack.client, "cilium", "kube-system")
    assert release is not None and release["info"]["status"] == "deployed"
    assert release["chart"]["metadata"]["version"] == "1.18.3"
    rendered = render(stack, tmp_path, pod_cidrs(stack.client, NODES))
    assert release["config"] == rendered["values"]
    assert rendered["manifests"] == [], "method bird creates no Kubernetes object but the release"


def test_pod_cidrs_are_the_operators_and_bird_announces_them(stack: ClusterStack) -> None:
    allocated = pod_cidrs(stack.client, NODES)
    assert all(allocated.values()), allocated
    outputs = stack.engine.outputs()
    assert outputs["podCidrs"] == allocated
    for node in NODES:
        assert f"route {allocated[node][0]} via" in outputs["nodeConfigs"][node]
    routes = json.loads(host(stack.workdir, "router", "vtysh", "-c", "show ip bgp json"))["routes"]
    assert {cidr for cidrs in allocated.values() for cidr in cidrs} <= set(routes), sorted(routes)


def test_no_op_up_changes_nothing(stack: ClusterStack) -> None:
    result = stack.engine.up(expect_no_changes=True)
    # The CiliumNodes are read again on every update (a read is a get, not a change).
    changes = {op: n for op, n in (result.summary.resource_changes or {}).items() if op not in ("same", "read")}
    assert changes == {}, changes


def test_destroy_removes_the_release_and_stops_the_operator(stack: ClusterStack) -> None:
    pods = stack.workdir / "lab" / "cluster" / "pods"
    operators = [p.name for p in pods.iterdir()]
    assert operators, "no cilium-operator ran for the release"
    stack.engine.destroy()
    assert helm_secrets(stack.client, "cilium", "kube-system") == []
    assert stack.client.find(resource_path("v1", "configmaps", "kube-system", "cilium-config")) is None
    assert stack.client.find(resource_path("apps/v1", "deployments", "kube-system", "cilium-operator")) is None
    assert list(pods.iterdir()) == [], "the operators of deleted pods are stopped and their directories gone"


def test_teardown_leaves_nothing(stack: ClusterStack) -> None:
    state = json.loads((stack.workdir / "lab" / "lab-state.json").read_text())
    records = [ProcessRecord(**p) for p in state["processes"]]
    removed = lab_down(stack.engine, stack.workdir)
    assert f"namespace cbgp-{stack.lab_id}-cp" in removed
    assert [r.role for r in records if is_alive(r)] == []
    assert leftovers(stack.workdir, stack.lab_id) == []
    assert kubeconfig_copies(stack) == []
