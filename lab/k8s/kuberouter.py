"""kube-router on a lab node, as the program's advertise-only DaemonSet runs it there.

The arguments are the DaemonSet's own, read from the object the program renders
(``cilium_bgp.renderers.manifests``); ``NODE_NAME`` is the Node's name (the DaemonSet's
``spec.nodeName`` field reference). In place of the pod's service account token, a kubeconfig
carries a token of the DaemonSet's ServiceAccount (TokenRequest), so the ClusterRole the program
renders is what authorises it. The DaemonSet's volumes become, in a mount namespace of kube-router's
own (``lab/k8s/kube-router-init.sh``): a private ``/run`` (the xtables lock) and the files of its
Secret volumes under their mount paths in a copy-on-write ``/etc``. ``hostNetwork``: the node's
network namespace. The binary is kube-router 2.1.0 (``lab.k8s.versions.KUBE_ROUTER``), the only
release the module proxy serves; the program's default image is newer.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.k8s.api import ApiClient, Object, resource_path
from lab.k8s.binaries import cluster_dir
from lab.k8s.credentials import kubeconfig_text
from lab.k8s.processes import ClusterProcesses
from lab.process import is_alive
from lab.shell import LabError, log, run
from lab.wait import Budget, DeadlinePassed, wait_until

KUBE_ROUTER_READY = Budget("kube-router healthy", 60)
ROLE = "kube-router"
INIT = Path(__file__).with_name("kube-router-init.sh")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOKEN_SECONDS = 3600
# A GET that fails on anything but 2xx, inside the node's namespace (as the kubelet's probe).
HEALTHZ = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"


def kube_router_binary(root: Path | None = None) -> Path:
    return (root or cluster_dir()) / "bin" / "kube-router"


def daemonset_container(manifests: Sequence[Object], name: str = "kube-router") -> tuple[Object, Object]:
    """The rendered DaemonSet ``name`` and its container of the same name."""
    for obj in manifests:
        if obj.get("kind") == "DaemonSet" and obj["metadata"]["name"] == name:
            containers = obj["spec"]["template"]["spec"]["containers"]
            container = next((c for c in containers if c["name"] == name), None)
            if container is None:
                raise LabError(f"DaemonSet {name} has no container {name}")
            return obj, container
    raise LabError(f"the rendered objects hold no DaemonSet {name}")


def health_port(container: Object) -> int:
    """The port of the container's liveness probe (kube-router's ``--health-port``)."""
    return int(container["livenessProbe"]["httpGet"]["port"])


def secret_files(client: ApiClient, daemonset: Object, container: Object) -> dict[str, bytes]:
    """Path -> content of every file the container's Secret volumes mount (the Secret as the API
    holds it now, each key a file under the mount path, as the kubelet writes them)."""
    namespace = daemonset["metadata"]["namespace"]
    volumes = {v["name"]: v for v in daemonset["spec"]["template"]["spec"].get("volumes", [])}
    files: dict[str, bytes] = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes.get(mount["name"], {}).get("secret")
        if secret is None:
            continue
        obj = client.get(resource_path("v1", "secrets", namespace, secret["secretName"]))
        for key, value in (obj.get("data") or {}).items():
            files[f"{mount['mountPath'].rstrip('/')}/{key}"] = base64.b64decode(value)
    return files


def service_account_kubeconfig(client: ApiClient, server: str, ca_pem: str, namespace: str, name: str) -> str:
    """A kubeconfig with a token of ServiceAccount ``namespace``/``name``, as its pods get one."""
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    request["spec"] = {"expirationSeconds": TOKEN_SECONDS}
    path = resource_path("v1", "serviceaccounts", namespace, name) + "/token"
    token = client.create(path, request)["status"]["token"]
    return kubeconfig_text(server, ca_pem, token, name=f"{namespace}-{name}")


def _write_private(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@dataclass
class KubeRouter:
    """kube-router for Node ``node`` in ``netns``, from the rendered ``daemonset``/``container``."""

    binary: Path
    node: str
    netns: str
    daemonset: Object
    container: Object
    workdir: Path
    processes: ClusterProcesses = field(init=False)
    owns_workdir: bool = field(init=False, default=False)
    started_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.processes = ClusterProcesses(self.workdir)

    @property
    def args(self) -> list[str]:
        return list(self.container.get("args", []))

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def start(self, client: ApiClient, server: str, ca_pem: str) -> None:
        """Start kube-router with the DaemonSet's arguments (it does not wait: :meth:`wait_ready`)."""
        if not self.binary.exists():
            raise LabError(f"not built: {self.binary} (run `scripts/install-cluster --kube-router`)")
        if any(is_alive(r) for r in self.processes.records):
            raise LabError(f"kube-router on {self.node} is running already")
        self.processes = ClusterProcesses(self.workdir)
        spec = self.daemonset["spec"]["template"]["spec"]
        namespace = self.daemonset["metadata"]["namespace"]
        if not self.owns_workdir:
            self.workdir.mkdir(parents=True)
            self.owns_workdir = True
        try:
            account = spec.get("serviceAccountName", "default")
            text = service_account_kubeconfig(client, server, ca_pem, namespace, account)
            _write_private(self.kubeconfig, text.encode(), 0o600)
            for path, data in secret_files(client, self.daemonset, self.container).items():
                _write_private(self.workdir / "etc" / "upper" / Path(path).relative_to("/etc"), data, 0o400)
            env = {"PATH": SYSTEM_PATH, **self._env()}
            argv = ["sh", str(INIT), str(self.workdir), str(self.binary), f"--kubeconfig={self.kubeconfig}", *self.args]
            log.info(
                "kube-router on %s (service account %s/%s): %s", self.node, namespace, account, " ".join(self.args)
            )
            self.started_at = time.monotonic()
            self.processes.start(ROLE, argv, netns=self.netns, env=env)
        except BaseException:
            self.stop()
            raise

    def _env(self) -> Mapping[str, str]:
        """The container's environment: plain values, and ``spec.nodeName`` for field references."""
        env: dict[str, str] = {}
        for entry in self.container.get("env", []):
            ref: Any = entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
            elif ref == "spec.nodeName":
                env[entry["name"]] = self.node
            else:
                raise LabError(f"kube-router's env {entry['name']}: the lab cannot fill {entry.get('valueFrom')}")
        return env

    def check_running(self) -> None:
        self.processes.check_running(ROLE)

    def wait_ready(self, budget: Budget = KUBE_ROUTER_READY) -> float:
        """Wait until kube-router's ``/healthz`` (its liveness probe) answers; seconds since the start."""
        url = f"http://127.0.0.1:{health_port(self.container)}/healthz"

        def healthy() -> tuple[None, list[str]]:
            self.check_running()
            proc = run(["python3", "-c", HEALTHZ, url], netns=self.netns, check=False)
            return None, [] if proc.returncode == 0 else [f"{url}: {proc.stderr.strip()[-200:]}"]

        try:
            wait_until(healthy, budget, f"kube-router on {self.node}", interval=0.5)
        except DeadlinePassed as error:
            raise LabError(f"{error}\nkube-router log:\n{self.processes.log_tail(ROLE, 25)}") from None
        return round(time.monotonic() - self.started_at, 1)

    @property
    def pid(self) -> int:
        return next(r for r in reversed(self.processes.records) if r.role == ROLE).pid

    def stop_process(self) -> list[str]:
        return self.processes.stop([ROLE])

    def stop(self) -> list[str]:
        left = self.processes.stop([ROLE])
        if not left and self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.owns_workdir = False
        return left
