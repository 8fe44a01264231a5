"""One node's stand-in speaker as data (sessions, prefixes), written out as a GoBGP config; and the
object lookups every translation shares (Secrets named by ``authSecretRef``, LB IPs by selector)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import tomli_w

from cilium_bgp.config import StackConfig
from lab.cluster import load_balancer_services, selector_matches
from lab.shell import LabError

# Defaults of Cilium's BGP kinds (CiliumBGPPeeringPolicy neighbors, CiliumBGPPeerConfig).
CILIUM_HOLD_TIME = 90
CILIUM_KEEPALIVE_TIME = 30
CILIUM_CONNECT_RETRY_TIME = 120
CILIUM_EBGP_MULTIHOP_TTL = 1
BGP_PORT = 179
# Cilium's speakers only dial out unless a local port is configured (GoBGP's "port = -1").
NO_LISTEN = -1


@dataclass(frozen=True)
class ClusterInputs:
    """What the agents read from the cluster: the rendered objects (as the program applies them),
    the Helm values, each node's PodCIDRs and each LoadBalancer Service's address."""

    cfg: StackConfig
    objects: Sequence[Mapping[str, Any]]
    helm_values: Mapping[str, Any]
    pod_cidrs: Mapping[str, Sequence[IPv4Network]]
    lb_ips: Mapping[str, IPv4Address]


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
class SpeakerSpec:
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
        return header + tomli_w.dumps(self.gobgp_config())


def objects_of(objects: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def name_of(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def secret_password(objects: Sequence[Mapping[str, Any]], secret_name: str, referrer: str) -> str:
    """The ``password`` key of the Secret an ``authSecretRef`` names, as the agent reads it."""
    for secret in objects_of(objects, "Secret"):
        if name_of(secret) != secret_name:
            continue
        if "password" in (secret.get("stringData") or {}):
            return str(secret["stringData"]["password"])
        if "password" in (secret.get("data") or {}):
            return base64.b64decode(secret["data"]["password"]).decode()
        raise LabError(f"Secret {secret_name} (named by {referrer}) has no 'password' key")
    raise LabError(f"{referrer} names authSecretRef {secret_name}, but the stack renders no such Secret")


def service_lb_ips(
    objects: Sequence[Mapping[str, Any]], lb_ips: Mapping[str, IPv4Address], selector: Mapping[str, Any] | None
) -> list[IPv4Address]:
    """LB IPs of the LoadBalancer Services ``selector`` picks; an absent selector picks none (Cilium)."""
    if selector is None:
        return []
    picked = []
    for service in load_balancer_services(objects):
        labels = service.get("metadata", {}).get("labels") or {}
        if selector_matches(selector, labels) and name_of(service) in lb_ips:
            picked.append(lb_ips[name_of(service)])
    return picked
