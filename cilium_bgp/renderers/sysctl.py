"""Persistent sysctls for the router (the seed's list: IPv4 forwarding, IPv6 off)."""

from __future__ import annotations

ROUTER_SYSCTLS = (
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
    ("net.ipv6.conf.lo.disable_ipv6", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
)


def render_router_sysctl() -> str:
    lines = ["# cilium-bgp: the router forwards PodCIDR and LoadBalancer traffic"]
    lines += [f"{key}={value}" for key, value in ROUTER_SYSCTLS]
    return "\n".join(lines) + "\n"
