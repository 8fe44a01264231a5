"""Cilium's BGP Control Plane: v1 (CiliumBGPPeeringPolicy) and v2 (CiliumBGPClusterConfig,
PeerConfig, Advertisement, NodeConfigOverride) as the agent reads them for one node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from cilium_bgp.config import NodeSettings
from lab.cluster import node_labels, selector_matches
from lab.shell import LabError
from lab.standin.spec import (
    BGP_PORT,
    CILIUM_CONNECT_RETRY_TIME,
    CILIUM_EBGP_MULTIHOP_TTL,
    CILIUM_HOLD_TIME,
    CILIUM_KEEPALIVE_TIME,
    NO_LISTEN,
    ClusterInputs,
    Neighbor,
    SpeakerSpec,
    name_of,
    objects_of,
    secret_password,
    service_lb_ips,
)


def _selected(
    objects: Sequence[Mapping[str, Any]], kind: str, node: NodeSettings, what: str
) -> Mapping[str, Any] | None:
    """The one object of ``kind`` whose nodeSelector picks ``node`` (absent selector: every node)."""
    chosen = [
        o
        for o in objects_of(objects, kind)
        if o.get("spec", {}).get("nodeSelector") is None
        or selector_matches(o["spec"]["nodeSelector"], node_labels(node))
    ]
    if len(chosen) > 1:
        names = ", ".join(name_of(o) for o in chosen)
        raise LabError(f"node {node.name} is selected by several {kind}s ({names}); Cilium refuses that {what}")
    return chosen[0] if chosen else None


def _the_one(
    objects: Sequence[Mapping[str, Any]], kind: str, node: NodeSettings, what: str, key: str
) -> tuple[str, Mapping[str, Any]]:
    """The ``kind`` that picks ``node`` and its one entry under ``spec.<key>`` (v1's virtual router,
    v2's BGP instance), with the name errors give it; the lab models exactly one."""
    chosen = _selected(objects, kind, node, what)
    if chosen is None:
        raise LabError(f"no {kind} selects node {node.name}")
    referrer = f"{kind} {name_of(chosen)}"
    entries = chosen["spec"].get(key) or []
    if len(entries) != 1:
        raise LabError(f"{referrer}: {len(entries)} {key}; the lab models exactly one")
    return referrer, entries[0]


def _timed_neighbor(
    address: IPv4Address,
    peer_asn: int,
    port: int,
    timers: Mapping[str, Any],
    multihop_ttl: int,
    local_address: IPv4Address | None,
    password: str | None,
) -> Neighbor:
    """A neighbor with Cilium's timer names (``holdTimeSeconds``...) and their CRD defaults."""
    return Neighbor(
        address=address,
        peer_asn=peer_asn,
        port=port,
        hold_time=int(timers.get("holdTimeSeconds", CILIUM_HOLD_TIME)),
        keepalive_time=int(timers.get("keepAliveTimeSeconds", CILIUM_KEEPALIVE_TIME)),
        connect_retry_time=int(timers.get("connectRetryTimeSeconds", CILIUM_CONNECT_RETRY_TIME)),
        multihop_ttl=multihop_ttl,
        local_address=local_address,
        password=password,
    )


def v1_speakers(inputs: ClusterInputs) -> dict[str, SpeakerSpec]:
    cfg, objects, pod_cidrs, lb_ips = inputs.cfg, inputs.objects, inputs.pod_cidrs, inputs.lb_ips
    speakers: dict[str, SpeakerSpec] = {}
    for node in cfg.nodes:
        referrer, router = _the_one(objects, "CiliumBGPPeeringPolicy", node, "policy", "virtualRouters")
        neighbors = [
            _timed_neighbor(
                IPv4Interface(n["peerAddress"]).ip,
                int(n["peerASN"]),
                int(n.get("peerPort", BGP_PORT)),
                n,
                int(n.get("eBGPMultihopTTL", CILIUM_EBGP_MULTIHOP_TTL)),
                None,
                secret_password(objects, n["authSecretRef"], referrer) if "authSecretRef" in n else None,
            )
            for n in router.get("neighbors") or []
        ]
        advertised = router.get("serviceAdvertisements", ["LoadBalancerIP"])
        services = router.get("serviceSelector") if "LoadBalancerIP" in advertised else None
        speakers[node.name] = SpeakerSpec(
            node=node.name,
            asn=int(router["localASN"]),
            router_id=node.effective_router_id,
            neighbors=tuple(neighbors),
            pod_cidrs=tuple(pod_cidrs.get(node.name, [])) if router.get("exportPodCIDR", False) else (),
            lb_ips=tuple(service_lb_ips(objects, lb_ips, services)),
            source=referrer,
        )
    return speakers


def _v2_advertised(
    objects: Sequence[Mapping[str, Any]],
    peer_config: Mapping[str, Any] | None,
    node_pod_cidrs: Sequence[IPv4Network],
    lb_ips: Mapping[str, IPv4Address],
) -> tuple[tuple[IPv4Network, ...], tuple[IPv4Address, ...]]:
    """What a v2 peer is sent: the Advertisements its PeerConfig's ipv4/unicast family selects."""
    cidrs: list[IPv4Network] = []
    ips: list[IPv4Address] = []
    families = (peer_config or {}).get("spec", {}).get("families") or []
    for family in families:
        if (family.get("afi"), family.get("safi")) != ("ipv4", "unicast") or "advertisements" not in family:
            continue
        for adv_obj in objects_of(objects, "CiliumBGPAdvertisement"):
            labels = adv_obj.get("metadata", {}).get("labels") or {}
            if not selector_matches(family["advertisements"], labels):
                continue
            for adv in adv_obj.get("spec", {}).get("advertisements") or []:
                kind = adv.get("advertisementType")
                if kind == "PodCIDR":
                    cidrs += [c for c in node_pod_cidrs if c not in cidrs]
                elif kind == "Service" and "LoadBalancerIP" in (adv.get("service") or {}).get("addresses", []):
                    ips += [ip for ip in service_lb_ips(objects, lb_ips, adv.get("selector")) if ip not in ips]
    return tuple(cidrs), tuple(ips)


def _override(objects: Sequence[Mapping[str, Any]], node: str, instance: str) -> Mapping[str, Any]:
    """The CiliumBGPNodeConfigOverride's entry for ``node``'s BGP instance (none: empty)."""
    for obj in objects_of(objects, "CiliumBGPNodeConfigOverride"):
        if name_of(obj) == node:
            for entry in obj.get("spec", {}).get("bgpInstances") or []:
                if entry.get("name") == instance:
                    return entry
    return {}


def v2_speakers(inputs: ClusterInputs) -> dict[str, SpeakerSpec]:
    cfg, objects, pod_cidrs, lb_ips = inputs.cfg, inputs.objects, inputs.pod_cidrs, inputs.lb_ips
    peer_configs = {name_of(o): o for o in objects_of(objects, "CiliumBGPPeerConfig")}
    speakers: dict[str, SpeakerSpec] = {}
    for node in cfg.nodes:
        referrer, instance = _the_one(objects, "CiliumBGPClusterConfig", node, "config", "bgpInstances")
        override = _override(objects, node.name, instance["name"])
        local_addresses = {p["name"]: p["localAddress"] for p in override.get("peers") or [] if "localAddress" in p}
        neighbors = []
        routes: set[tuple[tuple[IPv4Network, ...], tuple[IPv4Address, ...]]] = set()
        for peer in instance.get("peers") or []:
            ref = (peer.get("peerConfigRef") or {}).get("name")
            if ref is not None and ref not in peer_configs:
                raise LabError(
                    f"{referrer} peer {peer['name']}: peerConfigRef {ref} names no rendered CiliumBGPPeerConfig"
                )
            peer_config = peer_configs.get(ref) if ref else None
            spec = (peer_config or {}).get("spec", {})
            local = local_addresses.get(peer["name"])
            neighbors.append(
                _timed_neighbor(
                    IPv4Address(peer["peerAddress"]),
                    int(peer["peerASN"]),
                    int((spec.get("transport") or {}).get("peerPort", BGP_PORT)),
                    spec.get("timers") or {},
                    int(spec.get("ebgpMultihop", CILIUM_EBGP_MULTIHOP_TTL)),
                    IPv4Address(local) if local else None,
                    secret_password(objects, spec["authSecretRef"], f"CiliumBGPPeerConfig {ref}")
                    if "authSecretRef" in spec
                    else None,
                )
            )
            routes.add(_v2_advertised(objects, peer_config, pod_cidrs.get(node.name, []), lb_ips))
        if len(routes) > 1:
            raise LabError(f"{referrer}: peers of node {node.name} get different advertisements (not modelled)")
        cidrs, ips = routes.pop() if routes else ((), ())
        speakers[node.name] = SpeakerSpec(
            node=node.name,
            asn=int(override.get("localASN", instance["localASN"])),
            router_id=IPv4Address(override["routerID"]) if "routerID" in override else node.ip,
            neighbors=tuple(neighbors),
            pod_cidrs=cidrs,
            lb_ips=ips,
            source=referrer,
            listen_port=int(override.get("localPort", instance.get("localPort", NO_LISTEN))),
        )
    return speakers
