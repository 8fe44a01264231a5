"""FRR on the router: ``frr.conf`` with one neighbor per node (or a peer-group, or a listen range).

Method-aware: BIRD nodes each have their own ASN; kube-router and Cilium's speakers share one ASN,
so the router adds the seed's bestpath lines and ``maximum-paths`` for ECMP over LB IPs.
Scale (``router.neighbors``): ``static`` is the seed's form; ``peer-group`` states the shared
session settings once; ``listen-range`` lets FRR accept any node of the node subnets, so adding a
node does not rewrite the router's config at all.
"""

from __future__ import annotations

from cilium_bgp.config import NodeSettings, StackConfig
from cilium_bgp.renderers.common import (
    BFD_PROFILE,
    MULTIHOP_TTL,
    PEER_GROUP,
    PREFIX_FILTER_NAME,
    PrefixRange,
    accepted_prefixes,
    effective_timers,
    lb_prefixes,
    multihop,
    node_filter_name,
    update_source,
)
from cilium_bgp.secrets import secret_ref

# BIRD 2 sends multihop BFD with the kernel's default TTL (net.ipv4.ip_default_ttl, 64), not 255,
# while bfdd drops multihop packets below the profile's minimum-ttl (default 254): accept what left
# a node at 64 and crossed the session's routed hops.
LINUX_DEFAULT_TTL = 64
BIRD_MULTIHOP_BFD_MIN_TTL = LINUX_DEFAULT_TTL - (MULTIHOP_TTL - 1)


def frr_daemons(cfg: StackConfig) -> tuple[str, ...]:
    """FRR daemons the config needs on (``/etc/frr/daemons``); zebra and staticd always run."""
    return ("bgpd", "bfdd") if cfg.uses_bfd else ("bgpd",)


def _session_lines(cfg: StackConfig, target: str, node: NodeSettings | None = None) -> list[str]:
    """Settings every node session shares, for one node's address or for the peer-group."""
    timers = effective_timers(cfg)
    lines = []
    source = update_source(cfg, node) if node is not None else cfg.router.peering_address
    if source is not None:
        lines.append(f" neighbor {target} update-source {source}")
    if node is not None:
        lines += _multihop_lines(cfg, node)
    if cfg.uses_password:
        lines.append(f" neighbor {target} password {secret_ref('bgpPassword')}")
    if timers.connect_retry is not None:
        # FRR 8.4 has no "bgp connect-retry"; the per-neighbor form is "timers connect".
        lines.append(f" neighbor {target} timers connect {timers.connect_retry}")
    if cfg.uses_bfd:
        lines.append(f" neighbor {target} bfd profile {BFD_PROFILE}")
    return lines


def _multihop_lines(cfg: StackConfig, node: NodeSettings) -> list[str]:
    """The node peers multihop (BIRD, off its subnet), so its BFD is multihop: FRR's BFD is multihop
    only for an eBGP peer with ebgp-multihop."""
    return [f" neighbor {node.ip} ebgp-multihop {MULTIHOP_TTL}"] if multihop(cfg, node) else []


def _neighbor_lines(cfg: StackConfig) -> tuple[list[str], list[str]]:
    """(lines under ``router bgp``, the targets the address family applies to)."""
    style = cfg.router.neighbors
    if style == "static":
        lines = []
        for node in cfg.nodes:
            lines.append(f" neighbor {node.ip} remote-as {cfg.node_asn(node)}")
            lines += _session_lines(cfg, str(node.ip), node)
        return lines, [str(n.ip) for n in cfg.nodes]
    lines = [f" neighbor {PEER_GROUP} peer-group"]
    if cfg.shared_asn:
        lines.append(f" neighbor {PEER_GROUP} remote-as {cfg.bgp.node_asn}")
    lines += _session_lines(cfg, PEER_GROUP)
    if style == "listen-range":
        lines.append(f" bgp listen limit {cfg.listen_limit}")
        subnets = sorted({n.address.network for n in cfg.nodes})
        lines += [f" bgp listen range {subnet} peer-group {PEER_GROUP}" for subnet in subnets]
        return lines, [PEER_GROUP]
    for node in cfg.nodes:
        if not cfg.shared_asn:
            # Each BIRD node keeps its own ASN: the group carries no remote-as, the member does.
            lines.append(f" neighbor {node.ip} remote-as {cfg.node_asn(node)}")
        lines.append(f" neighbor {node.ip} peer-group {PEER_GROUP}")
        lines += _multihop_lines(cfg, node)
    return lines, [PEER_GROUP]


