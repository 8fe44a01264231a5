"""A Kubernetes control plane in one network namespace: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, and kwok in place of the kubelets.

The caller creates the namespace and its addresses; the control plane owns a work directory
(credentials, etcd's data, logs, kubeconfigs) and its processes, and removes both on ``stop``,
also when ``start`` fails half-way.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from lab.k8s.api import ApiClient, ApiError, Object, condition, resource_path
from lab.k8s.binaries import ControlPlaneBinaries
from lab.k8s.credentials import Credentials, make_credentials, write_kubeconfig
from lab.k8s.kwok import lab_stages
from lab.k8s.pods import REAL_PODS
from lab.k8s.processes import ClusterProcesses
from lab.shell import LabError, log
from lab.wait import Budget, DeadlinePassed, wait_until

APISERVER_READY = Budget("kube-apiserver ready", 90)
LEADER_ELECTED = Budget("controller leader elected", 60)
NODES_READY = Budget("nodes Ready", 60)
ETCD_CLIENT = "http://127.0.0.1:2379"
SERVICE_CIDR = IPv4Network("10.96.0.0/16")
# Stop order: the API server's clients first, etcd last (the API server hangs on without etcd).
STOP_ORDER = ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")


@dataclass(frozen=True)
class ControlPlaneSpec:
    """Where the control plane runs and what it allocates.

    ``address``: the API server's address in ``netns`` (what nodes and agents use);
    ``management_address``: the address the lab's own process (and the Pulumi engine) reaches it
    at from the root namespace. ``cluster_cidr`` set: kube-controller-manager allocates each Node a
    ``spec.podCIDR`` of ``node_cidr_mask_size`` (Kubernetes IPAM, as kube-router uses).
    """

    netns: str
    address: IPv4Address
    management_address: IPv4Address
    workdir: Path
    port: int = 6443
    service_cidr: IPv4Network = SERVICE_CIDR
    cluster_cidr: IPv4Network | None = None
    node_cidr_mask_size: int = 24


def etcd_argv(etcd: Path, data_dir: Path) -> list[str]:
    peer = "http://127.0.0.1:2380"
    return [
        str(etcd), "--name", "lab", "--data-dir", str(data_dir),
        "--listen-client-urls", ETCD_CLIENT, "--advertise-client-urls", ETCD_CLIENT,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"lab={peer}",
        # Throwaway data on a shared, loaded machine: no fsync per write.
        "--unsafe-no-fsync",
    ]  # fmt: skip


def apiserver_argv(apiserver: Path, spec: ControlPlaneSpec, creds: Credentials, cert_dir: Path) -> list[str]:
    return [
        str(apiserver), "--etcd-servers", ETCD_CLIENT,
        "--advertise-address", str(spec.address), "--secure-port", str(spec.port),
        "--cert-dir", str(cert_dir),
        "--tls-cert-file", str(creds.serving_cert), "--tls-private-key-file", str(creds.serving_key),
        "--service-account-key-file", str(creds.service_account_pub),
        "--service-account-signing-key-file", str(creds.service_account_key),
        "--service-account-issuer", "https://kubernetes.default.svc",
        "--token-auth-file", str(creds.token_file),
        "--authorization-mode", "RBAC",
        # The Cilium chart's DaemonSet has privileged init containers.
        "--allow-privileged=true",
        "--service-cluster-ip-range", str(spec.service_cidr),
        "--shutdown-delay-duration", "0s",
    ]  # fmt: skip


def controller_manager_argv(kcm: Path, spec: ControlPlaneSpec, kubeconfig: Path, creds: Credentials) -> list[str]:
    argv = [
        str(kcm), "--kubeconfig", str(kubeconfig),
        "--authentication-kubeconfig", str(kubeconfig), "--authorization-kubeconfig", str(kubeconfig),
        "--bind-address", "127.0.0.1", "--cert-dir", str(spec.workdir / "kcm-certs"),
        "--service-account-private-key-file", str(creds.service_account_key),
        "--root-ca-file", str(creds.ca_cert),
        "--service-cluster-ip-range", str(spec.service_cidr),
    ]  # fmt: skip
    if spec.cluster_cidr is None:
        return [*argv, "--allocate-node-cidrs=false"]
    return [
        *argv, "--allocate-node-cidrs=true", "--cluster-cidr", str(spec.cluster_cidr),
        "--node-cidr-mask-size", str(spec.node_cidr_mask_size),
    ]  # fmt: skip


def scheduler_argv(scheduler: Path, spec: ControlPlaneSpec, kubeconfig: Path) -> list[str]:
    return [
        str(scheduler), "--kubeconfig", str(kubeconfig),
        "--authentication-kubeconfig", str(kubeconfig), "--authorization-kubeconfig", str(kubeconfig),
        "--bind-address", "127.0.0.1", "--cert-dir", str(spec.workdir / "scheduler-certs"),
    ]  # fmt: skip


def kwok_argv(kwok: Path, kubeconfig: Path, stages: list[Path]) -> list[str]:
    """kwok plays every node's kubelet: Nodes turn Ready (and keep a heartbeat), Pods bound to them
    turn Running and Ready without any container (but those the lab runs for real: ``lab.k8s.kwok``)."""
    argv = [str(kwok), "--kubeconfig", str(kubeconfig), "--manage-all-nodes=true"]
    for stage in stages:
        argv += ["--config", str(stage)]
    return argv


@dataclass
class ControlPlane:
    spec: ControlPlaneSpec
    binaries: ControlPlaneBinaries
    processes: ClusterProcesses = field(init=False)
    creds: Credentials = field(init=False)
    owns_workdir: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.processes = ClusterProcesses(self.spec.workdir / "logs")
        self.creds = Credentials(self.spec.workdir / "pki")

    def server(self, address: IPv4Address | str) -> str:
        return f"https://{address}:{self.spec.port}"

    def kubeconfig(self, address: IPv4Address | str) -> Path:
        """A kubeconfig reaching the API server at ``address`` (one of the certificate's SANs)."""
        return write_kubeconfig(self.spec.workdir / f"kubeconfig-{address}", self.server(address), self.creds)

    def client(self) -> ApiClient:
        """The lab's own client, over the management address."""
        return ApiClient(self.server(self.spec.management_address), self.creds)

    def start(self) -> None:
        """Start everything and wait until the API server answers and both controllers lead; on any
        failure stop what started and remove the work directory, then raise."""
        self.binaries.require()
        if self.spec.workdir.exists():
            raise LabError(f"{self.spec.workdir} exists: another control plane uses it")
        try:
            self._start()
        except BaseException:
            left = self.stop()
            if left:
                log.error("left running after a failed start: %s", ", ".join(left))
            raise

    def _start(self) -> None:
        spec, binary = self.spec, self.binaries.binary
        spec.workdir.mkdir(mode=0o700, parents=True)
        self.owns_workdir = True
        self.processes.directory.mkdir()
        make_credentials(self.creds.directory, [spec.address, spec.management_address, *_service_ip(spec)])
        local = self.kubeconfig("127.0.0.1")  # the controllers, beside the API server
        self.processes.start("etcd", etcd_argv(binary("etcd"), spec.workdir / "etcd"), netns=spec.netns)
        argv = apiserver_argv(binary("kube-apiserver"), spec, self.creds, spec.workdir / "apiserver-certs")
        self.processes.start("kube-apiserver", argv, netns=spec.netns)
        self._wait_ready()
        argv = controller_manager_argv(binary("kube-controller-manager"), spec, local, self.creds)
        self.processes.start("kube-controller-manager", argv, netns=spec.netns)
        self.processes.start("kube-scheduler", scheduler_argv(binary("kube-scheduler"), spec, local), netns=spec.netns)
        stages = lab_stages(self.binaries.kwok_stages, spec.workdir / "kwok-stages", REAL_PODS)
        self.processes.start("kwok", kwok_argv(binary("kwok"), local, stages), netns=spec.netns)
        for lease in ("kube-controller-manager", "kube-scheduler"):
            self._wait_leader(lease)

    def _alive(self, *roles: str) -> None:
        for role in roles:
            self.processes.check_running(role)

    def _wait_ready(self) -> None:
        client = self.client()

        def ready() -> tuple[None, list[str]]:
            self._alive("etcd", "kube-apiserver")
            try:
                client.get("/readyz")
            except LabError as error:
                return None, [str(error)]
            return None, []

        try:
            waited = wait_until(ready, APISERVER_READY, f"kube-apiserver at {client.server}")
        except DeadlinePassed as error:
            raise LabError(f"{error}\nkube-apiserver log:\n{self.processes.log_tail('kube-apiserver')}") from None
        log.info("kube-apiserver ready in %.1f s", waited.elapsed)

    def _wait_leader(self, name: str) -> None:
        client = self.client()
        path = resource_path("coordination.k8s.io/v1", "leases", "kube-system", name)

        def leading() -> tuple[str, list[str]]:
            self._alive(name, "kube-apiserver")
            lease = client.find(path)
            holder = (lease or {}).get("spec", {}).get("holderIdentity")
            return holder or "", [] if holder else [f"no holder of lease kube-system/{name} yet"]

        try:
            wait_until(leading, LEADER_ELECTED, f"{name} leading")
        except DeadlinePassed as error:
            raise LabError(f"{error}\n{name} log:\n{self.processes.log_tail(name)}") from None

    def wait_nodes_ready(self, names: list[str]) -> dict[str, Object]:
        """Wait until kwok reports every named Node Ready; returns the Nodes."""
        client = self.client()

        def ready() -> tuple[dict[str, Object], list[str]]:
            self._alive("kwok")
            nodes, problems = {}, []
            for name in names:
                try:
                    node = client.get(resource_path("v1", "nodes", name=name))
                except ApiError as error:
                    problems.append(f"node {name}: {error}")
                    continue
                nodes[name] = node
                if condition(node, "Ready") != "True":
                    problems.append(f"node {name}: Ready is {condition(node, 'Ready')}")
            return nodes, problems

        try:
            return wait_until(ready, NODES_READY, f"nodes {', '.join(names)} Ready").value
        except DeadlinePassed as error:
            raise LabError(f"{error}\nkwok log:\n{self.processes.log_tail('kwok')}") from None

    def stop(self) -> list[str]:
        """Stop the processes (clients first, etcd last) and remove the work directory. Returns what
        could not be stopped; the directory stays then, for the next teardown to find."""
        left = self.processes.stop(STOP_ORDER)
        if not left and self.owns_workdir:
            shutil.rmtree(self.spec.workdir, ignore_errors=True)
            self.owns_workdir = False
        return left


def _service_ip(spec: ControlPlaneSpec) -> list[IPv4Address]:
    """The ``kubernetes`` Service's ClusterIP (the first address of the range): in-cluster clients
    reach the API server there."""
    return [spec.service_cidr.network_address + 1]
