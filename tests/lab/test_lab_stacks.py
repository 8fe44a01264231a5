"""Every shipped stack and every lab stack on real daemons, in topotests' shape: one lab per stack,
built once, then short ordered steps, each a ``show ... json`` compared with the subset it must
contain (``tests.lab.expect``), retried to a named deadline. Then the fault cases on one BIRD stack
and one GoBGP stack, on the same labs. Each lab is torn down and proven gone.

::

                 client (default via the router)
                   |
     node1 --- [ router ] --- node2 ...      FRR or BIRD on the router; BIRD, or GoBGP standing in
     (each stack's subnets, docs/lab.md)     for the cilium-agent, on the nodes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cilium_bgp.versions import METHODS_WITH_CILIUM_SPEAKER, SHARED_ASN_METHODS
from lab import faults
from lab.plan import load_stack
from lab.run import Lab
from lab.wait import Budget
from tests.lab.expect import kernel_routes, pings, router_rib, router_sessions, speaker_originated, speaker_sessions
from tests.lab.jsoncmp import Exact, json_cmp
from tests.lab.labkit import LAB_STACKS, SHIPPED_STACKS, expect

pytestmark = pytest.mark.lab

STACKS = [s for s in SHIPPED_STACKS + sorted(LAB_STACKS.glob("Pulumi.*.yaml")) if load_stack(s).method != "kube-router"]
GOBGP_STACKS = [s for s in STACKS if load_stack(s).method in METHODS_WITH_CILIUM_SPEAKER]
UPSTREAM_STACKS = [s for s in STACKS if any(r.upstreams for _, r in load_stack(s).all_routers)]
FAULT_STACKS = [
    LAB_STACKS / "Pulumi.lab-bird.yaml",
    LAB_STACKS / "Pulumi.lab-v2.yaml",
    # With several routers: every router withdraws the frozen node's routes (via the mesh too).
    LAB_STACKS / "Pulumi.lab-pair-v2.yaml",
    LAB_STACKS / "Pulumi.lab-rack-bird.yaml",
]
BIRD_FAULT_STACKS = [s for s in FAULT_STACKS if s not in GOBGP_STACKS]
# Right after a fault's own wait has seen the router settle, its tables must already say so.
SETTLED = Budget("tables settled (the fault's own wait already saw it)", 3)
RESUMED = Budget("recovery after a resumed speaker", 30)
CHECKER_WORDS = {"frr": "Unknown command", "bird": "syntax error"}


def on(stacks: list[Path]) -> pytest.MarkDecorator:
    """Run the step on the lab of each of ``stacks`` (one lab per stack, shared by the steps)."""
    return pytest.mark.parametrize("stack_file", stacks, indirect=True, ids=lambda p: p.name)


@pytest.fixture(scope="module")
def fault_log(lab: Lab) -> dict[str, Any]:
    """What one fault step leaves for the next on the same lab (the frozen speaker)."""
    return {}


@on(STACKS)
def test_router_sessions_established(lab: Lab) -> None:
    for host in lab.routers:
        expect(router_sessions(lab, host), lab.converge_budget)


@on(STACKS)
def test_router_rib_holds_every_prefix(lab: Lab) -> None:
    for host in lab.routers:
        expect(router_rib(lab, host), lab.converge_budget)


@on(STACKS)
def test_kernel_routes_with_exact_nexthops(lab: Lab) -> None:
    for host in lab.routers:
        routes = expect(kernel_routes(lab, host), lab.converge_budget).value
        router = lab.plan.sessions.router(lab.plan.topology.router(host).name)
        if lab.plan.cfg.method in SHARED_ASN_METHODS and router.sessions:
            assert lab.plan.lb_ips, "a shared-ASN stack should announce an LB IP"
            for ip in lab.plan.lb_ips.values():
                route = routes[f"{ip}/32"]
                hops = route.get("nexthops") or [route]
                assert len(hops) == len(router.sessions), f"{host}: LB IP {ip} via {hops}, want each of its nodes"


@on(UPSTREAM_STACKS)
def test_upstream_learns_every_prefix_from_the_routers(lab: Lab) -> None:
    expect(kernel_routes(lab, "client"), lab.converge_budget)


@on(STACKS)
def test_speakers_see_their_sessions(lab: Lab) -> None:
    for node in lab.speakers:
        expect(speaker_sessions(lab, node), lab.converge_budget)


@on(GOBGP_STACKS)
def test_standins_originate_exactly_their_prefixes(lab: Lab) -> None:
    for node in lab.speakers:
        expect(speaker_originated(lab, node), lab.converge_budget)


@on(STACKS)
def test_programs_router_check_passes(lab: Lab) -> None:
    for host in lab.routers:
        report = lab.program_check(host)
        differences = json_cmp(report, {"ok": True, "problems": Exact([])})
        assert differences is None, f"bgp_status.py (pulumi up's check) on {host}: {differences}"


@on(STACKS)
def test_pings_cross_the_router(lab: Lab) -> None:
    sent = [p.as_dict() for p in lab.pings()]
    differences = json_cmp(sent, pings(lab))
    assert differences is None, f"pings (TTL 63: one routed hop): {differences}"


def _router_report(expected: dict[str, Any]) -> dict[str, Any]:
    peers = {
        a: {"state": "Established"}
        | ({} if p["prefixesReceived"] is None else {"prefixesReceived": p["prefixesReceived"]})
        for a, p in expected["peers"].items()
    }
    return {"peers": peers, "routes": {p: Exact(sorted(h)) for p, h in expected["routes"].items() if h is not None}}


def check_report(lab: Lab, report: dict[str, Any]) -> None:
    """``verify``'s report (what ``python -m lab verify --json`` prints) says what the steps saw."""
    nodes = len(lab.plan.cfg.nodes)
    want = {
        "routers": {h: _router_report(e) for h, e in lab.plan.expected.items()},
        "programChecks": {h: {"ok": True} for h in lab.routers},
        "speakers": {n: {"sessions": {str(p): "Established" for p in lab.plan.speaker_peers(n)}} for n in lab.speakers},
        "pings": pings(lab),
    }
    if lab.plan.upstream is not None:
        want["upstream"] = _router_report(lab.plan.upstream)
    differences = json_cmp(report, want)
    assert differences is None, f"verify's report: {differences}"
    for host, expected in lab.plan.expected.items():
        extra = set(report["routers"][host]["routes"]) - set(expected["routes"])
        assert not extra, f"{host}: routes beyond the expected: {sorted(extra)}"
    assert len(report["pings"]) == nodes * (nodes - 1) + nodes + len(lab.plan.lb_ips), f"{report['pings']}"
    up = report["timings"]["up"]
    budget = lab.plan.cfg.verify.timeout_seconds
    assert 0 < up["establishedSeconds"] <= up["routesInstalledSeconds"] <= budget, f"timings out of order: {up}"


