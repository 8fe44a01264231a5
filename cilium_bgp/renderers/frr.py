"""FRR on a router: ``frr.conf`` with one neighbor per node (or a peer-group, or a listen range).

Method-aware: BIRD nodes each have their own ASN; kube-router and Cilium's speakers share one ASN,
so the router adds the seed's bestpath lines and ``maximum-paths`` for ECMP over LB IPs.
Scale (``router.neighbors``): ``static`` is the seed's form; ``peer-group`` states the shared
session settings once; ``listen-range`` lets FRR accept any node of the node subnets, so adding a
node does not rewrite the router's config at all.

This module decides what the config says; ``templates/frr.conf.j2`` says it in FRR's words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from cilium_bgp.plan import MULTIHOP_TTL, BfdTimers, NodeSession, PrefixRange, RouterPlan, SessionPlan
from cilium_bgp.renderers.templating import render_template
from cilium_bgp.secrets import secret_ref

PREFIX_FILTER_NAME = "CILIUM-BGP-IN"
# Peers beyond the cluster get its prefixes and give nothing.
UPSTREAM_OUT = "CILIUM-BGP-UPSTREAM-OUT"
UPSTREAM_IN = "CILIUM-BGP-UPSTREAM-IN"
_UPSTREAM_POLICIES: tuple[tuple[str, Literal["in", "out"]], ...] = ((UPSTREAM_IN, "in"), (UPSTREAM_OUT, "out"))
PEER_GROUP = "CILIUM-NODES"
BFD_PROFILE = "cilium-bgp"
# BIRD 2 sends multihop BFD with the kernel's default TTL (net.ipv4.ip_default_ttl, 64), not 255,
# while bfdd drops multihop packets below the profile's minimum-ttl (default 254): accept what left
# a node at 64 and crossed the session's routed hops.
LINUX_DEFAULT_TTL = 64
BIRD_MULTIHOP_BFD_MIN_TTL = LINUX_DEFAULT_TTL - (MULTIHOP_TTL - 1)
# FRR holds the first UPDATE to a new peer group for up to ~1 s + 50 ms per peer; with tuned
# failover, routes would lag the sessions by seconds at 50 nodes (measured in the lab).
FAST_COALESCE_MS = 100


@dataclass(frozen=True)
class Neighbor:
    """The ``neighbor <target> ...`` lines of one node address or of the node peer-group."""

    target: str
    declares_group: bool = False
    remote_as: int | None = None
    peer_group: str | None = None
    update_source: IPv4Address | None = None
    ebgp_multihop: int | None = None
    password: str | None = None
    connect_retry: int | None = None
    bfd_profile: str | None = None
    # No graceful restart (nor long-lived) capability: the peer drops this router's routes as soon
    # as the session goes, instead of keeping them as stale for the restart time (120 s).
    graceful_restart_disable: bool = False


@dataclass(frozen=True)
class ListenRanges:
    peer_group: str
    limit: int
    ranges: tuple[IPv4Network, ...]


@dataclass(frozen=True)
class Policy:
    """A route-map on a neighbor, under the IPv4 unicast address family."""

    target: str
    route_map: str
    direction: Literal["in", "out"]


@dataclass(frozen=True)
class MeshAddressFamily:
    """Another router's lines under the IPv4 unicast address family."""

    target: str
    # iBGP: routes learned from nodes leave with this router as next hop (reflected ones keep theirs).
    next_hop_self: bool
    reflector_client: bool


@dataclass(frozen=True)
class PrefixListEntry:
    seq: int
    network: IPv4Network
    ge: int | None
    le: int | None


@dataclass(frozen=True)
class PrefixList:
    name: str
    entries: tuple[PrefixListEntry, ...]


@dataclass(frozen=True)
class RouteMapEntry:
    seq: int
    # None: the entry matches every route.
    prefix_list: str | None
    action: Literal["permit", "deny"] = "permit"


@dataclass(frozen=True)
class RouteMap:
    name: str
    entries: tuple[RouteMapEntry, ...]


@dataclass(frozen=True)
class Filter:
    prefix_list: PrefixList | None = None
    route_map: RouteMap | None = None


@dataclass(frozen=True)
class BfdProfile:
    profile: str
    timers: BfdTimers
    minimum_ttl: int | None


