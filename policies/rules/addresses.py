"""Addresses: PodCIDRs in the pool, apart and routable natively; the LB pool apart; direct routes.

The checks are the config validation's (``cilium_bgp.checks``), run here on what was registered:
the Helm release's values where Cilium reads them, the node and router specs otherwise.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import NamedTuple

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from cilium_bgp.checks import (
    PodCidrFinding,
    PodCidrOverlap,
    direct_routes_across_subnets,
    lb_pool_clashes,
    pod_cidr_findings,
)

from .registered import (
    NODE,
    ROUTER,
    cidr,
    cidrs,
    lb_pools,
    native_routing_cidr,
    node_cidrs,
    node_name,
    of_type,
    pod_pool,
    release,
    values,
)


class _PodCidrs(NamedTuple):
    nodes: list[PolicyResource]
    pool: list[IPv4Network]
    mask: int | None
    source: str
    native: IPv4Network | None
    findings: list[PodCidrFinding | PodCidrOverlap]


def _pod_cidrs(args: StackValidationArgs) -> _PodCidrs:
    nodes = of_type(args.resources, NODE)
    found = values(release(args.resources))
    pool, mask, source = pod_pool(found, nodes)
    native = native_routing_cidr(found)
    findings = list(pod_cidr_findings([node_cidrs(n) for n in nodes], pool, mask, native))
    return _PodCidrs(nodes, pool, mask, source, native, findings)


def pod_cidrs_in_pool(args: StackValidationArgs, report: ReportViolation) -> None:
    seen = _pod_cidrs(args)
    if not seen.pool:
        return
    for finding in seen.findings:
        if not isinstance(finding, PodCidrFinding):
            continue
        node = seen.nodes[finding.node]
        if finding.kind == "outside-pool":
            report(
                f"Node {node_name(node)}: PodCIDR {finding.cidr} is outside the pod pool "
                f"{', '.join(map(str, seen.pool))} ({seen.source}). Give the node a /{seen.mask} from the pool, or "
                "add its range to cilium.clusterPoolIPv4PodCIDRList.",
                node.urn,
            )
        elif finding.kind == "pool-size":
            report(
                f"Node {node_name(node)}: PodCIDR {finding.cidr} is a /{finding.cidr.prefixlen}, the pool hands "
                f"out /{seen.mask}. Use the CIDR Cilium's operator assigned (`cilium node list`).",
                node.urn,
            )


def pod_cidrs_do_not_overlap(args: StackValidationArgs, report: ReportViolation) -> None:
    seen = _pod_cidrs(args)
    for finding in seen.findings:
        if isinstance(finding, PodCidrOverlap):
            node, owner = seen.nodes[finding.node], seen.nodes[finding.owner]
            report(
                f"Node {node_name(node)}: PodCIDR {finding.cidr} overlaps {finding.other} of node "
                f"{node_name(owner)}; the router would send one node's pod traffic to the other. Give each node "
                "its own PodCIDR.",
                node.urn,
            )


def pod_cidrs_in_native_routing_cidr(args: StackValidationArgs, report: ReportViolation) -> None:
    seen = _pod_cidrs(args)
    for finding in seen.findings:
        if isinstance(finding, PodCidrFinding) and finding.kind == "outside-native":
            node = seen.nodes[finding.node]
            report(
                f"Node {node_name(node)}: PodCIDR {finding.cidr} is outside ipv4NativeRoutingCIDR {seen.native}: "
                "Cilium would masquerade its traffic. Widen cilium.ipv4NativeRoutingCIDR to cover the pool.",
                node.urn,
            )


def lb_pool_apart(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = of_type(args.resources, NODE)
    found = values(release(args.resources))
    pod, _, _ = pod_pool(found, nodes)
    subnets = [(c, "a router subnet") for r in of_type(args.resources, ROUTER) for c in cidrs(r.props.get("subnets"))]
    subnets += [(c, f"node {node_name(n)}'s subnet") for n in nodes if (c := cidr(n.props.get("subnet")))]
    lb = lb_pools(list(args.resources), nodes)
    reported: set[tuple[str, str]] = set()
    for clash in lb_pool_clashes([c for c, _ in lb], pod, native_routing_cidr(found), [c for c, _ in subnets]):
        what = {"pod-pool": "the pod pool", "native-routing": "ipv4NativeRoutingCIDR"}.get(clash.what)
        if (str(clash.cidr), str(clash.other)) not in reported:
            reported.add((str(clash.cidr), str(clash.other)))
            report(
                f"LoadBalancer pool {clash.cidr} overlaps {what or subnets[clash.which][1]} {clash.other}: an LB IP "
                "there is unroutable or hijacks real addresses. Move loadBalancer.cidrs to a range of its own.",
                lb[clash.index][1],
            )


def direct_routes_single_l2(args: StackValidationArgs, report: ReportViolation) -> None:
    cilium = release(args.resources)
    auto = values(cilium).get("autoDirectNodeRoutes") is True
    subnets = direct_routes_across_subnets(auto, (n.props.get("subnet") for n in of_type(args.resources, NODE)))
    if cilium is not None and subnets:
        report(
            f"autoDirectNodeRoutes is true but nodes sit on {len(subnets)} subnets ({', '.join(subnets)}): "
            "direct routes only work on one shared L2. Set it false (cilium.autoDirectNodeRoutes and "
            "cilium.values) and let BGP carry the PodCIDRs.",
            cilium.urn,
        )
