"""cilium-agent on a lab node, as the release's DaemonSet pod on that node stands for it.

The agent runs in the node's network namespace, inside a mount namespace of its own
(``lab/k8s/agent-init.sh``): its own ``/run`` (so ``/var/run/cilium``: state and sockets), a
copy-on-write ``/etc``, its own bpffs on ``/sys/fs/bpf``, and its own cgroup as the root of a
cgroup namespace, so the socket load balancer's programs (attached to the cgroup2 root the agent
mounts) reach nothing of the machine. It is configured as the chart configures it:
``--config-dir`` on a directory holding the ``cilium-config`` ConfigMap, one file per key, read
through the API; ``K8S_NODE_NAME`` is the Node's name. A kubeconfig takes the place of the pod's
service account, ``--lib-dir`` holds the release's ``bpf/`` (the image's ``/var/lib/cilium``), and
the release's clang/llc wrappers come first on ``PATH``. Stopping the agent ends its mount
namespace, so its bpffs goes with it, and with it the links that hold its programs on the node's
interfaces; the cgroup it attached to is removed.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from lab.k8s.api import ApiClient
from lab.k8s.binaries import CiliumBinaries
from lab.k8s.cilium import config_lines, metallb_config_args, write_config_dir
from lab.k8s.processes import ClusterProcesses
from lab.process import ProcessRecord, is_alive
from lab.shell import LabError, log, run
from lab.wait import Budget, DeadlinePassed, wait_until

# A cold agent compiles its datapath with clang first: tens of seconds on two loaded cores.
AGENT_READY = Budget("cilium-agent ready", 240)
ROLE = "cilium-agent"
AGENT_INIT = Path(__file__).with_name("agent-init.sh")
# What the agent finds on a node's PATH besides the release's clang/llc: bpftool, iptables, ip.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cgroup2_root() -> Path:
    """Where this process sees its own cgroup in the cgroup2 hierarchy (hybrid or unified)."""
    mount = next(
        (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if " - cgroup2 " in line),
        None,
    )
    if mount is None:
        raise LabError("no cgroup2 hierarchy is mounted: the agent's socket load balancer needs a cgroup of its own")
    own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    return Path(mount) / own.lstrip("/")


def agent_cgroup(netns: str) -> Path:
    """The cgroup of the agent on the node of ``netns`` (one agent per node at a time)."""
    return cgroup2_root() / f"{netns}-{ROLE}"


def node_paths(data: Mapping[str, str]) -> dict[str, str]:
    """``data`` with the DaemonSet's view of the node's files made the lab node's own: the chart
    mounts the node's ``/etc/cni/net.d``, ``/proc`` ... at ``/host/...`` in the container (e.g.
    ``write-cni-conf-when-ready``, ``procfs``); the lab's agent sees the node's paths themselves, its
    ``/etc`` copy-on-write."""
    return {k: v[len("/host") :] if v.startswith("/host/") else v for k, v in data.items()}


def agent_argv(binaries: CiliumBinaries, kubeconfig: Path, config_dir: Path, lib_dir: Path) -> list[str]:
    """The DaemonSet's ``cilium-agent --config-dir=...``, with a kubeconfig in place of the pod's
    service account and ``--lib-dir`` in place of the image's ``/var/lib/cilium``."""
    return [
        str(binaries.agent),
        f"--config-dir={config_dir}",
        f"--k8s-kubeconfig-path={kubeconfig}",
        f"--lib-dir={lib_dir}",
    ]


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the agent's API socket, reached through a directory descriptor (a socket path is
    limited to 108 bytes; a lab's work directory may be longer)."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        directory = os.open(self.socket_path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(f"/proc/self/fd/{directory}/{self.socket_path.name}")
            except OSError:
                sock.close()
                raise
            self.sock = sock
        finally:
            os.close(directory)


