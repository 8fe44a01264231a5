"""A router whose router-id sits on a /32 loopback, as on most real routers.

::

     client 198.51.100.254/24 --lab-client-- [ router ]  lo 10.255.255.1/32 (router-id)
                                 10.0.1.2 eth1 /      \\ eth2 10.0.2.2
                                  node1 10.0.1.10    node2 10.0.2.10

The seed's dev stack with the router's address on ``192.168.121.0/24`` replaced by the loopback:
every router subnet holds a node and a /32 has no address to spare, so the client gets a link of
its own (``lab-client``, TEST-NET-2) and must still reach every pod through the router. Before the
lab knew this, ``up`` failed with "no free address for the client in 10.255.255.1/32".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.checks import ping
from lab.run import Lab
from tests.lab.expect import Show, ip_json, kernel_routes, pings, router_sessions
from tests.lab.jsoncmp import json_cmp
from tests.lab.labkit import ROOT, expect, stack_variant

pytestmark = pytest.mark.lab

LOOPBACK = "10.255.255.1"


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dev = ROOT / "Pulumi.dev.yaml"
    router: dict[str, Any] = yaml.safe_load(dev.read_text())["config"]["cilium-bgp:router"]
    eth1, eth2, _ = router["interfaces"]
    loopback = {"name": "lo", "address": f"{LOOPBACK}/32"}
    change = {"router": router | {"routerId": LOOPBACK, "interfaces": [loopback, eth1, eth2]}}
    return stack_variant(dev, tmp_path_factory.mktemp("loopback"), change, "loopback")


def test_the_router_id_is_the_loopbacks(lab: Lab) -> None:
    summary = router_sessions(lab, "router")
    expect(Show("router", summary.command, summary.read, {"ipv4Unicast": {"routerId": LOOPBACK}}), lab.converge_budget)
    expect(
        ip_json(
            lab, "router", ["-4", "addr", "show", "dev", "lo"], [{"addr_info": [{"local": LOOPBACK, "prefixlen": 32}]}]
        ),
        lab.converge_budget,
    )


def test_the_client_has_a_link_of_its_own(lab: Lab) -> None:
    router_side = [{"ifname": "lab-client", "addr_info": [{"local": "198.51.100.1", "prefixlen": 24}]}]
    expect(ip_json(lab, "router", ["-4", "addr", "show", "dev", "lab-client"], router_side), lab.converge_budget)
    client_side = [{"ifname": "eth0", "addr_info": [{"local": "198.51.100.254", "prefixlen": 24}]}]
    expect(ip_json(lab, "client", ["-4", "addr", "show", "dev", "eth0"], client_side), lab.converge_budget)
    expect(
        ip_json(lab, "client", ["-4", "route", "show", "default"], [{"gateway": "198.51.100.1"}]), lab.converge_budget
    )


def test_sessions_and_routes(lab: Lab) -> None:
    expect(router_sessions(lab, "router"), lab.converge_budget)
    expect(kernel_routes(lab, "router"), lab.converge_budget)


def test_the_client_reaches_every_pod_through_the_router(lab: Lab) -> None:
    sent = [p.as_dict() for p in lab.pings()]
    differences = json_cmp(sent, pings(lab))
    assert differences is None, f"pings (TTL 63: one routed hop): {differences}"
    client = lab.plan.topology.client
    answer = ping("client", client.netns, client.address.ip, lab.plan.cfg.router.router_id)
    assert answer.ok and answer.ttl == 64, f"the router answers on its loopback itself: {answer}"
