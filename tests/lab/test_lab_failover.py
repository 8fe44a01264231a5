"""A redundant router taken away on real daemons: killed (links down, every process SIGKILLed, as a
router losing power) or only its BGP daemon stopped. Every PodCIDR and LB IP stays reachable from
the upstream peer (the client) through the other routers within the failover profile's time, the
other routers keep every session and route, and bringing the router back restores ECMP.

::

    pair per subnet:   client (upstream, ECMP via edge1 and edge2)
                          |  192.168.121.0/24
                   edge1 (FRR) == edge2 (BIRD)          every node peers with both
                          |         |
                     node1 / node2, node3 (GoBGP for the v2 agent; BIRD)

    router per rack:   client (upstream) -- fabric -- rr1 (FRR), rr2 (BIRD), tor1, tor2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab import failover
from lab.run import Lab
from lab.shell import LabError
from lab.wait import Budget
from tests.lab.expect import kernel_routes, router_sessions
from tests.lab.labkit import LAB_STACKS, expect

pytestmark = pytest.mark.lab

# (stack, the router killed, the router whose BGP daemon is stopped): both FRR and BIRD each way.
CASES = {
    LAB_STACKS / "Pulumi.lab-pair-v2.yaml": ("edge1", "edge2"),
    LAB_STACKS / "Pulumi.lab-pair-bird.yaml": ("edge2", "edge1"),
    LAB_STACKS / "Pulumi.lab-rack-v2.yaml": ("rr1", "rr2"),
}
SETTLED = Budget("tables settled (the failover's own wait already saw it)", 3)
# Every failover measured, for the README (printed with -s).
MEASURED: list[dict[str, Any]] = []


def on(stacks: list[Path]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("stack_file", stacks, indirect=True, ids=lambda p: p.name)


def check(lab: Lab, result: dict[str, Any]) -> None:
    MEASURED.append({"stack": lab.plan.stack_file.name, **result})
    hold = result["holdTimeSeconds"]
    # Peers notice a dead router when their hold timer expires; a stopped daemon says goodbye.
    assert result["failoverSeconds"] <= hold + 3, f"failover took {result['failoverSeconds']} s (hold {hold}): {result}"
    for host in lab.routers:
        expect(router_sessions(lab, host), SETTLED)
        expect(kernel_routes(lab, host), SETTLED)
    expect(kernel_routes(lab, "client"), SETTLED)
    print(f"\n{lab.plan.stack_file.name}: {result}")


@on(list(CASES))
def test_a_killed_router_fails_over_to_the_others(lab: Lab) -> None:
    killed, _ = CASES[lab.plan.stack_file]
    check(lab, failover.router_failover(lab, killed, "killed"))


@on(list(CASES))
def test_a_router_whose_bgp_daemon_stops_fails_over_to_the_others(lab: Lab) -> None:
    _, stopped = CASES[lab.plan.stack_file]
    result = failover.router_failover(lab, stopped, "bgp-stopped")
    assert result["failoverSeconds"] < result["holdTimeSeconds"], f"a stopped daemon closes its sessions: {result}"
    check(lab, result)


# A router with its BGP daemon stopped, and a router of the other daemon that checks its peers.
NAMING = {
    LAB_STACKS / "Pulumi.lab-pair-v2.yaml": ("edge2", "edge1"),
    LAB_STACKS / "Pulumi.lab-pair-bird.yaml": ("edge1", "edge2"),
}


@on(list(NAMING))
def test_the_programs_check_names_the_router_missing_a_peer(lab: Lab) -> None:
    """``pulumi up``'s check on each router fails naming that router and the peer it misses: here
    the other router, whose BGP daemon stopped."""
    stopped, checked = NAMING[lab.plan.stack_file]
    mesh = lab.plan.sessions.router(lab.plan.topology.router(checked).name).mesh
    peer = next(m for m in mesh if m.peer == lab.plan.topology.router(stopped).name)
    with failover.router_down(lab, stopped, "bgp-stopped") as state:
        failover.wait_failover(lab, state)
        with pytest.raises(LabError) as failed:
            lab.program_check(checked, timeout=3)
    failover.wait_restored(lab, state)
    said = str(failed.value)
    assert f"peer {peer.peer_address} (AS {peer.peer_asn}) is " in said and ", not Established" in said, said
    assert said.rstrip().endswith(
        f"cilium-bgp: the check above failed on router {lab.plan.topology.router(checked).name}"
    )
    assert lab.program_check(checked)["ok"], "the router back, the check passes again"
