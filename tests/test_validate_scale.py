"""The overlap index used by the PodCIDR checks agrees with a plain pairwise scan."""

from __future__ import annotations

import random
from ipaddress import IPv4Network

from cilium_bgp.checks import CidrIndex


def test_overlap_index_matches_pairwise_scan() -> None:
    rng = random.Random(7)
    cidrs = [IPv4Network((rng.randrange(0, 2**32), rng.randint(12, 30)), strict=False) for _ in range(400)]
    # Crowd them into 10.0.0.0/8 so that many overlap.
    cidrs = [IPv4Network((int(c.network_address) & 0x00FFFFFF | 0x0A000000, c.prefixlen), strict=False) for c in cidrs]
    index: CidrIndex[str] = CidrIndex()
    for i, cidr in enumerate(cidrs):
        expected = [(other, f"#{j}") for j, other in enumerate(cidrs[:i]) if cidr.overlaps(other)]
        assert index.overlapping(cidr) == expected, f"#{i} {cidr}"
        index.add(cidr, f"#{i}")
    assert any(index.overlapping(c) for c in cidrs), "the sample does contain overlaps"
