"""The resolved session plan: who peers with whom, on which addresses, with which settings.

Computed once from a validated :class:`~cilium_bgp.config.StackConfig` (netlab's shape: transform
the topology into a complete data model, then only format it). Every renderer — FRR, BIRD on the
router and on the nodes, the Kubernetes objects of each method, the expectations of the router
check and of the lab — formats this plan and derives nothing from the config about sessions.

PodCIDRs read from the cluster arrive after the plan is built (``podCidrSource: cluster``); the
node configs and the expectations take them beside the plan. Per-node prefix filters need static
PodCIDRs (validation refuses them otherwise), so they are part of the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from cilium_bgp.config import RouterSettings, Ssh, StackConfig

# Both ends of a multihop session: one routed hop, and the TTL BIRD's and FRR's BFD use as hop count.
MULTIHOP_TTL = 2


@dataclass(frozen=True)
class Timers:
    """Session timers; ``None`` means the daemon's default."""

    keepalive: int | None
    hold: int | None
    connect_retry: int | None


# `bgp.failover: fast` (and `bfd`): what the lab measured as ~9 s failover without BFD.
FAST_TIMERS = Timers(keepalive=3, hold=9, connect_retry=5)


@dataclass(frozen=True)
class BfdTimers:
    receive_ms: int
    transmit_ms: int
    multiplier: int


@dataclass(frozen=True)
class PrefixRange:
    """A prefix and the lengths accepted under it (``None``: exactly the prefix's own length)."""

    network: IPv4Network
    ge: int | None
    le: int | None


@dataclass(frozen=True)
class NodeSession:
    """One session between a node and a router (the same object in both ends' plans)."""

    node: str
    node_address: IPv4Address
    node_subnet: IPv4Network
    node_asn: int
    router: str
    router_asn: int
    # What the node peers with: the router's end of the session.
    router_address: IPv4Address
    # The router's explicit source towards the node, when it is not its address on the node's subnet.
    update_source: IPv4Address | None
    # BIRD on the node peers with an address off its subnet: both ends run the session multihop.
    multihop: bool
    # ``router.prefixFilter: per-node``: the node's own PodCIDRs, the only ones it may announce
    # (besides LB IPs of the pool).
    own_prefixes: tuple[PrefixRange, ...] | None


@dataclass(frozen=True)
class RouterPlan:
    """One router: its own settings resolved, its node sessions and its sessions to other routers."""

    name: str
    # Where its settings live in the stack config (``router`` or ``routers[i]``), for messages.
    key: str
    hostname: str
    asn: int
    router_id: IPv4Address
    daemon: Literal["frr", "bird"]
    frr_version: str | None
    peering_address: IPv4Address | None
    interfaces: tuple[IPv4Interface, ...]
    ssh: Ssh
    neighbors: Literal["static", "peer-group", "listen-range"]
    # With ``neighbors: listen-range``: the node subnets FRR accepts peers from, and how many.
    listen_ranges: tuple[IPv4Network, ...]
    listen_limit: int
    prefix_filter: bool | Literal["per-node"]
    # ECMP paths for one prefix (shared-ASN methods: an LB IP announced by several nodes).
    maximum_paths: int
    sessions: tuple[NodeSession, ...]

    @property
    def per_node_filter(self) -> bool:
        return self.prefix_filter == "per-node"

    @property
    def any_multihop(self) -> bool:
        return any(s.multihop for s in self.sessions)


@dataclass(frozen=True)
class NodePlan:
    name: str
    address: IPv4Interface
    asn: int
    # The BGP router-id it runs with, and the one set in config (None: its address).
    router_id: IPv4Address
    explicit_router_id: IPv4Address | None
    sessions: tuple[NodeSession, ...]


@dataclass(frozen=True)
class SessionPlan:
    method: str
    # kube-router and Cilium's speakers share one node ASN; BIRD nodes have one each.
    shared_asn: bool
    timers: Timers
    # Sessions use TCP MD5 with the secret bgpPassword (renderers paste a placeholder).
    password: bool
    bfd: BfdTimers | None
    # Failover tuned (``fast`` or ``bfd``): routes must follow sessions without batching delays.
    fast_failover: bool
    # What a filtering router accepts: the pod pool's blocks and any LB IP of the LB pool.
    pool_prefixes: tuple[PrefixRange, ...]
    lb_prefixes: tuple[PrefixRange, ...]
    routers: tuple[RouterPlan, ...]
    nodes: tuple[NodePlan, ...]

    @property
    def accepted_prefixes(self) -> tuple[PrefixRange, ...]:
        return self.pool_prefixes + self.lb_prefixes

    def router(self, name: str) -> RouterPlan:
        return next(r for r in self.routers if r.name == name)


