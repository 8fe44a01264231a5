"""FRR on the router: ``frr.conf`` with one neighbor per node (or a peer-group, or a listen range).

Method-aware: BIRD nodes each have their own ASN; kube-router and Cilium's speakers share one ASN,
so the router adds the seed's bestpath lines and ``maximum-paths`` for ECMP over LB IPs.
Scale (``router.neighbors``): ``static`` is the seed's form; ``peer-group`` states the shared
session settings once; ``listen-range`` lets FRR accept any node of the node subnets, so adding a
node does not rewrite the router's config at all.
"""

from __future__ import annotations

from cilium_bgp.plan import MULTIHOP_TTL, NodeSession, PrefixRange, RouterPlan, SessionPlan
from cilium_bgp.secrets import secret_ref

PREFIX_FILTER_NAME = "CILIUM-BGP-IN"
PEER_GROUP = "CILIUM-NODES"
BFD_PROFILE = "cilium-bgp"
# BIRD 2 sends multihop BFD with the kernel's default TTL (net.ipv4.ip_default_ttl, 64), not 255,
# while bfdd drops multihop packets below the profile's minimum-ttl (default 254): accept what left
# a node at 64 and crossed the session's routed hops.
LINUX_DEFAULT_TTL = 64
BIRD_MULTIHOP_BFD_MIN_TTL = LINUX_DEFAULT_TTL - (MULTIHOP_TTL - 1)


def frr_daemons(plan: SessionPlan) -> tuple[str, ...]:
    """FRR daemons the config needs on (``/etc/frr/daemons``); zebra and staticd always run."""
    return ("bgpd", "bfdd") if plan.bfd is not None else ("bgpd",)


def node_filter_name(session: NodeSession) -> str:
    """The node's own prefix-list / route-map name (``router.prefixFilter: per-node``)."""
    return f"{PREFIX_FILTER_NAME}-{session.node}"


def _session_lines(plan: SessionPlan, router: RouterPlan, target: str, session: NodeSession | None = None) -> list[str]:
    """Settings every node session shares, for one node's address or for the peer-group."""
    timers = plan.timers
    lines = []
    source = session.update_source if session is not None else router.peering_address
    if source is not None:
        lines.append(f" neighbor {target} update-source {source}")
    if session is not None:
        lines += _multihop_lines(session)
    if plan.password:
        lines.append(f" neighbor {target} password {secret_ref('bgpPassword')}")
    if timers.connect_retry is not None:
        # FRR 8.4 has no "bgp connect-retry"; the per-neighbor form is "timers connect".
        lines.append(f" neighbor {target} timers connect {timers.connect_retry}")
    if plan.bfd is not None:
        lines.append(f" neighbor {target} bfd profile {BFD_PROFILE}")
    return lines


def _multihop_lines(session: NodeSession) -> list[str]:
    """The node peers multihop (BIRD, off its subnet), so its BFD is multihop: FRR's BFD is multihop
    only for an eBGP peer with ebgp-multihop."""
    return [f" neighbor {session.node_address} ebgp-multihop {MULTIHOP_TTL}"] if session.multihop else []


def _neighbor_lines(plan: SessionPlan, router: RouterPlan) -> tuple[list[str], list[str]]:
    """(lines under ``router bgp``, the targets the address family applies to)."""
    style = router.neighbors
    if style == "static":
        lines = []
        for session in router.sessions:
            lines.append(f" neighbor {session.node_address} remote-as {session.node_asn}")
            lines += _session_lines(plan, router, str(session.node_address), session)
        return lines, [str(s.node_address) for s in router.sessions]
    lines = [f" neighbor {PEER_GROUP} peer-group"]
    if plan.shared_asn:
        lines.append(f" neighbor {PEER_GROUP} remote-as {router.sessions[0].node_asn}")
    lines += _session_lines(plan, router, PEER_GROUP)
    if style == "listen-range":
        lines.append(f" bgp listen limit {router.listen_limit}")
        lines += [f" bgp listen range {subnet} peer-group {PEER_GROUP}" for subnet in router.listen_ranges]
        return lines, [PEER_GROUP]
    for session in router.sessions:
        if not plan.shared_asn:
            # Each BIRD node keeps its own ASN: the group carries no remote-as, the member does.
            lines.append(f" neighbor {session.node_address} remote-as {session.node_asn}")
        lines.append(f" neighbor {session.node_address} peer-group {PEER_GROUP}")
        lines += _multihop_lines(session)
    return lines, [PEER_GROUP]


