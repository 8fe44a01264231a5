"""The lab's hosts and links, derived from a stack config (pure: nothing is created here).

::

                         client (default via the router)
                           |  a router subnet no node uses (e.g. 192.168.121.0/24)
     node1 --- eth1 -- [ router ] -- eth2 --- node2
     10.0.1.10/24      10.0.1.2   10.0.2.2      10.0.2.10/24
     cilium_host: first pod IP (172.31.254.1), lo: the LB IPs the node announces

One network namespace per host, named ``cbgp-<lab id>-<host>``. Each router interface of the
stack becomes a veth pair to the single host on its subnet, or a bridge when several hosts (or
none) share it; one named ``lo`` is the router's loopback. Nodes route everything via the router
address on their subnet. The client takes the highest free address of the first router subnet no
node uses and that has one to spare (not a /32 loopback), else a link of its own (``lab-client``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from cilium_bgp.config import RouterInterface, StackConfig
from lab.shell import LabError

PREFIX = "cbgp"
IFNAME_MAX = 15  # IFNAMSIZ - 1
# Used for the client only when every router subnet already holds nodes (TEST-NET-2, TEST-NET-3).
SPARE_CLIENT_SUBNETS = (IPv4Network("198.51.100.0/24"), IPv4Network("203.0.113.0/24"))
RESERVED_HOST_NAMES = ("router", "client", "cp")


@dataclass(frozen=True)
class Member:
    """A host's end of a router subnet."""

    host: str
    netns: str
    ifname: str
    address: IPv4Interface


@dataclass(frozen=True)
class Segment:
    """One router interface and the hosts on its subnet."""

    ifname: str
    address: IPv4Interface
    members: tuple[Member, ...]

    @property
    def loopback(self) -> bool:
        """The router's own ``lo`` (e.g. a /32 holding the router-id): the address goes on it."""
        return self.ifname == "lo"

    @property
    def bridged(self) -> bool:
        return len(self.members) != 1 and not self.loopback


@dataclass(frozen=True)
class NodeHost:
    name: str
    netns: str
    ifname: str
    address: IPv4Interface
    gateway: IPv4Address
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
    gateway: IPv4Address


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
    router_netns: str
    segments: tuple[Segment, ...]
    nodes: tuple[NodeHost, ...]
    client: ClientHost
    control_plane: ControlPlaneHost | None = None

    @property
    def namespaces(self) -> list[str]:
        names = [self.router_netns, *(n.netns for n in self.nodes), self.client.netns]
        return names + ([self.control_plane.netns] if self.control_plane else [])

    def node(self, name: str) -> NodeHost:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def netns_of(self, host: str) -> str:
        """The namespace of ``host``: "router", "client" or a node name."""
        if host == "router":
            return self.router_netns
        if host == "client":
            return self.client.netns
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
    taken = {i.address.ip: "the router's" for i in cfg.router.interfaces} | {n.ip: f"{n.name}'s" for n in cfg.nodes}
    if address in taken:
        raise StackUnusable(
            f"cilium.k8sServiceHost {address} is {taken[address]} address: the cluster lab runs the control "
            "plane on a host of its own there; pick a free address on a router subnet"
        )
    for iface in cfg.router.interfaces:
        if address in iface.address.network and iface.address.network.prefixlen < 31 and iface.name != "lo":
            return iface
    raise StackUnusable(
        f"cilium.k8sServiceHost {address} is on no router subnet (router.interfaces): the nodes reach the API "
        "server through the router, so the control plane needs an address on one of its subnets"
    )


def build_topology(
    cfg: StackConfig,
    lab_id: str,
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips_by_node: Mapping[str, Sequence[IPv4Address]],
    control_plane: IPv4Address | None = None,
) -> Topology:
    """Hosts, addresses and links for ``cfg``; ``lb_ips_by_node``: the LB IPs each node answers for.

    ``control_plane`` (a cluster lab): the API server's address, a host of its own on that router
    subnet.
    """
    cp_iface = _control_plane_interface(cfg, control_plane) if control_plane is not None else None
    cp_host: ControlPlaneHost | None = None
    router_netns = netns_name(lab_id, "router")
    node_netns = {
        n.name: netns_name(lab_id, f"node-{n.name}" if n.name in RESERVED_HOST_NAMES else n.name) for n in cfg.nodes
    }
    client_netns = netns_name(lab_id, "client")
    segments: list[Segment] = []
    nodes: list[NodeHost] = []
    client: ClientHost | None = None
    taken = {i.address.ip for i in cfg.router.interfaces} | {n.ip for n in cfg.nodes}
    taken |= {control_plane} if control_plane is not None else set()
    for index, iface in enumerate(cfg.router.interfaces):
        ifname = _check_ifname(iface.name or f"eth{index}", f"router.interfaces[{index}]")
        members: list[Member] = []
        for i, node in enumerate(cfg.nodes):
            if cfg.node_subnet(node) is not iface:
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
                    gateway=iface.address.ip,
                    pod_cidrs=cidrs,
                    lb_ips=tuple(lb_ips_by_node.get(node.name, ())),
                )
            )
        if members and ifname == "lo":
            raise LabError(f"router.interfaces[{index}]: lo is the router's loopback; no node can sit on it")
        free = _client_address(iface.address.network, taken) if not members and client is None else None
        if free is not None:
            address = IPv4Interface(f"{free}/{iface.address.network.prefixlen}")
            client = ClientHost(client_netns, "eth0", address, iface.address.ip)
            members.append(Member("client", client_netns, "eth0", address))
        if iface is cp_iface and control_plane is not None:
            address = IPv4Interface(f"{control_plane}/{iface.address.network.prefixlen}")
            cp_host = ControlPlaneHost(netns_name(lab_id, "cp"), "eth0", address, iface.address.ip)
            members.append(Member("cp", cp_host.netns, "eth0", address))
        segments.append(Segment(ifname, iface.address, tuple(members)))
    if client is None:
        used = [i.address.network for i in cfg.router.interfaces]
        used += list(cfg.cilium.cluster_pool_ipv4_pod_cidr_list) + cfg.lb_cidrs
        spare = next((s for s in SPARE_CLIENT_SUBNETS if not any(s.overlaps(u) for u in used)), None)
        if spare is None:
            raise LabError("every router subnet holds nodes and no spare subnet is free for the client")
        hosts = list(spare.hosts())
        router_address = IPv4Interface(f"{hosts[0]}/{spare.prefixlen}")
        address = IPv4Interface(f"{hosts[-1]}/{spare.prefixlen}")
        client = ClientHost(client_netns, "eth0", address, router_address.ip)
        segments.append(Segment("lab-client", router_address, (Member("client", client_netns, "eth0", address),)))
    nodes.sort(key=lambda n: [x.name for x in cfg.nodes].index(n.name))
    names = [router_netns, *(n.netns for n in nodes), client_netns, *([cp_host.netns] if cp_host else [])]
    if len(set(names)) != len(names):
        raise LabError(f"namespace names collide: {names}")
    return Topology(lab_id, router_netns, tuple(segments), tuple(nodes), client, cp_host)
