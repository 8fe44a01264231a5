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


class TestLbIpamBefore115SkipsFirstAndLast:
    """LB IPAM before 1.15 builds each pool block with ``ipallocator.NewCIDRRange``
    (``operator/pkg/lbipam/range_store.go``, v1.13.18 and v1.14.19), which starts one past the
    network address and holds ``max(0, size - 2)`` addresses (``pkg/ipam/service/ipallocator/
    allocator.go`` in v1.14.19; ``github.com/cilium/ipam`` ``service/ipallocator`` in v1.13.18,
    where ``RangeSize`` is 0 for a /31 or /32): a block's first and last address are never handed
    out and a /31 or /32 block holds none. From 1.15 ``allowFirstLastIPs`` makes them allocatable
    (``operator/pkg/lbipam/lbipam.go``, v1.15.7), which the program sets."""

    @pytest.mark.parametrize("address", ["192.0.2.0", "192.0.2.255"])
    @pytest.mark.parametrize("stack", ["v1-1.14.yaml", "kube-router-1.16.yaml"])
    def test_first_or_last_address_refused(self, stack: str, address: str) -> None:
        version = {"cilium": {"version": "1.13.12"}} if "1.16" in stack else {}
        problems = _problems(VARIANTS / stack, demoService={"loadBalancerIP": address}, **version)
        assert [p.key for p in problems] == ["demoService.loadBalancerIP"]
        assert "192.0.2.0/24" in problems[0].found

    @pytest.mark.parametrize("block", ["192.0.2.8/31", "192.0.2.9/32"])
    def test_blocks_without_addresses_refused(self, block: str) -> None:
        problems = _problems(VARIANTS / "v1-1.14.yaml", loadBalancer={"cidrs": ["192.0.2.0/28", block]})
        assert [p.key for p in problems] == ["loadBalancer.cidrs[1]"]

    @pytest.mark.parametrize(
        "change",
        [
            {"demoService": {"loadBalancerIP": "192.0.2.1"}},
            {"demoService": {"loadBalancerIP": "192.0.2.0"}, "cilium": {"version": "1.15.7"}},
            {"loadBalancer": {"cidrs": ["192.0.2.9/32"]}, "demoService": {}, "cilium": {"version": "1.16.15"}},
        ],
        ids=["inner-address", "first-address-on-1.15", "host-block-on-1.16"],
    )
    def test_accepted(self, change: dict[str, Any]) -> None:
        assert _problems(VARIANTS / "v1-1.14.yaml", **change) == []

    def test_metallb_pools_are_not_lb_ipam(self) -> None:
        """The MetalLB-based speaker allocates from its own address-pools (``avoid-buggy-ips``
        defaults to false), so the seed's 192.0.2.0 stays valid there."""
        assert _problems(VARIANTS / "metallb-1.14.yaml", demoService={"loadBalancerIP": "192.0.2.0"}) == []


class TestBgpSecretsNamespace:
    """Cilium reads BGP auth Secrets from ``bgp-secrets-namespace``, which the chart sets from
    ``bgpControlPlane.secretsNamespace.name`` (``install/kubernetes/cilium/templates/
    cilium-configmap.yaml``, v1.15.7; ``values.yaml`` default ``name: kube-system``,
    ``create: false``; the key is absent from v1.14.19). The agent looks the Secret up there
    (``pkg/bgpv1/manager/reconciler/neighbor.go`` ``fetchSecret``) and, when it is missing, peers
    "with empty password" (``fetchPeerPassword``). ``create: true`` makes the chart create that
    namespace (``templates/cilium-secrets-namespace.yaml``) and, in every case, a Role for the agent
    in it (``templates/cilium-agent/role.yaml``): an existing namespace cannot be created again."""

    STACK = VARIANTS / "v1-1.16.yaml"

    @staticmethod
    def _values(name: str, create: bool) -> dict[str, Any]:
        return {"values": {"bgpControlPlane": {"secretsNamespace": {"name": name, "create": create}}}}

    def _secret_namespace(self, cfg: StackConfig) -> str:
        from cilium_bgp.plan import build_plan
        from cilium_bgp.renderers.manifests import render_manifests

        secrets = [o for o in render_manifests(cfg, build_plan(cfg)) if o["kind"] == "Secret"]
        assert len(secrets) == 1, secrets
        return secrets[0]["metadata"]["namespace"]

    def test_secret_goes_where_the_values_say(self) -> None:
        bgp = {"nodeASN": 65000, "requirePassword": True}
        cfg = _load(self.STACK, cilium=self._values("bgp-secrets", True), bgp=bgp)
        assert self._secret_namespace(cfg) == "bgp-secrets"

    def test_default_is_the_charts_kube_system(self) -> None:
        cfg = _load(self.STACK, bgp={"nodeASN": 65000, "requirePassword": True})
        assert self._secret_namespace(cfg) == "kube-system"

    def test_program_creates_the_secret_after_the_release_that_creates_the_namespace(self) -> None:
        from harness import run_program, stack_file_config
        from stacks import PASSWORD

        config = stack_file_config(self.STACK)
        config["cilium-bgp:cilium"] = {**config["cilium-bgp:cilium"], **self._values("bgp-secrets", True)}
        config["cilium-bgp:bgp"] = {"nodeASN": 65000, "requirePassword": True}
        run = run_program(config, secrets={"bgpPassword": PASSWORD})
        (secret,) = run.of_type("kubernetes:core/v1:Secret")
        assert run.inputs[secret.urn]["metadata"]["namespace"] == "bgp-secrets"
        release = run.of_type("kubernetes:helm.sh/v3:Release")[0].urn
        assert release in run.dependencies[secret.urn]

    @pytest.mark.parametrize("name", ["kube-system", "default"])
    def test_chart_cannot_create_a_namespace_that_exists(self, name: str) -> None:
        problems = _problems(self.STACK, cilium=self._values(name, True))
        assert [p.key for p in problems] == ["cilium.values.bgpControlPlane.secretsNamespace.create"]

    def test_not_before_1_15(self) -> None:
        problems = _problems(VARIANTS / "v1-1.14.yaml", cilium=self._values("bgp-secrets", True))
        assert {p.key for p in problems} == {"cilium.values.bgpControlPlane.secretsNamespace"}

    def test_name_must_be_a_namespace_name(self) -> None:
        problems = _problems(self.STACK, cilium=self._values("BGP_Secrets", True))
        assert [p.key for p in problems] == ["cilium.values.bgpControlPlane.secretsNamespace.name"]
