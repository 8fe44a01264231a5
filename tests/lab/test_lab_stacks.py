"""Every shipped stack and every lab stack, built with real daemons: sessions, routes, pings; then
the fault cases on one BIRD stack and one GoBGP stack. Each lab is torn down and proven gone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cilium_bgp.versions import SHARED_ASN_METHODS
from lab.faults import run_faults
from lab.plan import StackUnusable, load_stack, plan_lab
from lab.run import Lab
from tests.lab.labkit import LAB_STACKS, SHIPPED_STACKS

pytestmark = pytest.mark.lab

STACKS = SHIPPED_STACKS + sorted(LAB_STACKS.glob("Pulumi.*.yaml"))
FAULT_STACKS = [LAB_STACKS / "Pulumi.lab-bird.yaml", LAB_STACKS / "Pulumi.lab-v2.yaml"]


def check_report(lab: Lab, report: dict[str, Any]) -> None:
    expected = lab.plan.expected
    peers = report["router"]["peers"]
    for address, want in expected["peers"].items():
        got = peers.get(address, {})
        assert got.get("state") == "Established", f"router: peer {address} ({want['node']}) is {got}"
        assert got.get("prefixesReceived") == want["prefixesReceived"], f"router: peer {address} sent {got}"
    routes = report["router"]["routes"]
    assert set(routes) == set(expected["routes"]), f"router kernel routes {routes}, expected {expected['routes']}"
    for prefix, hops in expected["routes"].items():
        if hops is not None:
            assert routes[prefix] == sorted(hops), f"{prefix} via {routes[prefix]}, expected via {hops}"
    if lab.plan.cfg.method in SHARED_ASN_METHODS:
        assert lab.plan.lb_ips, "a shared-ASN lab stack should announce an LB IP"
        for ip in lab.plan.lb_ips.values():
            hops = routes[f"{ip}/32"]
            assert len(hops) == len(lab.plan.cfg.nodes), f"LB IP {ip}: {len(hops)} nexthops {hops}, want one per node"
    assert report["programCheck"]["ok"], f"the program's own check failed: {report['programCheck']['problems']}"
    for node, view in report["speakers"].items():
        states = set(view["sessions"].values())
        assert states == {"Established"}, f"{node}'s own view of its sessions: {view['sessions']}"
    pings = report["pings"]
    nodes = len(lab.plan.cfg.nodes)
    assert len(pings) == nodes * (nodes - 1) + nodes + len(lab.plan.lb_ips), f"unexpected set of pings: {pings}"
    failed = [p for p in pings if not p["ok"] or p["ttl"] != 63]
    assert not failed, f"pings that failed or skipped the router: {failed}"
    up = report["timings"]["up"]
    budget = lab.plan.cfg.verify.timeout_seconds
    assert 0 < up["establishedSeconds"] <= up["routesInstalledSeconds"] <= budget, f"timings out of order: {up}"


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_lab_routes_every_pod_cidr_and_lb_ip(lab_run: Callable[[Path], Any], stack_file: Path) -> None:
    if load_stack(stack_file).method == "kube-router":
        with pytest.raises(StackUnusable, match="method 'kube-router' is out of the lab"):
            plan_lab(stack_file, "000000")
        return
    with lab_run(stack_file) as lab:
        check_report(lab, lab.verify())


@pytest.mark.parametrize("stack_file", FAULT_STACKS, ids=lambda p: p.name)
def test_lab_fault_cases(lab_run: Callable[[Path], Any], stack_file: Path) -> None:
    with lab_run(stack_file) as lab:
        faults = run_faults(lab)
        frozen = faults["frozenSpeaker"]
        node = lab.plan.cfg.nodes[0]
        hold = frozen["holdTimeSeconds"]
        assert hold == 9, f"the fault stacks use a 9 s hold time, the lab computed {hold}"
        # The router's hold timer runs from the last keepalive it got: withdrawal within the hold time.
        assert frozen["withdrawnSeconds"] <= hold + 1.5, f"withdrawal took {frozen['withdrawnSeconds']} s (hold {hold})"
        assert frozen["withdrawn"] == [str(c) for c in lab.plan.pod_cidrs[node.name]], f"withdrawn: {frozen}"
        after = frozen["routesAfterWithdrawal"]
        for ip in lab.plan.lb_ips.values():
            others = sorted(str(n.ip) for n in lab.plan.cfg.nodes if n.name != node.name)
            assert after[f"{ip}/32"] == others, f"ECMP set for {ip} after {node.name} froze: {after[f'{ip}/32']}"
        assert frozen["recoveredSeconds"] < 30, f"recovery: {frozen}"
        refused = {r["host"]: r for r in faults["brokenConfigRefused"]}
        assert "router" in refused, f"the router's broken config was not pushed: {faults}"
        words = {"frr": "Unknown command", "bird": "syntax error"}
        for host, result in refused.items():
            message = "\n".join(result["message"])
            assert words[result["kind"]] in message, f"{host}: refusal without the checker's words: {message}"
        if lab.plan.speaker_kind == "bird":
            assert node.name in refused, f"{node.name}'s broken bird.conf was not pushed: {faults}"
            assert faults["goodConfigReloaded"]["reloaded"], f"good config push: {faults['goodConfigReloaded']}"
        check_report(lab, lab.verify())
