"""Remove a lab: exactly what its state recorded, in an order that leaves nothing behind.

Works from the state file alone (``python -m lab down`` needs no stack file), on a lab that is up,
half built, or kept after a failure, and is safe to repeat.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lab import mgmt, netns
from lab.k8s.labcluster import stop_cluster
from lab.process import ProcessRecord, is_alive, stop_processes
from lab.shell import log
from lab.state import LabState
from lab.wait import Budget

INSIDE_STOP = Budget("processes inside the lab's namespaces exit on SIGTERM", 5)
# FRR's watchdog restarts what is stopped beside it: it goes first.
FIRST = ("watchfrr",)


def teardown(state: LabState) -> list[str]:
    """Stop the recorded processes (by PID and start time, watchfrr first), then ask what else runs
    inside the lab's namespaces to stop (what the program started on a hosts-mode lab's hosts),
    delete the root-namespace link, the namespaces (killing what is left: only lab processes can be
    there) and the recorded directories, and remove the state. Returns what it removed."""
    # A cluster lab's pod runner first (it would start again what stops), then its processes in order.
    removed: list[str] = stop_cluster(state)
    records = [r for r in (ProcessRecord(**p) for p in state.processes) if is_alive(r)]
    watchers = [r for r in records if r.comm in FIRST]
    for group in (watchers, [r for r in records if r not in watchers]):
        stop_processes(group)
        removed += [f"process {r.role} ({r.pid})" for r in group]
    stopped = netns.stop_gracefully(list(state.namespaces), FIRST, INSIDE_STOP)
    removed += [f"process {p} inside a lab host" for p in stopped]
    for link in state.links:
        if mgmt.delete_root_link(link):
            removed.append(f"root-namespace link {link}")
    for name in state.namespaces:
        if netns.exists(name):
            netns.delete(name)
            removed.append(f"namespace {name}")
    for directory in state.directories:
        path = Path(directory)
        if path.exists():
            shutil.rmtree(path)
            removed.append(f"directory {directory}")
    state.remove()
    log.info("lab %s removed: %s", state.lab_id, ", ".join(removed) or "nothing was left")
    return removed


def down(workdir: Path) -> list[str]:
    state = LabState.load(workdir)
    if state is None:
        return []
    return teardown(state)
