"""The routing daemons: FRR or BIRD on the router, BIRD or the GoBGP stand-in on the nodes.

Two roles, two interfaces: a :class:`RouterDaemon` (what the checks read on the router) and a
:class:`NodeSpeaker` (a node's BGP speaker: its sessions and what it originates). The lab's own
daemons are installed from a file the lab wrote, started, and report the processes they became;
in hosts mode the same classes read the daemons the program started (no ``install``/``start``).
Every CLI call goes through ``enter``, the argv prefix that runs a command on the daemon's host
(``ip netns exec`` for the lab's namespaces, ``nsenter`` into an SSH host), so a daemon object
does not know which kind of lab it lives in. A real cilium-agent or kube-router joins as one more
:class:`NodeSpeaker`.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Literal, Protocol

from cilium_bgp.hostscripts import bgp_status
from lab import shows
from lab.process import DaemonFailed, ProcessRecord, is_alive, read_pid, record_process
from lab.shell import CommandFailed, LabError, log, redact, run
from lab.wait import Budget, DeadlinePassed, wait_until

FRR_LIB = Path("/usr/lib/frr")
FRR_ETC = Path("/etc/frr")
FRR_RUN = Path("/var/run/frr")
FRR_ALWAYS = ("watchfrr", "zebra", "staticd")
GOBGP_API = ("127.0.0.1", "50051")  # every namespace has its own loopback, hence its own API
# apipb.PeerState.SessionState
GOBGP_STATES = {0: "unknown", 1: "Idle", 2: "Connect", 3: "Active", 4: "OpenSent", 5: "OpenConfirm", 6: "Established"}
DAEMON_START = Budget("daemon start", 20)
# The argv prefix that runs a command on the daemon's host (resolved at each call: in hosts mode
# the host's sshd may come up after the object is made).
Enter = Callable[[], list[str]]


class RouterDaemon(Protocol):
    """What speaks BGP on the router, as the lab's checks and fault cases see it."""

    netns: str
    conf: Path  # its config, as the lab (daemons mode) or the host (hosts mode) sees it

    @property
    def kind(self) -> Literal["frr", "bird"]:
        """The program's router.daemon."""
        ...

    def install(self, text: str) -> None: ...
    def start(self) -> list[ProcessRecord]: ...
    def peers(self) -> dict[str, dict[str, Any]]: ...
    @property
    def cli_argv(self) -> list[str]: ...
    def status_options(self) -> list[str]: ...


class NodeSpeaker(Protocol):
    """What speaks BGP on a node: BIRD, the GoBGP stand-in (later a real cilium-agent, kube-router)."""

    host: str
    conf: Path

    role: str  # the recorded process the fault cases freeze, e.g. "node1/bird"

    @property
    def kind(self) -> str: ...

    def install(self, text: str) -> None: ...
    def start(self) -> list[ProcessRecord]: ...
    def sessions(self) -> dict[str, dict[str, Any]]: ...
    def originated(self) -> list[str] | None: ...


def frr_daemons_file(daemons: tuple[str, ...]) -> str:
    """What frrcommon.sh needs: the program's daemons on (zebra and staticd always run), vty on
    loopback only."""
    lines = ["# cilium-bgp lab: the daemons FRR runs in this pathspace"]
    lines += [f"{daemon}=yes" for daemon in daemons]
    lines += ["vtysh_enable=yes", 'zebra_options="  -A 127.0.0.1 -s 90000000"', 'staticd_options="-A 127.0.0.1"']
    lines += [f'{daemon}_options="-A 127.0.0.1"' for daemon in daemons]
    return "\n".join(lines) + "\n"


def _status_call(argv: list[str], read: Callable[[list[str]], dict[str, Any]]) -> dict[str, Any]:
    """``bgp_status``'s reader on ``argv``, its failure as a retryable :class:`CommandFailed`."""
    try:
        return read(argv)
    except RuntimeError as error:
        raise CommandFailed(argv, 1, "", str(error)) from None


