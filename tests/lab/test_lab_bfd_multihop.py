"""BFD over multihop sessions, on real daemons: nodes peer with the router's address on another
interface, so both ends run multihop BGP and multihop BFD (UDP 4784) and a frozen node's routes
go within a second, not after the 9 s hold time.

::

    node1 10.0.1.10 --- eth1 [ router, eth0 192.168.121.16 = peering address ] eth2 --- node2 10.0.2.10
    BIRD, multihop 2, bfd on       FRR: ebgp-multihop 2, bfd profile          BIRD, multihop 2, bfd on
                                   (or BIRD: multihop 2, bfd on)

Each check reads the daemons' own view (FRR ``show bfd peers json``, BIRD ``show bfd sessions``)
and retries it to a named deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.faults import frozen_speaker
from lab.run import Lab
from tests.lab.labkit import LAB_STACKS

pytestmark = pytest.mark.lab

STACKS = [LAB_STACKS / "Pulumi.lab-bfd-multihop.yaml", LAB_STACKS / "Pulumi.lab-bfd-multihop-bird-router.yaml"]
# BFD comes up after BGP (the session asks for it); a few seconds even on a loaded machine.
BFD_UP_SECONDS = 15
# Detection (300 ms x 3) plus the probe's own polling: "within about a second".
WITHDRAWAL_SECONDS = 1.5


def bird_bfd_sessions(text: str) -> dict[str, str]:
    """``birdc show bfd sessions``: peer address -> state (Up, Down, Init, ...), with " (direct)"
    appended to a single-hop session (BIRD shows a multihop session's interface as ``---``)."""
    sessions = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0].count(".") == 3 and words[0].replace(".", "").isdigit():
            sessions[words[0]] = words[2] if words[1] == "---" else f"{words[2]} (direct)"
    return sessions


def frr_bfd_peers(peers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``show bfd peers json``: peer address -> its entry."""
    return {peer["peer"]: peer for peer in peers}


def wait_for(probe: Callable[[], list[str]], seconds: float, what: str) -> None:
    """Retry ``probe`` (a list of problems, empty when done) until it passes or ``seconds`` run out."""
    deadline = time.monotonic() + seconds
    while True:
        problems = probe()
        if not problems:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} not reached within {seconds} s:\n" + "\n".join(f"  - {p}" for p in problems))
        time.sleep(0.2)


def bfd_problems(lab: Lab) -> list[str]:
    cfg = lab.plan.cfg
    peering = str(cfg.router.peering_address)
    problems = []
    if lab.routers["router"].kind == "frr":
        peers = frr_bfd_peers(lab.routers["router"].vtysh_json("show bfd peers json") or [])  # type: ignore[union-attr]
        for node in cfg.nodes:
            peer = peers.get(str(node.ip))
            if peer is None or peer.get("status") != "up" or peer.get("multihop") is not True:
                problems.append(f"FRR: BFD peer {node.ip} ({node.name}) is not an up multihop session: {peer}")
    else:
        sessions = bird_bfd_sessions(lab.routers["router"].birdc("show", "bfd", "sessions"))  # type: ignore[union-attr]
        for node in cfg.nodes:
            if sessions.get(str(node.ip)) != "Up":
                problems.append(
                    f"BIRD router: BFD session with {node.ip} ({node.name}) is {sessions.get(str(node.ip))}"
                )
    for node in cfg.nodes:
        sessions = bird_bfd_sessions(lab.speakers[node.name].birdc("show", "bfd", "sessions"))  # type: ignore[union-attr]
        if sessions.get(peering) != "Up":
            problems.append(f"{node.name}: BFD session with {peering} is {sessions.get(peering)}")
    return problems


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_bfd_is_up_on_both_ends_and_withdraws_a_frozen_node(lab_run: Callable[[Path], Any], stack_file: Path) -> None:
    with lab_run(stack_file) as lab:
        assert lab.plan.cfg.router.peering_address is not None and lab.plan.cfg.uses_bfd
        wait_for(lambda: bfd_problems(lab), BFD_UP_SECONDS, "multihop BFD up on the router and every node")
        node = lab.plan.cfg.nodes[0]
        frozen = frozen_speaker(lab, node.name)
        assert frozen["holdTimeSeconds"] == 9, f"the hold time is not what BFD must beat: {frozen}"
        assert frozen["withdrawn"] == {"router": [str(c) for c in node.pod_cidrs]}, f"withdrawn: {frozen}"
        assert frozen["withdrawnSeconds"] <= WITHDRAWAL_SECONDS, (
            f"{node.name} frozen: routes withdrawn after {frozen['withdrawnSeconds']} s, BFD detects within 0.9 s"
        )
        wait_for(lambda: bfd_problems(lab), BFD_UP_SECONDS, "BFD back up after the node resumed")
