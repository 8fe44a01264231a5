"""What each router should see once everything is up: peers, prefixes and their nexthops.

Feeds the router-side check after ``pulumi up``, the expected outputs of the render command and
the lab's checks, so all three agree on what "routed" means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from typing import Any

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import RouterPlan, SessionPlan


def static_pod_cidrs(cfg: StackConfig) -> dict[str, list[IPv4Network]]:
    return {node.name: list(node.pod_cidrs) for node in cfg.nodes}


def expected_state(
    plan: SessionPlan, router: RouterPlan, pod_cidrs: Mapping[str, Sequence[IPv4Network]], lb_ips: Sequence[str]
) -> dict[str, Any]:
    """``{"peers": {addr: {"node", "asn", "prefixesReceived"}}, "routes": {prefix: [nexthops] | None}}``.

    A route's nexthops are ``None`` when more nodes announce it than the router installs
    (``maximum-paths``): it must be present, but which nodes carry it is the router's choice.
    """
    announced_lb = lb_ips if plan.shared_asn else []
    peers: dict[str, Any] = {}
    routes: dict[str, list[str] | None] = {}
    for session in router.sessions:
        cidrs = [str(c) for c in pod_cidrs.get(session.node, [])]
        peers[str(session.node_address)] = {
            "node": session.node,
            "asn": session.node_asn,
            "prefixesReceived": len(cidrs) + len(announced_lb),
        }
        for cidr in cidrs:
            routes[cidr] = [str(session.node_address)]
    all_nodes = sorted(str(s.node_address) for s in router.sessions)
    for ip in announced_lb:
        routes[f"{ip}/32"] = all_nodes if len(all_nodes) <= router.maximum_paths else None
    return {"peers": peers, "routes": routes}


def requested_lb_ips(cfg: StackConfig) -> dict[str, str | None]:
    """Service -> the LB IP it asks for (``None``: whatever LB IPAM hands out)."""
    demo = cfg.demo
    if demo is None:
        return {}
    return {demo.name: str(demo.load_balancer_ip) if demo.load_balancer_ip else None}
