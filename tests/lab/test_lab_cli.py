"""``python -m lab up|verify|down`` on a stack file kept outside the repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.process import ProcessRecord
from tests.lab.labkit import ROOT, assert_nothing_left

pytestmark = pytest.mark.lab


def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_up_verify_down_on_a_stack_file_outside_the_repo(lab_machine: None, tmp_path: Path) -> None:
    stack = tmp_path / "elsewhere" / "Pulumi.prod.yaml"
    stack.parent.mkdir()
    stack.write_text((ROOT / "Pulumi.prod.yaml").read_text())
    workdir = tmp_path / "work"
    args = ("--stack-file", str(stack), "--workdir", str(workdir))
    up = lab_cli("up", *args)
    try:
        assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"
        assert "all sessions Established after" in up.stdout, f"up prints its timings:\n{up.stdout}"
        state = json.loads((workdir / "lab-state.json").read_text())
        assert state["stack_file"] == str(stack.resolve()), f"the state names the stack file used: {state}"
        verify = lab_cli("verify", *args)
        assert verify.returncode == 0, f"verify failed:\n{verify.stdout}\n{verify.stderr}"
        for section in ("sessions (the router's view)", "routes (the router's kernel table)", "pings", "timings"):
            assert section in verify.stdout, f"verify's summary lacks {section!r}:\n{verify.stdout}"
        assert "192.0.2.0/32      via 10.0.1.10, 10.0.2.10  ECMP" in verify.stdout, f"ECMP LB IP:\n{verify.stdout}"
        assert "FAIL" not in verify.stdout and "Established" in verify.stdout, f"{verify.stdout}"
        as_json = lab_cli("verify", "--json", *args)
        assert as_json.returncode == 0, f"verify --json failed:\n{as_json.stderr}"
        report = json.loads(as_json.stdout)
        assert report == json.loads((workdir / "verify.json").read_text()) | {"timings": report["timings"]}, (
            "verify --json prints the report it writes to verify.json"
        )
        assert report["programCheck"]["ok"], f"the program's router check: {report['programCheck']}"
        assert report["podCidrs"] == {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"]}, "carved CIDRs"
        timings = json.loads((workdir / "timings.json").read_text())
        assert {"establishedSeconds", "routesInstalledSeconds"} <= set(timings["up"]), f"timings.json: {timings}"
        assert "password" not in verify.stdout + up.stdout, "no password in what the lab prints"
    finally:
        recorded = json.loads((workdir / "lab-state.json").read_text()) if (workdir / "lab-state.json").exists() else {}
        down = lab_cli("down", *args)
    assert down.returncode == 0 and down.stdout.startswith("removed: "), f"down:\n{down.stdout}\n{down.stderr}"
    assert_nothing_left(
        {
            "namespaces": recorded.get("namespaces", []),
            "processes": [ProcessRecord(**p) for p in recorded.get("processes", [])],
            "directories": recorded.get("directories", []),
        },
        workdir,
    )
    again = lab_cli("down", *args)
    assert again.returncode == 0 and "nothing to remove" in again.stdout, f"down is idempotent: {again.stdout}"
    late = lab_cli("verify", *args)
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
