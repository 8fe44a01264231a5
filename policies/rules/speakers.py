"""Speakers: each PodCIDR announced by exactly one speaker, and accepted by the router.

The router's prefix filter accepts the pod pool: whether a PodCIDR lies in it is the config
validation's pool check (``cilium_bgp.checks``), run on the router's spec.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from cilium_bgp.checks import PodCidrFinding, pod_cidr_findings

from .registered import NODE, ROUTER, bird_announcers, cidrs, in_cluster_speaker, node_cidrs, node_name, of_type


def one_speaker_per_pod_cidr(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    in_cluster = in_cluster_speaker(resources)
    bird = bird_announcers(resources)
    if in_cluster and bird:
        report(
            f"PodCIDRs of {', '.join(sorted(bird))} are announced twice: by BIRD on the node and by {in_cluster}. "
            "Run one speaker: method bird with Cilium's BGP off, or a Cilium method without BIRD.",
            None,
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
        # Each router the node peers with (its spec's peers; several with `routers`).
        by_name = {r.props.get("name"): r for r in routers}
        peers = node.props.get("peers") or [{"router": routers[0].props.get("name"), "asn": node.props.get("peerASN")}]
        for peer in peers:
            router = by_name.get(peer.get("router"), routers[0])
            which = "the router" if len(routers) == 1 else f"router {peer.get('router')}"
            _accepted_by(node, name, router, peer.get("asn"), report, which)


def _accepted_by(
    node: PolicyResource, name: str, router: PolicyResource, peer_asn: Any, report: ReportViolation, which: str
) -> None:
    """One router's side of a node's session: the node is its neighbor, with matching ASNs and a
    prefix filter that lets its PodCIDRs through."""
    neighbors = {n.get("address"): n for n in router.props.get("neighbors") or []}
    address = str(node.props.get("address", "")).split("/")[0]
    neighbor = neighbors.get(address)
    if neighbor is None:
        report(f"Node {name}: {which} has no neighbor {address}; its routes are never accepted.", node.urn)
        return
    if neighbor.get("asn") != node.props.get("asn") or peer_asn != router.props.get("asn"):
        report(
            f"Node {name}: ASNs disagree (node {node.props.get('asn')} -> peer AS {peer_asn}; "
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
