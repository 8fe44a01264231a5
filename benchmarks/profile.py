"""``python -m benchmarks.profile``: where the program's time under mocks goes, the SDK's or ours.

Samples the program under mocks (as ``python -m benchmarks program`` runs it) with py-spy
(``pip install -r benchmarks/requirements.txt``) and sorts every sample by the innermost frame
that is either the project's or the Pulumi SDK's (its runtime, the provider SDKs, asyncio, the
protobuf and thread-pool code it runs on): library code (Jinja2, ipaddress, YAML) counts for
whoever called it. Samples under an import count as imports; the tests' mocks (the providers'
stand-ins) as mocks. Writes ``benchmarks/results/profile.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.program import METHODS, ROOT, bench_config, program_code

# Innermost frames from these (paths as py-spy prints them with --full-filenames) are the SDK's.
SDK_PARTS = (
    "/site-packages/pulumi/",
    "/site-packages/pulumi_kubernetes/",
    "/site-packages/pulumi_command/",
    "/site-packages/google/protobuf/",
    "/site-packages/grpc/",
    "/asyncio/",
    "/concurrent/futures/",
    "/threading.py",
    "/selectors.py",
    "/contextvars",
)
MOCKS = str(ROOT / "tests" / "harness.py")
# Samples of the timed run: its main thread, and the thread pool the SDK calls the mock monitor in.
TIMED = ("run_program", "_worker")


def _frame(text: str) -> tuple[str, str]:
    """(function, file) of one py-spy raw frame, ``function (file:line)``."""
    function, _, where = text.rpartition(" (")
    return function, where.rstrip(")").rsplit(":", 1)[0]


def classify(stack: list[str]) -> tuple[str, str]:
    """(who, function): whose time one sample is, and the innermost function of that owner."""
    frames = [_frame(f) for f in stack]
    if any("importlib" in file for _, file in frames):
        return "imports", ""
    for function, file in reversed(frames):
        if file == MOCKS and function.startswith("StackMocks"):
            return "mocks", function
        if file.startswith(str(ROOT)) and file != MOCKS:
            return "program", f"{Path(file).relative_to(ROOT)}:{function}"
        if any(part in file for part in SDK_PARTS):
            return "sdk", f"{file.split('/site-packages/')[-1].split('/lib/python3')[-1]}:{function}"
    return "other", ""


def profile(nodes: int, method: str, router: str, rate: int = 250) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cbgp-profile-") as scratch:
        config = Path(scratch) / "config.json"
        config.write_text(json.dumps(bench_config(nodes, method, router)))
        script = Path(scratch) / "program.py"
        script.write_text(program_code(config))
        raw = Path(scratch) / "samples.txt"
        proc = subprocess.run(
            ["py-spy", "record", "--full-filenames", "--format", "raw", "--rate", str(rate), "-o", str(raw), "--",
             sys.executable, str(script)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        found = json.loads([x for x in proc.stdout.splitlines() if x.startswith("{")][-1])
        samples: Counter[str] = Counter()
        functions: dict[str, Counter[str]] = {"program": Counter(), "sdk": Counter(), "mocks": Counter()}
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not any(f"{part} (" in stack for part in TIMED):
                continue  # the interpreter starting, the config read: outside the timed run
            who, function = classify(stack.split(";"))
            samples[who] += int(count)
            if who in functions:
                functions[who][function] += int(count)
    total = sum(samples.values())
    share = {who: round(n / total, 3) for who, n in samples.most_common()}
    return {
        "nodes": nodes,
        "method": method,
        "router": router,
        "seconds": round(found["seconds"], 3),
        "cpuSeconds": round(found["cpuSeconds"], 3),
        "samples": total,
        "share": share,
        "top": {who: [[f, round(n / total, 3)] for f, n in c.most_common(12)] for who, c in functions.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--routers", default="frr,bird")
    args = parser.parse_args(argv)
    from benchmarks.__main__ import save

    rows = [
        profile(args.nodes, method, router) for method in args.methods.split(",") for router in args.routers.split(",")
    ]
    for row in rows:
        print(row["method"], row["router"], row["seconds"], "s", row["share"])
    print(f"wrote {save('profile', {'rows': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
