"""Every file a stack pushes, by relative path: the single source for ``pulumi up`` and ``render``.

Components push exactly these texts (secrets filled in on the way out); the render command writes
them to a directory; tests compare both against golden files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from typing import Any

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import NodePlan, RouterPlan, SessionPlan, build_plan
from cilium_bgp.renderers.bird import render_node_bird_conf, render_router_bird_conf
from cilium_bgp.renderers.expectations import expected_state, requested_lb_ips, static_pod_cidrs
from cilium_bgp.renderers.frr import render_frr_conf
from cilium_bgp.renderers.helm_values import render_helm_values
from cilium_bgp.renderers.manifests import dump_yaml, manifest_filename, render_manifests
from cilium_bgp.renderers.sysctl import render_router_sysctl

ROUTER_SYSCTL = "router/sysctl.conf"
HELM_VALUES = "cilium/values.yaml"
OUTPUTS = "outputs.json"


def router_config(plan: SessionPlan, router: RouterPlan) -> tuple[str, str]:
    """(artifact path, text) of a router's routing-daemon config."""
    if router.daemon == "frr":
        return "router/frr.conf", render_frr_conf(plan, router)
    return "router/bird.conf", render_router_bird_conf(plan, router)


def node_config_path(node: str) -> str:
    return f"nodes/{node}/bird.conf"


def node_config(plan: SessionPlan, node: NodePlan, pod_cidrs: Sequence[IPv4Network]) -> str:
    return render_node_bird_conf(plan, node, pod_cidrs)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def expected_outputs(
    cfg: StackConfig,
    plan: SessionPlan,
    pod_cidrs: Mapping[str, Sequence[IPv4Network]] | None,
    node_configs: Mapping[str, str],
) -> dict[str, Any]:
    """The stack outputs ``pulumi up`` should end with (LB IPs as requested; peers as expected)."""
    lb_ips = requested_lb_ips(cfg)
    known_lb = [ip for ip in lb_ips.values() if ip is not None]
    (router,) = plan.routers
    peers: dict[str, Any] = {}
    if pod_cidrs is not None:
        expect = expected_state(plan, router, pod_cidrs, known_lb)
        peers = {
            address: {
                "node": p["node"],
                "asn": p["asn"],
                "state": "Established",
                "prefixesReceived": p["prefixesReceived"],
            }
            for address, p in expect["peers"].items()
        }
    return {
        "bgpMethod": cfg.method,
        "ciliumVersion": cfg.cilium.version,
        "podCidrs": {n: [str(c) for c in cidrs] for n, cidrs in pod_cidrs.items()} if pod_cidrs is not None else None,
        "loadBalancerIps": lb_ips,
        "bgpPeers": peers,
        "routerConfig": router_config(plan, router)[1],
        "nodeConfigs": dict(node_configs),
    }


def render_artifacts(cfg: StackConfig, pod_cidrs: Mapping[str, Sequence[IPv4Network]] | None = None) -> dict[str, str]:
    """All artifacts of the stack. ``pod_cidrs`` defaults to the static ones from config; with
    ``podCidrSource: cluster`` and none given, node configs are left out (they need the cluster)."""
    if pod_cidrs is None and cfg.pod_cidr_source == "static":
        pod_cidrs = static_pod_cidrs(cfg)
    plan = build_plan(cfg)
    files: dict[str, str] = {}
    for router in plan.routers:
        path, text = router_config(plan, router)
        files[path] = text
    files[ROUTER_SYSCTL] = render_router_sysctl()
    node_configs: dict[str, str] = {}
    if cfg.method == "bird" and pod_cidrs is not None:
        for node in plan.nodes:
            node_configs[node.name] = node_config(plan, node, pod_cidrs[node.name])
            files[node_config_path(node.name)] = node_configs[node.name]
    if cfg.kubernetes.enabled:
        files[HELM_VALUES] = dump_yaml(render_helm_values(cfg))
        for index, obj in enumerate(render_manifests(cfg, plan), start=1):
            files[f"manifests/{manifest_filename(index, obj)}"] = dump_yaml(obj)
    files[OUTPUTS] = json.dumps(expected_outputs(cfg, plan, pod_cidrs, node_configs), indent=2, sort_keys=True) + "\n"
    return files
