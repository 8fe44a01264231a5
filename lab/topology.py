"""The lab's hosts and links, derived from a stack config (pure: nothing is created here).

::

                         client (default via the router, or the stack's upstream peer)
                           |  a router subnet no node uses (e.g. 192.168.121.0/24)
     node1 --- eth1 -- [ router ] -- eth2 --- node2
     10.0.1.10/24      10.0.1.2   10.0.2.2      10.0.2.10/24
     cilium_host: first pod IP (172.31.254.1), lo: the LB IPs the node announces

One network namespace per host, named ``cbgp-<lab id>-<host>``: ``router`` for a stack's one
router, each router's name with ``routers``, each node's name, ``client``. Each subnet of the
routers becomes one link: a veth pair between a router and the single host on its subnet, or a
bridge when several hosts (or none) share it — in the router's namespace when one router has the
subnet, in the lab's ``switch`` namespace when several do (so that a router going down takes only
its own ports with it). An interface named ``lo`` is a router's loopback. Nodes route everything
via their subnet's routers (an ECMP default route over all of them). The client takes the address
of the stack's upstream peer (``routers[].upstreams``) when there is one, and then learns the
cluster's prefixes over BGP from each router that has it (``lab.upstream``); else the highest free
address of the first router subnet no node uses and that has one to spare (not a /32 loopback),
with a default route via that subnet's routers, else a link of its own (``lab-client``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from cilium_bgp.config import RouterInterface, RouterSettings, StackConfig
from cilium_bgp.plan import SessionPlan
from lab.shell import LabError

PREFIX = "cbgp"
IFNAME_MAX = 15  # IFNAMSIZ - 1
# Used for the client only when every router subnet already holds nodes (TEST-NET-2, TEST-NET-3).
SPARE_CLIENT_SUBNETS = (IPv4Network("198.51.100.0/24"), IPv4Network("203.0.113.0/24"))
SWITCH = "switch"
RESERVED_HOST_NAMES = ("router", "client", SWITCH, "cp")


@dataclass(frozen=True)
class Member:
    """A host's end of a subnet."""

    host: str
    netns: str
    ifname: str
    address: IPv4Interface


@dataclass(frozen=True)
class Segment:
    """One subnet: the routers' ends of it and the other hosts on it."""

    network: IPv4Network
    routers: tuple[Member, ...]
    members: tuple[Member, ...]

    @property
    def loopback(self) -> bool:
        """A router's own ``lo`` (e.g. a /32 holding the router-id): the address goes on it."""
        return len(self.routers) == 1 and self.routers[0].ifname == "lo"

    @property
    def switched(self) -> bool:
        """Several routers share the subnet: a bridge in the lab's switch namespace, a port each."""
        return len(self.routers) > 1

    @property
    def bridged(self) -> bool:
        """One router with several hosts (or none): its interface is a bridge."""
        return not self.switched and len(self.members) != 1 and not self.loopback


@dataclass(frozen=True)
class RouterHost:
    host: str  # "router" for a stack's one router, else the router's name
    name: str  # the router's name in the session plan
    netns: str


@dataclass(frozen=True)
class NodeHost:
    name: str
    netns: str
    ifname: str
    address: IPv4Interface
    gateways: tuple[IPv4Address, ...]
    pod_cidrs: tuple[IPv4Network, ...]
    lb_ips: tuple[IPv4Address, ...]

    @property
    def pod_ip(self) -> IPv4Address:
        """The node's "pod": the first host address of its first PodCIDR, on ``cilium_host``."""
        return next(self.pod_cidrs[0].hosts())


@dataclass(frozen=True)
class ClientHost:
    netns: str
    ifname: str
    address: IPv4Interface
    # Its default route (empty when it is the stack's upstream peer and learns routes over BGP).
    gateways: tuple[IPv4Address, ...]
    upstream: str | None  # the upstream peer's name it stands for


@dataclass(frozen=True)
class ControlPlaneHost:
    """The cluster's control plane (a cluster lab): its own host on a router subnet, at
    ``cilium.k8sServiceHost``, so the nodes reach the API server through the router as a real
    node reaches it."""

    netns: str
    ifname: str
    address: IPv4Interface
    gateway: IPv4Address


