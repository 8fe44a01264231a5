"""Several routers: who peers with whom (the session plan), what each router expects, and what
each BGP method renders for the extra peers. Golden files hold the full texts; these tests state
the rules those texts follow."""

from __future__ import annotations

import copy
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
import yaml
from stacks import ROOT

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.config import StackConfig, load_config
from cilium_bgp.errors import ConfigError
from cilium_bgp.plan import SessionPlan, build_plan
from cilium_bgp.renderers.expectations import expected_state, static_pod_cidrs
from cilium_bgp.renderers.manifests import KUBE_ROUTER_PEER_IPS, render_manifests
from cilium_bgp.stackfile import load_stack_file

VARIANTS = ROOT / "tests" / "stacks" / "variants"


def raw_config(stack: str) -> dict[str, Any]:
    config = yaml.safe_load((VARIANTS / f"{stack}.yaml").read_text())["config"]
    return {k.removeprefix("cilium-bgp:"): v for k, v in config.items()}


def load(raw: dict[str, Any]) -> StackConfig:
    return load_config(raw, frozenset())


def plan_of(raw: dict[str, Any]) -> SessionPlan:
    return build_plan(load(raw))


def routes_at(raw: dict[str, Any], router: str) -> dict[str, list[str] | None]:
    cfg = load(raw)
    plan = build_plan(cfg)
    return expected_state(plan, plan.router(router), static_pod_cidrs(cfg), ["192.0.2.10"])["routes"]


def test_pair_each_node_peers_with_both_routers_on_its_subnet() -> None:
    plan = plan_of(raw_config("pair-v2-1.18"))
    node1 = plan.node("node1")
    assert [(s.router, s.router_address) for s in node1.sessions] == [
        ("edge1", IPv4Address("10.0.1.2")),
        ("edge2", IPv4Address("10.0.1.3")),
    ]
    (mesh,) = plan.router("edge1").mesh
    # The routers peer on the subnet no node sits on, over iBGP (one ASN) with next-hop-self.
    assert (mesh.peer, mesh.subnet, mesh.internal, mesh.reflector_client) == (
        "edge2",
        IPv4Network("192.168.121.0/24"),
        True,
        False,
    )
    assert mesh.local_address == IPv4Address("192.168.121.16")


def test_node_names_the_routers_it_peers_with() -> None:
    raw = raw_config("pair-bird-1.18")
    raw["nodes"][1]["routers"] = ["edge2"]
    cfg = load(raw)
    plan = build_plan(cfg)
    assert [s.router for s in plan.node("node2").sessions] == ["edge2"]
    assert [s.node for s in plan.router("edge1").sessions] == ["node1"]
    bird = render_artifacts(cfg)["nodes/node2/bird.conf"]
    assert "protocol bgp uplink0 {" in bird and "uplink1" not in bird
    # edge1 reaches node2's PodCIDR through edge2 (iBGP, next hop edge2 on the subnet they share).
    assert routes_at(raw, "edge1")["172.31.254.64/26"] == ["192.168.121.17"]


def test_routers_of_different_asns_peer_over_ebgp() -> None:
    raw = raw_config("pair-bird-1.18")
    raw["routers"][1]["asn"] = 65300
    raw["nodes"][1]["routers"] = ["edge2"]
    cfg = load(raw)
    plan = build_plan(cfg)
    (mesh,) = plan.router("edge1").mesh
    assert (mesh.internal, mesh.peer_asn) == (False, 65300)
    files = render_artifacts(cfg)
    assert "next-hop-self" not in files["routers/edge1/frr.conf"]
    # eBGP keeps the node's next hop when the node shares the routers' subnet: not predicted.
    assert routes_at(raw, "edge1")["172.31.254.64/26"] is None
    assert "direct;" not in files["routers/edge2/bird.conf"], "eBGP is direct by default in BIRD"


