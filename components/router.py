"""The router: sysctls, the routing daemon's packages and its config, over SSH."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_command import remote

from cilium_bgp.renderers.scripts import Daemon
from components.hosts import config_file
from components.options import child_options


@dataclass(frozen=True)
class RouterArgs:
    """One router of the session plan, rendered: what the component registers and pushes."""

    spec: Mapping[str, Any]  # cilium_bgp.specs.router_spec: the component's props
    daemon: Daemon
    daemons: tuple[str, ...]  # FRR daemons to enable (cilium_bgp.renderers.frr.frr_daemons)
    sysctl_text: str
    config_text: str  # secret-free; ``<<secret:KEY>>`` placeholders filled from ``secrets``
    connection: remote.ConnectionArgs
    secrets: Mapping[str, pulumi.Output[str]]


class Router(pulumi.ComponentResource):
    """FRR (or BIRD) on the router, one neighbor per node; props are the resolved router spec."""

    connection: remote.ConnectionArgs
    sysctl: remote.Command
    daemon_config: remote.Command
    config_text: str

    def __init__(self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec = dict(args.spec)
        super().__init__("cilium-bgp:index:Router", name, spec, opts)
        self.connection = args.connection
        self.sysctl = config_file(
            f"{name}-sysctl",
            kind="sysctl",
            text=args.sysctl_text,
            connection=self.connection,
            secrets={},
            opts=child_options(self, opts),
        )
        self.config_text = args.config_text
        self.daemon_config = config_file(
            f"{name}-{args.daemon}-config",
            kind=args.daemon,
            text=self.config_text,
            connection=self.connection,
            secrets=args.secrets,
            opts=child_options(self, opts, depends_on=[self.sysctl]),
            daemons=args.daemons,
            install=args.daemon,
        )
        # Outputs repeat the props: stack policies read outputs, resource policies read inputs.
        self.register_outputs({**spec, "configText": self.config_text})
