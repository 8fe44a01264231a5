"""The Cilium Helm release, and the PodCIDRs its operator hands each node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cilium_bgp.config import CiliumSettings, KubernetesSettings
from cilium_bgp.errors import ConfigError, Problem, excerpt
from components import cilium_kinds, cilium_nodes
from components.options import child_options


class CiliumNodeRead(pulumi.CustomResource):
    """Read-only view of a CiliumNode (``spec.ipam.podCIDRs`` is what `cilium node list` prints).

    pulumi-kubernetes' ``CustomResource.get`` registers no output properties, so its ``spec``
    cannot be read; naming the properties here makes the engine return them.
    """

    spec: pulumi.Output[Any]

    def __init__(self, name: str, node_name: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
        props = {"apiVersion": "cilium.io/v2", "kind": "CiliumNode", "metadata": None, "spec": None}
        super().__init__(
            "kubernetes:cilium.io/v2:CiliumNode",
            name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=node_name)),
        )


@dataclass(frozen=True)
class CiliumReleaseArgs:
    cilium: CiliumSettings  # release name, namespace, chart source, version
    method: str
    values: Mapping[str, Any]  # cilium_bgp.renderers.helm_values.render_helm_values
    kubernetes: KubernetesSettings  # how to reach the cluster for what the release's await does not cover


class CiliumRelease(pulumi.ComponentResource):
    """``helm.v3.Release`` named explicitly, in the configured namespace, values per Cilium version."""

    release: k8s.helm.v3.Release
    values: dict[str, Any]

    def __init__(self, name: str, args: CiliumReleaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        values = dict(args.values)
        cilium = args.cilium
        # Props become attributes of the component (as Outputs): set ours after registering.
        props = {"version": cilium.version, "method": args.method, "values": values}
        super().__init__("cilium-bgp:index:CiliumRelease", name, props, opts)
        self.values = values
        self._kubernetes = args.kubernetes
        self.release = k8s.helm.v3.Release(
            name,
            k8s.helm.v3.ReleaseArgs(
                name=cilium.release_name,
                namespace=cilium.namespace,
                values=values,
                # cilium-operator registers the BGP kinds once it runs: wait for it.
                timeout=900,
                **chart_source(cilium),
            ),
            opts=child_options(self, opts),
        )
        # Outputs repeat the props: stack policies read outputs, resource policies read inputs.
        self.register_outputs({**props, "status": self.release.status})

    def serving(self, kinds: Sequence[tuple[str, str]]) -> pulumi.Output[pulumi.Resource]:
        """The release, for ``depends_on``, once its update is done and, in an update, the cluster
        serves every (apiVersion, kind) of ``kinds`` (:mod:`components.cilium_kinds`)."""
        reader = cilium_kinds.connect(self._kubernetes)
        return cilium_kinds.after_served(self.release, self.release.status, reader, kinds)

    def read_pod_cidrs(self, node_names: Sequence[str]) -> dict[str, pulumi.Output[list[str]]]:
        """Each node's ``spec.ipam.podCIDRs``, read once the release is up and the operator has
        allocated them (:mod:`components.cilium_nodes`: never in a first preview)."""
        reader = cilium_nodes.connect(self._kubernetes)
        result = {}
        for index, node in enumerate(node_names):
            ident: pulumi.Output[str] = self.release.status.apply(partial(_node_id, reader, node, f"nodes[{index}]"))
            read = CiliumNodeRead(
                f"{node}-ciliumnode",
                ident,
                child_options(self, None, depends_on=[self.release]),
            )
            result[node] = read.spec.apply(lambda spec: list(((spec or {}).get("ipam") or {}).get("podCIDRs") or []))
        return result


def _node_id(reader: cilium_nodes.PodCidrReader, node: str, key: str, _status: object) -> pulumi.Output[str]:
    """The CiliumNode read's ID once the release is up (its status resolved)."""
    return cilium_nodes.node_id(reader, node, key)


def chart_source(cilium: CiliumSettings) -> dict[str, Any]:
    """Where the chart comes from: a local chart (absolute, so the provider finds it whatever its
    working directory), or the repository at ``chartVersion`` (default: the Cilium version)."""
    if cilium.chart is None:
        return {
            "chart": "cilium",
            "version": cilium.chart_version or cilium.version,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=cilium.repository),
        }
    path = Path(cilium.chart).expanduser().absolute()
    if not (path / "Chart.yaml").is_file() and not path.is_file():
        found = f"{excerpt(cilium.chart)} (no such file, nor a directory holding Chart.yaml)"
        problem = Problem("cilium.chart", found, "a chart directory or a packaged chart (.tgz)")
        raise pulumi.RunError(str(ConfigError([problem])))
    return {"chart": str(path)}
