"""Hosts mode: the lab's router and nodes as SSH hosts that the real program configures.

``python -m lab up --hosts ssh`` builds the same namespaces, links and addresses as the daemons mode
but starts no routing daemon. Instead every host with an ``ssh.host`` (the router and the nodes)
becomes a small machine of its own::

    root namespace                        cbgp-<id>-mgmt               host namespaces
    cbgpm-<id> 198.18.0.1/24 ==veth== uplink -[br0]- mp-0 ==veth== mgmt0 198.18.0.2/24   router
                                                   - mp-1 ==veth== mgmt0 198.18.0.11/24  node1
                                                   - mp-2 ==veth== mgmt0 198.18.0.12/24  node2

- its own network namespace (the lab's), plus its own mount and UTS namespace: ``/etc`` and
  ``/var/log`` are copy-on-write views of the machine's (overlayfs, the upper layer in the
  workdir; a private copy when overlayfs refuses), ``/run``, ``/tmp`` and ``/var/tmp`` are
  private tmpfs, ``/root`` is a private tmpfs holding a fresh Debian root home (so a login
  shell does not pick up the machine's root dotfiles, e.g. a pyenv ``python3``), the hostname is
  the host's name;
- its own sshd listening on its ``ssh.host`` (host key generated per host, one client key per
  lab authorised for root), reached from the root namespace over one management veth.

The sshd is the anchor of the host's mount and UTS namespaces: ``nsenter --target <sshd pid>``
runs a command "on the host" (``python -m lab exec``), which is how ``verify`` reads the FRR or
BIRD that ``pulumi up`` started there. Everything else the machine has is shared: the binaries
under ``/usr``, ``/var/lib``, ``/dev``, the kernel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from lab.daemons import ProcessRecord, is_alive, record_process
from lab.netns import comm_of, pids_in
from lab.plan import LabPlan, StackUnusable
from lab.shell import LabError, log, run
from lab.state import LabState
from lab.topology import netns_name
from lab.wait import Budget, wait_until

MGMT_HOST = "mgmt"  # the management namespace: cbgp-<id>-mgmt
MGMT_BRIDGE = "br0"
MGMT_UPLINK = "uplink"
HOST_MGMT_IF = "mgmt0"
ROOT_LINK_PREFIX = "cbgpm-"
# The machine's own subnet (its eth0, the seed's LoadBalancer pool): never a management subnet.
MACHINE_SUBNETS = (IPv4Network("192.0.2.0/24"),)
SSHD = "/usr/sbin/sshd"
SSHD_READY = Budget("sshd ready (every host accepts an SSH login)", 20)
SSH_ATTEMPT_SECONDS = 5
ROUTING_DAEMONS = ("bird", "watchfrr", "zebra", "bgpd", "staticd", "bfdd", "mgmtd", "gobgpd")
# The files the program's scripts write (cilium_bgp.renderers.scripts.TARGETS, Debian paths).
CONFIG_PATHS = {"frr": "/etc/frr/frr.conf", "bird": "/etc/bird/bird.conf"}
SYSCTL_PATH = "/etc/sysctl.d/90-cilium-bgp.conf"
CLIENT_KEY = "ssh/id_ed25519"
KNOWN_HOSTS = "ssh/known_hosts"
HOSTS_JSON = "hosts.json"


@dataclass(frozen=True)
class SshHost:
    """One lab host the program reaches over SSH."""

    name: str  # "router" or the node's name
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

    def host(self, name: str) -> SshHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no SSH host {name!r} in this lab: {', '.join(h.name for h in self.hosts)}")


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


def _data_subnets(plan: LabPlan) -> list[IPv4Network]:
    cfg = plan.cfg
    subnets = [i.address.network for i in cfg.router.interfaces]
    subnets += [n.address.network for n in cfg.nodes]
    subnets += list(cfg.cilium.cluster_pool_ipv4_pod_cidr_list) + list(cfg.lb_cidrs)
    subnets += [c for cidrs in plan.pod_cidrs.values() for c in cidrs]
    subnets += [s.address.network for s in plan.topology.segments]
    subnets.append(plan.topology.client.address.network)
    return subnets


def plan_hosts(plan: LabPlan) -> HostsPlan:
    """The management network and SSH hosts for ``plan``; refuses what hosts mode cannot play."""
    cfg = plan.cfg
    if cfg.method != "bird":
        raise StackUnusable(
            f"hosts mode plays the hosts the program configures over SSH: the router and BIRD nodes "
            f"(method 'bird'); method {cfg.method!r} configures its nodes through Kubernetes"
        )
    router_files = (CONFIG_PATHS[cfg.router.daemon], SYSCTL_PATH)
    wanted = [("router", cfg.router.ssh, plan.topology.router_netns, router_files)]
    for node in cfg.nodes:
        wanted.append((node.name, node.ssh, plan.topology.node(node.name).netns, (CONFIG_PATHS["bird"],)))
    hosts: list[SshHost] = []
    for name, ssh, netns, files in wanted:
        where = "router" if name == "router" else f"nodes[{name}]"
        user = ssh.user or cfg.ssh.user
        if user != "root":
            raise StackUnusable(f"hosts mode: {where} logs in as {user!r}; the lab's hosts authorise root only")
        address = _address(ssh.host, where)
        hosts.append(SshHost(name, netns, address, ssh.port or cfg.ssh.port, user, files))
    taken = {i.name for i in cfg.router.interfaces} | {n.interface or "eth0" for n in cfg.nodes}
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
    return HostsPlan(
        subnet=subnet,
        gateway=gateway,
        root_link=f"{ROOT_LINK_PREFIX}{plan.lab_id}",
        mgmt_netns=netns_name(plan.lab_id, MGMT_HOST),
        hosts=tuple(hosts),
    )


# --- the root namespace: one veth, checked before and removed after ---


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
    if run(["ip", "link", "show", "dev", link], check=False).returncode == 0:
        problems.append(f"a link named {link} already exists in the root namespace")
    return problems


def root_link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def delete_root_link(name: str) -> bool:
    """Delete the lab's management veth from the root namespace (its peer goes with it)."""
    if not name.startswith(ROOT_LINK_PREFIX) or not root_link_exists(name):
        return False
    run(["ip", "link", "del", "dev", name])
    return True


