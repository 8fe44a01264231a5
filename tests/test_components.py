"""Components on their own, under mocks: they take narrow args (no stack config), and what the
caller orders them after and the provider it gives them reach every child."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s
from harness import RecordingMonitor, StackMocks
from pulumi_command import local, remote

from components.bgp_method import BgpMethod, BgpMethodArgs
from components.router import Router, RouterArgs

PEER_CONFIG = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumBGPPeerConfig",
    "metadata": {"name": "cilium-peer"},
    "spec": {"timers": {"holdTimeSeconds": 9}},
}


def registered(build: Callable[[], None]) -> RecordingMonitor:
    """Run ``build`` as a program under fresh mocks; what it registered."""
    monitor = RecordingMonitor(StackMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="cilium-bgp", stack="test", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program() -> None:
        build()

    program()
    return monitor


def urn_of(monitor: RecordingMonitor, name: str) -> str:
    (urn,) = [u for u in monitor.inputs if u.endswith(f"::{name}")]
    return urn


def test_a_routers_commands_follow_what_the_router_was_ordered_after() -> None:
    def build() -> None:
        first = local.Command("first", create="true")
        Router(
            "edge",
            RouterArgs(
                spec={"name": "edge"},
                daemon="frr",
                daemons=("bgpd",),
                sysctl_text="net.ipv4.ip_forward = 1\n",
                config_text="router bgp 64512\n",
                connection=remote.ConnectionArgs(host="192.0.2.1"),
                secrets={},
            ),
            pulumi.ResourceOptions(depends_on=[first]),
        )

    monitor = registered(build)
    first, router = urn_of(monitor, "first"), urn_of(monitor, "edge")
    sysctl, config = urn_of(monitor, "edge-sysctl"), urn_of(monitor, "edge-frr-config")
    assert monitor.options[sysctl]["parent"] == monitor.options[config]["parent"] == router
    assert first in monitor.dependencies[sysctl], "the sysctl command is not ordered after the router's order"
    assert {first, sysctl} <= set(monitor.dependencies[config]), "the config comes after the sysctls and the order"


def test_a_methods_objects_take_the_callers_provider_and_order() -> None:
    def build() -> None:
        provider = k8s.Provider("cluster", context="lab")
        release = local.Command("release", create="true")
        args = BgpMethodArgs(method="cilium-bgp-v2", cilium_version="1.18.4", manifests=[PEER_CONFIG], secrets={})
        assert args.cilium_kinds == [("cilium.io/v2", "CiliumBGPPeerConfig")]
        BgpMethod("bgp", args, pulumi.ResourceOptions(providers=[provider], depends_on=[release]))

    monitor = registered(build)
    peer = urn_of(monitor, "ciliumbgppeerconfig-cilium-peer")
    assert monitor.options[peer]["parent"] == urn_of(monitor, "bgp")
    assert str(monitor.options[peer]["provider"]).startswith(f"{urn_of(monitor, 'cluster')}::")
    assert urn_of(monitor, "release") in monitor.dependencies[peer]
