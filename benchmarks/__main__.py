"""``python -m benchmarks [program] [lab] [engine] [scale] [--quick]``: measure, write
``benchmarks/results/<name>.json`` and ``benchmarks/results/scaling.png``, print a summary.

Run as root on the machine kind the results describe (the lab, engine and scale parts need root,
frr, bird2, sshd and the Pulumi toolchain: ``bash scripts/install-deps``; plots need
``pip install -r benchmarks/requirements.txt``). The engine and scale parts build hosts-mode labs,
which add a management route in the root namespace: run one such lab on a machine at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# Engine parallelism the scale part compares with the CLI's default (4 per CPU): SSH commands
# mostly wait on the network and the hosts, not on the engine's CPU.
SCALE_PARALLEL = 64


# The daemons report their own versions; vtysh has no --version option.
FRR_BGPD = "/usr/lib/frr/bgpd"


def daemon_version(argv: list[str]) -> str:
    """The version a daemon prints for ``--version`` (on stdout or stderr), or why there is none."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not found"
    if out.returncode != 0:
        return f"unknown (exit {out.returncode})"
    found = re.search(r"\bversion\s+(\d+(?:\.\d+)+)", out.stdout + out.stderr)
    return found.group(1) if found else "unknown"


def machine() -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "memoryGiB": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "frr": daemon_version([FRR_BGPD, "--version"]),
        "bird": daemon_version(["bird", "--version"]),
        # Other work on the machine slows every number: the load when the record was written.
        "loadAverage": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    return path


def plot(program: dict[str, Any] | None, lab: dict[str, Any] | None, scale: dict[str, Any] | None) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: pip install -r benchmarks/requirements.txt (no plot written)", file=sys.stderr)
        return None
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    if program:
        for method in sorted({r["method"] for r in program["rows"]}):
            rows = [r for r in program["rows"] if r["method"] == method and r.get("router", "frr") == "frr"]
            xs = [r["nodes"] for r in rows]
            axes[0].plot(xs, [r["program"]["seconds"] for r in rows], "o-", label=f"program under mocks ({method})")
            axes[0].plot(xs, [r["render"]["seconds"] for r in rows], "s--", label=f"render command ({method})")
        floor = program.get("sdkFloor", [])
        if floor:
            axes[0].plot(
                [r["nodes"] for r in floor], [r["seconds"] for r in floor], "k^:", label="SDK floor (same resources)"
            )
        axes[0].axhline(5, color="grey", linestyle=":", label="target: 1,000 nodes <= 5 s")
        axes[0].set(xscale="log", yscale="log", xlabel="nodes", ylabel="seconds", title="Program and render")
        axes[0].legend(fontsize=7)
    if lab:
        # Rows from before the router dimension were all FRR.
        groups = sorted({(r["profile"], r.get("router", "frr")) for r in lab["rows"]})
        for i, what in enumerate(("routesInstalledSeconds", "withdrawnSeconds")):
            values = [
                sorted(
                    r[what]
                    for r in lab["rows"]
                    if (r["profile"], r.get("router", "frr")) == group and r.get(what) is not None
                )
                for group in groups
            ]
            axes[1].bar(
                [x + i * 0.4 for x in range(len(groups))],
                [v[len(v) // 2] if v else 0 for v in values],
                width=0.4,
                label={"routesInstalledSeconds": "all routes installed", "withdrawnSeconds": "frozen node withdrawn"}[
                    what
                ],
            )
        nodes = lab["rows"][0]["nodes"]
        axes[1].set_xticks([x + 0.2 for x in range(len(groups))], [f"{p}\n{r}" for p, r in groups], fontsize=7)
        axes[1].set(
            yscale="log", ylabel="seconds (median)", title=f"Lab, {nodes} BIRD nodes, per failover profile and router"
        )
        axes[1].legend(fontsize=7)
    if scale:
        for parallel in sorted({r["parallel"] or 0 for r in scale["lab"]}):
            rows = sorted((r for r in scale["lab"] if (r["parallel"] or 0) == parallel), key=lambda r: r["nodes"])
            setting = f"parallel {parallel}" if parallel else "default parallel"
            for step, marker in (("up", "o-"), ("noopUp", "s--"), ("addNodeUp", "^:"), ("destroy", "x-.")):
                xs = [r["nodes"] for r in rows if step in r]
                axes[2].plot(xs, [r[step]["seconds"] for r in rows if step in r], marker, label=f"{step} ({setting})")
        for row in scale["preview"]:
            setting = f"parallel {row['parallel']}" if row["parallel"] else "default parallel"
            axes[2].plot([row["nodes"]], [row["preview"]["seconds"]], "D", label=f"preview only ({setting})")
        axes[2].set(xscale="log", yscale="log", xlabel="node hosts", ylabel="seconds", title="Real engine, hosts lab")
        axes[2].legend(fontsize=6)
    figure.suptitle(f"cilium-bgp benchmarks, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}")
    figure.tight_layout()
    path = RESULTS / "scaling.png"
    figure.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help="program, lab, engine, scale (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer trials, no default-timer failover (3 min each)")
    parser.add_argument("--lab-nodes", type=int, default=50)
    parser.add_argument(
        "--scale-nodes", default="100,250", help="scale: node hosts per lab, comma-separated (--quick: the first)"
    )
    parser.add_argument("--preview-nodes", type=int, default=1000, help="scale: nodes of the preview-only stack")
    parser.add_argument(
        "--parallel",
        default=f"default,{SCALE_PARALLEL}",
        help="scale: engine parallelism to compare, comma-separated ('default': the CLI's; --quick: the last)",
    )
    args = parser.parse_args(argv)
    parts = ["program", "lab", "engine", "scale"]
    args.parts = args.parts or parts
    unknown = set(args.parts) - set(parts)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}: choose from {', '.join(parts)}")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    program = lab = None
    if "program" in args.parts:
        from benchmarks import program as bench_program

        program = bench_program.run([10, 100, 1000], bench_program.METHODS, 1 if args.quick else 3)
        print(f"wrote {save('program', program)}")
    if "lab" in args.parts:
        from benchmarks import lab as bench_lab

        profiles = ["fast", "bfd"] if args.quick else ["default", "fast", "bfd"]
        lab = bench_lab.run(args.lab_nodes, profiles, 1 if args.quick else 3)
        print(f"wrote {save('lab', lab)}")
    if "engine" in args.parts:
        from benchmarks import engine as bench_engine

        print(f"wrote {save('engine', bench_engine.run(1 if args.quick else 3))}")
    if "scale" in args.parts:
        from benchmarks import engine_scale

        sizes = [int(n) for n in args.scale_nodes.split(",")]
        parallel = [None if p == "default" else int(p) for p in args.parallel.split(",")]
        if args.quick:
            sizes, parallel = sizes[:1], parallel[-1:]
        result = engine_scale.run(
            sizes, args.preview_nodes, parallel, progress=lambda so_far: save("scale", so_far | {"complete": False})
        )
        print(f"wrote {save('scale', result | {'complete': True})}")
    if program is None and (RESULTS / "program.json").exists():
        program = json.loads((RESULTS / "program.json").read_text())
    if lab is None and (RESULTS / "lab.json").exists():
        lab = json.loads((RESULTS / "lab.json").read_text())
    scale = json.loads((RESULTS / "scale.json").read_text()) if (RESULTS / "scale.json").exists() else None
    written = plot(program, lab, scale)
    if written:
        print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
