"""Cross-key checks of a parsed stack config: the designs that cannot route, or cannot install."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

from cilium_bgp.checks import (
    PodCidrOverlap,
    direct_routes_across_subnets,
    kube_proxy_replacement_problem,
    lb_pool_clashes,
    missing_helm_keys,
    pod_cidr_findings,
)
from cilium_bgp.config import RouterSettings, StackConfig
from cilium_bgp.errors import ConfigError, Problem
from cilium_bgp.plan import SessionPlan, build_plan, mesh_subnet
from cilium_bgp.renderers.manifests import DEFAULT_BGP_SECRETS_NAMESPACE, kube_router_global_peers
from cilium_bgp.versions import (
    K8S_SERVICE_HOST_AUTO,
    LB_POOL_FIRST_LAST_IPS,
    METHODS,
    PEERING_POLICY_AUTH_SECRET,
    SHARED_ASN_METHODS,
    has_helm_key,
)


def check_stack(cfg: StackConfig) -> list[Problem]:
    problems = list(_check_routers(cfg))
    if not cfg.all_routers:
        return problems
    for check in (
        _check_method,
        _check_pool,
        _check_nodes,
        _check_pod_cidrs,
        _check_asns,
        _check_router_ids,
        _check_load_balancer,
        _check_helm_overrides,
        _check_misc,
    ):
        problems.extend(check(cfg))
    if not problems and _needs_plan(cfg):
        # The sessions are sound: what remains is checked on the plan the renderers format.
        problems.extend(_check_plan(cfg, build_plan(cfg)))
    return problems


def _check_routers(cfg: StackConfig) -> Iterator[Problem]:
    """One router or a list; names, addresses and the mesh between several."""
    if cfg.router is None and cfg.routers is None:
        yield Problem("router", "nothing (the key is required)", "the router every node peers with, or `routers`")
        return
    if cfg.router is not None and cfg.routers is not None:
        yield Problem("routers", "a list, with `router` set as well", "one of `router` (one router) or `routers`")
        return
    names: dict[str, str] = {}
    addresses: dict[IPv4Address, str] = {}
    node_names = {n.name for n in cfg.nodes}
    for key, router in cfg.all_routers:
        name = router.effective_name
        if name in names:
            origin = "" if router.name else " (defaulted from hostname)"
            yield Problem(
                f"{key}.name", f"{name!r}{origin}, already used by {names[name]}", "a distinct name per router"
            )
        elif name in node_names:
            yield Problem(f"{key}.name", f"{name!r}, also a node's name", "a name no node has")
        names.setdefault(name, key)
        for j, iface in enumerate(router.interfaces):
            if iface.address.ip in addresses:
                yield Problem(
                    f"{key}.interfaces[{j}].address",
                    f"{iface.address.ip}, already an address of {addresses[iface.address.ip]}",
                    "an address no other router has",
                )
            addresses.setdefault(iface.address.ip, key)
    yield from _check_mesh(cfg, names)


def _check_mesh(cfg: StackConfig, names: dict[str, str]) -> Iterator[Problem]:
    mesh = cfg.router_mesh
    routers = cfg.all_routers
    for k, name in enumerate(mesh.reflectors):
        if name not in names:
            yield Problem(f"routerMesh.reflectors[{k}]", repr(name), f"a router's name: {', '.join(names)}")
    if len(routers) < 2:
        return
    nodes = {n.address.network for n in cfg.nodes}
    if mesh.mode == "full":
        for i, (key_a, a) in enumerate(routers):
            for key_b, b in routers[i + 1 :]:
                if mesh_subnet([a, b], nodes) is None:
                    yield Problem(
                        key_b,
                        f"no subnet shared with {key_a} ({a.effective_name})",
                        "an address on a subnet of every other router: routerMesh full peers every two routers "
                        "directly (or routerMesh.mode reflectors)",
                    )
        return
    if not mesh.reflectors:
        yield Problem("routerMesh.reflectors", "nothing with mode reflectors", "the names of the route reflectors")
    key_a, first = routers[0]
    for key, router in routers[1:]:
        if router.asn != first.asn:
            yield Problem(
                f"{key}.asn",
                f"{router.asn}, with routerMesh.mode reflectors and {key_a}.asn {first.asn}",
                f"{first.asn}: route reflection is iBGP, every router in one ASN (or routerMesh.mode full)",
            )
    if mesh_subnet([r for _, r in routers], nodes) is None:
        yield Problem(
            "routerMesh.mode",
            "reflectors, with no subnet every router has an address on",
            "full, or one subnet shared by all routers: it carries the reflected routes' next hops",
        )


def _check_method(cfg: StackConfig) -> Iterator[Problem]:
    lifetime = METHODS[cfg.method]
    if not lifetime.exists_in(cfg.version):
        supported = sorted(m for m, life in METHODS.items() if life.exists_in(cfg.version))
        yield Problem(
            "method",
            f"{cfg.method!r}, which exists in {lifetime.describe()}, with cilium.version {cfg.cilium.version}",
            f"for Cilium {cfg.cilium.version}: {', '.join(supported)}",
        )
    if cfg.method != "bird" and not cfg.kubernetes.enabled:
        yield Problem(
            "kubernetes.enabled",
            f"false with method {cfg.method!r}",
            "true: this method is configured through Kubernetes objects (only `bird` runs on hosts alone)",
        )


def _check_pool(cfg: StackConfig) -> Iterator[Problem]:
    pools = cfg.cilium.cluster_pool_ipv4_pod_cidr_list
    mask = cfg.cilium.cluster_pool_ipv4_mask_size
    for i, pool in enumerate(pools):
        if mask < pool.prefixlen:
            yield Problem(
                "cilium.clusterPoolIPv4MaskSize",
                f"{mask}, shorter than the pool {pool}",
                f"a prefix length from {pool.prefixlen} to 30",
            )
        for j in range(i):
            if pool.overlaps(pools[j]):
                yield Problem(
                    f"cilium.clusterPoolIPv4PodCIDRList[{i}]",
                    f"{pool}, overlapping {pools[j]}",
                    "CIDRs that do not overlap",
                )
    if cfg.method == "kube-router" and len(pools) > 1:
        # Kubernetes IPAM: the controller manager hands out PodCIDRs from its one IPv4 --cluster-cidr.
        yield Problem(
            "cilium.clusterPoolIPv4PodCIDRList",
            f"{len(pools)} CIDRs with method 'kube-router'",
            "one CIDR, kube-controller-manager's --cluster-cidr (PodCIDRs come from it with Kubernetes IPAM)",
        )
    native = cfg.cilium.native_routing_cidr
    if native is None:
        yield Problem(
            "cilium.ipv4NativeRoutingCIDR",
            "nothing, and the pool has several CIDRs",
            "a CIDR containing every pool CIDR (native routing needs it)",
        )
    elif cfg.pod_cidr_source == "cluster":
        for i, pool in enumerate(pools):
            if not pool.subnet_of(native):
                yield Problem(
                    f"cilium.clusterPoolIPv4PodCIDRList[{i}]",
                    f"{pool}, outside ipv4NativeRoutingCIDR {native}",
                    f"CIDRs inside {native}",
                )
    if direct_routes_across_subnets(cfg.cilium.auto_direct_node_routes, (n.address.network for n in cfg.nodes)):
        yield Problem(
            "cilium.autoDirectNodeRoutes",
            "true with nodes on several subnets",
            "false: direct routes only work on one shared L2; BGP carries the PodCIDRs here",
        )


def _check_nodes(cfg: StackConfig) -> Iterator[Problem]:
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    routers = [r for _, r in cfg.all_routers]
    router_ips = {iface.address.ip for r in routers for iface in r.interfaces}
    subnets = ", ".join(str(iface.address.network) for r in routers for iface in r.interfaces)
    by_name = {r.effective_name: r for r in routers}
    for i, node in enumerate(cfg.nodes):
        if node.name in seen_names:
            yield Problem(
                f"nodes[{i}].name",
                f"{node.name!r}, already used by nodes[{seen_names[node.name]}]",
                "unique node names",
            )
        seen_names.setdefault(node.name, i)
        ip = str(node.ip)
        if ip in seen_addresses:
            yield Problem(
                f"nodes[{i}].address", f"{ip}, already used by nodes[{seen_addresses[ip]}]", "unique node addresses"
            )
        seen_addresses.setdefault(ip, i)
        on_subnet = [(r, iface) for r in routers if (iface := r.interface_on(node.ip)) is not None]
        if not on_subnet:
            yield Problem(f"nodes[{i}].address", f"{node.address}, on no router subnet", f"an address in {subnets}")
            continue
        if node.ip in router_ips:
            yield Problem(f"nodes[{i}].address", f"{ip}, the router's own address", "an address of the node")
            continue
        differing = next((iface for _, iface in on_subnet if iface.address.network != node.address.network), None)
        if differing is not None:
            yield Problem(
                f"nodes[{i}].address",
                f"{node.address}, whose prefix differs from the router's {differing.address}",
                "the same prefix length as the router's address on that subnet",
            )
        here = [r.effective_name for r, _ in on_subnet]
        for j, name in enumerate(node.routers or []):
            if name not in by_name:
                yield Problem(f"nodes[{i}].routers[{j}]", repr(name), f"a router's name: {', '.join(by_name)}")
            elif name not in here:
                yield Problem(
                    f"nodes[{i}].routers[{j}]",
                    f"{name!r}, a router with no address on {node.address.network}",
                    f"a router on the node's subnet: {', '.join(here)}",
                )


def _check_pod_cidrs(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.pod_cidr_source == "cluster":
        for i, node in enumerate(cfg.nodes):
            if node.pod_cidrs:
                yield Problem(
                    f"nodes[{i}].podCIDRs",
                    f"{[str(c) for c in node.pod_cidrs]} with podCidrSource cluster",
                    "nothing: the PodCIDRs are read from the node's CiliumNode (or set podCidrSource: static)",
                )
        if not cfg.kubernetes.enabled:
            yield Problem(
                "podCidrSource", "cluster with kubernetes.enabled false", "static (there is no cluster to read)"
            )
        return
    for i, node in enumerate(cfg.nodes):
        if not node.pod_cidrs:
            yield Problem(
                f"nodes[{i}].podCIDRs",
                "nothing with podCidrSource static",
                "the node's PodCIDRs (`cilium node list`), or podCidrSource: cluster",
            )
    yield from check_pod_cidr_assignment(
        cfg, [list(node.pod_cidrs) for node in cfg.nodes], lambda i, j: f"nodes[{i}].podCIDRs[{j}]"
    )


def check_cluster_pod_cidrs(cfg: StackConfig, cidrs_by_node: dict[str, list[IPv4Network]]) -> None:
    """Raise :class:`ConfigError` when PodCIDRs read from the cluster (or given by hand) are unusable."""
    problems = [
        Problem(f"nodes[{i}] ({node.name})", "no PodCIDR in its CiliumNode", "at least one spec.ipam.podCIDRs entry")
        for i, node in enumerate(cfg.nodes)
        if not cidrs_by_node.get(node.name)
    ]
    problems += check_pod_cidr_assignment(
        cfg,
        [cidrs_by_node.get(node.name, []) for node in cfg.nodes],
        lambda i, j: f"nodes[{i}] (CiliumNode {cfg.nodes[i].name} spec.ipam.podCIDRs[{j}])",
    )
    if problems:
        raise ConfigError(problems)


def check_pod_cidr_assignment(
    cfg: StackConfig, cidrs_per_node: list[list[IPv4Network]], key_of: Callable[[int, int], str]
) -> Iterator[Problem]:
    """PodCIDRs must sit in the pool with its mask, inside the native routing CIDR, and not overlap.

    Used for static CIDRs from config and for those read from CiliumNodes (``key_of`` names where
    each came from).
    """
    pools = cfg.cilium.cluster_pool_ipv4_pod_cidr_list
    mask = cfg.cilium.cluster_pool_ipv4_mask_size
    native = cfg.cilium.native_routing_cidr
    pool_text = ", ".join(str(p) for p in pools)
    for finding in pod_cidr_findings(cidrs_per_node, pools, mask, native):
        key, cidr = key_of(finding.node, finding.index), finding.cidr
        if isinstance(finding, PodCidrOverlap):
            owner = f"nodes[{finding.owner}] ({cfg.nodes[finding.owner].name})"
            yield Problem(key, f"{cidr}, overlapping {finding.other} of {owner}", "PodCIDRs that do not overlap")
        elif finding.kind == "outside-pool":
            yield Problem(
                key, f"{cidr}, outside the pool", f"a /{mask} inside clusterPoolIPv4PodCIDRList ({pool_text})"
            )
        elif finding.kind == "pool-size":
            yield Problem(key, f"{cidr}, a /{cidr.prefixlen}", f"a /{mask} (cilium.clusterPoolIPv4MaskSize)")
        else:
            yield Problem(key, f"{cidr}, outside ipv4NativeRoutingCIDR {native}", f"a CIDR inside {native}")


def _router_with_asn(cfg: StackConfig, asn: int | None) -> str | None:
    """The key of the first router with ``asn``: nodes peer with routers over eBGP, and a router
    drops a route whose path holds its own ASN, so no node may share any router's ASN."""
    return next((key for key, r in cfg.all_routers if r.asn == asn), None)


