"""Stack configs of N nodes for the benchmarks: each node on its own /24 (or ``rack`` nodes to a
/24, as racks are), one PodCIDR each."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import yaml

POOL = IPv4Network("100.64.0.0/12")
MASK = 26


def node_subnet(i: int) -> IPv4Network:
    return IPv4Network(f"10.{i // 250}.{i % 250}.0/24")


RACK = 250  # nodes per /24 with ``racks=True``: .1 the router, .5 onwards the nodes


MGMT = IPv4Network("198.18.0.0/24")
# Hosts mode: the router at .2, node i at .3 + i, up to .254 (.0, .1 and .255 are the lab's).
ROUTER_HOST = 2
MAX_HOSTS_NODES = 254 - ROUTER_HOST


def stack_config(
    nodes: int, method: str = "bird", *, hosts: bool = False, racks: bool = False, **overrides: Any
) -> dict[str, Any]:
    """Namespaced config keys (as in a stack file) for ``nodes`` nodes.

    ``hosts``: a stack for the real engine on a hosts-mode lab: every host reachable over SSH on
    the management /24, no Kubernetes part. ``racks``: nodes share /24s (``RACK`` each), so the
    router has one interface per rack, not per node: the Pulumi CLI hands the whole stack config
    to the program in one environment variable, which Linux caps at 128 KiB (one /24 per node
    passes that at about 760 nodes).
    """
    cidrs = POOL.subnets(new_prefix=MASK)
    subnets = [IPv4Network(f"10.{r}.0.0/24") for r in range(-(-nodes // RACK))] if racks else []
    if racks:
        interfaces = [{"name": f"r{r}", "address": f"{subnet[1]}/24"} for r, subnet in enumerate(subnets)]
    else:
        interfaces = [{"name": f"n{i}", "address": f"{node_subnet(i)[1]}/24"} for i in range(nodes)]
    interfaces.append({"name": "eth0", "address": "192.168.121.16/24"})
    node_list = []
    for i in range(nodes):
        node: dict[str, Any] = {
            "name": f"node{i}",
            "address": f"{subnets[i // RACK][5 + i % RACK] if racks else node_subnet(i)[10]}/24",
            "podCIDRs": [str(next(cidrs))],
        }
        if method == "bird":
            node["asn"] = 4200000000 + i
        if hosts:
            node["ssh"] = {"host": str(MGMT[ROUTER_HOST + 1 + i])}
        node_list.append(node)
    config: dict[str, Any] = {
        "cilium-bgp:method": method,
        "cilium-bgp:cilium": {
            "version": "1.18.10",
            # Kube-proxy replacement (the default) needs the API server's address: node0's.
            "k8sServiceHost": str(subnets[0][5] if racks else node_subnet(0)[10]),
            "k8sServicePort": 6443,
            "clusterPoolIPv4PodCIDRList": [str(POOL)],
            "clusterPoolIPv4MaskSize": MASK,
        },
        "cilium-bgp:router": {"asn": 65100, "routerId": "192.168.121.16", "interfaces": interfaces},
        "cilium-bgp:nodes": node_list,
        "cilium-bgp:ssh": {"user": "root"},
    }
    if method != "bird":
        config["cilium-bgp:bgp"] = {"nodeASN": 65000}
    if hosts:
        if nodes > MAX_HOSTS_NODES:
            raise ValueError(f"a hosts-mode lab holds at most {MAX_HOSTS_NODES} nodes on its management /24")
        config["cilium-bgp:router"]["ssh"] = {"host": str(MGMT[ROUTER_HOST])}
        config["cilium-bgp:kubernetes"] = {"enabled": False}
    for key, value in overrides.items():
        config[f"cilium-bgp:{key}"] = value
    return config


def with_nodes_file(config: dict[str, Any], project_dir: Path, name: str = "nodes.yaml") -> dict[str, Any]:
    """``config`` with its node list moved to ``project_dir/name`` and named by ``nodesFile``, as a
    stack past the 128 KiB config limit keeps it."""
    rest = {key: value for key, value in config.items() if key != "cilium-bgp:nodes"}
    (project_dir / name).write_text(yaml.safe_dump(config["cilium-bgp:nodes"], sort_keys=False))
    return rest | {"cilium-bgp:nodesFile": name}
