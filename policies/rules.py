"""CrossGuard rules for cilium-bgp stacks: the designs that cannot route, or leak a secret.

Rules read what the program registers: the components' resolved specs (``cilium-bgp:index:Router``
and ``cilium-bgp:index:KubernetesNode`` props: ASNs, CIDRs, method, Cilium version), the Cilium
Helm release (chart version and values), the BGP ConfigMap and Cilium custom resources, and the
remote commands (their SSH connection). ``__main__.py`` only assembles :data:`POLICIES` into a pack.
Each message says what to change. Levels and thresholds come from ``--policy-pack-config``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from ipaddress import IPv4Network, ip_network
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from cilium_bgp.versions import KPR_WORDS, KUBE_PROXY_REPLACEMENT_WORDS, METHODS, Version, has_helm_key

ROUTER = "cilium-bgp:index:Router"
NODE = "cilium-bgp:index:KubernetesNode"
RELEASE = "kubernetes:helm.sh/v3:Release"
COMMAND = "command:remote:Command"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))

# -- reading what was registered ------------------------------------------------------------------


def _cidr(text: Any) -> IPv4Network | None:
    try:
        network = ip_network(str(text), strict=False)
    except ValueError:
        return None
    return network if isinstance(network, IPv4Network) else None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _cilium_kind(resource: PolicyResource | ResourceValidationArgs, kind: str) -> bool:
    return resource.resource_type.startswith("kubernetes:cilium.io/") and resource.resource_type.endswith(f":{kind}")


def _is_cilium_release(props: Mapping[str, Any]) -> bool:
    return str(props.get("chart", "")).split("/")[-1] == "cilium"


def _release_version(props: Mapping[str, Any]) -> Version | None:
    try:
        return Version.parse(str(props.get("version", "")))
    except ValueError:
        return None


def _release(resources: Iterable[PolicyResource]) -> PolicyResource | None:
    return next((r for r in _of_type(resources, RELEASE) if _is_cilium_release(r.props)), None)


def _values(release: PolicyResource | None) -> Mapping[str, Any]:
    values = release.props.get("values") if release is not None else None
    return values if isinstance(values, Mapping) else {}


def _pod_pool(values: Mapping[str, Any], nodes: list[PolicyResource]) -> tuple[list[IPv4Network], int | None, str]:
    """The pool and mask Cilium's operator uses (Helm values win; else the program's spec)."""
    operator = _get(values, "ipam", "operator") or {}
    listed = [c for c in (_cidr(x) for x in operator.get("clusterPoolIPv4PodCIDRList") or []) if c]
    single = _cidr(operator.get("clusterPoolIPv4PodCIDR")) if operator.get("clusterPoolIPv4PodCIDR") else None
    pool = listed or ([single] if single else [])
    mask = operator.get("clusterPoolIPv4MaskSize")
    if pool:
        return pool, int(mask) if mask is not None else 24, "the Cilium release's ipam.operator"
    if nodes:
        spec = nodes[0].props
        pool = [c for c in (_cidr(x) for x in spec.get("clusterPoolIPv4PodCIDRList") or []) if c]
        return pool, spec.get("clusterPoolIPv4MaskSize"), "the stack's cilium.clusterPoolIPv4PodCIDRList"
    return [], None, ""


def _node_cidrs(node: PolicyResource) -> list[IPv4Network]:
    return [c for c in (_cidr(x) for x in node.props.get("podCIDRs") or []) if c]


def _native_routing(values: Mapping[str, Any]) -> bool:
    if "routingMode" in values:
        return values.get("routingMode") == "native"
    return values.get("tunnel") == "disabled"


def _stack_name(urn: str) -> str:
    parts = urn.split("::")
    return parts[0].removeprefix("urn:pulumi:") if parts else ""


# -- mandatory: PodCIDRs, LB pool, routing mode ---------------------------------------------------


def _pod_cidrs_in_pool(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = _of_type(args.resources, NODE)
    values = _values(_release(args.resources))
    pool, mask, source = _pod_pool(values, nodes)
    if not pool:
        return
    for node in nodes:
        for cidr in _node_cidrs(node):
            if not any(cidr.subnet_of(p) for p in pool):
                report(
                    f"Node {node.props.get('name')}: PodCIDR {cidr} is outside the pod pool "
                    f"{', '.join(map(str, pool))} ({source}). Give the node a /{mask} from the pool, or add its "
                    "range to cilium.clusterPoolIPv4PodCIDRList.",
                    node.urn,
                )
            elif mask is not None and cidr.prefixlen != int(mask):
                report(
                    f"Node {node.props.get('name')}: PodCIDR {cidr} is a /{cidr.prefixlen}, the pool hands out "
                    f"/{mask}. Use the CIDR Cilium's operator assigned (`cilium node list`).",
                    node.urn,
                )


def _pod_cidrs_do_not_overlap(args: StackValidationArgs, report: ReportViolation) -> None:
    seen: list[tuple[IPv4Network, str]] = []
    for node in _of_type(args.resources, NODE):
        name = str(node.props.get("name"))
        for cidr in _node_cidrs(node):
            for other, owner in seen:
                if cidr.overlaps(other):
                    report(
                        f"Node {name}: PodCIDR {cidr} overlaps {other} of node {owner}; the router would send one "
                        "node's pod traffic to the other. Give each node its own PodCIDR.",
                        node.urn,
                    )
            seen.append((cidr, name))


def _pod_cidrs_in_native_routing_cidr(args: StackValidationArgs, report: ReportViolation) -> None:
    values = _values(_release(args.resources))
    native = _cidr(values.get("ipv4NativeRoutingCIDR")) if values.get("ipv4NativeRoutingCIDR") else None
    if native is None:
        return
    for node in _of_type(args.resources, NODE):
        for cidr in _node_cidrs(node):
            if not cidr.subnet_of(native):
                report(
                    f"Node {node.props.get('name')}: PodCIDR {cidr} is outside ipv4NativeRoutingCIDR {native}: "
                    "Cilium would masquerade its traffic. Widen cilium.ipv4NativeRoutingCIDR to cover the pool.",
                    node.urn,
                )


def _lb_pools(resources: list[PolicyResource], nodes: list[PolicyResource]) -> list[tuple[IPv4Network, str]]:
    pools: list[tuple[IPv4Network, str]] = []
    for pool in (r for r in resources if _cilium_kind(r, "CiliumLoadBalancerIPPool")):
        spec = pool.props.get("spec") or {}
        for block in (spec.get("blocks") or []) + (spec.get("cidrs") or []):
            if _cidr(block.get("cidr")):
                pools.append((_cidr(block.get("cidr")), pool.urn))  # type: ignore[arg-type]
    for config_map in _of_type(resources, CONFIGMAP):
        if _get(config_map.props, "metadata", "name") != "bgp-config":
            continue
        parsed = yaml.safe_load(str(_get(config_map.props, "data", "config.yaml") or "")) or {}
        for pool in parsed.get("address-pools") or []:
            for address in pool.get("addresses") or []:
                if _cidr(address):
                    pools.append((_cidr(address), config_map.urn))  # type: ignore[arg-type]
    if not pools and nodes:
        pools = [(c, nodes[0].urn) for c in (_cidr(x) for x in nodes[0].props.get("loadBalancerCidrs") or []) if c]
    return pools


def _lb_pool_apart(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = _of_type(args.resources, NODE)
    values = _values(_release(args.resources))
    pod_pool, _, _ = _pod_pool(values, nodes)
    taken = [(p, "the pod pool") for p in pod_pool]
    for router in _of_type(args.resources, ROUTER):
        taken += [(c, "a router subnet") for c in (_cidr(s) for s in router.props.get("subnets") or []) if c]
    taken += [(c, f"node {n.props.get('name')}'s subnet") for n in nodes if (c := _cidr(n.props.get("subnet")))]
    reported: set[tuple[str, str]] = set()
    for lb, urn in _lb_pools(list(args.resources), nodes):
        for other, what in taken:
            if lb.overlaps(other) and (str(lb), str(other)) not in reported:
                reported.add((str(lb), str(other)))
                report(
                    f"LoadBalancer pool {lb} overlaps {what} {other}: an LB IP there is unroutable or hijacks "
                    "real addresses. Move loadBalancer.cidrs to a range of its own.",
                    urn,
                )


def _direct_routes_single_l2(args: StackValidationArgs, report: ReportViolation) -> None:
    release = _release(args.resources)
    if release is None or _values(release).get("autoDirectNodeRoutes") is not True:
        return
    subnets = sorted({str(n.props.get("subnet")) for n in _of_type(args.resources, NODE)})
    if len(subnets) > 1:
        report(
            f"autoDirectNodeRoutes is true but nodes sit on {len(subnets)} subnets ({', '.join(subnets)}): "
            "direct routes only work on one shared L2. Set it false (cilium.autoDirectNodeRoutes and "
            "cilium.values) and let BGP carry the PodCIDRs.",
            release.urn,
        )


def _native_routing_needs_cidr(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _is_cilium_release(args.props):
        return
    values = args.props.get("values") or {}
    if _native_routing(values) and not values.get("ipv4NativeRoutingCIDR"):
        report(
            "Native routing without ipv4NativeRoutingCIDR: Cilium cannot tell pod traffic to route from traffic "
            "to masquerade. Set cilium.ipv4NativeRoutingCIDR to a CIDR covering the pod pool."
        )


def _no_dsr_with_metallb_or_tunnel(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _is_cilium_release(args.props):
        return
    values = args.props.get("values") or {}
    if _get(values, "loadBalancer", "mode") != "dsr":
        return
    if _get(values, "bgp", "enabled") is True:
        report(
            "loadBalancer.mode dsr with the MetalLB-based speaker (bgp.enabled): replies bypass the announcing "
            "node and connections break. Use cilium.loadBalancerMode: snat."
        )
    if not _native_routing(values):
        report(
            "loadBalancer.mode dsr with tunnelling: DSR needs native routing. Use routingMode native "
            "(the program's default) or loadBalancerMode: snat."
        )


# -- mandatory: what the chosen Cilium release has ------------------------------------------------


def _leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, Mapping):
        for key, sub in values.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _leaf_paths(sub, path)


def _release_has_its_keys(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _is_cilium_release(args.props):
        return
    version = _release_version(args.props)
    if version is None:
        return
    values = args.props.get("values") or {}
    reported: set[str] = set()
    for path in _leaf_paths(values):
        if not has_helm_key(version, path) and path.split(".")[0] not in reported:
            reported.add(path.split(".")[0])
            report(
                f"Helm value {path} does not exist in Cilium {version} (removed or not yet added); the chart "
                "ignores or rejects it. Remove it, or render the values for this version (cilium.version)."
            )
    kpr = values.get("kubeProxyReplacement")
    if isinstance(kpr, str) and kpr in KUBE_PROXY_REPLACEMENT_WORDS and not KPR_WORDS.exists_in(version):
        report(f"kubeProxyReplacement: {kpr} was removed in Cilium 1.16 (the chart fails). Use true or false.")


def _kinds_of_the_release(args: StackValidationArgs, report: ReportViolation) -> None:
    release = _release(args.resources)
    version = _release_version(release.props) if release is not None else None
    if version is None:
        return
    if not METHODS["cilium-bgp-v1"].exists_in(version):
        for policy in (r for r in args.resources if _cilium_kind(r, "CiliumBGPPeeringPolicy")):
            report(
                f"CiliumBGPPeeringPolicy does not exist in Cilium {version} (removed in 1.19). "
                "Use method cilium-bgp-v2.",
                policy.urn,
            )
    for node in _of_type(args.resources, NODE):
        method = str(node.props.get("method"))
        if method in METHODS and not METHODS[method].exists_in(version):
            report(
                f"Method {method} exists in {METHODS[method].describe()}, not in Cilium {version}. "
                "Pick a method this release has.",
                node.urn,
            )
            break


def _v1_neighbor_cidr(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _cilium_kind(args, "CiliumBGPPeeringPolicy"):
        return
    for router in _get(args.props, "spec", "virtualRouters") or []:
        for neighbor in router.get("neighbors") or []:
            address = str(neighbor.get("peerAddress", ""))
            if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+/32|[0-9a-fA-F:]+/128", address):
                report(
                    f"CiliumBGPPeeringPolicy neighbor peerAddress {address!r} must be one host in CIDR form "
                    "(a.b.c.d/32); Cilium rejects or misreads anything else."
                )


# -- mandatory: one speaker per PodCIDR, accepted by the router -----------------------------------


def _cilium_announces_pod_cidrs(resources: list[PolicyResource]) -> str | None:
    """Which in-cluster speaker announces PodCIDRs, if any."""
    values = _values(_release(resources))
    if _get(values, "bgp", "enabled") is True and _get(values, "bgp", "announce", "podCIDR") is True:
        return "Cilium's MetalLB-based speaker (bgp.announce.podCIDR)"
    if _get(values, "bgpControlPlane", "enabled") is True:
        for policy in (r for r in resources if _cilium_kind(r, "CiliumBGPPeeringPolicy")):
            if any(vr.get("exportPodCIDR") for vr in _get(policy.props, "spec", "virtualRouters") or []):
                return "Cilium's BGP Control Plane (exportPodCIDR)"
        for adv in (r for r in resources if _cilium_kind(r, "CiliumBGPAdvertisement")):
            if any(a.get("advertisementType") == "PodCIDR" for a in _get(adv.props, "spec", "advertisements") or []):
                return "Cilium's BGP Control Plane (PodCIDR advertisement)"
    if _of_type(resources, DAEMONSET) and any(
        _get(d.props, "metadata", "name") == "kube-router" for d in _of_type(resources, DAEMONSET)
    ):
        return "kube-router"
    return None


def _bird_announcers(resources: list[PolicyResource]) -> set[str]:
    """Nodes whose BIRD announces their PodCIDR: a bird config command under the node component."""
    return {
        str(command.parent.props.get("name"))
        for command in _of_type(resources, COMMAND)
        if command.name.endswith("-bird-config") and command.parent is not None and command.parent.resource_type == NODE
    }


def _one_speaker_per_pod_cidr(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    in_cluster = _cilium_announces_pod_cidrs(resources)
    bird = _bird_announcers(resources)
    if in_cluster and bird:
        report(
            f"PodCIDRs of {', '.join(sorted(bird))} are announced twice: by BIRD on the node and by {in_cluster}. "
            "Run one speaker: method bird with Cilium's BGP off, or a Cilium method without BIRD."
        )


def _pod_cidr_announced_and_accepted(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = list(args.resources)
    routers = _of_type(resources, ROUTER)
    in_cluster = _cilium_announces_pod_cidrs(resources)
    bird = _bird_announcers(resources)
    for node in _of_type(resources, NODE):
        name = str(node.props.get("name"))
        speakers = (1 if name in bird else 0) + (1 if in_cluster else 0)
        if speakers == 0 and _node_cidrs(node):
            report(
                f"Node {name}: nothing announces its PodCIDR (no BIRD config on the node, no in-cluster speaker "
                "exporting PodCIDRs). Pick a method that announces it.",
                node.urn,
            )
        if not routers:
            continue
        router = routers[0]
        neighbors = {n.get("address"): n for n in router.props.get("neighbors") or []}
        address = str(node.props.get("address", "")).split("/")[0]
        neighbor = neighbors.get(address)
        if neighbor is None:
            report(f"Node {name}: the router has no neighbor {address}; its routes are never accepted.", node.urn)
            continue
        if neighbor.get("asn") != node.props.get("asn") or node.props.get("peerASN") != router.props.get("asn"):
            report(
                f"Node {name}: ASNs disagree (node {node.props.get('asn')} -> peer AS {node.props.get('peerASN')}; "
                f"router {router.props.get('asn')} expects AS {neighbor.get('asn')}). The session never comes up.",
                node.urn,
            )
        if router.props.get("prefixFilter"):
            pool = [c for c in (_cidr(x) for x in router.props.get("clusterPoolIPv4PodCIDRList") or []) if c]
            for cidr in _node_cidrs(node):
                if not any(cidr.subnet_of(p) for p in pool):
                    report(
                        f"Node {name}: the router's prefix filter drops PodCIDR {cidr} (it accepts the pool "
                        f"{', '.join(map(str, pool))}). Fix the PodCIDR or the pool.",
                        node.urn,
                    )


# -- mandatory: secrets ---------------------------------------------------------------------------

_SECRET_SHAPES = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "an SSH private key"),
    (re.compile(r"\bneighbor \S+ password (?!<<secret:)\S+"), "a BGP password (FRR)"),
    (re.compile(r'\bpassword "(?!<<secret:)[^"]+"'), "a BGP password (BIRD)"),
    (re.compile(r"^\s*-?\s*password: (?!<<secret:)\S+", re.MULTILINE), "a BGP password (bgp-config)"),
    (re.compile(r"--peer-router-passwords(?:-file)?=(?!<<secret:)\S+"), "a BGP password (kube-router)"),
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _secrets_marked_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    protected = set(args.opts.additional_secret_outputs or [])
    for key, value in args.props.items():
        if key in protected:
            continue
        for text in _strings(value):
            for pattern, what in _SECRET_SHAPES:
                if pattern.search(text):
                    report(
                        f"Property {key} holds {what} that is not marked secret: it would sit in the state in "
                        "plain text. Set it with `pulumi config set --secret` (bgpPassword, sshPrivateKey), not in "
                        "stack values or extra arguments."
                    )
                    return


# -- advisory -------------------------------------------------------------------------------------


def _ssh_host_key_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != COMMAND:
        return
    connection = args.props.get("connection") or {}
    if not connection.get("hostKey"):
        report(
            f"SSH to {connection.get('host')} does not check the host key: anyone on the path can stand in for "
            "the host. Pin it with router.ssh.hostKey / nodes[].ssh.hostKey (`ssh-keyscan`)."
        )


def _private_asns(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (ROUTER, NODE):
        return
    asn = args.props.get("asn")
    if isinstance(asn, int) and not any(low <= asn <= high for low, high in PRIVATE_ASNS):
        report(
            f"ASN {asn} is outside the private ranges (64512-65534, 4200000000-4294967294): it may be someone "
            "else's on the Internet. Use a private ASN unless this one is yours."
        )


def _router_prefix_filter(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == ROUTER and not args.props.get("prefixFilter"):
        report(
            "The router accepts every route its nodes send (no bgp ebgp-requires-policy): one wrong announcement "
            "can hijack any prefix. Set router.prefixFilter: true to accept only the pod and LB pools."
        )


def _fast_failover_timers(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ROUTER:
        return
    config = args.get_config()
    if _stack_name(args.urn) not in (config.get("fastFailoverStacks") or []):
        return
    limit = int(config.get("maxHoldTimeSeconds", 30))
    hold = _get(args.props, "timers", "holdTimeSeconds")
    if hold is None or hold > limit:
        shown = "the daemons' default (FRR 180 s, BIRD 240 s)" if hold is None else f"{hold} s"
        report(
            f"Stack {_stack_name(args.urn)} asks for fast failover but the hold time is {shown}: a dead node "
            f"black-holes traffic that long. Set bgp.holdTimeSeconds to {limit} or less."
        )


def _redundant_router(args: StackValidationArgs, report: ReportViolation) -> None:
    routers = _of_type(args.resources, ROUTER)
    if not routers:
        return
    stack = _stack_name(routers[0].urn)
    if stack in (args.get_config().get("productionStacks") or []) and len(routers) < 2:
        report(
            f"Production stack {stack} has a single router: when it fails, every PodCIDR and LB IP is unreachable. "
            "Add a second router for the nodes to peer with."
        )


# -- the rules ------------------------------------------------------------------------------------

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


def _rule(kind: type, name: str, description: str, level: EnforcementLevel, validate: Any, schema: Any = None) -> Any:
    return kind(name=name, description=description, enforcement_level=level, validate=validate, config_schema=schema)


_stack = partial(_rule, StackValidationPolicy)
_resource = partial(_rule, ResourceValidationPolicy)


def _schema(properties: dict[str, Any]) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=properties)


POLICIES = [
    _stack("pod-cidrs-in-pool", "Every PodCIDR is a pool-sized block of the pod pool.", MANDATORY, _pod_cidrs_in_pool),
    _stack("pod-cidrs-no-overlap", "No two nodes share PodCIDR addresses.", MANDATORY, _pod_cidrs_do_not_overlap),
    _stack(
        "pod-cidrs-in-native-routing-cidr",
        "Every PodCIDR lies inside ipv4NativeRoutingCIDR.",
        MANDATORY,
        _pod_cidrs_in_native_routing_cidr,
    ),
    _stack("lb-pool-apart", "The LoadBalancer pool overlaps no pod or node network.", MANDATORY, _lb_pool_apart),
    _stack(
        "direct-routes-single-l2",
        "autoDirectNodeRoutes only with every node on one subnet.",
        MANDATORY,
        _direct_routes_single_l2,
    ),
    _resource(
        "native-routing-needs-cidr",
        "Native routing sets ipv4NativeRoutingCIDR.",
        MANDATORY,
        _native_routing_needs_cidr,
    ),
    _resource(
        "no-dsr-with-metallb-or-tunnel",
        "No DSR with the MetalLB-based speaker or with tunnelling.",
        MANDATORY,
        _no_dsr_with_metallb_or_tunnel,
    ),
    _resource(
        "release-has-its-keys",
        "Helm values exist in the chosen Cilium release.",
        MANDATORY,
        _release_has_its_keys,
    ),
    _stack(
        "release-has-its-kinds",
        "BGP kinds and the method exist in the chosen Cilium release.",
        MANDATORY,
        _kinds_of_the_release,
    ),
    _resource(
        "v1-neighbor-cidr",
        "CiliumBGPPeeringPolicy neighbors are /32 (or /128) CIDRs.",
        MANDATORY,
        _v1_neighbor_cidr,
    ),
    _stack(
        "one-speaker-per-pod-cidr",
        "No PodCIDR is announced by both BIRD and a Cilium speaker.",
        MANDATORY,
        _one_speaker_per_pod_cidr,
    ),
    _stack(
        "pod-cidr-announced-and-accepted",
        "Every node's PodCIDR is announced by a speaker and accepted by the router's config.",
        MANDATORY,
        _pod_cidr_announced_and_accepted,
    ),
    _resource(
        "secrets-marked-secret",
        "BGP passwords and SSH private keys only in secret values.",
        MANDATORY,
        _secrets_marked_secret,
    ),
    _resource("ssh-host-key-pinned", "SSH connections pin the host key.", ADVISORY, _ssh_host_key_pinned),
    _resource("private-asns", "ASNs come from the private ranges.", ADVISORY, _private_asns),
    _resource("router-prefix-filter", "The router filters what it accepts.", ADVISORY, _router_prefix_filter),
    _resource(
        "fast-failover-timers",
        "Stacks that need fast failover set short BGP timers.",
        ADVISORY,
        _fast_failover_timers,
        _schema(
            {
                "fastFailoverStacks": {"type": "array", "items": {"type": "string"}, "default": ["prod"]},
                "maxHoldTimeSeconds": {"type": "integer", "minimum": 3, "default": 30},
            }
        ),
    ),
    _stack(
        "redundant-router",
        "Production stacks peer with more than one router.",
        ADVISORY,
        _redundant_router,
        _schema(
            {"productionStacks": {"type": "array", "items": {"type": "string"}, "default": ["prod", "production"]}}
        ),
    ),
]