def api_get(socket_path: Path, path: str, timeout: float = 5.0) -> Any:
    """GET ``path`` of the agent's REST API (``/v1/...``) over its unix socket, as ``cilium-dbg`` does."""
    connection = _UnixConnection(socket_path, timeout)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        answer = connection.getresponse()
        body = answer.read().decode()
    except OSError as error:
        raise LabError(f"cilium-agent API {path}: {error}") from None
    finally:
        connection.close()
    if answer.status != 200:
        raise LabError(f"cilium-agent API {path}: {answer.status} {body.strip()[:200]}")
    return json.loads(body)


def health_problems(status: Mapping[str, Any]) -> list[str]:
    """What ``/v1/healthz`` says is not ready yet: the agent's own state and its Kubernetes link."""
    problems = []
    for part in ("cilium", "kubernetes"):
        state = (status.get(part) or {}).get("state")
        if state != "Ok":
            problems.append(f"{part}: {state or 'no state'} {(status.get(part) or {}).get('msg', '')}".rstrip())
    return problems


def pod_cidr_route_problems(netns: str, pod_cidrs: list[IPv4Network]) -> list[str]:
    """``cilium_host`` up and a route for each PodCIDR through it (native routing)."""
    links = json.loads(run(["ip", "-n", netns, "-j", "link", "show", "dev", "cilium_host"], check=False).stdout or "[]")
    if not links:
        return ["no cilium_host yet"]
    if "UP" not in links[0].get("flags", []):
        return ["cilium_host is not up"]
    routes = json.loads(run(["ip", "-n", netns, "-j", "-4", "route", "show", "dev", "cilium_host"]).stdout or "[]")
    have = {r["dst"] for r in routes}
    return [f"no route {c} via cilium_host (have {sorted(have)})" for c in pod_cidrs if str(c) not in have]


@dataclass(frozen=True)
class AgentReady:
    seconds: float  # from the start to ready
    rss_mib: float
    pod_cidrs: tuple[IPv4Network, ...]


