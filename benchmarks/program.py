"""Benchmark (a): the render command and the program under Pulumi mocks, for 10, 100, 1000 nodes.

Each measurement runs in a fresh Python process (so imports and peak memory are its own):
wall time, peak RSS, and for the program the number of resources registered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.stacks import stack_config

ROOT = Path(__file__).resolve().parent.parent

_PROGRAM = """
import json, resource, sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from harness import run_program
config = json.load(open({config!r}))
start = time.perf_counter()
run = run_program(config, secrets={{"sshPrivateKey": "benchmark-key"}}, record=False)
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "resources": len(run.registrations),
                  "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

_RENDER = """
import resource, runpy, sys, time
sys.argv = ["render", "--stack-file", {stack!r}, "--out", {out!r}]
sys.path.insert(0, {root!r})
from cilium_bgp.render import main
start = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - start
import json
print(json.dumps({{"seconds": elapsed, "code": code,
                  "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}), file=sys.stderr)
"""


# The SDK's floor (benchmarks.floor): the same number of resources of the same kinds under the
# same mock monitor, and no other code: what registering alone costs.
_FLOOR = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from benchmarks.floor import register_floor
start = time.perf_counter()
resources = register_floor({nodes})
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "resources": resources,
                  "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _python(code: str) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    stream = proc.stdout if proc.stdout.strip().startswith("{") else proc.stderr
    line = [x for x in stream.splitlines() if x.startswith("{")][-1]
    return json.loads(line), wall


def measure(nodes: int, method: str) -> dict[str, Any]:
    config = stack_config(nodes, method)
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-") as scratch:
        stack = Path(scratch) / f"Pulumi.n{nodes}.yaml"
        stack.write_text(yaml.safe_dump({"config": config}))
        as_json = Path(scratch) / "config.json"
        as_json.write_text(json.dumps(config))
        render, render_wall = _python(_RENDER.format(stack=str(stack), out=str(Path(scratch) / "out"), root=str(ROOT)))
        program, program_wall = _python(_PROGRAM.format(root=str(ROOT), tests=str(ROOT / "tests"), config=str(as_json)))
    return {
        "nodes": nodes,
        "method": method,
        "render": {"seconds": round(render["seconds"], 3), "processSeconds": round(render_wall, 3),
                   "peakRssMiB": round(render["peakRssMiB"], 1)},
        "program": {"seconds": round(program["seconds"], 3), "processSeconds": round(program_wall, 3),
                    "peakRssMiB": round(program["peakRssMiB"], 1), "resources": program["resources"]},
    }  # fmt: skip


def linear_fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least squares y = a + b x, and R²."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"interceptSeconds": intercept, "secondsPerNode": slope, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def sdk_floor(nodes: int) -> dict[str, Any]:
    found, wall = _python(_FLOOR.format(nodes=nodes, root=str(ROOT)))
    return {
        "nodes": nodes,
        "seconds": round(found["seconds"], 3),
        "processSeconds": round(wall, 3),
        "resources": found["resources"],
        "peakRssMiB": round(found["peakRssMiB"], 1),
    }


def run(sizes: list[int], methods: list[str]) -> dict[str, Any]:
    rows = [measure(n, m) for m in methods for n in sizes]
    fits = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        xs = [float(r["nodes"]) for r in mine]
        for what in ("render", "program"):
            fits[f"{method}/{what}"] = linear_fit(xs, [r[what]["seconds"] for r in mine])
    return {"rows": rows, "linearFits": fits, "sdkFloor": [sdk_floor(n) for n in sizes]}
