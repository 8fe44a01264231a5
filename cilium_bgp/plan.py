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
class MeshSession:
    """A session from one router to another (each router's plan holds its own end)."""

    peer: str
    peer_address: IPv4Address
    peer_asn: int
    local_address: IPv4Address
    subnet: IPv4Network
    # Same ASN: iBGP, where routes learned from nodes leave with this router as next hop (the
    # peer may have no route to the node); reflected routes keep theirs.
    internal: bool
    # This router reflects the routes of its other iBGP peers to this one (``routerMesh: reflectors``).
    reflector_client: bool


@dataclass(frozen=True)
class UpstreamSession:
    """A session from a router to a peer beyond the cluster, which gets the cluster's prefixes."""

    name: str
    address: IPv4Address
    asn: int
    local_address: IPv4Address


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
    mesh: tuple[MeshSession, ...]
    upstreams: tuple[UpstreamSession, ...]
    # Route reflectors sharing a cluster-id (None: each its router-id).
    cluster_id: IPv4Address | None

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
    node_asn: int | None
    # ``router``: one router, under the names a one-router stack always had (``router/frr.conf``,
    # resource ``router``, flat outputs); ``routers``: everything keyed by router name.
    form: Literal["router", "routers"]
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

    def node(self, name: str) -> NodePlan:
        return next(n for n in self.nodes if n.name == name)


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


def mesh_subnet(routers: list[RouterSettings], node_networks: set[IPv4Network]) -> IPv4Network | None:
    """The subnet ``routers`` peer on: one each of them has an address on, preferring one with no
    node (a link between routers), in the first router's interface order."""
    others = [{i.address.network for i in r.interfaces} for r in routers[1:]]
    shared = [i.address.network for i in routers[0].interfaces if all(i.address.network in o for o in others)]
    return next((n for n in shared if n not in node_networks), shared[0] if shared else None)


def _address_on(router: RouterSettings, address: IPv4Address) -> IPv4Address:
    """The router's own address on the subnet of ``address``."""
    iface = router.interface_on(address)
    assert iface is not None, "validated: the router has an address on that subnet"
    return iface.address.ip


def _mesh(cfg: StackConfig, node_networks: set[IPv4Network]) -> dict[str, list[MeshSession]]:
    """Each router's sessions to other routers, by router name."""
    routers = [r for _, r in cfg.all_routers]
    mesh: dict[str, list[MeshSession]] = {r.effective_name: [] for r in routers}

    def connect(a: RouterSettings, b: RouterSettings, subnet: IPv4Network, a_reflects: bool, b_reflects: bool) -> None:
        for local, peer, reflects in ((a, b, a_reflects), (b, a, b_reflects)):
            mesh[local.effective_name].append(
                MeshSession(
                    peer=peer.effective_name,
                    peer_address=_address_on(peer, subnet.network_address),
                    peer_asn=peer.asn,
                    local_address=_address_on(local, subnet.network_address),
                    subnet=subnet,
                    internal=local.asn == peer.asn,
                    reflector_client=reflects,
                )
            )

    if len(routers) < 2:
        return mesh
    if cfg.router_mesh.mode == "full":
        for i, a in enumerate(routers):
            for b in routers[i + 1 :]:
                subnet = mesh_subnet([a, b], node_networks)
                assert subnet is not None, "validated: every two routers share a subnet"
                connect(a, b, subnet, False, False)
        return mesh
    subnet = mesh_subnet(routers, node_networks)
    assert subnet is not None, "validated: the routers share a subnet"
    reflectors = set(cfg.router_mesh.reflectors)
    for i, a in enumerate(routers):
        for b in routers[i + 1 :]:
            a_rr, b_rr = a.effective_name in reflectors, b.effective_name in reflectors
            if a_rr or b_rr:
                # Reflectors peer with each other as plain iBGP peers, and reflect to everyone else.
                connect(a, b, subnet, a_rr and not b_rr, b_rr and not a_rr)
    return mesh


def build_plan(cfg: StackConfig) -> SessionPlan:
    """The session plan of a validated config (one pass over the nodes)."""
    lb = _lb_prefixes(cfg)
    bgp = cfg.bgp
    bfd = (
        BfdTimers(bgp.bfd.receive_interval_ms, bgp.bfd.transmit_interval_ms, bgp.bfd.detect_multiplier)
        if cfg.uses_bfd
        else None
    )
    sessions: dict[str, list[NodeSession]] = {r.effective_name: [] for _, r in cfg.all_routers}
    node_plans: list[NodePlan] = []
    for node in cfg.nodes:
        asn = cfg.node_asn(node)
        own = tuple(PrefixRange(c, None, None) for c in node.pod_cidrs)
        node_sessions = []
        for router, iface in cfg.node_routers(node):
            on_subnet = iface.address.ip
            address = router.peering_address or on_subnet
            session = NodeSession(
                node=node.name,
                node_address=node.ip,
                node_subnet=node.address.network,
                node_asn=asn,
                router=router.effective_name,
                router_asn=router.asn,
                router_address=address,
                update_source=address if address != on_subnet else None,
                multihop=cfg.method == "bird" and address not in node.address.network,
                own_prefixes=own if router.per_node_filter else None,
            )
            sessions[router.effective_name].append(session)
            node_sessions.append(session)
        assert node_sessions, "validated: every node peers with a router"
        node_plans.append(
            NodePlan(node.name, node.address, asn, node.effective_router_id, node.router_id, tuple(node_sessions))
        )
    mesh = _mesh(cfg, {n.address.network for n in cfg.nodes})
    routers = []
    for key, settings in cfg.all_routers:
        name = settings.effective_name
        own_sessions = sessions[name]
        routers.append(
            RouterPlan(
                name=name,
                key=key,
                hostname=settings.effective_hostname,
                asn=settings.asn,
                router_id=settings.router_id,
                daemon=settings.daemon,
                frr_version=settings.frr_version,
                peering_address=settings.peering_address,
                interfaces=tuple(i.address for i in settings.interfaces),
                ssh=settings.ssh,
                neighbors=settings.neighbors,
                listen_ranges=tuple(sorted({s.node_subnet for s in own_sessions})),
                listen_limit=_listen_limit(settings, len(own_sessions)),
                prefix_filter=settings.prefix_filter,
                maximum_paths=_maximum_paths(cfg, settings, len(own_sessions)),
                sessions=tuple(own_sessions),
                mesh=tuple(mesh[name]),
                upstreams=tuple(
                    UpstreamSession(u.name, u.address, u.asn, _address_on(settings, u.address))
                    for u in settings.upstreams
                ),
                cluster_id=cfg.router_mesh.cluster_id if name in cfg.router_mesh.reflectors else None,
            )
        )
    return SessionPlan(
        method=cfg.method,
        shared_asn=cfg.shared_asn,
        node_asn=bgp.node_asn if cfg.shared_asn else None,
        form="routers" if cfg.routers is not None else "router",
        timers=effective_timers(cfg),
        password=cfg.uses_password,
        bfd=bfd,
        fast_failover=bgp.failover != "default",
        pool_prefixes=_pool_prefixes(cfg),
        lb_prefixes=lb,
        routers=tuple(routers),
        nodes=tuple(node_plans),
    )
