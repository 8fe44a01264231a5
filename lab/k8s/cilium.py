"""Cilium's processes as the Helm release's pods stand for them, configured from the release's
``cilium-config`` ConfigMap: the chart mounts it as a directory with one file per key and starts
the operator (and the agents) with ``--config-dir`` on it. The lab does the same, so what runs is
what the program's Helm values made.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.k8s.api import ApiClient, Object, condition, resource_path
from lab.k8s.binaries import CiliumBinaries
from lab.k8s.processes import ClusterProcesses
from lab.shell import LabError, log
from lab.wait import Budget, DeadlinePassed, wait_until

OPERATOR_READY = Budget("cilium-operator ready", 120)
# What a ConfigMap key may be (k8s.io/apimachinery IsConfigMapKey).
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
# Registered by the operator itself (the chart ships no CRDs); the lab needs these to exist.
OPERATOR_CRDS = ("ciliumnodes.cilium.io", "ciliumloadbalancerippools.cilium.io")
# The keys the chart sets with ``bgp.enabled`` (Cilium's MetalLB speaker, before 1.17).
METALLB_KEYS = ("bgp-announce-lb-ip", "bgp-announce-pod-cidr")
LEASE = "cilium-operator-resource-lock"


def check_config_keys(keys: Sequence[str]) -> None:
    bad = [k for k in keys if len(k) > 253 or k in (".", "..") or not _CONFIG_KEY.fullmatch(k)]
    if bad:
        raise LabError(f"not ConfigMap keys (a mount could not hold them as files): {', '.join(map(repr, bad))}")


def write_config_dir(data: Mapping[str, str], directory: Path) -> Path:
    """Write ``data`` as a ConfigMap volume holds it: one file per key whose content is the value's
    exact bytes. Whatever ``directory`` held before goes, so a rewrite never keeps a removed key."""
    check_config_keys(list(data))
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for key, value in data.items():
        (directory / key).write_bytes(value.encode())
    return directory


def metallb_config_args(client: ApiClient, namespace: str, data: Mapping[str, str], directory: Path) -> list[str]:
    """``--bgp-config-path`` on the ``bgp-config`` ConfigMap, written to ``directory``, when the
    release runs Cilium's MetalLB speaker (``bgp.enabled``: the chart mounts that ConfigMap into the
    agent and the operator at the flag's default, ``/var/lib/cilium/bgp``)."""
    if not any(data.get(key) == "true" for key in METALLB_KEYS):
        return []
    path = write_config_dir(client.config_map(namespace, "bgp-config"), directory) / "config.yaml"
    return [f"--bgp-config-path={path}"]


def config_lines(data: Mapping[str, str]) -> list[str]:
    """``key=value`` lines, sorted, to log what a process was given."""
    return [f"{key}={value}" for key, value in sorted(data.items())]


def cilium_node_object(node: Object) -> Object:
    """The CiliumNode a cilium-agent registers for ``node`` before anything else (1.18
    ``pkg/nodediscovery``): named after it, owned by it, with its labels and addresses. With
    cluster-pool IPAM the operator then allocates ``spec.ipam.podCIDRs``; where no agent runs, the
    lab creates this in the agent's place."""
    meta = node["metadata"]
    addresses = [
        {"type": a["type"], "ip": a["address"]}
        for a in node.get("status", {}).get("addresses", [])
        if a.get("type") in ("InternalIP", "ExternalIP")
    ]
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNode",
        "metadata": {
            "name": meta["name"],
            "labels": dict(meta.get("labels") or {}),
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta["uid"]}],
        },
        "spec": {"addresses": addresses, "ipam": {}},
    }


def operator_argv(binaries: CiliumBinaries, kubeconfig: Path, config_dir: Path, data: Mapping[str, str]) -> list[str]:
    """The operator Deployment's arguments: ``--config-dir`` and ``--debug=$(CILIUM_DEBUG)`` (the
    ConfigMap's ``debug``, when set), with a kubeconfig in place of the pod's service account."""
    argv = [str(binaries.operator), "--k8s-kubeconfig-path", str(kubeconfig), "--config-dir", str(config_dir)]
    if "debug" in data:
        argv.append(f"--debug={data['debug']}")
    return argv


@dataclass
class CiliumOperator:
    """cilium-operator-generic in ``netns``, from ConfigMap ``namespace``/``name`` (as the release's
    Deployment runs it in that namespace, on ``node_name``)."""

    binaries: CiliumBinaries
    netns: str
    kubeconfig: Path
    workdir: Path
    namespace: str = "kube-system"
    name: str = "cilium-config"
    node_name: str = ""
    processes: ClusterProcesses = field(init=False)
    owns_workdir: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.processes = ClusterProcesses(self.workdir)

    @property
    def config_dir(self) -> Path:
        return self.workdir / "config-map"

    def start(self, client: ApiClient, *, wait: bool = True) -> None:
        """Start the operator and (``wait``) wait until it is ready (:func:`operator_problems`); on
        failure stop it and remove the work directory, then raise. Its IPAM starts once it leads:
        a config IPAM refuses ends the process a moment later, which :meth:`check_running` (called
        by the waits that follow) reports with the operator's own words."""
        self.binaries.require()
        data = client.config_map(self.namespace, self.name)
        self.workdir.mkdir(parents=True)
        self.owns_workdir = True
        try:
            write_config_dir(data, self.config_dir)
            log.info("cilium-operator %s from %s/%s:\n  %s", self.binaries.release, self.namespace, self.name,
                     "\n  ".join(config_lines(data)))  # fmt: skip
            env = {"CILIUM_K8S_NAMESPACE": self.namespace}
            if self.node_name:
                env["K8S_NODE_NAME"] = self.node_name
            argv = operator_argv(self.binaries, self.kubeconfig, self.config_dir, data)
            argv += metallb_config_args(client, self.namespace, data, self.workdir / "bgp-config")
            self.processes.start("cilium-operator", argv, netns=self.netns, env=env, private_run=self.workdir / "run")
            if wait:
                self._wait_ready(client)
        except BaseException:
            self.stop()
            raise

    def check_running(self) -> None:
        self.processes.check_running("cilium-operator")

    def problems(self, client: ApiClient) -> list[str]:
        """What keeps the operator from being ready (empty: ready); raises when it exited."""
        self.check_running()
        return operator_problems(client, self.namespace)

    def _wait_ready(self, client: ApiClient) -> None:
        try:
            waited = wait_until(
                lambda: (None, self.problems(client)), OPERATOR_READY, f"cilium-operator {self.binaries.release}"
            )
        except DeadlinePassed as error:
            raise LabError(f"{error}\ncilium-operator log:\n{self.processes.log_tail('cilium-operator')}") from None
        log.info("cilium-operator ready in %.1f s", waited.elapsed)

    def stop(self) -> list[str]:
        left = self.processes.stop(["cilium-operator"])
        if not left and self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.owns_workdir = False
        return left


def operator_problems(client: ApiClient, namespace: str) -> list[str]:
    """Why the operators in ``namespace`` are not ready yet (empty: they are): one holds the
    leader lease and the CRDs the lab relies on are established."""
    problems = []
    lease = client.find(resource_path("coordination.k8s.io/v1", "leases", namespace, LEASE))
    if not (lease or {}).get("spec", {}).get("holderIdentity"):
        problems.append(f"no holder of lease {namespace}/{LEASE} yet")
    for crd in OPERATOR_CRDS:
        obj = client.find(resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=crd))
        if obj is None or condition(obj, "Established") != "True":
            problems.append(f"CRD {crd} not established yet")
    return problems
