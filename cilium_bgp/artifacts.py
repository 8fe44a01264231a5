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

HELM_VALUES = "cilium/values.yaml"
OUTPUTS = "outputs.json"


def router_dir(plan: SessionPlan, router: RouterPlan) -> str:
    """``router`` for the one-router form (the paths such stacks always had), ``routers/<name>`` else."""
    return "router" if plan.form == "router" else f"routers/{router.name}"


def router_config(plan: SessionPlan, router: RouterPlan) -> tuple[str, str]:
    """(artifact path, text) of a router's routing-daemon config."""
    if router.daemon == "frr":
        return f"{router_dir(plan, router)}/frr.conf", render_frr_conf(plan, router)
    return f"{router_dir(plan, router)}/bird.conf", render_router_bird_conf(plan, router)


def router_sysctl_path(plan: SessionPlan, router: RouterPlan) -> str:
    return f"{router_dir(plan, router)}/sysctl.conf"


def by_router(plan: SessionPlan, values: Mapping[str, Any]) -> Any:
    """An output about routers (``values``: by router name): the one value for the one-router form
    (the shape such stacks always had), keyed by router name for ``routers``."""
    if plan.form == "router":
        (value,) = values.values()
        return value
    return dict(values)


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
    peers: dict[str, dict[str, Any]] = {}
    for router in plan.routers:
        peers[router.name] = {}
        if pod_cidrs is not None:
            expect = expected_state(plan, router, pod_cidrs, known_lb)
            peers[router.name] = {address: peer_output(p, "Established") for address, p in expect["peers"].items()}
    return {
        "bgpMethod": cfg.method,
        "ciliumVersion": cfg.cilium.version,
        "podCidrs": {n: [str(c) for c in cidrs] for n, cidrs in pod_cidrs.items()} if pod_cidrs is not None else None,
        "loadBalancerIps": lb_ips,
        "bgpPeers": by_router(plan, peers),
        "routerConfig": by_router(plan, {r.name: router_config(plan, r)[1] for r in plan.routers}),
        "nodeConfigs": dict(node_configs),
    }


def peer_output(want: Mapping[str, Any], state: str, received: int | None = None) -> dict[str, Any]:
    """One ``bgpPeers`` entry: who the peer is (a node, another router, an upstream), its ASN, its state."""
    who = {k: want[k] for k in ("node", "router", "upstream") if k in want}
    return {
        **who,
        "asn": want["asn"],
        "state": state,
        "prefixesReceived": want["prefixesReceived"] if received is None else received,
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
        files[router_sysctl_path(plan, router)] = render_router_sysctl()
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