@dataclass(frozen=True)
class Topology:
    lab_id: str
    routers: tuple[RouterHost, ...]
    segments: tuple[Segment, ...]
    nodes: tuple[NodeHost, ...]
    client: ClientHost
    control_plane: ControlPlaneHost | None = None

    @property
    def switch_netns(self) -> str | None:
        return netns_name(self.lab_id, SWITCH) if any(s.switched for s in self.segments) else None

    @property
    def namespaces(self) -> list[str]:
        switch = [self.switch_netns] if self.switch_netns else []
        cp = [self.control_plane.netns] if self.control_plane else []
        return [*switch, *(r.netns for r in self.routers), *(n.netns for n in self.nodes), self.client.netns, *cp]

    @property
    def router_netns(self) -> str:
        """The namespace of a stack's one router (a cluster lab models one router)."""
        (router,) = self.routers
        return router.netns

    def router(self, host: str) -> RouterHost:
        return next(r for r in self.routers if r.host == host)

    def node(self, name: str) -> NodeHost:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def netns_of(self, host: str) -> str:
        """The namespace of ``host``: a router's host name, "client" or a node name."""
        if host == "client":
            return self.client.netns
        for router in self.routers:
            if router.host == host:
                return router.netns
        return self.node(host).netns


class StackUnusable(LabError):
    """The stack file is invalid, or asks for something the lab cannot build."""


def netns_name(lab_id: str, host: str) -> str:
    return f"{PREFIX}-{lab_id}-{host}"


def _check_ifname(name: str, where: str) -> str:
    if not name or len(name) > IFNAME_MAX or "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise LabError(f"{where}: interface name {name!r} is not usable (at most {IFNAME_MAX} characters, no '/')")
    return name


def _client_address(network: IPv4Network, taken: set[IPv4Address]) -> IPv4Address | None:
    """The highest address of ``network`` nobody holds; None when there is none (a router's /32
    loopback, a /31 point-to-point link)."""
    return next((a for a in reversed(list(network.hosts())) if a not in taken), None)


def _control_plane_interface(cfg: StackConfig, address: IPv4Address) -> RouterInterface:
    """The router subnet the control plane sits on at ``address`` (free, not the router's)."""
    taken = {i.address.ip: "a router's" for _, r in cfg.all_routers for i in r.interfaces} | {
        n.ip: f"{n.name}'s" for n in cfg.nodes
    }
    if address in taken:
        raise StackUnusable(
            f"cilium.k8sServiceHost {address} is {taken[address]} address: the cluster lab runs the control "
            "plane on a host of its own there; pick a free address on a router subnet"
        )
    for iface in (i for _, r in cfg.all_routers for i in r.interfaces):
        if address in iface.address.network and iface.address.network.prefixlen < 31 and iface.name != "lo":
            return iface
    raise StackUnusable(
        f"cilium.k8sServiceHost {address} is on no router subnet (routers' interfaces): the nodes reach the API "
        "server through the router, so the control plane needs an address on one of its subnets"
    )


def router_hosts(cfg: StackConfig, plan: SessionPlan, lab_id: str) -> tuple[RouterHost, ...]:
    if plan.form == "router":
        return (RouterHost("router", plan.routers[0].name, netns_name(lab_id, "router")),)
    # Names the lab gives its own hosts; nodes and routers share no name (validated).
    reserved = ("client", SWITCH)
    return tuple(
        RouterHost(r.name, r.name, netns_name(lab_id, f"router-{r.name}" if r.name in reserved else r.name))
        for r in plan.routers
    )


def _upstream(cfg: StackConfig) -> tuple[str, IPv4Address] | None:
    """The stack's upstream peer (name, address) the client stands for: the lab models one."""
    upstreams = {(u.name, u.address) for _, r in cfg.all_routers for u in r.upstreams}
    if len(upstreams) > 1:
        raise LabError(
            f"the stack has several upstream peers {sorted(str(a) for _, a in upstreams)}; the lab models one"
        )
    return upstreams.pop() if upstreams else None


