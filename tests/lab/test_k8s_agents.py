"""Real node speakers against a real control plane and real routers: cilium-agent 1.14, 1.16 and
1.18 (BGP Control Plane v1, v2alpha1 and v2, and Cilium's MetalLB speaker) and kube-router, each
configured from what the program renders.

One control plane for the module (``agentkit.Cluster``); per case (a class, its steps in order)
its routers with the program's rendered FRR or BIRD configs, the stack's nodes and a client
(``agentkit.CaseHosts``), the release's cilium-operator and the node speakers:

    case                 stack (tests/stacks/agents/)     routers              nodes  speaker
    v1 pair on 1.16      Pulumi.agents-v1-pair-1.16.yaml  BIRD + FRR (pair)    2      cilium-agent 1.16.19
    MetalLB on 1.16      Pulumi.agents-metallb-1.16.yaml  FRR                  1      cilium-agent 1.16.19
    v2alpha1 on 1.16     Pulumi.agents-v2alpha1-1.16.yaml BIRD                 1      cilium-agent 1.16.19
    v1 on 1.14           Pulumi.agents-v1-1.14.yaml       FRR                  2      cilium-agent 1.14.19
    v2 on 1.18           Pulumi.agents-v2-1.18.yaml       FRR                  2      cilium-agent 1.18.3
    kube-router          Pulumi.agents-kube-router.yaml   BIRD                 2      kube-router 2.1.0, agent 1.18.3
    prod (shipped)       ../../../Pulumi.prod.yaml        FRR x2 (pair)        2      cilium-agent 1.18.3
    lab-metallb          ../lab/Pulumi.lab-metallb.yaml   FRR                  2      cilium-agent 1.16.19
    lab-rack-v1          ../lab/Pulumi.lab-rack-v1.yaml   2 FRR + 2 BIRD, rack 3      cilium-agent 1.18.3
    lab-rack-v2          ../lab/Pulumi.lab-rack-v2.yaml   2 FRR + 2 BIRD, rack 3      cilium-agent 1.18.3

The last four are stacks made for real clusters or for ``lab up``, run as they are with the lab's
Helm values (:data:`LAB_VALUES`, what the agents stacks set themselves) merged into their
``cilium.values``. The rack stacks have a router per rack (``tor1`` FRR, ``tor2`` BIRD) and a
route-reflector pair (``rr1`` FRR, ``rr2`` BIRD) announcing to an upstream peer the client plays
(BIRD, as ``lab up`` plays it); their PodCIDRs are static, and the CiliumNodes hold them before the
agents start (:meth:`Case.hold_static_pod_cidrs`).

The ``cilium-config`` ConfigMap is the release's: the program's Helm values
(``render_helm_values``) through the release's chart (``lab.k8s.chart``); the stacks turn off, with
the program's own ``cilium.values``, what needs binaries the lab does not build (Envoy, Hubble,
cilium-health). The BGP objects, the LB pool, the password Secret, the demo Service and
kube-router's DaemonSet and RBAC are the program's own (``cilium_bgp.renderers.manifests``), applied
as they render. The demo Service's endpoints are pods made through Cilium's CNI plugin, labelled as
the demo Deployment's pods are, each with an HTTP server on the Service's targetPort (the
Deployment itself is not applied: kwok would run its pods without addresses of Cilium's).

Run as root: ``python -m pytest -m lab tests/lab/test_k8s_agents.py``. Each run takes its own
management /30 in the root namespace (``lab.mgmt.free_link_network``), so two runs can share a
machine.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Network, ip_network
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from cilium_bgp.renderers.expectations import expected_state, static_pod_cidrs
from cilium_bgp.renderers.helm_values import deep_merge
from cilium_bgp.renderers.manifests import demo_manifests, method_manifests, node_patches
from cilium_bgp.renderers.scripts import status_script_source, verify_command
from lab.checks import observe_router, route_problems
from lab.daemons import BirdDaemon, FrrRouter
from lab.k8s.agent import CiliumAgent
from lab.k8s.api import ApiClient, Object, resource_path
from lab.k8s.binaries import CiliumBinaries, control_plane_binaries
from lab.k8s.chart import release_config_map
from lab.k8s.cilium import CiliumOperator, cilium_node_object
from lab.k8s.cni import Pod, add_pod, delete_pod
from lab.k8s.kuberouter import KubeRouter, daemonset_container, kube_router_binary
from lab.k8s.processes import ClusterProcesses
from lab.process import is_alive
from lab.shell import LabError, run
from lab.topology import netns_name as topology_netns_name
from lab.wait import Budget, wait_until
from tests.lab.agentkit import CaseHosts, Cluster, object_path, start_cluster

pytestmark = pytest.mark.lab

STACKS = Path(__file__).resolve().parents[1] / "stacks" / "agents"
NAMESPACE = "kube-system"
DEMO_LABELS = {"app": "whoami"}
DEMO_PORT = 80  # the demo Service's targetPort
POD_CIDRS = Budget("PodCIDRs allocated", 60)
LB_IP = Budget("LB IP assigned", 60)
CRDS = Budget("Cilium's CRDs served", 60)
# What every stack of tests/stacks/agents sets in cilium.values: the lab builds no Envoy, Hubble or
# cilium-health-responder.
LAB_VALUES: dict[str, Any] = {
    "l7Proxy": False,
    "envoy": {"enabled": False},
    "hubble": {"enabled": False},
    "healthChecking": False,
    "endpointHealthChecking": {"enabled": False},
}
REPO = Path(__file__).resolve().parents[2]
PINGS = Budget("pings", 20)
# What the module measured, per stack: the last step checks and prints it.
TIMINGS: dict[str, dict[str, Any]] = {}


def with_lab_values(stack_file: Path, copy: Path) -> Path:
    """A copy of a stack made for real clusters with the Helm values the lab's stacks add (its
    ``cilium.values`` merged over): no Envoy, Hubble or cilium-health here. Nothing else changes."""
    text = yaml.safe_load(stack_file.read_text())
    cilium = text["config"]["cilium-bgp:cilium"]
    cilium["values"] = deep_merge(cilium.get("values") or {}, LAB_VALUES)
    copy.write_text(yaml.safe_dump(text, sort_keys=False))
    return copy


def served(client: ApiClient, objects: list[Object]) -> None:
    """Wait until the API serves the kind of every object (the operator registers Cilium's CRDs, and
    a later release's operator moves them to its own versions, a moment after it starts)."""

    def missing() -> tuple[None, list[str]]:
        gone = []
        for api_version, kind in sorted({(o["apiVersion"], o["kind"]) for o in objects}):
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            found = client.find(path)
            if not any(r.get("kind") == kind for r in (found or {}).get("resources", [])):
                gone.append(f"{api_version} {kind}")
        return None, [f"not served yet: {g}" for g in gone]

    wait_until(missing, CRDS, "the kinds of the rendered objects served")


def _require_machine() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    try:
        control_plane_binaries().require()
    except LabError as error:
        pytest.fail(f"{error}: scripts/install-deps builds it for CI")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require_machine()
    made = start_cluster(tmp_path_factory.mktemp("agents") / "cluster")
    try:
        yield made
    finally:
        records = list(made.control_plane.processes.records)
        assert made.teardown() == [], "every control plane process stops"
        assert not [r for r in records if is_alive(r)], "a control plane process survived"
        assert not Path("/run/netns", made.netns).exists(), "the control plane's namespace survived"


def apply(client: ApiClient, objects: list[Object]) -> None:
    for obj in objects:
        client.create(object_path(obj), obj)


def delete(client: ApiClient, objects: list[Object]) -> None:
    for obj in reversed(objects):
        client.delete(object_path(obj, name=True))


class Case:
    """One stack on real speakers: hosts, the release's operator, the agents or kube-routers, pods."""

    def __init__(self, cluster: Cluster, stack: str, code: str, workdir: Path) -> None:
        self.cluster = cluster
        source = STACKS / stack
        path = source if source.parent == STACKS else with_lab_values(source, workdir / source.name)
        self.hosts = CaseHosts(cluster, path, code, workdir / "hosts")
        self.cfg = self.hosts.cfg
        self.workdir = workdir
        self.client = cluster.client
        self.plan = self.hosts.plan
        rendered = self.hosts.objects(method_manifests(self.cfg, self.plan) + demo_manifests(self.cfg))
        self.objects = [o for o in rendered if o["kind"] != "Deployment"]
        self.binaries = CiliumBinaries.for_version(self.cfg.cilium.version)
        self.operator: CiliumOperator | None = None
        self.agents: dict[str, CiliumAgent] = {}
        self.kube_routers: dict[str, KubeRouter] = {}
        self.pods: list[Pod] = []
        self.started_at = 0.0  # when the BGP speakers started (monotonic)
        (workdir / "servers").mkdir()
        self.servers = ClusterProcesses(workdir / "servers")
        self.nodes: list[Object] = []
        self.timings: dict[str, Any] = {"release": self.binaries.release, "method": self.cfg.method}
        TIMINGS[str(source.resolve().relative_to(REPO))] = self.timings

    @property
    def speaker_nodes(self) -> list[str]:
        return [n.name for n in self.cfg.nodes]

    def hold_static_pod_cidrs(self) -> None:
        """``podCidrSource: static`` says each node's CiliumNode holds the stack's ``podCIDRs``: the
        CiliumNodes are made with them before the agents start, as a cluster that has them looks
        (the operator's cluster-pool IPAM takes a CiliumNode's PodCIDRs as allocated, and the
        agent keeps them when it updates its CiliumNode), so the real speakers announce exactly
        what the stack says."""
        cidrs = static_pod_cidrs(self.cfg)
        for node in self.nodes:
            obj = cilium_node_object(node)
            obj["spec"]["ipam"] = {"podCIDRs": [str(c) for c in cidrs[node["metadata"]["name"]]]}
            self.client.create(resource_path("cilium.io/v2", "ciliumnodes"), obj)

    def up(self) -> None:
        self.hosts.build()
        self.binaries.require()
        core = [release_config_map(self.cfg, self.binaries)]
        core += [o for o in self.objects if not o["apiVersion"].startswith("cilium.io/")]
        apply(self.client, core)
        self.core = core
        self.operator = CiliumOperator(self.binaries, self.cluster.netns, self.cluster.kubeconfig, self.workdir / "op")
        self.operator.start(self.client)
        crs = [o for o in self.objects if o["apiVersion"].startswith("cilium.io/")]
        served(self.client, crs)
        apply(self.client, crs)
        for node in self.cfg.nodes:
            self.nodes.append(self.client.create_node(node.name, self.hosts.node_address(node.name)))
        if self.cfg.pod_cidr_source == "static":
            self.hold_static_pod_cidrs()
        # The program's server-side patches of Nodes it does not own (v1's router-id annotation),
        # before the release's agents start.
        for patch in node_patches(self.cfg, self.plan):
            meta = patch["metadata"]
            self.client.merge_patch(resource_path("v1", "nodes", name=meta["name"]), {"metadata": meta})
        self.cluster.control_plane.wait_nodes_ready(self.speaker_nodes)

    def start_speakers(self) -> None:
        """A cilium-agent on every node; for ``kube-router``, kube-router beside it (the program's
        advertise-only DaemonSet: Cilium keeps the datapath, kube-router speaks BGP)."""
        for name in self.speaker_nodes:
            agent = CiliumAgent(
                self.binaries, name, self.hosts.node_netns(name), self.cluster.kubeconfig, self.workdir / name
            )
            self.agents[name] = agent
            agent.start(self.client)
        with ThreadPoolExecutor(len(self.agents)) as pool:
            ready = dict(zip(self.agents, pool.map(lambda a: a.wait_ready(), self.agents.values()), strict=True))
        self.timings["agentReadySeconds"] = {n: r.seconds for n, r in ready.items()}
        self.started_at = min(a.started_at for a in self.agents.values())
        if self.cfg.method != "kube-router":
            self.timings["speakerReadySeconds"] = self.timings["agentReadySeconds"]
            return
        daemonset, container = daemonset_container(self.objects)
        for name in self.speaker_nodes:
            router = KubeRouter(kube_router_binary(), name, self.hosts.node_netns(name), daemonset, container,
                                self.workdir / f"{name}-kube-router")  # fmt: skip
            self.kube_routers[name] = router
            router.start(self.client, self.cluster.server, self.cluster.ca_pem)
        self.timings["speakerReadySeconds"] = {n: r.wait_ready() for n, r in self.kube_routers.items()}
        self.started_at = min(r.started_at for r in self.kube_routers.values())

    def record_memory(self) -> None:
        """Each node's memory (its cilium-agent, and kube-router beside it) and the operator's (one
        per cluster)."""
        agents = {n: rss_mib(a.record.pid) for n, a in self.agents.items()}
        routers = {n: rss_mib(r.pid) for n, r in self.kube_routers.items()}
        self.timings["agentRssMiB"] = agents
        if routers:
            self.timings["kubeRouterRssMiB"] = routers
        self.timings["nodeRssMiB"] = {n: round(agents[n] + routers.get(n, 0.0), 1) for n in agents}
        assert self.operator is not None
        self.timings["operatorRssMiB"] = rss_mib(self.operator.processes.records[-1].pid)

    def pod_cidrs(self) -> dict[str, list[IPv4Network]]:
        """Each node's PodCIDRs as the cluster allocated them: the CiliumNode's (cluster-pool IPAM)
        or the Node's ``spec.podCIDRs`` (Kubernetes IPAM, kube-router)."""

        def allocated() -> tuple[dict[str, list[IPv4Network]], list[str]]:
            found: dict[str, list[IPv4Network]] = {}
            for name in self.speaker_nodes:
                if self.cfg.method == "kube-router":
                    obj = self.client.get(resource_path("v1", "nodes", name=name))
                    cidrs = obj.get("spec", {}).get("podCIDRs") or []
                else:
                    obj = self.client.find(resource_path("cilium.io/v2", "ciliumnodes", name=name)) or {}
                    cidrs = obj.get("spec", {}).get("ipam", {}).get("podCIDRs") or []
                found[name] = [ip_network(c) for c in cidrs]  # type: ignore[misc]
            return found, [f"{n}: no PodCIDR yet" for n, c in found.items() if not c]

        return wait_until(allocated, POD_CIDRS, f"PodCIDRs of {', '.join(self.speaker_nodes)}").value

    def lb_ips(self) -> list[str]:
        demo = self.cfg.demo
        if demo is None or self.cfg.load_balancer is None:
            return []
        path = resource_path("v1", "services", demo.namespace, demo.name)

        def assigned() -> tuple[list[str], list[str]]:
            obj = self.client.get(path)
            ips = [i.get("ip", "") for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
            return ips, [] if ips else [f"{demo.name}: status.loadBalancer.ingress is empty"]

        return wait_until(assigned, LB_IP, f"LB IPAM for {demo.namespace}/{demo.name}").value

    def expected(self, down: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
        """Router host -> what it should have (``down``: nodes whose speaker is gone)."""
        cidrs, lb = self.pod_cidrs(), self.lb_ips()
        return {
            host.host: expected_state(self.plan, self.plan.router(host.name), cidrs, lb, down=down)
            for host in self.hosts.topology.routers
        }

    def without_node(self, node: str) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, ...]]]:
        """What each router should have while ``node``'s speaker is gone, and the routes it must lose."""
        full, without = self.expected(), self.expected(frozenset({node}))
        return without, {h: tuple(sorted(set(full[h]["routes"]) - set(without[h]["routes"]))) for h in full}

    def wait_routed(
        self,
        expect: dict[str, dict[str, Any]],
        withdrawn: dict[str, tuple[str, ...]] | None = None,
        what: str = "",
        running: bool = True,
    ) -> float:
        """Wait until every router has the ``expect``ed sessions and routes (the program's checker),
        and the upstream peer the client plays, where the stack has one, every prefix via the
        routers that announce it; seconds it took. ``running``: every agent must be running
        meanwhile."""
        budget = Budget("convergence (verify.timeoutSeconds)", self.cfg.verify.timeout_seconds)
        upstream = self.hosts.upstream_expected(expect)

        def probe() -> tuple[None, list[str]]:
            for speaker in [*self.agents.values(), *self.kube_routers.values()] if running else ():
                speaker.check_running()
            problems = []
            for host, router in self.hosts.routers.items():
                view = observe_router(router, router.netns)
                gone = (withdrawn or {}).get(host, ())
                problems += [f"{host}: {p}" for p in route_problems(expect[host], view, withdrawn=gone)]
            if upstream is not None and self.hosts.upstream is not None:
                view = observe_router(self.hosts.upstream, self.hosts.upstream.netns)
                gone = tuple(sorted({p for h in (withdrawn or {}).values() for p in h}))
                problems += [f"upstream (client): {p}" for p in route_problems(upstream, view, withdrawn=gone)]
            return None, problems

        return wait_until(probe, budget, what or "every session and route on the routers").elapsed

    def program_check(self, host: str, expect: dict[str, Any]) -> dict[str, Any]:
        """``pulumi up``'s own router check: ``bgp_status.py`` through ``verify_command``, the script on
        stdin, in the router's namespace with the daemon's CLI as the lab runs it."""
        router = self.hosts.routers[host]
        daemon = self.plan.router(self.hosts.topology.router(host).name).daemon
        command = verify_command(daemon, expect, 30, options=router.status_options())
        proc = run(["sh", "-c", command], netns=router.netns, stdin=status_script_source(), check=False, timeout=60)
        try:
            report: dict[str, Any] = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"the program's router check printed no JSON (exit {proc.returncode})") from None
        assert proc.returncode == 0 and report.get("ok") is True, f"the program's router check: {report}"
        return report

    def add_demo_pod(self, node: str) -> Pod:
        agent = self.agents[node]
        name = f"whoami-{node}"
        netns_name = topology_netns_name(self.hosts.topology.lab_id, f"pod-{node}")
        self.hosts.add_netns(netns_name)
        pod = add_pod(self.client, agent, self.cfg.demo.namespace if self.cfg.demo else "default", name,
                      DEMO_LABELS, netns_name)  # fmt: skip
        self.pods.append(pod)
        # The demo container's stand-in: an HTTP server on the Service's targetPort whose one file
        # names the pod, so an answer through the LB IP says which backend it reached.
        root = self.workdir / "www" / name
        root.mkdir(parents=True)
        (root / name).write_text(name)
        self.servers.start(name, ["python3", "-m", "http.server", "-d", str(root), str(DEMO_PORT)], netns=netns_name)
        return pod

    def down(self) -> list[str]:
        left: list[str] = []
        left += self.servers.stop([p.name for p in self.pods])
        for pod in self.pods:
            left += delete_pod(self.client, self.agents.get(pod.node), pod)
        for speaker in [*self.agents.values(), *self.kube_routers.values()]:
            left += speaker.stop()
        if self.operator is not None:
            left += self.operator.stop()
        delete(self.client, self.objects)
        delete(self.client, getattr(self, "core", []))
        for name in self.speaker_nodes:
            self.client.delete(resource_path("v1", "nodes", name=name))
            self.client.delete(resource_path("cilium.io/v2", "ciliumnodes", name=name))
        self.hosts.teardown()
        return left