def build_management(
    hp: HostsPlan, record_namespace: Callable[[str], None], record_link: Callable[[str], None]
) -> None:
    """The management namespace with its bridge, the root namespace's veth into it (.1 of the /24;
    its connected route is the root namespace's only new route), and a port with ``ssh.host`` per host.
    """
    mgmt = hp.mgmt_netns
    conflicts = root_conflicts(hp.subnet, hp.root_link)
    if conflicts:
        raise LabError(f"hosts mode needs {hp.subnet} free in the root namespace: " + "; ".join(conflicts))
    if (Path("/run/netns") / mgmt).exists():
        raise LabError(f"namespace {mgmt} already exists: another lab run with the same id?")
    record_namespace(mgmt)
    run(["ip", "netns", "add", mgmt])
    run(["ip", "-n", mgmt, "link", "set", "lo", "up"])
    run(["ip", "-n", mgmt, "link", "add", MGMT_BRIDGE, "type", "bridge"])
    run(["ip", "-n", mgmt, "link", "set", MGMT_BRIDGE, "up"])
    record_link(hp.root_link)
    run(["ip", "link", "add", hp.root_link, "type", "veth", "peer", "name", MGMT_UPLINK, "netns", mgmt])
    # No IPv6 link-local address (and so no fe80::/64 route) on the root namespace's end.
    run(["ip", "link", "set", "dev", hp.root_link, "addrgenmode", "none"], check=False)
    run(["ip", "-n", mgmt, "link", "set", MGMT_UPLINK, "master", MGMT_BRIDGE, "up"])
    run(["ip", "addr", "add", str(hp.gateway), "dev", hp.root_link])
    run(["ip", "link", "set", "dev", hp.root_link, "up"])
    for index, host in enumerate(hp.hosts):
        port = f"mp-{index}"
        run(["ip", "-n", mgmt, "link", "add", port, "type", "veth", "peer", "name", HOST_MGMT_IF, "netns", host.netns])
        run(["ip", "-n", mgmt, "link", "set", port, "master", MGMT_BRIDGE, "up"])
        run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/{hp.subnet.prefixlen}", "dev", HOST_MGMT_IF])
        run(["ip", "-n", host.netns, "link", "set", HOST_MGMT_IF, "up"])