@on(STACKS)
def test_verify_reports_it_all(lab: Lab) -> None:
    check_report(lab, lab.verify())


@on(FAULT_STACKS)
def test_frozen_speaker_is_withdrawn_within_the_hold_time(lab: Lab, fault_log: dict[str, Any]) -> None:
    node = lab.plan.cfg.nodes[0]
    with faults.frozen(lab, node.name) as frozen:
        fault_log["frozen"] = frozen
        gone = faults.wait_withdrawn(lab, frozen)
        for host, degraded in frozen.degraded.items():
            expect(kernel_routes(lab, host, degraded), SETTLED)
            expect(router_rib(lab, host, degraded, frozen.withdrawn[host]), SETTLED)
    assert frozen.hold == 9, f"the fault stacks use a 9 s hold time, the lab computed {frozen.hold}"
    # The router's hold timer runs from the last keepalive it got: withdrawal within the hold time.
    assert gone.elapsed <= frozen.hold + 1.5, f"withdrawal took {gone.elapsed} s (hold {frozen.hold})"
    own = sorted(str(c) for c in lab.plan.pod_cidrs[node.name])
    assert all(w == own for w in frozen.withdrawn.values()), f"withdrawn: {frozen.withdrawn}"


@on(FAULT_STACKS)
def test_frozen_speaker_is_back_after_it_resumes(lab: Lab, fault_log: dict[str, Any]) -> None:
    assert "frozen" in fault_log, "the freeze step did not run on this lab"
    back = faults.wait_recovered(lab, fault_log["frozen"], RESUMED)
    for host in lab.routers:
        expect(kernel_routes(lab, host), SETTLED)
        expect(router_sessions(lab, host), SETTLED)
    assert back.elapsed < RESUMED.seconds, f"recovery took {back.elapsed} s"


def check_refused(lab: Lab, host: str) -> None:
    result = faults.broken_config_rejected(lab, host)
    message = "\n".join(result["message"])
    assert CHECKER_WORDS[result["kind"]] in message, f"{host}: the refusal does not quote the checker: {message}"
    for router in lab.routers:
        expect(router_sessions(lab, router), SETTLED)
        expect(kernel_routes(lab, router), SETTLED)


@on(FAULT_STACKS)
def test_broken_router_config_is_refused_without_a_reset(lab: Lab) -> None:
    for host in lab.routers:
        check_refused(lab, host)


@on(BIRD_FAULT_STACKS)
def test_broken_node_config_is_refused_without_a_reset(lab: Lab) -> None:
    check_refused(lab, lab.plan.cfg.nodes[0].name)


@on(BIRD_FAULT_STACKS)
def test_unchanged_node_config_reloads_without_a_reset(lab: Lab) -> None:
    node = lab.plan.cfg.nodes[0].name
    result = faults.good_config_reloaded(lab, node)
    assert result["reloaded"] and any("Reconfigured" in line for line in result["message"]), f"{node}: {result}"
    for host in lab.routers:
        expect(router_sessions(lab, host), SETTLED)


@on(FAULT_STACKS)
def test_routed_again_after_the_faults(lab: Lab) -> None:
    check_report(lab, lab.verify())
