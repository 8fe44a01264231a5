"""Everything the lab derives from a stack file before touching the machine (pure).

The configs are the program's own artifacts (``cilium_bgp.artifacts.render_artifacts``), the bytes
``pulumi up`` pushes; for Cilium's speaker methods the rendered Kubernetes objects are translated
into GoBGP configs (``lab.standin``). Expectations come from ``cilium_bgp.renderers.expectations``.
The hosts (namespaces, links, addresses) come from ``lab.topology``; hosts mode adds its SSH hosts
and management network from ``lab.hostsplan``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, Literal

import yaml

from cilium_bgp.artifacts import HELM_VALUES, node_config_path, render_artifacts, router_config
from cilium_bgp.config import StackConfig
from cilium_bgp.errors import ConfigError
from cilium_bgp.plan import SessionPlan, build_plan
from cilium_bgp.renderers.expectations import expected_state
from cilium_bgp.stackfile import StackFileError, load_stack_file
from cilium_bgp.versions import METHODS_WITH_CILIUM_SPEAKER
from lab.cluster import allocate_lb_ips, pod_cidrs_of
from lab.shell import LabError
from lab.standin import ClusterInputs, SpeakerSpec, translate
from lab.topology import StackUnusable, Topology, build_topology, router_hosts
from lab.upstream import client_bird_conf, peerings, upstream_expected

ConfigKind = Literal["frr", "bird", "gobgp"]
SpeakerKind = Literal["bird", "gobgp"]
# A test's way to break a config before the lab starts: artifact path -> text transformation.
Tampering = Mapping[str, Callable[[str], str]]

KUBE_ROUTER_REFUSAL = (
    "method 'kube-router' is out of the lab's reach: kube-router ships only as a container image "
    "(docker.io/cloudnativelabs/kube-router), not as a binary from this machine's package registries, "
    "and it needs a Kubernetes API to read nodes and Services from (see docs/lab.md)"
)
# The lab's own config of the upstream peer the client plays (not an artifact of the program).
UPSTREAM_CONFIG = "client/bird.conf"
# What FRR and BIRD use when the stack sets no hold time.
DAEMON_DEFAULT_HOLD = {"frr": 180, "bird": 240}


@dataclass(frozen=True)
class ConfigFile:
    """One daemon config of the lab, secret-free (``<<secret:...>>`` placeholders left in)."""

    path: str  # artifact path, e.g. "router/frr.conf", "nodes/node1/bird.conf", "nodes/node1/gobgpd.toml"
    kind: ConfigKind
    host: str  # "router" or a node name
    text: str


@dataclass(frozen=True)
class LabPlan:
    cfg: StackConfig
    sessions: SessionPlan
    stack_file: Path
    stack_sha256: str
    lab_id: str
    pod_cidrs: dict[str, list[IPv4Network]]
    lb_ips: dict[str, IPv4Address]  # Service -> the address LB IPAM (played by the lab) gave it
    artifacts: dict[str, str]
    standins: dict[str, SpeakerSpec]  # node -> the GoBGP stand-in for its cilium-agent (Cilium methods)
    configs: tuple[ConfigFile, ...]
    topology: Topology
    # Router host -> what it should see (``cilium_bgp.renderers.expectations``).
    expected: dict[str, dict[str, Any]]
    # The stack's upstream peer (the client), when it has one: its sessions and routes.
    upstream: dict[str, Any] | None
    # A hosts-mode lab of a stack with Kubernetes: a real control plane and cilium-operator
    # (``lab.k8s.labcluster``) at cilium.k8sServiceHost.
    cluster: bool = False

    def router_config(self, host: str) -> ConfigFile:
        return next(c for c in self.configs if c.host == host)

    def node_config(self, node: str) -> ConfigFile:
        return next(c for c in self.configs if c.host == node)

    @property
    def router_hosts(self) -> list[str]:
        return [r.host for r in self.topology.routers]

    @property
    def speaker_kind(self) -> SpeakerKind:
        """What speaks BGP on the nodes: BIRD with the rendered bird.conf, or the GoBGP stand-in."""
        return "gobgp" if self.cfg.method in METHODS_WITH_CILIUM_SPEAKER else "bird"

    def speaker_peers(self, node: str) -> list[IPv4Address]:
        """The addresses ``node``'s speaker must have an Established session with."""
        if node in self.standins:
            return [n.address for n in self.standins[node].neighbors]
        return [s.router_address for s in self.sessions.node(node).sessions]

    def negotiated_hold(self, node: str) -> int:
        """The hold time the routers' sessions with ``node`` run with: the smaller of both ends', for
        the slowest of its routers."""
        routers = {s.router for s in self.sessions.node(node).sessions}
        router_hold = max(
            self.sessions.timers.hold or DAEMON_DEFAULT_HOLD[r.daemon]
            for r in self.sessions.routers
            if r.name in routers
        )
        if node in self.standins:
            node_hold = min(n.hold_time for n in self.standins[node].neighbors)
        else:
            node_hold = self.sessions.timers.hold or DAEMON_DEFAULT_HOLD["bird"]
        return min(router_hold, node_hold)

    def expected_without(self, down: frozenset[str]) -> dict[str, dict[str, Any]]:
        """What each router that is still up should see while the nodes and routers (by their plan
        names) in ``down`` are down."""
        lb = [str(ip) for ip in self.lb_ips.values()]
        return {
            r.host: expected_state(self.sessions, self.sessions.router(r.name), self.pod_cidrs, lb, down=down)
            for r in self.topology.routers
            if r.name not in down
        }


