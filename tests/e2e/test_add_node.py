"""Adding a node to a running 50-node lab through the program, with the real engine: only that
node's resources and one router reload change, and no existing BGP session resets.

The lab is built for 51 hosts; the stack first lists 50 nodes, then the 51st is added to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.stacks import stack_config
from lab.engine import Engine, lab_cli, lab_up

pytestmark = pytest.mark.e2e
NODES = 50
STACK = "lab-scale"


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    workdir = tmp_path_factory.mktemp("scale")
    stack_file = workdir / f"Pulumi.{STACK}.yaml"
    config = stack_config(NODES + 1, "bird", hosts=True, bgp={"failover": "fast"}, verify={"timeoutSeconds": 90})
    stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    engine = lab_up(workdir, stack_file, STACK, nodes=NODES)
    try:
        yield engine, workdir
    finally:
        engine.run("destroy", "--yes", *engine.stack_args(), check=False)
        engine.run("stack", "rm", "--yes", "--force", "--preserve-config", "--stack", STACK, check=False)
        lab_cli("down", "--stack-file", str(stack_file), workdir=workdir / "lab", check=False)


def neighbors(workdir: Path) -> dict[str, Any]:
    out = lab_cli("exec", "--host", "router", "--", "vtysh", "-c", "show bgp neighbors json", workdir=workdir / "lab")
    return json.loads(out.stdout)


def bgpd_pid(workdir: Path) -> list[int]:
    inspect = json.loads(lab_cli("inspect", "--json", workdir=workdir / "lab").stdout)
    return [d["pid"] for d in inspect["router"]["daemons"] if d["comm"] == "bgpd"]


def test_adding_a_node_disturbs_no_session(scale: tuple[Engine, Path]) -> None:
    engine, workdir = scale
    engine.run("up", "--yes", "--skip-preview", *engine.stack_args())
    before = neighbors(workdir)
    assert len(before) == NODES and {n["bgpState"] for n in before.values()} == {"Established"}
    pid = bgpd_pid(workdir)

    document = yaml.safe_load((workdir / "engine" / f"Pulumi.{STACK}.yaml").read_text())
    every_node = yaml.safe_load((workdir / f"Pulumi.{STACK}.yaml").read_text())["config"]["cilium-bgp:nodes"]
    hosts = json.loads((workdir / "lab" / "hosts.json").read_text())
    new = every_node[NODES]
    new["ssh"] = {**new["ssh"], "hostKey": hosts[new["name"]]["hostKey"]}
    document["config"]["cilium-bgp:nodes"].append(new)
    (workdir / "engine" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    preview = json.loads(engine.run("preview", "--json", *engine.stack_args()).stdout)
    planned = {s["urn"].split("::")[-1]: s["op"] for s in preview["steps"] if s["op"] != "same"}
    name = new["name"]
    assert planned == {
        name: "create",
        f"{name}-bird-config": "create",
        "router": "update",
        "router-frr-config": "update",
        "verify": "update",
        "verify-check": "replace",
    }, planned

    engine.run("up", "--yes", "--skip-preview", *engine.stack_args())
    after = neighbors(workdir)
    address = new["address"].split("/")[0]
    assert after[address]["bgpState"] == "Established", "the new node's session is up"
    for peer, state in before.items():
        assert after[peer]["bgpState"] == "Established", peer
        assert after[peer]["connectionsEstablished"] == state["connectionsEstablished"], f"{peer} reset"
        assert after[peer]["connectionsDropped"] == state["connectionsDropped"], f"{peer} dropped"
    assert bgpd_pid(workdir) == pid, "FRR was reloaded, not restarted"
