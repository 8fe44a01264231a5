"""The program's work per node stays near what the SDK itself spends registering a node's resources.

Counted, not timed (a loaded machine changes times, not counts): the Python function calls of
the program under mocks at two sizes give the calls each further node adds, set against the
same for ``benchmarks.floor`` (per node a component and a ``remote.Command``, no project code).
The budgets are about 8% over what each method takes here; with ``bird`` the program took 2.3x
the floor per node (1.8x now) when every PodCIDR, config text and command was an ``Output``,
Output.all unwrapped the expectation into an Output per value, and every command's host program
was cut from its comments anew (``python -m benchmarks program`` and
``python -m benchmarks.profile`` show the time).
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable

import pytest
from harness import run_program

from benchmarks.floor import register_floor
from benchmarks.program import bench_config

SMALL, LARGE = 10, 40
# Calls per node over the floor's (whose node is a component and a Command): kube-router and v1
# patch every Node, the other in-cluster methods register only each node's component.
BUDGET = {"bird": 2.0, "kube-router": 1.7, "cilium-metallb": 1.45, "cilium-bgp-v1": 1.8, "cilium-bgp-v2": 1.95}


def _calls(action: Callable[[], object]) -> int:
    profile = cProfile.Profile()
    profile.enable()
    try:
        action()
    finally:
        profile.disable()
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def _per_node(register: Callable[[int], object]) -> float:
    register(SMALL)  # imports and first-use caches stay out of the count
    return (_calls(lambda: register(LARGE)) - _calls(lambda: register(SMALL))) / (LARGE - SMALL)


@pytest.fixture(scope="module")
def floor_per_node() -> float:
    return _per_node(register_floor)


@pytest.mark.parametrize("method", sorted(BUDGET))
def test_work_per_node_stays_near_the_sdk_floor(method: str, floor_per_node: float) -> None:
    def program(nodes: int) -> object:
        return run_program(bench_config(nodes, method), secrets={"sshPrivateKey": "benchmark-key"}, record=False)

    ratio = _per_node(program) / floor_per_node
    assert ratio <= BUDGET[method], (
        f"{method}: each node costs {ratio:.2f}x the calls the SDK floor makes per node, over the budget of "
        f"{BUDGET[method]}x: look for Outputs made of values the stack config holds, or work per node "
        "that could be done once per stack (python -m benchmarks.profile)"
    )
