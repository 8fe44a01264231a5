"""The router: sysctls, the routing daemon's packages and its config, over SSH."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_command import remote

from cilium_bgp.artifacts import router_config
from cilium_bgp.config import StackConfig
from cilium_bgp.plan import RouterPlan, SessionPlan
from cilium_bgp.renderers.frr import frr_daemons
from cilium_bgp.renderers.sysctl import render_router_sysctl
from cilium_bgp.specs import router_spec
from components.hosts import config_file, ssh_connection


class Router(pulumi.ComponentResource):
    """FRR (or BIRD) on the router, one neighbor per node; props are the resolved router spec."""

    connection: remote.ConnectionArgs
    sysctl: remote.Command
    daemon_config: remote.Command
    config_text: str

    def __init__(
        self,
        name: str,
        *,
        cfg: StackConfig,
        plan: SessionPlan,
        router: RouterPlan,
        secrets: Mapping[str, pulumi.Output[str]],
        private_key: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        spec = router_spec(cfg, plan, router)
        super().__init__("cilium-bgp:index:Router", name, spec, opts)
        self.connection = ssh_connection(cfg, router.ssh, str(router.router_id), private_key)
        self.sysctl = config_file(
            f"{name}-sysctl",
            kind="sysctl",
            text=render_router_sysctl(),
            connection=self.connection,
            secrets={},
            parent=self,
        )
        _, self.config_text = router_config(plan, router)
        self.daemon_config = config_file(
            f"{name}-{router.daemon}-config",
            kind=router.daemon,
            text=self.config_text,
            connection=self.connection,
            secrets=secrets if plan.password else {},
            parent=self,
            depends_on=[self.sysctl],
            daemons=frr_daemons(plan),
            install=router.daemon,
        )
        # Outputs repeat the props: stack policies read outputs, resource policies read inputs.
        self.register_outputs({**spec, "configText": self.config_text})
