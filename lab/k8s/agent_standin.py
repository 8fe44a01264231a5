"""What the lab runs for a cilium-agent pod where no real agent runs: a stand-in, named as such.

The cluster lab of a ``bird`` stack (Cilium only the CNI, BIRD on the nodes announces) runs no
cilium-agent (``lab.k8s.labcluster.runs_agents``); the pod runner (``lab.k8s.podrunner``) hands
those pods to :class:`AgentStandIn`, which does what the cluster needs of an agent and nothing
else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.k8s.api import ApiClient, Object, condition, resource_path
from lab.k8s.cilium import cilium_node_object
from lab.k8s.pods import now, patch_status, status_patch
from lab.shell import log

if TYPE_CHECKING:
    from lab.k8s.podrunner import RunnerConfig


class AgentStandIn:
    """Stands in for one cilium-agent pod where the lab runs no agent (the cluster lab of a ``bird``
    stack: ``lab.k8s.labcluster.runs_agents``): registers the node's CiliumNode as the agent
    does, and turns the pod Ready once the operator allocated its PodCIDR (a real agent is not
    ready before either). Nodes register one after the other in the stack's order, so the
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
            patch_status(
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
        patch_status(client, pod, status_patch(pod, self.address, ready=True, started_at=self.started_at, restarts=0))

    def stop(self) -> list[str]:
        return []


def _cilium_node(name: str) -> str:
    return resource_path("cilium.io/v2", "ciliumnodes", name=name)


def _pod_cidrs(cilium_node: Object | None) -> list[str]:
    return list(((cilium_node or {}).get("spec", {}).get("ipam") or {}).get("podCIDRs") or [])
