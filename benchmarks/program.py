"""Benchmark (a): the render command and the program under Pulumi mocks, for 10, 100, 1000 nodes,
every method, FRR as the router (and BIRD at the largest size).

Each measurement runs in a fresh Python process (so imports and peak memory are its own): wall
time, CPU time, peak RSS, and for the program the number of resources registered. Each is taken
``trials`` times and the median kept, every sample with the load average when it ended: other
work on the machine stretches wall time far more than CPU time.
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
cpu, start = time.process_time(), time.perf_counter()
run = run_program(config, secrets={{"sshPrivateKey": "benchmark-key"}}, record=False)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"seconds": elapsed, "cpuSeconds": cpu, "resources": len(run.registrations),
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
cpu, start = time.process_time(), time.perf_counter()
resources = register_floor({nodes})
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"seconds": elapsed, "cpuSeconds": cpu, "resources": resources,
                  "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _python(code: str) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    stream = proc.stdout if proc.stdout.strip().startswith("{") else proc.stderr
    line = [x for x in stream.splitlines() if x.startswith("{")][-1]
    return json.loads(line), wall


METHODS = ["bird", "kube-router", "cilium-metallb", "cilium-bgp-v1", "cilium-bgp-v2"]
# Cilium's MetalLB speaker left Cilium in 1.17: that method's stacks run the last release with it.
CILIUM_FOR = {"cilium-metallb": "1.16.19"}


def _load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The median sample by wall time, with every sample's wall and CPU time and load."""
    middle = sorted(samples, key=lambda s: s["seconds"])[len(samples) // 2]
    return {
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in middle.items()},
        "samples": [
            {k: round(s[k], 3) if k != "loadAverage" else s[k] for k in ("seconds", "cpuSeconds", "loadAverage")}
            for s in samples
        ],
    }


def _sample(code: str) -> dict[str, Any]:
    found, wall = _python(code)
    return {**found, "processSeconds": wall, "loadAverage": _load()}


def bench_config(nodes: int, method: str, router: str = "frr") -> dict[str, Any]:
    config = stack_config(nodes, method)
    if method in CILIUM_FOR:
        config["cilium-bgp:cilium"]["version"] = CILIUM_FOR[method]
    config["cilium-bgp:router"]["daemon"] = router
    return config


def program_code(config_path: Path) -> str:
    """A Python program that runs the stack of ``config_path`` under mocks and prints its numbers."""
    return _PROGRAM.format(root=str(ROOT), tests=str(ROOT / "tests"), config=str(config_path))


def measure(nodes: int, method: str, router: str = "frr", trials: int = 1) -> dict[str, Any]:
    config = bench_config(nodes, method, router)
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-") as scratch:
        stack = Path(scratch) / f"Pulumi.n{nodes}.yaml"
        stack.write_text(yaml.safe_dump({"config": config}))
        as_json = Path(scratch) / "config.json"
        as_json.write_text(json.dumps(config))
        render, render_wall = _python(_RENDER.format(stack=str(stack), out=str(Path(scratch) / "out"), root=str(ROOT)))
        program = [_sample(program_code(as_json)) for _ in range(trials)]
    return {
        "nodes": nodes,
        "method": method,
        "router": router,
        "render": {"seconds": round(render["seconds"], 3), "processSeconds": round(render_wall, 3),
                   "peakRssMiB": round(render["peakRssMiB"], 1)},
        "program": _median(program),
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


def sdk_floor(nodes: int, trials: int = 1) -> dict[str, Any]:
    return {"nodes": nodes, **_median([_sample(_FLOOR.format(nodes=nodes, root=str(ROOT))) for _ in range(trials)])}


def run(sizes: list[int], methods: list[str], trials: int = 3) -> dict[str, Any]:
    """Every method at every size with FRR as the router, and with BIRD at the largest size."""
    rows = [measure(n, m, trials=trials) for m in methods for n in sizes]
    rows += [measure(max(sizes), m, "bird", trials) for m in methods]
    fits = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method and r["router"] == "frr"]
        xs = [float(r["nodes"]) for r in mine]
        for what in ("render", "program"):
            fits[f"{method}/{what}"] = linear_fit(xs, [r[what]["seconds"] for r in mine])
    return {"rows": rows, "linearFits": fits, "sdkFloor": [sdk_floor(n, trials) for n in sizes]}
