"""BGP Control Plane v2 on a cluster lab: the release, Cilium's BGP and LB-IPAM objects and the demo
Service on a real API server, admitted by the CRDs the real cilium-operator registered, through the
real engine and the real pulumi-kubernetes provider, announced by the release's real
cilium-agents to the router.

``tests/stacks/e2e/Pulumi.cluster-v2.yaml`` (``podCidrSource: cluster``) on a cluster lab
(``lab.k8s.labcluster``): the pod runner runs the real cilium-operator and, for each agent pod of
the release's DaemonSet, the real cilium-agent of the pod's release in its node's namespace. The
stack starts on Cilium 1.17.8, where the BGP and pool kinds are ``cilium.io/v2alpha1``, and moves
to 1.18.3, where they are ``cilium.io/v2``: the objects must be updated in place (same UID), not
created anew (AlreadyExists) nor deleted, and the DaemonSet rolls its agents to 1.18.3. On each
release the program's router check (``verify``) passes in ``up``, and on the router both nodes'
sessions are Established, each node's PodCIDR (the operator's) is routed via that node and the LB
IP via both. Then, on 1.18: the release's values are the render command's; every rendered object
exists with the rendered spec; the PodCIDRs are the operator's; the demo Service's address comes
from the real LB-IPAM and is the ``loadBalancerIps`` output; a no-op ``up``; ``destroy`` removes
every object and the release and stops the agents; the lab's teardown leaves nothing.

Timings (``TIMINGS``, written to ``$CILIUM_BGP_CLUSTER_RESULTS`` when set, e.g.
``benchmarks/results/cluster.json``): each ``up``'s wall time, and from the start of the first
``up`` (on a cluster without Cilium) to the router holding every PodCIDR and the LB IP with their
nexthops, as first seen by a probe every 0.2 s after ``up`` returned.

Run as root, one at a time machine-wide:
``flock /tmp/cbgp-hostsmode.lock python -m pytest tests/e2e/test_cluster_v2.py``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from clusterkit import (
    PROJECT,
    ClusterStack,
    cluster_stack,
    helm_release,
    helm_secrets,
    kubeconfig_copies,
    leftovers,
    object_path,
    object_problems,
    pod_cidrs,
    render,
    router_view,
    running_agents,
)

from lab.engine import ROOT, lab_down
from lab.k8s.agent import cgroup2_root
from lab.k8s.api import resource_path
from lab.k8s.binaries import CiliumBinaries
from lab.wait import Budget, wait_until

pytestmark = pytest.mark.e2e
STACK = "cluster-v2"
STACK_FILE = ROOT / "tests" / "stacks" / "e2e" / f"Pulumi.{STACK}.yaml"
NODES = ["node1", "node2"]
ADDRESSES = {"node1": "10.0.1.10", "node2": "10.0.2.10"}
BEFORE, AFTER = "1.17.8", "1.18.3"
LB_POOL = IPv4Network("172.31.250.0/24")
# The program's check already waited for the router in `up`: this only rides out a late update.
ROUTED = Budget("sessions and routes on the router", 60)
AGENTS = Budget("the agent pods' cilium-agents", 60)
TIMINGS: dict[str, dict[str, float]] = {}
UP_STARTED: dict[str, float] = {}


def timed_up(stack: ClusterStack, release: str) -> None:
    """``up`` on ``release``, its wall time recorded."""
    UP_STARTED[release] = time.monotonic()
    stack.engine.up()
    TIMINGS[release] = {"upSeconds": round(time.monotonic() - UP_STARTED[release], 1)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    with cluster_stack(tmp_path_factory.mktemp(STACK), STACK_FILE, STACK) as made:
        yield made


def use_cilium(stack: ClusterStack, version: str) -> None:
    """Move the stack to Cilium ``version``, with that release's chart built from source."""
    chart = CiliumBinaries.for_version(version).require().chart
    stack.engine.configure({f"{PROJECT}:cilium": {**stack.cilium, "version": version, "chart": str(chart)}})


def agents_of(stack: ClusterStack, release: str) -> None:
    """One real cilium-agent of ``release`` per node, each the process of its node's agent pod."""
    binary = str(CiliumBinaries.for_version(release).agent.resolve())

    def probe() -> tuple[list[str], list[str]]:
        agents = running_agents(stack)
        seen = sorted(f"{a.node}: {a.pod} image {a.image_release} runs {a.executable}" for a in agents)
        problems = (
            [] if sorted(a.node for a in agents) == NODES else [f"agents on {seen}, expected one on each of {NODES}"]
        )
        problems += [
            f"not {release}'s agent: {a}" for a in agents if (a.image_release, a.executable) != (release, binary)
        ]
        return seen, problems

    wait_until(probe, AGENTS, f"cilium-agent {release} on {', '.join(NODES)}")