# --- keys, sshd and the host's own mount and UTS namespaces ---


def _keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair at ``path`` (0600) and ``path``.pub; returns ``<type> <base64>``."""
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    path.chmod(0o600)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def client_key(workdir: Path, lab_id: str) -> str:
    (workdir / "ssh").mkdir(mode=0o700, exist_ok=True)
    (workdir / "ssh").chmod(0o700)
    return _keygen(workdir / CLIENT_KEY, f"cilium-bgp-lab-{lab_id}")


def sshd_config(lab_id: str, host: SshHost) -> str:
    return f"""\
# cilium-bgp lab {lab_id}: the sshd of host {host.name} ({host.netns}), written by `python -m lab up --hosts ssh`
ListenAddress {host.address}
Port {host.port}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers root
AcceptEnv PULUMI_* LANG
PrintMotd no
UseDNS no
X11Forwarding no
Subsystem sftp /usr/lib/openssh/sftp-server
"""


# Run by sh inside the host's network namespace, right after `unshare --mount --uts`; ends as sshd.
# $1: host name, $2: the host's directory in the workdir (views/, seed/).
HOST_INIT = r"""
set -eu
name=$1 dir=$2
view() {
  target=$1 at=$2
  mkdir -p "$at/upper" "$at/work"
  if err=$(mount -t overlay "cbgp-lab-$name" -o "lowerdir=$target,upperdir=$at/upper,workdir=$at/work" "$target" 2>&1)
  then
    echo "lab host $name: $target is copy-on-write (overlayfs, upper layer $at/upper)" >&2
  else
    echo "lab host $name: overlayfs on $target failed ($err); using a private copy in $at/copy" >&2
    mkdir -p "$at/copy"
    cp -a "$target/." "$at/copy/"
    mount --bind "$at/copy" "$target"
  fi
}
view /etc "$dir/views/etc"
view /var/log "$dir/views/var-log"
# Only this host's own host key and sshd config.
rm -f /etc/ssh/ssh_host_*
cp -a "$dir/seed/etc/." /etc/
# A root home of its own, as on a fresh Debian host, with the lab's key authorised.
mount -t tmpfs -o mode=0700,nosuid,nodev "cbgp-lab-root" /root
cp /usr/share/base-files/dot.bashrc /root/.bashrc 2>/dev/null || cp /etc/skel/.bashrc /root/.bashrc
cp /usr/share/base-files/dot.profile /root/.profile 2>/dev/null || cp /etc/skel/.profile /root/.profile
cp -a "$dir/seed/root/." /root/
chmod 0700 /root
# Let go of the copies of other mounts below what becomes private (the namespaces' /run/netns/*
# bind mounts would otherwise keep every lab's network namespace alive as long as this host).
awk '$2 ~ /^\/(run|tmp|var\/tmp)\// {print $2}' /proc/self/mounts | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=0755,nosuid,nodev "cbgp-lab-run" /run
mkdir -p /run/sshd /run/lock
mount -t tmpfs -o mode=1777,nosuid,nodev "cbgp-lab-tmp" /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev "cbgp-lab-tmp" /var/tmp
echo "$name" >/proc/sys/kernel/hostname
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
"""


def host_dir(workdir: Path, name: str) -> Path:
    return workdir / "hosts" / name


def prepare_host(workdir: Path, lab_id: str, host: SshHost, authorised: str) -> str:
    """A fresh host directory: the files copied into the host's /etc and /root, and its host key (returned)."""
    directory = host_dir(workdir, host.name)
    if directory.exists():
        # A previous lab's layers (the workdir held no lab: Lab.create checked): start clean.
        run(["rm", "-rf", "--one-file-system", str(directory)])
    etc, ssh_dir = directory / "seed" / "etc", directory / "seed" / "root" / ".ssh"
    (etc / "ssh").mkdir(parents=True)
    ssh_dir.mkdir(mode=0o700, parents=True)
    (directory / "views").mkdir()
    host_key = _keygen(etc / "ssh" / "ssh_host_ed25519_key", f"root@{host.name}")
    (etc / "ssh" / "sshd_config").write_text(sshd_config(lab_id, host))
    (etc / "hostname").write_text(host.name + "\n")
    keys = ssh_dir / "authorized_keys"
    keys.write_text(authorised + "\n")
    keys.chmod(0o600)
    return host_key


