"""Resolved, JSON-ready specs of the router and each node: what the components register as props.

Policies (CrossGuard) read these to see ASNs, CIDRs, the method and the Cilium version without
re-deriving them; they carry no secret values, only whether a secret is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Any

from cilium_bgp.config import NodeSettings, StackConfig
from cilium_bgp.renderers.common import effective_timers


def _timers(cfg: StackConfig) -> dict[str, int | None]:
    timers = effective_timers(cfg)
    return {
        "holdTimeSeconds": timers.hold,
        "keepAliveTimeSeconds": timers.keepalive,
        "connectRetryTimeSeconds": timers.connect_retry,
    }


def stack_spec(cfg: StackConfig) -> dict[str, Any]:
    return {
        "method": cfg.method,
        "ciliumVersion": cfg.cilium.version,
        "podCidrSource": cfg.pod_cidr_source,
        "clusterPoolIPv4PodCIDRList": [str(p) for p in cfg.cilium.cluster_pool_ipv4_pod_cidr_list],
        "clusterPoolIPv4MaskSize": cfg.cilium.cluster_pool_ipv4_mask_size,
        "ipv4NativeRoutingCIDR": str(cfg.cilium.native_routing_cidr) if cfg.cilium.native_routing_cidr else None,
        "loadBalancerCidrs": [str(c) for c in cfg.lb_cidrs],
        "usesPassword": cfg.uses_password,
        "timers": _timers(cfg),
    }


def router_spec(cfg: StackConfig) -> dict[str, Any]:
    router = cfg.router
    return {
        **stack_spec(cfg),
        "hostname": router.hostname,
        "asn": router.asn,
        "routerId": str(router.router_id),
        "daemon": router.daemon,
        "peeringAddress": str(router.peering_address) if router.peering_address else None,
        "subnets": [str(i.address.network) for i in router.interfaces],
        "prefixFilter": router.prefix_filter,
        "maximumPaths": cfg.maximum_paths if cfg.shared_asn else None,
        "neighbors": [
            {"node": n.name, "address": str(n.ip), "asn": cfg.node_asn(n), "subnet": str(n.address.network)}
            for n in cfg.nodes
        ],
    }


def node_spec(cfg: StackConfig, node: NodeSettings, pod_cidrs: Sequence[IPv4Network] | None) -> dict[str, Any]:
    return {
        **stack_spec(cfg),
        "name": node.name,
        "address": str(node.address),
        "subnet": str(node.address.network),
        "asn": cfg.node_asn(node),
        "routerId": str(node.effective_router_id),
        "peerAddress": str(cfg.router_address_for(node)),
        "peerASN": cfg.router.asn,
        # Who announces this node's PodCIDRs: BIRD on the host, or the method's in-cluster speaker.
        "speaker": "bird" if cfg.method == "bird" else cfg.method,
        "podCIDRs": [str(c) for c in pod_cidrs] if pod_cidrs is not None else None,
    }
