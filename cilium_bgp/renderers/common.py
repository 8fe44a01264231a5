"""Facts several renderers share: timers, source addresses, the router's accepted prefixes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from cilium_bgp.config import NodeSettings, StackConfig

# Cilium's default bgpControlPlane.secretsNamespace.name (1.15+).
DEFAULT_BGP_SECRETS_NAMESPACE = "kube-system"
PREFIX_FILTER_NAME = "CILIUM-BGP-IN"
PEER_GROUP = "CILIUM-NODES"
BFD_PROFILE = "cilium-bgp"


@dataclass(frozen=True)
class Timers:
    keepalive: int | None
    hold: int | None
    connect_retry: int | None


# `bgp.failover: fast` (and `bfd`): what the lab measured as ~9 s failover without BFD.
FAST_TIMERS = Timers(keepalive=3, hold=9, connect_retry=5)


def effective_timers(cfg: StackConfig) -> Timers:
    """The failover profile's timers, overridden by explicit keys; hold and keepalive go together
    (FRR's ``timers bgp`` takes both); ``None`` means the daemon's default."""
    profile = FAST_TIMERS if cfg.bgp.failover in ("fast", "bfd") else Timers(None, None, None)
    hold, keepalive = cfg.bgp.hold_time_seconds, cfg.bgp.keep_alive_time_seconds
    if hold is None and keepalive is None:
        hold, keepalive = profile.hold, profile.keepalive
    connect_retry = cfg.bgp.connect_retry_time_seconds or profile.connect_retry
    if hold is not None and keepalive is None:
        keepalive = max(1, hold // 3)
    elif keepalive is not None and hold is None:
        hold = keepalive * 3
    return Timers(keepalive, hold, connect_retry)


def update_source(cfg: StackConfig, node: NodeSettings) -> IPv4Address | None:
    """The router's source address towards ``node`` when it is not the address on the node's subnet."""
    peer = cfg.router_address_for(node)
    subnet = cfg.node_subnet(node)
    if subnet is not None and peer != subnet.address.ip:
        return peer
    return None


def multihop(cfg: StackConfig, node: NodeSettings) -> bool:
    """BIRD on ``node`` peers with a router address off its subnet: a multihop session (BIRD accepts
    no direct one there), and BFD follows the session's mode (multihop BFD, UDP 4784). The router's
    end must be multihop as well, or BFD never comes up."""
    return cfg.method == "bird" and cfg.router_address_for(node) not in node.address.network


# Both ends of a multihop session: one routed hop, and the TTL BIRD's and FRR's BFD use as hop count.
MULTIHOP_TTL = 2


@dataclass(frozen=True)
class PrefixRange:
    network: IPv4Network
    ge: int | None
    le: int | None


def accepted_prefixes(cfg: StackConfig) -> list[PrefixRange]:
    """What the router accepts with ``router.prefixFilter``: PodCIDRs of the pool, LB IPs of the LB pool."""
    mask = cfg.cilium.cluster_pool_ipv4_mask_size
    ranges = [
        PrefixRange(pool, mask, mask) if mask > pool.prefixlen else PrefixRange(pool, None, None)
        for pool in cfg.cilium.cluster_pool_ipv4_pod_cidr_list
    ]
    return ranges + lb_prefixes(cfg)


def node_filter_name(node: NodeSettings) -> str:
    """The node's own prefix-list / route-map name (``router.prefixFilter: per-node``)."""
    return f"{PREFIX_FILTER_NAME}-{node.name}"


def lb_prefixes(cfg: StackConfig) -> list[PrefixRange]:
    """LB IPs a node may announce: any address of the LB pool, as a host route or larger."""
    return [PrefixRange(c, None, 32) if c.prefixlen < 32 else PrefixRange(c, None, None) for c in cfg.lb_cidrs]


def bird_symbol(name: str) -> str:
    """A BIRD protocol name for a node (symbols take letters, digits and underscores)."""
    return "peer_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def bgp_secrets_namespace(cfg: StackConfig) -> str:
    """Where Cilium reads BGP auth Secrets: ``bgpControlPlane.secretsNamespace.name`` in the Helm
    values (``cilium.values``), else the chart's default."""
    section = cfg.cilium.values.get("bgpControlPlane")
    namespace = section.get("secretsNamespace") if isinstance(section, dict) else None
    name = namespace.get("name") if isinstance(namespace, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_BGP_SECRETS_NAMESPACE
