"""What a lab run created, on disk in its workdir, so ``down`` removes exactly that (even after a crash).

Every namespace, directory and process is recorded *before* or right as it is made; ``down`` treats
a recorded thing that never came to exist as already gone.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.process import ProcessRecord

STATE_FILE = "lab-state.json"


@dataclass
class LabState:
    lab_id: str
    stack_file: str
    stack_sha256: str
    workdir: str
    status: str = "building"  # building | up | failed
    mode: str = "daemons"  # daemons: the lab runs the daemons | hosts: SSH hosts for the real program
    namespaces: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)  # outside the workdir: FRR pathspace, run dir
    processes: list[dict[str, Any]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # in the root namespace: hosts mode's management veth
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # hosts mode: name -> netns, ssh address, files
    cluster: dict[str, Any] = field(default_factory=dict)  # a cluster lab: its work dir, its API server

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return Path(self.workdir) / STATE_FILE

    def save(self) -> None:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        tmp.replace(self.path)

    def add(self, key: str, item: Any) -> None:
        with self._lock:
            items = getattr(self, key)
            if item not in items:
                items.append(item)
            self.save()

    def add_process(self, record: ProcessRecord) -> None:
        self.add("processes", record.as_dict())

    def update_process(self, record: ProcessRecord) -> None:
        """Record ``record`` in place of the one with its role (e.g. once ``ip netns exec`` became sshd)."""
        with self._lock:
            self.processes = [p for p in self.processes if p["role"] != record.role] + [record.as_dict()]
            self.save()

    def set_host(self, name: str, info: dict[str, Any]) -> None:
        with self._lock:
            self.hosts[name] = info
            self.save()

    def set_cluster(self, info: dict[str, Any]) -> None:
        with self._lock:
            self.cluster = info
            self.save()

    def process(self, role: str) -> ProcessRecord:
        for p in self.processes:
            if p["role"] == role:
                return ProcessRecord(**p)
        raise KeyError(f"no process {role} recorded")

    def set_status(self, status: str) -> None:
        with self._lock:
            self.status = status
            self.save()

    @classmethod
    def load(cls, workdir: Path) -> LabState | None:
        path = workdir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
