"""One lab run: build it (``up``), check it (``verify``), break it (``faults``), remove it (``down``).

The workdir holds the run's state file (what was created), the rendered artifacts (secret-free),
the daemons' configs and logs, ``timings.json`` and ``verify.json``.

Two modes: ``daemons`` (the lab starts FRR, BIRD or GoBGP itself from the rendered configs) and
``hosts`` (``up --hosts ssh``: the router and nodes are SSH hosts for the real program, see
``lab.hosts``; ``verify`` then reads the daemons the program started inside them).
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cilium_bgp.artifacts import ROUTER_SYSCTL
from cilium_bgp.renderers.common import effective_timers
from cilium_bgp.renderers.frr import frr_daemons
from cilium_bgp.renderers.scripts import status_script_source, verify_command
from cilium_bgp.secrets import reveal
from lab import hosts as sshhosts
from lab import netns
from lab.checks import (
    PingResult,
    observe_router,
    ping,
    route_problems,
    session_problems,
    speaker_problems,
    speaker_sessions,
)
from lab.daemons import (
    FRR_LIB,
    BirdDaemon,
    DaemonFailed,
    FrrRouter,
    GobgpSpeaker,
    ProcessRecord,
    is_alive,
    record_process,
    signal_process,
)
from lab.hosts import HostsPlan, plan_hosts
from lab.plan import ConfigFile, LabPlan, Tampering, plan_lab, stack_digest
from lab.shell import LabError, log, redact, run
from lab.state import LabState
from lab.wait import Budget, wait_until

RUN_ROOT = Path("/run")
PINGS = Budget("pings", 15)
STOP = Budget("process exit", 10)
HOST_STOP = Budget("processes inside the hosts exit on SIGTERM", 5)
# What FRR and BIRD use when the stack sets no hold time.
DAEMON_DEFAULT_HOLD = {"frr": 180, "bird": 240}


@dataclass(frozen=True)
class Checker:
    """A daemon's own config checker: its argv, and how its output says "rejected"."""

    argv: Callable[[Path], list[str]]
    complaint: Callable[[str], bool] = lambda output: False
    # bgpd drops to user frr before it reads the file: give it a copy it can open.
    as_frr: bool = False


def _bgpd_complains(output: str) -> bool:
    """bgpd's dry run exits 0 even when a line fails: its complaints start with "%" or say so."""
    words = ("Config Failed", "can't open configuration file")
    return any(line.startswith("%") or any(w in line for w in words) for line in output.splitlines())


SYNTAX_CHECKERS: dict[str, tuple[Checker, ...]] = {
    "frr": (
        Checker(lambda path: ["vtysh", "-C", "-f", str(path)]),
        Checker(lambda path: [str(FRR_LIB / "bgpd"), "-C", "--log", "stdout", "-f", str(path)], _bgpd_complains, True),
    ),
    "bird": (Checker(lambda path: ["bird", "-p", "-c", str(path)]),),
    "gobgp": (Checker(lambda path: ["gobgpd", "-d", "-t", "toml", "-f", str(path)]),),
}


class ConfigRejected(LabError):
    """A rendered config failed its daemon's own check; the message quotes the daemon."""