class FrrRouter:
    """FRR on the router. The lab's own runs in a pathspace (``/etc/frr/<ps>``, ``/var/run/frr/<ps>``;
    ``-N`` only changes paths, frrinit.sh runs inside the namespace); the program's (hosts mode,
    ``pathspace`` None) at its default paths, which the lab only reads."""

    kind: Literal["frr"] = "frr"

    def __init__(
        self,
        netns: str,
        pathspace: str | None,
        enter: Enter,
        daemons: tuple[str, ...] = ("bgpd",),
        host: str = "router",
    ) -> None:
        self.host = host
        self.netns = netns
        self.pathspace = pathspace
        self.daemons = daemons
        self.enter = enter
        self.conf_dir = FRR_ETC / pathspace if pathspace else FRR_ETC
        self.run_dir = FRR_RUN / pathspace if pathspace else FRR_RUN
        self.conf = self.conf_dir / "frr.conf"

    def _lab_owned(self) -> str:
        if self.pathspace is None:
            raise LabError(f"FRR in {self.netns} is the program's (hosts mode): the lab does not install or start it")
        return self.pathspace

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
        pathspace = self._lab_owned()
        run([str(FRR_LIB / "frrinit.sh"), "start", pathspace], netns=self.netns, timeout=60)

        def pids() -> tuple[dict[str, int], list[str]]:
            found = {name: read_pid(self.run_dir / f"{name}.pid") for name in (*FRR_ALWAYS, *self.daemons)}
            return {k: v for k, v in found.items() if v}, [f"no {k}.pid yet" for k, v in found.items() if not v]

        found = wait_until(pids, DAEMON_START, f"FRR daemons in {self.netns}").value
        return [record_process(f"{self.host}/{name}", pid) for name, pid in found.items()]

    @property
    def vtysh_argv(self) -> list[str]:
        return ["vtysh", *(["-N", self.pathspace] if self.pathspace else [])]

    @property
    def cli_argv(self) -> list[str]:
        return [*self.enter(), *self.vtysh_argv]

    def vtysh(self, command: str) -> str:
        return run([*self.cli_argv, "-c", command]).stdout

    def vtysh_json(self, command: str) -> Any:
        """``vtysh -c '<command>'`` for a ``show ... json`` command, parsed."""
        return json.loads(self.vtysh(command) or "{}")

    def peers(self) -> dict[str, dict[str, Any]]:
        return _status_call(self.cli_argv, bgp_status.frr_peers)

    def status_options(self) -> list[str]:
        """How ``bgp_status.py`` reaches this FRR from inside its host (nothing: the default vtysh)."""
        return ["--vtysh", shlex.join(self.vtysh_argv)] if self.pathspace else []


class BirdDaemon:
    """BIRD 2, on the router or a node. The lab's own has its config in the lab's per-host
    ``etc-bird`` and its socket in the host's run dir, a layout that mirrors a host's ``/etc/bird``
    and ``/run`` so the program's activation script can run against it with those two directories
    bind-mounted into place. In hosts mode ``etc_dir``/``run_dir`` are the host's own ``/etc/bird``
    and ``/run`` and ``lab_owned`` is False."""

    kind: Literal["bird"] = "bird"

    def __init__(self, host: str, netns: str, etc_dir: Path, run_dir: Path, enter: Enter, *, lab_owned: bool) -> None:
        self.host = host
        self.netns = netns
        self.enter = enter
        self.lab_owned = lab_owned
        self.etc_dir = etc_dir
        self.run_dir = run_dir  # mounted over /run for the activation script
        self.conf = etc_dir / "bird.conf"
        self.socket = run_dir / "bird" / "bird.ctl"
        self.pidfile = run_dir / "bird" / "bird.pid"
        self.role = f"{host}/bird"

    def _check_owned(self) -> None:
        if not self.lab_owned:
            raise LabError(f"BIRD on {self.host} is the program's (hosts mode): the lab does not install or start it")

    def install(self, text: str) -> None:
        self._check_owned()
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.conf.touch(mode=0o640)
        self.conf.write_text(text)

    def start(self) -> list[ProcessRecord]:
        self._check_owned()
        self.pidfile.unlink(missing_ok=True)
        try:
            run(["bird", "-c", str(self.conf), "-s", str(self.socket), "-P", str(self.pidfile)], netns=self.netns)
        except LabError as error:
            raise DaemonFailed(f"BIRD on {self.host} did not start from {self.conf}: {error}") from None

        def pid() -> tuple[int | None, list[str]]:
            found = read_pid(self.pidfile)
            return found, [] if found else [f"{self.pidfile} not written yet"]

        found = wait_until(pid, DAEMON_START, f"BIRD pid file on {self.host}").value
        assert found is not None, "wait_until returns only once the pid file holds a PID"
        return [record_process(self.role, found)]

    @property
    def birdc_argv(self) -> list[str]:
        return ["birdc", "-s", str(self.socket)]

    @property
    def cli_argv(self) -> list[str]:
        return [*self.enter(), *self.birdc_argv]

    def birdc(self, *args: str) -> str:
        return run([*self.cli_argv, *args]).stdout

    def bgp_sessions(self) -> dict[str, dict[str, Any]]:
        """``show protocols all`` parsed, its BGP protocols keyed by neighbor address
        (``lab.shows.bird_bgp_sessions``)."""
        return shows.bird_bgp_sessions(self.birdc("show", "protocols", "all"))

    def routes(self) -> dict[str, list[dict[str, Any]]]:
        """``show route`` parsed (``lab.shows.bird_routes``)."""
        return shows.bird_routes(self.birdc("show", "route"))

    def peers(self) -> dict[str, dict[str, Any]]:
        return _status_call(self.cli_argv, bgp_status.bird_peers)

    def sessions(self) -> dict[str, dict[str, Any]]:
        return self.peers()

    def originated(self) -> None:
        """BIRD's prefixes are static routes in its rendered config, not added through an API."""
        return None

    def status_options(self) -> list[str]:
        return [] if not self.lab_owned else ["--birdc", shlex.join(self.birdc_argv)]