def test_router_per_rack_with_a_reflector_pair() -> None:
    plan = plan_of(raw_config("rack-v2-1.18"))
    assert [s.node for s in plan.router("tor1").sessions] == ["node1", "node3"]
    assert [s.node for s in plan.router("rr1").sessions] == []
    assert [(m.peer, m.reflector_client) for m in plan.router("rr1").mesh] == [
        ("tor1", True),
        ("tor2", True),
        ("rr2", False),
    ]
    # Rack routers peer only with the reflectors, on the fabric every router shares.
    assert [(m.peer, str(m.subnet)) for m in plan.router("tor2").mesh] == [
        ("rr1", "10.0.0.0/24"),
        ("rr2", "10.0.0.0/24"),
    ]


def test_reflectors_say_it_in_frr_and_bird() -> None:
    files = render_artifacts(load(raw_config("rack-bird-1.18")))
    frr = files["routers/rr1/frr.conf"]
    assert " bgp cluster-id 10.0.0.100\n" in frr
    assert "  neighbor 10.0.0.1 route-reflector-client\n" in frr
    assert "  neighbor 10.0.0.12 route-reflector-client\n" not in frr, "reflectors are not each other's clients"
    bird = files["routers/rr2/bird.conf"]
    tor1 = bird[bird.index("protocol bgp mesh_tor1 {") :].split("}\n", 1)[0]
    assert "  rr client;\n  rr cluster id 10.0.0.100;\n" in tor1
    # iBGP in BIRD is multihop unless told: these peers share the fabric, next hops resolve on it.
    assert "  direct;\n" in tor1
    assert "next hop self ebgp;" in tor1, "own nodes' routes leave with this router as next hop; reflected keep theirs"
    rr1 = bird[bird.index("protocol bgp mesh_rr1 {") :].split("}\n", 1)[0]
    assert "rr client" not in rr1


def test_each_router_expects_the_routes_it_can_have() -> None:
    raw = raw_config("rack-v2-1.18")
    # tor2 learns rack 1 through the reflectors, next hop tor1 on the fabric.
    at_tor2 = routes_at(raw, "tor2")
    assert at_tor2["172.31.254.0/26"] == at_tor2["172.31.254.128/26"] == ["10.0.0.1"]
    assert at_tor2["192.0.2.10/32"] == ["10.0.2.10"], "its own node announces the LB IP"
    at_rr1 = routes_at(raw, "rr1")
    assert at_rr1["172.31.254.64/26"] == ["10.0.0.2"]
    assert at_rr1["192.0.2.10/32"] is None, "two rack routers announce it: the reflector picks"


