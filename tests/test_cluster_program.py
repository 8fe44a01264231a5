"""The program's Kubernetes half under mocks: where the chart comes from, aliases across Cilium's
API versions, and when CiliumNodes are read (the real cluster: tests/e2e/test_cluster.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pulumi
import pytest
from harness import StackMocks, run_program, stack_file_config, unwrap
from keys import throwaway_private_key
from pulumi.runtime import rpc
from stacks import ROOT

from components import cilium_kinds, cilium_nodes
from components.kubernetes_objects import PROMOTED_KINDS, aliases, type_token

SECRETS = {"sshPrivateKey": throwaway_private_key()}
BIRD_CLUSTER = ROOT / "tests" / "stacks" / "variants" / "bird-cluster-1.18.yaml"
V2_118 = ROOT / "tests" / "stacks" / "variants" / "v2-listen-range-1.18.yaml"
V2_116 = ROOT / "tests" / "stacks" / "variants" / "v2-1.16.yaml"
CLUSTER_CIDRS = {"node1": ["172.31.254.0/26"], "node2": ["172.31.254.64/26"]}


def config_of(stack: Path, **cilium: object) -> dict[str, object]:
    config = stack_file_config(stack)
    config["cilium-bgp:cilium"] = {**config["cilium-bgp:cilium"], **cilium}  # type: ignore[dict-item]
    return config


def release_inputs(config: dict[str, object]) -> dict[str, object]:
    run = run_program(config, secrets=SECRETS, mocks=StackMocks(cluster_pod_cidrs=CLUSTER_CIDRS))
    return unwrap(run.inputs[run.of_type("kubernetes:helm.sh/v3:Release")[0].urn])


def test_the_default_chart_is_cilium_from_its_repository() -> None:
    inputs = release_inputs(config_of(BIRD_CLUSTER))
    assert inputs["chart"] == "cilium"
    assert inputs["repositoryOpts"] == {"repo": "https://helm.cilium.io"}
    assert inputs["version"] == "1.18.3"


def test_a_local_chart_is_installed_from_its_absolute_path(tmp_path: Path) -> None:
    chart = tmp_path / "cilium"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: cilium\nversion: 1.18.3\n")
    inputs = release_inputs(config_of(BIRD_CLUSTER, chart=str(chart)))
    assert inputs["chart"] == str(chart)
    assert "repositoryOpts" not in inputs and "version" not in inputs, "the chart on disk is the version"
    archive = tmp_path / "cilium-1.18.3.tgz"
    archive.write_bytes(b"")
    assert release_inputs(config_of(BIRD_CLUSTER, chart=str(archive)))["chart"] == str(archive)


def test_a_missing_local_chart_fails_naming_the_key() -> None:
    with pytest.raises(pulumi.RunError, match=r"cilium-bgp:cilium\.chart: found 'charts/nowhere' \(no such file"):
        release_inputs(config_of(BIRD_CLUSTER, chart="charts/nowhere"))


@pytest.mark.parametrize("stack", [V2_118, V2_116], ids=["v2", "v2alpha1"])
def test_promoted_kinds_carry_the_other_api_versions_token(stack: Path) -> None:
    cfg = stack_file_config(stack)
    run = run_program(cfg, secrets=SECRETS, mocks=StackMocks(cluster_pod_cidrs=CLUSTER_CIDRS))
    token = {r.urn: r.urn.split("::")[2].split("$")[-1] for r in run.registrations}
    promoted = [r for r in run.registrations if token[r.urn].split(":")[-1] in PROMOTED_KINDS]
    assert {token[r.urn].split(":")[-1] for r in promoted} >= {"CiliumLoadBalancerIPPool", "CiliumBGPPeerConfig"}
    for reg in promoted:
        _, group_version, kind = token[reg.urn].split(":")
        other = {"cilium.io/v2": "cilium.io/v2alpha1", "cilium.io/v2alpha1": "cilium.io/v2"}[group_version]
        assert run.options[reg.urn]["aliases"] == [f"kubernetes:{other}:{kind}"], reg.urn
    others = [r for r in run.registrations if r not in promoted and token[r.urn].startswith("kubernetes:")]
    assert others and all(run.options[r.urn].get("aliases") in ([], None) for r in others)


def test_aliases_only_for_kinds_that_moved() -> None:
    pool = {"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool", "metadata": {"name": "p"}}
    assert [a.type_ for a in aliases(pool)] == ["kubernetes:cilium.io/v2alpha1:CiliumLoadBalancerIPPool"]
    policy = {"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumBGPPeeringPolicy", "metadata": {"name": "p"}}
    assert aliases(policy) == [], "CiliumBGPPeeringPolicy never left v2alpha1"
    assert aliases({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}) == []
    assert type_token({"apiVersion": "v1", "kind": "Node"}) == "kubernetes:core/v1:NodePatch"


class Unallocated:
    def __init__(self, answers: list[list[str] | None]) -> None:
        self.answers = answers
        self.asked = 0

    def pod_cidrs(self, node: str) -> list[str] | None:
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


def test_a_first_preview_reads_no_ciliumnode() -> None:
    """Against a cluster without Cilium the release is to be created: the reads' IDs stay unknown,
    so the engine never reads a CiliumNode that cannot exist yet."""
    mocks = StackMocks(cluster_pod_cidrs=CLUSTER_CIDRS)
    mocks.cilium_nodes = asked = Unallocated([None])
    run = run_program(stack_file_config(BIRD_CLUSTER), secrets=SECRETS, mocks=mocks, preview=True)
    reads = run.of_type("kubernetes:cilium.io/v2:CiliumNode")
    assert len(reads) == 2
    assert {run.read_ids[r.urn] for r in reads} == {rpc.UNKNOWN}, "a known ID would be read during preview"
    assert asked.asked == 0, "the release's status is unknown in a first preview: nobody asks the cluster"


def test_the_read_waits_for_the_operators_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cilium_nodes, "POLL_INTERVAL", 0.01)
    reader = Unallocated([None, None, [], ["172.31.254.0/26"]])
    asyncio.run(cilium_nodes.wait_allocated(reader, "node1", "nodes[0]", timeout=5))
    assert reader.asked == 4, "no CiliumNode, twice; one without PodCIDRs; then allocated"


def test_a_node_never_allocated_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cilium_nodes, "POLL_INTERVAL", 0.01)
    with pytest.raises(pulumi.RunError, match=r"nodes\[1\]: CiliumNode node2 not allocated after 0 s: no CiliumNode"):
        asyncio.run(cilium_nodes.wait_allocated(Unallocated([None]), "node2", "nodes[1]", timeout=0.05))
    with pytest.raises(pulumi.RunError, match=r"no spec\.ipam\.podCIDRs yet"):
        asyncio.run(cilium_nodes.wait_allocated(Unallocated([[]]), "node2", "nodes[1]", timeout=0.05))


class ServedLater:
    """Serves each kind from the ``after``-th question on (a new operator that leads late)."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.asked: list[tuple[str, str, str]] = []

    def served(self, group: str, version: str, kind: str) -> bool:
        self.asked.append((group, version, kind))
        return len(self.asked) >= self.after


def test_cilium_objects_wait_until_their_kinds_are_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cilium_kinds, "POLL_INTERVAL", 0.01)
    kinds = cilium_kinds.cilium_kinds(
        [
            {"apiVersion": "cilium.io/v2", "kind": "CiliumBGPPeerConfig"},
            {"apiVersion": "cilium.io/v2", "kind": "CiliumBGPPeerConfig"},
            {"apiVersion": "v1", "kind": "Service"},
        ]
    )
    assert kinds == [("cilium.io/v2", "CiliumBGPPeerConfig")], "Cilium's kinds only, once each"
    reader = ServedLater(3)
    asyncio.run(cilium_kinds.wait_served(reader, kinds, timeout=5))
    assert reader.asked == [("cilium.io", "v2", "CiliumBGPPeerConfig")] * 3


def test_a_kind_never_served_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cilium_kinds, "POLL_INTERVAL", 0.01)
    with pytest.raises(pulumi.RunError, match=r"does not serve cilium\.io/v2 CiliumLoadBalancerIPPool after 0 s"):
        asyncio.run(cilium_kinds.wait_served(ServedLater(99), [("cilium.io/v2", "CiliumLoadBalancerIPPool")], 0.05))
