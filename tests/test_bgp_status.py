"""The router-side check (cilium_bgp/hostscripts/bgp_status.py) against canned daemon output.

The commands it runs are replaced by small scripts printing what FRR 8.4, BIRD 2 and iproute2
print; the lab runs the same checker against the real daemons.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cilium_bgp.renderers.scripts import status_script_source

FRR_SUMMARY = {
    "ipv4Unicast": {
        "routerId": "192.168.121.16",
        "as": 65100,
        "peers": {
            "10.0.1.10": {"remoteAs": 65010, "state": "Established", "pfxRcd": 1, "peerState": "OK"},
            "10.0.2.10": {"remoteAs": 65020, "state": "Active", "pfxRcd": 0, "peerState": "OK"},
        },
    }
}
ROUTES = [
    {"dst": "172.31.254.0/26", "gateway": "10.0.1.10", "dev": "r-n1", "protocol": "bgp", "flags": []},
    {"dst": "192.0.2.0", "protocol": "bgp", "nexthops": [{"gateway": "10.0.1.10"}, {"gateway": "10.0.2.10"}]},
    {"dst": "10.0.1.0/24", "dev": "r-n1", "protocol": "kernel", "scope": "link"},
]
BIRD_PROTOCOLS = """\
BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     12:00:00.000
peer_node1 BGP        ---        up     12:00:01.000  Established
  Description:    node1
  BGP state:          Established
    Neighbor address: 10.0.1.10
    Neighbor AS:      65010
  Channel ipv4
    State:          UP
    Routes:         1 imported, 0 exported, 1 preferred
peer_node2 BGP        ---        start  12:00:01.000  Connect
  Description:    node2
  BGP state:          Connect
    Neighbor address: 10.0.2.10
    Neighbor AS:      65020
"""


def fake(tmp_path: Path, name: str, output: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    path.chmod(0o755)
    return str(path)


def check(tmp_path: Path, daemon: str, expect: dict, timeout: float = 0.3) -> tuple[int, dict, str]:
    script = tmp_path / "bgp_status.py"
    script.write_text(status_script_source())
    args = [
        sys.executable,
        str(script),
        "--daemon", daemon,
        "--timeout", str(timeout),
        "--interval", "0.1",
        "--expect", json.dumps(expect),
        "--vtysh", fake(tmp_path, "vtysh", json.dumps(FRR_SUMMARY)),
        "--birdc", fake(tmp_path, "birdc", BIRD_PROTOCOLS),
        "--ip", fake(tmp_path, "ip", json.dumps(ROUTES)),
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


GOOD = {
    "peers": {"10.0.1.10": {"asn": 65010}},
    "routes": {"172.31.254.0/26": ["10.0.1.10"], "192.0.2.0/32": ["10.0.2.10", "10.0.1.10"]},
}


@pytest.mark.parametrize("daemon", ["frr", "bird"])
def test_passes_when_peers_and_routes_are_there(tmp_path: Path, daemon: str) -> None:
    code, report, err = check(tmp_path, daemon, GOOD)
    assert code == 0, err
    assert report["ok"] is True
    assert report["peers"]["10.0.1.10"] == {
        **report["peers"]["10.0.1.10"],
        "state": "Established",
        "prefixesReceived": 1,
        "asn": 65010,
    }
    assert report["routes"]["192.0.2.0/32"] == ["10.0.1.10", "10.0.2.10"], "ECMP nexthops, host route as /32"
    assert "10.0.1.0/24" not in report["routes"], "only BGP-learned routes count"


@pytest.mark.parametrize("daemon", ["frr", "bird"])
def test_fails_at_the_deadline_naming_what_is_missing(tmp_path: Path, daemon: str) -> None:
    expect = {
        "peers": {"10.0.1.10": {"asn": 65010}, "10.0.2.10": {"asn": 65020}, "10.0.3.10": {"asn": 65030}},
        "routes": {"172.31.254.64/26": ["10.0.2.10"], "192.0.2.0/32": ["10.0.1.10"]},
    }
    code, report, err = check(tmp_path, daemon, expect)
    assert code == 1
    state = "Active" if daemon == "frr" else "Connect"
    assert report["problems"] == [
        f"peer 10.0.2.10 (AS 65020) is {state}, not Established",
        "peer 10.0.3.10 (AS 65030) is not configured on the router",
        "prefix 172.31.254.64/26 is missing from the kernel table (expected via 10.0.2.10)",
        "prefix 192.0.2.0/32 goes via 10.0.1.10, 10.0.2.10, expected via 10.0.1.10",
    ]
    assert err.startswith("BGP check failed after 0 s:\n  - peer 10.0.2.10")


def test_any_nexthops_when_more_nodes_than_paths(tmp_path: Path) -> None:
    code, _, err = check(tmp_path, "frr", {"peers": {}, "routes": {"192.0.2.0/32": None}})
    assert code == 0, err


def test_unreadable_daemon_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "bgp_status.py"
    script.write_text(status_script_source())
    proc = subprocess.run(
        [sys.executable, str(script), "--daemon", "frr", "--timeout", "0.2", "--interval", "0.1",
         "--expect", json.dumps(GOOD), "--vtysh", "false"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["problems"][0].startswith("cannot read the router's state: false -c")
