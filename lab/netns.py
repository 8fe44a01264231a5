"""Build the topology in network namespaces, and take namespaces down again.

Everything runs inside the lab's own namespaces (``ip -n NS ...``): veth pairs are created from the
router's namespace straight into a host's, so the root namespace never sees a lab link, address or
route.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

from lab.process import running
from lab.shell import LabError, log, run
from lab.topology import Member, Segment, Topology
from lab.wait import Budget, wait_until

NETNS_DIR = Path("/run/netns")
# ECMP over gateways that may die: skip a failed neighbour; notice it within a few seconds.
NEIGHBOUR_LIVENESS = (
    ("base_reachable_time_ms", 2000),
    ("delay_first_probe_time", 1),
    ("retrans_time_ms", 500),
    ("ucast_solicit", 2),
)
EMPTY = Budget("namespace empty", 10)


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def ip(netns: str, *args: str) -> None:
    run(["ip", "-n", netns, *args])


def add(name: str, record: Callable[[str], None]) -> None:
    """Create the lab namespace ``name`` (recorded first) with its loopback up; refuse an existing one."""
    if exists(name):
        raise LabError(f"namespace {name} already exists: another lab run with the same id?")
    record(name)
    run(["ip", "netns", "add", name])
    ip(name, "link", "set", "lo", "up")


def _address(member: Member) -> None:
    ip(member.netns, "addr", "add", str(member.address), "dev", member.ifname)
    ip(member.netns, "link", "set", member.ifname, "up")


def _segment(topology: Topology, index: int, segment: Segment) -> None:
    if segment.switched:
        # Several routers on one subnet: a bridge in the switch namespace, every host a port on it.
        switch = topology.switch_netns
        assert switch is not None, "a switched segment means a switch namespace"
        bridge = f"br{index}"
        ip(switch, "link", "add", bridge, "type", "bridge")
        ip(switch, "link", "set", bridge, "up")
        for j, member in enumerate((*segment.routers, *segment.members)):
            port = f"sp{index}-{j}"
            ip(switch, "link", "add", port, "type", "veth", "peer", "name", member.ifname, "netns", member.netns)
            ip(switch, "link", "set", port, "master", bridge, "up")
            _address(member)
        return
    (router,) = segment.routers
    if segment.loopback:
        ip(router.netns, "addr", "add", str(router.address), "dev", "lo")
        return
    if segment.bridged:
        # Several hosts (or none) on one subnet: the router's interface is a bridge.
        ip(router.netns, "link", "add", router.ifname, "type", "bridge")
        for j, member in enumerate(segment.members):
            port = f"lp{index}-{j}"
            ip(router.netns, "link", "add", port, "type", "veth", "peer", "name", member.ifname, "netns", member.netns)
            ip(router.netns, "link", "set", port, "master", router.ifname, "up")
    else:
        member = segment.members[0]
        ip(
            router.netns,
            "link",
            "add",
            router.ifname,
            "type",
            "veth",
            "peer",
            "name",
            member.ifname,
            "netns",
            member.netns,
        )
    _address(router)
    for member in segment.members:
        _address(member)


def _default_route(netns: str, ifname: str, gateways: tuple[IPv4Address, ...]) -> None:
    """One gateway, or ECMP over several: ``fib_multipath_use_neigh`` skips a gateway whose neighbour
    entry failed, and short neighbour timers let that happen within seconds of a router going down
    (standing in for the first-hop redundancy a redundant pair offers its hosts)."""
    if len(gateways) == 1:
        ip(netns, "route", "add", "default", "via", str(gateways[0]))
        return
    run(["sysctl", "-q", "-w", "net.ipv4.fib_multipath_use_neigh=1"], netns=netns)
    for key, value in NEIGHBOUR_LIVENESS:
        # Slashes: an interface name may hold a dot.
        run(["sysctl", "-q", "-w", f"net/ipv4/neigh/{ifname}/{key}={value}"], netns=netns)
    hops = [arg for gateway in gateways for arg in ("nexthop", "via", str(gateway))]
    ip(netns, "route", "add", "default", *hops)


def build(
    topology: Topology, record: Callable[[str], None], router_sysctl: Path | None, *, cilium_host: bool = True
) -> None:
    """Create every namespace (recorded first), link and address; apply the routers' sysctl file.

    ``router_sysctl`` None (hosts mode): the program's own sysctl activation sets the router up.
    ``cilium_host`` False: the nodes get no stand-in ``cilium_host`` (real cilium-agents make theirs).
    """
    for name in topology.namespaces:
        add(name, record)
    for index, segment in enumerate(topology.segments):
        _segment(topology, index, segment)
    for node in topology.nodes:
        _default_route(node.netns, node.ifname, node.gateways)
        if not cilium_host:
            continue
        # No dummy links on this kernel; Cilium builds cilium_host as a veth pair too.
        ip(node.netns, "link", "add", "cilium_host", "type", "veth", "peer", "name", "cilium_net")
        ip(node.netns, "link", "set", "cilium_net", "up")
        ip(node.netns, "link", "set", "cilium_host", "up")
        ip(node.netns, "addr", "add", f"{node.pod_ip}/32", "dev", "cilium_host")
        for lb_ip in node.lb_ips:
            # The node answers for the LB IPs it announces, as Cilium's service load balancer does.
            ip(node.netns, "addr", "add", f"{lb_ip}/32", "dev", "lo")
    client = topology.client
    if client.gateways:
        _default_route(client.netns, client.ifname, client.gateways)
    if topology.control_plane is not None:
        ip(topology.control_plane.netns, "route", "add", "default", "via", str(topology.control_plane.gateway))
    if router_sysctl is None:
        return
    for router in topology.routers:
        # The program's own sysctl file (the seed's list: forwarding on, IPv6 off); -e: skip absent keys.
        run(["sysctl", "-q", "-e", "-p", str(router_sysctl)], netns=router.netns)
        forwarding = run(["cat", "/proc/sys/net/ipv4/ip_forward"], netns=router.netns).stdout.strip()
        if forwarding != "1":
            raise LabError(f"net.ipv4.ip_forward is {forwarding!r} in {router.netns} after {router_sysctl}")


def pids_in(name: str) -> list[int]:
    if not exists(name):
        return []
    out = run(["ip", "netns", "pids", name], check=False).stdout
    return [int(p) for p in out.split()]


def delete(name: str) -> None:
    """Kill what still runs inside the lab namespace ``name`` (only lab processes can be there), delete it.

    Killing repeats until the namespace is empty: a watchdog (watchfrr) may respawn a daemon once.
    """
    if not exists(name):
        return

    def empty() -> tuple[None, list[str]]:
        left = pids_in(name)
        for pid in left:
            log.debug("killing %d left in %s", pid, name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return None, [f"processes {left} still in {name}"] if left else []

    wait_until(empty, EMPTY, f"namespace {name} empty")
    run(["ip", "netns", "del", name])


def comm_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def stop_gracefully(names: list[str], first: tuple[str, ...], budget: Budget) -> list[str]:
    """SIGTERM what runs inside the lab namespaces ``names`` (the ``first`` commands before the rest,
    e.g. FRR's watchfrr, which would restart what stops beside it) and wait up to ``budget``;
    :func:`delete` kills whatever is still there. Returns "comm (pid)" of each signalled process."""
    signalled: list[str] = []
    everyone = [(pid, comm_of(pid)) for name in names for pid in pids_in(name)]
    for group in ([p for p in everyone if p[1] in first], [p for p in everyone if p[1] not in first]):
        for pid, comm in group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                signalled.append(f"{comm} ({pid})")

        def gone(group: list[tuple[int, str | None]] = group) -> tuple[None, list[str]]:
            left = [f"{c} ({p})" for p, c in group if running(p)]
            return None, [f"still running: {', '.join(left)}"] if left else []

        with contextlib.suppress(LabError):
            wait_until(gone, budget, "processes in the lab namespaces stop on SIGTERM")
    return signalled
