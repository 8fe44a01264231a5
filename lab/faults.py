"""Fault cases on a running lab: a frozen node speaker, and a broken config pushed through the
program's safe-activation path.

Frozen speaker: SIGSTOP keeps the TCP session open but silent, so only the hold timer can notice;
the router must withdraw the node's PodCIDR and drop it from every ECMP set within the negotiated
hold time, and take it all back once the speaker is resumed (SIGCONT). BIRD comes back within
seconds because a stack with tuned timers renders a short ``error wait time`` (BIRD's default,
60 s and more after a hold-timer expiry, is what a resumed node would otherwise sit out).

Broken config: ``cilium_bgp.renderers.scripts.activate_script`` is what ``pulumi up`` runs on a
host. Here it runs inside the host's namespace with a private mount namespace in which
``/etc/bird`` and ``/run`` (or ``/etc/frr`` and ``/var/run/frr``) are the lab's per-host
directories, so the script sees exactly the files and sockets of the lab's daemon.
"""

from __future__ import annotations

import shlex
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cilium_bgp.artifacts import sha256
from cilium_bgp.renderers.scripts import activate_script, activation_stdin
from lab.checks import RouterView, observe_router, route_problems
from lab.daemons import BirdDaemon, FrrRouter, NodeSpeaker, RouterDaemon
from lab.process import signal_process
from lab.run import Lab, Timings
from lab.shell import LabError, log, redact, run
from lab.wait import Budget, Waited, wait_until

# Appended to a config to break it: every checker rejects it, and it names itself in the message.
BROKEN_LINE = "lab-fault-injected this is not a config statement"
RECOVERY = Budget("recovery after a fault", 60)
STEADY = Budget("steady state after a rejected push", 5)
CHECKER_WORDS = {"bird": "syntax error", "frr": "Unknown command"}


@dataclass(frozen=True)
class ActivationResult:
    host: str
    kind: str
    returncode: int
    stdout: str
    stderr: str

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "exit": self.returncode, "stderr": self.stderr.strip()}


def _mounts(daemon: BirdDaemon | FrrRouter, scratch: Path) -> str:
    """The host's view for the activation: its daemon's directories, a private /run, and /etc
    copy-on-write (the activation's records of what it wrote stay in ``scratch``, not the machine's /etc)."""
    if isinstance(daemon, FrrRouter):
        pairs = [(daemon.conf_dir, "/etc/frr"), (daemon.run_dir, "/var/run/frr")]
    else:
        pairs = [(daemon.etc_dir, "/etc/bird"), (daemon.run_dir, "/run")]
    upper, work, copy = (shlex.quote(str(scratch / name)) for name in ("etc-upper", "etc-work", "etc-copy"))
    held = [shlex.quote(str(scratch / f"dir-{i}")) for i in range(len(pairs))]
    # The daemon's directories may live under /run: hold them in scratch before /run is replaced.
    steps = [f"mkdir -p {upper} {work} {copy} {' '.join(held)}"]
    steps += [f"mount --bind {shlex.quote(str(src))} {at}" for (src, _), at in zip(pairs, held, strict=True)]
    steps += [
        f"{{ mount -t overlay cbgp-fault -o lowerdir=/etc,upperdir={upper},workdir={work} /etc 2>/dev/null"
        f" || {{ cp -a /etc/. {copy}/ && mount --bind {copy} /etc; }}; }}",
        "mount -t tmpfs cbgp-fault-run /run",
    ]
    for (_, dst), at in zip(pairs, held, strict=True):
        steps += [f"mkdir -p {dst}", f"mount --bind {at} {dst}"]
    return " && ".join(steps)


def _host_daemon(lab: Lab, host: str) -> BirdDaemon | FrrRouter:
    """The lab's own FRR or BIRD on ``host``: what the program's host scripts configure."""
    daemon: RouterDaemon | NodeSpeaker = lab.routers[host] if host in lab.routers else lab.speakers[host]
    if not isinstance(daemon, BirdDaemon | FrrRouter):
        raise LabError(f"{host} runs {daemon.kind} (configured through Kubernetes objects): no host config to push")
    return daemon


