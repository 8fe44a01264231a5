"""Reading what the program registered: resources by type, the Cilium release, the node specs.

The components register resolved specs (``cilium-bgp:index:Router`` and
``cilium-bgp:index:KubernetesNode``: ASNs, CIDRs, method, Cilium version); the Cilium Helm release
carries the chart version and values; Cilium's custom resources and the ``bgp-config`` ConfigMap
carry the LB pools and what the in-cluster speaker exports. Each reader tolerates what a hand-edited
or older program might register (missing keys, text where a CIDR belongs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, ip_network
from typing import Any

import yaml
from pulumi_policy import PolicyResource, ResourceValidationArgs

from cilium_bgp.versions import Version

ROUTER = "cilium-bgp:index:Router"
NODE = "cilium-bgp:index:KubernetesNode"
RELEASE = "kubernetes:helm.sh/v3:Release"
COMMAND = "command:remote:Command"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


def cidr(text: Any) -> IPv4Network | None:
    try:
        network = ip_network(str(text), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, IPv4Network) else None


def cidrs(texts: Any) -> list[IPv4Network]:
    return [c for c in (cidr(t) for t in texts or []) if c is not None]


def get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def cilium_kind(resource: PolicyResource | ResourceValidationArgs, kind: str) -> bool:
    return resource.resource_type.startswith("kubernetes:cilium.io/") and resource.resource_type.endswith(f":{kind}")


def of_kind(resources: Iterable[PolicyResource], kind: str) -> list[PolicyResource]:
    return [r for r in resources if cilium_kind(r, kind)]


def is_cilium_release(props: Mapping[str, Any]) -> bool:
    return str(props.get("chart", "")).split("/")[-1] == "cilium"


def release_version(props: Mapping[str, Any]) -> Version | None:
    try:
        return Version.parse(str(props.get("version", "")))
    except ValueError:
        return None


def release(resources: Iterable[PolicyResource]) -> PolicyResource | None:
    return next((r for r in of_type(resources, RELEASE) if is_cilium_release(r.props)), None)


def values(release: PolicyResource | None) -> Mapping[str, Any]:
    found = release.props.get("values") if release is not None else None
    return found if isinstance(found, Mapping) else {}


def node_name(node: PolicyResource) -> str:
    return str(node.props.get("name"))


def node_cidrs(node: PolicyResource) -> list[IPv4Network]:
    return cidrs(node.props.get("podCIDRs"))


def pod_pool(values: Mapping[str, Any], nodes: list[PolicyResource]) -> tuple[list[IPv4Network], int | None, str]:
    """The pool and mask Cilium's operator uses (Helm values win; else the program's spec), and
    where they were read."""
    operator = get(values, "ipam", "operator") or {}
    pool = cidrs(operator.get("clusterPoolIPv4PodCIDRList")) or cidrs([operator.get("clusterPoolIPv4PodCIDR")])
    mask = operator.get("clusterPoolIPv4MaskSize")
    if pool:
        return pool, int(mask) if mask is not None else 24, "the Cilium release's ipam.operator"
    if nodes:
        spec = nodes[0].props
        mask = spec.get("clusterPoolIPv4MaskSize")
        pool = cidrs(spec.get("clusterPoolIPv4PodCIDRList"))
        return pool, int(mask) if mask is not None else None, "the stack's cilium.clusterPoolIPv4PodCIDRList"
    return [], None, ""


def native_routing(values: Mapping[str, Any]) -> bool:
    if "routingMode" in values:
        return values.get("routingMode") == "native"
    return values.get("tunnel") == "disabled"


def native_routing_cidr(values: Mapping[str, Any]) -> IPv4Network | None:
    return cidr(values.get("ipv4NativeRoutingCIDR")) if values.get("ipv4NativeRoutingCIDR") else None


def lb_pools(resources: list[PolicyResource], nodes: list[PolicyResource]) -> list[tuple[IPv4Network, str]]:
    """Each LB CIDR with the URN of what declares it: Cilium's LB IPAM pools, the MetalLB speaker's
    address pools, else the program's spec."""
    pools: list[tuple[IPv4Network, str]] = []
    for pool in of_kind(resources, "CiliumLoadBalancerIPPool"):
        spec = pool.props.get("spec") or {}
        blocks = (spec.get("blocks") or []) + (spec.get("cidrs") or [])
        pools += [(c, pool.urn) for c in cidrs(block.get("cidr") for block in blocks)]
    for config_map in of_type(resources, CONFIGMAP):
        if get(config_map.props, "metadata", "name") != "bgp-config":
            continue
        parsed = yaml.safe_load(str(get(config_map.props, "data", "config.yaml") or "")) or {}
        for pool in parsed.get("address-pools") or []:
            pools += [(c, config_map.urn) for c in cidrs(pool.get("addresses"))]
    if not pools and nodes:
        pools = [(c, nodes[0].urn) for c in cidrs(nodes[0].props.get("loadBalancerCidrs"))]
    return pools


def in_cluster_speaker(resources: list[PolicyResource]) -> str | None:
    """Which in-cluster speaker announces PodCIDRs, if any."""
    found = values(release(resources))
    if get(found, "bgp", "enabled") is True and get(found, "bgp", "announce", "podCIDR") is True:
        return "Cilium's MetalLB-based speaker (bgp.announce.podCIDR)"
    if get(found, "bgpControlPlane", "enabled") is True:
        for policy in of_kind(resources, "CiliumBGPPeeringPolicy"):
            if any(vr.get("exportPodCIDR") for vr in get(policy.props, "spec", "virtualRouters") or []):
                return "Cilium's BGP Control Plane (exportPodCIDR)"
        for adv in of_kind(resources, "CiliumBGPAdvertisement"):
            if any(a.get("advertisementType") == "PodCIDR" for a in get(adv.props, "spec", "advertisements") or []):
                return "Cilium's BGP Control Plane (PodCIDR advertisement)"
    if any(get(d.props, "metadata", "name") == "kube-router" for d in of_type(resources, DAEMONSET)):
        return "kube-router"
    return None


def bird_announcers(resources: list[PolicyResource]) -> set[str]:
    """Nodes whose BIRD announces their PodCIDR: a bird config command under the node component."""
    return {
        node_name(command.parent)
        for command in of_type(resources, COMMAND)
        if command.name.endswith("-bird-config") and command.parent is not None and command.parent.resource_type == NODE
    }
