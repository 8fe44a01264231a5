"""When a node's CiliumNode can be read: once its cilium-agent registered it and the operator gave
it a PodCIDR (``podCidrSource: cluster``).

The Cilium release's await does not cover this. Helm counts the agent DaemonSet ready while up to
its ``maxUnavailable`` agents (2 in Cilium's chart) are not, an agent registers its CiliumNode
only once it runs, and the operator allocates the PodCIDR a moment later. And a read whose ID is
known runs during preview too, where a cluster without Cilium has no CiliumNode at all. So the
program reads a CiliumNode under an ID that resolves only here: in a preview, when it is
allocated already (unknown otherwise: the preview shows the PodCIDRs as unknown); in an update,
once it is allocated, waiting up to :data:`ALLOCATION_TIMEOUT` seconds.

The cluster is reached with the stack's ``kubernetes`` settings as the provider reaches it: the
kubeconfig given (content or path) or the ambient one, and the context.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Protocol

import pulumi
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from cilium_bgp.config import KubernetesSettings

# An agent that pulls its image and starts its datapath, then the operator's allocation.
ALLOCATION_TIMEOUT = 600.0
POLL_INTERVAL = 2.0


class PodCidrReader(Protocol):
    def pod_cidrs(self, node: str) -> list[str] | None:
        """``spec.ipam.podCIDRs`` of CiliumNode ``node`` (empty: not allocated yet); None when it
        does not exist."""
        ...


def api_client(settings: KubernetesSettings) -> k8s_client.ApiClient:
    """A client of the cluster the provider reaches: the kubeconfig given (as the provider reads
    it: a file when one exists at that path, else content) or the ambient one, and the context."""
    kubeconfig, context = settings.kubeconfig, settings.context
    if kubeconfig is not None and not Path(kubeconfig).expanduser().is_file():
        return k8s_config.new_client_from_config_dict(yaml.safe_load(kubeconfig), context=context)
    path = str(Path(kubeconfig).expanduser()) if kubeconfig else None
    return k8s_config.new_client_from_config(config_file=path, context=context)


class ClusterCiliumNodes:
    """CiliumNodes through the cluster's API (the ``kubernetes`` client, connected on first use)."""

    def __init__(self, settings: KubernetesSettings) -> None:
        self._settings = settings
        self._api: k8s_client.CustomObjectsApi | None = None

    def _connect(self) -> k8s_client.CustomObjectsApi:
        if self._api is None:
            self._api = k8s_client.CustomObjectsApi(api_client(self._settings))
        return self._api

    def pod_cidrs(self, node: str) -> list[str] | None:
        try:
            obj: dict[str, Any] = self._connect().get_cluster_custom_object("cilium.io", "v2", "ciliumnodes", node)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return list(((obj.get("spec") or {}).get("ipam") or {}).get("podCIDRs") or [])


def connect(settings: KubernetesSettings) -> PodCidrReader:
    return ClusterCiliumNodes(settings)


async def _look(reader: PodCidrReader, node: str) -> tuple[bool, str]:
    """Whether ``node`` has a PodCIDR, and what was seen (for an error)."""
    try:
        cidrs = await asyncio.to_thread(reader.pod_cidrs, node)
    except Exception as error:  # any failure to ask is retried, and reported if it lasts
        return False, f"no answer from the cluster ({type(error).__name__}: {error})"
    if cidrs is None:
        return False, "no CiliumNode yet (its cilium-agent registers it when it starts)"
    return bool(cidrs), "no spec.ipam.podCIDRs yet (cilium-operator allocates them)"


async def wait_allocated(reader: PodCidrReader, node: str, where: str, timeout: float = ALLOCATION_TIMEOUT) -> None:
    """Return once CiliumNode ``node`` has a PodCIDR; after ``timeout`` seconds raise, naming
    ``where`` (the node's config key) and what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        allocated, seen = await _look(reader, node)
        if allocated:
            return
        if time.monotonic() >= deadline:
            raise pulumi.RunError(f"{where}: CiliumNode {node} not allocated after {timeout:.0f} s: {seen}")
        await asyncio.sleep(POLL_INTERVAL)


def node_id(reader: PodCidrReader, node: str, where: str) -> pulumi.Output[str]:
    """The ID to read CiliumNode ``node`` under (see the module docstring): its name, known once it
    is allocated; in a preview, unknown unless it is allocated already."""
    if pulumi.runtime.is_dry_run():
        lookup = asyncio.ensure_future(_look(reader, node))

        async def name() -> str:
            await lookup
            return node

        async def known() -> bool:
            return (await lookup)[0]

        return pulumi.Output(set(), name(), known())

    async def when_allocated() -> str:
        await wait_allocated(reader, node, where)
        return node

    async def always() -> bool:
        return True

    return pulumi.Output(set(), when_allocated(), always())
