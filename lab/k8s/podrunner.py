"""The kubelet of the pods the lab runs for real: ``python -m lab.k8s.podrunner CONFIG``.

kwok reports every other pod Running and Ready at once (``lab.k8s.kwok``). For the pods of
``lab.k8s.pods.REAL_PODS`` this process does what a kubelet does, once a pod is bound to a node:

- the Cilium operator's pods: the real cilium-operator of the pod's release (its image tag) runs in
  the node's network namespace (the chart runs it with the host's network), configured from the
  release's ``cilium-config`` ConfigMap; the pod turns Ready once its own readiness probe passes,
  an operator holds the leader lease and the CRDs are established. A process that exits is
  restarted after a back-off, as ``restartPolicy: Always`` asks, and reported with its log.
- the agents' pods: where no cilium-agent runs, :class:`AgentStandIn` does what the cluster needs
  of an agent (named a stand-in wherever it shows): it registers the node's CiliumNode and turns
  the pod Ready once the operator allocated its PodCIDR (a real agent is not ready before).
- a pod being deleted: what it stands for is stopped, then the pod is deleted for good.

It polls the API every second and logs every step. SIGTERM stops every process it started.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from lab.k8s.api import ApiClient, ApiError, Object, condition, resource_path
from lab.k8s.binaries import CiliumBinaries
from lab.k8s.cilium import CiliumOperator, cilium_node_object
from lab.k8s.credentials import Credentials
from lab.k8s.pods import AGENT, OPERATOR, PodKind, http_probe, kind_of, now, pod_release, probe_passes, status_patch
from lab.k8s.processes import ProcessExited
from lab.shell import LabError, log

TICK = 1.0
BACKOFF_FIRST, BACKOFF_MAX = 5.0, 60.0


@dataclass(frozen=True)
class RunnerConfig:
    server: str  # the API server as this process reaches it (management address)
    pki: str  # the control plane's credentials directory
    kubeconfig: str  # what the pods' processes use: the API server at cilium.k8sServiceHost
    workdir: str  # one directory per pod
    nodes: dict[str, dict[str, str]]  # Node name -> {"netns", "address"}

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> RunnerConfig:
        return cls(**json.loads(path.read_text()))


class Handler(Protocol):
    def step(self, client: ApiClient, pod: Object) -> None: ...

    def stop(self) -> list[str]: ...


def _patch_status(client: ApiClient, pod: Object, patch: dict[str, Any]) -> None:
    meta = pod["metadata"]
    client.merge_patch(resource_path("v1", "pods", meta["namespace"], meta["name"]) + "/status", patch)


class OperatorPod:
    """One pod of the release's operator Deployment: the real cilium-operator on its node."""

    def __init__(self, cfg: RunnerConfig, pod: Object) -> None:
        meta, node = pod["metadata"], pod["spec"]["nodeName"]
        self.name = f"{meta['namespace']}/{meta['name']}"
        self.netns, self.address = cfg.nodes[node]["netns"], cfg.nodes[node]["address"]
        binaries = CiliumBinaries.for_version(pod_release(pod))
        self.operator = CiliumOperator(
            binaries, self.netns, Path(cfg.kubeconfig), Path(cfg.workdir) / meta["name"], meta["namespace"],
            node_name=node,
        )  # fmt: skip
        self.running = False
        self.ready = False
        self.restarts = 0
        self.started_at = now()
        self.retry_at = 0.0
        self.last_exit: str | None = None

    def _report(self, client: ApiClient, pod: Object) -> None:
        patch = status_patch(
            pod, self.address, ready=self.ready, started_at=self.started_at, restarts=self.restarts,
            last_exit=self.last_exit,
        )  # fmt: skip
        _patch_status(client, pod, patch)

    def step(self, client: ApiClient, pod: Object) -> None:
        if not self.running:
            if time.monotonic() < self.retry_at:
                return
            log.info("%s on %s: starting cilium-operator %s", self.name, self.netns, self.operator.binaries.release)
            self.started_at = now()
            try:
                self.operator.start(client, wait=False)
            except LabError:
                self.retry_at = time.monotonic() + BACKOFF_FIRST
                raise
            self.running = True
            self._report(client, pod)
            return
        try:
            problems = self.operator.problems(client)
        except ProcessExited as exited:
            self._exited(client, pod, str(exited))
            return
        probe = http_probe(pod)
        if probe is not None and not probe_passes(self.netns, probe, self.address):
            problems.append(f"readiness probe {probe.get('path', '/')} on port {probe['port']} fails")
        if not problems and not self.ready:
            self.ready = True
            log.info("%s: cilium-operator ready", self.name)
            self._report(client, pod)
        elif problems and not self.ready:
            log.debug("%s not ready: %s", self.name, "; ".join(problems))

    def _exited(self, client: ApiClient, pod: Object, why: str) -> None:
        log.error("%s: %s", self.name, why)
        self.operator.stop()
        self.running, self.ready = False, False
        self.restarts += 1
        self.last_exit = why[-1000:]
        backoff = min(BACKOFF_FIRST * 2 ** (self.restarts - 1), BACKOFF_MAX)
        self.retry_at = time.monotonic() + backoff
        log.info("%s: restart %d in %.0f s", self.name, self.restarts, backoff)
        self._report(client, pod)

    def stop(self) -> list[str]:
        log.info("%s: stopping cilium-operator", self.name)
        return self.operator.stop()


