"""The kubelet of the pods the lab runs for real: ``python -m lab.k8s.podrunner CONFIG``.

kwok reports every other pod Running and Ready at once (``lab.k8s.kwok``). For the pods of
``lab.k8s.pods.REAL_PODS`` this process does what a kubelet does, once a pod is bound to a node:

- the Cilium operator's pods: the real cilium-operator of the pod's release (its image tag) runs in
  the node's network namespace (the chart runs it with the host's network), configured from the
  release's ``cilium-config`` ConfigMap; the pod turns Ready once its own readiness probe passes,
  an operator holds the leader lease and the CRDs are established. A process that exits is
  restarted after a back-off, as ``restartPolicy: Always`` asks, and reported with its log.
- the agents' pods: the real cilium-agent of the pod's release on the pod's node
  (``lab.k8s.agent``), configured from the same ConfigMap; the pod turns Ready once the agent says
  it is healthy and routes its PodCIDR through ``cilium_host``, and its readiness probe passes.
  Restarted as the operator is. Where the lab runs no agents (``RunnerConfig.real_agents`` false:
  ``lab.k8s.labcluster`` says when), :class:`AgentStandIn` does what the cluster needs of an agent
  (named a stand-in wherever it shows): it registers the node's CiliumNode and turns the pod Ready
  once the operator allocated its PodCIDR (a real agent is not ready before).
- a pod being deleted: what it stands for is stopped, then the pod is deleted for good.

It polls the API every second and logs every step. SIGTERM stops every process it started.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

from lab.k8s.agent import CiliumAgent
from lab.k8s.agent_standin import AgentStandIn
from lab.k8s.api import ApiClient, ApiError, Object, resource_path
from lab.k8s.binaries import CiliumBinaries
from lab.k8s.cilium import CiliumOperator
from lab.k8s.credentials import Credentials
from lab.k8s.pods import (
    AGENT,
    PodKind,
    http_probe,
    kind_of,
    now,
    patch_status,
    pod_release,
    probe_passes,
    status_patch,
)
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
    # The agents' pods run real cilium-agents; False: AgentStandIn plays them (see labcluster).
    real_agents: bool = True

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> RunnerConfig:
        return cls(**json.loads(path.read_text()))


class Handler(Protocol):
    def step(self, client: ApiClient, pod: Object) -> None: ...

    def stop(self) -> list[str]: ...


class ProcessPod:
    """One pod the lab runs a real process for, on its node, as a kubelet runs its container: the
    process starts, the pod turns Ready once the process is ready and the pod's HTTP readiness
    probe (if any) passes; a process that exits is restarted after a back-off, as
    ``restartPolicy: Always`` asks, and reported in the pod's status with its log."""

    what: str  # the process, in the log

    def __init__(self, cfg: RunnerConfig, pod: Object) -> None:
        meta, node = pod["metadata"], pod["spec"]["nodeName"]
        self.name = f"{meta['namespace']}/{meta['name']}"
        self.node = node
        self.netns, self.address = cfg.nodes[node]["netns"], cfg.nodes[node]["address"]
        self.binaries = CiliumBinaries.for_version(pod_release(pod))
        self.workdir = Path(cfg.workdir) / meta["name"]
        self.running = False
        self.ready = False
        self.restarts = 0
        self.started_at = now()
        self.retry_at = 0.0
        self.last_exit: str | None = None

    def _start(self, client: ApiClient) -> None:
        raise NotImplementedError

    def _problems(self, client: ApiClient) -> list[str]:
        """What keeps the process from being ready (empty: ready); raises ProcessExited."""
        raise NotImplementedError

    def _check_running(self) -> None:
        raise NotImplementedError

    def _stop(self) -> list[str]:
        """Stop the process for good and remove what it had (the pod is gone)."""
        raise NotImplementedError

    def _halt(self) -> list[str]:
        """Stop the process that exited (what is left of it) before a restart."""
        return self._stop()

    def _report(self, client: ApiClient, pod: Object) -> None:
        patch = status_patch(
            pod, self.address, ready=self.ready, started_at=self.started_at, restarts=self.restarts,
            last_exit=self.last_exit,
        )  # fmt: skip
        patch_status(client, pod, patch)

    def step(self, client: ApiClient, pod: Object) -> None:
        if not self.running:
            if time.monotonic() < self.retry_at:
                return
            log.info("%s on %s: starting %s %s", self.name, self.netns, self.what, self.binaries.release)
            self.started_at = now()
            try:
                self._start(client)
            except LabError:
                self.retry_at = time.monotonic() + BACKOFF_FIRST
                raise
            self.running = True
            self._report(client, pod)
            return
        try:
            if self.ready:
                self._check_running()
                return
            problems = self._problems(client)
        except ProcessExited as exited:
            self._exited(client, pod, str(exited))
            return
        probe = http_probe(pod)
        if not problems and probe is not None and not probe_passes(self.netns, probe, self.address):
            problems.append(f"readiness probe {probe.get('path', '/')} on port {probe['port']} fails")
        if problems:
            log.debug("%s not ready: %s", self.name, "; ".join(problems))
            return
        self.ready = True
        log.info("%s: %s ready", self.name, self.what)
        self._report(client, pod)

    def _exited(self, client: ApiClient, pod: Object, why: str) -> None:
        log.error("%s: %s", self.name, why)
        self._halt()
        self.running, self.ready = False, False
        self.restarts += 1
        self.last_exit = why[-1000:]
        backoff = min(BACKOFF_FIRST * 2 ** (self.restarts - 1), BACKOFF_MAX)
        self.retry_at = time.monotonic() + backoff
        log.info("%s: restart %d in %.0f s", self.name, self.restarts, backoff)
        self._report(client, pod)

    def stop(self) -> list[str]:
        log.info("%s: stopping %s", self.name, self.what)
        return self._stop()


