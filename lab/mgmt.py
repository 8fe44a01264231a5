"""Hosts mode's management network: the one change the lab makes in the root namespace.

::

    root namespace                        cbgp-<id>-mgmt               host namespaces
    cbgpm-<id> 198.18.0.1/24 ==veth== uplink -[br0]- mp-0 ==veth== mgmt0 198.18.0.2/24   router
                                                   - mp-1 ==veth== mgmt0 198.18.0.11/24  node1

One veth in the root namespace (no IPv6 address, so its connected route is the only route the lab
adds there), checked free before it is made and deleted on teardown; a bridge in the management
namespace; one port per SSH host. No host routes anything through it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from ipaddress import IPv4Network, ip_network
from pathlib import Path

from lab import netns
from lab.hostsplan import HOST_MGMT_IF, ROOT_LINK_PREFIX, HostsPlan
from lab.shell import LabError, run

MGMT_BRIDGE = "br0"
SHIPPED_SUBNET = IPv4Network("198.18.0.0/24")  # the ssh.host /24 of every stack the project ships
MGMT_UPLINK = "uplink"


def root_conflicts(subnet: IPv4Network, link: str) -> list[str]:
    """Why the management veth cannot go into the root namespace (empty: it can)."""
    problems = []
    for route in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]"):
        dst = route.get("dst", "")
        if dst == "default":
            continue
        with contextlib.suppress(ValueError):
            if ip_network(dst if "/" in dst else f"{dst}/32", strict=False).overlaps(subnet):
                where = f"dev {route.get('dev', '?')} table {route.get('table', 'main')}"
                problems.append(f"the root namespace already routes {dst} ({where})")
    if root_link_exists(link):
        problems.append(f"a link named {link} already exists in the root namespace")
    return problems


def management_stack(stack_file: Path, directory: Path) -> Path:
    """``stack_file`` when its management /24 (198.18.0.0/24, the shipped stacks') is free here;
    otherwise a copy under ``directory`` with every ssh.host moved to a free /24 of 198.18.0.0/15 (so
    a second lab, or one a killed run left behind, never blocks this one)."""
    if not root_conflicts(SHIPPED_SUBNET, f"{ROOT_LINK_PREFIX}unused"):
        return stack_file
    text = stack_file.read_text()
    for third in range(100, 200):
        if not root_conflicts(IPv4Network(f"198.18.{third}.0/24"), f"{ROOT_LINK_PREFIX}unused"):
            moved = directory / "management-moved" / stack_file.name
            moved.parent.mkdir(parents=True, exist_ok=True)
            moved.write_text(text.replace("host: 198.18.0.", f"host: 198.18.{third}."))
            return moved
    raise LabError("no free /24 in 198.18.100.0-198.18.199.0 for the management network")


# Where the tests' control planes take a /30 link from the root namespace (one per run).
LINK_POOL = IPv4Network("198.18.254.0/24")


def free_link_network(pool: IPv4Network = LINK_POOL) -> IPv4Network:
    """The first /30 of ``pool`` the root namespace neither routes nor addresses, for a test's
    management link to a control plane: two runs on one machine (or one a killed run left behind)
    each take their own."""
    for candidate in pool.subnets(new_prefix=30):
        if not root_conflicts(candidate, f"{ROOT_LINK_PREFIX}unused"):
            return candidate
    raise LabError(f"no free /30 in {pool} for a management link in the root namespace")


def root_link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def delete_root_link(name: str) -> bool:
    """Delete the lab's management veth from the root namespace (its peer goes with it)."""
    if not name.startswith(ROOT_LINK_PREFIX) or not root_link_exists(name):
        return False
    run(["ip", "link", "del", "dev", name])
    return True


def check_root_free(hp: HostsPlan) -> None:
    conflicts = root_conflicts(hp.subnet, hp.root_link)
    if conflicts:
        raise LabError(f"hosts mode needs {hp.subnet} free in the root namespace: " + "; ".join(conflicts))


def build_management(
    hp: HostsPlan,
    record_namespace: Callable[[str], None],
    record_link: Callable[[str], None],
    control_plane_netns: str | None = None,
) -> None:
    """The management namespace with its bridge, the root namespace's veth into it (.1 of the /24),
    and a port with ``ssh.host`` per host (and the control plane's management address in
    ``control_plane_netns``); each is recorded before it is made."""
    mgmt = hp.mgmt_netns
    check_root_free(hp)  # checked again right before the veth is added
    netns.add(mgmt, record_namespace)
    netns.ip(mgmt, "link", "add", MGMT_BRIDGE, "type", "bridge")
    netns.ip(mgmt, "link", "set", MGMT_BRIDGE, "up")
    record_link(hp.root_link)
    run(["ip", "link", "add", hp.root_link, "type", "veth", "peer", "name", MGMT_UPLINK, "netns", mgmt])
    # No IPv6 link-local address (and so no fe80::/64 route) on the root namespace's end.
    run(["ip", "link", "set", "dev", hp.root_link, "addrgenmode", "none"], check=False)
    netns.ip(mgmt, "link", "set", MGMT_UPLINK, "master", MGMT_BRIDGE, "up")
    run(["ip", "addr", "add", str(hp.gateway), "dev", hp.root_link])
    run(["ip", "link", "set", "dev", hp.root_link, "up"])
    ports = [(h.netns, h.address) for h in hp.hosts]
    if hp.control_plane is not None and control_plane_netns is not None:
        ports.append((control_plane_netns, hp.control_plane))
    for index, (host_netns, address) in enumerate(ports):
        port = f"mp-{index}"
        netns.ip(mgmt, "link", "add", port, "type", "veth", "peer", "name", HOST_MGMT_IF, "netns", host_netns)
        netns.ip(mgmt, "link", "set", port, "master", MGMT_BRIDGE, "up")
        netns.ip(host_netns, "addr", "add", f"{address}/{hp.subnet.prefixlen}", "dev", HOST_MGMT_IF)
        netns.ip(host_netns, "link", "set", HOST_MGMT_IF, "up")
