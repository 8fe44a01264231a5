"""The cluster's processes: started in a network namespace, recorded, stopped in order.

Each runs in its own session (a Ctrl-C in the lab's terminal leaves it to the teardown) with its
output in a log file. Every start is recorded (PID plus start time, so a reused PID is never
signalled) in a JSON file as well, so that a teardown can find them from another process too.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.process import ProcessRecord, is_alive, record_process, stop_processes
from lab.shell import LabError, in_netns, log, redact
from lab.wait import Budget, DeadlinePassed, wait_until

KILLED = Budget("killed process gone", 5)
RECORD_FILE = "processes.json"


class ProcessExited(LabError):
    """A cluster process ended while it should be running; the message carries its log's tail."""


@dataclass
class ClusterProcesses:
    """The processes started from ``directory`` (logs beside the record), newest last."""

    directory: Path
    records: list[ProcessRecord] = field(default_factory=list)
    _children: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_file(self, role: str) -> Path:
        return self.directory / f"{role.replace('/', '-')}.log"

    def start(
        self,
        role: str,
        argv: Sequence[str],
        *,
        netns: str | None,
        env: Mapping[str, str] | None = None,
        private_run: Path | None = None,
    ) -> ProcessRecord:
        """Start ``argv`` (inside ``netns`` when given; ``ip netns exec`` execs it, so the PID is the
        process's own) and record it before anything else can fail. ``private_run``: the process
        sees this directory as ``/run`` (see :func:`with_private_run`)."""
        if private_run is not None:
            if netns is None:
                raise LabError(f"{role}: a private /run needs the mount namespace of `ip netns exec`")
            argv = with_private_run(private_run, argv)
        full = in_netns(netns, argv) if netns else list(argv)
        log.info("start %s: %s", role, " ".join(full))
        with self.log_file(role).open("ab") as output:
            child = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self._children[child.pid] = child
        try:
            record = record_process(role, child.pid)
        except LabError:
            raise ProcessExited(f"{role} exited at once:\n{self.log_tail(role)}") from None
        self.records.append(record)
        self._save()
        return record

    def _save(self) -> None:
        path = self.directory / RECORD_FILE
        path.write_text(json.dumps([r.as_dict() for r in self.records], indent=1) + "\n")

    def log_tail(self, role: str, lines: int = 12) -> str:
        try:
            text = self.log_file(role).read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return redact("\n".join(text.splitlines()[-lines:])) or "(empty log)"

    def check_running(self, role: str) -> None:
        """Raise :class:`ProcessExited` (with its log) when the process recorded as ``role`` is gone."""
        for record in self.records:
            if record.role == role and not is_alive(record):
                raise ProcessExited(f"{role} (pid {record.pid}) exited:\n{self.log_tail(role)}")

    def stop(self, roles: Sequence[str]) -> list[str]:
        """Stop the recorded processes of ``roles``, one role after the other in that order (SIGTERM,
        SIGKILL after :data:`lab.process.STOP`). Returns what did not go (nothing, normally)."""
        left: list[str] = []
        for role in roles:
            group = [r for r in self.records if r.role == role]
            left += _stop_group(group)
            for record in group:
                self._reap(record.pid)
        return left

    def _reap(self, pid: int) -> None:
        child = self._children.pop(pid, None)
        if child is not None:
            try:
                child.wait(timeout=KILLED.seconds)
            except subprocess.TimeoutExpired:
                log.warning("process %d did not leave after SIGKILL", pid)


def with_private_run(directory: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` with ``directory`` bind-mounted over ``/run`` (``/var/run``) first.

    Cilium's processes keep sockets at fixed paths there (the 1.18 operator's
    ``/var/run/cilium/shell.sock``), so two of them, or two labs, would clash on the host's
    ``/run``. ``ip netns exec`` runs its command in a mount namespace of its own whose mounts do not
    propagate back (it makes ``/`` a slave), so the mount exists for this process alone and goes
    with it; ``exec`` keeps the PID the process's own.
    """
    directory.mkdir(parents=True, exist_ok=True)
    return ["sh", "-c", 'mount --bind "$0" /run && exec "$@"', str(directory), *argv]


def _stop_group(records: list[ProcessRecord]) -> list[str]:
    """Stop ``records`` together; what is still there once SIGKILL had time to act."""
    stop_processes(records)

    def gone() -> tuple[None, list[str]]:
        return None, [f"{r.role} ({r.pid})" for r in records if is_alive(r)]

    try:
        wait_until(gone, KILLED, "killed processes to go")
    except DeadlinePassed as error:
        return error.problems
    return []


def stop_recorded(directory: Path) -> list[str]:
    """Stop whatever ``directory``'s record names that is still running, newest first (a teardown
    from another process than the one that started them). Returns what did not go."""
    path = directory / RECORD_FILE
    if not path.exists():
        return []
    records = [ProcessRecord(**r) for r in json.loads(path.read_text())]
    return [left for record in reversed(records) for left in _stop_group([record])]
