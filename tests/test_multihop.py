"""BGP and BFD run single-hop or multihop on both ends of a session, never one of each.

A node whose ``router.peeringAddress`` is off its subnet peers multihop from BIRD (``multihop 2``:
BIRD refuses a direct session to an address on no connected network). The hop mode decides BFD:

- BIRD (``proto/bgp/bgp.c``, v2.0.12): ``bfd_request_session(..., p->cf->multihop ? NULL :
  p->neigh->iface, ...)`` — a multihop BGP session asks for a multihop BFD session (UDP 4784), a
  direct one for a single-hop session (UDP 3784). Multihop BFD sessions take their timers from the
  ``multihop { ... }`` block of ``protocol bfd``, not from ``interface`` patterns
  (``proto/bfd/config.Y``, ``bfd_multihop``).
- FRR (``bgpd/bgp_bfd.h``, frr-8.4.4): ``PEER_IS_MULTIHOP`` is true for an eBGP peer only with
  ``ebgp-multihop`` configured (``is_ebgp_multihop_configured``, ``bgpd/bgpd.c``);
  ``bgp_peer_configure_bfd`` (``bgpd/bgp_bfd.c``) then sets the BFD hop count to the peer's TTL
  (multihop) instead of 1 (single hop).

So the router's end of such a session is multihop too: FRR ``neighbor X ebgp-multihop 2``, BIRD
``multihop 2``; otherwise BFD never comes up and failover falls back to the hold timer.

And the TTLs must pass: BIRD sends multihop BFD with the system's default TTL
(``proto/bfd/packets.c``, v2.0.12: ``sk->ttl = ifa ? 255 : -1``; Linux's ``ip_default_ttl`` is
64), while FRR's bfdd drops a multihop packet whose TTL is below the session's ``minimum-ttl``
(``bfdd/bfd_packet.c``, frr-8.4.4: "exceeded max hop count"), 254 unless the profile says
otherwise (``BFD_DEF_MHOP_TTL``, ``bfdd/bfd.h``). Found in the lab: FRR's sessions stayed down and
BIRD's in Init until the profile set ``minimum-ttl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stacks import ROOT

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.config import load_config
from cilium_bgp.stackfile import raw_config_from_stack_file

BFD_STACK = ROOT / "tests" / "stacks" / "variants" / "bird-bfd-1.16.yaml"


def _files(stack: Path = BFD_STACK, **router: Any) -> dict[str, str]:
    raw, secret = raw_config_from_stack_file(stack)
    raw["router"] = {**raw["router"], **router}
    return render_artifacts(load_config(raw, secret))


def _block(text: str, head: str) -> str:
    """The lines of the ``head ... {`` block (BIRD), up to its closing brace."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return "\n".join(lines[start : end + 1])


@pytest.mark.parametrize("neighbors", ["static", "peer-group"])
def test_frr_router_is_multihop_where_the_node_is(neighbors: str) -> None:
    files = _files(peeringAddress="192.168.121.16", neighbors=neighbors)
    frr = files["router/frr.conf"]
    for node in ("node1", "node2"):
        bird = files[f"nodes/{node}/bird.conf"]
        assert "  multihop 2;" in bird and "  bfd graceful;" in bird, f"{node} peers multihop with BFD"
        bfd = next(line for line in bird.splitlines() if line.startswith("protocol bfd"))
        assert "multihop {" in bfd, f"{node}: multihop BFD sessions get the configured timers: {bfd}"
    for address in ("10.0.1.10", "10.0.2.10"):
        assert f" neighbor {address} ebgp-multihop 2\n" in frr, f"FRR's end of {address} is single-hop:\n{frr}"
    profile = frr.split("bfd\n profile", 1)[1].split(" exit", 1)[0]
    assert "  minimum-ttl 63\n" in profile, f"bfdd would drop BIRD's multihop BFD (TTL 64):\n{profile}"


def test_bird_router_is_multihop_where_the_node_is() -> None:
    stack = ROOT / "tests" / "stacks" / "variants" / "bird-router-bfd-1.18.yaml"
    files = _files(stack, peeringAddress="192.168.121.16")
    router = files["router/bird.conf"]
    for node in ("node1", "node2"):
        session = _block(router, f"protocol bgp peer_{node}")
        assert "multihop 2;" in session, f"BIRD router's end of {node}"
        # A multihop session resolves next hops recursively (BIRD refuses `gateway direct` there:
        # "Multihop BGP cannot use direct gateway mode"), so it needs a table holding the node subnets.
        assert "igp table cilium_nexthops;" in session, f"{node}'s routes would have no usable next hop:\n{session}"
    assert "protocol direct connected { ipv4 { table cilium_nexthops; }; }" in router
    bfd = next(line for line in router.splitlines() if line.startswith("protocol bfd"))
    assert "multihop {" in bfd, f"multihop BFD sessions get the configured timers: {bfd}"


@pytest.mark.parametrize("stack", [BFD_STACK, ROOT / "tests" / "stacks" / "variants" / "bird-router-bfd-1.18.yaml"])
def test_direct_sessions_stay_single_hop(stack: Path) -> None:
    files = _files(stack)
    assert not [rel for rel, text in files.items() if "multihop" in text and rel.endswith(".conf")]