@dataclass
class CiliumAgent:
    """cilium-agent of ``binaries`` for Node ``node`` in ``netns``, from ConfigMap ``namespace``/``name``."""

    binaries: CiliumBinaries
    node: str
    netns: str
    kubeconfig: Path
    workdir: Path
    namespace: str = "kube-system"
    name: str = "cilium-config"
    processes: ClusterProcesses = field(init=False)
    cgroup: Path = field(init=False)
    owns_workdir: bool = field(init=False, default=False)
    started_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.processes = ClusterProcesses(self.workdir)
        self.cgroup = agent_cgroup(self.netns)

    @property
    def config_dir(self) -> Path:
        return self.workdir / "config-map"

    @property
    def run_dir(self) -> Path:
        """The agent's ``/run``, as the machine sees it."""
        return self.workdir / "run"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "cilium" / "cilium.sock"

    @property
    def record(self) -> ProcessRecord:
        return next(r for r in reversed(self.processes.records) if r.role == ROLE)

    def start(self, client: ApiClient) -> None:
        """Start the agent from the ConfigMap as it is now (it does not wait: :meth:`wait_ready`)."""
        self.binaries.require()
        if any(is_alive(r) for r in self.processes.records):
            raise LabError(f"cilium-agent on {self.node} is running already")
        # A restart: the stopped process is no longer checked, its log goes on.
        self.processes = ClusterProcesses(self.workdir)
        data = client.config_map(self.namespace, self.name)
        if not self.owns_workdir:
            self.workdir.mkdir(parents=True)
            self.owns_workdir = True
        try:
            write_config_dir(node_paths(data), self.config_dir)
            lib = self.workdir / "lib"
            lib.mkdir(exist_ok=True)
            if not (lib / "bpf").exists():
                (lib / "bpf").symlink_to(self.binaries.bpf)
            self.cgroup.mkdir(exist_ok=True)
            log.info("cilium-agent %s on %s from %s/%s:\n  %s", self.binaries.release, self.node, self.namespace,
                     self.name, "\n  ".join(config_lines(data)))  # fmt: skip
            env = {
                "K8S_NODE_NAME": self.node,
                "CILIUM_K8S_NAMESPACE": self.namespace,
                "PATH": f"{self.binaries.tool_path}:{SYSTEM_PATH}",
            }
            argv = ["sh", str(AGENT_INIT), str(self.workdir), self._cgroup_name()]
            argv += agent_argv(self.binaries, self.kubeconfig, self.config_dir, lib)
            argv += metallb_config_args(client, self.namespace, data, lib / "bgp")
            self.started_at = time.monotonic()
            self.processes.start(ROLE, argv, netns=self.netns, env=env)
        except BaseException:
            self.stop()
            raise

    def _cgroup_name(self) -> str:
        """The agent's cgroup as agent-init.sh's own cgroup2 mount (the cgroup namespace's) names it."""
        own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
        return f"{own.strip('/')}/{self.cgroup.name}".lstrip("/")

    def check_running(self) -> None:
        self.processes.check_running(ROLE)

    def healthz(self) -> dict[str, Any]:
        return dict(api_get(self.socket_path, "/v1/healthz"))

    def pod_cidrs(self) -> list[IPv4Network]:
        """The PodCIDR the agent announces for its node (``/v1/cluster/nodes``, its own entry)."""
        nodes = api_get(self.socket_path, "/v1/cluster/nodes")
        own = next((n for n in nodes.get("nodes-added") or [] if n.get("name") == self.node), None)
        cidr = ((own or {}).get("primary-address") or {}).get("ipv4", {}).get("alloc-range")
        return [IPv4Network(cidr)] if cidr else []

    def readiness(self) -> tuple[list[IPv4Network], list[str]]:
        """The agent's PodCIDRs and what keeps it from being ready (empty: ready): it says it is
        healthy and its PodCIDR routes through ``cilium_host``. Raises when the agent exited."""
        self.check_running()
        try:
            problems = health_problems(self.healthz())
        except LabError as error:
            return [], [str(error)]
        if problems:
            return [], problems
        cidrs = self.pod_cidrs()
        if not cidrs:
            return [], ["the agent holds no PodCIDR yet"]
        return cidrs, pod_cidr_route_problems(self.netns, cidrs)

    def wait_ready(self, budget: Budget = AGENT_READY) -> AgentReady:
        """Wait until the agent is ready (:meth:`readiness`)."""
        try:
            waited = wait_until(
                self.readiness, budget, f"cilium-agent {self.binaries.release} on {self.node}", interval=0.5
            )
        except DeadlinePassed as error:
            raise LabError(f"{error}\ncilium-agent log:\n{self.processes.log_tail(ROLE, 25)}") from None
        seconds = round(time.monotonic() - self.started_at, 1)
        ready_state = AgentReady(seconds, self.rss_mib(), tuple(waited.value))
        log.info("cilium-agent %s on %s ready in %.1f s, RSS %.0f MiB", self.binaries.release, self.node, seconds,
                 ready_state.rss_mib)  # fmt: skip
        return ready_state

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.record.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return round(kib / 1024, 1)

    def enter(self) -> list[str]:
        """The argv prefix that runs a command where the agent runs (its network and mount namespace),
        as the node's container runtime runs the CNI plugin beside it."""
        return ["nsenter", f"--target={self.record.pid}", "--mount", "--net", "--"]

    def stop_process(self) -> list[str]:
        """Stop the agent (SIGTERM, SIGKILL after the budget), keeping its directory for a restart."""
        return self.processes.stop([ROLE])

    def stop(self) -> list[str]:
        """Stop the agent, remove its cgroup and its directory. Returns what did not go."""
        left = self.processes.stop([ROLE])
        if self.cgroup.exists():
            try:
                self.cgroup.rmdir()
            except OSError as error:
                left.append(f"cgroup {self.cgroup}: {error}")
        if not left and self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.owns_workdir = False
        return left