def start_sshd(workdir: Path, host: SshHost) -> int:
    """Start the host: its own mount and UTS namespace inside its network namespace, ending as sshd
    (``-D``: no fork, so the PID returned is sshd's; ``setsid``: Ctrl-C leaves it to the teardown)."""
    directory = host_dir(workdir, host.name)
    argv = ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--uts", "--propagation", "private"]
    argv += ["sh", "-c", HOST_INIT, "sh", host.name, str(directory)]
    logfile = shlex.quote(str(directory / "sshd.log"))
    script = f"setsid {shlex.join(argv)} </dev/null >>{logfile} 2>&1 & echo $!"
    return int(run(["sh", "-c", script]).stdout.strip())


def sshd_log_tail(workdir: Path, name: str, lines: int = 8) -> str:
    try:
        return "\n".join((host_dir(workdir, name) / "sshd.log").read_text().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def ssh_argv(workdir: Path, host: str, port: int, user: str = "root", known_hosts: Path | None = None) -> list[str]:
    """The OpenSSH client as a script would use it: the lab's key, only the pinned host keys
    (``known_hosts``, default the lab's ``ssh/known_hosts``)."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(workdir / CLIENT_KEY),
        "-o",
        f"UserKnownHostsFile={known_hosts or workdir / KNOWN_HOSTS}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"ConnectTimeout={SSH_ATTEMPT_SECONDS}",
        "-p",
        str(port),
        "-T",
        f"{user}@{host}",
    ]


def _known_host(host: SshHost) -> str:
    return str(host.address) if host.port == 22 else f"[{host.address}]:{host.port}"


def write_client_files(workdir: Path, hosts: Sequence[SshHost], host_keys: dict[str, str]) -> None:
    """``hosts.json`` (pulumi-command's connection per host) and ``ssh/known_hosts``."""
    known = "".join(f"{_known_host(h)} {host_keys[h.name]}\n" for h in hosts)
    (workdir / KNOWN_HOSTS).write_text(known)
    document = {
        h.name: {"host": str(h.address), "port": h.port, "user": h.user, "hostKey": host_keys[h.name]} for h in hosts
    }
    (workdir / HOSTS_JSON).write_text(json.dumps(document, indent=2) + "\n")


def wait_logins(workdir: Path, hosts: Sequence[SshHost], records: dict[str, ProcessRecord], since: float) -> float:
    """Wait until every host's sshd accepts a real login with the lab's key and pinned host key."""

    def ready(host: SshHost) -> float:
        def probe() -> tuple[None, list[str]]:
            if not is_alive(records[host.name]):
                raise LabError(f"the sshd of {host.name} exited:\n{sshd_log_tail(workdir, host.name)}")
            argv = [*ssh_argv(workdir, str(host.address), host.port, host.user), "true"]
            proc = run(argv, check=False, timeout=SSH_ATTEMPT_SECONDS + 5)
            said = proc.stderr.strip().splitlines()
            return None, [] if proc.returncode == 0 else [f"{host.name}: {said[-1] if said else proc.returncode}"]

        return wait_until(probe, SSHD_READY, f"the sshd of {host.name} accepts a login", since=since).elapsed

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return max(pool.map(ready, hosts))


def etc_view(pid: int) -> str:
    """How the host sees /etc: "overlay" (copy-on-write) or "copy"."""
    kind = "unknown"
    for line in Path(f"/proc/{pid}/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == "/etc":  # the last one is on top
            kind = "overlay" if fields[2] == "overlay" else "copy"
    return kind


# --- running commands on a host, and looking at it ---


def sshd_record(state: LabState, name: str) -> ProcessRecord:
    if name not in state.hosts:
        listed = ", ".join(state.hosts) or "none: not a hosts-mode lab (`up --hosts ssh`)"
        raise LabError(f"no SSH host {name!r} in lab {state.lab_id}; its hosts: {listed}")
    return state.process(f"{name}/sshd")


def enter_argv(state: LabState, name: str) -> list[str]:
    """The argv prefix that runs a command on host ``name``: its network, mount and UTS namespaces,
    entered through its sshd (checked to be the very process recorded)."""
    record = sshd_record(state, name)
    if not is_alive(record):
        raise LabError(f"the sshd of {name} ({record.pid}) is gone, and with it the host; run `down`, then `up`")
    return ["nsenter", f"--target={record.pid}", "--mount", "--uts", "--net", "--"]


def exec_on_host(state: LabState, name: str, argv: Sequence[str]) -> int:
    """Run ``argv`` on host ``name`` with this process's stdin, stdout and stderr; its exit status."""
    if not argv:
        raise LabError("exec: no command given (python -m lab exec --host NAME -- COMMAND ...)")
    full = [*enter_argv(state, name), *argv]
    log.debug("exec: %s", shlex.join(full))
    return subprocess.run(full, check=False).returncode


def _file_state(root: Path, path: str, upper: Path | None) -> dict[str, Any]:
    """Does the host see ``path``; its sha256; "host" when the host itself wrote it (the overlay's
    upper layer holds it), "machine" when it is the machine's file seen through the view."""
    target = root / path.lstrip("/")
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return {"exists": False}
    origin = None
    if upper is not None:
        origin = "host" if (upper / Path(path).relative_to("/etc")).is_file() else "machine"
    return {"exists": True, "sha256": hashlib.sha256(data).hexdigest(), "from": origin}


def inspect_hosts(state: LabState) -> dict[str, Any]:
    """Per host: its sshd, the program's files (exist, sha256) and the routing daemons running inside."""
    report: dict[str, Any] = {}
    for name, info in state.hosts.items():
        record = sshd_record(state, name)
        alive = is_alive(record)
        root = Path(f"/proc/{record.pid}/root")
        upper = host_dir(Path(state.workdir), name) / "views" / "etc" / "upper"
        mount_ns = _ns(record.pid, "mnt") if alive else None
        daemons = []
        for pid in pids_in(info["netns"]):
            comm = comm_of(pid)
            if comm in ROUTING_DAEMONS:
                daemons.append({"pid": pid, "comm": comm, "inHostMountNamespace": _ns(pid, "mnt") == mount_ns})
        report[name] = {
            "netns": info["netns"],
            "ssh": f"{info['address']}:{info['port']}",
            "sshd": {"pid": record.pid, "running": alive},
            "etc": info.get("etc"),
            "files": {
                path: _file_state(root, path, upper if info.get("etc") == "overlay" else None)
                if alive
                else {"exists": None}
                for path in info["files"]
            },
            "daemons": sorted(daemons, key=lambda d: (d["comm"], d["pid"])),
        }
    return report


def _ns(pid: int, kind: str) -> str | None:
    try:
        return str(Path(f"/proc/{pid}/ns/{kind}").readlink())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def not_empty(report: dict[str, Any]) -> list[str]:
    """What ``pulumi destroy`` should have removed but is still there (empty: nothing)."""
    problems = []
    for name, host in report.items():
        if not host["sshd"]["running"]:
            problems.append(f"{name}: its sshd ({host['sshd']['pid']}) is not running: cannot look inside")
        problems += [f"{name}: {path} exists" for path, f in host["files"].items() if f["exists"]]
        problems += [f"{name}: {d['comm']} ({d['pid']}) is running" for d in host["daemons"]]
    return problems


def record_sshd(state: LabState, workdir: Path, name: str, pid: int) -> ProcessRecord:
    """Record the host's process (it may still be ``ip netns exec`` on its way to ``exec sshd``: the
    PID and start time stay); when it already exited, say why."""
    try:
        record = record_process(f"{name}/sshd", pid)
    except LabError:
        raise LabError(f"the sshd of {name} exited right away:\n{sshd_log_tail(workdir, name)}") from None
    state.add_process(record)
    return record


__all__ = [
    "HOSTS_JSON",
    "HostsPlan",
    "SshHost",
    "build_management",
    "delete_root_link",
    "enter_argv",
    "exec_on_host",
    "inspect_hosts",
    "not_empty",
    "plan_hosts",
    "ssh_argv",
]
