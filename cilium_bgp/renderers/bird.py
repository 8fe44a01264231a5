"""BIRD 2: each node's ``bird.conf`` (seed variant A) and the router's, when it runs BIRD.

This module decides what the configs say; ``templates/bird-*.j2`` say it in BIRD's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from cilium_bgp.plan import MULTIHOP_TTL, BfdTimers, NodePlan, PrefixRange, RouterPlan, SessionPlan
from cilium_bgp.renderers.templating import render_template
from cilium_bgp.secrets import secret_ref

# The router's connected subnets, where multihop sessions resolve the nodes' next hops.
NEXTHOP_TABLE = "cilium_nexthops"
# With tuned timers, the first connect after a (re)start: BIRD's default is 5 s.
CONNECT_DELAY_SECONDS = 1
ACCEPT_FILTER = "cilium_bgp_in"
NODE_TEMPLATE = "cilium_nodes"


@dataclass(frozen=True)
class SetRange:
    """One term of a BIRD prefix set, ``net{low,high}``."""

    network: IPv4Network
    low: int
    high: int


@dataclass(frozen=True)
class SessionOptions:
    password: str | None
    hold: int | None
    keepalive: int | None
    connect_retry: int | None
    error_wait: tuple[int, int] | None
    connect_delay: int | None
    bfd: Literal["on", "graceful"] | None


@dataclass(frozen=True)
class Channel:
    """A session's ``ipv4 { ... }``: import everything, through a named filter, or a prefix set."""

    import_filter: str | None
    import_prefixes: tuple[SetRange, ...] | None
    igp_table: str | None


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    local_address: IPv4Address
    local_asn: int
    neighbor_address: IPv4Address
    neighbor_asn: int
    multihop: int | None
    channel: Channel | None


@dataclass(frozen=True)
class MeshProtocol:
    """A session to another router."""

    name: str
    description: str
    local_address: IPv4Address
    local_asn: int
    neighbor_address: IPv4Address
    neighbor_asn: int
    # BIRD runs iBGP multihop unless told: these peers share a subnet, so next hops resolve directly.
    direct: bool
    rr_client: bool
    rr_cluster_id: IPv4Address | None
    # Import and export through this filter (the router's accepted prefixes), or everything.
    filter: str | None
    # iBGP: routes learned from nodes leave with this router as next hop; reflected ones keep theirs.
    next_hop_self: bool


@dataclass(frozen=True)
class UpstreamProtocol:
    """A session to a peer beyond the cluster: the accepted prefixes out, nothing in."""

    name: str
    description: str
    local_address: IPv4Address
    local_asn: int
    neighbor_address: IPv4Address
    neighbor_asn: int


@dataclass(frozen=True)
class AcceptFilter:
    name: str
    ranges: tuple[SetRange, ...]


@dataclass(frozen=True)
class NodeBirdConfig:
    node: NodePlan
    pod_cidrs: Sequence[IPv4Network]
    bfd: BfdTimers | None
    bfd_multihop: bool
    multihop_ttl: int
    options: SessionOptions


@dataclass(frozen=True)
class RouterBirdConfig:
    router: RouterPlan
    merge_paths: int | None
    accept_filter: AcceptFilter | None
    nexthop_table: str | None
    bfd: BfdTimers | None
    bfd_multihop: bool
    template: str | None
    options: SessionOptions
    # The channel every node session shares (None with per-node filters: each has its own).
    channel: Channel | None
    protocols: tuple[Protocol, ...]
    mesh: tuple[MeshProtocol, ...]
    upstreams: tuple[UpstreamProtocol, ...]
    # Upstream sessions carry the stack's timers, not its password or BFD.
    upstream_options: SessionOptions


def bird_symbol(name: str, prefix: str = "peer_") -> str:
    """A BIRD protocol name for a node (``peer_``) or a router (``mesh_``): symbols take letters,
    digits and underscores."""
    return prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _set(prefixes: Sequence[PrefixRange]) -> tuple[SetRange, ...]:
    return tuple(
        SetRange(
            p.network,
            p.ge if p.ge is not None else p.network.prefixlen,
            p.le if p.le is not None else p.network.prefixlen,
        )
        for p in prefixes
    )