def _asn_owner(key: str) -> str:
    return "the router's ASN" if key == "router" else f"the ASN of {key}"


def _check_asns(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.method in SHARED_ASN_METHODS:
        router_key = _router_with_asn(cfg, cfg.bgp.node_asn)
        if cfg.bgp.node_asn is None:
            yield Problem(
                "bgp.nodeASN", f"nothing with method {cfg.method!r}", "the ASN all nodes share (seed variant B: 65000)"
            )
        elif router_key is not None:
            yield Problem(
                "bgp.nodeASN",
                f"{cfg.bgp.node_asn}, {_asn_owner(router_key)}",
                f"an ASN other than {router_key}.asn (eBGP sessions)",
            )
        for i, node in enumerate(cfg.nodes):
            if node.asn is not None and node.asn != cfg.bgp.node_asn:
                yield Problem(
                    f"nodes[{i}].asn",
                    f"{node.asn} with method {cfg.method!r}",
                    f"unset or {cfg.bgp.node_asn} (bgp.nodeASN): this method speaks from one shared ASN",
                )
        return
    if cfg.bgp.node_asn is not None:
        yield Problem("bgp.nodeASN", f"{cfg.bgp.node_asn} with method 'bird'", "unset: BIRD nodes set nodes[].asn each")
    seen: dict[int, int] = {}
    for i, node in enumerate(cfg.nodes):
        key = f"nodes[{i}].asn"
        router_key = _router_with_asn(cfg, node.asn)
        if node.asn is None:
            yield Problem(key, "nothing with method 'bird'", "a distinct ASN per node (seed: 65010, 65020)")
        elif router_key is not None:
            yield Problem(
                key,
                f"{node.asn}, {_asn_owner(router_key)}",
                f"an ASN other than {router_key}.asn: BIRD peers with the router over eBGP",
            )
        elif node.asn in seen:
            yield Problem(key, f"{node.asn}, already used by nodes[{seen[node.asn]}]", "a distinct ASN per BIRD node")
        if node.asn is not None:
            seen.setdefault(node.asn, i)


def _check_router_ids(cfg: StackConfig) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for key, router in cfg.all_routers:
        rid = str(router.router_id)
        if rid in seen:
            yield Problem(
                f"{key}.routerId", f"{rid}, already used by {seen[rid]}", "a router-id unique in the BGP domain"
            )
        seen.setdefault(rid, f"{key}.routerId")
    for i, node in enumerate(cfg.nodes):
        if cfg.method == "kube-router" and node.router_id not in (None, node.ip):
            yield Problem(
                f"nodes[{i}].routerId",
                f"{node.router_id} with method 'kube-router'",
                "unset or the node's address: kube-router takes one --router-id for every node, else each "
                "node's primary IP",
            )
        rid = str(node.effective_router_id)
        key = f"nodes[{i}].routerId"
        if rid in seen:
            origin = "" if node.router_id else f" (defaulted from nodes[{i}].address)"
            yield Problem(key, f"{rid}{origin}, already used by {seen[rid]}", "a router-id unique in the BGP domain")
        else:
            seen[rid] = key


def _node_networks(cfg: StackConfig) -> list[tuple[IPv4Network, str]]:
    """Every router subnet with the key of its interface (``router.interfaces[i]``, ``routers[j]...``)."""
    return [
        (iface.address.network, f"{key}.interfaces[{i}]")
        for key, router in cfg.all_routers
        for i, iface in enumerate(router.interfaces)
    ]


def _check_load_balancer(cfg: StackConfig) -> Iterator[Problem]:
    lb = cfg.load_balancer
    if lb is None:
        if cfg.demo is not None and cfg.method != "bird":
            yield Problem("loadBalancer", "nothing with demoService enabled", "an LB pool: {cidrs: [...]}")
        return
    if cfg.method == "bird":
        yield Problem(
            "loadBalancer",
            "an LB pool with method 'bird'",
            "no LB pool: BIRD on the nodes announces PodCIDRs only (use a Cilium speaker or kube-router)",
        )
        return
    networks = _node_networks(cfg)
    owners = {
        "pod-pool": "cilium.clusterPoolIPv4PodCIDRList[{}]".format,
        "native-routing": "cilium.ipv4NativeRoutingCIDR".format,
        "subnet": lambda which: networks[which][1],
    }
    pools = cfg.cilium.cluster_pool_ipv4_pod_cidr_list
    for clash in lb_pool_clashes(lb.cidrs, pools, cfg.cilium.native_routing_cidr, [n for n, _ in networks]):
        yield Problem(
            f"loadBalancer.cidrs[{clash.index}]",
            f"{clash.cidr}, overlapping {owners[clash.what](clash.which)} ({clash.other})",
            "a pool apart from pod and node networks",
        )
    demo = cfg.demo
    requested = demo.load_balancer_ip if demo is not None else None
    if requested is not None and not any(requested in cidr for cidr in lb.cidrs):
        yield Problem(
            "demoService.loadBalancerIP",
            f"{requested}, outside the LB pool",
            "an address in " + ", ".join(str(c) for c in lb.cidrs),
        )
    if cfg.method != "cilium-metallb" and not LB_POOL_FIRST_LAST_IPS.exists_in(cfg.version):
        yield from _check_lb_ipam_edges(cfg, lb.cidrs, requested)


def _check_lb_ipam_edges(
    cfg: StackConfig, cidrs: list[IPv4Network], requested: IPv4Address | None
) -> Iterator[Problem]:
    """LB IPAM before 1.15 never hands out a block's first or last address (no allowFirstLastIPs)."""
    why = f"LB IPAM on Cilium {cfg.version} never hands out a block's first or last address (1.15+ can)"
    for i, cidr in enumerate(cidrs):
        if cidr.prefixlen >= 31:
            yield Problem(
                f"loadBalancer.cidrs[{i}]", f"{cidr}, a block with no address to hand out", f"a /30 or larger: {why}"
            )
    block = next((c for c in cidrs if requested is not None and requested in c and c.prefixlen < 31), None)
    if block is not None and requested in (block.network_address, block.broadcast_address):
        edge = "first" if requested == block.network_address else "last"
        yield Problem(
            "demoService.loadBalancerIP",
            f"{requested}, the {edge} address of {block}",
            f"an address between {block.network_address + 1} and {block.broadcast_address - 1}: {why}",
        )


def _check_helm_overrides(cfg: StackConfig) -> Iterator[Problem]:
    version = cfg.version
    for path, row in missing_helm_keys(cfg.cilium.values, version):
        yield Problem(
            f"cilium.values.{path}",
            f"a key that Cilium {version} does not have ({row.note})",
            f"keys of {row.lifetime.describe()} only",
        )
    kpr = cfg.cilium.values.get("kubeProxyReplacement")
    kpr_problem = kube_proxy_replacement_problem(kpr, version)
    if kpr_problem == "words-removed":
        yield Problem(
            "cilium.values.kubeProxyReplacement",
            f"{kpr!r} with Cilium {version}",
            "true or false (the words were removed in 1.16)",
        )
    if kpr_problem == "boolean-too-early":
        yield Problem(
            "cilium.values.kubeProxyReplacement",
            f"{kpr} with Cilium {version}",
            "strict, partial or disabled before 1.14",
        )
    host = cfg.cilium.k8s_service_host
    if host == "auto" and not K8S_SERVICE_HOST_AUTO.exists_in(version):
        yield Problem("cilium.k8sServiceHost", f"'auto' with Cilium {version}", "an address ('auto' needs 1.16+)")
    yield from _check_api_server(cfg)
    yield from _check_bgp_secrets_namespace(cfg)


# Namespaces every cluster has: a chart cannot create them (Helm refuses an existing object).
_BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _check_bgp_secrets_namespace(cfg: StackConfig) -> Iterator[Problem]:
    """The BGP password Secret goes to bgpControlPlane.secretsNamespace.name: a namespace the chart
    creates (``create: true``) or one that exists before ``pulumi up``."""
    section = cfg.cilium.values.get("bgpControlPlane")
    namespace = section.get("secretsNamespace") if isinstance(section, dict) else None
    if not isinstance(namespace, dict) or not has_helm_key(cfg.version, "bgpControlPlane.secretsNamespace"):
        return
    key = "cilium.values.bgpControlPlane.secretsNamespace"
    name = namespace.get("name", DEFAULT_BGP_SECRETS_NAMESPACE)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        yield Problem(f"{key}.name", repr(name), "a namespace name: lower-case letters, digits and '-', at most 63")
    create = namespace.get("create", False)
    if not isinstance(create, bool):
        yield Problem(f"{key}.create", repr(create), "true (the chart creates the namespace) or false (it exists)")
    elif create and name in (*_BUILTIN_NAMESPACES, cfg.cilium.namespace):
        yield Problem(
            f"{key}.create",
            f"true with name {name!r}, a namespace that already exists",
            "false: the chart would create it again, which Helm refuses",
        )


# kubeProxyReplacement values under which the cluster runs without kube-proxy.
_WITHOUT_KUBE_PROXY = (True, "true", "strict")


def _check_api_server(cfg: StackConfig) -> Iterator[Problem]:
    """Without kube-proxy nothing serves the kubernetes Service's ClusterIP before Cilium runs:
    the agents reach the API server only at k8sServiceHost."""
    if not cfg.kubernetes.enabled:
        return
    values = cfg.cilium.values
    replacement = values.get("kubeProxyReplacement", cfg.cilium.kube_proxy_replacement)
    host = values.get("k8sServiceHost", cfg.cilium.k8s_service_host)
    if replacement in _WITHOUT_KUBE_PROXY and not host:
        auto = " or 'auto' (read from kube-public/cluster-info)" if K8S_SERVICE_HOST_AUTO.exists_in(cfg.version) else ""
        yield Problem(
            "cilium.k8sServiceHost",
            "nothing, with kube-proxy replacement on (cilium.kubeProxyReplacement)",
            f"the API server's address{auto}, with cilium.k8sServicePort; or kubeProxyReplacement: false",
        )


def _check_misc(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.uses_password and cfg.method == "cilium-bgp-v1" and not PEERING_POLICY_AUTH_SECRET.exists_in(cfg.version):
        yield Problem(
            "bgpPassword",
            f"a password with cilium-bgp-v1 on Cilium {cfg.version}",
            "Cilium 1.15+ (CiliumBGPPeeringPolicy authSecretRef) or no password",
        )
    for key, router in cfg.all_routers:
        yield from _check_router(cfg, key, router)
    if cfg.uses_bfd and cfg.method != "bird":
        yield Problem(
            "bgp.failover",
            f"'bfd' with method {cfg.method!r}",
            "fast: Cilium's speakers and kube-router run no BFD, so the router relies on short hold timers",
        )
    timers = cfg.bgp
    keepalive, hold = timers.keep_alive_time_seconds, timers.hold_time_seconds
    if keepalive and hold and keepalive * 3 > hold:
        yield Problem(
            "bgp.keepAliveTimeSeconds",
            f"{timers.keep_alive_time_seconds} with holdTimeSeconds {timers.hold_time_seconds}",
            "at most a third of the hold time",
        )


def _check_router(cfg: StackConfig, key: str, router: RouterSettings) -> Iterator[Problem]:
    peer = router.peering_address
    if peer is not None and peer not in {iface.address.ip for iface in router.interfaces}:
        yield Problem(
            f"{key}.peeringAddress", f"{peer}, not an address of the router", f"one of {key}.interfaces[].address"
        )
    if router.neighbors == "listen-range":
        if not cfg.shared_asn:
            yield Problem(
                f"{key}.neighbors",
                f"'listen-range' with method {cfg.method!r}",
                "static or peer-group: a listen range needs one shared node ASN (kube-router, Cilium's speakers)",
            )
        if router.daemon != "frr":
            yield Problem(f"{key}.neighbors", f"'listen-range' with {key}.daemon bird", "static or peer-group")
    if router.per_node_filter and cfg.pod_cidr_source != "static":
        yield Problem(
            f"{key}.prefixFilter",
            "'per-node' with podCidrSource cluster",
            "true (the pool): per-node filters list each node's PodCIDRs in the router's config",
        )
    taken = {n.ip for n in cfg.nodes} | {i.address.ip for _, r in cfg.all_routers for i in r.interfaces}
    node_asns = _node_asns(cfg) if router.upstreams else {}
    for j, upstream in enumerate(router.upstreams):
        if router.interface_on(upstream.address) is None or upstream.address in taken:
            where = "on no subnet of the router" if upstream.address not in taken else "a node's or router's address"
            yield Problem(
                f"{key}.upstreams[{j}].address",
                f"{upstream.address}, {where}",
                f"the peer's address on one of {key}.interfaces (directly connected)",
            )
        if upstream.asn == router.asn:
            yield Problem(
                f"{key}.upstreams[{j}].asn",
                f"{upstream.asn}, the router's own ASN",
                "the peer's ASN, another than the router's (eBGP)",
            )
        elif upstream.asn in node_asns:
            # Every path the router announces holds the node's ASN: the peer drops it as a loop.
            yield Problem(
                f"{key}.upstreams[{j}].asn",
                f"{upstream.asn}, {node_asns[upstream.asn]}",
                "an ASN no node speaks from: the peer drops paths that already hold its own ASN",
            )
    if router.per_node_filter and router.neighbors == "listen-range":
        yield Problem(
            f"{key}.prefixFilter", "'per-node' with neighbors listen-range", "true: dynamic peers share one policy"
        )


def _node_asns(cfg: StackConfig) -> dict[int, str]:
    """Each ASN the nodes speak from, saying whose it is."""
    if cfg.shared_asn:
        return {cfg.bgp.node_asn: "the nodes' ASN (bgp.nodeASN)"} if cfg.bgp.node_asn is not None else {}
    found: dict[int, str] = {}
    for i, node in enumerate(cfg.nodes):
        if node.asn is not None:
            found.setdefault(node.asn, f"the ASN of nodes[{i}]")
    return found


def _needs_plan(cfg: StackConfig) -> bool:
    """Whether :func:`_check_plan` has anything to check (building a plan for 1,000s of nodes twice
    costs render time)."""
    listen_limits = any(r.listen_limit is not None for _, r in cfg.all_routers)
    return listen_limits or (cfg.method == "kube-router" and cfg.uses_password)


def _check_plan(cfg: StackConfig, plan: SessionPlan) -> Iterator[Problem]:
    for router in plan.routers:
        settings = dict(cfg.all_routers)[router.key]
        count = len(router.sessions)
        if settings.listen_limit is not None and settings.listen_limit < count:
            yield Problem(
                f"{router.key}.listenLimit",
                f"{settings.listen_limit}, fewer than the {count} nodes",
                f"at least {count}: FRR refuses every dynamic peer past the limit",
            )
    if cfg.method == "kube-router" and plan.password and kube_router_global_peers(plan) is None:
        yield Problem(
            "bgpPassword",
            "a password with method 'kube-router' and nodes that peer with different router addresses",
            "no password, or routers with a peeringAddress every node peers with: kube-router takes per-node "
            "peers only from Node annotations, where the password would sit in the clear "
            "(kube-router.io/peer.passwords)",
        )


# Linux's TCP_MD5SIG_MAXKEYLEN: every speaker hands the password to the kernel as a TCP-MD5 key.
TCP_MD5_MAX_KEY_BYTES = 80


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


# Where the password is pasted verbatim, what that syntax cannot carry: (target, refuses, allowed).
_PASSWORD_SYNTAX: dict[str, tuple[str, Callable[[str], bool], str]] = {
    # FRR's `neighbor X password LINE` takes one token; a config line is split on whitespace.
    "frr": (
        "FRR's `neighbor <peer> password` (one word)",
        lambda pw: _has_control(pw) or " " in pw,
        "no space or control character (router.daemon frr)",
    ),
    # BIRD 2 strings end at the next double quote and have no escapes.
    "bird": (
        'BIRD\'s `password "..."` (no escapes)',
        lambda pw: _has_control(pw) or '"' in pw,
        "no double quote or control character (BIRD)",
    ),
    # bgp-config single-quotes the password: only a single quote would end that YAML scalar.
    "cilium-metallb": (
        "the MetalLB speaker's bgp-config (a single-quoted YAML scalar)",
        lambda pw: _has_control(pw) or "'" in pw,
        "no single quote or control character (method cilium-metallb)",
    ),
}


def check_password(cfg: StackConfig, password: str) -> list[Problem]:
    """Can every config that carries ``bgpPassword`` carry this value? Problems never quote it."""
    if not password:
        return [Problem("bgpPassword", "an empty password", "a TCP-MD5 password of 1 to 80 bytes")]
    problems = []
    size = len(password.encode())
    if size > TCP_MD5_MAX_KEY_BYTES:
        problems.append(
            Problem(
                "bgpPassword",
                f"a password of {size} bytes",
                f"at most {TCP_MD5_MAX_KEY_BYTES} bytes (Linux's TCP-MD5 key limit)",
            )
        )
    targets: list[str] = [r.daemon for _, r in cfg.all_routers]
    if cfg.method in ("bird", "cilium-metallb"):
        targets.append(cfg.method)
    for target in dict.fromkeys(targets):
        where, refuses, allowed = _PASSWORD_SYNTAX[target]
        if refuses(password):
            problems.append(Problem("bgpPassword", f"a password {where} cannot carry", allowed))
    return problems


def check_pool_apart_from_nodes(cfg: StackConfig) -> list[Problem]:
    """The pod pool must not contain or overlap a node subnet: PodCIDRs carved from it would shadow
    node addresses, and the router would learn routes to its own connected networks."""
    subnets = _node_networks(cfg)
    subnets += [(node.address.network, f"nodes[{i}]") for i, node in enumerate(cfg.nodes)]
    problems = []
    for i, pool in enumerate(cfg.cilium.cluster_pool_ipv4_pod_cidr_list):
        clash = next(((net, owner) for net, owner in subnets if pool.overlaps(net)), None)
        if clash is not None:
            problems.append(
                Problem(
                    f"cilium.clusterPoolIPv4PodCIDRList[{i}]",
                    f"{pool}, overlapping the node subnet {clash[0]} ({clash[1]})",
                    "a pool apart from every node subnet",
                )
            )
    return problems
