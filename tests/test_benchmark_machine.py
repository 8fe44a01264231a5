"""The benchmarks' machine record names the daemons' versions, never a command's error text.

``vtysh`` has no ``--version`` option (FRR 8.4 prints "unrecognized option" and exits 1); the
daemons themselves do: ``/usr/lib/frr/bgpd --version`` prints ``bgpd version 8.4.4``, and
``bird --version`` prints ``BIRD version 2.0.12`` (on stderr).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from benchmarks.__main__ import daemon_version, machine
from benchmarks.stacks import MAX_HOSTS_NODES, stack_config
from cilium_bgp.config import load_config

BGPD = Path("/usr/lib/frr/bgpd")


@pytest.mark.skipif(not BGPD.exists() or shutil.which("bird") is None, reason="FRR and BIRD are not installed")
def test_machine_records_frr_and_bird_versions() -> None:
    record = machine()
    for daemon in ("frr", "bird"):
        assert re.fullmatch(r"\d+\.\d+(\.\d+)*", record[daemon]), f"{daemon} version: {record[daemon]!r}"


def test_machine_records_its_load() -> None:
    """A loaded machine's numbers are told apart from an idle one's."""
    load = machine()["loadAverage"]
    assert len(load) == 3 and all(isinstance(x, float) and x >= 0 for x in load), load


def test_a_failing_version_command_records_no_version(tmp_path: Path) -> None:
    fake = tmp_path / "fake-daemon"
    fake.write_text("#!/bin/sh\necho \"fake-daemon: unrecognized option '--version' 1.2.3\" >&2\nexit 1\n")
    fake.chmod(0o755)
    assert daemon_version([str(fake), "--version"]) == "unknown (exit 1)"
    assert daemon_version([str(tmp_path / "absent"), "--version"]) == "not found"


def test_the_version_is_read_from_stderr_too(tmp_path: Path) -> None:
    fake = tmp_path / "fake-bird"
    fake.write_text("#!/bin/sh\necho 'BIRD version 2.0.12' >&2\n")
    fake.chmod(0o755)
    assert daemon_version([str(fake), "--version"]) == "2.0.12"


@pytest.mark.parametrize(
    ("method", "hosts"), [("bird", False), ("cilium-bgp-v2", False), ("bird", True)], ids=["bird", "v2", "hosts"]
)
def test_benchmark_stacks_are_valid(method: str, hosts: bool) -> None:
    """The stacks the benchmarks (and the 50-node e2e test) generate pass validation."""
    config = stack_config(3, method, hosts=hosts)
    raw = {key.removeprefix("cilium-bgp:"): value for key, value in config.items()}
    assert load_config(raw, frozenset()).method == method


def test_scale_stacks_fill_the_management_network() -> None:
    """The scale benchmark's largest lab (250 nodes and the spare the added node takes) fits the
    management /24; one more host than it holds is refused by name."""
    config = stack_config(MAX_HOSTS_NODES, "bird", hosts=True, bgp={"failover": "fast"}, verify={"timeoutSeconds": 120})
    raw = {key.removeprefix("cilium-bgp:"): value for key, value in config.items()}
    cfg = load_config(raw, frozenset())
    hosts = {n.ssh.host for n in cfg.nodes} | {cfg.router.ssh.host}
    assert len(hosts) == MAX_HOSTS_NODES + 1 >= 251, "every host its own management address"
    with pytest.raises(ValueError, match="at most 252 nodes"):
        stack_config(MAX_HOSTS_NODES + 1, "bird", hosts=True)