@dataclass(frozen=True)
class FrrConfig:
    """Everything ``frr.conf.j2`` says, decided."""

    router: RouterPlan
    multipath_relax: bool
    cluster_id: IPv4Address | None
    requires_policy: bool
    keepalive_hold: tuple[int, int] | None
    coalesce_time: int | None
    neighbors: tuple[Neighbor, ...]
    listen: ListenRanges | None
    maximum_paths: int | None
    policies: tuple[Policy, ...]
    mesh: tuple[MeshAddressFamily, ...]
    filters: tuple[Filter, ...]
    bfd: BfdProfile | None


def frr_daemons(plan: SessionPlan) -> tuple[str, ...]:
    """FRR daemons the config needs on (``/etc/frr/daemons``); zebra and staticd always run."""
    return ("bgpd", "bfdd") if plan.bfd is not None else ("bgpd",)


def node_filter_name(session: NodeSession) -> str:
    """The node's own prefix-list / route-map name (``router.prefixFilter: per-node``)."""
    return f"{PREFIX_FILTER_NAME}-{session.node}"


def _with_shared_settings(plan: SessionPlan, neighbor: Neighbor) -> Neighbor:
    """What every node session carries, on each node's address or on the peer-group."""
    return replace(
        neighbor,
        password=secret_ref("bgpPassword") if plan.password else None,
        # FRR 8.4 has no "bgp connect-retry"; the per-neighbor form is "timers connect".
        connect_retry=plan.timers.connect_retry,
        bfd_profile=BFD_PROFILE if plan.bfd is not None else None,
    )


def _multihop(session: NodeSession) -> int | None:
    """The node peers multihop (BIRD, off its subnet), so its BFD is multihop: FRR's BFD is multihop
    only for an eBGP peer with ebgp-multihop."""
    return MULTIHOP_TTL if session.multihop else None


def _node_neighbors(plan: SessionPlan, router: RouterPlan) -> tuple[list[Neighbor], list[str]]:
    """(the node neighbors, the targets the address family applies to)."""
    if router.neighbors == "static":
        neighbors = [
            _with_shared_settings(
                plan,
                Neighbor(
                    str(s.node_address),
                    remote_as=s.node_asn,
                    update_source=s.update_source,
                    ebgp_multihop=_multihop(s),
                ),
            )
            for s in router.sessions
        ]
        return neighbors, [n.target for n in neighbors]
    group = _with_shared_settings(
        plan,
        Neighbor(
            PEER_GROUP,
            declares_group=True,
            remote_as=router.sessions[0].node_asn if plan.shared_asn else None,
            update_source=router.peering_address,
        ),
    )
    if router.neighbors == "listen-range":
        return [group], [PEER_GROUP]
    members = [
        # Each BIRD node keeps its own ASN: the group carries no remote-as, the member does.
        Neighbor(
            str(s.node_address),
            remote_as=None if plan.shared_asn else s.node_asn,
            peer_group=PEER_GROUP,
            ebgp_multihop=_multihop(s),
        )
        for s in router.sessions
    ]
    return [group, *members], [PEER_GROUP]


def _prefix_list(name: str, prefixes: tuple[PrefixRange, ...]) -> PrefixList:
    return PrefixList(
        name, tuple(PrefixListEntry(seq * 5, p.network, p.ge, p.le) for seq, p in enumerate(prefixes, start=1))
    )


def _route_map(name: str, prefix_lists: list[str]) -> RouteMap:
    return RouteMap(name, tuple(RouteMapEntry(seq * 10, p) for seq, p in enumerate(prefix_lists, start=1)))


def _per_node_filters(plan: SessionPlan, router: RouterPlan) -> list[Filter]:
    """Each node may announce only its own PodCIDRs, plus (shared-ASN methods) LB IPs of the pool:
    one exact prefix-list per node and one shared LB list."""
    lb_list = f"{PREFIX_FILTER_NAME}-LB"
    filters = [Filter(prefix_list=_prefix_list(lb_list, plan.lb_prefixes))] if plan.lb_prefixes else []
    for session in router.sessions:
        name = node_filter_name(session)
        filters.append(
            Filter(
                _prefix_list(name, session.own_prefixes or ()),
                _route_map(name, [name, lb_list] if plan.lb_prefixes else [name]),
            )
        )
    return filters


