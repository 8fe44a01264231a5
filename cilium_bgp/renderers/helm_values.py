"""Cilium Helm values for native routing and the chosen BGP method, per Cilium release.

Keys follow the seed's order. Every key that some release lacks is gated on
``cilium_bgp.versions.HELM_KEYS``, the same table that rejects such keys in user overrides.
"""

from __future__ import annotations

import copy
from typing import Any

from cilium_bgp.config import StackConfig
from cilium_bgp.versions import KPR_BOOLEAN, Version, has_helm_key


def _kube_proxy_replacement(enabled: bool, version: Version) -> bool | str:
    if KPR_BOOLEAN.exists_in(version):
        return enabled
    return "strict" if enabled else "disabled"


def _ipam(cfg: StackConfig) -> dict[str, Any]:
    if cfg.method == "kube-router":
        # kube-router announces node.spec.podCIDR, so Kubernetes (not Cilium's operator) allocates it.
        return {"mode": "kubernetes"}
    pools = [str(p) for p in cfg.cilium.cluster_pool_ipv4_pod_cidr_list]
    mask = cfg.cilium.cluster_pool_ipv4_mask_size
    if has_helm_key(cfg.version, "ipam.operator.clusterPoolIPv4PodCIDR") and len(pools) == 1:
        # Before 1.14 the single-CIDR key was the chart's main one; the seed sets it and empties the list.
        operator: dict[str, Any] = {
            "clusterPoolIPv4PodCIDR": pools[0],
            "clusterPoolIPv4PodCIDRList": [],
            "clusterPoolIPv4MaskSize": mask,
        }
    else:
        operator = {"clusterPoolIPv4PodCIDRList": pools, "clusterPoolIPv4MaskSize": mask}
    return {"operator": operator}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's own merge: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def render_helm_values(cfg: StackConfig) -> dict[str, Any]:
    cilium = cfg.cilium
    version = cfg.version
    values: dict[str, Any] = {}
    if cilium.k8s_service_host is not None:
        values["k8sServiceHost"] = cilium.k8s_service_host
    if cilium.k8s_service_port is not None:
        values["k8sServicePort"] = cilium.k8s_service_port
    values["kubeProxyReplacement"] = _kube_proxy_replacement(cilium.kube_proxy_replacement, version)
    if cilium.devices is not None:
        values["devices"] = cilium.devices
    values["ipam"] = _ipam(cfg)
    values["loadBalancer"] = {"mode": cilium.load_balancer_mode}
    if has_helm_key(version, "routingMode"):
        values["routingMode"] = "native"
    else:
        values["tunnel"] = "disabled"
    values["autoDirectNodeRoutes"] = cilium.auto_direct_node_routes
    values["bpf"] = {"masquerade": cilium.bpf_masquerade}
    native = cilium.native_routing_cidr
    assert native is not None, "validated: native routing needs ipv4NativeRoutingCIDR"
    values["ipv4NativeRoutingCIDR"] = str(native)
    values["socketLB"] = {"enabled": True}
    if has_helm_key(version, "nodePort.enabled"):
        values["nodePort"] = {"enabled": True}
    if has_helm_key(version, "externalIPs"):
        values["externalIPs"] = {"enabled": True}
    if has_helm_key(version, "hostPort"):
        values["hostPort"] = {"enabled": True}
    if cfg.method == "cilium-metallb":
        values["bgp"] = {"enabled": True, "announce": {"loadbalancerIP": True, "podCIDR": True}}
    if cfg.method in ("cilium-bgp-v1", "cilium-bgp-v2"):
        values["bgpControlPlane"] = {"enabled": True}
    return deep_merge(values, cilium.values)