def _prefix_list(name: str, prefixes: list[PrefixRange]) -> list[str]:
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


def _per_node_filters(cfg: StackConfig) -> list[str]:
    """Each node may announce only its own PodCIDRs, plus (shared-ASN methods) LB IPs of the pool:
    one exact prefix-list per node and one shared LB list."""
    lb_list = f"{PREFIX_FILTER_NAME}-LB"
    lines = _prefix_list(lb_list, lb_prefixes(cfg)) if cfg.lb_cidrs else []
    for node in cfg.nodes:
        name = node_filter_name(node)
        lines += _prefix_list(name, [PrefixRange(cidr, None, None) for cidr in node.pod_cidrs])
        lines += _route_map(name, [name, lb_list] if cfg.lb_cidrs else [name])
    return lines


def render_frr_conf(cfg: StackConfig) -> str:
    router = cfg.router
    lines: list[str] = []
    if router.frr_version:
        lines.append(f"frr version {router.frr_version}")
    lines += ["frr defaults traditional", f"hostname {router.hostname}", "log syslog informational", "!"]
    lines.append(f"router bgp {router.asn}")
    if cfg.shared_asn:
        # Nodes share one ASN; these are the seed's lines for multipath over their identical paths.
        lines += [" bgp bestpath as-path multipath-relax", " bgp bestpath bandwidth skip-missing"]
    lines.append(f" bgp router-id {router.router_id}")
    if not router.prefix_filter:
        # The seed's choice: accept every route the nodes send (see router.prefixFilter).
        lines.append(" no bgp ebgp-requires-policy")
    timers = effective_timers(cfg)
    if timers.keepalive is not None and timers.hold is not None:
        lines.append(f" timers bgp {timers.keepalive} {timers.hold}")
    if cfg.bgp.failover != "default":
        # FRR holds the first UPDATE to a new peer group for up to ~1 s + 50 ms per peer; routes
        # would lag the sessions by seconds at 50 nodes (measured in the lab).
        lines.append(" coalesce-time 100")
    neighbor_lines, targets = _neighbor_lines(cfg)
    lines += neighbor_lines
    af_lines: list[str] = []
    if cfg.shared_asn:
        af_lines.append(f"  maximum-paths {cfg.maximum_paths}")
    if router.per_node_filter:
        af_lines += [f"  neighbor {node.ip} route-map {node_filter_name(node)} in" for node in cfg.nodes]
    elif router.prefix_filter:
        af_lines += [f"  neighbor {target} route-map {PREFIX_FILTER_NAME} in" for target in targets]
    if af_lines:
        lines += [" !", " address-family ipv4 unicast", *af_lines, " exit-address-family"]
    lines += ["exit", "!"]
    if router.per_node_filter:
        lines += _per_node_filters(cfg)
    elif router.prefix_filter:
        lines += _prefix_list(PREFIX_FILTER_NAME, accepted_prefixes(cfg))
        lines += _route_map(PREFIX_FILTER_NAME, [PREFIX_FILTER_NAME])
    if cfg.uses_bfd:
        bfd = cfg.bgp.bfd
        lines += [
            "bfd",
            f" profile {BFD_PROFILE}",
            f"  detect-multiplier {bfd.detect_multiplier}",
            f"  receive-interval {bfd.receive_interval_ms}",
            f"  transmit-interval {bfd.transmit_interval_ms}",
            *([f"  minimum-ttl {BIRD_MULTIHOP_BFD_MIN_TTL}"] if any(multihop(cfg, n) for n in cfg.nodes) else []),
            " exit",
            " !",
            "exit",
            "!",
        ]
    return "\n".join(lines) + "\n"
