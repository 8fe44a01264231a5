"""The real Pulumi engine on the lab: toolchain, preview, up, no-op up, one change, policies, outputs,
destroy — driven through the Automation API.

One hosts-mode lab (namespace hosts with their own sshd) and one `lab` stack serve the whole
module, in order. Plugins are never downloaded (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2ekit import host, inspect, owner_markers, router_summary

from lab.engine import ROOT, Engine, lab_cli, lab_down, lab_up, state_env

pytestmark = pytest.mark.e2e
TOOLCHAIN = Path(
    os.environ.get("CILIUM_BGP_TOOLCHAIN_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cilium-bgp" / "toolchain"
)
PLUGIN_CACHE = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi") / "plugins"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="module")
def engine(workdir: Path) -> Iterator[Engine]:
    built = lab_up(workdir)
    try:
        yield built
    finally:
        lab_down(built, workdir)


@pytest.fixture
def deployed(engine: Engine) -> Engine:
    """The stack is up (a no-op when an earlier test already brought it up): tests can run alone."""
    engine.up()
    return engine


def _build_info(binary: Path) -> str:
    return subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, check=True).stdout


def test_toolchain_is_the_upstream_build(engine: Engine) -> None:
    env = state_env(engine.bin_dir)
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true", "a missing plugin fails, never downloads"
    workspace = engine.stack.workspace
    assert workspace.pulumi_version == "3.274.1"
    installed = {(p.name, p.kind): p for p in workspace.list_plugins()}
    assert installed["command", "resource"].version == "1.2.1"
    assert installed["kubernetes", "resource"].version == "4.25.0"
    # What the engine loads for this project: the program's plugins and its language host.
    about = json.loads(workspace.pulumi_command.run(["about", "--json"], workspace.work_dir, env).stdout)
    plugins = {(p["name"], p["kind"]): p["version"] for p in about["plugins"]}
    assert plugins["command", "resource"] == "1.2.1"
    assert plugins["kubernetes", "resource"] == "4.25.0"
    # Upstream builds the language host without a version stamp; it is the one beside the CLI.
    assert ("python", "language") in plugins and plugins["python", "language"] is None, plugins
    language_host = engine.bin_dir / "pulumi-language-python"
    info = _build_info(language_host)
    assert "path\tgithub.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3\n" in info, info[:300]
    assert "dep\tgithub.com/pulumi/pulumi/sdk/v3\tv3.274.1\t" in info
    for name, version in (("command", "1.2.1"), ("kubernetes", "4.25.0")):
        plugin = PLUGIN_CACHE / f"resource-{name}-v{version}" / f"pulumi-resource-{name}"
        module = "pulumi-command/provider" if name == "command" else "pulumi-kubernetes/provider/v4"
        assert f"path\tgithub.com/pulumi/{module}/cmd/pulumi-resource-{name}\n" in _build_info(plugin)
        built = TOOLCHAIN / "plugins" / plugin.name
        if built.exists():  # built here from shared/upstream and the module proxy
            assert plugin.read_bytes() == built.read_bytes(), f"{plugin} is not {built}"


def test_preview_then_up_routes_the_lab(engine: Engine, workdir: Path) -> None:
    planned = engine.preview().steps
    assert planned and set(planned.values()) == {"create"}, planned
    engine.up()
    out = engine.outputs()
    assert out["bgpMethod"] == "bird"
    assert out["podCidrs"] == {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"]}
    assert {a: (p["state"], p["prefixesReceived"]) for a, p in out["bgpPeers"].items()} == {
        "10.0.1.10": ("Established", 1),
        "10.0.2.10": ("Established", 1),
    }
    # The lab's own checks (it exits non-zero on any failure): sessions, exact routes, pings.
    report = json.loads(lab_cli("verify", "--json", workdir=workdir / "lab").stdout)
    assert report["mode"] == "hosts"
    assert sorted(report["routers"]["router"]["routes"]) == ["172.31.254.0/26", "172.31.254.64/26"]
    assert report["pings"] and all(p["ok"] and p["ttl"] == 63 for p in report["pings"]), report["pings"]
    assert owner_markers(workdir, "node2") == "cilium-bgp/lab/node2-bird-config\n"


def test_second_up_changes_nothing(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    before = router_summary(workdir)
    engine.up(expect_no_changes=True)
    after = router_summary(workdir)
    for peer, state in before.items():
        assert after[peer]["connectionsEstablished"] == state["connectionsEstablished"], f"{peer} was reset"


def test_stack_output_equals_what_frr_shows(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    peers = engine.outputs()["bgpPeers"]
    frr = router_summary(workdir)
    assert set(peers) == set(frr)
    for address, peer in peers.items():
        assert peer["state"] == frr[address]["state"]
        assert peer["prefixesReceived"] == frr[address]["pfxRcd"]
        assert peer["asn"] == frr[address]["remoteAs"]


def _stack_settings(engine: Engine, edit: Callable[[dict[str, Any]], None]) -> None:
    settings = yaml.safe_load(engine.settings_file.read_text())
    edit(settings["config"])
    engine.settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))


def test_the_same_nodes_from_a_nodes_file_change_nothing(deployed: Engine) -> None:
    """`nodesFile` under the real engine: the program reads it from the project directory the
    engine names (the workspace, where Pulumi.yaml is; the program itself runs in the checkout),
    and the same nodes from a file change nothing."""
    engine = deployed
    nodes = engine.config["cilium-bgp:nodes"]
    (engine.workspace_dir / "nodes.yaml").write_text(yaml.safe_dump(nodes))
    assert not (ROOT / "nodes.yaml").exists()

    def swap(config: dict[str, Any], remove: str, key: str, value: Any) -> None:
        del config[remove]
        config[key] = value

    _stack_settings(engine, lambda config: swap(config, "cilium-bgp:nodes", "cilium-bgp:nodesFile", "nodes.yaml"))
    try:
        engine.up(expect_no_changes=True)
    finally:
        _stack_settings(engine, lambda config: swap(config, "cilium-bgp:nodesFile", "cilium-bgp:nodes", nodes))


def test_changing_one_asn_touches_that_node_and_the_router(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    nodes = copy.deepcopy(engine.config["cilium-bgp:nodes"])
    nodes[1]["asn"] = 65021
    engine.configure({"cilium-bgp:nodes": nodes})
    planned = engine.preview().steps
    # node2 (its spec and its bird.conf), the router (its spec and frr.conf) and the router-side
    # check; nothing of node1, and no replacement of a config command.
    assert set(planned) == {"node2", "node2-bird-config", "router", "router-frr-config", "verify", "verify-check"}, (
        planned
    )
    assert planned["node2-bird-config"] == planned["router-frr-config"] == "update"
    node1_before = router_summary(workdir)["10.0.1.10"]["connectionsEstablished"]
    engine.up()
    frr = router_summary(workdir)
    assert frr["10.0.2.10"]["remoteAs"] == 65021
    assert frr["10.0.2.10"]["state"] == "Established", "node2's session came back"
    assert frr["10.0.1.10"]["connectionsEstablished"] == node1_before, "node1's session was not reset"
    assert engine.outputs()["bgpPeers"]["10.0.2.10"]["asn"] == 65021


def test_policy_pack_runs_in_preview(engine: Engine, workdir: Path) -> None:
    policies = ROOT / "policies"
    passing = engine.preview(policy_packs=[policies])
    advisory = {e.policy_name: e.enforcement_level for e in passing.policy}
    assert advisory.get("router-prefix-filter") == "advisory", "advisory rules report without failing the preview"
    strict = workdir / "strict.json"
    strict.write_text(json.dumps({"router-prefix-filter": "mandatory"}))
    failing = engine.preview(policy_packs=[policies], policy_pack_configs=[strict], check=False)
    assert not failing.ok, failing.output[-2000:]
    raised = [e for e in failing.policy if e.policy_name == "router-prefix-filter"]
    assert raised and raised[0].enforcement_level == "mandatory", failing.policy
    assert "router.prefixFilter: true" in raised[0].message, raised[0].message


def test_destroy_stops_the_daemons_and_removes_the_configs(deployed: Engine, workdir: Path) -> None:
    engine = deployed
    before = inspect(workdir)
    assert before["router"]["daemons"] and before["node1"]["daemons"], "daemons ran before the destroy"
    engine.destroy()
    for name, host_state in inspect(workdir).items():
        assert host_state["sshd"]["running"], f"{name}: cannot look inside"
        assert host_state["daemons"] == [], f"{name} still runs {host_state['daemons']}"
        assert not [p for p, f in host_state["files"].items() if f["exists"]], f"{name}: {host_state['files']}"
        assert host(workdir, name, "ls", "-A", "/etc/cilium-bgp", check=False) == "", f"{name}: owner markers left"
    # The lab's own verdict on the same question.
    lab_cli("inspect", "--expect-empty", workdir=workdir / "lab")
