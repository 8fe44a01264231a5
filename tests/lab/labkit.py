"""Helpers of the lab tests: where the stacks are, the proof that a lab left nothing behind, and
topotests' check: run a ``show``, compare its JSON with an expected subset, retry to a named deadline."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from lab import netns
from lab.process import ProcessRecord, is_alive
from lab.run import Lab, down, up
from lab.shell import redact
from lab.state import LabState
from lab.wait import Budget, DeadlinePassed, Waited, wait_until
from tests.lab.expect import Show
from tests.lab.jsoncmp import json_cmp

ROOT = Path(__file__).resolve().parents[2]
LAB_STACKS = ROOT / "tests" / "stacks" / "lab"
SHIPPED_STACKS = sorted(ROOT.glob("Pulumi.*.yaml"))
TOOLS = ("ip", "vtysh", "bird", "birdc", "gobgpd", "gobgp", "unshare", "ping")


def lab_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m lab ARGS`` from the repository root, as a user runs it; its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def snapshot(workdir: Path) -> dict[str, Any]:
    """What the lab in ``workdir`` recorded, read before ``down`` removes the record."""
    state = LabState.load(workdir)
    assert state is not None, f"no lab state in {workdir}"
    return {
        "namespaces": list(state.namespaces),
        "processes": [ProcessRecord(**p) for p in state.processes],
        "directories": list(state.directories),
    }


def assert_nothing_left(recorded: dict[str, Any], workdir: Path) -> None:
    left_ns = [n for n in recorded["namespaces"] if netns.exists(n)]
    assert not left_ns, f"namespaces left behind: {left_ns}"
    left_procs = [f"{p.role} ({p.pid})" for p in recorded["processes"] if is_alive(p)]
    assert not left_procs, f"lab processes left behind: {left_procs}"
    left_dirs = [d for d in recorded["directories"] if Path(d).exists()]
    assert not left_dirs, f"directories left behind: {left_dirs}"
    assert LabState.load(workdir) is None, f"the state file in {workdir} survived down"


@contextmanager
def running_lab(stack_file: Path, workdir: Path) -> Iterator[Lab]:
    """A lab that is up inside the block and gone after it, whatever happens; asserts it is gone."""
    lab = up(stack_file, workdir)
    recorded = snapshot(workdir)
    assert recorded["namespaces"] and recorded["processes"], f"lab {lab.plan.lab_id} recorded nothing"
    try:
        yield lab
    finally:
        recorded = snapshot(workdir)
        down(workdir)
        assert_nothing_left(recorded, workdir)
        assert down(workdir) == [], "a second down found something to remove"


def expect(show: Show, budget: Budget, *, since: float | None = None) -> Waited[Any]:
    """Run ``show`` until its answer contains the expected subset (``json_cmp``); fail after ``budget``
    with the differences still left (passwords redacted). Returns the answer and the seconds it took
    (from ``since``, a ``time.monotonic()`` value, when given)."""

    def probe() -> tuple[Any, list[str]]:
        actual = show.read()
        return actual, json_cmp(actual, show.expected) or []

    try:
        return wait_until(probe, budget, f"{show.host}: `{show.command}`", since=since)
    except DeadlinePassed as late:
        differences = "\n".join(f"  {p}" for p in late.problems)
        raise AssertionError(
            redact(
                f"{show.host}: `{show.command}` still differs after the {budget.name} budget "
                f"({budget.seconds:.0f} s):\n{differences}"
            )
        ) from None


def stack_variant(base: Path, directory: Path, change: dict[str, Any], name: str = "variant") -> Path:
    """A copy of the stack ``base`` in ``directory`` with some ``cilium-bgp:`` keys replaced."""
    document = yaml.safe_load(base.read_text())
    for key, value in change.items():
        document["config"][f"cilium-bgp:{key}"] = value
    path = directory / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path
