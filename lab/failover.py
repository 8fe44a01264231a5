"""Router failover on a running lab with several routers: one router killed, or only its BGP
daemon stopped; the other routers keep every session and route, and the upstream peer (the
client) reaches every PodCIDR and LB IP through them; bringing the router back restores ECMP.

- killed: the router's daemons frozen, its links taken down, then every process of it SIGKILLed,
  as a router losing power: its peers notice when their hold timers expire (the failover
  profile's time) or their sockets fail, the hosts' ECMP default routes skip it once its
  neighbour entry fails.
- BGP stopped: the routing daemon stopped as its service would be (FRR's frrinit.sh stop, BIRD's
  ``birdc down``): its sessions close at once and its BGP routes leave its kernel; the router
  itself still forwards what it has connected routes for.

Times are measured from the fault: the other routers settled (``otherRoutersSeconds``), the
upstream without the router's paths and every client ping answered (``failoverSeconds``), and,
from the restart, every router and the upstream as before (``restoredSeconds``).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from lab.checks import observe_router, ping, route_problems
from lab.daemons import BirdDaemon, FrrRouter
from lab.faults import observed
from lab.process import ProcessRecord, signal_process
from lab.run import Lab, expected_ttl
from lab.shell import LabError, run
from lab.upstream import peerings, upstream_expected
from lab.wait import Budget, Waited, wait_until

How = Literal["killed", "bgp-stopped"]
RESTORED = Budget("the router back with every session and route, the upstream with ECMP again", 60)


@dataclass
class RouterDown:
    host: str
    how: How
    hold: int  # the failover profile's hold time: peers notice a dead router within it
    degraded: dict[str, dict[str, Any]]  # other router hosts -> their expectation meanwhile
    upstream: dict[str, Any] | None  # the upstream's expectation meanwhile
    down_at: float
    links: list[str] = field(default_factory=list)
    back_at: float | None = None


def _links(lab: Lab, host: str) -> list[str]:
    netns = lab.plan.topology.netns_of(host)
    links = json.loads(run(["ip", "-j", "link", "show"], netns=netns).stdout or "[]")
    return [link["ifname"] for link in links if link["ifname"] != "lo"]


def _processes(lab: Lab, host: str) -> list[ProcessRecord]:
    return [ProcessRecord(**p) for p in lab.state.processes if p["role"].startswith(f"{host}/")]


def take_down(lab: Lab, host: str, how: How) -> RouterDown:
    """Kill ``host`` (a router) or stop its BGP daemon; what the lab should look like meanwhile."""
    name = lab.plan.topology.router(host).name
    degraded = lab.plan.expected_without(frozenset({name}))
    upstream = None
    if lab.plan.upstream is not None:
        client = lab.plan.topology.client
        peers = [p for p in peerings(lab.plan.sessions, lab.plan.topology) if p.router != host]
        upstream = upstream_expected(client, peers, degraded)
    hold = lab.plan.sessions.timers.hold
    if hold is None:
        raise LabError("router failover is measured on stacks with the fast failover profile (a hold time)")
    router = lab.routers[host]
    state = RouterDown(host, how, hold, degraded, upstream, time.monotonic())
    if how == "killed":
        # A router losing power says goodbye to nobody: its daemons are frozen first (else they
        # would withdraw routes as its links go down one by one), then its links go down, then
        # the daemons are killed (their sockets' FIN can no longer leave).
        processes = _processes(lab, host)
        for record in processes:
            signal_process(record, signal.SIGSTOP)
        state.links = _links(lab, host)
        for link in state.links:
            run(["ip", "link", "set", link, "down"], netns=router.netns)
        for record in processes:
            signal_process(record, signal.SIGKILL)
    elif isinstance(router, FrrRouter):
        run(["/usr/lib/frr/frrinit.sh", "stop", router.netns], netns=router.netns, timeout=60)
    else:
        assert isinstance(router, BirdDaemon)
        router.birdc("down")
    state.down_at = time.monotonic()
    return state


def bring_back(lab: Lab, state: RouterDown) -> None:
    """Links up again (if it was killed), the daemon started from its installed config."""
    router = lab.routers[state.host]
    for link in state.links:
        run(["ip", "link", "set", link, "up"], netns=router.netns)
    for record in router.start():
        lab.state.update_process(record)
    state.back_at = time.monotonic()


@contextmanager
def router_down(lab: Lab, host: str, how: How) -> Iterator[RouterDown]:
    """``host`` down inside the block, brought back however the block ends."""
    state = take_down(lab, host, how)
    try:
        yield state
    finally:
        bring_back(lab, state)


def _pings_answered(lab: Lab) -> tuple[list[str], list[str]]:
    """The client to every pod and LB IP, one attempt each: the failures."""
    topo = lab.plan.topology
    client = topo.client
    targets = [n.pod_ip for n in topo.nodes] + list(lab.plan.lb_ips.values())
    problems = []
    for dst in targets:
        result = ping("client", client.netns, client.address.ip, dst)
        if not result.ok:
            problems.append(f"client -> {dst}: {result.detail}")
        elif result.ttl != expected_ttl(lab.plan, "client", dst):
            problems.append(f"client -> {dst}: TTL {result.ttl}")
    return [str(t) for t in targets], problems


def _upstream_problems(lab: Lab, expected: dict[str, Any] | None) -> list[str]:
    upstream = lab.backend.upstream
    if upstream is None or expected is None:
        return []
    view = observe_router(upstream, upstream.netns)
    return [f"upstream: {p}" for p in route_problems(expected, view)]


def wait_failover(lab: Lab, state: RouterDown) -> dict[str, Waited[Any]]:
    """Until the other routers settle, and the upstream has dropped the router's paths and every
    client ping is answered through the others (budget: the hold time + 10 s, each)."""
    budget = Budget(f"failover after a router {state.how} (hold time + 10 s)", state.hold + 10)
    others = wait_until(
        lambda: observed(lab, state.degraded, {}), budget, f"the routers but {state.host} settled", since=state.down_at
    )

    def reached() -> tuple[list[str], list[str]]:
        problems = _upstream_problems(lab, state.upstream)
        targets, unanswered = _pings_answered(lab)
        return targets, problems + unanswered

    through = wait_until(
        reached, budget, f"every PodCIDR and LB IP reached from the client without {state.host}", since=state.down_at
    )
    return {"others": others, "client": through}


def wait_restored(lab: Lab, state: RouterDown) -> Waited[Any]:
    """Until every router and the upstream are as before (ECMP over all routers again), and every
    client ping is answered; seconds since the restart."""

    def restored() -> tuple[Any, list[str]]:
        views, problems = observed(lab, lab.plan.expected, {})
        problems += _upstream_problems(lab, lab.plan.upstream)
        problems += _pings_answered(lab)[1]
        return views, problems

    return wait_until(restored, RESTORED, f"{state.host} back, ECMP restored", since=state.back_at)


def router_failover(lab: Lab, host: str, how: How) -> dict[str, Any]:
    """Take ``host`` down (``how``), time the failover, bring it back, time the restore."""
    with router_down(lab, host, how) as state:
        failed_over = wait_failover(lab, state)
    back = wait_restored(lab, state)
    return {
        "router": host,
        "how": how,
        "holdTimeSeconds": state.hold,
        "otherRoutersSeconds": failed_over["others"].elapsed,
        "failoverSeconds": failed_over["client"].elapsed,
        "restoredSeconds": back.elapsed,
    }
