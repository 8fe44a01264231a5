"""Cilium's BGP speakers, played by GoBGP: the rendered Kubernetes objects translated per node.

The cilium-agent reads the ``bgp-config`` ConfigMap (cilium-metallb), a CiliumBGPPeeringPolicy
(cilium-bgp-v1) or the CiliumBGPClusterConfig / PeerConfig / Advertisement family (cilium-bgp-v2)
and drives an embedded BGP speaker (GoBGP for v1 and v2; MetalLB's own for cilium-metallb). Here
the same objects, exactly as the program renders them, become one GoBGP config per node plus the
prefixes the node originates. Whatever the objects say and the translation cannot express raises
:class:`LabError` naming the object, rather than running something else. ``docs/lab.md`` lists
what is modelled and what is not.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import yaml

from cilium_bgp.config import NodeSettings, StackConfig
from lab.cluster import (
    load_balancer_services,
    metallb_selector_matches,
    node_labels,
    selector_matches,
)
from lab.shell import LabError
from lab.toml import dump_toml

# Defaults of Cilium's BGP kinds (CiliumBGPPeeringPolicy neighbors, CiliumBGPPeerConfig).
CILIUM_HOLD_TIME = 90
CILIUM_KEEPALIVE_TIME = 30
CILIUM_CONNECT_RETRY_TIME = 120
CILIUM_EBGP_MULTIHOP_TTL = 1
BGP_PORT = 179
# MetalLB's legacy config: hold-time defaults to 90 s, keepalives every third of it.
METALLB_HOLD_TIME = 90
# MetalLB dials a plain TCP socket: its packets carry the kernel's default TTL, not 1.
PLAIN_TCP_TTL = 64
# Cilium's speakers only dial out unless a local port is configured (GoBGP's "port = -1").
NO_LISTEN = -1
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


@dataclass(frozen=True)
class Neighbor:
    address: IPv4Address
    peer_asn: int
    port: int = BGP_PORT
    hold_time: int = CILIUM_HOLD_TIME
    keepalive_time: int = CILIUM_KEEPALIVE_TIME
    connect_retry_time: int | None = CILIUM_CONNECT_RETRY_TIME
    multihop_ttl: int = CILIUM_EBGP_MULTIHOP_TTL
    local_address: IPv4Address | None = None
    # Secret-free: a ``<<secret:bgpPassword>>`` placeholder, filled in when the lab writes the file.
    password: str | None = None


@dataclass(frozen=True)
class Speaker:
    """One node's BGP speaker: its session settings and the prefixes it originates."""

    node: str
    asn: int
    router_id: IPv4Address
    neighbors: tuple[Neighbor, ...]
    pod_cidrs: tuple[IPv4Network, ...]
    lb_ips: tuple[IPv4Address, ...]
    source: str  # the objects it was translated from
    listen_port: int = NO_LISTEN

    @property
    def prefixes(self) -> list[IPv4Network]:
        return [*self.pod_cidrs, *(IPv4Network(f"{ip}/32") for ip in self.lb_ips)]

    def gobgp_config(self) -> dict[str, Any]:
        neighbors = []
        for n in self.neighbors:
            config: dict[str, Any] = {"neighbor-address": str(n.address), "peer-as": n.peer_asn}
            if n.password is not None:
                config["auth-password"] = n.password
            timers: dict[str, Any] = {"hold-time": n.hold_time, "keepalive-interval": n.keepalive_time}
            if n.connect_retry_time is not None:
                timers["connect-retry"] = n.connect_retry_time
            transport: dict[str, Any] = {"remote-port": n.port}
            if n.local_address is not None:
                transport["local-address"] = str(n.local_address)
            entry: dict[str, Any] = {"config": config, "timers": {"config": timers}, "transport": {"config": transport}}
            if n.multihop_ttl > 1:
                entry["ebgp-multihop"] = {"config": {"enabled": True, "multihop-ttl": n.multihop_ttl}}
            entry["afi-safis"] = [{"config": {"afi-safi-name": "ipv4-unicast"}}]
            neighbors.append(entry)
        return {
            "global": {"config": {"as": self.asn, "router-id": str(self.router_id), "port": self.listen_port}},
            "neighbors": neighbors,
        }

    def gobgp_toml(self) -> str:
        header = f"# GoBGP standing in for the Cilium speaker on {self.node}; from {self.source}\n"
        return header + dump_toml(self.gobgp_config())


