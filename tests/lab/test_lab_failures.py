"""A lab that cannot come up says why in the daemon's own words and leaves nothing behind: broken
configs (caught before any namespace exists), a session that never establishes (caught by the
deadline, after the daemons ran), and an interrupted ``up``."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import netns
from lab.backends.daemons import RUN_ROOT
from lab.daemons import FRR_ETC
from lab.process import ProcessRecord
from lab.run import down, up
from lab.state import LabState
from lab.syntax import ConfigRejected
from lab.wait import Budget, DeadlinePassed, wait_until
from tests.lab.labkit import LAB_STACKS, ROOT, assert_nothing_left

pytestmark = pytest.mark.lab

DEV = ROOT / "Pulumi.dev.yaml"


def traces_of_torn_down_run(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What is left of the one lab run whose teardown ``caplog`` saw (other lab runs may be live)."""
    ids = {r.args[0] for r in caplog.records if r.name == "lab" and str(r.msg).startswith("lab %s removed")}
    assert len(ids) == 1, f"expected the teardown of exactly one lab run, saw {ids}"
    (lab_id,) = ids
    found = [p.name for p in netns.NETNS_DIR.glob(f"cbgp-{lab_id}-*")]
    found += [str(p) for p in (*FRR_ETC.glob(f"cbgp-{lab_id}-*"), *RUN_ROOT.glob(f"cbgp-{lab_id}"))]
    return found


@pytest.mark.parametrize(
    ("stack_file", "artifact", "breakage", "words"),
    [
        (DEV, "router/frr.conf", (" remote-as 65010", " remote-ass 65010"), "Unknown command"),
        (DEV, "nodes/node1/bird.conf", ("local 10.0.1.10 as 65010;", "local 10.0.1.10 as;"), "syntax error"),
        (LAB_STACKS / "Pulumi.lab-v1.yaml", "nodes/node2/gobgpd.toml", ("hold-time", "hold-tme"), "invalid keys"),
        (
            LAB_STACKS / "Pulumi.lab-bird-router.yaml",
            "router/bird.conf",
            ("merge paths", "merge pathz"),
            "syntax error",
        ),
    ],
    ids=["frr.conf", "node-bird.conf", "gobgpd.toml", "router-bird.conf"],
)
def test_a_broken_rendered_config_stops_the_lab_with_the_daemons_words(
    lab_machine: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    stack_file: Path,
    artifact: str,
    breakage: tuple[str, str],
    words: str,
) -> None:
    caplog.set_level(logging.INFO, logger="lab")
    old, new = breakage
    workdir = tmp_path / "lab"

    def tamper(text: str) -> str:
        assert old in text, f"{artifact} no longer contains {old!r}: update the test"
        return text.replace(old, new, 1)

    with pytest.raises(ConfigRejected) as rejected:
        up(stack_file, workdir, tamper={artifact: tamper})
    message = str(rejected.value)
    assert artifact in message and words in message, (
        f"the failure should name {artifact} and quote {words!r}: {message}"
    )
    assert LabState.load(workdir) is None, "a failed up leaves no state behind"
    assert not traces_of_torn_down_run(caplog), f"the failed run left {traces_of_torn_down_run(caplog)}"


def test_a_session_that_never_comes_up_fails_at_the_deadline(
    lab_machine: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lab")
    document = yaml.safe_load(DEV.read_text())
    document["config"]["cilium-bgp:verify"] = {"timeoutSeconds": 4}
    stack = tmp_path / "Pulumi.short.yaml"
    stack.write_text(yaml.safe_dump(document))

    def wrong_asn(text: str) -> str:
        return text.replace("neighbor 10.0.2.10 remote-as 65020", "neighbor 10.0.2.10 remote-as 65099")

    with pytest.raises(DeadlinePassed) as late:
        up(stack, tmp_path / "lab", tamper={"router/frr.conf": wrong_asn})
    assert "peer 10.0.2.10" in str(late.value) and "not Established" in str(late.value), f"{late.value}"
    assert not traces_of_torn_down_run(caplog), f"the failed run left {traces_of_torn_down_run(caplog)}"


def test_a_failed_lab_can_be_kept_and_removed_later(lab_machine: None, tmp_path: Path) -> None:
    document = yaml.safe_load(DEV.read_text())
    document["config"]["cilium-bgp:verify"] = {"timeoutSeconds": 2}
    stack = tmp_path / "Pulumi.kept.yaml"
    stack.write_text(yaml.safe_dump(document))
    workdir = tmp_path / "lab"
    with pytest.raises(DeadlinePassed):
        up(stack, workdir, tamper={"router/frr.conf": lambda t: t.replace("65020", "65099")}, keep_on_failure=True)
    state = LabState.load(workdir)
    assert state is not None and state.status == "failed", f"the failed lab is recorded: {state}"
    assert all(netns.exists(n) for n in state.namespaces), "keep_on_failure keeps the namespaces for inspection"
    recorded = {
        "namespaces": state.namespaces,
        "processes": [ProcessRecord(**p) for p in state.processes],
        "directories": state.directories,
    }
    assert down(workdir), "down removes the kept lab"
    assert_nothing_left(recorded, workdir)


def test_an_interrupted_up_removes_what_it_built(lab_machine: None, tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    stack = tmp_path / "Pulumi.interrupted.yaml"
    stack.write_text((LAB_STACKS / "Pulumi.lab-v1.yaml").read_text())
    command = [sys.executable, "-m", "lab", "up", "--stack-file", str(stack), "--workdir", str(workdir)]
    # A user's Ctrl-C: SIGINT must act even when the suite itself runs with it ignored (a background
    # job of a non-interactive shell, nohup), as Python then never installs its handler in the child.
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    state_file = workdir / "lab-state.json"

    def speakers_started() -> tuple[dict[str, Any], list[str]]:
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        started = [p for p in state.get("processes", []) if p["role"].endswith("/gobgpd")]
        return state, [] if len(started) == 2 else [f"{len(started)} gobgpd recorded"]

    try:
        # GoBGP waits 5-9 s before its first connect: the lab is caught half built, daemons running.
        state = wait_until(speakers_started, Budget("lab half built", 30), "both speakers started").value
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
        down(workdir)  # a no-op when the interrupted up cleaned up after itself, as it should
    assert proc.returncode == 130, f"Ctrl-C should end `up` with exit 130, got {proc.returncode}:\n{out}\n{err}"
    recorded = {
        "namespaces": state["namespaces"],
        "processes": [ProcessRecord(**p) for p in state["processes"]],
        "directories": state["directories"],
    }
    assert_nothing_left(recorded, workdir)
