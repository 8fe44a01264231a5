"""A Kubernetes node: its resolved spec, and for the `bird` method BIRD 2 announcing its PodCIDRs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_command import remote

from components.hosts import config_file
from components.options import child_options


@dataclass(frozen=True)
class NodeBird:
    """BIRD 2 on the node's host (the `bird` method): its rendered config, once the PodCIDRs resolve."""

    config_text: str | pulumi.Output[str]  # secret-free; ``<<secret:KEY>>`` placeholders filled from ``secrets``
    connection: remote.ConnectionArgs
    secrets: Mapping[str, pulumi.Output[str]]


@dataclass(frozen=True)
class KubernetesNodeArgs:
    spec: Mapping[str, Any]  # cilium_bgp.specs.node_spec without PodCIDRs: the component's props
    pod_cidrs: list[str] | pulumi.Output[list[str]]  # plain when static (components.outputs)
    bird: NodeBird | None  # None: the method's in-cluster speaker announces, the host is not touched


class KubernetesNode(pulumi.ComponentResource):
    """Props: the node's spec (ASN, peer, speaker, PodCIDRs). Hosts are touched only for `bird`."""

    pod_cidrs: list[str] | pulumi.Output[list[str]]  # plain when static (components.outputs)
    config_text: str | pulumi.Output[str] | None
    bird_config: remote.Command | None

    def __init__(self, name: str, args: KubernetesNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.pod_cidrs = args.pod_cidrs
        props = {**args.spec, "podCIDRs": self.pod_cidrs}
        super().__init__("cilium-bgp:index:KubernetesNode", name, props, opts)
        self.config_text = None
        self.bird_config = None
        if args.bird is not None:
            self.config_text = args.bird.config_text
            self.bird_config = config_file(
                f"{name}-bird-config",
                kind="bird",
                text=self.config_text,
                connection=args.bird.connection,
                secrets=args.bird.secrets,
                opts=child_options(self, opts),
                install="bird",
            )
        # Outputs repeat the props: stack policies read outputs, resource policies read inputs.
        self.register_outputs({**props, "configText": self.config_text})
