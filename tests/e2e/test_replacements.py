"""A node moved to another host, and a node renamed, with pulumi-command's own replace semantics:
nothing of ours stays on the old host, and no daemon is stopped after the router check passed.

The lab is built from tests/stacks/e2e/Pulumi.lab-spare.yaml (router, node1, node2 and a spare
node3 host); the stack lists node1 and node2 only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2ekit import inspect, neighbors, owner_markers
from pulumi import automation as auto

from lab.engine import ROOT, Engine, lab_config, lab_down, lab_up

pytestmark = pytest.mark.e2e
STACK = "lab-spare"
STACK_FILE = ROOT / "tests" / "stacks" / "e2e" / f"Pulumi.{STACK}.yaml"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replacements")


@pytest.fixture(scope="module")
def engine(workdir: Path) -> Iterator[Engine]:
    built = lab_up(workdir, STACK_FILE, STACK, nodes=2)
    try:
        yield built
    finally:
        lab_down(built, workdir)


def lab_host(workdir: Path, node: dict[str, Any]) -> str:
    """The lab host a node's config points at (by its SSH address)."""
    hosts = json.loads((workdir / "lab" / "hosts.json").read_text())
    return next(name for name, h in hosts.items() if h["host"] == node["ssh"]["host"])


def bird_on(workdir: Path, name: str) -> tuple[bool, list[str]]:
    """Does host ``name`` hold a bird.conf, and which routing daemons run there."""
    state = inspect(workdir)[name]
    return state["files"]["/etc/bird/bird.conf"]["exists"], [d["comm"] for d in state["daemons"]]


def test_moving_a_node_leaves_nothing_on_the_old_host(engine: Engine, workdir: Path) -> None:
    engine.up()
    nodes = copy.deepcopy(engine.config["cilium-bgp:nodes"])
    old_host = lab_host(workdir, nodes[1])
    hosts = json.loads((workdir / "lab" / "hosts.json").read_text())
    spare = lab_config(engine.stack_file, hosts)["cilium-bgp:nodes"][2]  # node3's host, in no node's config
    assert bird_on(workdir, old_host) == (True, ["bird"]), "node2 runs on its host before the move"
    node1_before = neighbors(workdir)["10.0.1.10"]
    old_address = nodes[1]["address"].split("/")[0]

    nodes[1] |= {"address": spare["address"], "ssh": spare["ssh"]}
    engine.configure({"cilium-bgp:nodes": nodes})
    planned = engine.preview().steps
    assert planned["node2-bird-config"] == "replace", planned
    engine.up()

    new_host = lab_host(workdir, nodes[1])
    assert bird_on(workdir, old_host) == (False, []), "no bird.conf and no BIRD left on the old host"
    assert owner_markers(workdir, old_host) == ""
    assert bird_on(workdir, new_host) == (True, ["bird"])
    after = neighbors(workdir)
    new_address = spare["address"].split("/")[0]
    assert after[new_address]["bgpState"] == "Established", "node2 peers from its new host"
    assert old_address not in after, "the router no longer lists the old address"
    assert after["10.0.1.10"]["connectionsEstablished"] == node1_before["connectionsEstablished"], "node1 reset"


def test_renaming_a_node_stops_nothing_after_the_check(engine: Engine, workdir: Path) -> None:
    engine.up()
    nodes = copy.deepcopy(engine.config["cilium-bgp:nodes"])
    node = nodes[1]
    name, where, address = node["name"], lab_host(workdir, node), node["address"].split("/")[0]
    renamed = f"{name}-renamed"
    node["name"] = renamed
    engine.configure({"cilium-bgp:nodes": nodes})
    planned = engine.preview().steps
    assert planned == {
        renamed: "create",
        f"{renamed}-bird-config": "create",
        name: "delete",
        f"{name}-bird-config": "delete",
        "router": "update",
        "verify": "update",
        "verify-check": "replace",
    }, planned

    # FRR's session counters as the router check starts: everything the check depends on is done
    # then, and the old resource's delete comes after the check.
    at_check: dict[str, Any] = {}

    def on_event(event: auto.EngineEvent) -> None:
        starting = event.resource_pre_event
        if starting and starting.metadata.urn.endswith("::verify-check") and not at_check:
            at_check.update(neighbors(workdir))

    engine.up(on_event=on_event)
    assert at_check, "the router check ran in this update"
    checked = engine.outputs()["bgpPeers"][address]
    assert (checked["node"], checked["state"]) == (renamed, "Established"), "the check passed for the renamed node"
    after = neighbors(workdir)
    for peer, state in at_check.items():
        assert after[peer]["bgpState"] == "Established", f"{peer} after the update"
        for counter in ("connectionsEstablished", "connectionsDropped"):
            assert after[peer][counter] == state[counter], f"{peer}: {counter} changed during or after the check"
    assert bird_on(workdir, where) == (True, ["bird"]), "the renamed node's BIRD and bird.conf stay"
    assert owner_markers(workdir, where) == f"cilium-bgp/{STACK}/{renamed}-bird-config\n"
