"""One lab run: build it (``up``), check it (``verify``); ``lab.faults`` breaks it, ``lab.teardown``
removes it.

The workdir holds the run's state file (what was created), the rendered artifacts (secret-free),
the daemons' configs and logs, ``timings.json`` and ``verify.json``. How the hosts run (the lab's
own daemons, or SSH hosts for the real program) is the backend's business (``lab.backends``);
everything here is the same for both.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cilium_bgp.renderers.scripts import status_script_source, verify_command
from lab.backends import BACKENDS, Backend, backend_for
from lab.checks import (
    PingResult,
    RouterView,
    converge_budget,
    observe_router,
    observed_problems,
    ping,
    route_problems,
    speaker_problems,
    wait_converged,
    with_problems,
)
from lab.daemons import NodeSpeaker, RouterDaemon
from lab.plan import LabPlan, Tampering, plan_lab, stack_digest
from lab.process import ProcessRecord
from lab.shell import LabError, run
from lab.state import LabState
from lab.syntax import ConfigRejected, check_syntax
from lab.teardown import down, teardown
from lab.wait import Budget, Waited, wait_until

PINGS = Budget("pings", 15)


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


def _speaker_sessions(speaker: NodeSpeaker, problems: Callable[[Any], list[str]]) -> tuple[Any, list[str]]:
    """A node's own sessions now, and what ``problems`` finds wrong with them."""
    return with_problems(speaker.sessions(), problems)


