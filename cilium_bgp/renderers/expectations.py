"""What each router should see once everything is up: peers, prefixes and their nexthops.

Feeds the router-side check after ``pulumi up``, the expected outputs of the render command and
the lab's checks, so all three agree on what "routed" means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import RouterPlan, SessionPlan


def static_pod_cidrs(cfg: StackConfig) -> dict[str, list[IPv4Network]]:
    return {node.name: list(node.pod_cidrs) for node in cfg.nodes}


def _via_mesh(
    plan: SessionPlan, router: RouterPlan, announcers: set[str], down: frozenset[str] = frozenset()
) -> list[str] | None:
    """Nexthops of a prefix ``router`` learns only from other routers (those with a session to a
    node in ``announcers``), or None when the router picks among several.

    Over iBGP the announcing router sets itself as next hop (next-hop-self) on the subnet of its
    session: towards this router in a full mesh, towards the reflectors (the shared subnet every
    router has an address on) with reflectors, whose reflected routes keep it. Over eBGP the next
    hop may stay the node's (third-party next hop on a shared subnet): not predicted.
    """
    hops: set[IPv4Address] = set()
    for origin in plan.routers:
        if origin is router or origin.name in down or not any(s.node in announcers for s in origin.sessions):
            continue
        direct = next((m for m in origin.mesh if m.peer == router.name), None)
        via = direct or next((m for m in origin.mesh if m.peer not in down), None)
        if via is None or not via.internal:
            return None
        hops.add(via.local_address)
    return [str(h) for h in sorted(hops)] if len(hops) == 1 else None


def expected_state(
    plan: SessionPlan,
    router: RouterPlan,
    pod_cidrs: Mapping[str, Sequence[IPv4Network | str]],
    lb_ips: Sequence[str],
    *,
    down: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``{"peers": {addr: {"node" | "router" | "upstream", "asn", "prefixesReceived"}},
    "routes": {prefix: [nexthops] | None}}``.

    A route's nexthops are ``None`` when more nodes announce it than the router installs
    (``maximum-paths``), or when it comes from other routers along several paths: it must be
    present, but which nexthops carry it is the router's choice. What another router sends is
    not predicted (``prefixesReceived`` None).

    ``down``: nodes and routers that are down (the lab's fault cases): no session with them, and
    nothing they alone announce.
    """
    announced_lb = lb_ips if plan.shared_asn else []
    peers: dict[str, Any] = {}
    routes: dict[str, list[str] | None] = {}
    sessions = [s for s in router.sessions if s.node not in down]
    direct = {s.node for s in sessions}
    for session in sessions:
        cidrs = [str(c) for c in pod_cidrs.get(session.node, [])]
        peers[str(session.node_address)] = {
            "node": session.node,
            "asn": session.node_asn,
            "prefixesReceived": len(cidrs) + len(announced_lb),
        }
        for cidr in cidrs:
            routes[cidr] = [str(session.node_address)]
    for mesh in (m for m in router.mesh if m.peer not in down):
        peers[str(mesh.peer_address)] = {"router": mesh.peer, "asn": mesh.peer_asn, "prefixesReceived": None}
    for upstream in router.upstreams:
        # The router accepts nothing from a peer beyond the cluster.
        peers[str(upstream.address)] = {"upstream": upstream.name, "asn": upstream.asn, "prefixesReceived": 0}
    for node in plan.nodes:
        if node.name not in direct and node.name not in down:
            for pod_cidr in pod_cidrs.get(node.name, []):
                if any(s.router not in down for s in node.sessions):
                    routes[str(pod_cidr)] = _via_mesh(plan, router, {node.name}, down)
    all_nodes = sorted(str(s.node_address) for s in sessions)
    speaking = {n.name for n in plan.nodes if n.name not in down}
    for ip in announced_lb:
        if all_nodes:
            routes[f"{ip}/32"] = all_nodes if len(all_nodes) <= router.maximum_paths else None
        elif speaking:
            routes[f"{ip}/32"] = _via_mesh(plan, router, speaking, down)
    return {"peers": peers, "routes": routes}


def requested_lb_ips(cfg: StackConfig) -> dict[str, str | None]:
    """Service -> the LB IP it asks for (``None``: whatever LB IPAM hands out)."""
    demo = cfg.demo
    if demo is None:
        return {}
    return {demo.name: str(demo.load_balancer_ip) if demo.load_balancer_ip else None}
