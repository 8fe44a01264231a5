"""The policy pack: each rule on constructed arguments, then on what the program registers.

Part 1 calls every rule with a passing and a failing ``ResourceValidationArgs`` /
``StackValidationArgs`` and checks the message. Part 2 runs the program under mocks on the
shipped stacks (no mandatory violation) and on one stack per mandatory rule under
tests/stacks/policy (that rule fires). Three of those designs are already refused by the program
itself (its config validation, its renderer); for them the test switches that safeguard off, as an
older or hand-edited program would, because the pack must stand on its own. Part 3 runs the pack
under the real CLI; part 4 runs it as `pulumi policy publish` ships it: its directory alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from harness import run_stack_file
from keys import throwaway_private_key
from policy_harness import POLICIES, Violation, evaluate, mandatory
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from stacks import ROOT, SHIPPED, VARIANTS, stack_id
from test_program import mocks_for, secrets_for

from cilium_bgp.stackfile import load_stack_file

BY_NAME = {p.name: p for p in POLICIES}
MULTI_ROUTER_VARIANTS = [s for s in VARIANTS if load_stack_file(s).routers is not None]
URN = "urn:pulumi:{stack}::cilium-bgp::{type}::{name}"

# -- part 1: rules on constructed arguments -------------------------------------------------------


def opts(secret_outputs: list[str] | None = None, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs or [], parent)


def res(typ: str, name: str, props: dict[str, Any], **kw: Any) -> PolicyResource:
    urn = URN.format(stack="dev", type=typ, name=name)
    return PolicyResource(typ, props, urn, name, opts(**kw), None, None, [], {})


def run_resource_rule(
    rule: str,
    typ: str,
    props: dict[str, Any],
    config: dict | None = None,
    tags: dict[str, str] | None = None,
    **kw: Any,
) -> list[str]:
    messages: list[str] = []
    urn = URN.format(stack="dev", type=typ, name="x")
    args = ResourceValidationArgs(typ, props, urn, "x", opts(**kw), None, config or {}, tags or {})
    BY_NAME[rule].validate(args, lambda message, urn=None: messages.append(message))
    return messages


def run_stack_rule(
    rule: str, resources: list[PolicyResource], config: dict | None = None, tags: dict[str, str] | None = None
) -> list[str]:
    messages: list[str] = []
    args = StackValidationArgs(resources, config or {}, tags or {})
    BY_NAME[rule].validate(args, lambda m, urn=None: messages.append(m))
    return messages


def node(name: str, address: str, cidrs: list[str], **extra: Any) -> PolicyResource:
    props = {
        "name": name,
        "address": address,
        "subnet": address.rsplit(".", 1)[0] + ".0/24",
        "asn": 65010,
        "peerASN": 65100,
        "podCIDRs": cidrs,
        "method": "bird",
        "clusterPoolIPv4PodCIDRList": ["172.31.254.0/23"],
        "clusterPoolIPv4MaskSize": 26,
        "loadBalancerCidrs": [],
        **extra,
    }
    return res("cilium-bgp:index:KubernetesNode", name, props)


def release(values: dict[str, Any], version: str = "1.18.3") -> PolicyResource:
    return res("kubernetes:helm.sh/v3:Release", "cilium", {"chart": "cilium", "version": version, "values": values})


POOL_VALUES = {"ipam": {"operator": {"clusterPoolIPv4PodCIDRList": ["172.31.254.0/23"], "clusterPoolIPv4MaskSize": 26}}}


def test_pod_cidrs_in_pool() -> None:
    good = [node("node1", "10.0.1.10/24", ["172.31.254.0/26"]), release(POOL_VALUES)]
    assert run_stack_rule("pod-cidrs-in-pool", good) == []
    outside = [node("node1", "10.0.1.10/24", ["10.9.0.0/26"]), release(POOL_VALUES)]
    assert run_stack_rule("pod-cidrs-in-pool", outside) == [
        "Node node1: PodCIDR 10.9.0.0/26 is outside the pod pool 172.31.254.0/23 (the Cilium release's "
        "ipam.operator). Give the node a /26 from the pool, or add its range to cilium.clusterPoolIPv4PodCIDRList."
    ]
    wrong_mask = [node("node1", "10.0.1.10/24", ["172.31.254.0/27"]), release(POOL_VALUES)]
    assert run_stack_rule("pod-cidrs-in-pool", wrong_mask) == [
        "Node node1: PodCIDR 172.31.254.0/27 is a /27, the pool hands out /26. Use the CIDR Cilium's operator "
        "assigned (`cilium node list`)."
    ]


def test_pod_cidrs_no_overlap() -> None:
    a = node("node1", "10.0.1.10/24", ["172.31.254.0/26"])
    assert run_stack_rule("pod-cidrs-no-overlap", [a, node("node2", "10.0.2.10/24", ["172.31.254.64/26"])]) == []
    assert run_stack_rule("pod-cidrs-no-overlap", [a, node("node2", "10.0.2.10/24", ["172.31.254.0/25"])]) == [
        "Node node2: PodCIDR 172.31.254.0/25 overlaps 172.31.254.0/26 of node node1; the router would send one "
        "node's pod traffic to the other. Give each node its own PodCIDR."
    ]


def test_pod_cidrs_in_native_routing_cidr() -> None:
    a = node("node1", "10.0.1.10/24", ["172.31.254.64/26"])
    assert (
        run_stack_rule("pod-cidrs-in-native-routing-cidr", [a, release({"ipv4NativeRoutingCIDR": "172.31.254.0/23"})])
        == []
    )
    assert run_stack_rule(
        "pod-cidrs-in-native-routing-cidr", [a, release({"ipv4NativeRoutingCIDR": "172.31.254.0/26"})]
    ) == [
        "Node node1: PodCIDR 172.31.254.64/26 is outside ipv4NativeRoutingCIDR 172.31.254.0/26: Cilium would "
        "masquerade its traffic. Widen cilium.ipv4NativeRoutingCIDR to cover the pool."
    ]


def lb_pool(cidr: str) -> PolicyResource:
    return res("kubernetes:cilium.io/v2:CiliumLoadBalancerIPPool", "default", {"spec": {"blocks": [{"cidr": cidr}]}})


def test_lb_pool_apart() -> None:
    nodes = [node("node1", "10.0.1.10/24", ["172.31.254.0/26"]), release(POOL_VALUES)]
    assert run_stack_rule("lb-pool-apart", [*nodes, lb_pool("192.0.2.0/24")]) == []
    assert run_stack_rule("lb-pool-apart", [*nodes, lb_pool("172.31.255.0/24")]) == [
        "LoadBalancer pool 172.31.255.0/24 overlaps the pod pool 172.31.254.0/23: an LB IP there is unroutable or "
        "hijacks real addresses. Move loadBalancer.cidrs to a range of its own."
    ]
    config_map = res(
        "kubernetes:core/v1:ConfigMap",
        "bgp-config",
        {"metadata": {"name": "bgp-config"}, "data": {"config.yaml": "address-pools:\n- addresses: [10.0.1.128/25]\n"}},
    )
    assert run_stack_rule("lb-pool-apart", [*nodes, config_map]) == [
        "LoadBalancer pool 10.0.1.128/25 overlaps node node1's subnet 10.0.1.0/24: an LB IP there is unroutable or "
        "hijacks real addresses. Move loadBalancer.cidrs to a range of its own."
    ]
    native = [nodes[0], release({**POOL_VALUES, "ipv4NativeRoutingCIDR": "172.16.0.0/12"})]
    assert run_stack_rule("lb-pool-apart", [*native, lb_pool("172.20.0.0/24")]) == [
        "LoadBalancer pool 172.20.0.0/24 overlaps ipv4NativeRoutingCIDR 172.16.0.0/12: an LB IP there is "
        "unroutable or hijacks real addresses. Move loadBalancer.cidrs to a range of its own."
    ]


def test_direct_routes_single_l2() -> None:
    one_l2 = [
        node("node1", "10.0.1.10/24", []),
        node("node2", "10.0.1.11/24", []),
        release({"autoDirectNodeRoutes": True}),
    ]
    assert run_stack_rule("direct-routes-single-l2", one_l2) == []
    two = [
        node("node1", "10.0.1.10/24", []),
        node("node2", "10.0.2.10/24", []),
        release({"autoDirectNodeRoutes": True}),
    ]
    assert run_stack_rule("direct-routes-single-l2", two) == [
        "autoDirectNodeRoutes is true but nodes sit on 2 subnets (10.0.1.0/24, 10.0.2.0/24): direct routes only "
        "work on one shared L2. Set it false (cilium.autoDirectNodeRoutes and cilium.values) and let BGP carry the "
        "PodCIDRs."
    ]


def release_props(values: dict[str, Any], version: str = "1.18.3") -> dict[str, Any]:
    return {"chart": "cilium", "version": version, "values": values}


def test_native_routing_needs_cidr() -> None:
    rule, typ = "native-routing-needs-cidr", "kubernetes:helm.sh/v3:Release"
    assert (
        run_resource_rule(rule, typ, release_props({"routingMode": "native", "ipv4NativeRoutingCIDR": "10.0.0.0/8"}))
        == []
    )
    assert run_resource_rule(rule, typ, release_props({"routingMode": "tunnel"})) == []
    assert run_resource_rule(rule, typ, release_props({"tunnel": "disabled"}, "1.13.12")) == [
        "Native routing without ipv4NativeRoutingCIDR: Cilium cannot tell pod traffic to route from traffic to "
        "masquerade. Set cilium.ipv4NativeRoutingCIDR to a CIDR covering the pod pool."
    ]


def test_no_dsr_with_metallb_or_tunnel() -> None:
    rule, typ = "no-dsr-with-metallb-or-tunnel", "kubernetes:helm.sh/v3:Release"
    native_dsr = {"routingMode": "native", "loadBalancer": {"mode": "dsr"}}
    assert run_resource_rule(rule, typ, release_props(native_dsr)) == []
    assert run_resource_rule(rule, typ, release_props({**native_dsr, "bgp": {"enabled": True}}, "1.16.15")) == [
        "loadBalancer.mode dsr with the MetalLB-based speaker (bgp.enabled): replies bypass the announcing node and "
        "connections break. Use cilium.loadBalancerMode: snat."
    ]
    assert run_resource_rule(rule, typ, release_props({"routingMode": "tunnel", "loadBalancer": {"mode": "dsr"}})) == [
        "loadBalancer.mode dsr with tunnelling: DSR needs native routing. Use routingMode native (the program's "
        "default) or loadBalancerMode: snat."
    ]


def test_release_has_its_keys() -> None:
    rule, typ = "release-has-its-keys", "kubernetes:helm.sh/v3:Release"
    assert run_resource_rule(rule, typ, release_props({"bgp": {"enabled": True}}, "1.16.15")) == []
    assert run_resource_rule(rule, typ, release_props({"bgp": {"enabled": True}}, "1.17.0")) == [
        "Helm value bgp does not exist in Cilium 1.17.0 (removed or not yet added); the chart ignores or rejects it. "
        "Remove it, or render the values for this version (cilium.version)."
    ]
    assert run_resource_rule(rule, typ, release_props({"tunnel": "disabled"}, "1.15.7"))[0].startswith(
        "Helm value tunnel does not exist in Cilium 1.15.7"
    )
    assert run_resource_rule(rule, typ, release_props({"kubeProxyReplacement": "strict"}, "1.16.15")) == [
        "kubeProxyReplacement: strict was removed in Cilium 1.16 (the chart fails). Use true or false."
    ]
    assert run_resource_rule(rule, typ, release_props({"kubeProxyReplacement": "strict"}, "1.13.12")) == []
    assert run_resource_rule(rule, typ, release_props({"kubeProxyReplacement": True}, "1.13.12")) == [
        "kubeProxyReplacement: true is not a value Cilium 1.13.12 has (true and false arrived in 1.14). Use "
        "strict, partial or disabled."
    ]


def peering_policy(address: str) -> PolicyResource:
    spec = {"virtualRouters": [{"localASN": 65000, "exportPodCIDR": True, "neighbors": [{"peerAddress": address}]}]}
    return res("kubernetes:cilium.io/v2alpha1:CiliumBGPPeeringPolicy", "p", {"spec": spec})


def test_release_has_its_kinds() -> None:
    assert run_stack_rule("release-has-its-kinds", [release({}, "1.18.10"), peering_policy("10.0.1.2/32")]) == []
    assert run_stack_rule("release-has-its-kinds", [release({}, "1.19.0"), peering_policy("10.0.1.2/32")]) == [
        "CiliumBGPPeeringPolicy does not exist in Cilium 1.19.0 (removed in 1.19). Use method cilium-bgp-v2."
    ]
    metallb_node = node("node1", "10.0.1.10/24", [], method="cilium-metallb")
    assert run_stack_rule("release-has-its-kinds", [release({}, "1.17.14"), metallb_node]) == [
        "Method cilium-metallb exists in Cilium 1.10.0 up to (not including) 1.17.0, not in Cilium 1.17.14. "
        "Pick a method this release has."
    ]


def test_v1_neighbor_cidr() -> None:
    rule, typ = "v1-neighbor-cidr", "kubernetes:cilium.io/v2alpha1:CiliumBGPPeeringPolicy"
    assert run_resource_rule(rule, typ, dict(peering_policy("10.0.1.2/32").props)) == []
    assert run_resource_rule(rule, typ, dict(peering_policy("10.0.1.2").props)) == [
        "CiliumBGPPeeringPolicy neighbor peerAddress '10.0.1.2' must be one host in CIDR form (a.b.c.d/32); "
        "Cilium rejects or misreads anything else."
    ]


def bird_config(node_res: PolicyResource) -> PolicyResource:
    command = res("command:remote:Command", f"{node_res.name}-bird-config", {})
    command.parent = node_res
    return command


def router_res(prefix_filter: bool = False, neighbor_asn: int = 65010) -> PolicyResource:
    return res(
        "cilium-bgp:index:Router",
        "router",
        {
            "asn": 65100,
            "prefixFilter": prefix_filter,
            "clusterPoolIPv4PodCIDRList": ["172.31.254.0/23"],
            "neighbors": [{"node": "node1", "address": "10.0.1.10", "asn": neighbor_asn}],
        },
    )


def test_one_speaker_per_pod_cidr() -> None:
    n = node("node1", "10.0.1.10/24", ["172.31.254.0/26"])
    assert run_stack_rule("one-speaker-per-pod-cidr", [n, bird_config(n), release(POOL_VALUES)]) == []
    metallb = release({**POOL_VALUES, "bgp": {"enabled": True, "announce": {"podCIDR": True}}}, "1.16.15")
    assert run_stack_rule("one-speaker-per-pod-cidr", [n, bird_config(n), metallb]) == [
        "PodCIDRs of node1 are announced twice: by BIRD on the node and by Cilium's MetalLB-based speaker "
        "(bgp.announce.podCIDR). Run one speaker: method bird with Cilium's BGP off, or a Cilium method without BIRD."
    ]


def test_pod_cidr_announced_and_accepted() -> None:
    rule = "pod-cidr-announced-and-accepted"
    n = node("node1", "10.0.1.10/24", ["172.31.254.0/26"])
    assert run_stack_rule(rule, [n, bird_config(n), router_res()]) == []
    assert run_stack_rule(rule, [n, router_res()]) == [
        "Node node1: nothing announces its PodCIDR (no BIRD config on the node, no in-cluster speaker exporting "
        "PodCIDRs). Pick a method that announces it."
    ]
    assert run_stack_rule(rule, [n, bird_config(n), router_res(neighbor_asn=65020)]) == [
        "Node node1: ASNs disagree (node 65010 -> peer AS 65100; router 65100 expects AS 65020). The session never "
        "comes up."
    ]
    stray = node("node1", "10.0.1.10/24", ["10.9.0.0/26"])
    assert run_stack_rule(rule, [stray, bird_config(stray), router_res(prefix_filter=True)]) == [
        "Node node1: the router's prefix filter drops PodCIDR 10.9.0.0/26 (it accepts the pool 172.31.254.0/23). "
        "Fix the PodCIDR or the pool."
    ]
    lonely = node("node9", "10.0.9.10/24", ["172.31.254.0/26"])
    assert run_stack_rule(rule, [lonely, bird_config(lonely), router_res()]) == [
        "Node node9: the router has no neighbor 10.0.9.10; its routes are never accepted."
    ]


def test_pod_cidr_announced_and_accepted_by_each_of_its_routers() -> None:
    """With several routers, each router a node peers with (its spec's peers) must accept it; the
    others (another rack's router, a reflector) need not know it."""
    rule = "pod-cidr-announced-and-accepted"
    peers = [{"router": "tor1", "address": "10.0.1.1", "asn": 65100}, {"router": "tor9", "address": "10.0.1.9"}]
    n = node("node1", "10.0.1.10/24", ["172.31.254.0/26"], peers=peers[:1])
    tor1 = res("cilium-bgp:index:Router", "tor1", {**router_res().props, "name": "tor1"})
    rr = res("cilium-bgp:index:Router", "rr1", {**router_res().props, "name": "rr1", "neighbors": []})
    assert run_stack_rule(rule, [n, bird_config(n), tor1, rr]) == []
    tor9 = res("cilium-bgp:index:Router", "tor9", {**router_res().props, "name": "tor9", "neighbors": []})
    both = node("node1", "10.0.1.10/24", ["172.31.254.0/26"], peers=[peers[0], {**peers[1], "asn": 65100}])
    assert run_stack_rule(rule, [both, bird_config(both), tor1, tor9, rr]) == [
        "Node node1: router tor9 has no neighbor 10.0.1.10; its routes are never accepted."
    ]


def test_secrets_marked_secret() -> None:
    rule, typ = "secrets-marked-secret", "command:remote:Command"
    key = throwaway_private_key()
    assert run_resource_rule(rule, typ, {"connection": {"privateKey": key}}, secret_outputs=["connection"]) == []
    assert run_resource_rule(rule, typ, {"stdin": " neighbor 10.0.1.10 password <<secret:bgpPassword>>"}) == []
    assert run_resource_rule(rule, typ, {"create": f"echo '{key}' > /root/.ssh/id"}) == [
        "Property create holds an SSH private key that is not marked secret: it would sit in the state in plain "
        "text. Set it with `pulumi config set --secret` (bgpPassword, sshPrivateKey), not in stack values or extra "
        "arguments."
    ]
    assert run_resource_rule(rule, typ, {"stdin": " neighbor 10.0.1.10 password hunter2\n"})[0].startswith(
        "Property stdin holds a BGP password (FRR) that is not marked secret"
    )
    assert run_resource_rule(rule, typ, {"stdin": 'password "hunter2";'}, secret_outputs=["stdin"]) == []


def test_ssh_host_key_pinned() -> None:
    rule, typ = "ssh-host-key-pinned", "command:remote:Command"
    assert run_resource_rule(rule, typ, {"connection": {"host": "10.0.1.10", "hostKey": "ssh-ed25519 AAAA"}}) == []
    assert run_resource_rule(rule, typ, {"connection": {"host": "10.0.1.10"}}) == [
        "SSH to 10.0.1.10 does not check the host key: anyone on the path can stand in for the host. Pin it with "
        "router.ssh.hostKey / nodes[].ssh.hostKey (`ssh-keyscan`)."
    ]


def test_private_asns() -> None:
    rule, typ = "private-asns", "cilium-bgp:index:Router"
    assert run_resource_rule(rule, typ, {"asn": 65100}) == []
    assert run_resource_rule(rule, typ, {"asn": 4200000001}) == []
    assert run_resource_rule(rule, typ, {"asn": 3320}) == [
        "ASN 3320 is outside the private ranges (64512-65534, 4200000000-4294967294): it may be someone else's on "
        "the Internet. Use a private ASN unless this one is yours."
    ]


def test_router_prefix_filter() -> None:
    rule, typ = "router-prefix-filter", "cilium-bgp:index:Router"
    assert run_resource_rule(rule, typ, {"prefixFilter": True}) == []
    assert run_resource_rule(rule, typ, {"prefixFilter": False}) == [
        "The router accepts every route its nodes send (no bgp ebgp-requires-policy): one wrong announcement can "
        "hijack any prefix. Set router.prefixFilter: true to accept only the pod and LB pools."
    ]


PROD = {"environment": "prod"}


def test_fast_failover_timers() -> None:
    rule, typ = "fast-failover-timers", "cilium-bgp:index:Router"
    config = {"stackTag": "environment", "fastFailoverValues": ["prod"], "maxHoldTimeSeconds": 30}
    unset = {"timers": {"holdTimeSeconds": None}}
    assert run_resource_rule(rule, typ, {"timers": {"holdTimeSeconds": 9}}, config, PROD) == []
    assert run_resource_rule(rule, typ, unset, config, {"environment": "dev"}) == []
    assert run_resource_rule(rule, typ, unset, config) == [], "an untagged stack is not asked for fast failover"
    assert run_resource_rule(rule, typ, unset, config, PROD) == [
        "The stack (tagged environment=prod) asks for fast failover but the hold time is the daemons' default "
        "(FRR 180 s, BIRD 240 s): a dead node black-holes traffic that long. Set bgp.holdTimeSeconds to 30 or less."
    ]
    tighter = {**config, "maxHoldTimeSeconds": 3}
    assert run_resource_rule(rule, typ, {"timers": {"holdTimeSeconds": 9}}, tighter, PROD)[0].startswith(
        "The stack (tagged environment=prod) asks for fast failover but the hold time is 9 s"
    )
    their_scheme = {"stackTag": "tier", "fastFailoverValues": ["gold"]}
    assert run_resource_rule(rule, typ, unset, their_scheme, PROD) == []
    assert run_resource_rule(rule, typ, unset, their_scheme, {"tier": "gold"})[0].startswith(
        "The stack (tagged tier=gold) asks for fast failover"
    )


def test_redundant_router() -> None:
    config = {"stackTag": "environment", "productionValues": ["prod"]}
    one = [res("cilium-bgp:index:Router", "router", {})]
    assert run_stack_rule("redundant-router", one, {**config, "productionValues": ["production"]}, PROD) == []
    assert run_stack_rule("redundant-router", one, config) == [], "an untagged stack is not production"
    two = [*one, res("cilium-bgp:index:Router", "router2", {})]
    assert run_stack_rule("redundant-router", two, config, PROD) == []
    assert run_stack_rule("redundant-router", one, config, PROD) == [
        "Production stack (tagged environment=prod) has a single router: when it fails, every PodCIDR and LB IP "
        "is unreachable. Add a second router for the nodes to peer with."
    ]


def test_every_rule_has_a_case_above() -> None:
    tested = {name.removeprefix("test_").replace("_", "-") for name in globals() if name.startswith("test_")}
    assert {p.name for p in POLICIES} <= tested


# -- part 2: what the program registers goes through the rules ------------------------------------


@pytest.mark.parametrize("stack", SHIPPED, ids=stack_id)
def test_shipped_stacks_pass_every_mandatory_rule(stack: Path) -> None:
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack), stack=stack_id(stack))
    violations = evaluate(run)
    assert mandatory(violations) == []
    assert violations, "the advisory rules do see the stack (e.g. unpinned SSH host keys)"


