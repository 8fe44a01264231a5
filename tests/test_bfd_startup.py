"""With ``bgp.failover: bfd`` a fresh session is not held up by FRR 8.4's BFD re-registration.

FRR 8.4 registers a neighbor's BFD session before the first BGP session with it, without a
source address or interface, and registers it again once that session is Established
(``bgpd/bgp_fsm.c`` ``bgp_establish`` -> ``bgp_peer_bfd_update_source``; ``lib/bfd.c``
``bfd_sess_set_interface`` removes the installed session first). bfdd sends Down for the old
session (``_ptm_bfd_session_del``), so BGP sessions that came up after BFD are torn down once, on
both ends. BIRD with ``bfd on`` counts that as a protocol error and waits ``error wait time``
before it takes the router's next connection (``proto/bgp/bgp.c`` ``bgp_bfd_notify`` ->
``bgp_update_startup_delay``, v2.0.12); in the lab 50 nodes took 7.8 s instead of 1.6 s. With
``bfd graceful`` the node only closes the connection and takes the router's next one as soon as
BFD is back. The router's own end keeps ``bfd on``: a dead node's routes go at once.

Two BIRD ends also both wait ``connect delay time`` (5 s by default) before their first connect.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks import ROOT

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.config import load_config
from cilium_bgp.stackfile import raw_config_from_stack_file

VARIANTS = ROOT / "tests" / "stacks" / "variants"


def _files(stack: Path, **bgp: object) -> dict[str, str]:
    raw, secret = raw_config_from_stack_file(stack)
    raw["bgp"] = {**raw.get("bgp", {}), **bgp}
    return render_artifacts(load_config(raw, secret))


def _session(text: str, head: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return [line.strip() for line in lines[start + 1 : end]]


@pytest.mark.parametrize("stack", ["bird-bfd-1.16.yaml", "bird-router-bfd-1.18.yaml"])
def test_node_takes_bfd_down_gracefully_router_does_not(stack: str) -> None:
    files = _files(VARIANTS / stack)
    nodes = sorted(rel for rel in files if rel.startswith("nodes/") and rel.endswith("/bird.conf"))
    assert nodes, f"{stack} renders no node bird.conf"
    for rel in nodes:
        session = _session(files[rel], "protocol bgp uplink0")
        assert "bfd graceful;" in session, f"{rel}: error wait after a BFD down:\n{session}"
        assert "bfd on;" not in session
        assert "import filter { reject; }; export filter { accept; }; };" in " ".join(session), (
            f"{rel}: graceful restart is harmless only while the node imports nothing"
        )
    router = files.get("router/bird.conf")
    if router is not None:
        # Per session or in the template the sessions share (router.neighbors: peer-group).
        assert "  bfd on;" in router and "bfd graceful" not in router, "the router would keep a dead node's routes"


@pytest.mark.parametrize("failover", ["fast", "bfd"])
def test_bird_connects_one_second_after_start(failover: str) -> None:
    files = _files(VARIANTS / "bird-router-bfd-1.18.yaml", failover=failover)
    for rel in ("router/bird.conf", "nodes/node1/bird.conf"):
        assert "  connect delay time 1;" in files[rel], f"{rel}: first connect 5 s after start"


def test_default_failover_keeps_birds_defaults() -> None:
    files = _files(VARIANTS / "bird-router-bfd-1.18.yaml", failover="default")
    assert not [rel for rel, text in files.items() if "connect delay time" in text or "bfd " in text]
