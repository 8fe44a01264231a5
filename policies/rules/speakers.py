"""Speakers: each PodCIDR announced by exactly one speaker, and accepted by the router.

The router's prefix filter accepts the pod pool: whether a PodCIDR lies in it is the config
validation's pool check (``cilium_bgp.checks``), run on the router's spec.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from cilium_bgp.checks import PodCidrFinding, pod_cidr_findings

from .registered import NODE, ROUTER, bird_announcers, cidrs, in_cluster_speaker, node_cidrs, node_name, of_type


def one_speaker_per_pod_cidr(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    in_cluster = in_cluster_speaker(resources)
    bird = bird_announcers(resources)
    if in_cluster and bird:
        report(
            f"PodCIDRs of {', '.join(sorted(bird))} are announced twice: by BIRD on the node and by {in_cluster}. "
            "Run one speaker: method bird with Cilium's BGP off, or a Cilium method without BIRD."
        )


def pod_cidr_announced_and_accepted(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    routers = of_type(resources, ROUTER)
    in_cluster = in_cluster_speaker(resources)
    bird = bird_announcers(resources)
    for node in of_type(resources, NODE):
        name = node_name(node)
        if name not in bird and not in_cluster and node_cidrs(node):
            report(
                f"Node {name}: nothing announces its PodCIDR (no BIRD config on the node, no in-cluster speaker "
                "exporting PodCIDRs). Pick a method that announces it.",
                node.urn,
            )
        if not routers:
            continue
        router = routers[0]
        neighbors = {n.get("address"): n for n in router.props.get("neighbors") or []}
        address = str(node.props.get("address", "")).split("/")[0]
        neighbor = neighbors.get(address)
        if neighbor is None:
            report(f"Node {name}: the router has no neighbor {address}; its routes are never accepted.", node.urn)
            continue
        if neighbor.get("asn") != node.props.get("asn") or node.props.get("peerASN") != router.props.get("asn"):
            report(
                f"Node {name}: ASNs disagree (node {node.props.get('asn')} -> peer AS {node.props.get('peerASN')}; "
                f"router {router.props.get('asn')} expects AS {neighbor.get('asn')}). The session never comes up.",
                node.urn,
            )
        if router.props.get("prefixFilter"):
            pool = cidrs(router.props.get("clusterPoolIPv4PodCIDRList"))
            for finding in pod_cidr_findings([node_cidrs(node)], pool, None, None):
                if isinstance(finding, PodCidrFinding) and finding.kind == "outside-pool":
                    report(
                        f"Node {name}: the router's prefix filter drops PodCIDR {finding.cidr} (it accepts the pool "
                        f"{', '.join(map(str, pool))}). Fix the PodCIDR or the pool.",
                        node.urn,
                    )
