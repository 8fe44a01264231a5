"""The cluster of a hosts-mode lab whose stack has Kubernetes (a cluster lab).

::

    root namespace        cbgp-<id>-mgmt          cbgp-<id>-cp (the control plane's host)
    cbgpm-<id> .1/24 ==== [br0] ================= mgmt0 198.18.0.254  <- the engine, the lab
                                                  eth0  k8sServiceHost on a router subnet
                                                   |    <- nodes, through the router
                          router ------------------'
    etcd, kube-apiserver (port cilium.k8sServicePort), kube-controller-manager, kube-scheduler and
    kwok run in the control plane's host; one Node object per stack node (kwok is its kubelet);
    the pod runner (``lab.k8s.podrunner``, in the root namespace) is the kubelet of the pods the
    lab runs for real: cilium-operator and cilium-agent in their node's namespace.

The agents are real for every method whose speakers they are (:func:`runs_agents`); the lab then
gives the nodes no ``cilium_host`` of its own, the agents make theirs. With method ``bird`` Cilium
is only the CNI and BIRD on the nodes announces: the pod runner's ``AgentStandIn``
(``lab.k8s.agent_standin``) registers the CiliumNodes in the agents' place one node after the
other, so the operator allocates the PodCIDRs the lab planned with, and the lab's stand-in
``cilium_host`` holds the address the lab's pings use (real agents register at once and give
``cilium_host`` a router address of their own choosing).

The control plane sits where a real one sits for the nodes: behind the router, at the address the
release gives the agents (``cilium.k8sServiceHost``), so whatever runs on a node reaches the API
server as it would in the user's cluster. The Pulumi engine is no node: it reaches the API server
like an administrator's machine, over the management network. The router forwards from the start
(a cluster spanning subnets exists before the program runs); the program's sysctl file makes that
persistent as before.

Everything is recorded before it exists: the work directory (credentials, etcd's data, logs,
kubeconfigs) in the state's directories, the runner as a lab process, the cluster's processes in
their own record files; :func:`stop_cluster` stops them in order and the teardown removes the rest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from cilium_bgp.config import StackConfig
from lab.hostsplan import HostsPlan
from lab.k8s.agent import agent_cgroup
from lab.k8s.api import ApiClient
from lab.k8s.binaries import CiliumBinaries, control_plane_binaries
from lab.k8s.control_plane import ControlPlane, ControlPlaneSpec
from lab.k8s.credentials import Credentials
from lab.k8s.podrunner import RunnerConfig
from lab.k8s.processes import stop_recorded
from lab.plan import LabPlan
from lab.process import ProcessRecord, is_alive, record_process, stop_processes
from lab.shell import LabError, log, run
from lab.state import LabState

ROOT = Path(__file__).resolve().parent.parent.parent
RUNNER_ROLE = "cluster/pod-runner"
RUNNER_CONFIG = "podrunner.json"


def runs_agents(cfg: StackConfig) -> bool:
    """Whether a cluster lab of ``cfg`` runs real cilium-agents (see the module's docstring)."""
    return cfg.method != "bird"


def cluster_dir(workdir: Path) -> Path:
    return workdir / "cluster"


def engine_kubeconfig(workdir: Path) -> Path:
    """The kubeconfig for the stack (the API server at its management address)."""
    return cluster_dir(workdir) / "kubeconfig"


def start_cluster(plan: LabPlan, hosts: HostsPlan, workdir: Path, state: LabState) -> dict[str, Any]:
    """Start the control plane, register the Nodes, start the pod runner; the timings."""
    cfg, cp_host = plan.cfg, plan.topology.control_plane
    if cp_host is None or hosts.control_plane is None:
        raise LabError("not a cluster lab: the stack has no control plane host")
    binaries = control_plane_binaries().require()
    CiliumBinaries.for_version(cfg.cilium.version).require()
    directory = cluster_dir(workdir)
    state.add("directories", str(directory))
    directory.mkdir(mode=0o700)
    server = f"https://{hosts.control_plane}:{cfg.cilium.k8s_service_port}"
    state.set_cluster({"dir": str(directory), "server": server, "kubeconfig": str(engine_kubeconfig(workdir))})
    # A cluster spanning subnets exists before the program: its router forwards already.
    run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], netns=plan.topology.router_netns)
    spec = ControlPlaneSpec(
        cp_host.netns, cp_host.address.ip, hosts.control_plane, directory / "control-plane",
        port=int(cfg.cilium.k8s_service_port or 0),
    )  # fmt: skip
    control_plane = ControlPlane(spec, binaries)
    control_plane.start()
    client = control_plane.client()
    for node in cfg.nodes:
        client.create_node(node.name, node.ip)
    control_plane.wait_nodes_ready([n.name for n in cfg.nodes])
    control_plane.kubeconfig(hosts.control_plane).rename(engine_kubeconfig(workdir))
    runner = RunnerConfig(
        server=client.server,
        pki=str(control_plane.creds.directory),
        kubeconfig=str(control_plane.kubeconfig(cp_host.address.ip)),
        workdir=str(directory / "pods"),
        nodes={n.name: {"netns": n.netns, "address": str(n.address.ip)} for n in plan.topology.nodes},
        real_agents=runs_agents(cfg),
    )
    state.add_process(_start_runner(runner.save(directory / RUNNER_CONFIG), directory / "podrunner.log"))
    return {"apiServer": client.server, "kubernetes": client.version()}


def _start_runner(config: Path, log_file: Path) -> ProcessRecord:
    with log_file.open("ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "lab.k8s.podrunner", str(config)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return record_process(RUNNER_ROLE, child.pid)


def stop_cluster(state: LabState) -> list[str]:
    """Stop the pod runner (it stops what it started), then whatever a pod's or the control
    plane's record still names (clients first, etcd last). Returns what was stopped."""
    directory = state.cluster.get("dir")
    if not directory:
        return []
    stopped = []
    runners = [r for r in (ProcessRecord(**p) for p in state.processes) if r.role == RUNNER_ROLE and is_alive(r)]
    stop_processes(runners)
    stopped += [f"process {r.role} ({r.pid})" for r in runners]
    records = [*sorted(Path(directory, "pods").glob("*")), Path(directory, "control-plane", "logs")]
    for record_dir in records:
        left = stop_recorded(record_dir)
        if left:
            log.error("cluster processes left running: %s", ", ".join(left))
    # The runner removes its agents' cgroups; a runner that was killed first cannot.
    config = Path(directory, RUNNER_CONFIG)
    for node in RunnerConfig.load(config).nodes.values() if config.exists() else ():
        cgroup = agent_cgroup(node["netns"])
        if cgroup.exists():
            try:
                cgroup.rmdir()
                stopped.append(f"cgroup {cgroup}")
            except OSError as error:
                log.error("cgroup %s: %s", cgroup, error)
    return stopped


def lab_client(state: LabState) -> ApiClient:
    """The lab's own client of a cluster lab's API server (over the management network)."""
    directory = state.cluster.get("dir")
    if not directory:
        raise LabError(f"lab {state.lab_id} runs no cluster")
    return ApiClient(state.cluster["server"], Credentials(Path(directory, "control-plane", "pki")))