def test_prod_has_a_redundant_pair() -> None:
    """Under the stack tag its file tells the user to set, prod meets the production rules."""
    import re

    stack = ROOT / "Pulumi.prod.yaml"
    production = dict(re.findall(r"^#\s+pulumi stack tag set (\S+) (\S+)", stack.read_text(), re.M))
    assert production == {"environment": "prod"}, "Pulumi.prod.yaml says which stack tag makes it production"
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    resilience = {"redundant-router", "fast-failover-timers"}
    assert [v for v in evaluate(run, stack_tags=production) if v.policy in resilience] == []
    dev = ROOT / "Pulumi.dev.yaml"
    run = run_stack_file(dev, secrets=secrets_for(dev), mocks=mocks_for(dev))
    found = [v.policy for v in evaluate(run, stack_tags=production) if v.policy == "redundant-router"]
    assert found == ["redundant-router"], "the rule does fire on one router"


@pytest.mark.parametrize("stack", MULTI_ROUTER_VARIANTS, ids=stack_id)
def test_several_router_variants_pass_every_mandatory_rule(stack: Path) -> None:
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack), stack=stack_id(stack))
    assert mandatory(evaluate(run)) == []


@contextmanager
def without_config_validation() -> Iterator[None]:
    with mock.patch("cilium_bgp.validate.check_stack", return_value=[]):
        yield