class GobgpSpeaker:
    """gobgpd in a node namespace, standing in for the cilium-agent; prefixes are originated
    through its own gRPC API once it answers."""

    kind = "gobgp"

    def __init__(
        self, host: str, netns: str, conf: Path, log_file: Path, prefixes: list[IPv4Network], enter: Enter
    ) -> None:
        self.host = host
        self.netns = netns
        self.conf = conf
        self.log_file = log_file
        self.prefixes = prefixes
        self.enter = enter
        self.role = f"{host}/gobgpd"

    def install(self, text: str) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.touch(mode=0o600)
        self.conf.write_text(text)

    def cli(self, *args: str, check: bool = True) -> Any:
        host, port = GOBGP_API
        return run([*self.enter(), "gobgp", "-u", host, "-p", port, *args], check=check, timeout=15)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text().splitlines()[-5:]
        except FileNotFoundError:
            return "(no log)"
        return redact("\n".join(lines))

    def start(self) -> list[ProcessRecord]:
        argv = ["gobgpd", "-f", str(self.conf), "-t", "toml", "--api-hosts", ":".join(GOBGP_API)]
        argv += ["--pprof-disable", "--log-plain", "--log-level", "info"]
        # setsid: its own session, so a Ctrl-C in the lab's terminal leaves it for the teardown.
        script = f"setsid {shlex.join(argv)} </dev/null >>{shlex.quote(str(self.log_file))} 2>&1 & echo $!"
        pid = int(run(["sh", "-c", script], netns=self.netns).stdout.strip())
        record = record_process(self.role, pid)

        def api() -> tuple[None, list[str]]:
            if not is_alive(record):
                raise DaemonFailed(f"gobgpd on {self.host} exited: {self._log_tail()}")
            answer = self.cli("global", "-j", check=False)
            return None, [] if answer.returncode == 0 else [f"gobgpd API not answering: {answer.stderr.strip()}"]

        try:
            wait_until(api, DAEMON_START, f"gobgpd API on {self.host}")
        except DeadlinePassed as error:
            raise DaemonFailed(f"gobgpd on {self.host}: {error}\nlog: {self._log_tail()}") from None
        for prefix in self.prefixes:
            self.cli("global", "rib", "add", "-a", "ipv4", str(prefix))
        log.debug("%s originates %s", self.host, ", ".join(str(p) for p in self.prefixes))
        # Read again: at first the PID may still have been setsid, not yet gobgpd.
        return [record_process(record.role, pid)]

    def neighbors_json(self) -> dict[str, dict[str, Any]]:
        """``gobgp neighbor -j`` keyed by neighbor address (``lab.shows.gobgp_neighbors``)."""
        return shows.gobgp_neighbors(json.loads(self.cli("neighbor", "-j").stdout or "[]"))

    def rib_json(self) -> dict[str, Any]:
        """``gobgp global rib -a ipv4 -j``: prefix -> paths."""
        return json.loads(self.cli("global", "rib", "-a", "ipv4", "-j").stdout or "{}")

    def sessions(self) -> dict[str, dict[str, Any]]:
        """Neighbor address -> session state, as GoBGP reports it (passwords dropped)."""
        return {
            address: {
                "state": GOBGP_STATES.get(int(n.get("state", {}).get("session_state", 0)), "unknown"),
                "asn": n.get("state", {}).get("peer_asn"),
            }
            for address, n in self.neighbors_json().items()
        }

    def originated(self) -> list[str]:
        """Prefixes in GoBGP's global RIB."""
        return sorted(self.rib_json())
