"""Resolved, JSON-ready specs of each router and each node: what the components register as props.

Policies (CrossGuard) read these to see ASNs, CIDRs, the method and the Cilium version without
re-deriving them; they carry no secret values, only whether a secret is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Any

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import NodePlan, RouterPlan, SessionPlan


def stack_spec(cfg: StackConfig, plan: SessionPlan) -> dict[str, Any]:
    return {
        "method": cfg.method,
        "ciliumVersion": cfg.cilium.version,
        "podCidrSource": cfg.pod_cidr_source,
        "clusterPoolIPv4PodCIDRList": [str(p) for p in cfg.cilium.cluster_pool_ipv4_pod_cidr_list],
        "clusterPoolIPv4MaskSize": cfg.cilium.cluster_pool_ipv4_mask_size,
        "ipv4NativeRoutingCIDR": str(cfg.cilium.native_routing_cidr) if cfg.cilium.native_routing_cidr else None,
        "loadBalancerCidrs": [str(c) for c in cfg.lb_cidrs],
        "usesPassword": plan.password,
        "timers": {
            "holdTimeSeconds": plan.timers.hold,
            "keepAliveTimeSeconds": plan.timers.keepalive,
            "connectRetryTimeSeconds": plan.timers.connect_retry,
        },
    }


def router_spec(cfg: StackConfig, plan: SessionPlan, router: RouterPlan) -> dict[str, Any]:
    return {
        **stack_spec(cfg, plan),
        "name": router.name,
        "hostname": router.hostname,
        "asn": router.asn,
        "routerId": str(router.router_id),
        "daemon": router.daemon,
        "peeringAddress": str(router.peering_address) if router.peering_address else None,
        "subnets": [str(i.network) for i in router.interfaces],
        "prefixFilter": router.prefix_filter,
        "maximumPaths": router.maximum_paths if plan.shared_asn else None,
        "neighbors": [
            {"node": s.node, "address": str(s.node_address), "asn": s.node_asn, "subnet": str(s.node_subnet)}
            for s in router.sessions
        ],
        # Sessions to the other routers (routerMesh).
        "mesh": [
            {
                "router": m.peer,
                "address": str(m.peer_address),
                "asn": m.peer_asn,
                "internal": m.internal,
                "reflectorClient": m.reflector_client,
            }
            for m in router.mesh
        ],
        "upstreams": [{"name": u.name, "address": str(u.address), "asn": u.asn} for u in router.upstreams],
    }


def node_spec(
    cfg: StackConfig, plan: SessionPlan, node: NodePlan, pod_cidrs: Sequence[IPv4Network] | None
) -> dict[str, Any]:
    # peerAddress/peerASN: the first of the node's routers (all of them: peers).
    first = node.sessions[0]
    return {
        **stack_spec(cfg, plan),
        "name": node.name,
        "address": str(node.address),
        "subnet": str(node.address.network),
        "asn": node.asn,
        "routerId": str(node.router_id),
        "peerAddress": str(first.router_address),
        "peerASN": first.router_asn,
        "peers": [{"router": s.router, "address": str(s.router_address), "asn": s.router_asn} for s in node.sessions],
        # Who announces this node's PodCIDRs: BIRD on the host, or the method's in-cluster speaker.
        "speaker": "bird" if cfg.method == "bird" else cfg.method,
        "podCIDRs": [str(c) for c in pod_cidrs] if pod_cidrs is not None else None,
    }
