"""What the lab derives before touching the machine: PodCIDRs, LB IPs, the topology and the GoBGP
translation of the rendered Kubernetes objects (no root needed, but part of the lab suite)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from cilium_bgp.versions import Version
from lab.backends.ssh import SshHostsBackend
from lab.cluster import allocate_lb_ips, selector_matches
from lab.hostsplan import plan_hosts
from lab.plan import StackUnusable, plan_lab
from lab.shell import LabError
from lab.state import LabState
from tests.lab.labkit import LAB_STACKS, ROOT, stack_variant

pytestmark = pytest.mark.lab

PROD = ROOT / "Pulumi.prod.yaml"
DEV = ROOT / "Pulumi.dev.yaml"


def test_cluster_pod_cidrs_are_carved_in_node_order() -> None:
    plan = plan_lab(LAB_STACKS / "Pulumi.lab-v2.yaml", "t00001")
    carved = {n: [str(c) for c in cs] for n, cs in plan.pod_cidrs.items()}
    assert carved == {
        "node1": ["172.31.254.0/26"],
        "node2": ["172.31.254.64/26"],
        "node3": ["172.31.254.128/26"],
    }, f"node i should get the i-th /26 of the pool: {carved}"


def test_carving_spans_pools_and_fails_when_they_run_out(tmp_path: Path) -> None:
    document = yaml.safe_load(PROD.read_text())
    cilium = document["config"]["cilium-bgp:cilium"]
    cilium |= {"clusterPoolIPv4PodCIDRList": ["172.31.254.0/26", "172.31.255.0/26"], "clusterPoolIPv4MaskSize": 26}
    cilium["ipv4NativeRoutingCIDR"] = "172.31.254.0/23"
    two_pools = stack_variant(PROD, tmp_path, {"cilium": cilium})
    carved = plan_lab(two_pools, "t00002").pod_cidrs
    assert [str(carved[n][0]) for n in ("node1", "node2")] == ["172.31.254.0/26", "172.31.255.0/26"], f"{carved}"
    cilium["clusterPoolIPv4PodCIDRList"] = ["172.31.254.0/26"]
    one_block = stack_variant(PROD, tmp_path, {"cilium": cilium})
    with pytest.raises(LabError, match="fewer /26 blocks than the stack has nodes"):
        plan_lab(one_block, "t00003")


def test_topology_of_the_seed() -> None:
    topo = plan_lab(DEV, "t00004").topology
    assert topo.namespaces == [f"cbgp-t00004-{h}" for h in ("router", "node1", "node2", "client")], topo.namespaces
    segments = {s.routers[0].ifname: s for s in topo.segments}
    assert {n: str(s.routers[0].address) for n, s in segments.items()} == {
        "eth1": "10.0.1.2/24",
        "eth2": "10.0.2.2/24",
        "eth0": "192.168.121.16/24",
    }, f"the router's interfaces come from router.interfaces: {segments}"
    assert not any(s.bridged for s in topo.segments), "one host per subnet: plain veth pairs"
    assert str(topo.client.address) == "192.168.121.254/24", f"the client sits on the free subnet: {topo.client}"
    node1 = topo.node("node1")
    assert (node1.gateways, str(node1.pod_ip), node1.ifname) == ((IPv4Address("10.0.1.2"),), "172.31.254.1", "eth1"), (
        f"{node1}"
    )


def test_shared_subnets_are_bridged_and_the_client_gets_a_spare_one(tmp_path: Path) -> None:
    topo = plan_lab(LAB_STACKS / "Pulumi.lab-bird.yaml", "t00005").topology
    eth2 = next(s for s in topo.segments if s.routers[0].ifname == "eth2")
    assert eth2.bridged and [m.host for m in eth2.members] == ["node2", "node3"], f"eth2: {eth2}"
    document = yaml.safe_load(DEV.read_text())
    interfaces = document["config"]["cilium-bgp:router"]["interfaces"][:2]
    router = document["config"]["cilium-bgp:router"] | {"interfaces": interfaces}
    busy = plan_lab(stack_variant(DEV, tmp_path, {"router": router}), "t00006").topology
    assert str(busy.client.address) == "198.51.100.254/24", f"no free router subnet: TEST-NET-2: {busy.client}"
    assert busy.segments[-1].routers[0].ifname == "lab-client", f"the lab adds the client's link: {busy.segments}"


def test_a_router_loopback_does_not_hold_the_client(tmp_path: Path) -> None:
    """A /32 router interface (a loopback holding the router-id, as on most real routers) has no
    address to spare: the client goes to the next router subnet no node uses, or onto its own link."""
    document = yaml.safe_load(DEV.read_text())
    router = document["config"]["cilium-bgp:router"]
    eth1, eth2, eth0 = router["interfaces"]
    loopback = {"name": "lo", "address": "10.255.255.1/32"}
    with_eth0 = stack_variant(
        DEV, tmp_path, {"router": router | {"routerId": "10.255.255.1", "interfaces": [loopback, eth1, eth2, eth0]}}
    )
    topo = plan_lab(with_eth0, "t00013").topology
    assert str(topo.client.address) == "192.168.121.254/24", (
        f"the client takes the free /24, not the /32: {topo.client}"
    )
    only_loopback = stack_variant(DEV, tmp_path, {"router": router | {"interfaces": [loopback, eth1, eth2]}})
    topo = plan_lab(only_loopback, "t00014").topology
    assert (str(topo.client.address), topo.client.gateways) == ("198.51.100.254/24", (IPv4Address("198.51.100.1"),)), (
        f"no router subnet can hold the client: it gets the lab's own link: {topo.client}"
    )
    segments = {s.routers[0].ifname: s for s in topo.segments}
    assert [m.host for m in segments["lab-client"].members] == ["client"], f"the client's link: {segments}"
    assert str(segments["lo"].routers[0].address) == "10.255.255.1/32" and not segments["lo"].members, (
        f"the loopback holds the router's address and no host: {segments['lo']}"
    )


def test_v2_objects_become_gobgp_speakers() -> None:
    plan = plan_lab(LAB_STACKS / "Pulumi.lab-v2.yaml", "t00007")
    node3 = plan.standins["node3"]
    assert node3.router_id == IPv4Address("10.255.0.3"), "CiliumBGPNodeConfigOverride routerID"
    assert node3.listen_port == -1, "Cilium's speaker only dials out"
    (peer,) = node3.neighbors
    assert (str(peer.address), peer.peer_asn, peer.hold_time, peer.keepalive_time, peer.connect_retry_time) == (
        "192.168.121.16",
        65100,
        9,
        3,
        5,
    ), f"peer from CiliumBGPClusterConfig and CiliumBGPPeerConfig: {peer}"
    assert peer.password == "<<secret:bgpPassword>>", "the password comes from the authSecretRef Secret"
    assert [str(p) for p in node3.prefixes] == ["172.31.254.128/26", "192.0.2.10/32"], f"{node3.prefixes}"
    config = tomllib.loads(node3.gobgp_toml())
    assert config == node3.gobgp_config(), "the TOML the lab writes reads back as the config it meant"


def test_metallb_peers_follow_node_selectors() -> None:
    plan = plan_lab(LAB_STACKS / "Pulumi.lab-metallb.yaml", "t00008")
    peers = {n: [str(p.address) for p in s.neighbors] for n, s in plan.standins.items()}
    assert peers == {"node1": ["10.0.1.2"], "node2": ["10.0.2.2"]}, f"one bgp-config peer per subnet: {peers}"
    peer = plan.standins["node1"].neighbors[0]
    assert (peer.hold_time, peer.keepalive_time, peer.multihop_ttl) == (9, 3, 64), f"hold-time 9s: {peer}"


def test_v1_lb_ipam_hands_out_the_first_free_address() -> None:
    plan = plan_lab(LAB_STACKS / "Pulumi.lab-v1.yaml", "t00009")
    assert plan.lb_ips == {"whoami-lb": IPv4Address("203.0.113.1")}, f"1.14 reserves the CIDR's first: {plan.lb_ips}"
    assert all(n.password is None for s in plan.standins.values() for n in s.neighbors), "1.14: no authSecretRef"
    assert plan.expected["router"]["routes"]["203.0.113.1/32"] == ["10.0.1.10", "10.0.2.10"], f"{plan.expected}"


def test_lb_ipam_rules() -> None:
    service = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}}

    def pool(**spec: Any) -> dict[str, Any]:
        return {"kind": "CiliumLoadBalancerIPPool", "spec": {"blocks": [{"cidr": "192.0.2.0/30"}], **spec}}

    new, old = Version(1, 18, 3), Version(1, 15, 7)
    assert allocate_lb_ips([pool(), service], new) == {"s": IPv4Address("192.0.2.0")}, "1.16+: unset means Yes"
    assert allocate_lb_ips([pool(), service], old) == {"s": IPv4Address("192.0.2.1")}, "1.15: unset means No"
    no = pool(allowFirstLastIPs="No")
    assert allocate_lb_ips([no, service], new) == {"s": IPv4Address("192.0.2.1")}, "No: the first is reserved"
    asking = service | {"metadata": {"name": "s", "annotations": {"lbipam.cilium.io/ips": "192.0.2.3"}}}
    with pytest.raises(LabError, match="no LB IP pool of the stack hands out"):
        allocate_lb_ips([no, asking], new)
    metallb = [{"name": "p", "protocol": "bgp", "addresses": ["192.0.2.5-192.0.2.6"]}]
    assert allocate_lb_ips([service], new, metallb) == {"s": IPv4Address("192.0.2.5")}, "MetalLB ranges a-b"


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"app": "x"}}, True),
        ({"matchLabels": {"app": "y"}}, False),
        ({"matchExpressions": [{"key": "no-adv", "operator": "NotIn", "values": ["true"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "z"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ],
)
def test_label_selectors(selector: dict[str, Any], matches: bool) -> None:
    assert selector_matches(selector, {"app": "x"}) is matches, f"{selector} on app=x"


def test_kube_router_is_refused(tmp_path: Path) -> None:
    stack = stack_variant(PROD, tmp_path, {"method": "kube-router", "bgp": {"nodeASN": 65000}})
    with pytest.raises(StackUnusable, match="'kube-router' is out of the lab's reach"):
        plan_lab(stack, "t00010")


def test_tampering_names_only_lab_configs() -> None:
    with pytest.raises(LabError, match="cannot tamper with"):
        plan_lab(DEV, "t00011", {"router/missing.conf": str.upper})
    plan = plan_lab(DEV, "t00012", {"nodes/node1/bird.conf": lambda t: t + "# tampered\n"})
    assert plan.node_config("node1").text.endswith("# tampered\n"), "the tampered text is what the lab installs"
    assert isinstance(plan.pod_cidrs["node1"][0], IPv4Network), "static PodCIDRs come from the stack file"


def test_a_management_network_in_use_moves_the_stack_to_a_free_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lab another run left behind (or one running now) holds 198.18.0.0/24: the next lab gets a
    copy of its stack on a free /24 instead of failing."""
    import lab.mgmt

    taken = {IPv4Network("198.18.0.0/24"), IPv4Network("198.18.100.0/24")}
    monkeypatch.setattr(lab.mgmt, "root_conflicts", lambda subnet, link: ["in use"] if subnet in taken else [])
    stack = ROOT / "Pulumi.lab.yaml"
    moved = lab.mgmt.management_stack(stack, tmp_path)
    assert moved.parent.parent == tmp_path and moved.name == stack.name
    hosts = {n["ssh"]["host"] for n in yaml.safe_load(moved.read_text())["config"]["cilium-bgp:nodes"]}
    assert hosts and all(h.startswith("198.18.101.") for h in hosts), hosts

    taken.clear()
    assert lab.mgmt.management_stack(stack, tmp_path) == stack


