"""Probes for ``wait_until``: the router's view (through the program's own ``bgp_status`` checker),
each speaker's view of its sessions, and pings between the lab's hosts.

Each probe returns what it saw and a list of problems (empty: as expected), like topotests'
``run_and_expect`` over a ``show ... json``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address
from typing import Any

from cilium_bgp.hostscripts import bgp_status
from lab.daemons import RouterDaemon
from lab.plan import LabPlan
from lab.shell import CommandFailed, CommandTimeout, run
from lab.wait import Budget, wait_until

ESTABLISHED = "Established"


@dataclass(frozen=True)
class RouterView:
    peers: dict[str, dict[str, Any]]  # address -> {state, asn, prefixesReceived}
    routes: dict[str, list[str]]  # prefix -> nexthops, BGP routes of the kernel table


def observe_router(router: RouterDaemon, netns: str) -> RouterView:
    """The router's sessions and kernel routes, read by the functions ``pulumi up``'s check runs."""
    try:
        peers = router.peers()
        routes = bgp_status.kernel_routes(["ip", "-n", netns])
    except RuntimeError as error:
        raise CommandFailed(["bgp_status"], 1, "", str(error)) from None
    except subprocess.TimeoutExpired as error:
        raise CommandTimeout(f"bgp_status: {error}") from None
    return RouterView(peers, routes)


def session_problems(expect: Mapping[str, Any], view: RouterView) -> list[str]:
    return bgp_status.problems_of({"peers": expect["peers"], "routes": {}}, view.peers, view.routes)


def route_problems(expect: Mapping[str, Any], view: RouterView, *, withdrawn: Sequence[str] = ()) -> list[str]:
    """``bgp_status``'s verdict, plus prefix counts and routes that must not (or no longer) be there."""
    problems = bgp_status.problems_of(expect, view.peers, view.routes)
    for address, want in expect["peers"].items():
        got = view.peers.get(address, {})
        if want["prefixesReceived"] is None:
            # What another router sends is not predicted.
            continue
        if got.get("state") == ESTABLISHED and got.get("prefixesReceived") != want["prefixesReceived"]:
            problems.append(
                f"peer {address} ({peer_name(want)}) sent {got.get('prefixesReceived')} prefixes, "
                f"expected {want['prefixesReceived']}"
            )
    problems += [
        f"prefix {p} is still in the kernel table via {', '.join(view.routes[p])}"
        for p in withdrawn
        if p in view.routes
    ]
    unexpected = sorted(set(view.routes) - set(expect["routes"]) - set(withdrawn))
    problems += [f"unexpected route {p} via {', '.join(view.routes[p])}" for p in unexpected]
    return problems


def peer_name(want: Mapping[str, Any]) -> str:
    """Who an expected peer is: a node, another router, an upstream."""
    return next(f"{k} {want[k]}" for k in ("node", "router", "upstream") if k in want)


def with_problems(value: Any, problems: Callable[[Any], list[str]]) -> tuple[Any, list[str]]:
    """A probe's answer: ``value`` and what ``problems`` finds wrong with it."""
    return value, problems(value)


def observed_problems(router: RouterDaemon, problems: Callable[[Any], list[str]]) -> tuple[Any, list[str]]:
    """What ``router`` shows now, and what ``problems`` finds wrong with it."""
    return with_problems(observe_router(router, router.netns), problems)


def converge_budget(plan: LabPlan) -> Budget:
    return Budget("convergence (verify.timeoutSeconds)", plan.cfg.verify.timeout_seconds)


def wait_converged(
    routers: Mapping[str, RouterDaemon],
    plan: LabPlan,
    since: float,
    expected: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, float]:
    """Wait until every router (``expected``: by host, default the plan's) has every expected
    session, then every route; seconds since ``since``, for the slowest router."""
    expected = plan.expected if expected is None else expected
    established, routed = 0.0, 0.0
    for host, expect in expected.items():
        router = routers[host]
        sessions = wait_until(
            partial(observed_problems, router, partial(session_problems, expect)),
            converge_budget(plan),
            f"{host}: every expected BGP session Established",
            since=since,
        )
        routes = wait_until(
            partial(observed_problems, router, partial(route_problems, expect)),
            converge_budget(plan),
            f"{host}: every PodCIDR and LB IP in the kernel table with the expected nexthops",
            since=since,
        )
        established, routed = max(established, sessions.elapsed), max(routed, routes.elapsed)
    return {"establishedSeconds": established, "routesInstalledSeconds": routed}


def speaker_problems(node: str, sessions: Mapping[str, Mapping[str, Any]], peers: list[IPv4Address]) -> list[str]:
    problems = []
    for peer in peers:
        state = sessions.get(str(peer), {}).get("state", "missing")
        if state != ESTABLISHED:
            problems.append(f"{node}: session to {peer} is {state}, not {ESTABLISHED}")
    return problems


@dataclass(frozen=True)
class PingResult:
    source: str  # host name
    netns: str
    src: str
    dst: str
    ok: bool
    ttl: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source, "src": self.src, "dst": self.dst, "ok": self.ok, "ttl": self.ttl}


def ping(source: str, netns: str, src: IPv4Address, dst: IPv4Address) -> PingResult:
    proc = run(["ping", "-n", "-c1", "-W1", "-I", str(src), str(dst)], netns=netns, check=False, timeout=10)
    ttl = re.search(r"ttl=(\d+)", proc.stdout)
    detail = (proc.stdout + proc.stderr).strip().splitlines()
    return PingResult(
        source,
        netns,
        str(src),
        str(dst),
        proc.returncode == 0,
        int(ttl.group(1)) if ttl else None,
        " / ".join(detail[-2:]),
    )
