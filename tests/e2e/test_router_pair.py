"""A redundant router pair on the real engine: `pulumi up` configures FRR on edge1, BIRD on edge2
and BIRD on every node over SSH, and the program's own check runs on each router and names the one
that misses a peer.

::

                   client 192.168.121.254 (the upstream peer "core": the lab's BIRD)
                          |  192.168.121.0/24
        edge1 (FRR) .16 ======= .17 edge2 (BIRD)      iBGP between them
        10.0.1.2  10.0.2.2      10.0.1.3  10.0.2.3
             \\ node1 /    \\ node2, node3 /          every node peers with both

One hosts-mode lab of tests/stacks/e2e/Pulumi.lab-pair.yaml (every router and node an SSH host) and
one `lab-pair` stack serve the whole module, in order; the last step takes the lab down.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2ekit import host, inspect, owner_markers
from pulumi import automation as auto

from lab.engine import ROOT, Engine, EngineError, lab_cli, lab_down, lab_up

pytestmark = pytest.mark.e2e
STACK = "lab-pair"
STACK_FILE = ROOT / "tests" / "stacks" / "e2e" / f"Pulumi.{STACK}.yaml"
ROUTERS = ("edge1", "edge2")
NODES = {"10.0.1.10": "node1", "10.0.2.10": "node2", "10.0.2.11": "node3"}
POD_CIDRS = {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"], "node3": ["172.31.254.128/26"]}
MESH = {"edge1": "192.168.121.17", "edge2": "192.168.121.16"}  # each router's iBGP peer: the other one
UPSTREAM = "192.168.121.254"


@dataclass
class PairLab:
    engine: Engine
    workdir: Path
    password: str
    down: str | None = None  # what `lab down` removed, once the module's last step ran it


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PairLab]:
    workdir = tmp_path_factory.mktemp("pair")
    engine = lab_up(workdir, STACK_FILE, STACK)
    lab = PairLab(engine, workdir, secrets.token_urlsafe(18))
    try:
        # The stack requires an MD5 password on every session: a fresh one per run, as a secret.
        engine.configure({}, secrets={"cilium-bgp:bgpPassword": lab.password})
        yield lab
    finally:
        if lab.down is None:
            lab_down(engine, workdir)


@pytest.fixture
def deployed(pair: PairLab) -> PairLab:
    """The stack is up (a no-op when an earlier test already brought it up): tests can run alone."""
    pair.engine.up()
    return pair


def kernel_routes(workdir: Path, router: str) -> set[str]:
    """The prefixes in ``router``'s kernel table (where its BGP routes must land)."""
    return {r["dst"] for r in json.loads(host(workdir, router, "ip", "-j", "-4", "route", "show"))}


def sessions(workdir: Path) -> dict[str, dict[str, Any]]:
    """Each router's BGP sessions with what would change if one were reset: FRR's connection
    counters on edge1, BIRD's per-protocol state and its "since" time on edge2."""
    frr = json.loads(host(workdir, "edge1", "vtysh", "-c", "show bgp neighbors json"))
    bird = host(workdir, "edge2", "birdc", "show", "protocols")
    protocols = {
        fields[0]: (fields[3], " ".join(fields[4:]))  # its state; since when, and BGP's own state
        for fields in (line.split() for line in bird.splitlines())
        if len(fields) >= 5 and fields[1] == "BGP"
    }
    return {
        "edge1": {a: (n["bgpState"], n["connectionsEstablished"], n["connectionsDropped"]) for a, n in frr.items()},
        "edge2": protocols,
    }


def test_up_configures_both_routers_and_every_node(pair: PairLab) -> None:
    engine, workdir = pair.engine, pair.workdir
    planned = engine.preview().steps
    assert planned and set(planned.values()) == {"create"}, planned
    for router in ROUTERS:
        assert f"verify-{router}-check" in planned, f"the program checks {router}: {sorted(planned)}"
    engine.up()
    out = engine.outputs()
    assert out["podCidrs"] == POD_CIDRS
    # bgpPeers per router, from what the program's check on that router read there.
    assert set(out["bgpPeers"]) == set(ROUTERS), out["bgpPeers"]
    for router in ROUTERS:
        peers = out["bgpPeers"][router]
        assert set(peers) == {*NODES, MESH[router], UPSTREAM}, f"{router}: {sorted(peers)}"
        assert {a: p["state"] for a, p in peers.items()} == dict.fromkeys(peers, "Established"), peers
        assert {a: peers[a]["prefixesReceived"] for a in NODES} == dict.fromkeys(NODES, 1), peers
        routes = kernel_routes(workdir, router)
        missing = {c for cs in POD_CIDRS.values() for c in cs} - routes
        assert not missing, f"{router}'s kernel table lacks {missing}: {sorted(routes)}"
    assert pair.password not in json.dumps(out), "the BGP password shows in the stack's outputs"
    for name in ("edge1", "edge2", "node3"):
        assert owner_markers(pair.workdir, name), f"the program marked nothing as its own on {name}"

    # The lab's own checks (it exits non-zero on any failure): every router's sessions and exact
    # routes, the program's check run again on each, the nodes' sessions, pings, the upstream's ECMP.
    report = json.loads(lab_cli("verify", "--json", workdir=workdir / "lab").stdout)
    assert report["mode"] == "hosts"
    assert report["routerDaemons"] == {"edge1": "frr", "edge2": "bird"}
    assert set(report["programChecks"]) == set(ROUTERS), report["programChecks"]
    for router in ROUTERS:
        assert sorted(report["routers"][router]["routes"]) == sorted(c for cs in POD_CIDRS.values() for c in cs)
    assert {n: sorted(v["sessions"]) for n, v in report["speakers"].items()} == {
        "node1": ["10.0.1.2", "10.0.1.3"],
        "node2": ["10.0.2.2", "10.0.2.3"],
        "node3": ["10.0.2.2", "10.0.2.3"],
    }, report["speakers"]
    upstream_routes = report["upstream"]["routes"]
    assert sorted(upstream_routes) == sorted(c for cs in POD_CIDRS.values() for c in cs), upstream_routes
    assert report["pings"] and all(p["ok"] for p in report["pings"]), report["pings"]


