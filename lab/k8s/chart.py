"""The ConfigMaps a stack's Cilium Helm release creates, rendered as ``pulumi up`` would install them.

The program's Helm values (``cilium_bgp.renderers.helm_values.render_helm_values``, the values
``pulumi up`` hands the release) go through the chart of the stack's release
(``CiliumBinaries.chart``, the module's ``install/kubernetes/cilium``) with ``helm template`` of
the Helm release pulumi-kubernetes embeds (``lab.k8s.versions.HELM``). The lab applies the
``cilium-config`` ConfigMap it yields through the API, and the release's operator and agents read
it from there, as the chart's volumes give it to them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from cilium_bgp.config import StackConfig
from cilium_bgp.renderers.helm_values import render_helm_values
from lab.k8s.api import Object
from lab.k8s.binaries import CiliumBinaries, cluster_dir
from lab.k8s.versions import KUBERNETES
from lab.shell import LabError, run

RELEASE_NAME = "cilium"
NAMESPACE = "kube-system"


def helm_binary(root: Path | None = None) -> Path:
    return (root or cluster_dir()) / "bin" / "helm"


def render_chart(binaries: CiliumBinaries, values: dict[str, object], namespace: str = NAMESPACE) -> list[Object]:
    """Every object ``helm template`` renders from the release's chart and ``values``."""
    helm = helm_binary()
    if not helm.exists():
        raise LabError(f"not built: {helm} (run `scripts/install-cluster --helm`)")
    binaries.require()
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="cbgp-values-") as file:
        json.dump(values, file)
        file.flush()
        argv = [str(helm), "template", RELEASE_NAME, str(binaries.chart), "--namespace", namespace]
        argv += ["--kube-version", KUBERNETES, "--values", file.name]
        proc = run(argv, timeout=60)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def release_config_map(cfg: StackConfig, binaries: CiliumBinaries, name: str = "cilium-config") -> Object:
    """The ConfigMap ``name`` of the stack's release, from the program's own Helm values."""
    objects = render_chart(binaries, render_helm_values(cfg))
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] == name:
            obj["metadata"].setdefault("namespace", NAMESPACE)
            return obj
    kinds = sorted({f"{o.get('kind')}/{o.get('metadata', {}).get('name')}" for o in objects})
    raise LabError(f"the chart of Cilium {binaries.release} rendered no ConfigMap {name}: {kinds}")