def test_a_control_plane_link_takes_the_first_free_slash_30(monkeypatch: pytest.MonkeyPatch) -> None:
    import lab.mgmt

    taken = {IPv4Network("198.18.254.0/30"), IPv4Network("198.18.254.4/30")}
    monkeypatch.setattr(lab.mgmt, "root_conflicts", lambda subnet, link: ["in use"] if subnet in taken else [])
    assert lab.mgmt.free_link_network() == IPv4Network("198.18.254.8/30")
    taken.update(IPv4Network("198.18.254.0/24").subnets(new_prefix=30))
    with pytest.raises(LabError, match=r"no free /30 in 198\.18\.254\.0/24"):
        lab.mgmt.free_link_network()


CLUSTER_V2 = ROOT / "tests" / "stacks" / "e2e" / "Pulumi.cluster-v2.yaml"
CLUSTER_BIRD = ROOT / "tests" / "stacks" / "e2e" / "Pulumi.cluster-bird.yaml"


def test_a_cluster_lab_puts_the_control_plane_at_k8s_service_host() -> None:
    plan = plan_lab(CLUSTER_V2, "t00020", hosts=True)
    assert plan.cluster
    cp = plan.topology.control_plane
    assert cp is not None
    assert (cp.netns, str(cp.address), str(cp.gateway)) == ("cbgp-t00020-cp", "10.0.3.10/24", "10.0.3.1")
    assert cp.netns in plan.topology.namespaces
    hosts = plan_hosts(plan)
    assert [h.name for h in hosts.hosts] == ["router"], "cilium-bgp-v2 configures its nodes through Kubernetes"
    assert hosts.control_plane == IPv4Address("198.18.0.254"), "the highest free management address"
    assert [c.path for c in plan.configs] == ["router/frr.conf"], "no stand-in speaks in the agents' place"
    bird = plan_hosts(plan_lab(CLUSTER_BIRD, "t00021", hosts=True))
    assert [h.name for h in bird.hosts] == ["router", "node1", "node2"]
    assert plan_lab(CLUSTER_V2, "t00022").topology.control_plane is None, "daemons mode runs no cluster"