def build_topology(
    cfg: StackConfig,
    plan: SessionPlan,
    lab_id: str,
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips_by_node: Mapping[str, Sequence[IPv4Address]],
    control_plane: IPv4Address | None = None,
) -> Topology:
    """Hosts, addresses and links for ``cfg``; ``lb_ips_by_node``: the LB IPs each node answers for.

    ``control_plane`` (a cluster lab): the API server's address, a host of its own on that router
    subnet.
    """
    cp_network = _control_plane_interface(cfg, control_plane).address.network if control_plane is not None else None
    cp_host: ControlPlaneHost | None = None
    routers = router_hosts(cfg, plan, lab_id)
    settings: list[tuple[str, RouterHost, RouterSettings]] = [
        (key, host, r) for (key, r), host in zip(cfg.all_routers, routers, strict=True)
    ]
    node_netns = {
        n.name: netns_name(lab_id, f"node-{n.name}" if n.name in RESERVED_HOST_NAMES else n.name) for n in cfg.nodes
    }
    client_netns = netns_name(lab_id, "client")
    upstream = _upstream(cfg)
    taken = {i.address.ip for _, _, r in settings for i in r.interfaces} | {n.ip for n in cfg.nodes}
    taken |= {control_plane} if control_plane is not None else set()
    # Each subnet once, in the order the routers list their interfaces, with every router's end of it.
    ends: dict[IPv4Network, list[Member]] = {}
    for key, host, router in settings:
        for index, iface in enumerate(router.interfaces):
            ifname = _check_ifname(iface.name or f"eth{index}", f"{key}.interfaces[{index}]")
            ends.setdefault(iface.address.network, []).append(Member(host.host, host.netns, ifname, iface.address))
    segments: list[Segment] = []
    nodes: list[NodeHost] = []
    client: ClientHost | None = None
    for network, router_ends in ends.items():
        members: list[Member] = []
        for i, node in enumerate(cfg.nodes):
            if node.address.network != network:
                continue
            node_if = _check_ifname(node.interface or "eth0", f"nodes[{i}].interface")
            members.append(Member(node.name, node_netns[node.name], node_if, node.address))
            cidrs = tuple(pod_cidrs.get(node.name, ()))
            if not cidrs:
                raise LabError(f"node {node.name} has no PodCIDR: the lab needs one for its pod address")
            nodes.append(
                NodeHost(
                    name=node.name,
                    netns=node_netns[node.name],
                    ifname=node_if,
                    address=node.address,
                    gateways=tuple(e.address.ip for e in router_ends),
                    pod_cidrs=cidrs,
                    lb_ips=tuple(lb_ips_by_node.get(node.name, ())),
                )
            )
        if members and any(e.ifname == "lo" for e in router_ends):
            raise LabError(f"{network}: lo is a router's loopback; no node can sit on it")
        if upstream is not None and upstream[1] in network and client is None:
            address = IPv4Interface(f"{upstream[1]}/{network.prefixlen}")
            client = ClientHost(client_netns, "eth0", address, (), upstream[0])
            members.append(Member("client", client_netns, "eth0", address))
        elif upstream is None and not members and client is None:
            free = _client_address(network, taken)
            if free is not None:
                address = IPv4Interface(f"{free}/{network.prefixlen}")
                client = ClientHost(client_netns, "eth0", address, tuple(e.address.ip for e in router_ends), None)
                members.append(Member("client", client_netns, "eth0", address))
        if network == cp_network and control_plane is not None:
            address = IPv4Interface(f"{control_plane}/{network.prefixlen}")
            cp_host = ControlPlaneHost(netns_name(lab_id, "cp"), "eth0", address, router_ends[0].address.ip)
            members.append(Member("cp", cp_host.netns, "eth0", address))
        segments.append(Segment(network, tuple(router_ends), tuple(members)))
    if client is None:
        if upstream is not None:
            raise LabError(f"upstream peer {upstream[1]} is on no router subnet")
        used = list(ends) + list(cfg.cilium.cluster_pool_ipv4_pod_cidr_list) + cfg.lb_cidrs
        spare = next((s for s in SPARE_CLIENT_SUBNETS if not any(s.overlaps(u) for u in used)), None)
        if spare is None:
            raise LabError("every router subnet holds nodes and no spare subnet is free for the client")
        hosts = list(spare.hosts())
        router_address = IPv4Interface(f"{hosts[0]}/{spare.prefixlen}")
        address = IPv4Interface(f"{hosts[-1]}/{spare.prefixlen}")
        client = ClientHost(client_netns, "eth0", address, (router_address.ip,), None)
        first = routers[0]
        segments.append(
            Segment(
                spare,
                (Member(first.host, first.netns, "lab-client", router_address),),
                (Member("client", client_netns, "eth0", address),),
            )
        )
    nodes.sort(key=lambda n: [x.name for x in cfg.nodes].index(n.name))
    topology = Topology(lab_id, routers, tuple(segments), tuple(nodes), client, cp_host)
    names = topology.namespaces
    if len(set(names)) != len(names):
        raise LabError(f"namespace names collide: {names}")
    return topology
