"""The real daemons in the lab's namespaces: FRR or BIRD on the router, BIRD or GoBGP on the nodes.

Each starts from a file the lab wrote, reports the processes it became (PID plus start time, so a
reused PID is never signalled) and answers queries through its own CLI.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from lab.shell import LabError, log, redact, run
from lab.wait import Budget, DeadlinePassed, wait_until

FRR_LIB = Path("/usr/lib/frr")
FRR_ETC = Path("/etc/frr")
FRR_RUN = Path("/var/run/frr")
FRR_ALWAYS = ("watchfrr", "zebra", "staticd")


def frr_daemons_file(daemons: tuple[str, ...]) -> str:
    """What frrcommon.sh needs: the program's daemons on (zebra and staticd always run), vty on
    loopback only."""
    lines = ["# cilium-bgp lab: the daemons FRR runs in this pathspace"]
    lines += [f"{daemon}=yes" for daemon in daemons]
    lines += ["vtysh_enable=yes", 'zebra_options="  -A 127.0.0.1 -s 90000000"', 'staticd_options="-A 127.0.0.1"']
    lines += [f'{daemon}_options="-A 127.0.0.1"' for daemon in daemons]
    return "\n".join(lines) + "\n"


GOBGP_API = ("127.0.0.1", "50051")  # every namespace has its own loopback, hence its own API
# apipb.PeerState.SessionState
GOBGP_STATES = {0: "unknown", 1: "Idle", 2: "Connect", 3: "Active", 4: "OpenSent", 5: "OpenConfirm", 6: "Established"}
DAEMON_START = Budget("daemon start", 20)
# How to reach a daemon's CLI: an argv prefix (hosts mode: nsenter into the SSH host), or none.
Enter = Callable[[], list[str]]


def _here() -> list[str]:
    return []


class DaemonFailed(LabError):
    """A daemon refused its config or died; the message carries the daemon's own words."""


@dataclass(frozen=True)
class ProcessRecord:
    role: str  # e.g. "router/bgpd", "node1/bird"
    pid: int
    starttime: int  # field 22 of /proc/PID/stat
    comm: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, starttime) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return comm, fields[0], int(fields[19])