@pytest.mark.parametrize(
    ("service_host", "pod_cidr_source", "error"),
    [
        ("10.0.3.10", "static", "set podCidrSource: cluster"),
        ("10.0.1.10", "cluster", "10.0.1.10 is node1's address"),
        ("10.9.0.1", "cluster", "10.9.0.1 is on no router subnet"),
    ],
)
def test_a_cluster_lab_refuses_what_it_cannot_play(
    tmp_path: Path, service_host: str, pod_cidr_source: str, error: str
) -> None:
    config = yaml.safe_load(CLUSTER_V2.read_text())["config"]
    cilium = {**config["cilium-bgp:cilium"], "k8sServiceHost": service_host}
    nodes = config["cilium-bgp:nodes"]
    if pod_cidr_source == "static":
        nodes = [{**n, "podCIDRs": [f"172.31.254.{64 * i}/26"]} for i, n in enumerate(nodes)]
    change = {"cilium": cilium, "podCidrSource": pod_cidr_source, "nodes": nodes}
    with pytest.raises(StackUnusable, match=error):
        plan_lab(stack_variant(CLUSTER_V2, tmp_path, change), "t00023", hosts=True)


PAIR_HOSTS = ROOT / "tests" / "stacks" / "e2e" / "Pulumi.lab-pair.yaml"