class OperatorPod(ProcessPod):
    """One pod of the release's operator Deployment: the real cilium-operator on its node, ready
    once an operator holds the leader lease and the CRDs are established."""

    what = "cilium-operator"

    def __init__(self, cfg: RunnerConfig, pod: Object) -> None:
        super().__init__(cfg, pod)
        self.operator = CiliumOperator(
            self.binaries, self.netns, Path(cfg.kubeconfig), self.workdir, pod["metadata"]["namespace"],
            node_name=self.node,
        )  # fmt: skip

    def _start(self, client: ApiClient) -> None:
        self.operator.start(client, wait=False)

    def _problems(self, client: ApiClient) -> list[str]:
        return self.operator.problems(client)

    def _check_running(self) -> None:
        self.operator.check_running()

    def _stop(self) -> list[str]:
        return self.operator.stop()


class AgentPod(ProcessPod):
    """One pod of the release's agent DaemonSet: the real cilium-agent of the pod's release on its
    node (``lab.k8s.agent``: the node's network namespace, a mount namespace of its own with its
    bpffs, state and sockets, configured from the release's ``cilium-config``), ready once it says
    it is healthy and routes its PodCIDR through ``cilium_host``. It registers its CiliumNode
    itself. A restarted process keeps the pod's directory, as a container keeps its pod's volumes;
    the pod's deletion stops the agent and removes its directory and cgroup."""

    what = "cilium-agent"

    def __init__(self, cfg: RunnerConfig, pod: Object) -> None:
        super().__init__(cfg, pod)
        self.agent = CiliumAgent(
            self.binaries, self.node, self.netns, Path(cfg.kubeconfig), self.workdir, pod["metadata"]["namespace"]
        )

    def _start(self, client: ApiClient) -> None:
        self.agent.start(client)

    def _problems(self, client: ApiClient) -> list[str]:
        try:
            cidrs, problems = self.agent.readiness()
        except ProcessExited:
            raise
        except LabError as error:  # its API is up, but does not answer everything yet
            return [str(error)]
        if not problems:
            log.info("%s: PodCIDR %s through cilium_host", self.name, ", ".join(map(str, cidrs)))
        return problems

    def _check_running(self) -> None:
        self.agent.check_running()

    def _halt(self) -> list[str]:
        return self.agent.stop_process()

    def _stop(self) -> list[str]:
        return self.agent.stop()


def handler_type(cfg: RunnerConfig, kind: PodKind) -> type[OperatorPod] | type[AgentPod] | type[AgentStandIn]:
    """What runs for a pod of ``kind``."""
    if kind is AGENT:
        return AgentPod if cfg.real_agents else AgentStandIn
    return OperatorPod


class PodRunner:
    def __init__(self, cfg: RunnerConfig) -> None:
        self.cfg = cfg
        self.client = ApiClient(cfg.server, Credentials(Path(cfg.pki)))
        self.handlers: dict[str, Handler] = {}  # pod UID -> what runs for it
        self.stopping = False

    def tick(self) -> None:
        seen = set()
        deleted: list[tuple[str, Object]] = []
        for pod in self.client.items(resource_path("v1", "pods")):
            kind, meta = kind_of(pod), pod["metadata"]
            node = pod["spec"].get("nodeName")
            if kind is None or node is None:
                continue
            uid = meta["uid"]
            seen.add(uid)
            if meta.get("deletionTimestamp"):
                deleted.append((uid, pod))
                continue
            if node not in self.cfg.nodes:
                log.warning("pod %s/%s is bound to %s, which is no lab node", meta["namespace"], meta["name"], node)
                continue
            try:
                handler = self.handlers.get(uid)
                if handler is None:
                    handler = self.handlers[uid] = handler_type(self.cfg, kind)(self.cfg, pod)
                handler.step(self.client, pod)
            except (LabError, ValueError) as error:
                log.error("pod %s/%s: %s", meta["namespace"], meta["name"], error)
        for uid in set(self.handlers) - seen:
            self.handlers.pop(uid).stop()
        # Together, as each node's kubelet would: a rolling update deletes up to maxUnavailable
        # agent pods at once (two in Cilium's chart), and each agent takes seconds to stop.
        if deleted:
            with ThreadPoolExecutor(len(deleted)) as pool:
                list(pool.map(lambda item: self._delete(*item), deleted))

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
        # Together: the lab's teardown gives this process STOP seconds before it kills it.
        handlers = list(self.handlers.values())
        with ThreadPoolExecutor(max(len(handlers), 1)) as pool:
            left = [what for stopped in pool.map(lambda h: h.stop(), handlers) for what in stopped]
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
