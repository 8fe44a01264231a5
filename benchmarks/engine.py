"""Benchmark (c): the real Pulumi engine on the lab stack, through the Automation API: preview,
up on empty hosts, a no-op up (nothing changed, so no command runs) and destroy, each repeated."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.engine import lab_down, lab_up


def _timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return round(time.monotonic() - start, 2)


def run(trials: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-engine-") as scratch:
        workdir = Path(scratch)
        engine = lab_up(workdir)
        samples: dict[str, list[float]] = {"preview": [], "up": [], "noopUp": [], "destroy": []}
        try:
            for _ in range(trials):
                samples["preview"].append(_timed(engine.preview))
                samples["up"].append(_timed(engine.up))
                samples["noopUp"].append(_timed(lambda: engine.up(expect_no_changes=True)))
                samples["destroy"].append(_timed(engine.destroy))
        finally:
            lab_down(engine, workdir)
    return {
        "stack": "lab",
        "samples": samples,
        "medians": {k: statistics.median(v) for k, v in samples.items()},
    }
