"""The lab's processes, known by PID *and* start time, so a reused PID is never signalled.

Every process the lab starts (or finds the program started) is recorded as a :class:`ProcessRecord`
in the lab state; stopping goes through :func:`stop_processes`, which also wakes a frozen one so it
can act on SIGTERM.
"""

from __future__ import annotations

import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.shell import LabError
from lab.wait import Budget, wait_until

STOP = Budget("process exit", 10)


class DaemonFailed(LabError):
    """A daemon refused its config or died; the message carries the daemon's own words."""


@dataclass(frozen=True)
class ProcessRecord:
    role: str  # e.g. "router/bgpd", "node1/bird", "node1/sshd"
    pid: int
    starttime: int  # field 22 of /proc/PID/stat
    comm: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, starttime) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return comm, fields[0], int(fields[19])


def running(pid: int) -> bool:
    """A process with this PID exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def record_process(role: str, pid: int) -> ProcessRecord:
    stat = _stat(pid)
    if stat is None:
        raise DaemonFailed(f"{role}: process {pid} exited right after starting")
    return ProcessRecord(role, pid, stat[2], stat[0])


def is_alive(record: ProcessRecord) -> bool:
    """The very process recorded is still there (not a zombie, not a newer process with its PID)."""
    stat = _stat(record.pid)
    return stat is not None and stat[2] == record.starttime and stat[1] not in ("Z", "X")


def signal_process(record: ProcessRecord, signum: int) -> bool:
    if not is_alive(record):
        return False
    try:
        os.kill(record.pid, signum)
    except ProcessLookupError:
        return False
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def stop_processes(records: list[ProcessRecord]) -> None:
    """SIGTERM (and SIGCONT, so a frozen one can act on it) to each, SIGKILL to what outlives the budget."""
    for record in records:
        if signal_process(record, signal.SIGTERM):
            signal_process(record, signal.SIGCONT)

    def alive() -> tuple[None, list[str]]:
        return None, [f"{r.role} ({r.pid}) still running" for r in records if is_alive(r)]

    try:
        wait_until(alive, STOP, "lab processes exit")
    except LabError:
        for record in records:
            signal_process(record, signal.SIGKILL)