def _run_checker(checker: Checker, path: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    if not checker.as_frr:
        argv = checker.argv(path)
        return argv, run(argv, check=False, timeout=30)
    with tempfile.TemporaryDirectory(prefix="cbgp-check-") as scratch:
        copy = Path(scratch) / path.name
        copy.touch(mode=0o600)
        copy.write_text(path.read_text())
        for item in (Path(scratch), copy):
            shutil.chown(item, "frr", "frr")
        argv = checker.argv(copy)
        return checker.argv(path), run(argv, check=False, timeout=30)


def check_syntax(kind: str, path: Path) -> None:
    """Run the daemon's own checkers on ``path``: ``vtysh -C`` and ``bird -p`` (what the program's safe
    activation runs), plus ``bgpd -C`` (FRR semantics) and ``gobgpd -d``."""
    for checker in SYNTAX_CHECKERS[kind]:
        argv, proc = _run_checker(checker, path)
        said = (proc.stderr.strip() + "\n" + proc.stdout.strip()).strip()
        if proc.returncode != 0 or checker.complaint(said):
            if kind == "gobgp":
                said = _gobgp_error(said)
            tool = " ".join(a for a in argv if a != str(path))
            raise ConfigRejected(f"`{tool}` rejected {path} (exit {proc.returncode}):\n{redact(said)}")


def _gobgp_error(output: str) -> str:
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "Error" in entry:
            return f"{entry.get('msg', '')}: {entry['Error']}"
    return output


def default_workdir(stack_file: Path) -> Path:
    stem = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    return Path("/tmp") / f"cilium-bgp-lab-{stem}"


@dataclass
class Timings:
    values: dict[str, Any]

    def save(self, workdir: Path) -> None:
        (workdir / "timings.json").write_text(json.dumps(self.values, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, workdir: Path) -> Timings:
        path = workdir / "timings.json"
        return cls(json.loads(path.read_text()) if path.exists() else {})


class Lab:
    """A lab built (or being built) from ``plan`` in ``workdir``, with its state recorded in ``state``."""

    def __init__(self, plan: LabPlan, workdir: Path, state: LabState) -> None:
        self.plan = plan
        self.workdir = workdir
        self.state = state
        topo = plan.topology
        self.run_dir = RUN_ROOT / f"cbgp-{plan.lab_id}"
        self.router: FrrRouter | BirdDaemon
        self.speakers: dict[str, BirdDaemon | GobgpSpeaker] = {}
        self.hosts: HostsPlan | None = None
        if state.mode == "hosts":
            self.hosts = plan_hosts(plan)
            self._program_daemons()
            return
        if plan.cfg.router.daemon == "frr":
            self.router = FrrRouter(topo.router_netns, topo.router_netns, daemons=frr_daemons(plan.cfg))
        else:
            self.router = BirdDaemon(
                "router", topo.router_netns, self._host_dir("router") / "etc-bird", self.run_dir / "router"
            )
        for node in topo.nodes:
            if plan.speaker_kind == "gobgp":
                host_dir = self._host_dir(node.name)
                self.speakers[node.name] = GobgpSpeaker(
                    node.name, node.netns, host_dir / "gobgpd.toml", host_dir / "gobgpd.log"
                )
            else:
                self.speakers[node.name] = BirdDaemon(
                    node.name, node.netns, self._host_dir(node.name) / "etc-bird", self.run_dir / node.name
                )

    def _program_daemons(self) -> None:
        """Hosts mode: the FRR or BIRD the program starts inside each host, at its default paths,
        reached through ``nsenter`` into the host (resolved at each call: the sshd may come later)."""
        topo = self.plan.topology

        def enter(host: str) -> Callable[[], list[str]]:
            return lambda: sshhosts.enter_argv(self.state, host)

        if self.plan.cfg.router.daemon == "frr":
            self.router = FrrRouter(topo.router_netns, None, enter=enter("router"))
        else:
            self.router = BirdDaemon("router", topo.router_netns, Path("/etc/bird"), Path("/run"), enter("router"))
        for node in topo.nodes:
            self.speakers[node.name] = BirdDaemon(
                node.name, node.netns, Path("/etc/bird"), Path("/run"), enter(node.name)
            )

    @property
    def hosts_mode(self) -> bool:
        return self.state.mode == "hosts"

    def _host_dir(self, host: str) -> Path:
        return self.workdir / "hosts" / host

    @classmethod
    def create(cls, stack_file: Path, workdir: Path, tamper: Tampering | None = None, *, mode: str = "daemons") -> Lab:
        """A new, not yet built lab: refuses a workdir whose previous lab is still there."""
        workdir.mkdir(parents=True, exist_ok=True)
        previous = LabState.load(workdir)
        if previous is not None:
            raise LabError(
                f"{workdir} still holds lab {previous.lab_id} ({previous.status}); run `python -m lab down` first"
            )
        lab_id = secrets.token_hex(3)
        plan = plan_lab(stack_file, lab_id, tamper)
        if mode == "hosts":
            plan_hosts(plan)  # refuses what hosts mode cannot play before anything exists
        state = LabState(lab_id, str(plan.stack_file), plan.stack_sha256, str(workdir.resolve()), mode=mode)
        state.save()
        return cls(plan, workdir, state)

    @classmethod
    def attach(cls, workdir: Path) -> Lab:
        """The lab recorded in ``workdir``, planned again from its (unchanged) stack file."""
        state = LabState.load(workdir)
        if state is None:
            raise LabError(f"no lab in {workdir} (nothing recorded): run `python -m lab up` first")
        stack_file = Path(state.stack_file)
        if not stack_file.exists() or stack_digest(stack_file) != state.stack_sha256:
            raise LabError(f"{stack_file} changed since `up`; run `python -m lab down` and `up` again")
        return cls(plan_lab(stack_file, state.lab_id), workdir, state)

    def _write_rendered(self) -> None:
        rendered = self.workdir / "rendered"
        for rel, text in self.plan.artifacts.items():
            path = rendered / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for config in self.plan.configs:
            if config.kind == "gobgp":
                path = rendered / config.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(config.text)

    def _daemon_for(self, config: ConfigFile) -> FrrRouter | BirdDaemon | GobgpSpeaker:
        return self.router if config.host == "router" else self.speakers[config.host]

    def _install_configs(self, password: str) -> None:
        """Write every config where its daemon reads it, secrets filled in, and check each one."""
        self.state.add("directories", str(self.run_dir))
        if isinstance(self.router, FrrRouter):
            self.state.add("directories", str(self.router.conf_dir))
            self.state.add("directories", str(self.router.run_dir))
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        for config in self.plan.configs:
            daemon = self._daemon_for(config)
            daemon.install(reveal(config.text, {"bgpPassword": password}))
            try:
                check_syntax(config.kind, daemon.conf)
            except ConfigRejected as error:
                raise ConfigRejected(f"{config.path} ({config.host}): {error}") from None

    def _start_router(self) -> None:
        if isinstance(self.router, FrrRouter):
            for record in self.router.start():
                self.state.add_process(record)
        else:
            self.state.add_process(self.router.start())

    def _start_speaker(self, name: str) -> None:
        speaker = self.speakers[name]
        record = speaker.start()
        self.state.add_process(record)
        if isinstance(speaker, GobgpSpeaker):
            speaker.originate(self.plan.speakers[name].prefixes)

    def _start_daemons(self) -> None:
        with ThreadPoolExecutor(max_workers=1 + len(self.speakers)) as pool:
            futures = [pool.submit(self._start_router)]
            futures += [pool.submit(self._start_speaker, name) for name in self.speakers]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]

    @property
    def converge_budget(self) -> Budget:
        return Budget("convergence (verify.timeoutSeconds)", self.plan.cfg.verify.timeout_seconds)

    def _wait_converged(self, since: float) -> dict[str, float]:
        expect = self.plan.expected
        netns_name = self.plan.topology.router_netns
        established = wait_until(
            lambda: _with(observe_router(self.router, netns_name), lambda v: session_problems(expect, v)),
            self.converge_budget,
            "every expected BGP session Established on the router",
            since=since,
        )
        routed = wait_until(
            lambda: _with(observe_router(self.router, netns_name), lambda v: route_problems(expect, v)),
            self.converge_budget,
            "every PodCIDR and LB IP in the router's kernel table with the expected nexthops",
            since=since,
        )
        return {"establishedSeconds": established.elapsed, "routesInstalledSeconds": routed.elapsed}

    def up(self) -> Timings:
        """Build the namespaces, start the daemons, wait until the router has every session and route."""
        if self.hosts_mode:
            return self._up_hosts()
        began = time.monotonic()
        self._write_rendered()
        password = secrets.token_urlsafe(18)
        self._install_configs(password)
        netns.build(
            self.plan.topology,
            lambda name: self.state.add("namespaces", name),
            self.workdir / "rendered" / ROUTER_SYSCTL,
        )
        started = time.monotonic()
        self._start_daemons()
        timings = {"buildSeconds": round(started - began, 2), **self._wait_converged(started)}
        self.state.set_status("up")
        result = Timings(
            {
                "labId": self.plan.lab_id,
                "stackFile": str(self.plan.stack_file),
                "method": self.plan.cfg.method,
                "routerDaemon": self.plan.cfg.router.daemon,
                "speaker": self.plan.speaker_kind,
                "up": timings,
            }
        )
        result.save(self.workdir)
        return result

    def _up_hosts(self) -> Timings:
        """Hosts mode: namespaces and links without daemons, the management network, one sshd per host."""
        hp = self.hosts
        assert hp is not None, "hosts mode has a hosts plan"
        began = time.monotonic()
        conflicts = sshhosts.root_conflicts(hp.subnet, hp.root_link)
        if conflicts:  # checked again right before the veth is added
            raise LabError(f"hosts mode needs {hp.subnet} free in the root namespace: " + "; ".join(conflicts))
        self._write_rendered()
        netns.build(self.plan.topology, lambda name: self.state.add("namespaces", name), None)
        sshhosts.build_management(
            hp, lambda name: self.state.add("namespaces", name), lambda link: self.state.add("links", link)
        )
        authorised = sshhosts.client_key(self.workdir, self.plan.lab_id)
        host_keys = {}
        for host in hp.hosts:
            self.state.set_host(
                host.name,
                {"netns": host.netns, "address": str(host.address), "port": host.port, "files": list(host.files)},
            )
            host_keys[host.name] = sshhosts.prepare_host(self.workdir, self.plan.lab_id, host, authorised)
        sshhosts.write_client_files(self.workdir, hp.hosts, host_keys)
        started = time.monotonic()
        records = {
            h.name: sshhosts.record_sshd(self.state, self.workdir, h.name, sshhosts.start_sshd(self.workdir, h))
            for h in hp.hosts
        }
        ready = sshhosts.wait_logins(self.workdir, hp.hosts, records, started)
        for host in hp.hosts:
            self.state.update_process(record_process(records[host.name].role, records[host.name].pid))
            info = self.state.hosts[host.name] | {
                "etc": sshhosts.etc_view(records[host.name].pid),
                "hostKey": host_keys[host.name],
            }
            self.state.set_host(host.name, info)
        self.state.set_status("up")
        result = Timings(
            {
                "labId": self.plan.lab_id,
                "stackFile": str(self.plan.stack_file),
                "mode": "hosts",
                "method": self.plan.cfg.method,
                "routerDaemon": self.plan.cfg.router.daemon,
                "speaker": self.plan.speaker_kind,
                "up": {"buildSeconds": round(started - began, 2), "sshdReadySeconds": ready},
            }
        )
        result.save(self.workdir)
        return result

    def _program_check(self) -> dict[str, Any]:
        """``pulumi up``'s own router check (bgp_status.py through ``verify_command``), run in the router namespace
        (hosts mode: on the router host, with the default vtysh/birdc, exactly as over SSH)."""
        command = verify_command(self.plan.cfg.router.daemon, self.plan.expected, 30)
        if self.hosts_mode:
            argv = [*sshhosts.enter_argv(self.state, "router"), "sh", "-c", command]
            proc = run(argv, stdin=status_script_source(), check=False, timeout=60)
        else:
            if isinstance(self.router, FrrRouter):
                command += " --vtysh " + shlex.quote(shlex.join(self.router.vtysh_argv))
            else:
                command += " --birdc " + shlex.quote(shlex.join(self.router.birdc_argv))
            proc = run(
                ["sh", "-c", command],
                netns=self.plan.topology.router_netns,
                stdin=status_script_source(),
                check=False,
                timeout=60,
            )
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise LabError(
                f"the program's router check printed no JSON (exit {proc.returncode}): {proc.stderr.strip()}"
            ) from None
        if proc.returncode != 0:
            raise LabError(f"the program's router check failed: {'; '.join(report.get('problems', []))}")
        return report

    def _speaker_views(self) -> dict[str, dict[str, Any]]:
        views: dict[str, dict[str, Any]] = {}
        cfg = self.plan.cfg
        for node in cfg.nodes:
            speaker = self.speakers[node.name]
            if isinstance(speaker, GobgpSpeaker):
                peers = [n.address for n in self.plan.speakers[node.name].neighbors]
            else:
                peers = [cfg.router_address_for(node)]
            seen = wait_until(
                lambda s=speaker, n=node.name, p=peers: _with(speaker_sessions(s), lambda v: speaker_problems(n, v, p)),
                self.converge_budget,
                f"{node.name}'s own sessions Established",
            ).value
            view: dict[str, Any] = {"sessions": {a: s["state"] for a, s in seen.items()}}
            if isinstance(speaker, GobgpSpeaker):
                want = sorted(str(p) for p in self.plan.speakers[node.name].prefixes)
                got = speaker.originated()
                if got != want:
                    raise LabError(f"{node.name}'s GoBGP originates {got}, expected {want}")
                view["originated"] = got
            views[node.name] = view
        return views

    def _wait_ping(self, source: str, ns: str, src: IPv4Address, dst: IPv4Address) -> PingResult:
        def probe() -> tuple[PingResult, list[str]]:
            result = ping(source, ns, src, dst)
            return result, [] if result.ok else [f"ping {src} -> {dst} from {source}: {result.detail}"]

        return wait_until(probe, PINGS, f"ping {src} -> {dst} from {source}").value

    def pings(self) -> list[PingResult]:
        topo = self.plan.topology
        results = []
        for a in topo.nodes:
            for b in topo.nodes:
                if a.name != b.name:
                    results.append(self._wait_ping(a.name, a.netns, a.pod_ip, b.pod_ip))
        client = topo.client
        for node in topo.nodes:
            results.append(self._wait_ping("client", client.netns, client.address.ip, node.pod_ip))
        for ip in self.plan.lb_ips.values():
            results.append(self._wait_ping("client", client.netns, client.address.ip, ip))
        # One routed hop: TTL 64 from the far end arrives as 63, so the packets crossed the router.
        for result in results:
            if result.ttl != 63:
                raise LabError(
                    f"ping {result.src} -> {result.dst}: reply TTL {result.ttl}, expected 63 (one router hop)"
                )
        return results

    def inspect(self) -> dict[str, Any]:
        """Hosts mode: per host, the program's files and the routing daemons running inside."""
        if not self.hosts_mode:
            raise LabError(f"lab {self.plan.lab_id} runs its own daemons: `inspect` is for `up --hosts ssh` labs")
        return sshhosts.inspect_hosts(self.state)

    def _program_started(self) -> dict[str, Any]:
        """Hosts mode: fail fast when the program has not configured the router (yet)."""
        hosts = self.inspect()
        if not hosts["router"]["daemons"]:
            raise LabError(
                f"no routing daemon runs on the router host ({hosts['router']['ssh']}): "
                "configure the hosts first (`pulumi up`, or the program's scripts over SSH)"
            )
        return hosts

    def verify(self) -> dict[str, Any]:
        if self.state.status != "up":
            raise LabError(f"lab {self.plan.lab_id} is {self.state.status}, not up")
        began = time.monotonic()
        hosts = self._program_started() if self.hosts_mode else None
        converged = self._wait_converged(began)
        view = observe_router(self.router, self.plan.topology.router_netns)
        report: dict[str, Any] = {
            "labId": self.plan.lab_id,
            "stackFile": str(self.plan.stack_file),
            "method": self.plan.cfg.method,
            "routerDaemon": self.plan.cfg.router.daemon,
            "namespaces": self.plan.topology.namespaces,
            "podCidrs": {n: [str(c) for c in cs] for n, cs in self.plan.pod_cidrs.items()},
            "loadBalancerIps": {s: str(ip) for s, ip in self.plan.lb_ips.items()},
            "expected": self.plan.expected,
            "router": {"peers": view.peers, "routes": view.routes},
            "programCheck": self._program_check(),
            "speakers": self._speaker_views(),
            "pings": [p.as_dict() for p in self.pings()],
        }
        timings = Timings.load(self.workdir)
        if hosts is not None:
            report["mode"] = "hosts"
            report["hosts"] = self.inspect()
            timings.values["verifyConverged"] = converged
        timings.values["verifySeconds"] = round(time.monotonic() - began, 2)
        timings.save(self.workdir)
        report["timings"] = timings.values
        (self.workdir / "verify.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return report

    def negotiated_hold(self, node: str) -> int:
        """The hold time the router's session with ``node`` runs with: the smaller of both ends'."""
        cfg = self.plan.cfg
        router_hold = effective_timers(cfg).hold or DAEMON_DEFAULT_HOLD[cfg.router.daemon]
        if node in self.plan.speakers:
            node_hold = min(n.hold_time for n in self.plan.speakers[node].neighbors)
        else:
            node_hold = effective_timers(cfg).hold or DAEMON_DEFAULT_HOLD["bird"]
        return min(router_hold, node_hold)

    def speaker_record(self, node: str) -> ProcessRecord:
        kind = "gobgpd" if self.plan.speaker_kind == "gobgp" else "bird"
        return self.state.process(f"{node}/{kind}")


def _with(value: Any, problems: Callable[[Any], list[str]]) -> tuple[Any, list[str]]:
    return value, problems(value)


def _stop_processes(records: list[ProcessRecord]) -> None:
    """SIGTERM (and SIGCONT, so a frozen one can act on it) to each, SIGKILL to what outlives the budget."""
    for record in records:
        if signal_process(record, signal.SIGTERM):
            signal_process(record, signal.SIGCONT)

    def alive() -> tuple[None, list[str]]:
        return None, [f"{r.role} ({r.pid}) still running" for r in records if is_alive(r)]

    try:
        wait_until(alive, STOP, "lab processes exit")
    except LabError:
        for record in records:
            signal_process(record, signal.SIGKILL)


def teardown(state: LabState) -> list[str]:
    """Remove exactly what ``state`` recorded: processes (by PID and start time), namespaces, dirs.

    Safe to repeat and to run on a half-built lab; returns what it removed. FRR's watchfrr goes
    first, or it would restart the daemons stopped beside it.
    """
    removed: list[str] = []
    records = [r for r in (ProcessRecord(**p) for p in state.processes) if is_alive(r)]
    watchers = [r for r in records if r.comm == "watchfrr"]
    for group in (watchers, [r for r in records if r not in watchers]):
        _stop_processes(group)
        removed += [f"process {r.role} ({r.pid})" for r in group]
    if state.mode == "hosts":
        # What the program started inside the hosts (FRR, BIRD): asked to stop first, watchfrr
        # before the rest; netns.delete kills what is left.
        stopped = netns.stop_gracefully(list(state.namespaces), ("watchfrr",), HOST_STOP)
        removed += [f"process {p} inside a host" for p in stopped]
    for link in state.links:
        if sshhosts.delete_root_link(link):
            removed.append(f"root-namespace link {link}")
    for name in state.namespaces:
        if netns.exists(name):
            netns.delete(name)
            removed.append(f"namespace {name}")
    for directory in state.directories:
        path = Path(directory)
        if path.exists():
            shutil.rmtree(path)
            removed.append(f"directory {directory}")
    state.remove()
    log.info("lab %s removed: %s", state.lab_id, ", ".join(removed) or "nothing was left")
    return removed


def down(workdir: Path) -> list[str]:
    state = LabState.load(workdir)
    if state is None:
        return []
    return teardown(state)


def up(
    stack_file: Path,
    workdir: Path,
    *,
    tamper: Tampering | None = None,
    keep_on_failure: bool = False,
    hosts: bool = False,
) -> Lab:
    """Create and build a lab; on any failure (or Ctrl-C / SIGTERM) remove what was built, then re-raise.

    ``hosts``: hosts mode (SSH hosts for the real program, no daemons; see ``lab.hosts``).
    """
    lab = Lab.create(stack_file, workdir, tamper, mode="hosts" if hosts else "daemons")
    try:
        lab.up()
    except BaseException:
        lab.state.set_status("failed")
        if not keep_on_failure:
            teardown(lab.state)
        raise
    return lab


__all__ = ["ConfigRejected", "DaemonFailed", "Lab", "Timings", "check_syntax", "default_workdir", "down", "up"]
