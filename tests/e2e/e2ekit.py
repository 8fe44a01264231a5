"""What the e2e tests read on the lab's hosts: the router's own JSON, the lab's inspection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.engine import lab_cli


def host(workdir: Path, name: str, *command: str, check: bool = True) -> str:
    return lab_cli("exec", "--host", name, "--", *command, workdir=workdir / "lab", check=check).stdout


def neighbors(workdir: Path) -> dict[str, Any]:
    """FRR's `show bgp neighbors json`: per peer its state and session counters."""
    return json.loads(host(workdir, "router", "vtysh", "-c", "show bgp neighbors json"))


def router_summary(workdir: Path) -> dict[str, Any]:
    return json.loads(host(workdir, "router", "vtysh", "-c", "show bgp summary json"))["ipv4Unicast"]["peers"]


def inspect(workdir: Path) -> dict[str, Any]:
    """Per lab host: the program's files and the routing daemons running there."""
    return json.loads(lab_cli("inspect", "--json", workdir=workdir / "lab").stdout)


def owner_markers(workdir: Path, name: str) -> str:
    """The owner markers the program's scripts keep on host ``name`` (empty: none)."""
    return host(workdir, name, "sh", "-c", "cat /etc/cilium-bgp/*.owner 2>/dev/null || true")