def test_hosts_mode_plays_every_router_and_the_upstream(tmp_path: Path) -> None:
    """One SSH host per router, named as the topology names it, with its own daemon's config; the
    backend reads every router by that name, and the client plays the upstream with the lab's BIRD."""
    plan = plan_lab(PAIR_HOSTS, "t00030", hosts=True)
    hosts = {h.name: h for h in plan_hosts(plan).hosts}
    assert list(hosts) == ["edge1", "edge2", "node1", "node2", "node3"]
    assert [r.host for r in plan.topology.routers] == ["edge1", "edge2"]
    assert (hosts["edge1"].netns, str(hosts["edge1"].address)) == ("cbgp-t00030-edge1", "198.18.0.2")
    assert (hosts["edge2"].netns, str(hosts["edge2"].address)) == ("cbgp-t00030-edge2", "198.18.0.3")
    assert hosts["edge1"].files == ("/etc/frr/frr.conf", "/etc/sysctl.d/90-cilium-bgp.conf"), "FRR's config"
    assert hosts["edge2"].files == ("/etc/bird/bird.conf", "/etc/sysctl.d/90-cilium-bgp.conf"), "BIRD's config"
    assert hosts["node3"].files == ("/etc/bird/bird.conf",)
    SshHostsBackend.refuse_unplayable(plan)
    state = LabState("t00030", str(PAIR_HOSTS), plan.stack_sha256, str(tmp_path), mode="hosts")
    backend = SshHostsBackend(plan, tmp_path, state)
    assert {h: r.kind for h, r in backend.routers.items()} == {"edge1": "frr", "edge2": "bird"}
    assert set(plan.expected) == set(backend.routers), "every router the lab reads has an expectation"
    assert backend.upstream is not None and backend.upstream.netns == "cbgp-t00030-client"
    assert backend.upstream.lab_owned, "the upstream is the lab's, not the program's"


