"""BIRD 2: each node's ``bird.conf`` (seed variant A) and the router's, when it runs BIRD."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network

from cilium_bgp.config import NodeSettings, StackConfig
from cilium_bgp.renderers.common import (
    MULTIHOP_TTL,
    PrefixRange,
    accepted_prefixes,
    bird_symbol,
    effective_timers,
    lb_prefixes,
    multihop,
)
from cilium_bgp.secrets import secret_ref

# The router's connected subnets, where multihop sessions resolve the nodes' next hops.
NEXTHOP_TABLE = "cilium_nexthops"
# With tuned timers, the first connect after a (re)start: BIRD's default is 5 s.
CONNECT_DELAY_SECONDS = 1


def _session_options(cfg: StackConfig, *, node_side: bool = False) -> list[str]:
    """Session settings for one end; ``node_side``: the node's end, which imports nothing."""
    timers = effective_timers(cfg)
    lines = []
    if cfg.uses_password:
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
        # BIRD's first connect waits `connect delay time` (5 s by default) after each start: two
        # BIRD ends would both wait that long before the first session comes up.
        lines.append(f"connect delay time {CONNECT_DELAY_SECONDS};")
    if cfg.uses_bfd:
        # FRR 8.4 re-registers a neighbor's BFD session once its first session is Established (the
        # session learns its source address and interface only then: bgp_peer_bfd_update_source),
        # so BIRD sees BFD go down right after the session came up. `bfd on` takes that as a
        # protocol error and refuses the router for `error wait time`; `graceful` only closes the
        # connection, and the router is back when BFD is (about 1 s). The node imports nothing,
        # so nothing is kept stale; the router's end still drops the node's routes at once.
        lines.append("bfd graceful;" if node_side else "bfd on;")
    return lines


def _bfd_protocol(cfg: StackConfig, multihop_sessions: bool) -> list[str]:
    """``protocol bfd``; multihop sessions take their timers from its ``multihop`` block."""
    bfd = cfg.bgp.bfd
    if not cfg.uses_bfd:
        return []
    timers = (
        f"min rx interval {bfd.receive_interval_ms} ms; "
        f"min tx interval {bfd.transmit_interval_ms} ms; multiplier {bfd.detect_multiplier};"
    )
    multihop_block = f" multihop {{ {timers} }};" if multihop_sessions else ""
    return [f'protocol bfd {{ interface "*" {{ {timers} }};{multihop_block} }}']


def render_node_bird_conf(cfg: StackConfig, node: NodeSettings, pod_cidrs: Sequence[IPv4Network]) -> str:
    """Announce exactly the node's PodCIDRs, via ``cilium_host``; import nothing.

    The export filter accepts everything because nothing else reaches BIRD's table: ``direct`` is
    disabled and the kernel protocol imports none, so only the static PodCIDR routes are exported.
    """
    peer = cfg.router_address_for(node)
    routes = " ".join(f'route {cidr} via "cilium_host";' for cidr in pod_cidrs)
    lines = [
        f"router id {node.effective_router_id};",
        "protocol device { scan time 10; }",
        "protocol direct { disabled; }",
        "protocol kernel { ipv4 { import none; export none; }; }",
        f"protocol static {{ ipv4; {routes} }}",
        *_bfd_protocol(cfg, multihop(cfg, node)),
        "protocol bgp uplink0 {",
        '  description "BGP uplink 0";',
        f"  local {node.ip} as {cfg.node_asn(node)};",
        f"  neighbor {peer} as {cfg.router.asn};",
    ]
    if multihop(cfg, node):
        # The router's peering address is not on the node's subnet: one routed hop away.
        lines.append(f"  multihop {MULTIHOP_TTL};")
    lines += [f"  {line}" for line in _session_options(cfg, node_side=True)]
    lines += [
        "  ipv4 { import filter { reject; }; export filter { accept; }; };",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _bird_set(prefixes: list[PrefixRange]) -> str:
    """A BIRD prefix set: ``net{low,high}`` per range."""
    terms = []
    for prefix in prefixes:
        low = prefix.ge if prefix.ge is not None else prefix.network.prefixlen
        high = prefix.le if prefix.le is not None else prefix.network.prefixlen
        terms.append(f"{prefix.network}{{{low},{high}}}")
    return ", ".join(terms)


def render_router_bird_conf(cfg: StackConfig) -> str:
    """The router as BIRD: one eBGP session per node, BGP routes exported to the kernel, nothing to nodes."""
    router = cfg.router
    lines = [
        f"# {router.hostname}: BGP router for the cluster's PodCIDRs and LoadBalancer IPs",
        f"router id {router.router_id};",
        "protocol device { scan time 10; }",
        "protocol direct { disabled; }",
        "protocol kernel {",
        "  ipv4 { import none; export where source = RTS_BGP; };",
    ]
    if cfg.shared_asn:
        # Nodes share an ASN and announce the same LB IPs: install them as one multipath route.
        lines.append(f"  merge paths yes limit {cfg.maximum_paths};")
    lines.append("}")
    import_rule = "all"
    if router.prefix_filter and not router.per_node_filter:
        lines.append(
            f"filter cilium_bgp_in {{ if net ~ [ {_bird_set(accepted_prefixes(cfg))} ] then accept; reject; }}"
        )
        import_rule = "filter cilium_bgp_in"
    any_multihop = any(multihop(cfg, node) for node in cfg.nodes)
    gateway = ""
    if any_multihop:
        # Multihop sessions resolve next hops recursively (BIRD refuses `gateway direct` there) and
        # the main table holds BGP routes only: resolve them in a table of the connected subnets.
        lines += [f"ipv4 table {NEXTHOP_TABLE};", f"protocol direct connected {{ ipv4 {{ table {NEXTHOP_TABLE}; }}; }}"]
        gateway = f" igp table {NEXTHOP_TABLE};"
    lines += _bfd_protocol(cfg, any_multihop)
    channel = f"ipv4 {{ import {import_rule}; export none;{gateway} }};"
    # With per-node filters each session's channel differs, so it stays out of the template.
    shared = [*_session_options(cfg), *([] if router.per_node_filter else [channel])]
    if router.neighbors == "peer-group":
        # A template states the shared session settings once; each node adds its own lines.
        lines += ["template bgp cilium_nodes {", *(f"  {line}" for line in shared), "}"]
    for node in cfg.nodes:
        head = f"protocol bgp {bird_symbol(node.name)}"
        own = [
            f'description "{node.name}";',
            f"local {cfg.router_address_for(node)} as {router.asn};",
            f"neighbor {node.ip} as {cfg.node_asn(node)};",
        ]
        if multihop(cfg, node):
            # The node peers multihop (and runs multihop BFD): this end must match.
            own.append(f"multihop {MULTIHOP_TTL};")
        if router.per_node_filter:
            allowed = [PrefixRange(c, None, None) for c in node.pod_cidrs] + lb_prefixes(cfg)
            own.append(f"ipv4 {{ import where net ~ [ {_bird_set(allowed)} ]; export none;{gateway} }};")
        if router.neighbors == "peer-group":
            lines += [f"{head} from cilium_nodes {{", *(f"  {line}" for line in own), "}"]
        else:
            lines += [f"{head} {{", *(f"  {line}" for line in [*own, *shared]), "}"]
    return "\n".join(lines) + "\n"