def remote_router_ids(router: FrrRouter | BirdDaemon) -> dict[str, str]:
    """Peer address -> the BGP identifier it sent: FRR's ``remoteRouterId``, BIRD's ``Neighbor ID``."""
    if isinstance(router, FrrRouter):
        neighbors = router.vtysh_json("show bgp neighbors json")
        return {a: str(n.get("remoteRouterId", "")) for a, n in neighbors.items() if isinstance(n, dict)}
    return {a: str(p.get("neighbor id", "")) for a, p in router.bgp_sessions().items()}


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return round(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024, 1)


def ping(netns: str, dst: IPv4Address | str) -> int:
    """Ping ``dst`` from ``netns`` until it answers (within :data:`PINGS`); the reply's TTL."""

    def probe() -> tuple[int, list[str]]:
        proc = run(["ping", "-n", "-c1", "-W1", str(dst)], netns=netns, check=False, timeout=10)
        ttl = [w.split("=")[1] for w in proc.stdout.split() if w.startswith("ttl=")]
        return (int(ttl[0]) if ttl else 0), [] if proc.returncode == 0 else [f"ping {dst} from {netns}: no reply"]

    return wait_until(probe, PINGS, f"ping {dst} from {netns}").value


def http_get(netns: str, ip: str) -> str:
    """``GET http://ip/`` from ``netns`` until it answers (within :data:`PINGS`); the body."""
    fetch = (
        "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"
    )

    def probe() -> tuple[str, list[str]]:
        proc = run(["python3", "-c", fetch, f"http://{ip}:{DEMO_PORT}/"], netns=netns, check=False, timeout=10)
        lines = proc.stderr.strip().splitlines()
        return proc.stdout, [] if proc.returncode == 0 else [f"GET http://{ip}/ from {netns}: {lines[-1:]}"]

    return wait_until(probe, PINGS, f"GET http://{ip}/ from {netns}").value


