"""A real Kubernetes control plane and a real cilium-operator in a throwaway namespace.

    root namespace                          cbgp-<id>-cp
    cbk<id> 198.18.254.x/30 ---- veth ---- cbc<id> .x+1/30           management: this test's client
                                           (the first /30 of 198.18.254.0/24 free in the root namespace)
                                           lo     198.19.254.1/32   the API server's own address
    etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (the kubelets of two
    Nodes that exist only as API objects), then cilium-operator 1.18 from a cilium-config
    ConfigMap made through the API. No agent runs: the CiliumNodes an agent would register are
    created through the API in its place.

Run as root: ``python -m pytest tests/lab/test_k8s_control_plane.py``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from pathlib import Path

import pytest

from lab.k8s import versions
from lab.k8s.api import ApiClient, Object, condition, resource_path
from lab.k8s.binaries import CiliumBinaries, ControlPlaneBinaries, control_plane_binaries
from lab.k8s.cilium import OPERATOR_CRDS, CiliumOperator, cilium_node_object
from lab.k8s.control_plane import ControlPlane, ControlPlaneSpec
from lab.k8s.processes import ProcessExited
from lab.mgmt import free_link_network
from lab.process import is_alive
from lab.shell import LabError, run
from lab.wait import Budget, wait_until

pytestmark = pytest.mark.lab

API_ADDRESS = IPv4Address("198.19.254.1")
NODES = {"k8s-1": IPv4Address("198.19.1.11"), "k8s-2": IPv4Address("198.19.2.12")}
POD_POOL = IPv4Network("10.42.0.0/16")
POD_MASK = 24
LB_POOL = IPv4Network("198.51.100.0/28")
CILIUM = "1.18"
# The minimal cilium-config of a cluster-pool release (the keys the chart writes for it).
CILIUM_CONFIG = {
    "cluster-name": "default",
    "ipam": "cluster-pool",
    "cluster-pool-ipv4-cidr": str(POD_POOL),
    "cluster-pool-ipv4-mask-size": str(POD_MASK),
    "enable-ipv4": "true",
    # Without it cluster-pool IPAM stops: "cluster-pool-ipv6-cidr must be provided".
    "enable-ipv6": "false",
}
# Where Cilium keeps its sockets; the lab's Cilium processes get a /run of their own.
HOST_RUN_CILIUM = Path("/run/cilium")
POD_CIDRS = Budget("PodCIDRs allocated", 60)
OPERATOR_GIVES_UP = Budget("operator exits on a bad config", 60)
LB_IP = Budget("LB IP assigned", 60)


@dataclass
class Cluster:
    netns: str
    root_link: str
    workdir: Path
    control_plane: ControlPlane
    operator: CiliumOperator
    host_run_cilium: bool  # whether the host's /run/cilium existed before

    @property
    def client(self) -> ApiClient:
        return self.control_plane.client()

    def teardown(self) -> list[str]:
        """Operator, then the control plane, then the namespace and the management link."""
        left = self.operator.stop() + self.control_plane.stop()
        run(["ip", "netns", "del", self.netns], check=False)
        run(["ip", "link", "del", self.root_link], check=False)
        return left


def _require_machine() -> tuple[ControlPlaneBinaries, CiliumBinaries]:
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    try:
        binaries = control_plane_binaries().require()
        cilium = CiliumBinaries.for_version(CILIUM).require()
    except LabError as error:  # scripts/install-deps builds them
        pytest.fail(str(error))
    return binaries, cilium


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binaries, cilium = _require_machine()
    tag = secrets.token_hex(3)
    netns, root_link, ns_link = f"cbgp-{tag}-cp", f"cbk{tag}", f"cbc{tag}"
    workdir = tmp_path_factory.mktemp("k8s") / "cluster"
    management = free_link_network()
    root_side, ns_side = management.hosts()
    spec = ControlPlaneSpec(netns, API_ADDRESS, ns_side, workdir / "control-plane")
    control_plane = ControlPlane(spec, binaries)
    # The operator reaches the API server as an agent on a node would: at its own address.
    operator = CiliumOperator(cilium, netns, spec.workdir / f"kubeconfig-{API_ADDRESS}", workdir / "operator")
    made = Cluster(netns, root_link, workdir, control_plane, operator, HOST_RUN_CILIUM.exists())
    run(["ip", "netns", "add", netns])
    try:
        run(["ip", "-n", netns, "link", "set", "lo", "up"])
        run(["ip", "-n", netns, "addr", "add", f"{API_ADDRESS}/32", "dev", "lo"])
        run(["ip", "link", "add", root_link, "type", "veth", "peer", "name", ns_link, "netns", netns])
        run(["ip", "addr", "add", f"{root_side}/{management.prefixlen}", "dev", root_link])
        run(["ip", "link", "set", root_link, "up"])
        run(["ip", "-n", netns, "addr", "add", f"{ns_side}/{management.prefixlen}", "dev", ns_link])
        run(["ip", "-n", netns, "link", "set", ns_link, "up"])
        control_plane.start()
        control_plane.kubeconfig(API_ADDRESS)
        yield made
    finally:
        made.teardown()


def test_api_server_reports_its_release(cluster: Cluster) -> None:
    assert cluster.client.version() == f"v{versions.KUBERNETES}", "Helm's kubeVersion checks need the real version"


def test_nodes_turn_ready_through_kwok(cluster: Cluster) -> None:
    for name, address in NODES.items():
        cluster.client.create_node(name, address)
    nodes = cluster.control_plane.wait_nodes_ready(list(NODES))
    for name, address in NODES.items():
        node = nodes[name]
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == name and labels["kubernetes.io/os"] == "linux", labels
        internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
        assert internal == [str(address)], f"{name}: InternalIP {internal}, registered {address}"


def test_operator_registers_crds_and_allocates_pod_cidrs(cluster: Cluster) -> None:
    client = cluster.client
    body: Object = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cilium-config"}}
    client.create(resource_path("v1", "configmaps", "kube-system"), {**body, "data": CILIUM_CONFIG})
    cluster.operator.start(client)
    for crd in OPERATOR_CRDS:
        obj = client.get(resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=crd))
        assert condition(obj, "Established") == "True", f"{crd} not established"
    for name in NODES:
        node = client.get(resource_path("v1", "nodes", name=name))
        client.create(resource_path("cilium.io/v2", "ciliumnodes"), cilium_node_object(node))

    def allocated() -> tuple[dict[str, list[str]], list[str]]:
        cluster.operator.check_running()
        found = {}
        for item in client.items(resource_path("cilium.io/v2", "ciliumnodes")):
            found[item["metadata"]["name"]] = item.get("spec", {}).get("ipam", {}).get("podCIDRs") or []
        return found, [f"{n}: no PodCIDR yet" for n in NODES if not found.get(n)]

    cidrs = wait_until(allocated, POD_CIDRS, "the operator's PodCIDRs").value
    blocks = [ip_network(c) for n in NODES for c in cidrs[n]]
    assert all(b.subnet_of(POD_POOL) and b.prefixlen == POD_MASK for b in blocks), cidrs  # type: ignore[arg-type]
    assert len(set(blocks)) == len(NODES), f"each node gets its own block: {cidrs}"


def test_lb_ipam_assigns_a_pool_address(cluster: Cluster) -> None:
    client = cluster.client
    pool = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "lab"},
        "spec": {"blocks": [{"cidr": str(LB_POOL)}]},
    }
    client.create(resource_path("cilium.io/v2", "ciliumloadbalancerippools"), pool)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "demo"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "demo"}, "ports": [{"port": 80}]},
    }
    client.create(resource_path("v1", "services", "default"), service)

    def assigned() -> tuple[list[str], list[str]]:
        cluster.operator.check_running()
        obj = client.get(resource_path("v1", "services", "default", "demo"))
        ips = [i.get("ip", "") for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
        return ips, [] if ips else ["status.loadBalancer.ingress is empty"]

    ips = wait_until(assigned, LB_IP, "LB-IPAM for default/demo").value
    assert len(ips) == 1 and ip_address(ips[0]) in LB_POOL, f"LB IPs {ips}, pool {LB_POOL}"


def test_an_operator_that_gives_up_is_reported_and_leaves_nothing(cluster: Cluster) -> None:
    """A release without ``enable-ipv6: "false"``: once leading, the operator's cluster-pool IPAM
    gives up and the process ends. Its own namespace keeps its leader lease apart from the real
    operator's; it runs last, so that what the real operator did is its own."""
    client = cluster.client
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bad"}}
    client.create(resource_path("v1", "namespaces"), namespace)
    data = {k: v for k, v in CILIUM_CONFIG.items() if k != "enable-ipv6"}
    body: Object = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cilium-config"}, "data": data}
    client.create(resource_path("v1", "configmaps", "bad"), body)
    operator = cluster.operator
    bad = CiliumOperator(operator.binaries, cluster.netns, operator.kubeconfig, cluster.workdir / "bad", "bad")

    def gone() -> tuple[None, list[str]]:
        bad.check_running()
        return None, ["cilium-operator still running"]

    try:
        with pytest.raises(ProcessExited, match="cluster-pool-ipv6-cidr must be provided"):
            bad.start(client)
            wait_until(gone, OPERATOR_GIVES_UP, "cilium-operator to give up")
    finally:
        assert bad.stop() == [], "the failed operator stops"
    assert not [r for r in bad.processes.records if is_alive(r)], "the failed operator still runs"
    assert not bad.workdir.exists(), "a stopped operator left its work directory"


def test_teardown_leaves_nothing(cluster: Cluster) -> None:
    records = [*cluster.control_plane.processes.records, *cluster.operator.processes.records]
    assert {r.role for r in records} >= {"etcd", "kube-apiserver", "kwok", "cilium-operator"}, records
    assert cluster.teardown() == [], "every process stops"
    assert not [r for r in records if is_alive(r)], "a cluster process survived"
    assert not Path("/run/netns", cluster.netns).exists(), "the namespace survived"
    assert not Path("/sys/class/net", cluster.root_link).exists(), "the management link survived"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert cluster.netns not in mounts and str(cluster.workdir) not in mounts, "a mount survived"
    left = sorted(str(p) for p in cluster.workdir.rglob("*")) if cluster.workdir.exists() else []
    assert left == [], f"files left behind: {left}"
    assert cluster.host_run_cilium or not HOST_RUN_CILIUM.exists(), "the operator wrote into the host's /run"
