"""Validation refuses what a Cilium release cannot do, per the release's source.

Upstream facts each test relies on sit in its docstring (cilium/cilium paths at release tags);
docs/cilium-versions.md collects them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stacks import ROOT

from cilium_bgp.config import StackConfig, load_config
from cilium_bgp.errors import ConfigError, Problem
from cilium_bgp.stackfile import raw_config_from_stack_file

VARIANTS = ROOT / "tests" / "stacks" / "variants"


def _load(stack: Path, **changes: Any) -> StackConfig:
    """``stack`` with top-level keys replaced and ``cilium`` keys merged from ``changes``."""
    raw, secret = raw_config_from_stack_file(stack)
    cilium = changes.pop("cilium", None)
    if cilium is not None:
        raw["cilium"] = {k: v for k, v in {**raw["cilium"], **cilium}.items() if v is not None}
    raw.update(changes)
    return load_config(raw, secret)


def _problems(stack: Path, **changes: Any) -> list[Problem]:
    try:
        _load(stack, **changes)
    except ConfigError as error:
        return error.problems
    return []


class TestKubeProxyReplacementNeedsTheApiServer:
    """Kube-proxy replacement runs the cluster without kube-proxy, so the ``kubernetes`` Service's
    ClusterIP is not served before Cilium runs: the agents reach the API server only at
    ``k8sServiceHost``/``k8sServicePort``, which the chart turns into ``KUBERNETES_SERVICE_HOST``/
    ``_PORT`` (``install/kubernetes/cilium/templates/cilium-agent/daemonset.yaml``, v1.13.18 and
    v1.16.19). ``k8sServiceHost: auto`` reads the address from ``kube-public/cluster-info`` from 1.16
    (``templates/_helpers.tpl``, ``define "k8sServiceHost"``, v1.16.19)."""

    def test_refused_without_an_address(self) -> None:
        problems = _problems(VARIANTS / "v2-1.16.yaml", cilium={"k8sServiceHost": None, "k8sServicePort": None})
        assert [p.key for p in problems] == ["cilium.k8sServiceHost"]
        assert "auto" in problems[0].allowed, "1.16 offers 'auto'"

    def test_no_auto_before_1_16(self) -> None:
        problems = _problems(VARIANTS / "v1-1.14.yaml", cilium={"k8sServiceHost": None, "k8sServicePort": None})
        assert [p.key for p in problems] == ["cilium.k8sServiceHost"]
        assert "auto" not in problems[0].allowed

    @pytest.mark.parametrize(
        "change",
        [
            {"cilium": {"k8sServiceHost": None, "kubeProxyReplacement": False}},
            {"cilium": {"k8sServiceHost": None, "values": {"kubeProxyReplacement": False}}},
            {"cilium": {"k8sServiceHost": None, "values": {"k8sServiceHost": "10.0.1.1"}}},
            {"cilium": {"k8sServiceHost": "auto"}},
        ],
        ids=["replacement-off", "replacement-off-in-values", "host-in-values", "auto"],
    )
    def test_accepted(self, change: dict[str, Any]) -> None:
        assert _problems(VARIANTS / "v2-1.16.yaml", **change) == []

    def test_hosts_only_stack_has_no_release_to_configure(self) -> None:
        lab = ROOT / "tests" / "stacks" / "lab" / "Pulumi.lab-bird.yaml"
        assert _problems(lab, cilium={"k8sServiceHost": None}, kubernetes={"enabled": False}) == []