def _mesh_neighbors(plan: SessionPlan, router: RouterPlan) -> list[Neighbor]:
    """Sessions to the other routers, from this router's address on the subnet they share."""
    return [
        _with_shared_settings(plan, Neighbor(str(m.peer_address), remote_as=m.peer_asn, update_source=m.local_address))
        for m in router.mesh
    ]


def _upstreams(plan: SessionPlan, router: RouterPlan) -> tuple[list[Neighbor], list[Policy], list[Filter]]:
    """Peers beyond the cluster: the cluster's prefixes out, nothing in (whatever the prefix filter
    says about the nodes), with the stack's timers but not its password or BFD, and no graceful
    restart: a dead router's paths must leave the upstream with its session (measured in the lab:
    an upstream keeping FRR's routes as stale black-holes half the flows for two minutes)."""
    neighbors = [
        Neighbor(
            str(u.address),
            remote_as=u.asn,
            update_source=u.local_address,
            connect_retry=plan.timers.connect_retry,
            graceful_restart_disable=True,
        )
        for u in router.upstreams
    ]
    policies = [
        Policy(str(u.address), name, direction) for u in router.upstreams for name, direction in _UPSTREAM_POLICIES
    ]
    filters = [
        Filter(route_map=RouteMap(UPSTREAM_OUT, (RouteMapEntry(10, PREFIX_FILTER_NAME),))),
        Filter(route_map=RouteMap(UPSTREAM_IN, (RouteMapEntry(10, None, "deny"),))),
    ]
    return neighbors, policies, filters if router.upstreams else []


def frr_config(plan: SessionPlan, router: RouterPlan) -> FrrConfig:
    timers = plan.timers
    neighbors, targets = _node_neighbors(plan, router)
    policies: list[Policy] = []
    filters: list[Filter] = []
    pool_filter = Filter(
        _prefix_list(PREFIX_FILTER_NAME, plan.accepted_prefixes), _route_map(PREFIX_FILTER_NAME, [PREFIX_FILTER_NAME])
    )
    if router.per_node_filter:
        policies += [Policy(str(s.node_address), node_filter_name(s), "in") for s in router.sessions]
        filters += _per_node_filters(plan, router)
    elif router.prefix_filter:
        policies += [Policy(target, PREFIX_FILTER_NAME, "in") for target in targets]
    if router.prefix_filter and (not router.per_node_filter or router.mesh):
        filters.append(pool_filter)
    elif router.upstreams:
        # What the upstream route-map lets out: the pool's PodCIDRs and the LB pool.
        filters.append(Filter(prefix_list=pool_filter.prefix_list))
    if router.prefix_filter:
        # Routers exchange only the cluster's prefixes; eBGP between routers needs both policies
        # while bgp ebgp-requires-policy is on.
        for m in router.mesh:
            policies += [Policy(str(m.peer_address), PREFIX_FILTER_NAME, d) for d in ("in", "out")]
    upstream_neighbors, upstream_policies, upstream_filters = _upstreams(plan, router)
    policies += upstream_policies
    filters += upstream_filters
    return FrrConfig(
        router=router,
        # Nodes share one ASN; these are the seed's lines for multipath over their identical paths.
        multipath_relax=plan.shared_asn,
        cluster_id=router.cluster_id,
        # Unfiltered, the seed's choice: accept every route the nodes send (see router.prefixFilter).
        requires_policy=bool(router.prefix_filter),
        keepalive_hold=(
            (timers.keepalive, timers.hold) if timers.keepalive is not None and timers.hold is not None else None
        ),
        coalesce_time=FAST_COALESCE_MS if plan.fast_failover else None,
        neighbors=(*neighbors, *_mesh_neighbors(plan, router), *upstream_neighbors),
        listen=(
            ListenRanges(PEER_GROUP, router.listen_limit, router.listen_ranges)
            if router.neighbors == "listen-range"
            else None
        ),
        maximum_paths=router.maximum_paths if plan.shared_asn else None,
        policies=tuple(policies),
        mesh=tuple(MeshAddressFamily(str(m.peer_address), m.internal, m.reflector_client) for m in router.mesh),
        filters=tuple(filters),
        bfd=(
            BfdProfile(BFD_PROFILE, plan.bfd, BIRD_MULTIHOP_BFD_MIN_TTL if router.any_multihop else None)
            if plan.bfd is not None
            else None
        ),
    )


def render_frr_conf(plan: SessionPlan, router: RouterPlan) -> str:
    return render_template("frr.conf.j2", frr_config(plan, router))