def test_kube_router_takes_one_global_peer_list_when_every_node_shares_it() -> None:
    raw = raw_config("pair-v2-1.18")
    raw["method"] = "kube-router"
    raw["routers"][0]["peeringAddress"] = "192.168.121.16"
    raw["routers"][1]["peeringAddress"] = "192.168.121.17"
    cfg = load_config(raw, frozenset())
    objects = render_manifests(cfg, build_plan(cfg))
    assert not [o for o in objects if o["kind"] == "Node"]
    daemonset = next(o for o in objects if o["kind"] == "DaemonSet")
    args = daemonset["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--peer-router-ips=192.168.121.16,192.168.121.17" in args
    assert "--peer-router-asns=65100,65100" in args
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert secret["stringData"]["peer-router-passwords"].count("<<secret:") == 2, "one password per peer"


def test_kube_router_nodes_with_their_own_routers_get_node_annotations() -> None:
    cfg = load(raw_config("rack-kube-router-1.18"))
    objects = render_manifests(cfg, build_plan(cfg))
    patches = {o["metadata"]["name"]: o["metadata"]["annotations"] for o in objects if o["kind"] == "Node"}
    assert patches == {
        "node1": {KUBE_ROUTER_PEER_IPS: "10.0.1.1", "kube-router.io/peer.asns": "65100"},
        "node3": {KUBE_ROUTER_PEER_IPS: "10.0.1.1", "kube-router.io/peer.asns": "65100"},
        "node2": {KUBE_ROUTER_PEER_IPS: "10.0.2.1", "kube-router.io/peer.asns": "65100"},
    }
    args = next(o for o in objects if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if a.startswith("--peer-router-")], "kube-router reads annotations only without"


def test_kube_router_refuses_a_password_it_could_only_put_in_node_annotations() -> None:
    raw = raw_config("rack-kube-router-1.18")
    raw["bgp"]["requirePassword"] = True
    with pytest.raises(ConfigError) as caught:
        load(raw)
    assert "bgpPassword: found a password with method 'kube-router' and nodes that peer with different" in str(
        caught.value
    )


def test_one_router_across_subnets_works_for_kube_router_now() -> None:
    """kube-router was refused for nodes on several subnets without a peeringAddress (one global
    --peer-router-ips); per-node annotations carry each node's own router address."""
    raw = copy.deepcopy(yaml.safe_load((VARIANTS / "kube-router-1.16.yaml").read_text())["config"])
    raw = {k.removeprefix("cilium-bgp:"): v for k, v in raw.items()}
    del raw["router"]["peeringAddress"]
    cfg = load(raw)
    patches = [o for o in render_manifests(cfg, build_plan(cfg)) if o["kind"] == "Node"]
    assert [p["metadata"]["annotations"][KUBE_ROUTER_PEER_IPS] for p in patches] == ["10.0.1.2", "10.0.2.2"]


def test_one_router_stacks_keep_their_paths_and_shapes() -> None:
    files = render_artifacts(load_stack_file(ROOT / "Pulumi.dev.yaml"))
    assert {"router/frr.conf", "router/sysctl.conf"} <= set(files)
    outputs = yaml.safe_load(files["outputs.json"])
    assert set(outputs["bgpPeers"]) == {"10.0.1.10", "10.0.2.10"}, "flat: peer address -> peer"
    assert isinstance(outputs["routerConfig"], str)


def test_upstreams_get_the_cluster_prefixes_and_give_nothing() -> None:
    cfg = load(raw_config("pair-v2-1.18"))
    plan = build_plan(cfg)
    files = render_artifacts(cfg)
    frr = files["routers/edge1/frr.conf"]
    assert "  neighbor 192.168.121.254 route-map CILIUM-BGP-UPSTREAM-OUT out\n" in frr
    assert "route-map CILIUM-BGP-UPSTREAM-IN deny 10\nexit\n" in frr
    assert "neighbor 192.168.121.254 password" not in frr, "the stack's password is for the cluster's sessions"
    # A dead router's paths must leave the upstream with its session, not linger as stale.
    assert " neighbor 192.168.121.254 graceful-restart-disable\n" in frr
    bird = files["routers/edge2/bird.conf"]
    upstream = bird[bird.index("protocol bgp upstream_core {") :]
    assert "  ipv4 { import none; export filter cilium_bgp_in; };\n" in upstream
    assert "  graceful restart off;\n  long lived graceful restart off;\n" in upstream
    assert "password" not in upstream
    expected = expected_state(plan, plan.router("edge2"), static_pod_cidrs(cfg), [])
    assert expected["peers"]["192.168.121.254"] == {"upstream": "core", "asn": 65200, "prefixesReceived": 0}


def test_an_upstream_in_the_nodes_shared_asn_is_refused() -> None:
    """The per-node ASN case has its error stack; with a shared node ASN, every announced path holds
    bgp.nodeASN, so an upstream speaking from it drops them all."""
    raw = raw_config("pair-v2-1.18")
    raw["routers"][0]["upstreams"][0]["asn"] = raw["bgp"]["nodeASN"]
    with pytest.raises(ConfigError) as caught:
        load(raw)
    assert (
        f"routers[0].upstreams[0].asn: found {raw['bgp']['nodeASN']}, the nodes' ASN (bgp.nodeASN); allowed: an ASN "
        "no node speaks from"
    ) in str(caught.value)
