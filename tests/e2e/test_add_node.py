"""Adding a node to a running 50-node lab through the program, with the real engine: only that
node's resources and one router reload change, and no existing BGP session resets.

The lab is built for 51 hosts; the stack first lists 50 nodes, then the 51st is added to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2ekit import inspect, neighbors

from benchmarks.stacks import stack_config
from lab.engine import Engine, lab_config, lab_down, lab_up

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
        lab_down(engine, workdir)


def bgpd_pid(workdir: Path) -> list[int]:
    return [d["pid"] for d in inspect(workdir)["router"]["daemons"] if d["comm"] == "bgpd"]


def test_adding_a_node_disturbs_no_session(scale: tuple[Engine, Path]) -> None:
    engine, workdir = scale
    engine.up()
    before = neighbors(workdir)
    assert len(before) == NODES and {n["bgpState"] for n in before.values()} == {"Established"}
    pid = bgpd_pid(workdir)

    hosts = json.loads((workdir / "lab" / "hosts.json").read_text())
    every_node = lab_config(engine.stack_file, hosts)["cilium-bgp:nodes"]
    new = every_node[NODES]
    engine.configure({"cilium-bgp:nodes": every_node})

    planned = engine.preview().steps
    name = new["name"]
    assert planned == {
        name: "create",
        f"{name}-bird-config": "create",
        "router": "update",
        "router-frr-config": "update",
        "verify": "update",
        "verify-check": "replace",
    }, planned

    engine.up()
    after = neighbors(workdir)
    address = new["address"].split("/")[0]
    assert after[address]["bgpState"] == "Established", "the new node's session is up"
    for peer, state in before.items():
        assert after[peer]["bgpState"] == "Established", peer
        assert after[peer]["connectionsEstablished"] == state["connectionsEstablished"], f"{peer} reset"
        assert after[peer]["connectionsDropped"] == state["connectionsDropped"], f"{peer} dropped"
    assert bgpd_pid(workdir) == pid, "FRR was reloaded, not restarted"
