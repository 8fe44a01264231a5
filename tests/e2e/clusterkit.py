"""What the cluster e2e tests read: a cluster lab's API server (the Helm release as Helm stored it,
the objects the program created, the operator's CiliumNodes), the agents the pod runner runs, the
router's sessions and routes, the render command's artifacts, and what a cluster lab leaves behind
once it is down."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import yaml
from e2ekit import host, router_summary

from cilium_bgp.artifacts import HELM_VALUES
from lab.engine import ROOT, Engine, lab_down, lab_up
from lab.k8s.agent import cgroup2_root
from lab.k8s.api import ApiClient, Object, resource_path
from lab.k8s.labcluster import lab_client
from lab.k8s.pods import pod_release
from lab.process import ProcessRecord, is_alive
from lab.state import LabState
from tests.lab.jsoncmp import json_cmp

PROJECT = "cilium-bgp"


@dataclass
class ClusterStack:
    """A stack on a cluster lab: its engine, its work directory, and the lab's client of the API
    server (what an administrator's kubectl would be)."""

    engine: Engine
    workdir: Path
    lab_id: str
    client: ApiClient
    started: float  # time.time() before the lab came up

    @property
    def cilium(self) -> dict[str, Any]:
        return dict(self.engine.config[f"{PROJECT}:cilium"])


@contextmanager
def cluster_stack(workdir: Path, stack_file: Path, stack: str) -> Iterator[ClusterStack]:
    """A cluster lab of ``stack_file`` and a new stack on it; both removed afterwards (a test may
    take the lab down itself first)."""
    started = time.time()
    engine = lab_up(workdir, stack_file, stack)
    try:
        state = LabState.load(workdir / "lab")
        assert state is not None and state.cluster, "lab up made no cluster for a stack with Kubernetes"
        yield ClusterStack(engine, workdir, state.lab_id, lab_client(state), started)
    finally:
        if LabState.load(workdir / "lab") is not None:
            lab_down(engine, workdir)


def plural(kind: str) -> str:
    lower = kind.lower()
    return f"{lower[:-1]}ies" if lower.endswith("y") else f"{lower}s"


def object_path(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return resource_path(obj["apiVersion"], plural(obj["kind"]), meta.get("namespace"), meta["name"])


def render(stack: ClusterStack, out: Path, pod_cidrs: Mapping[str, list[str]]) -> dict[str, Any]:
    """The render command's artifacts for the stack's current config (its stack file with the
    Cilium settings the engine has now) and the cluster's PodCIDRs: Helm values and manifests."""
    source = yaml.safe_load(stack.engine.stack_file.read_text())
    source["config"][f"{PROJECT}:cilium"] = stack.cilium
    stack_file = out / f"Pulumi.{stack.engine.stack_name}.yaml"
    out.mkdir(parents=True, exist_ok=True)
    stack_file.write_text(yaml.safe_dump(source, sort_keys=False))
    argv = [sys.executable, "-m", "cilium_bgp.render", "--stack-file", str(stack_file), "--out", str(out / "r")]
    for node, cidrs in pod_cidrs.items():
        argv += [item for cidr in cidrs for item in ("--pod-cidr", f"{node}={cidr}")]
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True)
    manifests = [yaml.safe_load(p.read_text()) for p in sorted((out / "r" / "manifests").glob("*.yaml"))]
    return {"values": yaml.safe_load((out / "r" / HELM_VALUES).read_text()), "manifests": manifests}


def helm_release(client: ApiClient, name: str, namespace: str) -> Object | None:
    """The deployed revision of Helm release ``name`` as Helm stores it (a Secret holding the
    gzipped, base64-encoded release), or None when there is none."""
    selector = f"owner=helm,name={name},status=deployed"
    secrets = client.items(resource_path("v1", "secrets", namespace) + f"?labelSelector={selector}")
    if not secrets:
        return None
    latest = max(secrets, key=lambda s: int(s["metadata"]["labels"]["version"]))
    data = base64.b64decode(base64.b64decode(latest["data"]["release"]))
    return json.loads(gzip.decompress(data))


def helm_secrets(client: ApiClient, name: str, namespace: str) -> list[str]:
    secrets = client.items(resource_path("v1", "secrets", namespace) + f"?labelSelector=owner=helm,name={name}")
    return [s["metadata"]["name"] for s in secrets]


def object_problems(client: ApiClient, rendered: Mapping[str, Any]) -> list[str] | None:
    """How the live object differs from the rendered one (None: it matches): its spec or data,
    labels and annotations, as a subset of what the API server holds (it adds defaults)."""
    live = client.find(object_path(rendered))
    if live is None:
        return ["does not exist"]
    meta = rendered["metadata"]
    expected = {key: rendered[key] for key in ("spec", "data") if key in rendered}
    expected["metadata"] = {key: meta[key] for key in ("labels", "annotations") if key in meta}
    return json_cmp(live, expected)


def pod_cidrs(client: ApiClient, nodes: list[str]) -> dict[str, list[str]]:
    """Each node's ``spec.ipam.podCIDRs`` as the operator allocated them."""
    found = {n: client.find(resource_path("cilium.io/v2", "ciliumnodes", name=n)) or {} for n in nodes}
    return {n: list((obj.get("spec", {}).get("ipam") or {}).get("podCIDRs") or []) for n, obj in found.items()}


@dataclass(frozen=True)
class RunningAgent:
    """A cilium-agent the pod runner runs for an agent pod: the pod's node and image release, and
    the process behind it (its executable names the release built)."""

    pod: str
    node: str
    image_release: str
    pid: int
    executable: str


def running_agents(stack: ClusterStack) -> list[RunningAgent]:
    """The agent DaemonSet's pods with the process the pod runner runs for each (its record in the
    pod's directory, still alive)."""
    pods = stack.client.items(resource_path("v1", "pods", "kube-system") + "?labelSelector=k8s-app=cilium")
    found = []
    for pod in pods:
        meta = pod["metadata"]
        record = stack.workdir / "lab" / "cluster" / "pods" / meta["name"] / "processes.json"
        records = [ProcessRecord(**r) for r in json.loads(record.read_text())] if record.exists() else []
        for agent in (r for r in records if r.role == "cilium-agent" and is_alive(r)):
            exe = str(Path(f"/proc/{agent.pid}/exe").resolve())
            found.append(RunningAgent(meta["name"], pod["spec"].get("nodeName", ""), pod_release(pod), agent.pid, exe))
    return found


def router_view(workdir: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """FRR's sessions on the lab's router (peer -> state) and the routes FRR put in its kernel
    table (prefix -> gateways; a host route as ``/32``), read on the router host."""
    peers = router_summary(workdir)
    routes = json.loads(host(workdir, "router", "ip", "-j", "-4", "route", "show", "proto", "bgp"))
    table = {}
    for route in routes:
        hops = route.get("nexthops") or [route]
        table[str(ip_network(route["dst"]))] = sorted(h["gateway"] for h in hops if "gateway" in h)
    return {a: p["state"] for a, p in peers.items()}, table


def leftovers(workdir: Path, lab_id: str) -> list[str]:
    """What of a lab that is down is still there: namespaces, root-namespace links, processes
    running from its work directory, mounts, the agents' cgroups, its cluster directory."""
    left = [f"namespace {n}" for n in _lines(["ip", "netns", "list"]) if f"-{lab_id}-" in n.split()[0]]
    left += [f"link {line.split()[0]}" for line in _lines(["ip", "-br", "link"]) if lab_id in line.split()[0]]
    lab_dir = str((workdir / "lab").resolve())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if lab_dir in cmdline or f"cbgp-{lab_id}-" in cmdline:
            left.append(f"process {proc.name}: {cmdline[:200]}")
    left += [f"mount {line}" for line in Path("/proc/self/mounts").read_text().splitlines() if lab_dir in line]
    # The agents' cgroups (lab.k8s.agent), named after their node's namespace.
    left += [f"cgroup {c}" for c in cgroup2_root().glob(f"cbgp-{lab_id}-*")]
    if (workdir / "lab" / "cluster").exists():
        left.append(f"directory {workdir / 'lab' / 'cluster'}")
    return left


def kubeconfig_copies(stack: ClusterStack) -> list[str]:
    """Copies of a kubeconfig (credentials included) left since the stack's lab came up: in the
    machine's temporary directory (where pulumi-kubernetes writes one each time it is configured),
    or the engine's own temporary directory, which goes with the stack."""
    left = [
        f"file {p}"
        for p in Path(tempfile.gettempdir()).glob("kubeconfig*")
        if p.is_file() and p.stat().st_mtime >= stack.started
    ]
    if stack.engine.temp_dir.exists():
        left += [f"file {p}" for p in stack.engine.temp_dir.iterdir()] or [f"directory {stack.engine.temp_dir}"]
    return left


def _lines(argv: list[str]) -> list[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
