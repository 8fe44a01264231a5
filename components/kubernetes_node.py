"""A Kubernetes node: its resolved spec, and for the `bird` method BIRD 2 announcing its PodCIDRs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network

import pulumi
from pulumi_command import remote

from cilium_bgp.artifacts import node_config
from cilium_bgp.config import NodeSettings, StackConfig
from cilium_bgp.plan import NodePlan, SessionPlan
from cilium_bgp.specs import node_spec
from components.hosts import config_file, ssh_connection


class KubernetesNode(pulumi.ComponentResource):
    """Props: the node's spec (ASN, peer, speaker, PodCIDRs). Hosts are touched only for `bird`."""

    pod_cidrs: pulumi.Output[list[str]]
    config_text: pulumi.Output[str] | None
    bird_config: remote.Command | None

    def __init__(
        self,
        name: str,
        *,
        cfg: StackConfig,
        plan: SessionPlan,
        node: NodePlan,
        settings: NodeSettings,
        pod_cidrs: pulumi.Input[Sequence[str]],
        secrets: Mapping[str, pulumi.Output[str]],
        private_key: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        cidrs = pulumi.Output.from_input(pod_cidrs).apply(lambda cs: [IPv4Network(c) for c in cs])
        self.pod_cidrs = cidrs.apply(lambda cs: [str(c) for c in cs])
        props = {**node_spec(cfg, plan, node, None), "podCIDRs": self.pod_cidrs}
        super().__init__("cilium-bgp:index:KubernetesNode", name, props, opts)
        self.config_text = None
        self.bird_config = None
        if cfg.method == "bird":
            connection = ssh_connection(cfg, settings.ssh, str(node.address.ip), private_key)
            self.config_text = cidrs.apply(lambda cs: node_config(plan, node, cs))
            self.bird_config = config_file(
                f"{name}-bird-config",
                kind="bird",
                text=self.config_text,
                connection=connection,
                secrets=secrets if plan.password else {},
                parent=self,
                install="bird",
            )
        # Outputs repeat the props: stack policies read outputs, resource policies read inputs.
        self.register_outputs({**props, "configText": self.config_text})
