"""``python -m lab up|verify|down`` as a user runs them, on a stack file kept outside the repository
(the shipped ``Pulumi.prod.yaml``: FRR, three GoBGP stand-ins for Cilium's BGP Control Plane v2,
cluster PodCIDRs, an MD5 password, an ECMP LB IP). One lab, ordered steps; the last ones take it
down and prove it gone."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.process import ProcessRecord
from tests.lab.labkit import ROOT, assert_nothing_left, lab_cli

pytestmark = pytest.mark.lab


@dataclass(frozen=True)
class CliLab:
    stack: Path
    workdir: Path
    up: subprocess.CompletedProcess[str]

    @property
    def args(self) -> tuple[str, ...]:
        return ("--stack-file", str(self.stack), "--workdir", str(self.workdir))

    @property
    def state_file(self) -> Path:
        return self.workdir / "lab-state.json"


@pytest.fixture(scope="module")
def cli_lab(lab_machine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliLab]:
    directory = tmp_path_factory.mktemp("cli")
    stack = directory / "elsewhere" / "Pulumi.prod.yaml"
    stack.parent.mkdir()
    stack.write_text((ROOT / "Pulumi.prod.yaml").read_text())
    lab = CliLab(
        stack, directory / "work", lab_cli("up", "--stack-file", str(stack), "--workdir", str(directory / "work"))
    )
    try:
        yield lab
    finally:
        if lab.state_file.exists():
            lab_cli("down", *lab.args)


@pytest.fixture(scope="module")
def recorded(cli_lab: CliLab) -> dict[str, Any]:
    """What ``up`` recorded, read before ``down`` removes it."""
    assert cli_lab.state_file.exists(), f"up recorded nothing:\n{cli_lab.up.stdout}\n{cli_lab.up.stderr}"
    return json.loads(cli_lab.state_file.read_text())


def test_up_builds_the_lab_and_prints_its_timings(cli_lab: CliLab, recorded: dict[str, Any]) -> None:
    assert cli_lab.up.returncode == 0, f"up failed:\n{cli_lab.up.stdout}\n{cli_lab.up.stderr}"
    assert "all sessions Established after" in cli_lab.up.stdout, f"up prints its timings:\n{cli_lab.up.stdout}"
    assert recorded["stack_file"] == str(cli_lab.stack.resolve()), f"the state names the stack file used: {recorded}"
    timings = json.loads((cli_lab.workdir / "timings.json").read_text())
    assert {"establishedSeconds", "routesInstalledSeconds"} <= set(timings["up"]), f"timings.json: {timings}"


SECTIONS = (("sessions", "view"), ("routes", "kernel table"))


def test_verify_prints_a_summary(cli_lab: CliLab) -> None:
    verify = lab_cli("verify", *cli_lab.args)
    assert verify.returncode == 0, f"verify failed:\n{verify.stdout}\n{verify.stderr}"
    # The shipped prod stack is a redundant pair: a section per router.
    sections = [f"{what} ({router}'s {where})" for router in ("router", "router2") for what, where in SECTIONS]
    for section in (*sections, "pings", "timings"):
        assert section in verify.stdout, f"verify's summary lacks {section!r}:\n{verify.stdout}"
    assert "192.0.2.0/32      via 10.0.1.10, 10.0.2.10  ECMP" in verify.stdout, f"ECMP LB IP:\n{verify.stdout}"
    assert "FAIL" not in verify.stdout and "Established" in verify.stdout, f"{verify.stdout}"
    assert "password" not in verify.stdout + cli_lab.up.stdout, "no password in what the lab prints"


def test_verify_json_prints_the_report_it_writes(cli_lab: CliLab) -> None:
    as_json = lab_cli("verify", "--json", *cli_lab.args)
    assert as_json.returncode == 0, f"verify --json failed:\n{as_json.stderr}"
    report = json.loads(as_json.stdout)
    written = json.loads((cli_lab.workdir / "verify.json").read_text())
    assert report == written | {"timings": report["timings"]}, "verify --json prints the report it writes"
    assert all(c["ok"] for c in report["programChecks"].values()), f"the program's checks: {report['programChecks']}"
    assert report["podCidrs"] == {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"]}, "carved CIDRs"


def test_down_removes_everything_once(cli_lab: CliLab, recorded: dict[str, Any]) -> None:
    down = lab_cli("down", *cli_lab.args)
    assert down.returncode == 0 and down.stdout.startswith("removed: "), f"down:\n{down.stdout}\n{down.stderr}"
    assert_nothing_left(
        {
            "namespaces": recorded["namespaces"],
            "processes": [ProcessRecord(**p) for p in recorded["processes"]],
            "directories": recorded["directories"],
        },
        cli_lab.workdir,
    )
    again = lab_cli("down", *cli_lab.args)
    assert again.returncode == 0 and "nothing to remove" in again.stdout, f"down is idempotent: {again.stdout}"


def test_verify_without_a_lab_says_so(cli_lab: CliLab) -> None:
    late = lab_cli("verify", *cli_lab.args)
    assert late.returncode == 1 and "no lab in" in late.stderr, f"verify without a lab: {late.stderr}"


def test_kube_router_is_refused_with_exit_2(lab_machine: None, tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["cilium-bgp:method"] = "kube-router"
    document["config"]["cilium-bgp:bgp"] = {"nodeASN": 65000}
    stack = tmp_path / "Pulumi.kr.yaml"
    stack.write_text(yaml.safe_dump(document))
    result = lab_cli("up", "--stack-file", str(stack), "--workdir", str(tmp_path / "work"))
    assert result.returncode == 2, f"kube-router: exit {result.returncode}\n{result.stderr}"
    assert "'kube-router' is out of the lab's reach" in result.stderr, f"{result.stderr}"