def _objects_of(objects: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def _secret_password(objects: Sequence[Mapping[str, Any]], secret_name: str, referrer: str) -> str:
    """The ``password`` key of the Secret an ``authSecretRef`` names, as the agent reads it."""
    for secret in _objects_of(objects, "Secret"):
        if _name(secret) != secret_name:
            continue
        if "password" in (secret.get("stringData") or {}):
            return str(secret["stringData"]["password"])
        if "password" in (secret.get("data") or {}):
            return base64.b64decode(secret["data"]["password"]).decode()
        raise LabError(f"Secret {secret_name} (named by {referrer}) has no 'password' key")
    raise LabError(f"{referrer} names authSecretRef {secret_name}, but the stack renders no such Secret")


def _service_lb_ips(
    objects: Sequence[Mapping[str, Any]], lb_ips: Mapping[str, IPv4Address], selector: Mapping[str, Any] | None
) -> list[IPv4Address]:
    """LB IPs of the LoadBalancer Services ``selector`` picks; an absent selector picks none (Cilium)."""
    if selector is None:
        return []
    picked = []
    for service in load_balancer_services(objects):
        labels = service.get("metadata", {}).get("labels") or {}
        if selector_matches(selector, labels) and _name(service) in lb_ips:
            picked.append(lb_ips[_name(service)])
    return picked


def _duration_seconds(text: str, key: str) -> int:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(text).strip())
    if not match or not any(match.groups()):
        raise LabError(f"bgp-config {key}: {text!r} is not a Go duration the lab reads (e.g. 90s, 1m30s)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _metallb_speakers(
    cfg: StackConfig,
    objects: Sequence[Mapping[str, Any]],
    helm_values: Mapping[str, Any],
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips: Mapping[str, IPv4Address],
) -> dict[str, Speaker]:
    maps = [o for o in _objects_of(objects, "ConfigMap") if _name(o) == "bgp-config"]
    if len(maps) != 1:
        raise LabError(f"method cilium-metallb: expected one bgp-config ConfigMap, the stack renders {len(maps)}")
    document = yaml.safe_load(maps[0]["data"]["config.yaml"]) or {}
    unknown = set(document) - METALLB_TOP_KEYS
    if unknown:
        raise LabError(f"bgp-config config.yaml: unknown keys {sorted(unknown)} (the agent parses it strictly)")
    announce = (helm_values.get("bgp") or {}).get("announce") or {}
    announced_lb = list(lb_ips.values()) if announce.get("loadbalancerIP") else []
    speakers: dict[str, Speaker] = {}
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
            hold = _duration_seconds(peer["hold-time"], f"peers[{i}].hold-time") if "hold-time" in peer else None
            hold = METALLB_HOLD_TIME if hold is None else hold
            asns.add(int(peer["my-asn"]))
            if "router-id" in peer:
                router_id = IPv4Address(peer["router-id"])
            neighbors.append(
                Neighbor(
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
            )
        if not neighbors:
            raise LabError(f"bgp-config: no peer selects node {node.name}")
        if len(asns) > 1:
            raise LabError(f"bgp-config: node {node.name} would speak from several ASNs {sorted(asns)} (not modelled)")
        speakers[node.name] = Speaker(
            node=node.name,
            asn=asns.pop(),
            router_id=router_id,
            neighbors=tuple(neighbors),
            pod_cidrs=tuple(pod_cidrs.get(node.name, [])) if announce.get("podCIDR") else (),
            lb_ips=tuple(announced_lb),
            source=f"ConfigMap {cfg.cilium.namespace}/bgp-config",
        )
    return speakers


def _selected(
    objects: Sequence[Mapping[str, Any]], kind: str, node: NodeSettings, what: str
) -> Mapping[str, Any] | None:
    """The one object of ``kind`` whose nodeSelector picks ``node`` (absent selector: every node)."""
    chosen = [
        o
        for o in _objects_of(objects, kind)
        if o.get("spec", {}).get("nodeSelector") is None
        or selector_matches(o["spec"]["nodeSelector"], node_labels(node))
    ]
    if len(chosen) > 1:
        names = ", ".join(_name(o) for o in chosen)
        raise LabError(f"node {node.name} is selected by several {kind}s ({names}); Cilium refuses that {what}")
    return chosen[0] if chosen else None


def _v1_speakers(
    cfg: StackConfig,
    objects: Sequence[Mapping[str, Any]],
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips: Mapping[str, IPv4Address],
) -> dict[str, Speaker]:
    speakers: dict[str, Speaker] = {}
    for node in cfg.nodes:
        policy = _selected(objects, "CiliumBGPPeeringPolicy", node, "policy")
        if policy is None:
            raise LabError(f"no CiliumBGPPeeringPolicy selects node {node.name}")
        referrer = f"CiliumBGPPeeringPolicy {_name(policy)}"
        routers = policy["spec"].get("virtualRouters") or []
        if len(routers) != 1:
            raise LabError(f"{referrer}: {len(routers)} virtualRouters; the lab models exactly one")
        router = routers[0]
        neighbors = []
        for n in router.get("neighbors") or []:
            password = _secret_password(objects, n["authSecretRef"], referrer) if "authSecretRef" in n else None
            neighbors.append(
                Neighbor(
                    address=IPv4Interface(n["peerAddress"]).ip,
                    peer_asn=int(n["peerASN"]),
                    port=int(n.get("peerPort", BGP_PORT)),
                    hold_time=int(n.get("holdTimeSeconds", CILIUM_HOLD_TIME)),
                    keepalive_time=int(n.get("keepAliveTimeSeconds", CILIUM_KEEPALIVE_TIME)),
                    connect_retry_time=int(n.get("connectRetryTimeSeconds", CILIUM_CONNECT_RETRY_TIME)),
                    multihop_ttl=int(n.get("eBGPMultihopTTL", CILIUM_EBGP_MULTIHOP_TTL)),
                    password=password,
                )
            )
        advertised = router.get("serviceAdvertisements", ["LoadBalancerIP"])
        services = router.get("serviceSelector") if "LoadBalancerIP" in advertised else None
        speakers[node.name] = Speaker(
            node=node.name,
            asn=int(router["localASN"]),
            router_id=node.effective_router_id,
            neighbors=tuple(neighbors),
            pod_cidrs=tuple(pod_cidrs.get(node.name, [])) if router.get("exportPodCIDR", False) else (),
            lb_ips=tuple(_service_lb_ips(objects, lb_ips, services)),
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
        for adv_obj in _objects_of(objects, "CiliumBGPAdvertisement"):
            labels = adv_obj.get("metadata", {}).get("labels") or {}
            if not selector_matches(family["advertisements"], labels):
                continue
            for adv in adv_obj.get("spec", {}).get("advertisements") or []:
                kind = adv.get("advertisementType")
                if kind == "PodCIDR":
                    cidrs += [c for c in node_pod_cidrs if c not in cidrs]
                elif kind == "Service" and "LoadBalancerIP" in (adv.get("service") or {}).get("addresses", []):
                    ips += [ip for ip in _service_lb_ips(objects, lb_ips, adv.get("selector")) if ip not in ips]
    return tuple(cidrs), tuple(ips)


def _v2_speakers(
    cfg: StackConfig,
    objects: Sequence[Mapping[str, Any]],
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips: Mapping[str, IPv4Address],
) -> dict[str, Speaker]:
    peer_configs = {_name(o): o for o in _objects_of(objects, "CiliumBGPPeerConfig")}
    overrides = {_name(o): o for o in _objects_of(objects, "CiliumBGPNodeConfigOverride")}
    speakers: dict[str, Speaker] = {}
    for node in cfg.nodes:
        cluster_config = _selected(objects, "CiliumBGPClusterConfig", node, "config")
        if cluster_config is None:
            raise LabError(f"no CiliumBGPClusterConfig selects node {node.name}")
        referrer = f"CiliumBGPClusterConfig {_name(cluster_config)}"
        instances = cluster_config["spec"].get("bgpInstances") or []
        if len(instances) != 1:
            raise LabError(f"{referrer}: {len(instances)} bgpInstances; the lab models exactly one")
        instance = instances[0]
        override = next(
            (
                i
                for i in (overrides.get(node.name, {}).get("spec", {}).get("bgpInstances") or [])
                if i.get("name") == instance["name"]
            ),
            {},
        )
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
            timers = spec.get("timers") or {}
            password = (
                _secret_password(objects, spec["authSecretRef"], f"CiliumBGPPeerConfig {ref}")
                if "authSecretRef" in spec
                else None
            )
            local = local_addresses.get(peer["name"])
            neighbors.append(
                Neighbor(
                    address=IPv4Address(peer["peerAddress"]),
                    peer_asn=int(peer["peerASN"]),
                    port=int((spec.get("transport") or {}).get("peerPort", BGP_PORT)),
                    hold_time=int(timers.get("holdTimeSeconds", CILIUM_HOLD_TIME)),
                    keepalive_time=int(timers.get("keepAliveTimeSeconds", CILIUM_KEEPALIVE_TIME)),
                    connect_retry_time=int(timers.get("connectRetryTimeSeconds", CILIUM_CONNECT_RETRY_TIME)),
                    multihop_ttl=int(spec.get("ebgpMultihop", CILIUM_EBGP_MULTIHOP_TTL)),
                    local_address=IPv4Address(local) if local else None,
                    password=password,
                )
            )
            routes.add(_v2_advertised(objects, peer_config, pod_cidrs.get(node.name, []), lb_ips))
        if len(routes) > 1:
            raise LabError(f"{referrer}: peers of node {node.name} get different advertisements (not modelled)")
        cidrs, ips = routes.pop() if routes else ((), ())
        speakers[node.name] = Speaker(
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


def translate(
    cfg: StackConfig,
    objects: Sequence[Mapping[str, Any]],
    helm_values: Mapping[str, Any],
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips: Mapping[str, IPv4Address],
) -> dict[str, Speaker]:
    """Node name -> the GoBGP speaker standing in for its cilium-agent, for Cilium's speaker methods."""
    if cfg.method == "cilium-metallb":
        if not (helm_values.get("bgp") or {}).get("enabled"):
            raise LabError("method cilium-metallb: the Helm values do not set bgp.enabled")
        return _metallb_speakers(cfg, objects, helm_values, pod_cidrs, lb_ips)
    if not (helm_values.get("bgpControlPlane") or {}).get("enabled"):
        raise LabError(f"method {cfg.method}: the Helm values do not set bgpControlPlane.enabled")
    if cfg.method == "cilium-bgp-v1":
        return _v1_speakers(cfg, objects, pod_cidrs, lb_ips)
    if cfg.method == "cilium-bgp-v2":
        return _v2_speakers(cfg, objects, pod_cidrs, lb_ips)
    raise LabError(f"method {cfg.method} has no Cilium speaker to translate")
