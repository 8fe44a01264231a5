"""The checks shared by the config validation and the policy pack, over plain data.

Each function takes what both callers can see: CIDRs, Helm values, a Cilium version. The config
validation (``validate.py``) feeds it the parsed stack config and names config keys; the policy
pack (``policies/``) feeds it what the program registered (component specs, the Helm release's
values) and writes a sentence. One rule, one implementation: only the wording differs.

This module imports nothing from the config model, so the policy pack can run it with nothing but
this distribution's version tables.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any, Generic, Literal, TypeVar

from cilium_bgp.versions import (
    KPR_BOOLEAN,
    KPR_WORDS,
    KUBE_PROXY_REPLACEMENT_WORDS,
    HelmKey,
    Version,
    helm_key_lifetime,
)

Owner = TypeVar("Owner")

# -- PodCIDRs -------------------------------------------------------------------------------------


class CidrIndex(Generic[Owner]):
    """CIDRs seen so far, answering "which of them overlap this one" without a scan of all.

    Two CIDRs overlap only when one contains the other: look up the new one's supernets by
    prefix, and its subnets as a range of sorted start addresses.
    """

    def __init__(self) -> None:
        self._owners: dict[IPv4Network, list[tuple[int, Owner]]] = {}
        self._starts: list[tuple[int, int, IPv4Network]] = []
        self._count = 0

    def add(self, cidr: IPv4Network, owner: Owner) -> None:
        if cidr not in self._owners:
            bisect.insort(self._starts, (int(cidr.network_address), cidr.prefixlen, cidr))
        self._owners.setdefault(cidr, []).append((self._count, owner))
        self._count += 1

    def overlapping(self, cidr: IPv4Network) -> list[tuple[IPv4Network, Owner]]:
        """The CIDRs added so far that overlap ``cidr``, in the order they were added."""
        found: list[tuple[int, IPv4Network, Owner]] = []
        for prefixlen in range(cidr.prefixlen + 1):
            supernet = cidr.supernet(new_prefix=prefixlen) if prefixlen < cidr.prefixlen else cidr
            found += [(order, supernet, owner) for order, owner in self._owners.get(supernet, [])]
        start, end = int(cidr.network_address), int(cidr.broadcast_address)
        lo = bisect.bisect_right(self._starts, (start, cidr.prefixlen, cidr))
        hi = bisect.bisect_right(self._starts, (end, 33, cidr))
        for _, _, subnet in self._starts[lo:hi]:
            found += [(order, subnet, owner) for order, owner in self._owners[subnet]]
        return [(net, owner) for _, net, owner in sorted(found, key=lambda item: item[0])]


@dataclass(frozen=True)
class PodCidrFinding:
    """What is wrong with ``cidr``, the ``index``-th PodCIDR of the ``node``-th node.

    ``outside-pool``: in no pool CIDR. ``pool-size``: in the pool, but not the size the pool hands
    out. ``outside-native``: outside ipv4NativeRoutingCIDR (Cilium would masquerade its traffic).
    """

    kind: Literal["outside-pool", "pool-size", "outside-native"]
    node: int
    index: int
    cidr: IPv4Network


@dataclass(frozen=True)
class PodCidrOverlap:
    """``cidr`` (PodCIDR ``index`` of node ``node``) overlaps ``other``, a PodCIDR of node ``owner``
    listed before it: the router would send one node's pod traffic to the other."""

    node: int
    index: int
    cidr: IPv4Network
    other: IPv4Network
    owner: int


def pod_cidr_findings(
    cidrs_per_node: Iterable[Sequence[IPv4Network]],
    pool: Sequence[IPv4Network],
    mask: int | None,
    native: IPv4Network | None,
) -> Iterator[PodCidrFinding | PodCidrOverlap]:
    """PodCIDRs sit in the pool with its mask, inside the native routing CIDR, and do not overlap.

    ``mask`` None skips the size check; ``native`` None skips the native routing check.
    """
    seen: CidrIndex[int] = CidrIndex()
    for i, cidrs in enumerate(cidrs_per_node):
        for j, cidr in enumerate(cidrs):
            if not any(cidr.subnet_of(p) for p in pool):
                yield PodCidrFinding("outside-pool", i, j, cidr)
            elif mask is not None and cidr.prefixlen != mask:
                yield PodCidrFinding("pool-size", i, j, cidr)
            if native is not None and not cidr.subnet_of(native):
                yield PodCidrFinding("outside-native", i, j, cidr)
            for other, owner in seen.overlapping(cidr):
                yield PodCidrOverlap(i, j, cidr, other, owner)
            seen.add(cidr, i)


# -- the LoadBalancer pool ------------------------------------------------------------------------

Taken = Literal["pod-pool", "native-routing", "subnet"]


@dataclass(frozen=True)
class LbClash:
    """LB CIDR ``index`` (``cidr``) overlaps ``other``: the ``which``-th of the ``what`` networks."""

    index: int
    cidr: IPv4Network
    what: Taken
    which: int
    other: IPv4Network


def lb_pool_clashes(
    lb_cidrs: Sequence[IPv4Network],
    pod_pool: Sequence[IPv4Network],
    native: IPv4Network | None,
    subnets: Sequence[IPv4Network],
) -> Iterator[LbClash]:
    """The LB pool overlaps no pod pool CIDR, the native routing CIDR, nor a node's subnet: an LB
    IP there is unroutable or hijacks real addresses."""
    taken: list[tuple[Taken, int, IPv4Network]] = [("pod-pool", i, p) for i, p in enumerate(pod_pool)]
    if native is not None:
        taken.append(("native-routing", 0, native))
    taken += [("subnet", i, s) for i, s in enumerate(subnets)]
    for i, cidr in enumerate(lb_cidrs):
        for what, which, other in taken:
            if cidr.overlaps(other):
                yield LbClash(i, cidr, what, which, other)


# -- routing --------------------------------------------------------------------------------------


def direct_routes_across_subnets(auto_direct_node_routes: bool, node_subnets: Iterable[Hashable]) -> list[str]:
    """The node subnets, sorted, when autoDirectNodeRoutes is on across more than one (else none):
    direct routes only work on one shared L2."""
    subnets = sorted({str(s) for s in node_subnets})
    return subnets if auto_direct_node_routes and len(subnets) > 1 else []


# -- what the Cilium release has ------------------------------------------------------------------


def leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Every key path of nested Helm values, parents before children (``a``, ``a.b``, ...)."""
    if isinstance(values, Mapping):
        for key, sub in values.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from leaf_paths(sub, path)


def missing_helm_keys(values: Mapping[str, Any], version: Version) -> Iterator[tuple[str, HelmKey]]:
    """Value paths that ``version`` lacks, with the table row saying so: the first path per row."""
    reported: set[str] = set()
    for path in leaf_paths(values):
        row = helm_key_lifetime(path)
        if row is None or row.lifetime.exists_in(version) or row.path in reported:
            continue
        reported.add(row.path)
        yield path, row


KprProblem = Literal["words-removed", "boolean-too-early"]


def kube_proxy_replacement_problem(value: Any, version: Version) -> KprProblem | None:
    """``kubeProxyReplacement`` in a form ``version`` refuses: the words (strict, ...) were removed
    in 1.16; true/false arrived in 1.14."""
    if isinstance(value, str) and value in KUBE_PROXY_REPLACEMENT_WORDS and not KPR_WORDS.exists_in(version):
        return "words-removed"
    if isinstance(value, bool) and not KPR_BOOLEAN.exists_in(version):
        return "boolean-too-early"
    return None