def stack_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_stack(stack_file: Path) -> StackConfig:
    try:
        return load_stack_file(stack_file)
    except (ConfigError, StackFileError) as error:
        raise StackUnusable(str(error)) from None


def _manifests(artifacts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rendered Kubernetes objects, in apply order, read back from the artifact texts."""
    return [yaml.safe_load(artifacts[p]) for p in sorted(artifacts) if p.startswith("manifests/")]


def control_plane_address(cfg: StackConfig) -> IPv4Address:
    """Where a cluster lab's API server listens: ``cilium.k8sServiceHost``, the address the agents
    (and the operator) are given; refuses what the cluster lab cannot play."""
    cilium = cfg.cilium
    if cfg.pod_cidr_source != "cluster":
        raise StackUnusable(
            "the cluster lab's PodCIDRs are what its real cilium-operator allocates: set podCidrSource: cluster"
        )
    if cilium.k8s_service_host is None or cilium.k8s_service_port is None:
        raise StackUnusable("the cluster lab needs cilium.k8sServiceHost and cilium.k8sServicePort: its API server")
    try:
        return IPv4Address(cilium.k8s_service_host)
    except ValueError:
        raise StackUnusable(
            f"cilium.k8sServiceHost {cilium.k8s_service_host!r}: the cluster lab needs an IPv4 address there"
        ) from None


def plan_lab(
    stack_file: Path,
    lab_id: str,
    tamper: Tampering | None = None,
    *,
    hosts: bool = False,
) -> LabPlan:
    """The lab of ``stack_file``. ``hosts``: hosts mode, which runs a cluster for a stack with
    Kubernetes (a cluster lab)."""
    cfg = load_stack(stack_file)
    if cfg.method == "kube-router":
        raise StackUnusable(KUBE_ROUTER_REFUSAL)
    cluster = hosts and cfg.kubernetes.enabled
    control_plane = control_plane_address(cfg) if cluster else None
    # A cluster lab's operator allocates PodCIDRs as the lab carves them: the lab registers the
    # CiliumNodes one after the other in the stack's node order (lab.k8s.podrunner).
    pod_cidrs = pod_cidrs_of(cfg)
    artifacts = render_artifacts(cfg, pod_cidrs)
    manifests = _manifests(artifacts)
    helm_values = yaml.safe_load(artifacts[HELM_VALUES]) if HELM_VALUES in artifacts else {}
    standins: dict[str, SpeakerSpec] = {}
    lb_ips: dict[str, IPv4Address] = {}
    # A cluster lab's speakers would be Cilium's agents: no stand-in speaks in their place.
    if cfg.method in METHODS_WITH_CILIUM_SPEAKER and not cluster:
        metallb_pools: list[dict[str, Any]] = []
        for obj in manifests:
            if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] == "bgp-config":
                metallb_pools = (yaml.safe_load(obj["data"]["config.yaml"]) or {}).get("address-pools") or []
        lb_ips = allocate_lb_ips(manifests, cfg.version, metallb_pools)
        standins = translate(ClusterInputs(cfg, manifests, helm_values, pod_cidrs, lb_ips))
    sessions = build_plan(cfg)
    configs = []
    for host, router in zip(router_hosts(cfg, sessions, lab_id), sessions.routers, strict=True):
        path, _ = router_config(sessions, router)
        configs.append(ConfigFile(path, router.daemon, host.host, artifacts[path]))
    for node in sessions.nodes:
        if node.name in standins:
            path = f"nodes/{node.name}/gobgpd.toml"
            configs.append(ConfigFile(path, "gobgp", node.name, standins[node.name].gobgp_toml()))
        elif node_config_path(node.name) in artifacts:  # BIRD's; a cluster lab's Cilium nodes have none
            path = node_config_path(node.name)
            configs.append(ConfigFile(path, "bird", node.name, artifacts[path]))
    if tamper:
        unknown = set(tamper) - {c.path for c in configs}
        if unknown:
            raise LabError(f"cannot tamper with {sorted(unknown)}: the lab's configs are {[c.path for c in configs]}")
        configs = [
            ConfigFile(c.path, c.kind, c.host, tamper[c.path](c.text)) if c.path in tamper else c for c in configs
        ]
    lb_by_node = {name: list(s.lb_ips) for name, s in standins.items()}
    topology = build_topology(cfg, sessions, lab_id, pod_cidrs, lb_by_node, control_plane)
    lb = [str(ip) for ip in lb_ips.values()]
    expected = {r.host: expected_state(sessions, sessions.router(r.name), pod_cidrs, lb) for r in topology.routers}
    upstream = None
    if topology.client.upstream is not None:
        configs.append(ConfigFile(UPSTREAM_CONFIG, "bird", "client", client_bird_conf(cfg, sessions, topology)))
        upstream = upstream_expected(topology.client, peerings(sessions, topology), expected)
    return LabPlan(
        cfg=cfg,
        sessions=sessions,
        stack_file=stack_file.resolve(),
        stack_sha256=stack_digest(stack_file),
        lab_id=lab_id,
        pod_cidrs=pod_cidrs,
        lb_ips=lb_ips,
        artifacts=artifacts,
        standins=standins,
        configs=tuple(configs),
        topology=topology,
        expected=expected,
        upstream=upstream,
        cluster=cluster,
    )
