"""cilium-bgp: announce every PodCIDR and LoadBalancer IP of a native-routing Cilium cluster over BGP.

Reads the stack config, builds the router, the nodes, the Cilium release and the BGP method, checks
on the router that everything is routed, and exports what was announced.
"""

from __future__ import annotations

import json
from functools import partial
from ipaddress import IPv4Network
from operator import itemgetter
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cilium_bgp.artifacts import by_router, sha256
from cilium_bgp.errors import ConfigError
from cilium_bgp.plan import RouterPlan, build_plan
from cilium_bgp.renderers.expectations import expected_state
from cilium_bgp.renderers.manifests import node_patches, render_manifests
from cilium_bgp.validate import check_cluster_pod_cidrs
from components.bgp_method import BgpMethod, DemoService, NodeAnnotations
from components.cilium_release import CiliumRelease
from components.kubernetes_node import KubernetesNode
from components.outputs import then
from components.router import Router
from components.stack_args import demo_args, method_args, node_args, release_args, router_args, verification_args
from components.stack_config import kubernetes_provider_args, read_stack_config, secret_values, ssh_private_key
from components.verification import BgpVerification, unverified_peers

try:
    cfg = read_stack_config()
    secrets = secret_values(cfg)
    private_key = ssh_private_key(cfg)
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
# Who peers with whom, computed once: every component formats this plan.
plan = build_plan(cfg)

provider_args = kubernetes_provider_args(cfg.kubernetes)
provider = k8s.Provider("kubernetes", provider_args) if provider_args is not None else None

# Kubernetes components hand the stack's provider (else the ambient kubeconfig's) to their children.
in_cluster = pulumi.ResourceOptions(providers=[provider] if provider else None)

patches = node_patches(cfg, plan)
node_annotations = NodeAnnotations("node-annotations", patches, in_cluster) if patches else None
# Node annotations first: Cilium's agents read them when they start.
release = (
    CiliumRelease(
        "cilium",
        release_args(cfg),
        in_cluster.merge(pulumi.ResourceOptions(depends_on=[node_annotations] if node_annotations else None)),
    )
    if cfg.kubernetes.enabled
    else None
)


def _checked(cidrs: dict[str, list[str]]) -> dict[str, list[str]]:
    """PodCIDRs read from the cluster pass the same checks as static ones, or the update fails."""
    try:
        check_cluster_pod_cidrs(cfg, {n: [IPv4Network(c) for c in cs] for n, cs in cidrs.items()})
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    return cidrs


# Static PodCIDRs stay plain values, and so does all that is made from them (components.outputs).
pod_cidrs: dict[str, list[str]] | pulumi.Output[dict[str, list[str]]]
if cfg.pod_cidr_source == "static" or release is None:
    pod_cidrs = {n.name: [str(c) for c in n.pod_cidrs] for n in cfg.nodes}
else:
    pod_cidrs = pulumi.Output.all(**release.read_pod_cidrs([n.name for n in cfg.nodes])).apply(_checked)


def _expected_on(router: RouterPlan, lb_ips: dict[str, Any]) -> dict[str, Any] | pulumi.Output[dict[str, Any]]:
    """What ``router`` must show, from the PodCIDRs and LB IPs as they resolve."""
    known_lb = [ip for ip in lb_ips.values() if ip]
    return then(pod_cidrs, lambda cidrs: expected_state(plan, router, cidrs, known_lb))


def _resource_name(router: RouterPlan, suffix: str = "") -> str:
    """One-router stacks keep the names they always had (``router``, ``verify``): their running
    router is never replaced; with ``routers`` each router's resources carry its name."""
    if plan.form == "router":
        return suffix or "router"
    return f"{suffix}-{router.name}" if suffix else router.name


routers = [Router(_resource_name(r), router_args(cfg, plan, r, secrets, private_key)) for r in plan.routers]
nodes = [
    KubernetesNode(
        node.name, node_args(cfg, plan, node, settings, then(pod_cidrs, itemgetter(node.name)), secrets, private_key)
    )
    for node, settings in zip(plan.nodes, cfg.nodes, strict=True)
]
method = demo = None
if release is not None:
    bgp = method_args(cfg, plan, secrets)
    # Cilium's objects once the release is up and the cluster serves their kinds (components.cilium_kinds).
    served = pulumi.ResourceOptions(depends_on=[release.serving(bgp.cilium_kinds)])
    method = BgpMethod("bgp", bgp, in_cluster.merge(served))
    demo_service = demo_args(cfg)
    after_release = pulumi.ResourceOptions(depends_on=[release.release])
    demo = DemoService("demo", demo_service, in_cluster.merge(after_release)) if demo_service else None

lb_ips = pulumi.Output.from_input({cfg.demo.name: demo.load_balancer_ip} if demo and cfg.demo else {})
node_configs = {node.name: n.config_text for node, n in zip(cfg.nodes, nodes, strict=True) if n.config_text is not None}
# Every router's check waits for everything that routes: the other routers carry its mesh sessions.
triggers: list[pulumi.Input[str]] = [
    *(sha256(r.config_text) for r in routers),
    *(then(text, sha256) for text in node_configs.values()),
    sha256(json.dumps(render_manifests(cfg, plan), sort_keys=True)),
]
pushed = [
    *(r.daemon_config for r in routers),
    *(n.bird_config for n in nodes if n.bird_config),
    *(r for r in (method, demo) if r),
]
bgp_peers: dict[str, pulumi.Output[dict[str, Any]]] = {}
for router_plan, router in zip(plan.routers, routers, strict=True):
    expect = lb_ips.apply(partial(_expected_on, router_plan))
    if cfg.verify.enabled:
        verification = BgpVerification(
            _resource_name(router_plan, "verify"),
            verification_args(cfg, plan, router_plan, router.connection, expect, triggers),
            pulumi.ResourceOptions(depends_on=pushed),
        )
        bgp_peers[router_plan.name] = verification.peers
    else:
        bgp_peers[router_plan.name] = expect.apply(unverified_peers)

pulumi.export("bgpMethod", cfg.method)
pulumi.export("ciliumVersion", cfg.cilium.version)
pulumi.export("podCidrs", pod_cidrs)
pulumi.export("loadBalancerIps", lb_ips)
pulumi.export("bgpPeers", by_router(plan, bgp_peers))
pulumi.export(
    "routerConfig", by_router(plan, {r.name: c.config_text for r, c in zip(plan.routers, routers, strict=True)})
)
pulumi.export("nodeConfigs", node_configs)