def push_through_activation(lab: Lab, host: str, text: str) -> ActivationResult:
    """Run the program's activation script for ``host``'s daemon with ``text`` on stdin."""
    daemon = _host_daemon(lab, host)
    netns_name = lab.plan.topology.netns_of(host)
    script = activate_script(daemon.kind, sha256(text))
    scratch = Path(tempfile.mkdtemp(prefix=f"faults-{host}-", dir=lab.workdir))
    shell = f"{_mounts(daemon, scratch)} && exec sh -c {shlex.quote(script)}"
    proc = run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell],
        netns=netns_name,
        stdin=activation_stdin(text),
        check=False,
        timeout=120,
    )
    return ActivationResult(host, daemon.kind, proc.returncode, redact(proc.stdout), redact(proc.stderr))


def _session_marks(lab: Lab) -> dict[str, Any]:
    """What changes when a session resets: FRR's established counters, BIRD's per-protocol 'since',
    on every router."""
    marks: dict[str, Any] = {}
    for host, router in lab.routers.items():
        if isinstance(router, FrrRouter):
            neighbors = router.vtysh_json("show bgp neighbors json")
            marks[host] = {a: n.get("connectionsEstablished") for a, n in neighbors.items()}
        else:
            assert isinstance(router, BirdDaemon)
            lines = router.birdc("show", "protocols").splitlines()
            marks[host] = {line.split()[0]: " ".join(line.split()[3:5]) for line in lines if " BGP " in line}
    return marks


def _reset_since(lab: Lab, before: dict[str, Any]) -> str | None:
    """How the session marks moved since ``before``, if a session reset; else None. A reset moves a
    counter or a 'since' for good, so a read that differs is read again a second later before it
    counts: one read in a CI run differed once while the next equalled ``before`` (cause not
    found), and such a read is logged, not taken for a reset."""
    after = _session_marks(lab)
    if after == before:
        return None
    time.sleep(1.0)
    again = _session_marks(lab)
    if again == before:
        log.warning("session marks differed for one read only (no reset): %s -> %s", before, after)
        return None
    return f"{before} -> {after} -> {again}"


@dataclass
class Frozen:
    """A node speaker stopped with SIGSTOP: what the router should show meanwhile, and when."""

    node: str
    node_ip: str
    hold: int  # the negotiated hold time: the routers must notice within it
    degraded: dict[str, dict[str, Any]]  # router host -> its expectation without the node
    withdrawn: dict[str, list[str]]  # router host -> prefixes it loses with the node
    frozen_at: float
    resumed_at: float | None = None


@contextmanager
def frozen(lab: Lab, node: str) -> Iterator[Frozen]:
    """``node``'s speaker frozen inside the block (its TCP session open but silent, so only the
    hold timer notices), resumed with SIGCONT however the block ends."""
    node_ip = next(str(n.ip) for n in lab.plan.cfg.nodes if n.name == node)
    degraded = lab.plan.expected_without(frozenset({node}))
    withdrawn = {h: sorted(set(lab.plan.expected[h]["routes"]) - set(e["routes"])) for h, e in degraded.items()}
    record = lab.speaker_record(node)
    if not signal_process(record, signal.SIGSTOP):
        raise LabError(f"{record.role} ({record.pid}) is not running")
    state = Frozen(node, node_ip, lab.negotiated_hold(node), degraded, withdrawn, time.monotonic())
    try:
        yield state
    finally:
        signal_process(record, signal.SIGCONT)
        state.resumed_at = time.monotonic()


def wait_withdrawn(lab: Lab, state: Frozen) -> Waited[Any]:
    """Until every router has withdrawn the frozen node's prefixes and dropped it from every ECMP
    set (budget: the hold time + 10 s); the routers' views then, seconds since the freeze."""
    return wait_until(
        lambda: observed(lab, state.degraded, state.withdrawn),
        Budget("withdrawal after a frozen speaker (hold time + 10 s)", state.hold + 10),
        f"{state.node}'s routes withdrawn and ECMP sets without {state.node_ip}",
        since=state.frozen_at,
    )


def wait_recovered(lab: Lab, state: Frozen, recovery: Budget = RECOVERY) -> Waited[Any]:
    """Until every session and route is back after the resume; seconds since the resume."""
    return wait_until(
        lambda: observed(lab, lab.plan.expected, {}),
        recovery,
        f"{state.node}'s routes back after it was resumed (SIGCONT)",
        since=state.resumed_at,
    )


