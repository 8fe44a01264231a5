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
from pathlib import Path

from lab.process import running
from lab.shell import LabError, log, run
from lab.topology import Segment, Topology
from lab.wait import Budget, wait_until

NETNS_DIR = Path("/run/netns")
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


def _segment(topology: Topology, index: int, segment: Segment) -> None:
    router = topology.router_netns
    if segment.loopback:
        ip(router, "addr", "add", str(segment.address), "dev", "lo")
        return
    if segment.bridged:
        # Several hosts (or none) on one subnet: the router's interface is a bridge.
        ip(router, "link", "add", segment.ifname, "type", "bridge")
        for j, member in enumerate(segment.members):
            port = f"lp{index}-{j}"
            ip(router, "link", "add", port, "type", "veth", "peer", "name", member.ifname, "netns", member.netns)
            ip(router, "link", "set", port, "master", segment.ifname, "up")
    else:
        member = segment.members[0]
        ip(router, "link", "add", segment.ifname, "type", "veth", "peer", "name", member.ifname, "netns", member.netns)
    ip(router, "addr", "add", str(segment.address), "dev", segment.ifname)
    ip(router, "link", "set", segment.ifname, "up")
    for member in segment.members:
        ip(member.netns, "addr", "add", str(member.address), "dev", member.ifname)
        ip(member.netns, "link", "set", member.ifname, "up")


def build(topology: Topology, record: Callable[[str], None], router_sysctl: Path | None) -> None:
    """Create every namespace (recorded first), link and address; apply the router's sysctl file.

    ``router_sysctl`` None (hosts mode): the program's own sysctl activation sets the router up.
    """
    for name in topology.namespaces:
        add(name, record)
    for index, segment in enumerate(topology.segments):
        _segment(topology, index, segment)
    for node in topology.nodes:
        ip(node.netns, "route", "add", "default", "via", str(node.gateway))
        # No dummy links on this kernel; Cilium builds cilium_host as a veth pair too.
        ip(node.netns, "link", "add", "cilium_host", "type", "veth", "peer", "name", "cilium_net")
        ip(node.netns, "link", "set", "cilium_net", "up")
        ip(node.netns, "link", "set", "cilium_host", "up")
        ip(node.netns, "addr", "add", f"{node.pod_ip}/32", "dev", "cilium_host")
        for lb_ip in node.lb_ips:
            # The node answers for the LB IPs it announces, as Cilium's service load balancer does.
            ip(node.netns, "addr", "add", f"{lb_ip}/32", "dev", "lo")
    client = topology.client
    ip(client.netns, "route", "add", "default", "via", str(client.gateway))
    if topology.control_plane is not None:
        ip(topology.control_plane.netns, "route", "add", "default", "via", str(topology.control_plane.gateway))
    if router_sysctl is None:
        return
    # The program's own sysctl file (the seed's list: forwarding on, IPv6 off); -e: skip absent keys.
    run(["sysctl", "-q", "-e", "-p", str(router_sysctl)], netns=topology.router_netns)
    forwarding = run(["cat", "/proc/sys/net/ipv4/ip_forward"], netns=topology.router_netns).stdout.strip()
    if forwarding != "1":
        raise LabError(f"net.ipv4.ip_forward is {forwarding!r} in {topology.router_netns} after {router_sysctl}")


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