@contextmanager
def with_plain_v1_neighbors() -> Iterator[None]:
    from cilium_bgp.renderers import manifests

    original = manifests._peering_policy_objects

    def plain(cfg: Any, plan: Any) -> list[dict[str, Any]]:
        objects = original(cfg, plan)
        for obj in objects:
            for router in obj["spec"]["virtualRouters"]:
                for neighbor in router["neighbors"]:
                    neighbor["peerAddress"] = neighbor["peerAddress"].removesuffix("/32")
        return objects

    with mock.patch.object(manifests, "_peering_policy_objects", plain):
        yield


# The program already refuses these designs; the pack must catch them without its help.
SAFEGUARD_OFF = {
    "pod-cidrs-no-overlap": without_config_validation,
    "lb-pool-apart": without_config_validation,
    "v1-neighbor-cidr": with_plain_v1_neighbors,
}
VIOLATING = sorted((ROOT / "tests" / "stacks" / "policy").glob("*.yaml"))


def test_every_mandatory_rule_has_a_violating_stack() -> None:
    mandatory_rules = {p.name for p in POLICIES if p.enforcement_level.value == "mandatory"}
    assert {p.stem for p in VIOLATING} == mandatory_rules


@pytest.mark.parametrize("stack", VIOLATING, ids=lambda p: p.stem)
def test_violating_stack_is_caught(stack: Path) -> None:
    safeguard_off = SAFEGUARD_OFF.get(stack.stem)
    with safeguard_off() if safeguard_off else _nothing():
        run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    fired: list[Violation] = [v for v in mandatory(evaluate(run)) if v.policy == stack.stem]
    assert fired, f"{stack.stem} did not fire on {stack.name}"


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_stack_tags_select_the_production_rules() -> None:
    """Tagged as production, dev (one router) needs a second router, and neither dev (the daemons'
    hold time) nor prod (hold 9 s) meets a 5 s fast-failover limit; untagged, neither rule applies."""
    resilience = {"redundant-router", "fast-failover-timers"}
    strict = {"fast-failover-timers": {"maxHoldTimeSeconds": 5}}
    found = set()
    for name in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        stack = ROOT / name
        run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
        assert not [v for v in evaluate(run, strict) if v.policy in resilience]
        tagged = evaluate(run, strict, stack_tags={"environment": "prod"})
        found |= {f"{name}: {v.policy}" for v in tagged if v.policy in resilience}
    assert found == {
        "Pulumi.dev.yaml: redundant-router",
        "Pulumi.dev.yaml: fast-failover-timers",
        "Pulumi.prod.yaml: fast-failover-timers",
    }, found


