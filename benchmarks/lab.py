"""Benchmark (b): the lab with N BIRD nodes, per failover profile (default, fast, bfd) and router
daemon (FRR, BIRD).

For each profile and router: build the lab from an N-node stack (configs rendered by the program), time from
the daemons' start to all sessions Established and to all routes in the router's kernel table,
then freeze one node's BIRD and time the withdrawal of its PodCIDR (the same fault case the lab
suite runs). Needs root, frr and bird2.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.stacks import stack_config
from lab.faults import frozen_speaker
from lab.run import down, up
from lab.wait import Budget

PROFILES = ("default", "fast", "bfd")
ROUTERS = ("frr", "bird")


def measure(nodes: int, profile: str, router: str = "frr", *, freeze: bool = True) -> dict[str, Any]:
    config = stack_config(nodes, "bird", bgp={"failover": profile})
    config["cilium-bgp:router"]["daemon"] = router
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-lab-") as scratch:
        stack = Path(scratch) / f"Pulumi.lab{nodes}-{profile}-{router}.yaml"
        stack.write_text(yaml.safe_dump({"config": config}))
        workdir = Path(scratch) / "lab"
        lab = up(stack, workdir)
        try:
            timings = json.loads((workdir / "timings.json").read_text())["up"]
            row: dict[str, Any] = {
                "nodes": nodes,
                "profile": profile,
                "router": router,
                "establishedSeconds": round(timings["establishedSeconds"], 2),
                "routesInstalledSeconds": round(timings["routesInstalledSeconds"], 2),
                "buildSeconds": timings["buildSeconds"],
            }
            if freeze:
                # With default timers BIRD sits out its error wait (60-300 s) before it reconnects.
                recovery = Budget("recovery after a frozen speaker", 330 if profile == "default" else 60)
                fault = frozen_speaker(lab, lab.plan.cfg.nodes[0].name, recovery)
                row.update(
                    holdTimeSeconds=fault["holdTimeSeconds"],
                    withdrawnSeconds=round(fault["withdrawnSeconds"], 2),
                    recoveredSeconds=round(fault["recoveredSeconds"], 2),
                )
            return row
        finally:
            down(workdir)


def run(nodes: int, profiles: list[str], trials: int, routers: tuple[str, ...] = ROUTERS) -> dict[str, Any]:
    """``trials`` runs per profile and router; ``default`` once, with FRR (its failover alone takes
    three minutes)."""
    rows = [
        measure(nodes, profile, router) | {"trial": t}
        for profile in profiles
        for router in (routers[:1] if profile == "default" else routers)
        for t in range(1 if profile == "default" else trials)
    ]
    return {"rows": rows}