def frozen_speaker(lab: Lab, node: str, recovery: Budget = RECOVERY) -> dict[str, Any]:
    """Freeze ``node``'s speaker; time the withdrawal; bring it back; time the recovery (within
    ``recovery``: BIRD with default timers waits up to 300 s after a hold-timer expiry)."""
    with frozen(lab, node) as state:
        gone = wait_withdrawn(lab, state)
    back = wait_recovered(lab, state, recovery)
    return {
        "node": node,
        "holdTimeSeconds": state.hold,
        "withdrawnSeconds": gone.elapsed,
        "withdrawn": state.withdrawn,
        "routesAfterWithdrawal": {h: v.routes for h, v in gone.value.items()},
        "recovery": "resumed (SIGCONT)",
        "recoveredSeconds": back.elapsed,
    }


def observed(
    lab: Lab, expected: dict[str, dict[str, Any]], withdrawn: dict[str, list[str]]
) -> tuple[dict[str, RouterView], list[str]]:
    """Each router in ``expected`` (by host) against its expectation; prefixes in ``withdrawn`` absent."""
    views: dict[str, RouterView] = {}
    problems: list[str] = []
    for host, expect in expected.items():
        router = lab.routers[host]
        views[host] = view = observe_router(router, router.netns)
        problems += [f"{host}: {p}" for p in route_problems(expect, view, withdrawn=withdrawn.get(host, []))]
    return views, problems


def broken_config_rejected(lab: Lab, host: str) -> dict[str, Any]:
    """Push ``host``'s running config with one bad line through safe activation: it must be refused
    with the daemon checker's own message, the file left alone, and no session or route lost."""
    daemon = _host_daemon(lab, host)
    before_text = daemon.conf.read_text()
    before_marks = _session_marks(lab)
    broken = before_text + BROKEN_LINE + "\n"
    result = push_through_activation(lab, host, broken)
    problems = []
    if result.returncode == 0:
        problems.append(f"the activation script accepted a broken {daemon.kind} config on {host}")
    if "rejected by" not in result.stderr or CHECKER_WORDS[daemon.kind] not in result.stderr:
        problems.append(f"the refusal does not quote the checker ({CHECKER_WORDS[daemon.kind]!r}): {result.stderr!r}")
    if daemon.conf.read_text() != before_text:
        problems.append(f"{daemon.conf} changed although the push was refused")
    wait_until(lambda: observed(lab, lab.plan.expected, {}), STEADY, "sessions and routes after the refusal")
    reset = _reset_since(lab, before_marks)
    if reset:
        problems.append(f"a session reset after the refused push: {reset}")
    if problems:
        raise LabError("broken config on " + host + ":\n" + "\n".join(f"  - {p}" for p in problems))
    return {"host": host, "kind": daemon.kind, "refused": True, "message": result.stderr.strip().splitlines()}


def good_config_reloaded(lab: Lab, host: str) -> dict[str, Any]:
    """Push the running BIRD config again through safe activation: accepted, reloaded, no reset."""
    daemon = _host_daemon(lab, host)
    if not isinstance(daemon, BirdDaemon):
        raise LabError(f"{host}: the good-config push is exercised on BIRD hosts only")
    before_marks = _session_marks(lab)
    result = push_through_activation(lab, host, daemon.conf.read_text())
    if result.returncode != 0 or "Reconfigured" not in result.stdout:
        raise LabError(
            f"re-pushing {host}'s own config failed (exit {result.returncode}): {result.stderr or result.stdout}"
        )
    wait_until(lambda: observed(lab, lab.plan.expected, {}), STEADY, "sessions and routes after the reload")
    reset = _reset_since(lab, before_marks)
    if reset:
        raise LabError(f"re-pushing {host}'s unchanged config reset a session: {reset}")
    return {"host": host, "kind": "bird", "reloaded": True, "message": result.stdout.strip().splitlines()}


def run_faults(lab: Lab, node: str | None = None) -> dict[str, Any]:
    """Every fault case the lab's speakers allow, on ``node`` (default: the first node)."""
    if lab.hosts_mode:
        raise LabError("--faults needs the lab's own daemons: not on a hosts-mode lab (`up --hosts ssh`)")
    target = node or lab.plan.cfg.nodes[0].name
    results: dict[str, Any] = {"frozenSpeaker": frozen_speaker(lab, target)}
    refused = [broken_config_rejected(lab, host) for host in lab.routers]
    if isinstance(lab.speakers[target], BirdDaemon):
        refused.append(broken_config_rejected(lab, target))
        results["goodConfigReloaded"] = good_config_reloaded(lab, target)
    results["brokenConfigRefused"] = refused
    timings = Timings.load(lab.workdir)
    timings.values["faults"] = results
    timings.save(lab.workdir)
    return results
