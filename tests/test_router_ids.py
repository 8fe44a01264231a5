"""A node's ``routerId`` reaches its speaker, or the stack is refused naming the key.

Upstream facts:

- BGP Control Plane v1 takes a node's router-id from the Node annotation
  ``cilium.io/bgp-virtual-router.<local ASN>: router-id=<IPv4>`` (cilium/cilium
  ``pkg/annotation/k8s.go`` ``BGPVRouterAnnoPrefix``, parsed in ``pkg/bgpv1/agent/annotations.go``,
  v1.13.18 to v1.18.3); the agent reads its CiliumNode's annotations, into which it copies the
  Node's (``pkg/node/types/node.go`` ``GetCiliumAnnotations``, v1.13.18; ``pkg/k8s/node.go``,
  v1.16.19) when it writes the CiliumNode (at agent start on 1.13:
  ``daemon/cmd/daemon.go`` ``UpdateCiliumNodeResource``). The program does not own Nodes, so it
  sets the annotation with pulumi-kubernetes' server-side-apply ``kubernetes:core/v1:NodePatch``
  (which removes only its own fields on destroy), before the Cilium release.
- The MetalLB-based speaker's bgp-config peers have ``router-id`` and ``node-selectors``
  (``pkg/config/config.go`` of the cilium/metallb fork Cilium 1.14-1.16 pin): one peer entry per
  node with its own router-id, selected by ``kubernetes.io/hostname``.
- kube-router has one ``--router-id`` for the whole DaemonSet (or ``generate``), else each node's
  primary IP, and no node annotation for it (``pkg/options/options.go``,
  ``pkg/controllers/routing/network_routes_controller.go``, v2.1.0 and v2.5.0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import run_program, stack_file_config, unwrap
from stacks import ROOT

from cilium_bgp.config import StackConfig, load_config
from cilium_bgp.errors import ConfigError
from cilium_bgp.plan import build_plan
from cilium_bgp.renderers.manifests import render_manifests
from cilium_bgp.stackfile import raw_config_from_stack_file

VARIANTS = ROOT / "tests" / "stacks" / "variants"
V1 = VARIANTS / "v1-1.14.yaml"
METALLB = VARIANTS / "metallb-1.14.yaml"
KUBE_ROUTER = VARIANTS / "kube-router-1.16.yaml"


def _with_router_id(stack: Path, router_id: str = "10.255.0.1") -> tuple[dict[str, Any], frozenset[str]]:
    raw, secret = raw_config_from_stack_file(stack)
    raw["nodes"] = [{**raw["nodes"][0], "routerId": router_id}, *raw["nodes"][1:]]
    return raw, secret


def _load(stack: Path) -> StackConfig:
    return load_config(*_with_router_id(stack))


def _manifests(stack: Path) -> list[dict[str, Any]]:
    cfg = _load(stack)
    return render_manifests(cfg, build_plan(cfg))


def test_v1_annotates_the_node_for_its_virtual_router() -> None:
    patches = [o for o in _manifests(V1) if o["kind"] == "Node"]
    assert patches == [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "node1",
                "annotations": {"cilium.io/bgp-virtual-router.65000": "router-id=10.255.0.1"},
            },
        }
    ], patches


def test_v1_patches_the_node_before_the_release() -> None:
    config = stack_file_config(V1)
    config["cilium-bgp:nodes"][0]["routerId"] = "10.255.0.1"
    run = run_program(config)
    (patch,) = run.of_type("kubernetes:core/v1:NodePatch")
    assert unwrap(run.inputs[patch.urn]["metadata"])["annotations"] == {
        "cilium.io/bgp-virtual-router.65000": "router-id=10.255.0.1"
    }
    assert not run.of_type("kubernetes:core/v1:Node"), "a Node is annotated, never created"
    release = run.of_type("kubernetes:helm.sh/v3:Release")[0].urn
    assert patch.urn in run.dependencies[release], "agents read the annotation when they start"


def test_metallb_gives_the_node_its_own_peer_with_its_router_id() -> None:
    config_map = next(o for o in _manifests(METALLB) if o["kind"] == "ConfigMap")
    peers = yaml.safe_load(config_map["data"]["config.yaml"])["peers"]

    def selected(peer: dict[str, Any]) -> set[str]:
        (selector,) = peer["node-selectors"]
        (expression,) = selector["match-expressions"]
        assert expression["key"] == "kubernetes.io/hostname" and expression["operator"] == "In"
        return set(expression["values"])

    by_nodes = {frozenset(selected(p)): p for p in peers}
    assert set(by_nodes) == {frozenset({"node1"}), frozenset({"node2"})}, "every node matches exactly one peer"
    assert by_nodes[frozenset({"node1"})]["router-id"] == "10.255.0.1"
    assert "router-id" not in by_nodes[frozenset({"node2"})]
    assert {p["peer-address"] for p in peers} == {"192.168.121.16"}


def test_kube_router_refuses_a_router_id_it_cannot_set() -> None:
    with pytest.raises(ConfigError) as caught:
        _load(KUBE_ROUTER)
    assert [p.key for p in caught.value.problems] == ["nodes[0].routerId"]
    assert "--router-id" in caught.value.problems[0].allowed


def test_kube_router_accepts_the_node_address_it_uses_anyway() -> None:
    raw, secret = _with_router_id(KUBE_ROUTER, router_id="10.0.1.10")
    assert load_config(raw, secret).nodes[0].router_id is not None