def test_levels_can_be_changed_by_config() -> None:
    stack = ROOT / "Pulumi.dev.yaml"
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    raised = evaluate(run, {"router-prefix-filter": "mandatory", "ssh-host-key-pinned": "disabled"})
    assert [v.policy for v in mandatory(raised)] == ["router-prefix-filter"]
    assert not [v for v in raised if v.policy == "ssh-host-key-pinned"]


# -- part 3: the pack under the real CLI ----------------------------------------------------------


def _cli_bin() -> Path | None:
    """The Pulumi CLI on PATH, else the one scripts/install-pulumi built (without building it)."""
    import shutil
    import subprocess

    found = shutil.which("pulumi")
    if found:
        return Path(found).parent
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-pulumi"), "--print-path"], capture_output=True, text=True
    )
    candidate = Path(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else None
    return candidate if candidate is not None and (candidate / "pulumi").exists() else None


def test_policy_pack_in_pulumi_preview(tmp_path: Path) -> None:
    """`pulumi preview --policy-pack policies`: dev passes; a violating design fails the preview.

    The stack is dev with its Kubernetes part left out (preview would need a cluster), and preview
    needs no host, so nothing else changes. The violation: the same design under a policy config
    that makes `router-prefix-filter` mandatory, as an organisation that forbids unfiltered routers
    would. Tagged `environment=production` (a stack tag, on the local backend), the stack gets the
    production rules' advice. The pack runs on this interpreter, with the requirements
    scripts/install-deps installs (this checkout as the cilium-bgp distribution among them).
    """
    import subprocess
    import sys

    import yaml

    from lab.engine import Engine

    bin_dir = _cli_bin()
    if bin_dir is None:
        pytest.skip("no Pulumi CLI on PATH and none built by scripts/install-pulumi")
    installed = subprocess.run([sys.executable, "-c", "import cilium_bgp.checks"], cwd="/", capture_output=True)
    assert installed.returncode == 0, "the pack requires cilium-bgp: pip install -e . (scripts/install-deps does)"
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config["cilium-bgp:kubernetes"] = {"enabled": False}
    engine = Engine(bin_dir, "policy-dev")
    engine.forget_leftover()
    try:
        key = tmp_path / "key"
        key.write_text("preview-needs-no-key")
        engine.configure(config, secret_files={"cilium-bgp:sshPrivateKey": key})
        policies = ROOT / "policies"
        passing = engine.preview(policy_packs=[policies], check=False)
        assert passing.ok, passing.output
        assert "ssh-host-key-pinned" in {e.policy_name for e in passing.policy}, "advisory findings are reported"
        version = yaml.safe_load((policies / "PulumiPolicy.yaml").read_text())["version"]
        assert {e.policy_pack_version for e in passing.policy} == {version}, "the engine reports the pack's version"
        assert "redundant-router" not in {e.policy_name for e in passing.policy}, "an untagged stack is not production"
        engine.stack.set_tag("environment", "production")
        tagged = engine.preview(policy_packs=[policies], check=False)
        assert tagged.ok, tagged.output
        advice = [e.message for e in tagged.policy if e.policy_name == "redundant-router"]
        assert any("tagged environment=production" in m for m in advice), tagged.output
        strict = tmp_path / "strict.json"
        strict.write_text('{"router-prefix-filter": "mandatory"}')
        failing = engine.preview(policy_packs=[policies], policy_pack_configs=[strict], check=False)
        assert not failing.ok
        messages = [e.message for e in failing.policy if e.policy_name == "router-prefix-filter"]
        assert any("router.prefixFilter: true" in m for m in messages), failing.output
    finally:
        engine.remove()


# -- part 4: the pack as `pulumi policy publish` ships it -----------------------------------------


def test_pack_version_is_the_distribution_version() -> None:
    """PulumiPolicy.yaml, the pack's requirement on cilium-bgp and pyproject.toml name one version."""
    import tomllib

    import yaml

    pack = str(yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["version"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = [
        line.split("==", 1)[1].strip()
        for line in (ROOT / "policies" / "requirements.txt").read_text().splitlines()
        if line.startswith(f"{project['name']}==")
    ]
    assert required == [pack] == [project["version"]], (pack, required, project["version"])


def _analyzer_resource(typ: str, name: str, props: dict[str, Any]) -> Any:
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2

    properties = struct_pb2.Struct()
    properties.update(props)
    return analyzer_pb2.AnalyzerResource(
        type=typ, name=name, urn=URN.format(stack="prod", type=typ, name=name), properties=properties
    )


def test_pack_runs_from_its_directory_alone(tmp_path: Path) -> None:
    """What `pulumi policy publish` uploads (the pack's directory, nothing else) loads and runs in a
    fresh virtualenv holding only the pack's declared requirements, with this repository nowhere on
    its path. The cilium-bgp distribution is a wheel built from a copy of this checkout, standing in
    for the package index a published pack installs it from. The pack is then asked, over its gRPC
    analyzer interface as the engine would, for its rules and for a verdict that needs both the
    shared checks (cilium_bgp.checks) and the stack's tags."""
    import os
    import select
    import shutil
    import subprocess
    import sys
    import zipfile

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    pack, source, wheels, venv = (tmp_path / d for d in ("pack", "source", "wheels", "venv"))
    shutil.copytree(ROOT / "policies", pack, ignore=ignore)
    shutil.copytree(ROOT / "cilium_bgp", source / "cilium_bgp", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)], check=True)
    [wheel] = wheels.glob("cilium_bgp-*.whl")
    packaged = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("cilium_bgp/")}
    files = {p.relative_to(source).as_posix() for p in (source / "cilium_bgp").rglob("*") if p.is_file()}
    assert packaged == files, f"the wheel lacks {sorted(files - packaged)}: extend package-data in pyproject.toml"

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    requirements = ["--requirement", str(pack / "requirements.txt"), "--find-links", str(wheels)]
    subprocess.run([*pip, "--python", str(python), "install", *requirements], check=True)
    # As the engine runs a pack: unbuffered, so that the port it listens on arrives at once.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PULUMI_"))} | {"PYTHONUNBUFFERED": "1"}
    where = subprocess.run(
        [str(python), "-c", "import cilium_bgp.checks, sys; print(cilium_bgp.checks.__file__); print(sys.path)"],
        cwd=pack,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)) and str(ROOT) not in where, where

    server = subprocess.Popen(
        [str(python), "-m", "pulumi.policy", "127.0.0.1:1", str(pack)],
        cwd=pack,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 120)
        port = server.stdout.readline().strip() if ready else ""
        if not port.isdigit():
            server.kill()
            pytest.fail(f"the pack did not start: {port} {server.communicate(timeout=30)[1]}")
        analyzer = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert (info.name, [p.name for p in info.policies]) == ("cilium-bgp", [p.name for p in POLICIES])
        tags = {"environment": "production"}
        analyzer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack="prod", tags=tags), timeout=30)
        stray = node("node1", "10.0.1.10/24", ["10.9.0.0/26"])
        resources = [
            _analyzer_resource(stray.resource_type, stray.name, dict(stray.props)),
            _analyzer_resource("cilium-bgp:index:Router", "router", {"asn": 65100, "prefixFilter": True}),
        ]
        verdict = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=30)
        fired = {d.policyName: d.message for d in verdict.diagnostics}
        assert "is outside the pod pool 172.31.254.0/23" in fired.get("pod-cidrs-in-pool", ""), fired
        assert "tagged environment=production" in fired.get("redundant-router", ""), fired
    finally:
        server.terminate()
        server.wait(timeout=30)
