"""What a lab's ``show`` commands should say, as expected subsets of their JSON (``tests.lab.jsoncmp``).

Each :class:`Show` pairs a command run on a lab host (FRR's ``show ... json``, BIRD's ``birdc`` output
parsed by ``lab.shows``, ``gobgp ... -j``, ``ip -j route``) with the subset its answer must contain.
The subsets are formatted from the plan's expectations (``cilium_bgp.renderers.expectations``:
every node a peer with its prefix count, every PodCIDR and LB IP with exactly its nexthops), or from
a degraded copy of them (``LabPlan.expected_without``) while a node or router is down; a prefix in ``withdrawn``
must be absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab import shows
from lab.daemons import BirdDaemon, FrrRouter, GobgpSpeaker
from lab.run import Lab, expected_ttl
from lab.shell import run
from tests.lab.jsoncmp import Exact

# GoBGP's apipb.PeerState.SessionState for an Established session.
GOBGP_ESTABLISHED = 6


@dataclass(frozen=True)
class Show:
    host: str
    command: str
    read: Callable[[], Any]
    expected: Any


def router_sessions(lab: Lab, host: str, expect: Mapping[str, Any] | None = None) -> Show:
    """Every expected peer Established, from its ASN, with its prefix count."""
    peers = (expect or lab.plan.expected[host])["peers"]
    router = lab.routers[host]
    if isinstance(router, FrrRouter):
        wanted = {
            a: {"remoteAs": p["asn"], "state": "Established"}
            | ({} if p["prefixesReceived"] is None else {"pfxRcd": p["prefixesReceived"]})
            for a, p in peers.items()
        }
        command = "show bgp summary json"
        asn = lab.plan.sessions.router(lab.plan.topology.router(host).name).asn
        expected = {"ipv4Unicast": {"as": asn, "peers": wanted}}
        return Show(host, f"vtysh -c '{command}'", lambda: router.vtysh_json(command), expected)
    assert isinstance(router, BirdDaemon), f"a router daemon the lab tests do not know: {router}"
    expected = {
        a: {"bgp state": "Established", "neighbor as": p["asn"]}
        | (
            {}
            if p["prefixesReceived"] is None
            else {"channels": {"ipv4": {"routes": {"imported": p["prefixesReceived"]}}}}
        )
        for a, p in peers.items()
    }
    return Show(
        host,
        "birdc show protocols all",
        router.bgp_sessions,
        expected,
    )


def router_rib(lab: Lab, host: str, expect: Mapping[str, Any] | None = None, withdrawn: Sequence[str] = ()) -> Show:
    """Every expected prefix in the routing daemon's own table via exactly its nexthops."""
    routes = (expect or lab.plan.expected[host])["routes"]
    router = lab.routers[host]
    if isinstance(router, FrrRouter):
        selected = {"protocol": "bgp", "selected": True, "installed": True}
        expected: dict[str, Any] = {
            p: Exact(
                [
                    selected
                    if hops is None
                    else selected | {"nexthops": Exact([{"ip": h, "active": True, "fib": True} for h in hops])}
                ]
            )
            for p, hops in routes.items()
        }
        command = "show ip route json"
        return Show(
            host, f"vtysh -c '{command}'", lambda: router.vtysh_json(command), expected | dict.fromkeys(withdrawn)
        )
    assert isinstance(router, BirdDaemon), f"a router daemon the lab tests do not know: {router}"
    # BIRD holds one route per announcing peer (with `merge paths` the kernel gets them as one), and
    # also the other routers' copies it does not prefer: each expected next hop has its route.
    expected = {
        p: [{"type": "unicast"}] if hops is None else [{"via": Exact([h])} for h in hops] for p, hops in routes.items()
    }
    return Show(host, "birdc show route", router.routes, expected | dict.fromkeys(withdrawn))


def ip_json(lab: Lab, host: str, args: Sequence[str], expected: Any) -> Show:
    """``ip -j <args>`` in ``host``'s namespace ("router", "client", a node name)."""
    netns = lab.plan.topology.netns_of(host)

    def read() -> Any:
        return json.loads(run(["ip", "-j", *args], netns=netns).stdout or "[]")

    return Show(host, f"ip -j {' '.join(args)}", read, expected)


def kernel_routes(lab: Lab, host: str, expect: Mapping[str, Any] | None = None) -> Show:
    """A router's (or the upstream client's) kernel table: exactly the expected daemon routes, each
    via exactly its nexthops."""
    routes = (expect or (lab.plan.upstream if host == "client" else lab.plan.expected[host]) or {})["routes"]
    expected = {}
    for prefix, hops in routes.items():
        if hops is None:
            expected[prefix] = {}
        elif len(hops) == 1:
            expected[prefix] = {"gateway": hops[0], "nexthops": None}
        else:
            expected[prefix] = {"nexthops": Exact([{"gateway": h} for h in hops])}
    routes = ip_json(lab, host, ["-4", "route", "show"], Exact(expected))
    return Show(routes.host, routes.command, lambda: shows.kernel_routes(routes.read()), routes.expected)


def speaker_sessions(lab: Lab, node: str) -> Show:
    """The node's own view: a session Established with each of its peers."""
    speaker = lab.speakers[node]
    peers = [str(p) for p in lab.plan.speaker_peers(node)]
    if isinstance(speaker, GobgpSpeaker):
        expected: dict[str, Any] = {p: {"state": {"session_state": GOBGP_ESTABLISHED}} for p in peers}
        return Show(node, "gobgp neighbor -j", speaker.neighbors_json, expected)
    assert isinstance(speaker, BirdDaemon), f"a speaker the lab tests do not know: {speaker}"
    expected = {p: {"bgp state": "Established"} for p in peers}
    return Show(
        node,
        "birdc show protocols all",
        speaker.bgp_sessions,
        expected,
    )


def speaker_originated(lab: Lab, node: str) -> Show:
    """A GoBGP stand-in's own table: exactly the prefixes the translation says it originates."""
    speaker = lab.speakers[node]
    assert isinstance(speaker, GobgpSpeaker), f"{node} originates its prefixes from its config, not an API"
    prefixes = [str(p) for p in lab.plan.standins[node].prefixes]
    expected = Exact({p: Exact([{"nlri": {"prefix": p}, "best": True}]) for p in prefixes})
    return Show(node, "gobgp global rib -a ipv4 -j", speaker.rib_json, expected)


def pings(lab: Lab) -> Exact:
    """Every ping ``Lab.pings`` sends answered, with the TTL of the routers it crosses (63: one): pod to
    pod for every ordered pair of nodes, the client to every pod and every LB IP."""
    topo = lab.plan.topology
    client = topo.client
    wanted = [(a.name, a.pod_ip, b.pod_ip) for a in topo.nodes for b in topo.nodes if a != b]
    wanted += [("client", client.address.ip, n.pod_ip) for n in topo.nodes]
    wanted += [("client", client.address.ip, ip) for ip in lab.plan.lb_ips.values()]
    return Exact(
        [
            {"from": f, "src": str(s), "dst": str(d), "ok": True, "ttl": expected_ttl(lab.plan, f, d)}
            for f, s, d in wanted
        ]
    )
