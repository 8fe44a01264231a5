"""Helpers of ``test_k8s_agents.py``: one control plane for the module, and per case a router, the
stack's nodes and a client in network namespaces, with the real node speakers on the nodes.

::

    root namespace                 cbgp-<tag>-cp                              the case's hosts
    cbgpm-<tag>k 198.18.254.x/30 == .x+1 (the tests' API client; the first free /30 of 198.18.254.0/24)
                                   br0 198.19.100.1/24 (the API server) ==== mgmt0 198.19.100.11+i  nodes
                                   etcd, kube-apiserver, -controller-manager, -scheduler, kwok,
                                   the case's cilium-operator

    client ---- eth0 [router] eth1 ---- node1 eth1 (cilium-agent or kube-router on it)
                              eth2 ---- node2 eth1
    (with several routers, e.g. a redundant pair or a router per rack with a route-reflector
    pair: every subnet they share is a bridge in the lab's switch namespace, each node routes
    over its subnet's routers, and where the stack names an upstream peer the client plays it,
    learning the cluster's prefixes over BGP as ``lab up`` plays it: ``lab.upstream``)

The routers, nodes and client are built from the stack file as the lab builds them
(``lab.topology``), without the lab's stand-in ``cilium_host``: the real agent makes its own. Each
router runs the program's rendered FRR or BIRD config. The nodes reach the API server over the
control plane's network (``mgmt0``), as over a cluster's management network; Cilium's devices are
the stack's (the node's lab interface) only. Every namespace, process and directory outside the
pytest work directory is recorded in a :class:`LabState`, so the lab's own teardown removes it.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from cilium_bgp.artifacts import router_config
from cilium_bgp.config import StackConfig
from cilium_bgp.plan import SessionPlan, build_plan
from cilium_bgp.renderers.frr import frr_daemons
from cilium_bgp.renderers.manifests import KUBE_ROUTER_PASSWORD_SECRET, kube_router_password
from cilium_bgp.renderers.sysctl import render_router_sysctl
from cilium_bgp.secrets import reveal
from cilium_bgp.stackfile import load_stack_file
from cilium_bgp.validate import check_password
from lab import netns
from lab.daemons import BirdDaemon, FrrRouter
from lab.k8s.api import ApiClient, Object, resource_path
from lab.k8s.binaries import control_plane_binaries
from lab.k8s.control_plane import ControlPlane, ControlPlaneSpec
from lab.mgmt import free_link_network
from lab.shell import in_netns, run
from lab.state import LabState
from lab.teardown import teardown
from lab.topology import Topology, build_topology
from lab.upstream import client_bird_conf, peerings, upstream_expected

CP_NETWORK = IPv4Network("198.19.100.0/24")
API_ADDRESS = IPv4Address("198.19.100.1")
# Kubernetes IPAM for kube-router: kube-controller-manager's --cluster-cidr (the stacks' pool).
CLUSTER_CIDR = IPv4Network("10.42.0.0/16")
CP_BRIDGE = "br0"
# In every generated password: characters YAML, Kubernetes and the daemons' config syntaxes treat
# specially, so a quoting slip in what the program renders shows as a session that never comes up.
PASSWORD_MARKS = "#:*&%@{[,\\$!~"


def plural(kind: str) -> str:
    """The REST resource of ``kind`` (``CiliumBGPPeeringPolicy`` -> ``ciliumbgppeeringpolicies``)."""
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def object_path(obj: Object, name: bool = False) -> str:
    meta = obj["metadata"]
    return resource_path(obj["apiVersion"], plural(obj["kind"]), meta.get("namespace"), meta["name"] if name else None)


@dataclass
class Cluster:
    """The module's control plane in its own namespace, on the nodes' management network."""

    tag: str
    workdir: Path
    state: LabState
    control_plane: ControlPlane

    @property
    def netns(self) -> str:
        return self.control_plane.spec.netns

    @property
    def client(self) -> ApiClient:
        return self.control_plane.client()

    @property
    def kubeconfig(self) -> Path:
        """What the node speakers use: the API server at its own address."""
        return self.control_plane.spec.workdir / f"kubeconfig-{API_ADDRESS}"

    @property
    def server(self) -> str:
        return self.control_plane.server(API_ADDRESS)

    @property
    def ca_pem(self) -> str:
        return self.control_plane.creds.ca_cert.read_text()

    def teardown(self) -> list[str]:
        left = self.control_plane.stop()
        teardown(self.state)
        return left


def start_cluster(workdir: Path) -> Cluster:
    tag = secrets.token_hex(3)
    workdir.mkdir(parents=True)
    state = LabState(tag, "", "", str(workdir))
    management = free_link_network()
    root_side, cp_side = management.hosts()
    spec = ControlPlaneSpec(
        f"cbgp-{tag}-cp", API_ADDRESS, cp_side, workdir / "control-plane", cluster_cidr=CLUSTER_CIDR
    )
    cluster = Cluster(tag, workdir, state, ControlPlane(spec, control_plane_binaries()))
    try:
        netns.add(spec.netns, lambda name: state.add("namespaces", name))
        netns.ip(spec.netns, "link", "add", CP_BRIDGE, "type", "bridge")
        netns.ip(spec.netns, "addr", "add", f"{API_ADDRESS}/{CP_NETWORK.prefixlen}", "dev", CP_BRIDGE)
        netns.ip(spec.netns, "link", "set", CP_BRIDGE, "up")
        root_link = f"cbgpm-{tag}k"
        state.add("links", root_link)
        run(["ip", "link", "add", root_link, "type", "veth", "peer", "name", "uplink", "netns", spec.netns])
        run(["ip", "link", "set", "dev", root_link, "addrgenmode", "none"], check=False)
        run(["ip", "addr", "add", f"{root_side}/{management.prefixlen}", "dev", root_link])
        run(["ip", "link", "set", root_link, "up"])
        netns.ip(spec.netns, "addr", "add", f"{cp_side}/{management.prefixlen}", "dev", "uplink")
        netns.ip(spec.netns, "link", "set", "uplink", "up")
        cluster.control_plane.start()
        cluster.control_plane.kubeconfig(API_ADDRESS)
    except BaseException:
        cluster.teardown()
        raise
    return cluster


def placeholder_pod_cidrs(cfg: StackConfig) -> dict[str, list[IPv4Network]]:
    """``lab.topology`` gives each node a pod address from its PodCIDR; the cluster allocates the
    real ones later, and the real agent makes its own ``cilium_host``: these only fill the form."""
    subnets = cfg.cilium.cluster_pool_ipv4_pod_cidr_list[0].subnets(new_prefix=cfg.cilium.cluster_pool_ipv4_mask_size)
    return {node.name: [next(subnets)] for node in cfg.nodes}


def reveal_tree(value: Any, values: dict[str, str]) -> Any:
    """``value`` with every ``<<secret:KEY>>`` in its strings replaced (``components.kubernetes_objects``
    does the same to the objects it registers)."""
    if isinstance(value, str):
        return reveal(value, values)
    if isinstance(value, dict):
        return {k: reveal_tree(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_tree(v, values) for v in value]
    return value


@dataclass
class CaseHosts:
    """One case's routers, nodes and client, built from ``stack_file``; each router runs the
    program's rendered config with a password generated per run."""

    cluster: Cluster
    stack_file: Path
    code: str  # two characters naming the case in namespace and link names
    workdir: Path
    cfg: StackConfig = field(init=False)
    plan: SessionPlan = field(init=False)
    topology: Topology = field(init=False)
    state: LabState = field(init=False)
    password: str = field(init=False)
    routers: dict[str, FrrRouter | BirdDaemon] = field(init=False)  # router host -> its daemon
    upstream: BirdDaemon | None = field(init=False)  # the stack's upstream peer, played by the client

    def __post_init__(self) -> None:
        self.cfg = load_stack_file(self.stack_file)
        lab_id = f"{self.cluster.tag}{self.code}"
        self.plan = build_plan(self.cfg)
        self.topology = build_topology(self.cfg, self.plan, lab_id, placeholder_pod_cidrs(self.cfg), {})
        self.workdir.mkdir(parents=True)
        self.state = LabState(lab_id, str(self.stack_file), "", str(self.workdir))
        self.password = secrets.token_urlsafe(12) + PASSWORD_MARKS
        problems = check_password(self.cfg, self.password)
        assert not problems, f"the lab's password must be one the program accepts: {problems}"
        self.routers = {}
        for host in self.topology.routers:
            enter = (lambda ns: lambda: in_netns(ns, []))(host.netns)
            if self.plan.router(host.name).daemon == "frr":
                self.routers[host.host] = FrrRouter(host.netns, host.netns, enter, frr_daemons(self.plan), host.host)
            else:
                run_dir = Path("/run") / f"cbgp-{lab_id}" / host.host
                etc = self.workdir / host.host / "etc-bird"
                self.routers[host.host] = BirdDaemon(host.host, host.netns, etc, run_dir, enter, lab_owned=True)
        client = self.topology.client
        self.upstream = None
        if client.upstream is not None:
            enter = (lambda ns: lambda: in_netns(ns, []))(client.netns)
            run_dir = Path("/run") / f"cbgp-{lab_id}" / "client"
            etc = self.workdir / "client" / "etc-bird"
            self.upstream = BirdDaemon("client", client.netns, etc, run_dir, enter, lab_owned=True)

    @property
    def secret_values(self) -> dict[str, str]:
        return {"bgpPassword": self.password, KUBE_ROUTER_PASSWORD_SECRET: kube_router_password(self.password)}

    def node_netns(self, node: str) -> str:
        return self.topology.node(node).netns

    def node_address(self, node: str) -> IPv4Address:
        return self.topology.node(node).address.ip

    def build(self) -> None:
        """Namespaces, links, addresses, routes, the management ports, then the routers' daemons."""
        topo, record = self.topology, (lambda name: self.state.add("namespaces", name))
        for name in topo.namespaces:
            netns.add(name, record)
        for index, segment in enumerate(topo.segments):
            # The lab's own links (a veth pair, or a bridge with a port per host).
            netns._segment(topo, index, segment)
        for index, node in enumerate(topo.nodes):
            netns._default_route(node.netns, node.ifname, node.gateways)
            port = f"mp{self.code}{index}"
            netns.ip(
                self.cluster.netns, "link", "add", port, "type", "veth", "peer", "name", "mgmt0", "netns", node.netns
            )
            netns.ip(self.cluster.netns, "link", "set", port, "master", CP_BRIDGE, "up")
            netns.ip(node.netns, "addr", "add", f"{CP_NETWORK.network_address + 11 + index}/24", "dev", "mgmt0")
            netns.ip(node.netns, "link", "set", "mgmt0", "up")
        if topo.client.gateways:
            netns._default_route(topo.client.netns, topo.client.ifname, topo.client.gateways)
        sysctl = self.workdir / "sysctl.conf"
        sysctl.write_text(render_router_sysctl())
        for host in topo.routers:
            run(["sysctl", "-q", "-e", "-p", str(sysctl)], netns=host.netns)
            router = self.routers[host.host]
            if isinstance(router, FrrRouter):
                self.state.add("directories", str(router.conf_dir))
                self.state.add("directories", str(router.run_dir))
            else:
                self.state.add("directories", str(router.run_dir.parent))
            _, text = router_config(self.plan, self.plan.router(host.name))
            router.install(reveal(text, self.secret_values))
            for process in router.start():
                self.state.add_process(process)
        if self.upstream is not None:
            self.state.add("directories", str(self.upstream.run_dir.parent))
            self.upstream.install(client_bird_conf(self.cfg, self.plan, topo))
            for process in self.upstream.start():
                self.state.add_process(process)

    def upstream_expected(self, routers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
        """What the upstream peer should have while the routers have ``routers`` (router host ->
        expected state); None without one."""
        if self.upstream is None:
            return None
        return upstream_expected(self.topology.client, peerings(self.plan, self.topology), routers)

    def add_netns(self, name: str) -> None:
        """Record a namespace made for this case elsewhere (a pod's sandbox), so teardown removes it."""
        self.state.add("namespaces", name)

    def objects(self, rendered: list[Object]) -> list[Object]:
        """``rendered`` with the secrets filled in, as the program's components apply them: in each
        string of the object, where the placeholder stands."""
        return [reveal_tree(obj, self.secret_values) for obj in rendered]

    def teardown(self) -> list[str]:
        removed = teardown(self.state)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return removed