def routed_on_the_router(stack: ClusterStack) -> float:
    """Both nodes' sessions Established; each node's PodCIDR (the operator's) via that node, the LB
    IP via both (ECMP), and no other BGP route, in the router's kernel table: when it was first seen
    (``time.monotonic()``)."""
    expected = {cidr: [ADDRESSES[node]] for node, cidrs in pod_cidrs(stack.client, NODES).items() for cidr in cidrs}
    expected[f"{stack.engine.outputs()['loadBalancerIps']['whoami-lb']}/32"] = sorted(ADDRESSES.values())
    assert len(expected) == len(NODES) + 1, f"a PodCIDR per node and the LB IP: {expected}"

    def probe() -> tuple[dict[str, list[str]], list[str]]:
        sessions, routes = router_view(stack.workdir)
        problems = [f"session {a}: {sessions.get(a)}" for a in ADDRESSES.values() if sessions.get(a) != "Established"]
        problems += [
            f"{p} via {routes.get(p)}, expected via {hops}" for p, hops in expected.items() if routes.get(p) != hops
        ]
        problems += [f"unexpected route {p} via {hops}" for p, hops in routes.items() if p not in expected]
        return routes, problems

    wait_until(probe, ROUTED, "every session and route on the router")
    return time.monotonic()


def bgp_peers_established(stack: ClusterStack) -> None:
    """The program's own router check ran in `up` and saw every node's session Established."""
    peers = stack.engine.outputs()["bgpPeers"]
    assert {p["node"]: p["state"] for p in peers.values()} == dict.fromkeys(NODES, "Established"), peers


def test_first_preview_and_up_on_a_cluster_without_cilium(stack: ClusterStack) -> None:
    use_cilium(stack, BEFORE)
    crd = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name="ciliumnodes.cilium.io")
    assert stack.client.find(crd) is None, "a cluster without Cilium has no CiliumNode kind yet"
    preview = stack.engine.preview()
    assert preview.steps.get("cilium") == "create", preview.steps
    timed_up(stack, BEFORE)
    assert stack.engine.outputs()["ciliumVersion"] == BEFORE
    bgp_peers_established(stack)


def test_real_agents_of_1_17_announce_every_pod_cidr_and_the_lb_ip(stack: ClusterStack) -> None:
    agents_of(stack, BEFORE)
    routed = routed_on_the_router(stack)
    TIMINGS[BEFORE]["upStartToLastPrefixSeconds"] = round(routed - UP_STARTED[BEFORE], 1)


def test_upgrade_to_1_18_updates_the_objects_in_place(stack: ClusterStack, tmp_path: Path) -> None:
    allocated = pod_cidrs(stack.client, NODES)
    before = render(stack, tmp_path / "before", allocated)["manifests"]
    assert {o["apiVersion"] for o in before if o["kind"].startswith("Cilium")} == {"cilium.io/v2alpha1"}
    problems = {o["metadata"]["name"]: object_problems(stack.client, o) for o in before}
    assert all(p is None for p in problems.values()), problems
    uids = {(o["kind"], o["metadata"]["name"]): stack.client.get(object_path(o))["metadata"]["uid"] for o in before}
    lb_ip = stack.engine.outputs()["loadBalancerIps"]["whoami-lb"]

    use_cilium(stack, AFTER)
    preview = stack.engine.preview()
    # The router check is a command the changed objects trigger again: a replacement by design.
    assert preview.steps.get("verify-check") == "replace", preview.steps
    moved = {n: op for n, op in preview.steps.items() if op in ("create", "delete", "replace") and n != "verify-check"}
    assert moved == {}, f"objects would be created or deleted instead of updated: {moved}"
    timed_up(stack, AFTER)

    # The CiliumNodes outlive their agents: the rolled agents keep their nodes' PodCIDRs (pods keep
    # their addresses).
    assert pod_cidrs(stack.client, NODES) == allocated
    after = render(stack, tmp_path / "after", allocated)["manifests"]
    assert {o["apiVersion"] for o in after if o["kind"].startswith("Cilium")} == {"cilium.io/v2"}
    now = {(o["kind"], o["metadata"]["name"]): stack.client.get(object_path(o))["metadata"]["uid"] for o in after}
    assert now == uids, "every object (the pool too) is the same object as before the upgrade"
    outputs = stack.engine.outputs()
    assert outputs["ciliumVersion"] == AFTER
    assert outputs["loadBalancerIps"]["whoami-lb"] == lb_ip
    bgp_peers_established(stack)