def running(pid: int) -> bool:
    """A process with this PID exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def record_process(role: str, pid: int) -> ProcessRecord:
    stat = _stat(pid)
    if stat is None:
        raise DaemonFailed(f"{role}: process {pid} exited right after starting")
    return ProcessRecord(role, pid, stat[2], stat[0])


def is_alive(record: ProcessRecord) -> bool:
    """The very process recorded is still there (not a zombie, not a newer process with its PID)."""
    stat = _stat(record.pid)
    return stat is not None and stat[2] == record.starttime and stat[1] not in ("Z", "X")


def signal_process(record: ProcessRecord, signum: int) -> bool:
    if not is_alive(record):
        return False
    try:
        os.kill(record.pid, signum)
    except ProcessLookupError:
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


class FrrRouter:
    """FRR in the router namespace, in its own pathspace (``/etc/frr/<ps>``, ``/var/run/frr/<ps>``).

    FRR's ``-N`` only changes paths, not the network namespace: frrinit.sh runs inside the
    namespace, vtysh (unix sockets) works from anywhere with ``-N``.

    Hosts mode: FRR is the one the program started inside the router host, at its default paths
    (no pathspace); ``enter`` is the argv prefix that runs a command inside that host, and the
    paths are as the host sees them. The lab only reads it, it never installs or starts it.
    """

    kind = "frr"

    def __init__(
        self, netns: str, pathspace: str | None, enter: Enter | None = None, daemons: tuple[str, ...] = ("bgpd",)
    ) -> None:
        self.netns = netns
        self.pathspace = pathspace
        self.daemons = daemons
        self.enter = enter
        self.conf_dir = FRR_ETC / pathspace if pathspace else FRR_ETC
        self.run_dir = FRR_RUN / pathspace if pathspace else FRR_RUN
        self.conf = self.conf_dir / "frr.conf"

    def _lab_owned(self) -> None:
        if self.enter is not None:
            raise LabError(f"FRR in {self.netns} is the program's (hosts mode): the lab does not install or start it")

    def install(self, text: str) -> None:
        self._lab_owned()
        self.conf_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        (self.conf_dir / "daemons").write_text(frr_daemons_file(self.daemons))
        (self.conf_dir / "vtysh.conf").write_text("service integrated-vtysh-config\n")
        self.conf.touch(mode=0o640)
        self.conf.write_text(text)
        for path in (self.conf_dir, *self.conf_dir.iterdir()):
            shutil.chown(path, "frr", "frr")
        self.conf.chmod(0o640)

    def start(self) -> list[ProcessRecord]:
        self._lab_owned()
        assert self.pathspace is not None, "the lab's own FRR always runs in a pathspace"
        run([str(FRR_LIB / "frrinit.sh"), "start", self.pathspace], netns=self.netns, timeout=60)

        def pids() -> tuple[dict[str, int], list[str]]:
            found = {name: _read_pid(self.run_dir / f"{name}.pid") for name in (*FRR_ALWAYS, *self.daemons)}
            return {k: v for k, v in found.items() if v}, [f"no {k}.pid yet" for k, v in found.items() if not v]

        found = wait_until(pids, DAEMON_START, f"FRR daemons in {self.netns}").value
        return [record_process(f"router/{name}", pid) for name, pid in found.items()]

    def vtysh(self, command: str) -> str:
        return run([*self.vtysh_argv, "-c", command]).stdout

    def vtysh_json(self, command: str) -> Any:
        return json.loads(self.vtysh(command) or "{}")

    @property
    def vtysh_argv(self) -> list[str]:
        pathspace = ["-N", self.pathspace] if self.pathspace else []
        return [*(self.enter or _here)(), "vtysh", *pathspace]


class BirdDaemon:
    """BIRD 2 with its config in the lab's per-host ``etc-bird`` and its socket in the host's run dir.

    The layout mirrors a host's ``/etc/bird`` and ``/run``, so the program's activation script can run
    against it with those two directories bind-mounted into place.

    Hosts mode: the BIRD the program started inside the host, ``etc_dir``/``run_dir`` are the host's
    own ``/etc/bird`` and ``/run`` (as the host sees them) and ``enter`` runs ``birdc`` inside it.
    """

    kind = "bird"

    def __init__(self, host: str, netns: str, etc_dir: Path, run_dir: Path, enter: Enter | None = None) -> None:
        self.host = host
        self.netns = netns
        self.enter = enter
        self.etc_dir = etc_dir
        self.run_dir = run_dir  # mounted over /run for the activation script
        self.conf = etc_dir / "bird.conf"
        self.socket = run_dir / "bird" / "bird.ctl"
        self.pidfile = run_dir / "bird" / "bird.pid"

    def _lab_owned(self) -> None:
        if self.enter is not None:
            raise LabError(f"BIRD on {self.host} is the program's (hosts mode): the lab does not install or start it")

    def install(self, text: str) -> None:
        self._lab_owned()
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.conf.touch(mode=0o640)
        self.conf.write_text(text)

    def start(self) -> ProcessRecord:
        self._lab_owned()
        self.pidfile.unlink(missing_ok=True)
        try:
            run(["bird", "-c", str(self.conf), "-s", str(self.socket), "-P", str(self.pidfile)], netns=self.netns)
        except LabError as error:
            raise DaemonFailed(f"BIRD on {self.host} did not start from {self.conf}: {error}") from None

        def pid() -> tuple[int | None, list[str]]:
            found = _read_pid(self.pidfile)
            return found, [] if found else [f"{self.pidfile} not written yet"]

        found = wait_until(pid, DAEMON_START, f"BIRD pid file on {self.host}").value
        assert found is not None, "wait_until returns only once the pid file holds a PID"
        return record_process(f"{self.host}/bird", found)

    def birdc(self, *args: str) -> str:
        return run([*self.birdc_argv, *args]).stdout

    @property
    def birdc_argv(self) -> list[str]:
        return [*(self.enter or _here)(), "birdc", "-s", str(self.socket)]


class GobgpSpeaker:
    """gobgpd in a node namespace; prefixes are originated through its own gRPC API."""

    kind = "gobgp"

    def __init__(self, host: str, netns: str, conf: Path, log_file: Path) -> None:
        self.host = host
        self.netns = netns
        self.conf = conf
        self.log_file = log_file

    def install(self, text: str) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.touch(mode=0o600)
        self.conf.write_text(text)

    def _cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        host, port = GOBGP_API
        return run(["gobgp", "-u", host, "-p", port, *args], netns=self.netns, check=check, timeout=15)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text().splitlines()[-5:]
        except FileNotFoundError:
            return "(no log)"
        return redact("\n".join(lines))

    def start(self) -> ProcessRecord:
        argv = ["gobgpd", "-f", str(self.conf), "-t", "toml", "--api-hosts", ":".join(GOBGP_API)]
        argv += ["--pprof-disable", "--log-plain", "--log-level", "info"]
        # setsid: its own session, so a Ctrl-C in the lab's terminal leaves it for the teardown.
        script = f"setsid {shlex.join(argv)} </dev/null >>{shlex.quote(str(self.log_file))} 2>&1 & echo $!"
        pid = int(run(["sh", "-c", script], netns=self.netns).stdout.strip())
        record = record_process(f"{self.host}/gobgpd", pid)

        def api() -> tuple[None, list[str]]:
            if not is_alive(record):
                raise DaemonFailed(f"gobgpd on {self.host} exited: {self._log_tail()}")
            answer = self._cli("global", "-j", check=False)
            return None, [] if answer.returncode == 0 else [f"gobgpd API not answering: {answer.stderr.strip()}"]

        try:
            wait_until(api, DAEMON_START, f"gobgpd API on {self.host}")
        except DeadlinePassed as error:
            raise DaemonFailed(f"gobgpd on {self.host}: {error}\nlog: {self._log_tail()}") from None
        # Read again: at first the PID may still have been setsid, not yet gobgpd.
        return record_process(record.role, pid)

    def originate(self, prefixes: list[IPv4Network]) -> None:
        for prefix in prefixes:
            self._cli("global", "rib", "add", "-a", "ipv4", str(prefix))
        log.debug("%s originates %s", self.host, ", ".join(str(p) for p in prefixes))

    def neighbors(self) -> dict[str, dict[str, Any]]:
        """Neighbor address -> session state, as GoBGP reports it (passwords dropped)."""
        peers: dict[str, dict[str, Any]] = {}
        for peer in json.loads(self._cli("neighbor", "-j").stdout or "[]"):
            state = peer.get("state", {})
            peers[state.get("neighbor_address", "?")] = {
                "state": GOBGP_STATES.get(int(state.get("session_state", 0)), "unknown"),
                "asn": state.get("peer_asn"),
            }
        return peers

    def originated(self) -> list[str]:
        """Prefixes in GoBGP's global RIB (``gobgp global rib -j``: prefix -> paths)."""
        return sorted(json.loads(self._cli("global", "rib", "-a", "ipv4", "-j").stdout or "{}"))