def test_second_up_changes_nothing(deployed: PairLab) -> None:
    before = sessions(deployed.workdir)
    # Three nodes, the other router and the upstream, on each router.
    assert [state for state, *_ in before["edge1"].values()] == ["Established"] * 5, before["edge1"]
    assert [state for state, _ in before["edge2"].values()] == ["up"] * 5, before["edge2"]
    deployed.engine.up(expect_no_changes=True)
    after = sessions(deployed.workdir)
    assert after == before, f"a session was reset or changed state: {before} -> {after}"


def test_the_check_names_the_router_that_misses_a_peer(deployed: PairLab) -> None:
    """edge2 drops its session with node1 (node1 still peers with edge1, so edge1 has everything):
    the next `up` re-runs the check on both routers, and fails naming edge2 and the peer."""
    engine, workdir = deployed.engine, deployed.workdir
    verify = dict(engine.config["cilium-bgp:verify"])
    host(workdir, "edge2", "birdc", "disable", "peer_node1")
    try:
        # A changed timeout changes every check's command, so `up` runs them again (and gives up soon).
        engine.configure({"cilium-bgp:verify": {**verify, "timeoutSeconds": 8}})
        errors: dict[str, str] = {}

        def on_event(event: auto.EngineEvent) -> None:
            said = event.diagnostic_event
            if said and said.severity == "error" and said.urn:
                name = said.urn.split("::")[-1]
                errors[name] = errors.get(name, "") + said.message

        with pytest.raises(EngineError):
            engine.up(on_event=on_event)
        failed = [name for name in errors if name.startswith("verify-")]
        assert failed == ["verify-edge2-check"], f"only edge2's check fails: {errors}"
        said = errors["verify-edge2-check"]
        assert "the check above failed on router edge2" in said, said
        assert re.search(r"peer 10\.0\.1\.10 \(AS 65010\) is \w+, not Established", said), said
    finally:
        host(workdir, "edge2", "birdc", "enable", "peer_node1")
        engine.configure({"cilium-bgp:verify": verify})
    engine.up()
    peers = engine.outputs()["bgpPeers"]
    assert peers["edge2"]["10.0.1.10"]["state"] == "Established", "the check passes once the session is back"


def test_destroy_removes_what_the_program_wrote_on_both_routers(deployed: PairLab) -> None:
    engine, workdir = deployed.engine, deployed.workdir
    before = inspect(workdir)
    assert {d["comm"] for d in before["edge1"]["daemons"]} >= {"bgpd", "zebra"}, before["edge1"]["daemons"]
    assert [d["comm"] for d in before["edge2"]["daemons"]] == ["bird"], before["edge2"]["daemons"]
    engine.destroy()
    after = inspect(workdir)
    assert set(after) == {*ROUTERS, *NODES.values()}, sorted(after)
    for name, host_state in after.items():
        assert host_state["sshd"]["running"], f"{name}: cannot look inside"
        assert host_state["daemons"] == [], f"{name} still runs {host_state['daemons']}"
        assert not [p for p, f in host_state["files"].items() if f["exists"]], f"{name}: {host_state['files']}"
        assert owner_markers(workdir, name) == "", f"{name}: owner markers left"
    lab_cli("inspect", "--expect-empty", workdir=workdir / "lab")


def test_down_leaves_nothing(pair: PairLab) -> None:
    lab_id = json.loads((pair.workdir / "lab" / "lab-state.json").read_text())["lab_id"]
    pair.down = lab_down(pair.engine, pair.workdir)
    assert f"namespace cbgp-{lab_id}-edge2" in pair.down and f"cbgpm-{lab_id}" in pair.down, pair.down
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"cbgp-{lab_id}-" not in namespaces, namespaces
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    assert lab_id not in links, links
    assert not Path(f"/run/cbgp-{lab_id}").exists(), "the upstream's run directory outlived down"
