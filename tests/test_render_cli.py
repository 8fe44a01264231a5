"""`python -m cilium_bgp.render`: every artifact of any stack file, no host or cluster touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from stacks import ROOT
from test_seed import SEED_FRR_CONF, SEED_NODE1_BIRD


def render(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cilium_bgp.render", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_dev_stack_renders_the_seed(tmp_path: Path) -> None:
    proc = render("--stack-file", "Pulumi.dev.yaml", "--out", str(tmp_path / "dev"))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "dev"
    assert (out / "router/frr.conf").read_text() == SEED_FRR_CONF
    assert (out / "nodes/node1/bird.conf").read_text() == SEED_NODE1_BIRD
    assert "neighbor 10.0.2.2 as 65100;" in (out / "nodes/node2/bird.conf").read_text()
    listed = sorted(Path(line).relative_to(out).as_posix() for line in proc.stdout.split())
    assert listed == [
        "cilium/values.yaml",
        "nodes/node1/bird.conf",
        "nodes/node2/bird.conf",
        "outputs.json",
        "router/frr.conf",
        "router/sysctl.conf",
    ]
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["podCidrs"] == {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"]}
    assert outputs["bgpPeers"]["10.0.2.10"] == {
        "node": "node2",
        "asn": 65020,
        "state": "Established",
        "prefixesReceived": 1,
    }


def test_stack_file_outside_the_repo(tmp_path: Path) -> None:
    elsewhere = tmp_path / "ops" / "Pulumi.staging.yaml"
    elsewhere.parent.mkdir()
    shutil.copy(ROOT / "Pulumi.dev.yaml", elsewhere)
    proc = render("--stack-file", str(elsewhere), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/router/frr.conf").read_text() == SEED_FRR_CONF
    assert (tmp_path / "out/nodes/node1/bird.conf").read_text() == SEED_NODE1_BIRD


def test_rerender_replaces_its_own_files_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render("--stack-file", "Pulumi.dev.yaml", "--out", str(out)).returncode == 0
    assert render("--stack-file", "Pulumi.prod.yaml", "--out", str(out)).returncode == 0
    assert not (out / "nodes").exists() or not any((out / "nodes").rglob("*.conf")), "stale node configs removed"
    assert (out / "manifests").is_dir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    proc = render("--stack-file", "Pulumi.dev.yaml", "--out", str(foreign))
    assert proc.returncode == 2
    assert "is not empty and was not written by this command" in proc.stderr
    assert (foreign / "notes.txt").read_text() == "mine"


def test_cluster_sourced_node_configs_take_pod_cidrs(tmp_path: Path) -> None:
    stack = "tests/stacks/variants/bird-cluster-1.18.yaml"
    proc = render("--stack-file", stack, "--out", str(tmp_path / "a"))
    assert proc.returncode == 0
    assert "pass --pod-cidr NODE=CIDR" in proc.stderr
    assert not (tmp_path / "a/nodes").exists()
    proc = render(
        "--stack-file", stack, "--out", str(tmp_path / "b"),
        "--pod-cidr", "node1=172.31.254.0/26", "--pod-cidr", "node2=172.31.254.64/26",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert 'route 172.31.254.64/26 via "cilium_host"' in (tmp_path / "b/nodes/node2/bird.conf").read_text()
    proc = render("--stack-file", stack, "--out", str(tmp_path / "c"), "--pod-cidr", "node1=10.9.0.0/26")
    assert proc.returncode == 2
    assert "nodes[0] (CiliumNode node1 spec.ipam.podCIDRs[0]): found 10.9.0.0/26, outside the pool" in proc.stderr


def test_missing_stack_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = render("--stack-file", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot read stack file")


def test_out_that_is_a_file_is_a_clean_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("keep me")
    proc = render("--stack-file", "Pulumi.dev.yaml", "--out", str(target))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: --out") and "not a directory" in proc.stderr, proc.stderr
    assert target.read_text() == "keep me"


def test_out_that_cannot_be_created_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for out in (tmp_path / "file" / "sub", Path("/proc/cilium-bgp-render")):
        proc = render("--stack-file", "Pulumi.dev.yaml", "--out", str(out))
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: --out"), proc.stderr


def test_a_crafted_marker_deletes_nothing_outside_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render("--stack-file", "Pulumi.dev.yaml", "--out", str(out)).returncode == 0
    victims = [tmp_path / "victim.txt", tmp_path / "absolute.txt"]
    for victim in victims:
        victim.write_text("not the render command's")
    marker = out / ".cilium-bgp-render"
    marker.write_text(marker.read_text() + "../victim.txt\n" + str(victims[1]) + "\n")
    proc = render("--stack-file", "Pulumi.dev.yaml", "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "outside" in proc.stderr, proc.stderr
    assert all(v.read_text() == "not the render command's" for v in victims), "a file outside --out was deleted"
    assert (out / "router/frr.conf").exists(), "nothing is deleted when the marker is not trustworthy"


def test_symlinks_inside_out_are_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render("--stack-file", "Pulumi.dev.yaml", "--out", str(out)).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "frr.conf").write_text("someone else's")
    shutil.rmtree(out / "router")
    (out / "router").symlink_to(elsewhere, target_is_directory=True)
    proc = render("--stack-file", "Pulumi.dev.yaml", "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert (elsewhere / "frr.conf").read_text() == "someone else's", "render wrote through a symlink"