class Lab:
    """A lab built (or being built) from ``plan`` in ``workdir``, with its state recorded in ``state``."""

    def __init__(self, plan: LabPlan, workdir: Path, state: LabState) -> None:
        self.plan = plan
        self.workdir = workdir
        self.state = state
        self.backend: Backend = backend_for(plan, workdir, state)

    @property
    def routers(self) -> dict[str, RouterDaemon]:
        """Router host ("router", or each router's name with ``routers``) -> its daemon."""
        return self.backend.routers

    @property
    def speakers(self) -> dict[str, NodeSpeaker]:
        return self.backend.speakers

    @property
    def hosts_mode(self) -> bool:
        return self.state.mode == "hosts"

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
        plan = plan_lab(stack_file, lab_id, tamper, hosts=mode == "hosts")
        BACKENDS[mode].refuse_unplayable(plan)  # before anything exists
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
        return cls(plan_lab(stack_file, state.lab_id, hosts=state.mode == "hosts"), workdir, state)

    def _write_rendered(self) -> None:
        """Every artifact (and the translated GoBGP configs), secret-free, under ``rendered/``."""
        rendered = self.workdir / "rendered"
        files = dict(self.plan.artifacts) | {c.path: c.text for c in self.plan.configs if c.kind == "gobgp"}
        for rel, text in files.items():
            path = rendered / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def _timings_header(self) -> dict[str, Any]:
        return {
            "labId": self.plan.lab_id,
            "stackFile": str(self.plan.stack_file),
            "mode": self.backend.mode,
            "method": self.plan.cfg.method,
            "routerDaemons": {h: r.kind for h, r in self.routers.items()},
            "speaker": self.plan.speaker_kind,
        }

    def up(self) -> Timings:
        """Build the namespaces and start the hosts (daemons mode: until the router has every session
        and route)."""
        began = time.monotonic()
        self._write_rendered()
        timings = self.backend.up(began)
        self.state.set_status("up")
        result = Timings(self._timings_header() | {"up": timings})
        result.save(self.workdir)
        return result

    @property
    def converge_budget(self) -> Budget:
        return converge_budget(self.plan)

    def program_check(self, host: str, expected: dict[str, Any] | None = None, timeout: int = 30) -> dict[str, Any]:
        """``pulumi up``'s own router check (bgp_status.py through ``verify_command``, naming the router
        as ``up`` does when there are several), run on the router ``host`` with the daemon's CLI as
        that host reaches it; ``expected`` defaults to the stack's expectation there. Fails with
        what the check wrote (the missing peers and prefixes, the router's name)."""
        router = self.routers[host]
        several = self.plan.sessions.form == "routers"
        command = verify_command(
            router.kind,
            self.plan.expected[host] if expected is None else expected,
            timeout,
            router=self.plan.topology.router(host).name if several else None,
            options=router.status_options(),
        )
        argv = [*self.backend.enter(host), "sh", "-c", command]
        proc = run(argv, stdin=status_script_source(), check=False, timeout=timeout + 30)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise LabError(
                f"the program's check on {host} printed no JSON (exit {proc.returncode}): {proc.stderr.strip()}"
            ) from None
        if proc.returncode != 0:
            raise LabError(f"the program's check on {host} failed:\n{proc.stderr.strip()}")
        return report

    def wait_upstream(self, since: float, expected: dict[str, Any] | None = None) -> Waited[RouterView] | None:
        """Until the upstream peer (the client) has a session with each router that announces to it
        and every prefix with the expected nexthops; None without one."""
        upstream = self.backend.upstream
        want = expected or self.plan.upstream
        if upstream is None or want is None:
            return None
        return wait_until(
            partial(observed_problems, upstream, partial(route_problems, want)),
            self.converge_budget,
            "the upstream peer (client): its sessions with the routers and every prefix via them",
            since=since,
        )

    def speaker_views(self) -> dict[str, dict[str, Any]]:
        """Each node's own view: its sessions Established (within the convergence budget), and what a
        speaker with an API originates exactly the prefixes it should."""
        views: dict[str, dict[str, Any]] = {}
        for name, speaker in self.speakers.items():
            peers = self.plan.speaker_peers(name)
            seen = wait_until(
                partial(_speaker_sessions, speaker, partial(speaker_problems, name, peers=peers)),
                self.converge_budget,
                f"{name}'s own sessions Established",
            ).value
            view: dict[str, Any] = {"sessions": {a: s["state"] for a, s in seen.items()}}
            originated = speaker.originated()
            if originated is not None:
                want = sorted(str(p) for p in self.plan.standins[name].prefixes)
                if originated != want:
                    raise LabError(f"{name}'s {speaker.kind} originates {originated}, expected {want}")
                view["originated"] = originated
            views[name] = view
        return views

    def _wait_ping(
        self, source: str, ns: str, src: IPv4Address, dst: IPv4Address, budget: Budget = PINGS
    ) -> PingResult:
        def probe() -> tuple[PingResult, list[str]]:
            result = ping(source, ns, src, dst)
            return result, [] if result.ok else [f"ping {src} -> {dst} from {source}: {result.detail}"]

        return wait_until(probe, budget, f"ping {src} -> {dst} from {source}").value

    def pings(self, budget: Budget = PINGS) -> list[PingResult]:
        """Pod to pod for every ordered pair of nodes, the client to every pod and LB IP; every reply
        with the TTL of its routed hops (``expected_ttl``: one router, or two between racks)."""
        topo = self.plan.topology
        results = [
            self._wait_ping(a.name, a.netns, a.pod_ip, b.pod_ip, budget)
            for a in topo.nodes
            for b in topo.nodes
            if a != b
        ]
        client = topo.client
        results += [self._wait_ping("client", client.netns, client.address.ip, n.pod_ip, budget) for n in topo.nodes]
        results += [
            self._wait_ping("client", client.netns, client.address.ip, ip, budget) for ip in self.plan.lb_ips.values()
        ]
        for result in results:
            want = expected_ttl(self.plan, result.source, result.dst)
            if result.ttl != want:
                hops = 64 - want
                raise LabError(
                    f"ping {result.src} -> {result.dst}: reply TTL {result.ttl}, expected {want} ({hops} hops)"
                )
        return results

    def verify(self) -> dict[str, Any]:
        if self.state.status != "up":
            raise LabError(f"lab {self.plan.lab_id} is {self.state.status}, not up")
        began = time.monotonic()
        extra = self.backend.before_verify()
        converged = wait_converged(self.routers, self.plan, began)
        views = {host: observe_router(r, r.netns) for host, r in self.routers.items()}
        report: dict[str, Any] = {
            "labId": self.plan.lab_id,
            "stackFile": str(self.plan.stack_file),
            "mode": self.backend.mode,
            "method": self.plan.cfg.method,
            "routerDaemons": {h: r.kind for h, r in self.routers.items()},
            "namespaces": self.plan.topology.namespaces,
            "podCidrs": {n: [str(c) for c in cs] for n, cs in self.plan.pod_cidrs.items()},
            "loadBalancerIps": {s: str(ip) for s, ip in self.plan.lb_ips.items()},
            "expected": self.plan.expected,
            "routers": {h: {"peers": v.peers, "routes": v.routes} for h, v in views.items()},
            "programChecks": {host: self.program_check(host) for host in self.routers},
            "speakers": self.speaker_views(),
            "pings": [p.as_dict() for p in self.pings()],
            **extra,
        }
        upstream = self.wait_upstream(began)
        if upstream is not None:
            report["upstream"] = {"peers": upstream.value.peers, "routes": upstream.value.routes}
        timings = Timings.load(self.workdir)
        timings.values["verifyConverged"] = converged
        timings.values["verifySeconds"] = round(time.monotonic() - began, 2)
        timings.save(self.workdir)
        report["timings"] = timings.values
        (self.workdir / "verify.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return report

    def negotiated_hold(self, node: str) -> int:
        return self.plan.negotiated_hold(node)

    def speaker_record(self, node: str) -> ProcessRecord:
        """The recorded process of ``node``'s speaker (what the fault cases freeze)."""
        return self.state.process(self.speakers[node].role)


def expected_ttl(plan: LabPlan, source: str, dst: IPv4Address | str) -> int:
    """The TTL of a ping reply: 64 less one per router it crossed. The first router is the source's
    gateway (the client's: its default route, or the upstream's routes); it delivers to a node it
    peers with, else passes the packet to the router that does (two routers, e.g. between racks)."""
    topo = plan.topology
    owners = {m.address.ip: m.host for s in topo.segments for m in s.routers}
    names = {r.host: r.name for r in topo.routers}
    dst = IPv4Address(dst)
    target = next((n for n in topo.nodes if n.pod_ip == dst), None)
    announcers = [target.name] if target is not None else [n.name for n in topo.nodes]
    last = {s.router for n in announcers for s in plan.sessions.node(n).sessions}
    if source == "client":
        client = topo.client
        prefix = f"{dst}/32" if target is None else str(target.pod_cidrs[0])
        upstream_hops = (plan.upstream or {}).get("routes", {}).get(prefix)
        if client.upstream is not None and plan.upstream is not None and upstream_hops is None:
            # Not predicted: the routers announcing to the upstream pick among next hops that are all
            # routers peering with the node (their mesh runs on the upstream's subnet: a third-party
            # next hop straight to that router), or themselves when they peer with it.
            announcing = [plan.sessions.router(names[p["router"]]) for p in plan.upstream["peers"].values()]
            direct = all(r.name in last or all(m.subnet == client.address.network for m in r.mesh) for r in announcing)
            return 63 if direct else 62
        hops = client.gateways or [IPv4Address(h) for h in upstream_hops or []]
        first = {names[owners[h]] for h in hops if h in owners}
        return 63 if first and first <= last else 62
    first = {s.router for s in plan.sessions.node(source).sessions}
    return 63 if first & last else 62


def up(
    stack_file: Path,
    workdir: Path,
    *,
    tamper: Tampering | None = None,
    keep_on_failure: bool = False,
    hosts: bool = False,
) -> Lab:
    """Create and build a lab; on any failure (or Ctrl-C / SIGTERM) remove what was built, then re-raise.

    ``hosts``: hosts mode (SSH hosts for the real program, no daemons; see ``lab.backends.ssh``).
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


# ConfigRejected and check_syntax live in lab.syntax; tests outside the lab import them from here.
__all__ = ["ConfigRejected", "Lab", "Timings", "check_syntax", "default_workdir", "down", "teardown", "up"]