class AgentStandIn:
    """Stands in for one cilium-agent pod where no agent runs: registers the node's CiliumNode as
    the agent does, and turns the pod Ready once the operator allocated its PodCIDR (a real agent
    is not ready before either). Nodes register one after the other in the stack's order, so the
    operator allocates as the lab carved (``lab.cluster.carve_pod_cidrs``, which gave each node's
    ``cilium_host`` its address). Nothing runs; stopping leaves the CiliumNode, as a stopped agent
    does."""

    def __init__(self, cfg: RunnerConfig, pod: Object) -> None:
        meta = pod["metadata"]
        self.name = f"{meta['namespace']}/{meta['name']}"
        self.node = pod["spec"]["nodeName"]
        self.earlier = list(cfg.nodes)[: list(cfg.nodes).index(self.node)]
        self.address = cfg.nodes[self.node]["address"]
        self.started_at = now()
        self.reported = False
        self.ready = False

    def step(self, client: ApiClient, pod: Object) -> None:
        if not self.reported:
            log.info("%s on %s: cilium-agent stand-in (no agent runs here)", self.name, self.node)
            _patch_status(
                client, pod, status_patch(pod, self.address, ready=False, started_at=self.started_at, restarts=0)
            )
            self.reported = True
        if self.ready:
            return
        crd = client.find(
            resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name="ciliumnodes.cilium.io")
        )
        if crd is None or condition(crd, "Established") != "True":
            return
        if any(not _pod_cidrs(client.find(_cilium_node(name))) for name in self.earlier):
            return
        cilium_node = client.find(_cilium_node(self.node))
        if cilium_node is None:
            node = client.get(resource_path("v1", "nodes", name=self.node))
            cilium_node = client.create(resource_path("cilium.io/v2", "ciliumnodes"), cilium_node_object(node))
            log.info("%s: registered CiliumNode %s in the agent's place", self.name, self.node)
        cidrs = _pod_cidrs(cilium_node)
        if not cidrs:
            return
        self.ready = True
        log.info("%s: PodCIDR %s; Ready", self.name, ", ".join(cidrs))
        _patch_status(client, pod, status_patch(pod, self.address, ready=True, started_at=self.started_at, restarts=0))

    def stop(self) -> list[str]:
        return []


def _cilium_node(name: str) -> str:
    return resource_path("cilium.io/v2", "ciliumnodes", name=name)


def _pod_cidrs(cilium_node: Object | None) -> list[str]:
    return list(((cilium_node or {}).get("spec", {}).get("ipam") or {}).get("podCIDRs") or [])


HANDLERS: dict[PodKind, type[OperatorPod] | type[AgentStandIn]] = {OPERATOR: OperatorPod, AGENT: AgentStandIn}


class PodRunner:
    def __init__(self, cfg: RunnerConfig) -> None:
        self.cfg = cfg
        self.client = ApiClient(cfg.server, Credentials(Path(cfg.pki)))
        self.handlers: dict[str, Handler] = {}  # pod UID -> what runs for it
        self.stopping = False

    def tick(self) -> None:
        seen = set()
        for pod in self.client.items(resource_path("v1", "pods")):
            kind, meta = kind_of(pod), pod["metadata"]
            node = pod["spec"].get("nodeName")
            if kind is None or node is None:
                continue
            uid = meta["uid"]
            seen.add(uid)
            if meta.get("deletionTimestamp"):
                self._delete(uid, pod)
                continue
            if node not in self.cfg.nodes:
                log.warning("pod %s/%s is bound to %s, which is no lab node", meta["namespace"], meta["name"], node)
                continue
            try:
                handler = self.handlers.get(uid) or self.handlers.setdefault(uid, HANDLERS[kind](self.cfg, pod))
                handler.step(self.client, pod)
            except (LabError, ValueError) as error:
                log.error("pod %s/%s: %s", meta["namespace"], meta["name"], error)
        for uid in set(self.handlers) - seen:
            self.handlers.pop(uid).stop()

    def _delete(self, uid: str, pod: Object) -> None:
        """What a kubelet does once a pod is being deleted: stop its containers, then remove it."""
        handler = self.handlers.pop(uid, None)
        if handler is not None:
            handler.stop()
        meta = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self.client.request("DELETE", resource_path("v1", "pods", meta["namespace"], meta["name"]), body)
        except ApiError as error:
            if error.status not in (404, 409):
                raise

    def run(self) -> None:
        log.info("pod runner for nodes %s at %s", ", ".join(self.cfg.nodes), self.cfg.server)
        while not self.stopping:
            try:
                self.tick()
            except LabError as error:
                log.error("%s", error)
            except Exception:  # a kubelet outlives a bad answer: the next tick tries again
                log.exception("pod runner tick failed")
            time.sleep(TICK)
        for handler in self.handlers.values():
            left = handler.stop()
            if left:
                log.error("left running: %s", ", ".join(left))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m lab.k8s.podrunner CONFIG.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runner = PodRunner(RunnerConfig.load(Path(argv[0])))

    def stop(signum: int, frame: FrameType | None) -> None:
        runner.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
