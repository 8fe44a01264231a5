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
        if got.get("state") == ESTABLISHED and got.get("prefixesReceived") != want["prefixesReceived"]:
            problems.append(
                f"peer {address} ({want['node']}) sent {got.get('prefixesReceived')} prefixes, "
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


def with_problems(value: Any, problems: Callable[[Any], list[str]]) -> tuple[Any, list[str]]:
    """A probe's answer: ``value`` and what ``problems`` finds wrong with it."""
    return value, problems(value)


def converge_budget(plan: LabPlan) -> Budget:
    return Budget("convergence (verify.timeoutSeconds)", plan.cfg.verify.timeout_seconds)


def wait_converged(router: RouterDaemon, plan: LabPlan, since: float) -> dict[str, float]:
    """Wait until the router has every expected session, then every route; seconds since ``since``."""
    expect = plan.expected
    established = wait_until(
        lambda: with_problems(observe_router(router, router.netns), lambda v: session_problems(expect, v)),
        converge_budget(plan),
        "every expected BGP session Established on the router",
        since=since,
    )
    routed = wait_until(
        lambda: with_problems(observe_router(router, router.netns), lambda v: route_problems(expect, v)),
        converge_budget(plan),
        "every PodCIDR and LB IP in the router's kernel table with the expected nexthops",
        since=since,
    )
    return {"establishedSeconds": established.elapsed, "routesInstalledSeconds": routed.elapsed}


def without_node(expect: Mapping[str, Any], node_ip: str) -> tuple[dict[str, Any], list[str]]:
    """What the router should show once ``node_ip`` stops speaking: its peer gone from the checks,
    its own prefixes withdrawn, shared (ECMP) prefixes via the other nodes only."""
    peers = {a: p for a, p in expect["peers"].items() if a != node_ip}
    routes: dict[str, list[str] | None] = {}
    withdrawn: list[str] = []
    for prefix, hops in expect["routes"].items():
        if hops is None:
            routes[prefix] = None
            continue
        left = [h for h in hops if h != node_ip]
        if left:
            routes[prefix] = left
        else:
            withdrawn.append(prefix)
    return {"peers": peers, "routes": routes}, withdrawn


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