def test_hosts_mode_keeps_one_router_as_it_was(tmp_path: Path) -> None:
    plan = plan_lab(ROOT / "Pulumi.lab.yaml", "t00031", hosts=True)
    hosts = plan_hosts(plan).hosts
    assert [(h.name, h.netns, str(h.address)) for h in hosts[:1]] == [("router", "cbgp-t00031-router", "198.18.0.2")]
    assert [h.name for h in hosts] == ["router", "node1", "node2"]
    state = LabState("t00031", "Pulumi.lab.yaml", plan.stack_sha256, str(tmp_path), mode="hosts")
    backend = SshHostsBackend(plan, tmp_path, state)
    assert {h: r.kind for h, r in backend.routers.items()} == {"router": "frr"}
    assert backend.upstream is None


def _pair_variant(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    document = yaml.safe_load(PAIR_HOSTS.read_text())
    edit(document["config"])
    path = tmp_path / "Pulumi.pair-variant.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _as_cluster(config: dict[str, Any]) -> None:
    config["cilium-bgp:kubernetes"] = {"enabled": True}
    config["cilium-bgp:podCidrSource"] = "cluster"
    config["cilium-bgp:cilium"]["k8sServiceHost"] = "10.0.1.100"
    for node in config["cilium-bgp:nodes"]:
        node.pop("podCIDRs")


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda c: c["cilium-bgp:routers"][1].pop("ssh"), "routers[1].ssh.host is not set"),
        (lambda c: c["cilium-bgp:routers"][1].update(ssh={"host": "198.18.1.3"}), "every ssh.host must be in one /24"),
        (lambda c: c["cilium-bgp:routers"][1].update(ssh={"host": "198.18.0.2"}), "edge2 and edge1 share ssh.host"),
        (
            lambda c: c["cilium-bgp:routers"][1].update(ssh={"host": "198.18.0.3", "user": "admin"}),
            "routers[1] logs in as 'admin'",
        ),
        (lambda c: c["cilium-bgp:routers"][1]["interfaces"][2].update(name="mgmt0"), "management port"),
        (lambda c: c["cilium-bgp:routers"][1].update(name="mgmt"), "the management namespace"),
        (_as_cluster, "a cluster lab models one router"),
    ],
    ids=["no-ssh-host", "two-slash-24s", "shared-address", "not-root", "mgmt0-interface", "named-mgmt", "cluster"],
)
def test_hosts_mode_refuses_what_it_cannot_play_with_several_routers(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], error: str
) -> None:
    plan = plan_lab(_pair_variant(tmp_path, edit), "t00032", hosts=True)
    with pytest.raises(StackUnusable, match=re.escape(error)):
        SshHostsBackend.refuse_unplayable(plan)