@pytest.fixture(scope="class")
def case(request: pytest.FixtureRequest, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    """The case of the test's class (its ``STACK`` and ``CODE``), up for all its steps."""
    stack, code = request.cls.STACK, request.cls.CODE
    case = Case(cluster, stack, code, tmp_path_factory.mktemp(code))
    try:
        case.up()
        yield case
    finally:
        left = case.down()
        assert left == [], f"{stack}: left behind: {left}"


class CiliumSteps:
    """The steps every Cilium case goes through, in order."""

    STACK: ClassVar[str]
    CODE: ClassVar[str]

    def test_speakers_start_and_agents_hold_their_pod_cidr(self, case: Case) -> None:
        case.start_speakers()
        cidrs = case.pod_cidrs()
        if case.cfg.pod_cidr_source == "static":
            assert cidrs == static_pod_cidrs(case.cfg), f"the cluster's PodCIDRs {cidrs} are not the stack's"
        for name, agent in case.agents.items():
            assert list(agent.pod_cidrs()) == cidrs[name], (
                f"{name}: the agent holds {agent.pod_cidrs()}, the cluster allocated {cidrs[name]}"
            )

    def test_a_pod_through_the_cni_plugin(self, case: Case) -> None:
        pods = [case.add_demo_pod(name) for name in case.speaker_nodes]
        cidrs = case.pod_cidrs()
        for pod in pods:
            assert pod.address is not None and any(pod.address in c for c in cidrs[pod.node]), (pod, cidrs)

    def test_router_sees_sessions_pod_cidrs_and_lb_ip(self, case: Case) -> None:
        expect = case.expected()
        case.wait_routed(expect, what=f"{case.cfg.method} on {case.binaries.release}")
        case.timings["routedSecondsSinceSpeakerStart"] = round(time.monotonic() - case.started_at, 1)
        first = next(iter(expect.values()))
        case.timings["expected"] = first["routes"] if len(expect) == 1 else {h: e["routes"] for h, e in expect.items()}
        case.record_memory()
        for host, want in expect.items():
            case.program_check(host, want)

    def test_router_sees_each_nodes_router_id(self, case: Case) -> None:
        """The BGP identifier each node's speaker sends: ``nodes[].routerId`` where the stack sets
        one (v1's Node annotation, v2's CiliumBGPNodeConfigOverride, MetalLB's per-node peer),
        else the node's address, as the config reference says."""
        ids = {str(n.ip): str(n.effective_router_id) for n in case.cfg.nodes}
        seen = set()
        for host, router in case.hosts.routers.items():
            sessions = case.plan.router(case.hosts.topology.router(host).name).sessions
            want = {a: i for a, i in ids.items() if a in {str(s.node_address) for s in sessions}}
            if not want:
                continue  # a router no node peers with (a route reflector)
            got = remote_router_ids(router)
            assert {a: got.get(a) for a in want} == want, f"router-ids {host} sees: {got}, expected {want}"
            seen |= set(want)
        assert seen == set(ids), f"nodes no router peers with: {sorted(set(ids) - seen)}"

    def test_the_client_reaches_each_pod(self, case: Case) -> None:
        for pod in case.pods:
            assert pod.address is not None
            ping(case.hosts.topology.client.netns, pod.address)

    def test_the_client_reaches_the_lb_ip(self, case: Case) -> None:
        for ip in case.lb_ips():
            answer = http_get(case.hosts.topology.client.netns, ip)
            assert any(p.name in answer for p in case.pods), f"http://{ip}/ answered {answer[:200]!r}"

    def test_a_frozen_speaker_is_withdrawn_within_the_hold_time_and_back_after_resume(self, case: Case) -> None:
        """SIGSTOP on the first node's BGP speaker (its cilium-agent, or kube-router) keeps its TCP
        sessions open but silent: the router must drop its routes when the hold time the program
        rendered (``failover: fast``) runs out, and take them back after SIGCONT."""
        expect = case.expected()
        node = case.cfg.nodes[0]
        without, withdrawn = case.without_node(node.name)
        pid = case.kube_routers[node.name].pid if case.kube_routers else case.agents[node.name].record.pid
        hold = case.plan.timers.hold
        assert hold is not None, "the real-speaker stacks set short timers (failover: fast)"
        os.kill(pid, signal.SIGSTOP)
        try:
            gone = case.wait_routed(without, withdrawn, f"{node.name}'s routes withdrawn")
            case.timings["frozenWithdrawnSeconds"] = gone
            # The router notices when the hold timer expires; a few seconds for its own rounds.
            assert gone <= hold + 3, f"withdrawn after {gone} s, hold time {hold} s"
        finally:
            os.kill(pid, signal.SIGCONT)
        case.timings["resumedBackSeconds"] = case.wait_routed(expect, what=f"{node.name} back after SIGCONT")


class TwoNodeSteps(CiliumSteps):
    """The steps of a case with nodes on two subnets: pod to pod crosses the router."""

    # Routers between a pod on the first node and one on the first node of another subnet.
    ROUTER_HOPS: ClassVar[int] = 1

    def test_pod_to_pod_across_the_router(self, case: Case) -> None:
        subnet = {n.name: n.address.network for n in case.cfg.nodes}
        first = case.pods[0]
        second = next(p for p in case.pods if subnet[p.node] != subnet[first.node])
        assert first.address is not None and second.address is not None
        ttl = ping(first.netns, second.address)
        back = ping(second.netns, first.address)
        case.timings["podToPodTtl"] = [ttl, back]
        # Both nodes route, and so does each router on the way.
        hops = 2 + self.ROUTER_HOPS
        assert ttl == back == 64 - hops, f"pod to pod replies with TTL {ttl} and {back}: not {hops} hops?"


@pytest.mark.usefixtures("cluster")
class TestV1On114(TwoNodeSteps):
    """First in the module: an operator registers Cilium's CRDs only where the installed ones are
    older, so after a newer release's operator the module's one API server would serve 1.16's
    CiliumLoadBalancerIPPool, which has no ``spec.cidrs`` (1.14's pool form) and prunes it."""

    STACK = "Pulumi.agents-v1-1.14.yaml"
    CODE = "v4"


@pytest.mark.usefixtures("cluster")
class TestMetallbOn116(CiliumSteps):
    STACK = "Pulumi.agents-metallb-1.16.yaml"
    CODE = "ml"


@pytest.mark.usefixtures("cluster")
class TestV2alpha1On116(CiliumSteps):
    STACK = "Pulumi.agents-v2alpha1-1.16.yaml"
    CODE = "va"


@pytest.mark.usefixtures("cluster")
class TestV1PairOn116(TwoNodeSteps):
    """v1 with a redundant pair (BIRD and FRR) and a password (``authSecretRef``, which 1.14 lacks)."""

    STACK = "Pulumi.agents-v1-pair-1.16.yaml"
    CODE = "v1"


@pytest.mark.usefixtures("cluster")
class TestV2On118(TwoNodeSteps):
    STACK = "Pulumi.agents-v2-1.18.yaml"
    CODE = "v2"

    def test_a_restarted_agent_announces_again(self, case: Case) -> None:
        expect = case.expected()
        node = case.cfg.nodes[1]
        agent = case.agents[node.name]
        assert agent.stop_process() == [], "the agent stops"
        without, withdrawn = case.without_node(node.name)
        case.timings["stoppedWithdrawnSeconds"] = case.wait_routed(
            without, withdrawn, f"{node.name}'s routes withdrawn after its agent stopped", running=False
        )
        agent.start(case.client)
        ready = agent.wait_ready()
        case.timings["restartReadySeconds"] = ready.seconds
        case.timings["restartRoutedSeconds"] = case.wait_routed(expect, what=f"{node.name} back after a restart")
        pod = next(p for p in case.pods if p.node == node.name)
        assert pod.address is not None
        ping(case.hosts.topology.client.netns, pod.address)


@pytest.mark.usefixtures("cluster")
class TestKubeRouter(TwoNodeSteps):
    STACK = "Pulumi.agents-kube-router.yaml"
    CODE = "kr"


@pytest.mark.usefixtures("cluster")
class TestProdOn118(TwoNodeSteps):
    """The shipped ``Pulumi.prod.yaml`` (v2 on 1.18, a redundant pair of FRR routers, each node
    peering with both, prefix filters), on real agents in place of the GoBGP stand-in."""

    STACK = str(REPO / "Pulumi.prod.yaml")
    CODE = "pr"


@pytest.mark.usefixtures("cluster")
class TestLabMetallbOn116(TwoNodeSteps):
    """The lab suite's ``lab-metallb`` stack (per-subnet peers chosen by node selectors, FRR), on
    real agents in place of the GoBGP stand-in."""

    STACK = str(REPO / "tests" / "stacks" / "lab" / "Pulumi.lab-metallb.yaml")
    CODE = "lm"


class RackSteps(TwoNodeSteps):
    """A router per rack (``tor1``, ``tor2``) and a route-reflector pair (``rr1``, ``rr2``) on the
    fabric, the reflectors announcing to the upstream peer the client plays: pod to pod between
    racks crosses both racks' routers."""

    ROUTER_HOPS = 2


@pytest.mark.usefixtures("cluster")
class TestRackV1On118(RackSteps):
    """The lab suite's ``lab-rack-v1`` stack (v1, FRR and BIRD routers, static PodCIDRs) on real
    agents in place of the GoBGP stand-in."""

    STACK = str(REPO / "tests" / "stacks" / "lab" / "Pulumi.lab-rack-v1.yaml")
    CODE = "r1"


@pytest.mark.usefixtures("cluster")
class TestRackV2On118(RackSteps):
    """The lab suite's ``lab-rack-v2`` stack (v2, prefix filters on every router, static PodCIDRs)
    on real agents in place of the GoBGP stand-in."""

    STACK = str(REPO / "tests" / "stacks" / "lab" / "Pulumi.lab-rack-v2.yaml")
    CODE = "r2"


def test_every_case_measured_its_timings_and_memory() -> None:
    """Each case's time from its speakers' start to its last prefix on the router, and each node's
    memory, as ``benchmarks/results/agents.json`` records them (written to
    ``$CILIUM_BGP_AGENTS_RESULTS`` when set)."""
    keys = ("release", "method", "speakerReadySeconds", "nodeRssMiB", "routedSecondsSinceSpeakerStart")
    missing = {stack: [k for k in keys if k not in t] for stack, t in TIMINGS.items()}
    assert TIMINGS and not any(missing.values()), f"cases that did not measure everything: {missing}"
    text = json.dumps(TIMINGS, indent=1, sort_keys=True) + "\n"
    print("\n" + text)
    target = os.environ.get("CILIUM_BGP_AGENTS_RESULTS")
    if target:
        Path(target).write_text(text)
