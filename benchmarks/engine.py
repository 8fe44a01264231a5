"""Benchmark (c): the real Pulumi engine on the lab stack: `pulumi preview`, `pulumi up` on empty
hosts, and a no-op `pulumi up` (nothing changed, so no command runs), each repeated."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from lab.engine import ROOT, STACK, lab_cli, lab_up


def _timed(action: Any) -> float:
    start = time.monotonic()
    action()
    return round(time.monotonic() - start, 2)


def run(trials: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-engine-") as scratch:
        workdir = Path(scratch)
        engine = lab_up(workdir)
        args = engine.stack_args()
        samples: dict[str, list[float]] = {"preview": [], "up": [], "noopUp": [], "destroy": []}
        try:
            for _ in range(trials):
                samples["preview"].append(_timed(lambda: engine.run("preview", *args)))
                samples["up"].append(_timed(lambda: engine.run("up", "--yes", "--skip-preview", *args)))
                samples["noopUp"].append(_timed(lambda: engine.run("up", "--yes", "--expect-no-changes", *args)))
                samples["destroy"].append(_timed(lambda: engine.run("destroy", "--yes", *args)))
        finally:
            engine.run("destroy", "--yes", *args, check=False)
            engine.run("stack", "rm", "--yes", "--force", "--preserve-config", "--stack", STACK, check=False)
            lab_cli("down", "--stack-file", str(ROOT / "Pulumi.lab.yaml"), workdir=workdir / "lab", check=False)
    return {
        "stack": "lab",
        "samples": samples,
        "medians": {k: statistics.median(v) for k, v in samples.items()},
    }
