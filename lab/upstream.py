"""The stack's upstream peer, played by the lab's client: BIRD learning the cluster's prefixes from
every router that announces them, installed with ECMP over them.

Not the program's: the program configures the routers' side (``routers[].upstreams``); this is
what a core router or firewall behind the routers would run, so that the client reaches the
cluster through whichever routers are up, and stops using a router when its session goes (also
when only its BGP daemon stopped, which a static route would not notice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import SessionPlan
from lab.topology import ClientHost, Topology

# Come back as fast as the routers do after a session error (BIRD waits 60-300 s by default).
ERROR_WAIT = (5, 30)
CONNECT_RETRY = 5


@dataclass(frozen=True)
class UpstreamPeering:
    """One router's session with the upstream, from the upstream's side."""

    router: str  # the router's host
    address: IPv4Address  # the router's end
    asn: int


def peerings(plan: SessionPlan, topology: Topology) -> list[UpstreamPeering]:
    client = topology.client
    hosts = {r.name: r.host for r in topology.routers}
    return [
        UpstreamPeering(hosts[r.name], u.local_address, r.asn)
        for r in plan.routers
        for u in r.upstreams
        if u.name == client.upstream
    ]


def client_bird_conf(cfg: StackConfig, plan: SessionPlan, topology: Topology) -> str:
    """The client's BIRD config as the stack's upstream peer (``topology.client.upstream``), at the
    ASN the routers' ``upstreams`` entry gives it."""
    name = topology.client.upstream
    asn = next(u.asn for _, r in cfg.all_routers for u in r.upstreams if u.name == name)
    return upstream_bird_conf(plan, topology.client, peerings(plan, topology), asn)


def upstream_bird_conf(plan: SessionPlan, client: ClientHost, peers: list[UpstreamPeering], asn: int) -> str:
    timers = plan.timers
    lines = [
        f"# The lab's upstream peer ({client.upstream}): learns the cluster's prefixes from the routers",
        f"router id {client.address.ip};",
        "protocol device { scan time 10; }",
        "protocol direct { disabled; }",
        "protocol kernel { ipv4 { import none; export all; }; merge paths yes; }",
    ]
    for index, peer in enumerate(peers):
        lines += [
            f"protocol bgp router{index} {{",
            f'  description "{peer.router}";',
            f"  local {client.address.ip} as {asn};",
            f"  neighbor {peer.address} as {peer.asn};",
            *([f"  hold time {timers.hold};"] if timers.hold is not None else []),
            *([f"  keepalive time {timers.keepalive};"] if timers.keepalive is not None else []),
            f"  connect retry time {CONNECT_RETRY};",
            f"  error wait time {ERROR_WAIT[0]}, {ERROR_WAIT[1]};",
            "  ipv4 { import all; export none; };",
            "}",
        ]
    return "\n".join(lines) + "\n"


def upstream_expected(
    client: ClientHost, peers: list[UpstreamPeering], router_expected: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What the upstream should have: a session with each router that announces to it, and every
    prefix those routers route, via each of them — the router itself, or its own next hop when that
    sits on the upstream's subnet (an eBGP third-party next hop) — or None when not predicted."""
    subnet: IPv4Network = client.address.network
    # What the routers send it is theirs to decide: not predicted.
    sessions = {str(p.address): {"router": p.router, "asn": p.asn, "prefixesReceived": None} for p in peers}
    routes: dict[str, list[str] | None] = {}
    for peer in peers:
        for prefix, hops in router_expected[peer.router]["routes"].items():
            if prefix in routes and routes[prefix] is None:
                continue
            if hops is None:
                routes[prefix] = None
                continue
            kept = [h for h in hops if IPv4Address(h) in subnet]
            via = kept if kept else [str(peer.address)]
            routes[prefix] = sorted({*(routes.get(prefix) or []), *via})
    return {"peers": sessions, "routes": routes}