def _prefix_list(name: str, prefixes: tuple[PrefixRange, ...]) -> list[str]:
    lines = []
    for seq, prefix in enumerate(prefixes, start=1):
        bounds = (f" ge {prefix.ge}" if prefix.ge else "") + (f" le {prefix.le}" if prefix.le else "")
        lines.append(f"ip prefix-list {name} seq {seq * 5} permit {prefix.network}{bounds}")
    return [*lines, "!"]


def _route_map(name: str, prefix_lists: list[str]) -> list[str]:
    lines = []
    for seq, prefix_list in enumerate(prefix_lists, start=1):
        lines += [f"route-map {name} permit {seq * 10}", f" match ip address prefix-list {prefix_list}", "exit"]
    return [*lines, "!"]


def _per_node_filters(plan: SessionPlan, router: RouterPlan) -> list[str]:
    """Each node may announce only its own PodCIDRs, plus (shared-ASN methods) LB IPs of the pool:
    one exact prefix-list per node and one shared LB list."""
    lb_list = f"{PREFIX_FILTER_NAME}-LB"
    lines = _prefix_list(lb_list, plan.lb_prefixes) if plan.lb_prefixes else []
    for session in router.sessions:
        name = node_filter_name(session)
        lines += _prefix_list(name, session.own_prefixes or ())
        lines += _route_map(name, [name, lb_list] if plan.lb_prefixes else [name])
    return lines


def render_frr_conf(plan: SessionPlan, router: RouterPlan) -> str:
    lines: list[str] = []
    if router.frr_version:
        lines.append(f"frr version {router.frr_version}")
    lines += ["frr defaults traditional", f"hostname {router.hostname}", "log syslog informational", "!"]
    lines.append(f"router bgp {router.asn}")
    if plan.shared_asn:
        # Nodes share one ASN; these are the seed's lines for multipath over their identical paths.
        lines += [" bgp bestpath as-path multipath-relax", " bgp bestpath bandwidth skip-missing"]
    lines.append(f" bgp router-id {router.router_id}")
    if not router.prefix_filter:
        # The seed's choice: accept every route the nodes send (see router.prefixFilter).
        lines.append(" no bgp ebgp-requires-policy")
    timers = plan.timers
    if timers.keepalive is not None and timers.hold is not None:
        lines.append(f" timers bgp {timers.keepalive} {timers.hold}")
    if plan.fast_failover:
        # FRR holds the first UPDATE to a new peer group for up to ~1 s + 50 ms per peer; routes
        # would lag the sessions by seconds at 50 nodes (measured in the lab).
        lines.append(" coalesce-time 100")
    neighbor_lines, targets = _neighbor_lines(plan, router)
    lines += neighbor_lines
    af_lines: list[str] = []
    if plan.shared_asn:
        af_lines.append(f"  maximum-paths {router.maximum_paths}")
    if router.per_node_filter:
        af_lines += [f"  neighbor {s.node_address} route-map {node_filter_name(s)} in" for s in router.sessions]
    elif router.prefix_filter:
        af_lines += [f"  neighbor {target} route-map {PREFIX_FILTER_NAME} in" for target in targets]
    if af_lines:
        lines += [" !", " address-family ipv4 unicast", *af_lines, " exit-address-family"]
    lines += ["exit", "!"]
    if router.per_node_filter:
        lines += _per_node_filters(plan, router)
    elif router.prefix_filter:
        lines += _prefix_list(PREFIX_FILTER_NAME, plan.accepted_prefixes)
        lines += _route_map(PREFIX_FILTER_NAME, [PREFIX_FILTER_NAME])
    if plan.bfd is not None:
        bfd = plan.bfd
        lines += [
            "bfd",
            f" profile {BFD_PROFILE}",
            f"  detect-multiplier {bfd.multiplier}",
            f"  receive-interval {bfd.receive_ms}",
            f"  transmit-interval {bfd.transmit_ms}",
            *([f"  minimum-ttl {BIRD_MULTIHOP_BFD_MIN_TTL}"] if router.any_multihop else []),
            " exit",
            " !",
            "exit",
            "!",
        ]
    return "\n".join(lines) + "\n"
