"""The real Pulumi engine on the lab: preview, up, no-op up, one change, policies, outputs, destroy.

One hosts-mode lab (namespace hosts with their own sshd) and one `lab` stack serve the whole
module, in order. Plugins are never downloaded (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.engine import ROOT, STACK, Engine, lab_cli, lab_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="module")
def engine(workdir: Path) -> Iterator[Engine]:
    built = lab_up(workdir)
    try:
        yield built
    finally:
        built.run("destroy", "--yes", *built.stack_args(), check=False)
        built.run("stack", "rm", "--yes", "--force", "--preserve-config", "--stack", STACK, check=False)
        lab_cli("down", "--stack-file", str(ROOT / "Pulumi.lab.yaml"), workdir=workdir / "lab", check=False)


@pytest.fixture
def deployed(engine: Engine) -> Engine:
    """The stack is up (a no-op when an earlier test already brought it up): tests can run alone."""
    engine.run("up", "--yes", "--skip-preview", *engine.stack_args())
    return engine


def host(workdir: Path, name: str, *command: str) -> str:
    return lab_cli("exec", "--host", name, "--", *command, workdir=workdir / "lab").stdout


def router_summary(workdir: Path) -> dict[str, Any]:
    return json.loads(host(workdir, "router", "vtysh", "-c", "show bgp summary json"))["ipv4Unicast"]["peers"]


def outputs(engine: Engine) -> dict[str, Any]:
    return json.loads(engine.run("stack", "output", "--json", "--stack", STACK).stdout)


def changes(engine: Engine) -> dict[str, str]:
    """What a preview would do: resource name -> op, for every step that is not `same`."""
    preview = json.loads(engine.run("preview", "--json", *engine.stack_args()).stdout)
    return {step["urn"].split("::")[-1]: step["op"] for step in preview.get("steps", []) if step.get("op") != "same"}


TIMINGS: dict[str, float] = {}


def test_toolchain_is_the_local_build(engine: Engine) -> None:
    env = engine.env()
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true", "a missing plugin fails, never downloads"
    assert engine.run("version").stdout.strip() == "v3.274.1"
    plugins = {p["name"]: p for p in json.loads(engine.run("plugin", "ls", "--json").stdout)}
    assert plugins["command"]["kind"] == "resource"
    about = engine.run("about", "--json", "--stack", STACK, check=False).stdout
    assert '"language"' in about or "python" in about, about[:500]
    assert str(engine.bin_dir) in (shutil.which("pulumi", path=env["PATH"]) or "")


def test_preview_then_up_routes_the_lab(engine: Engine, workdir: Path) -> None:
    planned = changes(engine)
    assert planned and set(planned.values()) == {"create"}, planned
    start = time.monotonic()
    engine.run("up", "--yes", "--skip-preview", *engine.stack_args())
    TIMINGS["up"] = time.monotonic() - start
    out = outputs(engine)
    assert out["bgpMethod"] == "bird"
    assert out["podCidrs"] == {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"]}
    assert {a: (p["state"], p["prefixesReceived"]) for a, p in out["bgpPeers"].items()} == {
        "10.0.1.10": ("Established", 1),
        "10.0.2.10": ("Established", 1),
    }
    # The lab's own checks (it exits non-zero on any failure): sessions, exact routes, pings.
    report = json.loads(lab_cli("verify", "--json", workdir=workdir / "lab").stdout)
    assert report["mode"] == "hosts"
    assert sorted(report["router"]["routes"]) == ["172.31.254.0/26", "172.31.254.64/26"]
    assert report["pings"] and all(p["ok"] and p["ttl"] == 63 for p in report["pings"]), report["pings"]


def test_second_up_changes_nothing(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    before = router_summary(workdir)
    start = time.monotonic()
    engine.run("up", "--yes", "--expect-no-changes", *engine.stack_args())
    TIMINGS["noop_up"] = time.monotonic() - start
    after = router_summary(workdir)
    for peer, state in before.items():
        assert after[peer]["connectionsEstablished"] == state["connectionsEstablished"], f"{peer} was reset"


def test_stack_output_equals_what_frr_shows(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    peers = outputs(engine)["bgpPeers"]
    frr = router_summary(workdir)
    assert set(peers) == set(frr)
    for address, peer in peers.items():
        assert peer["state"] == frr[address]["state"]
        assert peer["prefixesReceived"] == frr[address]["pfxRcd"]
        assert peer["asn"] == frr[address]["remoteAs"]


def test_changing_one_asn_touches_that_node_and_the_router(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    engine.run("config", "set", "--path", "nodes[1].asn", "65021", *engine.stack_args())
    planned = changes(engine)
    # node2 (its spec and its bird.conf), the router (its spec and frr.conf) and the router-side
    # check; nothing of node1, and no replacement of a config command.
    assert set(planned) == {"node2", "node2-bird-config", "router", "router-frr-config", "verify", "verify-check"}, (
        planned
    )
    assert planned["node2-bird-config"] == planned["router-frr-config"] == "update"
    node1_before = router_summary(workdir)["10.0.1.10"]["connectionsEstablished"]
    engine.run("up", "--yes", "--skip-preview", *engine.stack_args())
    frr = router_summary(workdir)
    assert frr["10.0.2.10"]["remoteAs"] == 65021
    assert frr["10.0.2.10"]["state"] == "Established", "node2's session came back"
    assert frr["10.0.1.10"]["connectionsEstablished"] == node1_before, "node1's session was not reset"
    assert outputs(engine)["bgpPeers"]["10.0.2.10"]["asn"] == 65021


def test_policy_pack_runs_in_preview(engine: Engine, workdir: Path) -> None:
    policies = str(ROOT / "policies")
    passing = engine.run("preview", "--policy-pack", policies, *engine.stack_args(), check=False)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "router-prefix-filter" in passing.stdout, "advisory rules report without failing the preview"
    strict = workdir / "strict.json"
    strict.write_text(json.dumps({"router-prefix-filter": "mandatory"}))
    failing = engine.run(
        "preview", "--policy-pack", policies, "--policy-pack-config", str(strict), *engine.stack_args(), check=False
    )
    assert failing.returncode != 0
    assert "mandatory" in failing.stdout and "router.prefixFilter: true" in failing.stdout, failing.stdout


def test_destroy_stops_the_daemons_and_removes_the_configs(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    before = json.loads(lab_cli("inspect", "--json", workdir=workdir / "lab").stdout)
    assert before["router"]["daemons"] and before["node1"]["daemons"], "daemons ran before the destroy"
    engine.run("destroy", "--yes", *engine.stack_args())
    after = json.loads(lab_cli("inspect", "--json", workdir=workdir / "lab").stdout)
    for name, host_state in after.items():
        assert host_state["sshd"]["running"], f"{name}: cannot look inside"
        assert host_state["daemons"] == [], f"{name} still runs {host_state['daemons']}"
        assert not [p for p, f in host_state["files"].items() if f["exists"]], f"{name}: {host_state['files']}"
    # The lab's own verdict on the same question.
    lab_cli("inspect", "--expect-empty", workdir=workdir / "lab")
