"""Looking into a hosts-mode lab's hosts, and running commands on them (``inspect``, ``exec``).

Everything here works from the recorded state alone (no stack file): a host is entered through its
sshd, checked to be the very process recorded (PID and start time), with ``nsenter --mount --uts
--net``. ``inspect`` reports per host the program's files (exists, sha256, written by the host or
the machine's seen through the view) and the routing daemons running inside.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.netns import comm_of, pids_in
from lab.process import ProcessRecord, is_alive
from lab.shell import LabError, log
from lab.sshd import host_dir
from lab.state import LabState
from lab.topology import netns_name

ROUTING_DAEMONS = ("bird", "watchfrr", "zebra", "bgpd", "staticd", "bfdd", "mgmtd", "gobgpd")


def sshd_record(state: LabState, name: str) -> ProcessRecord:
    if name not in state.hosts:
        listed = ", ".join(state.hosts) or "none: not a hosts-mode lab (`up --hosts ssh`)"
        raise LabError(f"no SSH host {name!r} in lab {state.lab_id}; its hosts: {listed}")
    return state.process(f"{name}/sshd")


def enter_argv(state: LabState, name: str) -> list[str]:
    """The argv prefix that runs a command on host ``name``: its network, mount and UTS namespaces,
    entered through its sshd (checked to be the very process recorded). The client has no sshd
    (the program does not configure it): its network namespace only, where the upstream's BIRD runs."""
    namespace = netns_name(state.lab_id, name)
    if name not in state.hosts and namespace in state.namespaces:
        return ["ip", "netns", "exec", namespace]
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


def _ns(pid: int, kind: str) -> str | None:
    try:
        return str(Path(f"/proc/{pid}/ns/{kind}").readlink())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


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


def not_empty(report: dict[str, Any]) -> list[str]:
    """What ``pulumi destroy`` should have removed but is still there (empty: nothing)."""
    problems = []
    for name, host in report.items():
        if not host["sshd"]["running"]:
            problems.append(f"{name}: its sshd ({host['sshd']['pid']}) is not running: cannot look inside")
        problems += [f"{name}: {path} exists" for path, f in host["files"].items() if f["exists"]]
        problems += [f"{name}: {d['comm']} ({d['pid']}) is running" for d in host["daemons"]]
    return problems
