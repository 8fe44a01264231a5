"""Helpers of the hosts-mode tests: pulumi-command's SSH session played by OpenSSH, the module's
hosts-mode lab and what the machine looked like before it, and the root namespace's routes and links."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cilium_bgp.config import StackConfig
from lab.mgmt import management_stack
from lab.sshd import ssh_argv
from tests.lab.labkit import ROOT, lab_cli

STACK = ROOT / "Pulumi.lab.yaml"
# The machine's files a lab host's /etc hides; the program's pushes must not touch them.
MACHINE_FILES = ("/etc/frr/frr.conf", "/etc/frr/daemons", "/etc/bird/bird.conf")


def run_json(argv: list[str]) -> Any:
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def root_routes() -> list[dict[str, Any]]:
    return run_json(["ip", "-j", "route"])


def root_links() -> set[str]:
    return {link["ifname"] for link in run_json(["ip", "-j", "link"])}


def digest(path: str) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).exists() else None


def lab_stack(directory: Path) -> Path:
    """``Pulumi.lab.yaml``, or a copy on a free management /24 when another lab holds its own."""
    return management_stack(STACK, directory)


class Remote:
    """pulumi-command's SSH session, played by OpenSSH: the lab's key, the connection's pinned host
    key only, the script run by the remote user's shell, ``stdin`` fed in."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.seconds: dict[str, float] = {}

    def run(self, label: str, connection: dict[str, Any], script: str, stdin: str | None = None) -> Any:
        host, port = connection["host"], int(connection["port"])
        known = self.workdir / f"pinned-{host}"
        known.write_text(f"{host if port == 22 else f'[{host}]:{port}'} {connection['hostKey']}\n")
        argv = [*ssh_argv(self.workdir, host, port, connection["user"], known_hosts=known), script]
        began = time.monotonic()
        proc = subprocess.run(argv, input=stdin or "", capture_output=True, text=True, timeout=120, check=False)
        self.seconds[label] = round(time.monotonic() - began, 2)
        return proc

    def create(self, name: str, command: dict[str, Any], again: bool = False) -> Any:
        label = f"{name} create" + (" again" if again else "")
        proc = self.run(label, command["connection"], command["create"], command.get("stdin"))
        assert proc.returncode == 0, f"{label} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return proc

    def delete(self, name: str, command: dict[str, Any]) -> Any:
        proc = self.run(f"{name} delete", command["connection"], command["delete"])
        assert proc.returncode == 0, f"{name} delete failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return proc


@dataclass
class HostsLab:
    """The module's hosts-mode lab, and what the machine looked like before it."""

    stack: Path
    cfg: StackConfig
    workdir: Path
    remote: Remote
    routes_before: list[dict[str, Any]]
    links_before: set[str]
    machine_before: dict[str, str | None]
    forwarding_before: str
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.workdir / "lab-state.json"

    def recorded(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def hosts(self) -> dict[str, Any]:
        return json.loads((self.workdir / "hosts.json").read_text())

    def inspect(self, *extra: str) -> tuple[int, dict[str, Any]]:
        proc = lab_cli("inspect", "--workdir", str(self.workdir), "--json", *extra)
        assert proc.stdout, f"inspect printed nothing ({proc.returncode}): {proc.stderr}"
        return proc.returncode, json.loads(proc.stdout)

    def bgp_neighbors(self) -> dict[str, Any]:
        argv = ["exec", "--workdir", str(self.workdir), "--host", "router", "--"]
        proc = lab_cli(*argv, "vtysh", "-c", "show bgp neighbors json")
        assert proc.returncode == 0, f"vtysh on the router host: {proc.stderr}"
        return json.loads(proc.stdout)