def effective_timers(cfg: StackConfig) -> Timers:
    """The failover profile's timers, overridden by explicit keys; hold and keepalive go together
    (FRR's ``timers bgp`` takes both)."""
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


def _pool_prefixes(cfg: StackConfig) -> tuple[PrefixRange, ...]:
    mask = cfg.cilium.cluster_pool_ipv4_mask_size
    return tuple(
        PrefixRange(pool, mask, mask) if mask > pool.prefixlen else PrefixRange(pool, None, None)
        for pool in cfg.cilium.cluster_pool_ipv4_pod_cidr_list
    )


def _lb_prefixes(cfg: StackConfig) -> tuple[PrefixRange, ...]:
    """LB IPs a node may announce: any address of the LB pool, as a host route or larger."""
    return tuple(PrefixRange(c, None, 32) if c.prefixlen < 32 else PrefixRange(c, None, None) for c in cfg.lb_cidrs)


def _maximum_paths(cfg: StackConfig, router: RouterSettings, node_count: int) -> int:
    if cfg.bgp.maximum_paths is not None:
        return cfg.bgp.maximum_paths
    if router.neighbors == "listen-range":
        # Nodes come and go without a router change: allow FRR's most.
        return 64
    return min(64, max(1, node_count))


def _listen_limit(router: RouterSettings, node_count: int) -> int:
    if router.listen_limit is not None:
        return router.listen_limit
    # FRR's default of 100 would silently refuse the 101st node.
    return min(65535, max(100, 4 * node_count))


def build_plan(cfg: StackConfig) -> SessionPlan:
    """The session plan of a validated config (one pass over the nodes)."""
    lb = _lb_prefixes(cfg)
    bgp = cfg.bgp
    bfd = (
        BfdTimers(bgp.bfd.receive_interval_ms, bgp.bfd.transmit_interval_ms, bgp.bfd.detect_multiplier)
        if cfg.uses_bfd
        else None
    )
    router_key, settings = "router", cfg.router
    name = settings.hostname
    per_node = settings.prefix_filter == "per-node"
    node_plans: list[NodePlan] = []
    sessions: list[NodeSession] = []
    for node in cfg.nodes:
        iface = cfg.node_subnet(node)
        assert iface is not None, "validated: every node sits on a router subnet"
        on_subnet = iface.address.ip
        address = settings.peering_address or on_subnet
        asn = cfg.node_asn(node)
        session = NodeSession(
            node=node.name,
            node_address=node.ip,
            node_subnet=node.address.network,
            node_asn=asn,
            router=name,
            router_asn=settings.asn,
            router_address=address,
            update_source=address if address != on_subnet else None,
            multihop=cfg.method == "bird" and address not in node.address.network,
            own_prefixes=tuple(PrefixRange(c, None, None) for c in node.pod_cidrs) if per_node else None,
        )
        sessions.append(session)
        node_plans.append(NodePlan(node.name, node.address, asn, node.effective_router_id, node.router_id, (session,)))
    router = RouterPlan(
        name=name,
        key=router_key,
        hostname=settings.hostname,
        asn=settings.asn,
        router_id=settings.router_id,
        daemon=settings.daemon,
        frr_version=settings.frr_version,
        peering_address=settings.peering_address,
        interfaces=tuple(i.address for i in settings.interfaces),
        ssh=settings.ssh,
        neighbors=settings.neighbors,
        listen_ranges=tuple(sorted({s.node_subnet for s in sessions})),
        listen_limit=_listen_limit(settings, len(sessions)),
        prefix_filter=settings.prefix_filter,
        maximum_paths=_maximum_paths(cfg, settings, len(sessions)),
        sessions=tuple(sessions),
    )
    return SessionPlan(
        method=cfg.method,
        shared_asn=cfg.shared_asn,
        timers=effective_timers(cfg),
        password=cfg.uses_password,
        bfd=bfd,
        fast_failover=bgp.failover != "default",
        pool_prefixes=_pool_prefixes(cfg),
        lb_prefixes=lb,
        routers=(router,),
        nodes=tuple(node_plans),
    )
