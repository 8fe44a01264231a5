"""What the lab plays of the cluster: cilium-operator's PodCIDRs, LB IPAM and label selectors.

Pure functions over the stack config and the rendered Kubernetes objects, so the choices the lab
makes in place of a cluster are visible and testable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from cilium_bgp.config import NodeSettings, StackConfig
from cilium_bgp.errors import ConfigError
from cilium_bgp.renderers.expectations import static_pod_cidrs
from cilium_bgp.validate import check_cluster_pod_cidrs
from cilium_bgp.versions import Version
from lab.shell import LabError

HOSTNAME_LABEL = "kubernetes.io/hostname"
# LB IPAM reads the requested address from these, newest first (see cilium_bgp.versions).
LB_IP_ANNOTATIONS = ("lbipam.cilium.io/ips", "io.cilium/lb-ipam-ips")


def carve_pod_cidrs(cfg: StackConfig) -> dict[str, list[IPv4Network]]:
    """cluster-pool IPAM as the lab plays it: node i gets the i-th /mask of the pools, in node order."""
    mask = cfg.cilium.cluster_pool_ipv4_mask_size

    def subnets() -> Iterator[IPv4Network]:
        for pool in cfg.cilium.cluster_pool_ipv4_pod_cidr_list:
            yield from pool.subnets(new_prefix=mask)

    available = subnets()
    carved: dict[str, list[IPv4Network]] = {}
    for node in cfg.nodes:
        cidr = next(available, None)
        if cidr is None:
            pools = ", ".join(str(p) for p in cfg.cilium.cluster_pool_ipv4_pod_cidr_list)
            raise LabError(f"the pod pool {pools} has fewer /{mask} blocks than the stack has nodes ({len(cfg.nodes)})")
        carved[node.name] = [cidr]
    return carved


def pod_cidrs_of(cfg: StackConfig) -> dict[str, list[IPv4Network]]:
    """Each node's PodCIDRs: from the stack file (``static``) or carved as the operator would (``cluster``)."""
    if cfg.pod_cidr_source == "static":
        return static_pod_cidrs(cfg)
    carved = carve_pod_cidrs(cfg)
    try:
        check_cluster_pod_cidrs(cfg, carved)
    except ConfigError as error:
        raise LabError(f"the PodCIDRs the lab carved are unusable: {error}") from None
    return carved


def node_labels(node: NodeSettings) -> dict[str, str]:
    """The labels a kubelet puts on a node that the program's selectors use."""
    return {HOSTNAME_LABEL: node.name, "kubernetes.io/os": "linux"}


def _requirement_matches(requirement: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = requirement["key"], requirement["operator"]
    values = list(requirement.get("values") or [])
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise LabError(f"label selector operator {operator!r} is not one of In, NotIn, Exists, DoesNotExist")


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics: every matchLabels pair and every expression must hold.

    An empty selector matches everything; callers decide what an absent (``None``) one means,
    since Cilium's kinds differ there.
    """
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    return all(_requirement_matches(r, labels) for r in selector.get("matchExpressions") or [])


def metallb_selector_matches(selectors: Sequence[Mapping[str, Any]] | None, labels: Mapping[str, str]) -> bool:
    """MetalLB ``node-selectors``: a list ORed together, each with dashed keys; none means every node."""
    if not selectors:
        return True
    return any(
        selector_matches(
            {"matchLabels": s.get("match-labels") or {}, "matchExpressions": s.get("match-expressions") or []},
            labels,
        )
        for s in selectors
    )


def load_balancer_services(objects: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("kind") == "Service" and o.get("spec", {}).get("type") == "LoadBalancer"]


def requested_ip(service: Mapping[str, Any]) -> IPv4Address | None:
    annotations = service.get("metadata", {}).get("annotations") or {}
    for key in LB_IP_ANNOTATIONS:
        if key in annotations:
            return IPv4Address(str(annotations[key]).split(",")[0].strip())
    legacy = service.get("spec", {}).get("loadBalancerIP")
    return IPv4Address(legacy) if legacy else None


def _usable(cidr: IPv4Network, allow_first_last: bool) -> Iterator[IPv4Address]:
    if allow_first_last or cidr.prefixlen >= 31:
        yield from cidr
    else:
        yield from cidr.hosts()


def first_last_allocatable(version: Version) -> bool:
    """Whether LB IPAM hands out a CIDR's first and last address when a pool does not say.

    The CRD text: 1.16+ "`Yes` or undefined means ... allocatable"; 1.15 "`no` or undefined, these
    IPs will be reserved". Before 1.15 there is no field; the lab assumes the 1.15 default (reserved).
    """
    return version >= Version(1, 16)


def lb_ip_ranges(
    objects: Sequence[Mapping[str, Any]], metallb_pools: Sequence[Mapping[str, Any]], version: Version
) -> list[list[IPv4Address]]:
    """The addresses LB IPAM may hand out, per pool: CiliumLoadBalancerIPPool or MetalLB BGP address-pools."""
    ranges: list[list[IPv4Address]] = []
    for obj in objects:
        if obj.get("kind") != "CiliumLoadBalancerIPPool":
            continue
        spec = obj.get("spec", {})
        default = "Yes" if first_last_allocatable(version) else "No"
        allow = spec.get("allowFirstLastIPs", default) == "Yes"
        addresses: list[IPv4Address] = []
        for block in [*(spec.get("blocks") or []), *(spec.get("cidrs") or [])]:
            if "cidr" in block:
                addresses += _usable(IPv4Network(block["cidr"]), allow)
            else:
                start, stop = IPv4Address(block["start"]), IPv4Address(block["stop"])
                addresses += [IPv4Address(i) for i in range(int(start), int(stop) + 1)]
        ranges.append(addresses)
    for pool in metallb_pools:
        if pool.get("protocol") != "bgp":
            continue
        addresses = []
        for item in pool.get("addresses") or []:
            if "-" in str(item):
                first, last = (IPv4Address(p.strip()) for p in str(item).split("-", 1))
                addresses += [IPv4Address(i) for i in range(int(first), int(last) + 1)]
            else:
                # MetalLB hands out every address unless avoid-buggy-ips is set.
                addresses += _usable(IPv4Network(item), not pool.get("avoid-buggy-ips", False))
        ranges.append(addresses)
    return ranges


def allocate_lb_ips(
    objects: Sequence[Mapping[str, Any]], version: Version, metallb_pools: Sequence[Mapping[str, Any]] = ()
) -> dict[str, IPv4Address]:
    """LB IPAM as the lab plays it: Service name -> its address (the requested one, or the next free).

    A Service whose requested address lies in no pool gets none, as in a cluster (it stays pending):
    that is an error here, since the program's expectations count on it.
    """
    ranges = lb_ip_ranges(objects, metallb_pools, version)
    taken: set[IPv4Address] = set()
    result: dict[str, IPv4Address] = {}
    services = load_balancer_services(objects)
    for service in services:
        name = service["metadata"]["name"]
        want = requested_ip(service)
        if want is None:
            continue
        if not any(want in r for r in ranges):
            raise LabError(
                f"Service {name} asks for {want}, which no LB IP pool of the stack hands out "
                "(outside every pool, or a reserved first/last address of a CIDR)"
            )
        if want in taken:
            raise LabError(f"Service {name} asks for {want}, already given to another Service")
        taken.add(want)
        result[name] = want
    for service in services:
        name = service["metadata"]["name"]
        if name in result:
            continue
        free = next((ip for r in ranges for ip in r if ip not in taken), None)
        if free is None:
            raise LabError(f"no free address left in the LB IP pools for Service {name}")
        taken.add(free)
        result[name] = free
    return result