def test_the_agents_rolled_to_1_18_announce_every_pod_cidr_and_the_lb_ip(stack: ClusterStack) -> None:
    agents_of(stack, AFTER)
    routed_on_the_router(stack)


def test_every_up_was_timed() -> None:
    """The first ``up`` to the last prefix on the router, and each ``up``'s wall time."""
    assert set(TIMINGS) == {BEFORE, AFTER}, TIMINGS
    assert "upStartToLastPrefixSeconds" in TIMINGS[BEFORE], TIMINGS
    record = {"stack": STACK, "method": "cilium-bgp-v2", "nodes": len(NODES), "up": TIMINGS}
    print("\n" + json.dumps(record, indent=1))
    target = os.environ.get("CILIUM_BGP_CLUSTER_RESULTS")
    if target:
        from benchmarks.__main__ import machine

        Path(target).write_text(json.dumps({"machine": machine(), **record}, indent=1) + "\n")


def test_release_values_are_what_the_render_command_writes(stack: ClusterStack, tmp_path: Path) -> None:
    release = helm_release(stack.client, "cilium", "kube-system")
    assert release is not None and release["info"]["status"] == "deployed"
    assert release["chart"]["metadata"]["version"] == AFTER
    assert release["config"] == render(stack, tmp_path, pod_cidrs(stack.client, NODES))["values"]


def test_every_rendered_object_exists_with_its_spec(stack: ClusterStack, tmp_path: Path) -> None:
    manifests = render(stack, tmp_path, pod_cidrs(stack.client, NODES))["manifests"]
    kinds = {o["kind"] for o in manifests}
    assert {"CiliumBGPClusterConfig", "CiliumBGPPeerConfig", "CiliumBGPAdvertisement"} <= kinds, kinds
    assert {"CiliumLoadBalancerIPPool", "Deployment", "Service"} <= kinds, kinds
    problems = {f"{o['kind']}/{o['metadata']['name']}": object_problems(stack.client, o) for o in manifests}
    assert {k: p for k, p in problems.items() if p is not None} == {}


def test_pod_cidrs_are_the_operators(stack: ClusterStack) -> None:
    allocated = pod_cidrs(stack.client, NODES)
    assert all(allocated.values()), allocated
    assert stack.engine.outputs()["podCidrs"] == allocated


def test_demo_service_address_comes_from_lb_ipam(stack: ClusterStack) -> None:
    service = stack.client.get(resource_path("v1", "services", "default", "whoami-lb"))
    ingress = service["status"]["loadBalancer"]["ingress"]
    assert [i["ip"] for i in ingress] == [stack.engine.outputs()["loadBalancerIps"]["whoami-lb"]]
    assert IPv4Address(ingress[0]["ip"]) in LB_POOL
    satisfied = [c for c in service["status"].get("conditions", []) if c["type"] == "cilium.io/IPAMRequestSatisfied"]
    assert [c["status"] for c in satisfied] == ["True"], service["status"]


def test_no_op_up_changes_nothing(stack: ClusterStack) -> None:
    result = stack.engine.up(expect_no_changes=True)
    # The CiliumNodes are read again on every update (a read is a get, not a change).
    changes = {op: n for op, n in (result.summary.resource_changes or {}).items() if op not in ("same", "read")}
    assert changes == {}, changes


def test_destroy_removes_every_object_and_the_release_and_stops_the_agents(stack: ClusterStack, tmp_path: Path) -> None:
    manifests = render(stack, tmp_path, pod_cidrs(stack.client, NODES))["manifests"]
    stack.engine.destroy()
    assert [o["metadata"]["name"] for o in manifests if stack.client.find(object_path(o)) is not None] == []
    assert helm_secrets(stack.client, "cilium", "kube-system") == []
    assert stack.client.find(resource_path("v1", "configmaps", "kube-system", "cilium-config")) is None
    pods = stack.workdir / "lab" / "cluster" / "pods"

    def stopped() -> tuple[None, list[str]]:
        left = [f"pod directory {p.name}" for p in pods.iterdir()]
        left += [f"cgroup {c}" for c in cgroup2_root().glob(f"cbgp-{stack.lab_id}-*")]
        return None, left

    # The pods go once the pod runner stopped what it ran for them (a kubelet's graceful deletion).
    wait_until(stopped, AGENTS, "the agents and operators of the deleted pods stopped, their directories gone")


def test_teardown_leaves_nothing(stack: ClusterStack) -> None:
    removed = lab_down(stack.engine, stack.workdir)
    assert f"namespace cbgp-{stack.lab_id}-cp" in removed
    assert leftovers(stack.workdir, stack.lab_id) == []
    assert kubeconfig_copies(stack) == []
