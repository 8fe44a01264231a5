"""BIRD 2: each node's ``bird.conf`` (seed variant A) and the router's, when it runs BIRD."""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Network

from cilium_bgp.plan import MULTIHOP_TTL, NodePlan, PrefixRange, RouterPlan, SessionPlan
from cilium_bgp.secrets import secret_ref

# The router's connected subnets, where multihop sessions resolve the nodes' next hops.
NEXTHOP_TABLE = "cilium_nexthops"
# With tuned timers, the first connect after a (re)start: BIRD's default is 5 s.
CONNECT_DELAY_SECONDS = 1


def bird_symbol(name: str) -> str:
    """A BIRD protocol name for a node (symbols take letters, digits and underscores)."""
    return "peer_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _session_options(plan: SessionPlan) -> list[str]:
    timers = plan.timers
    lines = []
    if plan.password:
        lines.append(f'password "{secret_ref("bgpPassword")}";')
    if timers.hold is not None:
        lines.append(f"hold time {timers.hold};")
    if timers.keepalive is not None:
        lines.append(f"keepalive time {timers.keepalive};")
    if timers.connect_retry is not None:
        lines.append(f"connect retry time {timers.connect_retry};")
    if timers.hold is not None or timers.connect_retry is not None:
        # BIRD waits 60-300 s after a session error (e.g. a hold-timer expiry) before it tries
        # again; a stack that tunes its timers wants the session back as fast as it went down.
        retry = timers.connect_retry or 5
        lines.append(f"error wait time {retry}, {max(30, retry)};")
    if plan.bfd is not None:
        lines.append("bfd on;")
    return lines


def _bfd_protocol(plan: SessionPlan, multihop_sessions: bool) -> list[str]:
    """``protocol bfd``; multihop sessions take their timers from its ``multihop`` block."""
    bfd = plan.bfd
    if bfd is None:
        return []
    timers = f"min rx interval {bfd.receive_ms} ms; min tx interval {bfd.transmit_ms} ms; multiplier {bfd.multiplier};"
    multihop_block = f" multihop {{ {timers} }};" if multihop_sessions else ""
    return [f'protocol bfd {{ interface "*" {{ {timers} }};{multihop_block} }}']


def render_node_bird_conf(plan: SessionPlan, node: NodePlan, pod_cidrs: Sequence[IPv4Network]) -> str:
    """Announce exactly the node's PodCIDRs, via ``cilium_host``; import nothing.

    The export filter accepts everything because nothing else reaches BIRD's table: ``direct`` is
    disabled and the kernel protocol imports none, so only the static PodCIDR routes are exported.
    """
    routes = " ".join(f'route {cidr} via "cilium_host";' for cidr in pod_cidrs)
    lines = [
        f"router id {node.router_id};",
        "protocol device { scan time 10; }",
        "protocol direct { disabled; }",
        "protocol kernel { ipv4 { import none; export none; }; }",
        f"protocol static {{ ipv4; {routes} }}",
        *_bfd_protocol(plan, any(s.multihop for s in node.sessions)),
    ]
    for index, session in enumerate(node.sessions):
        lines += [
            f"protocol bgp uplink{index} {{",
            f'  description "BGP uplink {index}";',
            f"  local {session.node_address} as {session.node_asn};",
            f"  neighbor {session.router_address} as {session.router_asn};",
        ]
        if session.multihop:
            # The router's peering address is not on the node's subnet: one routed hop away.
            lines.append(f"  multihop {MULTIHOP_TTL};")
        lines += [f"  {line}" for line in _session_options(plan)]
        lines += [
            "  ipv4 { import filter { reject; }; export filter { accept; }; };",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _bird_set(prefixes: Sequence[PrefixRange]) -> str:
    """A BIRD prefix set: ``net{low,high}`` per range."""
    terms = []
    for prefix in prefixes:
        low = prefix.ge if prefix.ge is not None else prefix.network.prefixlen
        high = prefix.le if prefix.le is not None else prefix.network.prefixlen
        terms.append(f"{prefix.network}{{{low},{high}}}")
    return ", ".join(terms)


def render_router_bird_conf(plan: SessionPlan, router: RouterPlan) -> str:
    """The router as BIRD: one eBGP session per node, BGP routes exported to the kernel, nothing to nodes."""
    lines = [
        f"# {router.hostname}: BGP router for the cluster's PodCIDRs and LoadBalancer IPs",
        f"router id {router.router_id};",
        "protocol device { scan time 10; }",
        "protocol direct { disabled; }",
        "protocol kernel {",
        "  ipv4 { import none; export where source = RTS_BGP; };",
    ]
    if plan.shared_asn:
        # Nodes share an ASN and announce the same LB IPs: install them as one multipath route.
        lines.append(f"  merge paths yes limit {router.maximum_paths};")
    lines.append("}")
    import_rule = "all"
    if router.prefix_filter and not router.per_node_filter:
        lines.append(
            f"filter cilium_bgp_in {{ if net ~ [ {_bird_set(plan.accepted_prefixes)} ] then accept; reject; }}"
        )
        import_rule = "filter cilium_bgp_in"
    gateway = ""
    if router.any_multihop:
        # Multihop sessions resolve next hops recursively (BIRD refuses `gateway direct` there) and
        # the main table holds BGP routes only: resolve them in a table of the connected subnets.
        lines += [f"ipv4 table {NEXTHOP_TABLE};", f"protocol direct connected {{ ipv4 {{ table {NEXTHOP_TABLE}; }}; }}"]
        gateway = f" igp table {NEXTHOP_TABLE};"
    lines += _bfd_protocol(plan, router.any_multihop)
    channel = f"ipv4 {{ import {import_rule}; export none;{gateway} }};"
    # With per-node filters each session's channel differs, so it stays out of the template.
    shared = [*_session_options(plan), *([] if router.per_node_filter else [channel])]
    if router.neighbors == "peer-group":
        # A template states the shared session settings once; each node adds its own lines.
        lines += ["template bgp cilium_nodes {", *(f"  {line}" for line in shared), "}"]
    for session in router.sessions:
        head = f"protocol bgp {bird_symbol(session.node)}"
        own = [
            f'description "{session.node}";',
            f"local {session.router_address} as {session.router_asn};",
            f"neighbor {session.node_address} as {session.node_asn};",
        ]
        if session.multihop:
            # The node peers multihop (and runs multihop BFD): this end must match.
            own.append(f"multihop {MULTIHOP_TTL};")
        if router.per_node_filter:
            allowed = (*(session.own_prefixes or ()), *plan.lb_prefixes)
            own.append(f"ipv4 {{ import where net ~ [ {_bird_set(allowed)} ]; export none;{gateway} }};")
        if router.neighbors == "peer-group":
            lines += [f"{head} from cilium_nodes {{", *(f"  {line}" for line in own), "}"]
        else:
            lines += [f"{head} {{", *(f"  {line}" for line in [*own, *shared]), "}"]
    return "\n".join(lines) + "\n"
