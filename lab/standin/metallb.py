"""cilium-metallb: the ``bgp-config`` ConfigMap (MetalLB's legacy ``config.yaml``) as the agent's
embedded MetalLB speaker reads it, per node: peers picked by ``node-selectors``, unknown keys refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Any

import yaml

from lab.cluster import metallb_selector_matches, node_labels
from lab.shell import LabError
from lab.standin.spec import BGP_PORT, ClusterInputs, Neighbor, SpeakerSpec, name_of, objects_of

# MetalLB's legacy config: hold-time defaults to 90 s, keepalives every third of it.
METALLB_HOLD_TIME = 90
# MetalLB dials a plain TCP socket: its packets carry the kernel's default TTL, not 1.
PLAIN_TCP_TTL = 64
METALLB_PEER_KEYS = {
    "my-asn",
    "peer-asn",
    "peer-address",
    "peer-port",
    "hold-time",
    "router-id",
    "password",
    "node-selectors",
    "source-address",
}
METALLB_TOP_KEYS = {"peers", "bgp-communities", "address-pools"}


def _duration_seconds(text: str, key: str) -> int:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(text).strip())
    if not match or not any(match.groups()):
        raise LabError(f"bgp-config {key}: {text!r} is not a Go duration the lab reads (e.g. 90s, 1m30s)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _peer(peer: Mapping[str, Any], index: int) -> Neighbor:
    hold = _duration_seconds(peer["hold-time"], f"peers[{index}].hold-time") if "hold-time" in peer else None
    hold = METALLB_HOLD_TIME if hold is None else hold
    return Neighbor(
        address=IPv4Address(peer["peer-address"]),
        peer_asn=int(peer["peer-asn"]),
        port=int(peer.get("peer-port", BGP_PORT)),
        hold_time=hold,
        keepalive_time=max(1, hold // 3),
        connect_retry_time=None,
        multihop_ttl=PLAIN_TCP_TTL,
        local_address=IPv4Address(peer["source-address"]) if "source-address" in peer else None,
        password=str(peer["password"]) if "password" in peer else None,
    )


def metallb_speakers(inputs: ClusterInputs) -> dict[str, SpeakerSpec]:
    cfg = inputs.cfg
    maps = [o for o in objects_of(inputs.objects, "ConfigMap") if name_of(o) == "bgp-config"]
    if len(maps) != 1:
        raise LabError(f"method cilium-metallb: expected one bgp-config ConfigMap, the stack renders {len(maps)}")
    document = yaml.safe_load(maps[0]["data"]["config.yaml"]) or {}
    unknown = set(document) - METALLB_TOP_KEYS
    if unknown:
        raise LabError(f"bgp-config config.yaml: unknown keys {sorted(unknown)} (the agent parses it strictly)")
    announce = (inputs.helm_values.get("bgp") or {}).get("announce") or {}
    announced_lb = list(inputs.lb_ips.values()) if announce.get("loadbalancerIP") else []
    speakers: dict[str, SpeakerSpec] = {}
    for node in cfg.nodes:
        neighbors: list[Neighbor] = []
        asns: set[int] = set()
        router_id = node.ip
        for i, peer in enumerate(document.get("peers") or []):
            bad = set(peer) - METALLB_PEER_KEYS
            if bad:
                raise LabError(f"bgp-config peers[{i}]: unknown keys {sorted(bad)}")
            if not metallb_selector_matches(peer.get("node-selectors"), node_labels(node)):
                continue
            asns.add(int(peer["my-asn"]))
            if "router-id" in peer:
                router_id = IPv4Address(peer["router-id"])
            neighbors.append(_peer(peer, i))
        if not neighbors:
            raise LabError(f"bgp-config: no peer selects node {node.name}")
        if len(asns) > 1:
            raise LabError(f"bgp-config: node {node.name} would speak from several ASNs {sorted(asns)} (not modelled)")
        speakers[node.name] = SpeakerSpec(
            node=node.name,
            asn=asns.pop(),
            router_id=router_id,
            neighbors=tuple(neighbors),
            pod_cidrs=tuple(inputs.pod_cidrs.get(node.name, [])) if announce.get("podCIDR") else (),
            lb_ips=tuple(announced_lb),
            source=f"ConfigMap {cfg.cilium.namespace}/bgp-config",
        )
    return speakers
