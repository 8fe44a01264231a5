"""A hosts-mode lab of hundreds of hosts probes its sshds a few at a time.

All at once, 101 logins took 8.5 s on 2 cores (each costs ~70 ms of the client's CPU), so under
load probes ran past their 10 s attempt and a 101-host lab failed to come up.
"""

from __future__ import annotations

import subprocess
import threading
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from lab import sshd
from lab.hostsplan import SshHost


def test_sshd_probes_run_a_few_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = [SshHost(f"node{i}", f"ns{i}", IPv4Address("198.18.0.3") + i, 22, "root", ()) for i in range(48)]
    lock = threading.Lock()
    running = peak = 0

    def login(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(sshd, "run", login)
    monkeypatch.setattr(sshd, "is_alive", lambda _record: True)
    records: dict[str, Any] = {h.name: None for h in hosts}
    sshd.wait_logins(tmp_path, hosts, records, time.monotonic())
    assert 1 < peak <= 16, f"{peak} of 48 logins at once"
