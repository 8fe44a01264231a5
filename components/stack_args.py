"""The stack config and its session plan, cut into each component's arguments.

Components take what they register and nothing more (a frozen dataclass of rendered text, specs
and connections); this is where the validated model and the plan meet them, through the pure
renderers: nothing is computed here that the render command does not compute the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from ipaddress import IPv4Network
from typing import Any

import pulumi
from pulumi_command import remote

from cilium_bgp.artifacts import node_config, router_config
from cilium_bgp.config import NodeSettings, StackConfig
from cilium_bgp.plan import NodePlan, RouterPlan, SessionPlan
from cilium_bgp.renderers.frr import frr_daemons
from cilium_bgp.renderers.helm_values import render_helm_values
from cilium_bgp.renderers.manifests import demo_manifests, method_manifests
from cilium_bgp.renderers.sysctl import render_router_sysctl
from cilium_bgp.specs import node_spec, router_spec
from components.bgp_method import BgpMethodArgs, DemoServiceArgs
from components.cilium_release import CiliumReleaseArgs
from components.hosts import ssh_connection
from components.kubernetes_node import KubernetesNodeArgs, NodeBird
from components.outputs import then
from components.router import RouterArgs
from components.verification import BgpVerificationArgs

Secrets = Mapping[str, pulumi.Output[str]]


def router_args(
    cfg: StackConfig, plan: SessionPlan, router: RouterPlan, secrets: Secrets, private_key: pulumi.Output[str] | None
) -> RouterArgs:
    _, text = router_config(plan, router)
    return RouterArgs(
        spec=router_spec(cfg, plan, router),
        daemon=router.daemon,
        daemons=frr_daemons(plan),
        sysctl_text=render_router_sysctl(),
        config_text=text,
        connection=ssh_connection(cfg.ssh, router.ssh, str(router.router_id), private_key),
        secrets=secrets if plan.password else {},
    )


def node_args(
    cfg: StackConfig,
    plan: SessionPlan,
    node: NodePlan,
    settings: NodeSettings,
    pod_cidrs: Sequence[str] | pulumi.Output[Sequence[str]],
    secrets: Secrets,
    private_key: pulumi.Output[str] | None,
) -> KubernetesNodeArgs:
    """``pod_cidrs``: the node's, static (plain values, and so is all made from them:
    components.outputs) or as the cluster allocated them."""
    cidrs = then(pod_cidrs, lambda cs: [IPv4Network(c) for c in cs])
    bird = None
    if cfg.method == "bird":
        bird = NodeBird(
            config_text=then(cidrs, partial(node_config, plan, node)),
            connection=ssh_connection(cfg.ssh, settings.ssh, str(node.address.ip), private_key),
            secrets=secrets if plan.password else {},
        )
    return KubernetesNodeArgs(
        spec=node_spec(cfg, plan, node, None),
        pod_cidrs=then(cidrs, lambda cs: [str(c) for c in cs]),
        bird=bird,
    )


def release_args(cfg: StackConfig) -> CiliumReleaseArgs:
    return CiliumReleaseArgs(
        cilium=cfg.cilium, method=cfg.method, values=render_helm_values(cfg), kubernetes=cfg.kubernetes
    )


def method_args(cfg: StackConfig, plan: SessionPlan, secrets: Secrets) -> BgpMethodArgs:
    return BgpMethodArgs(
        method=cfg.method,
        cilium_version=cfg.cilium.version,
        manifests=method_manifests(cfg, plan),
        secrets=secrets,
    )


def demo_args(cfg: StackConfig) -> DemoServiceArgs | None:
    demo = cfg.demo
    if demo is None:
        return None
    return DemoServiceArgs(
        name=demo.name,
        namespace=demo.namespace,
        load_balancer_ip=str(demo.load_balancer_ip) if demo.load_balancer_ip else None,
        manifests=demo_manifests(cfg),
    )


def verification_args(
    cfg: StackConfig,
    plan: SessionPlan,
    router: RouterPlan,
    connection: remote.ConnectionArgs,
    expect: pulumi.Output[dict[str, Any]],
    triggers: Sequence[pulumi.Input[str]],
) -> BgpVerificationArgs:
    return BgpVerificationArgs(
        daemon=router.daemon,
        router=router.name if plan.form == "routers" else None,
        timeout_seconds=cfg.verify.timeout_seconds,
        connection=connection,
        expect=expect,
        triggers=triggers,
    )