def _session_options(plan: SessionPlan, *, node_side: bool = False) -> SessionOptions:
    """Session settings for one end; ``node_side``: the node's end, which imports nothing."""
    timers = plan.timers
    error_wait = connect_delay = None
    if timers.hold is not None or timers.connect_retry is not None:
        # BIRD waits 60-300 s after a session error (e.g. a hold-timer expiry) before it tries
        # again; a stack that tunes its timers wants the session back as fast as it went down.
        retry = timers.connect_retry or 5
        error_wait = (retry, max(30, retry))
        # BIRD's first connect waits `connect delay time` (5 s by default) after each start: two
        # BIRD ends would both wait that long before the first session comes up.
        connect_delay = CONNECT_DELAY_SECONDS
    bfd: Literal["on", "graceful"] | None = None
    if plan.bfd is not None:
        # FRR 8.4 re-registers a neighbor's BFD session once its first session is Established (the
        # session learns its source address and interface only then: bgp_peer_bfd_update_source),
        # so BIRD sees BFD go down right after the session came up. `bfd on` takes that as a
        # protocol error and refuses the router for `error wait time`; `graceful` only closes the
        # connection, and the router is back when BFD is (about 1 s). The node imports nothing,
        # so nothing is kept stale; the router's end still drops the node's routes at once.
        bfd = "graceful" if node_side else "on"
    return SessionOptions(
        password=secret_ref("bgpPassword") if plan.password else None,
        hold=timers.hold,
        keepalive=timers.keepalive,
        connect_retry=timers.connect_retry,
        error_wait=error_wait,
        connect_delay=connect_delay,
        bfd=bfd,
    )


def render_node_bird_conf(plan: SessionPlan, node: NodePlan, pod_cidrs: Sequence[IPv4Network]) -> str:
    """Announce exactly the node's PodCIDRs, via ``cilium_host``; import nothing.

    The export filter accepts everything because nothing else reaches BIRD's table: ``direct`` is
    disabled and the kernel protocol imports none, so only the static PodCIDR routes are exported.
    A router address off the node's subnet is one routed hop away: that session is multihop.
    """
    config = NodeBirdConfig(
        node=node,
        pod_cidrs=pod_cidrs,
        bfd=plan.bfd,
        # Multihop sessions take their BFD timers from the multihop block.
        bfd_multihop=any(s.multihop for s in node.sessions),
        multihop_ttl=MULTIHOP_TTL,
        options=_session_options(plan, node_side=True),
    )
    return render_template("bird-node.conf.j2", config)


def router_bird_config(plan: SessionPlan, router: RouterPlan) -> RouterBirdConfig:
    filtered = bool(router.prefix_filter) and not router.per_node_filter
    # Routers exchange only the cluster's prefixes when the router filters at all.
    mesh_filter = ACCEPT_FILTER if router.prefix_filter else None
    # Multihop sessions resolve next hops recursively (BIRD refuses `gateway direct` there) and
    # the main table holds BGP routes only: resolve them in a table of the connected subnets.
    igp_table = NEXTHOP_TABLE if router.any_multihop else None
    protocols = tuple(
        Protocol(
            name=bird_symbol(s.node),
            description=s.node,
            local_address=s.router_address,
            local_asn=s.router_asn,
            neighbor_address=s.node_address,
            neighbor_asn=s.node_asn,
            # The node peers multihop (and runs multihop BFD): this end must match.
            multihop=MULTIHOP_TTL if s.multihop else None,
            channel=(
                Channel(None, _set((*(s.own_prefixes or ()), *plan.lb_prefixes)), igp_table)
                if router.per_node_filter
                else None
            ),
        )
        for s in router.sessions
    )
    return RouterBirdConfig(
        router=router,
        # Nodes share an ASN and announce the same LB IPs: install them as one multipath route.
        merge_paths=router.maximum_paths if plan.shared_asn else None,
        accept_filter=(
            AcceptFilter(ACCEPT_FILTER, _set(plan.accepted_prefixes))
            if filtered or (mesh_filter and router.mesh) or router.upstreams
            else None
        ),
        nexthop_table=igp_table,
        bfd=plan.bfd,
        bfd_multihop=router.any_multihop,
        # A template states the shared session settings once; each node adds its own lines.
        template=NODE_TEMPLATE if router.neighbors == "peer-group" else None,
        options=_session_options(plan),
        channel=None if router.per_node_filter else Channel(ACCEPT_FILTER if filtered else None, None, igp_table),
        protocols=protocols,
        mesh=tuple(
            MeshProtocol(
                name=bird_symbol(m.peer, "mesh_"),
                description=f"router {m.peer}",
                local_address=m.local_address,
                local_asn=router.asn,
                neighbor_address=m.peer_address,
                neighbor_asn=m.peer_asn,
                direct=m.internal,
                rr_client=m.reflector_client,
                rr_cluster_id=router.cluster_id if m.reflector_client else None,
                filter=mesh_filter,
                next_hop_self=m.internal,
            )
            for m in router.mesh
        ),
        upstreams=tuple(
            UpstreamProtocol(
                name=bird_symbol(u.name, "upstream_"),
                description=f"upstream {u.name}",
                local_address=u.local_address,
                local_asn=router.asn,
                neighbor_address=u.address,
                neighbor_asn=u.asn,
            )
            for u in router.upstreams
        ),
        upstream_options=replace(_session_options(plan), password=None, bfd=None),
    )


def render_router_bird_conf(plan: SessionPlan, router: RouterPlan) -> str:
    """The router as BIRD: one eBGP session per node, BGP routes exported to the kernel, nothing to nodes."""
    return render_template("bird-router.conf.j2", router_bird_config(plan, router))
