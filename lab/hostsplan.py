"""Hosts mode's plan (pure): the SSH hosts of a stack and its management network, or why not.

``python -m lab up --hosts ssh`` makes every router and every node an SSH host that the real
program configures (``lab.sshd``), reached from the root namespace over one management veth
(``lab.mgmt``); a cluster lab's control plane gets an address there too. A router's host is named
as the topology names it: ``router`` for a stack's one ``router``, the router's name with
``routers``. Everything hosts mode cannot play is refused here, before anything exists: without a
cluster, a method whose nodes are configured through Kubernetes; a cluster lab with several
routers; a host without an IPv4 ``ssh.host``, hosts over several /24s, a /24 that is a lab data
subnet or the machine's, reserved or shared addresses, a login other than root.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_network

from cilium_bgp.config import RouterSettings, Ssh
from cilium_bgp.renderers.scripts import CONFIG_PATHS
from lab.plan import LabPlan, StackUnusable
from lab.topology import RouterHost, netns_name

MGMT_HOST = "mgmt"  # the management namespace: cbgp-<id>-mgmt
HOST_MGMT_IF = "mgmt0"
ROOT_LINK_PREFIX = "cbgpm-"
# The machine's own subnet (its eth0, the seed's LoadBalancer pool): never a management subnet.
MACHINE_SUBNETS = (IPv4Network("192.0.2.0/24"),)
SYSCTL_PATH = CONFIG_PATHS["sysctl"]


@dataclass(frozen=True)
class SshHost:
    """One lab host the program reaches over SSH."""

    name: str  # a router's host ("router", or its name with ``routers``) or the node's name
    netns: str
    address: IPv4Address  # its ssh.host, on the management network
    port: int
    user: str
    files: tuple[str, ...]  # what the program writes there (checked by ``inspect``)


@dataclass(frozen=True)
class HostsPlan:
    subnet: IPv4Network  # the /24 of every ssh.host
    gateway: IPv4Interface  # the root namespace's end: the .1 of ``subnet``
    root_link: str  # the only link in the root namespace
    mgmt_netns: str
    hosts: tuple[SshHost, ...]
    # A cluster lab: the control plane's management address, where the Pulumi engine (and the
    # lab) reach its API server; the highest address of ``subnet`` no SSH host has.
    control_plane: IPv4Address | None = None


def _address(text: str | None, where: str) -> IPv4Address:
    if not text:
        raise StackUnusable(f"hosts mode: {where}.ssh.host is not set (every host the program configures needs one)")
    try:
        address = ip_address(text)
    except ValueError:
        raise StackUnusable(f"hosts mode: {where}.ssh.host {text!r} is not an IPv4 address") from None
    if not isinstance(address, IPv4Address):
        raise StackUnusable(f"hosts mode: {where}.ssh.host {text!r} is not an IPv4 address")
    return address


def _routers(plan: LabPlan) -> list[tuple[str, RouterHost, RouterSettings]]:
    """Every router: its config key (``router``, ``routers[i]``), its lab host, its settings."""
    return [(key, host, r) for (key, r), host in zip(plan.cfg.all_routers, plan.topology.routers, strict=True)]


def _data_subnets(plan: LabPlan) -> list[IPv4Network]:
    cfg = plan.cfg
    subnets = [i.address.network for _, _, r in _routers(plan) for i in r.interfaces]
    subnets += [n.address.network for n in cfg.nodes]
    subnets += list(cfg.cilium.cluster_pool_ipv4_pod_cidr_list) + list(cfg.lb_cidrs)
    subnets += [c for cidrs in plan.pod_cidrs.values() for c in cidrs]
    subnets += [s.network for s in plan.topology.segments]
    subnets.append(plan.topology.client.address.network)
    return subnets


def _ssh_hosts(plan: LabPlan) -> list[SshHost]:
    cfg = plan.cfg
    # (config key, host name, its ssh settings, its namespace, the program's files there)
    wanted: list[tuple[str, str, Ssh, str, tuple[str, ...]]] = [
        (key, host.host, r.ssh, host.netns, (CONFIG_PATHS[r.daemon], SYSCTL_PATH)) for key, host, r in _routers(plan)
    ]
    # With any other method the program configures the nodes through Kubernetes only.
    for node in cfg.nodes if cfg.method == "bird" else ():
        netns = plan.topology.node(node.name).netns
        wanted.append((f"nodes[{node.name}]", node.name, node.ssh, netns, (CONFIG_PATHS["bird"],)))
    hosts: list[SshHost] = []
    for where, name, ssh, netns, files in wanted:
        user = ssh.user or cfg.ssh.user
        if user != "root":
            raise StackUnusable(f"hosts mode: {where} logs in as {user!r}; the lab's hosts authorise root only")
        hosts.append(SshHost(name, netns, _address(ssh.host, where), ssh.port or cfg.ssh.port, user, files))
    return hosts


def plan_hosts(plan: LabPlan) -> HostsPlan:
    """The management network and SSH hosts for ``plan``; refuses what hosts mode cannot play."""
    cfg = plan.cfg
    if cfg.method != "bird" and not plan.cluster:
        raise StackUnusable(
            f"hosts mode plays the hosts the program configures over SSH: the routers and BIRD nodes "
            f"(method 'bird'); method {cfg.method!r} configures its nodes through Kubernetes"
        )
    if plan.cluster and len(plan.topology.routers) > 1:
        raise StackUnusable(
            "hosts mode: a cluster lab models one router (`router`), not several (`routers`); "
            "run this stack without Kubernetes (kubernetes.enabled: false) or in the lab's own daemons mode"
        )
    hosts = _ssh_hosts(plan)
    taken = {i.name for _, _, r in _routers(plan) for i in r.interfaces} | {n.interface or "eth0" for n in cfg.nodes}
    if HOST_MGMT_IF in taken:
        raise StackUnusable(f"hosts mode: interface name {HOST_MGMT_IF} is the lab's management port; rename it")
    subnets = {ip_network(f"{h.address}/24", strict=False) for h in hosts}
    if len(subnets) != 1:
        listed = ", ".join(f"{h.name} {h.address}" for h in hosts)
        raise StackUnusable(f"hosts mode: every ssh.host must be in one /24 (the management network): {listed}")
    subnet = subnets.pop()
    assert isinstance(subnet, IPv4Network)
    clash = [str(s) for s in [*_data_subnets(plan), *MACHINE_SUBNETS] if s.overlaps(subnet)]
    if clash:
        raise StackUnusable(
            f"hosts mode: the management network {subnet} (the ssh.host addresses) overlaps "
            f"{', '.join(sorted(set(clash)))}: it must not be a lab data subnet or the machine's"
        )
    mgmt_netns = netns_name(plan.lab_id, MGMT_HOST)
    if mgmt_netns in plan.topology.namespaces:
        raise StackUnusable(f"hosts mode: a host named {MGMT_HOST!r} would take the management namespace; rename it")
    gateway = IPv4Interface(f"{subnet[1]}/{subnet.prefixlen}")
    seen: dict[IPv4Address, str] = {}
    for host in hosts:
        if host.address in (subnet.network_address, subnet.broadcast_address, gateway.ip):
            raise StackUnusable(
                f"hosts mode: {host.name}'s ssh.host {host.address} is reserved ({gateway.ip} is the machine's end)"
            )
        if host.address in seen:
            raise StackUnusable(f"hosts mode: {host.name} and {seen[host.address]} share ssh.host {host.address}")
        seen[host.address] = host.name
    control_plane = None
    if plan.cluster:
        control_plane = next(a for a in reversed(list(subnet.hosts())) if a not in seen and a != gateway.ip)
    return HostsPlan(
        subnet=subnet,
        gateway=gateway,
        root_link=f"{ROOT_LINK_PREFIX}{plan.lab_id}",
        mgmt_netns=mgmt_netns,
        hosts=tuple(hosts),
        control_plane=control_plane,
    )
