"""Helpers of the lab tests: where the stacks are, and the proof that a lab left nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lab import netns
from lab.process import ProcessRecord, is_alive
from lab.run import Lab, down, up
from lab.state import LabState

ROOT = Path(__file__).resolve().parents[2]
LAB_STACKS = ROOT / "tests" / "stacks" / "lab"
SHIPPED_STACKS = sorted(ROOT.glob("Pulumi.*.yaml"))
TOOLS = ("ip", "vtysh", "bird", "birdc", "gobgpd", "gobgp", "unshare", "ping")


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
