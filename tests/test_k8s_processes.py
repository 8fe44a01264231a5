"""How the cluster lab starts, records and stops its processes (plain processes, no root needed)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

import pytest

import lab.process
from lab.k8s import processes
from lab.k8s.binaries import CONTROL_PLANE, ControlPlaneBinaries
from lab.k8s.control_plane import ControlPlane, ControlPlaneSpec
from lab.k8s.processes import ClusterProcesses, ProcessExited, stop_recorded, with_private_run
from lab.process import is_alive
from lab.shell import LabError
from lab.wait import Budget, wait_until


def test_every_start_is_recorded_and_a_teardown_from_the_record_stops_it(tmp_path: Path) -> None:
    group = ClusterProcesses(tmp_path)
    record = group.start("sleeper", ["sleep", "60"], netns=None)
    assert is_alive(record)
    saved = json.loads((tmp_path / processes.RECORD_FILE).read_text())
    assert [(p["role"], p["pid"]) for p in saved] == [("sleeper", record.pid)]
    assert stop_recorded(tmp_path) == []
    assert not is_alive(record)


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab.process, "STOP", Budget("process exit", 0.5))
    group = ClusterProcesses(tmp_path)
    record = group.start("stubborn", ["sh", "-c", "trap '' TERM; exec sleep 60"], netns=None)
    assert group.stop(["stubborn"]) == []
    assert not is_alive(record)


def test_stop_goes_in_the_order_given(tmp_path: Path) -> None:
    group = ClusterProcesses(tmp_path)
    first = group.start("first", ["sleep", "60"], netns=None)
    second = group.start("second", ["sleep", "60"], netns=None)
    assert group.stop(["second"]) == []
    assert is_alive(first) and not is_alive(second)
    assert group.stop(["first", "second"]) == []
    assert not is_alive(first)


def test_a_dead_process_is_reported_with_its_log(tmp_path: Path) -> None:
    group = ClusterProcesses(tmp_path)
    record = group.start("crasher", ["sh", "-c", "echo 'cluster-pool-ipv6-cidr must be provided'; exit 3"], netns=None)
    wait_until(lambda: (None, ["still running"] if is_alive(record) else []), Budget("exit", 10), "crasher to exit")
    with pytest.raises(ProcessExited, match=r"crasher .* exited:\ncluster-pool-ipv6-cidr must be provided"):
        group.check_running("crasher")


def test_private_run_needs_a_network_namespace_and_wraps_the_command(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="private /run"):
        ClusterProcesses(tmp_path).start("x", ["true"], netns=None, private_run=tmp_path / "run")
    argv = with_private_run(tmp_path / "run", ["cilium-operator-generic", "--config-dir", "/c"])
    assert argv[:2] == ["sh", "-c"] and "mount --bind" in argv[2] and 'exec "$@"' in argv[2]
    assert argv[3:] == [str(tmp_path / "run"), "cilium-operator-generic", "--config-dir", "/c"]


def test_a_control_plane_that_cannot_start_removes_what_it_made(tmp_path: Path) -> None:
    """Nothing can start (the namespace does not exist): the start says so in the words of the first
    process seen gone, and stops and removes everything it made."""
    binaries = ControlPlaneBinaries(tmp_path / "cache")
    binaries.bin.mkdir(parents=True)
    for name in CONTROL_PLANE:
        binaries.binary(name).touch(mode=0o755)
    (tmp_path / "cache" / "kwok" / "stages").mkdir(parents=True)
    (tmp_path / "cache" / "kwok" / "stages" / "node-initialize.yaml").touch()
    workdir = tmp_path / "cp"
    spec = ControlPlaneSpec("cbgp-absent-cp", IPv4Address("198.19.254.1"), IPv4Address("198.18.254.2"), workdir)
    control_plane = ControlPlane(spec, binaries)
    with pytest.raises(ProcessExited, match=r"(etcd|kube-apiserver) .*exited.*:\n.*cbgp-absent-cp"):
        control_plane.start()
    assert not [r for r in control_plane.processes.records if is_alive(r)]
    assert not workdir.exists(), "a failed start left its work directory"
