"""Kubernetes objects for each BGP method, the LB IP pool, the BGP password and the demo Service.

Each object is a plain dict (what ``kubectl apply`` would take). Cilium's own kinds are registered
by cilium-operator at run time, so the components order them after the Helm release.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import yaml

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import NodePlan, SessionPlan
from cilium_bgp.secrets import secret_ref
from cilium_bgp.versions import (
    LB_IPAM_IPS_ANNOTATION_NEW,
    LB_POOL_BLOCKS,
    LB_POOL_FIRST_LAST_IPS,
    PEERING_POLICY_AUTH_SECRET,
    PEERING_POLICY_NEIGHBOR_TIMERS,
    bgp_crd_api_version,
)

MANAGED_BY = {"app.kubernetes.io/managed-by": "cilium-bgp"}
# Services carrying this label are not announced; every other LoadBalancer Service is.
NO_ADVERTISE_LABEL = "cilium-bgp.io/no-advertise"
ALL_SERVICES = {"matchExpressions": [{"key": NO_ADVERTISE_LABEL, "operator": "NotIn", "values": ["true"]}]}
AUTH_SECRET_NAME = "cilium-bgp-auth"
# BGP Control Plane v1: a Node annotation per virtual router (suffix: its local ASN) sets the router-id.
BGP_VIRTUAL_ROUTER_ANNOTATION = "cilium.io/bgp-virtual-router."
ADVERTISE_LABEL = {"cilium-bgp.io/advertise": "cilium-bgp"}
HOSTNAME_LABEL = "kubernetes.io/hostname"
# kube-router reads its peer passwords base64-encoded: this secret is derived from bgpPassword where
# secrets are filled in (components/bgp_method.py), never rendered.
KUBE_ROUTER_PASSWORD_SECRET = "bgpPasswordBase64"
KUBE_ROUTER_PASSWORDS = "kube-router-peer-passwords"
KUBE_ROUTER_PASSWORDS_DIR = "/etc/kube-router/peer-passwords"
KUBE_ROUTER_PASSWORDS_KEY = "peer-router-passwords"
# kube-router reads per-node peers from these Node annotations, when no global --peer-router-ips is set.
KUBE_ROUTER_PEER_IPS = "kube-router.io/peer.ips"
KUBE_ROUTER_PEER_ASNS = "kube-router.io/peer.asns"
# kube-router's --health-port default: /healthz answers there.
KUBE_ROUTER_HEALTH_PORT = 20244


# Cilium's default bgpControlPlane.secretsNamespace.name (1.15+).
DEFAULT_BGP_SECRETS_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class Peer:
    """A router as the nodes' speakers see it."""

    router: str
    address: IPv4Address
    asn: int


@dataclass(frozen=True)
class PeerGroup:
    """Nodes that peer with the same routers on the same addresses."""

    peers: tuple[Peer, ...]
    nodes: tuple[NodePlan, ...]

    @property
    def suffix(self) -> str:
        return "-".join(str(p.address).replace(".", "-") for p in self.peers)


def peer_groups(plan: SessionPlan) -> list[PeerGroup]:
    groups: dict[tuple[Peer, ...], list[NodePlan]] = {}
    for node in plan.nodes:
        peers = tuple(Peer(s.router, s.router_address, s.router_asn) for s in node.sessions)
        groups.setdefault(peers, []).append(node)
    return [PeerGroup(peers, tuple(nodes)) for peers, nodes in groups.items()]


def kube_router_global_peers(plan: SessionPlan) -> list[Peer] | None:
    """The routers every node peers with, as kube-router's global ``--peer-router-ips``; None when
    nodes peer with different router addresses (then each Node's annotations carry its own)."""
    sets = {tuple(sorted((str(s.router_address), s.router_asn) for s in n.sessions)) for n in plan.nodes}
    if len(sets) != 1:
        return None
    (peers,) = sets
    return [Peer("", IPv4Address(address), asn) for address, asn in peers]


def bgp_secrets_namespace(cfg: StackConfig) -> str:
    """Where Cilium reads BGP auth Secrets: ``bgpControlPlane.secretsNamespace.name`` in the Helm
    values (``cilium.values``), else the chart's default."""
    section = cfg.cilium.values.get("bgpControlPlane")
    namespace = section.get("secretsNamespace") if isinstance(section, dict) else None
    name = namespace.get("name") if isinstance(namespace, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_BGP_SECRETS_NAMESPACE


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(MANAGED_BY)
    meta.update(extra)
    return meta


def _hostname_selector(nodes: tuple[NodePlan, ...]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [n.name for n in nodes]}]}


class _IndentedDumper(yaml.SafeDumper):
    """Indent list items under their key, as the seed writes bgp-config."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


class SingleQuoted(str):
    """A string dumped in single quotes: a secret filled into the YAML text later stays one scalar
    whatever it holds but a single quote (validation refuses that)."""


def _represent_single_quoted(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="'")


_IndentedDumper.add_representer(str, _represent_str)
_IndentedDumper.add_representer(SingleQuoted, _represent_single_quoted)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False)


def _metallb_config(cfg: StackConfig, plan: SessionPlan) -> str:
    timers = plan.timers
    groups = peer_groups(plan)
    peers = []
    for group in groups:
        # A node with its own router-id gets a peer entry of its own; every node matches one entry.
        shared = tuple(n for n in group.nodes if n.explicit_router_id is None)
        entries: list[tuple[tuple[NodePlan, ...], IPv4Address | None]] = [(shared, None)] if shared else []
        entries += [((n,), n.explicit_router_id) for n in group.nodes if n.explicit_router_id is not None]
        for nodes, router_id in entries:
            for router in group.peers:
                peer: dict[str, Any] = {
                    "peer-address": str(router.address),
                    "peer-asn": router.asn,
                    "my-asn": cfg.bgp.node_asn,
                }
                if router_id is not None:
                    peer["router-id"] = str(router_id)
                if timers.hold is not None:
                    peer["hold-time"] = f"{timers.hold}s"
                if plan.password:
                    peer["password"] = SingleQuoted(secret_ref("bgpPassword"))
                if len(groups) > 1 or len(entries) > 1:
                    peer["node-selectors"] = [
                        {
                            "match-expressions": [
                                {"key": HOSTNAME_LABEL, "operator": "In", "values": [n.name for n in nodes]}
                            ]
                        }
                    ]
                peers.append(peer)
    pools = []
    if cfg.load_balancer is not None:
        pools.append(
            {
                "name": cfg.load_balancer.pool_name,
                "protocol": "bgp",
                "addresses": [str(c) for c in cfg.load_balancer.cidrs],
            }
        )
    return dump_yaml({"peers": peers, "address-pools": pools})


def _metallb_objects(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("bgp-config", cfg.cilium.namespace),
            "data": {"config.yaml": _metallb_config(cfg, plan)},
        }
    ]


def _peering_policy_objects(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    timers = plan.timers
    objects = []
    for group in peer_groups(plan):
        neighbors = []
        for peer in group.peers:
            neighbor: dict[str, Any] = {"peerAddress": f"{peer.address}/32", "peerASN": peer.asn}
            if PEERING_POLICY_NEIGHBOR_TIMERS.exists_in(cfg.version):
                if timers.hold is not None:
                    neighbor["holdTimeSeconds"] = timers.hold
                    neighbor["keepAliveTimeSeconds"] = timers.keepalive
                if timers.connect_retry is not None:
                    neighbor["connectRetryTimeSeconds"] = timers.connect_retry
            if plan.password and PEERING_POLICY_AUTH_SECRET.exists_in(cfg.version):
                neighbor["authSecretRef"] = AUTH_SECRET_NAME
            neighbors.append(neighbor)
        router: dict[str, Any] = {"localASN": cfg.bgp.node_asn, "exportPodCIDR": True}
        if cfg.load_balancer is not None:
            router["serviceSelector"] = ALL_SERVICES
        router["neighbors"] = neighbors
        objects.append(
            {
                "apiVersion": "cilium.io/v2alpha1",
                "kind": "CiliumBGPPeeringPolicy",
                "metadata": _meta(f"cilium-bgp-{group.suffix}"),
                "spec": {"nodeSelector": _hostname_selector(group.nodes), "virtualRouters": [router]},
            }
        )
    return objects


def _v2_objects(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    api = bgp_crd_api_version(cfg.version)
    timers = plan.timers
    objects: list[dict[str, Any]] = []
    peer_spec: dict[str, Any] = {}
    timer_spec: dict[str, int] = {}
    if timers.hold is not None and timers.keepalive is not None:
        timer_spec.update(holdTimeSeconds=timers.hold, keepAliveTimeSeconds=timers.keepalive)
    if timers.connect_retry is not None:
        timer_spec["connectRetryTimeSeconds"] = timers.connect_retry
    if timer_spec:
        peer_spec["timers"] = timer_spec
    if plan.password:
        peer_spec["authSecretRef"] = AUTH_SECRET_NAME
    peer_spec["families"] = [{"afi": "ipv4", "safi": "unicast", "advertisements": {"matchLabels": ADVERTISE_LABEL}}]
    objects.append(
        {"apiVersion": api, "kind": "CiliumBGPPeerConfig", "metadata": _meta("cilium-bgp-router"), "spec": peer_spec}
    )
    advertisements: list[dict[str, Any]] = [{"advertisementType": "PodCIDR"}]
    if cfg.load_balancer is not None:
        advertisements.append(
            {"advertisementType": "Service", "service": {"addresses": ["LoadBalancerIP"]}, "selector": ALL_SERVICES}
        )
    objects.append(
        {
            "apiVersion": api,
            "kind": "CiliumBGPAdvertisement",
            "metadata": _meta("cilium-bgp-routes", labels={**MANAGED_BY, **ADVERTISE_LABEL}),
            "spec": {"advertisements": advertisements},
        }
    )
    for group in peer_groups(plan):
        objects.append(
            {
                "apiVersion": api,
                "kind": "CiliumBGPClusterConfig",
                "metadata": _meta(f"cilium-bgp-{group.suffix}"),
                "spec": {
                    "nodeSelector": _hostname_selector(group.nodes),
                    "bgpInstances": [
                        {
                            "name": f"asn-{cfg.bgp.node_asn}",
                            "localASN": cfg.bgp.node_asn,
                            "peers": [
                                {
                                    "name": peer.router,
                                    "peerAddress": str(peer.address),
                                    "peerASN": peer.asn,
                                    "peerConfigRef": {"name": "cilium-bgp-router"},
                                }
                                for peer in group.peers
                            ],
                        }
                    ],
                },
            }
        )
    for node in plan.nodes:
        if node.explicit_router_id is not None:
            objects.append(
                {
                    "apiVersion": api,
                    "kind": "CiliumBGPNodeConfigOverride",
                    "metadata": _meta(node.name),
                    "spec": {
                        "bgpInstances": [{"name": f"asn-{cfg.bgp.node_asn}", "routerID": str(node.explicit_router_id)}]
                    },
                }
            )
    return objects


def _kube_router_objects(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    ns = cfg.cilium.namespace
    global_peers = kube_router_global_peers(plan)
    timers = plan.timers
    args = [
        "--run-router=true",
        "--run-firewall=false",
        "--run-service-proxy=false",
        "--enable-cni=false",
        "--enable-pod-egress=false",
        # Nodes sit on different L2s: only the router needs their routes, not a node mesh.
        "--enable-ibgp=false",
        "--enable-overlay=false",
        f"--cluster-asn={cfg.bgp.node_asn}",
    ]
    if global_peers is not None:
        args += [
            f"--peer-router-ips={','.join(str(p.address) for p in global_peers)}",
            f"--peer-router-asns={','.join(str(p.asn) for p in global_peers)}",
        ]
    if cfg.load_balancer is not None:
        args.append("--advertise-loadbalancer-ip=true")
    if timers.hold is not None:
        args.append(f"--bgp-holdtime={timers.hold}s")
    if plan.password:
        # A file from a Secret: an argument would show the password in every process listing.
        args.append(f"--peer-router-passwords-file={KUBE_ROUTER_PASSWORDS_DIR}/{KUBE_ROUTER_PASSWORDS_KEY}")
    args += cfg.kube_router.extra_args
    labels = {"k8s-app": "kube-router"}
    # The host's iptables lock, shared with kube-proxy and Cilium, as upstream's manifests mount it.
    volumes: list[dict[str, Any]] = [
        {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
        {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
        {"name": "xtables-lock", "mountPath": "/run/xtables.lock", "readOnly": False},
    ]
    objects: list[dict[str, Any]] = []
    if plan.password:
        volumes.append(
            {"name": "peer-passwords", "secret": {"secretName": KUBE_ROUTER_PASSWORDS, "defaultMode": 0o400}}
        )
        mounts.append({"name": "peer-passwords", "mountPath": KUBE_ROUTER_PASSWORDS_DIR, "readOnly": True})
        # kube-router splits the file on "," and base64-decodes each item: one per --peer-router-ips entry
        # (validation refuses a password with per-node peers).
        passwords = ",".join(secret_ref(KUBE_ROUTER_PASSWORD_SECRET) for _ in global_peers or ())
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta(KUBE_ROUTER_PASSWORDS, ns),
                "type": "Opaque",
                "stringData": {KUBE_ROUTER_PASSWORDS_KEY: passwords},
            }
        )
    return [
        *objects,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("kube-router", ns)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta("kube-router"),
            # kube-router starts an informer for each of these whatever it runs, and exits when one
            # cannot sync; it writes nothing to the API server when it only advertises routes.
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
                    "verbs": ["list", "get", "watch"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": ["list", "get", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "get", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("kube-router"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-router"},
            "subjects": [{"kind": "ServiceAccount", "name": "kube-router", "namespace": ns}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _meta("kube-router", ns),
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "kube-router",
                        "hostNetwork": True,
                        "priorityClassName": "system-node-critical",
                        "tolerations": [{"operator": "Exists"}],
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                        "containers": [
                            {
                                "name": "kube-router",
                                "image": cfg.kube_router.image,
                                "args": args,
                                "env": [
                                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
                                ],
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": KUBE_ROUTER_HEALTH_PORT},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 3,
                                },
                                "securityContext": {"privileged": True},
                                "volumeMounts": mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
        },
    ]


def kube_router_password(password: str) -> str:
    """``bgpPassword`` as kube-router's passwords file carries it (base64)."""
    return base64.b64encode(password.encode()).decode()


def _lb_pool(cfg: StackConfig) -> dict[str, Any]:
    assert cfg.load_balancer is not None
    cidrs = [{"cidr": str(c)} for c in cfg.load_balancer.cidrs]
    spec: dict[str, Any] = {"blocks": cidrs} if LB_POOL_BLOCKS.exists_in(cfg.version) else {"cidrs": cidrs}
    if LB_POOL_FIRST_LAST_IPS.exists_in(cfg.version):
        # LB IPAM skips a block's first and last address unless told; the seed's service got 192.0.2.0.
        spec["allowFirstLastIPs"] = "Yes"
    return {
        "apiVersion": bgp_crd_api_version(cfg.version),
        "kind": "CiliumLoadBalancerIPPool",
        "metadata": _meta(cfg.load_balancer.pool_name),
        "spec": spec,
    }


def _auth_secret(cfg: StackConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        # Where the agents look for it; a missing Secret means a session with an empty password.
        "metadata": _meta(AUTH_SECRET_NAME, bgp_secrets_namespace(cfg)),
        "type": "Opaque",
        "stringData": {"password": secret_ref("bgpPassword")},
    }


def _demo_objects(cfg: StackConfig) -> list[dict[str, Any]]:
    demo = cfg.demo
    assert demo is not None
    labels = {"app": "whoami"}
    service_meta = _meta(demo.name, demo.namespace)
    service_spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": labels,
        "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
    }
    if demo.load_balancer_ip is not None:
        if cfg.method == "cilium-metallb":
            # The MetalLB-based speaker honours the (deprecated) Service field, not LB IPAM annotations.
            service_spec["loadBalancerIP"] = str(demo.load_balancer_ip)
        else:
            key = (
                "lbipam.cilium.io/ips" if LB_IPAM_IPS_ANNOTATION_NEW.exists_in(cfg.version) else "io.cilium/lb-ipam-ips"
            )
            service_meta["annotations"] = {key: str(demo.load_balancer_ip)}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("whoami", demo.namespace),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {"name": "whoami", "image": demo.image, "ports": [{"name": "http", "containerPort": 80}]}
                        ]
                    },
                },
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": service_meta, "spec": service_spec},
    ]


def _node_patch(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "annotations": annotations}}


def node_patches(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    """Annotations on Nodes the program does not own (applied as server-side patches): BGP Control
    Plane v1 takes a node's router-id from ``cilium.io/bgp-virtual-router.<ASN>``; kube-router
    takes a node's own peers from ``kube-router.io/peer.*`` (read when it starts)."""
    if not cfg.kubernetes.enabled:
        return []
    if cfg.method == "cilium-bgp-v1":
        return [
            _node_patch(
                node.name,
                {f"{BGP_VIRTUAL_ROUTER_ANNOTATION}{cfg.bgp.node_asn}": f"router-id={node.explicit_router_id}"},
            )
            for node in plan.nodes
            if node.explicit_router_id is not None
        ]
    if cfg.method == "kube-router" and kube_router_global_peers(plan) is None:
        return [
            _node_patch(
                node.name,
                {
                    KUBE_ROUTER_PEER_IPS: ",".join(str(s.router_address) for s in node.sessions),
                    KUBE_ROUTER_PEER_ASNS: ",".join(str(s.router_asn) for s in node.sessions),
                },
            )
            for node in plan.nodes
        ]
    return []


def method_manifests(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    """The BGP method's objects, the LB IP pool and the BGP password Secret, in apply order."""
    if not cfg.kubernetes.enabled:
        return []
    objects: list[dict[str, Any]] = []
    if cfg.load_balancer is not None and cfg.method != "cilium-metallb":
        objects.append(_lb_pool(cfg))
    if plan.password and cfg.method in ("cilium-bgp-v1", "cilium-bgp-v2"):
        objects.append(_auth_secret(cfg))
    if cfg.method == "cilium-metallb":
        objects += _metallb_objects(cfg, plan)
    elif cfg.method == "cilium-bgp-v1":
        objects += _peering_policy_objects(cfg, plan)
    elif cfg.method == "cilium-bgp-v2":
        objects += _v2_objects(cfg, plan)
    elif cfg.method == "kube-router":
        objects += _kube_router_objects(cfg, plan)
    return objects


def demo_manifests(cfg: StackConfig) -> list[dict[str, Any]]:
    return _demo_objects(cfg) if cfg.demo is not None else []


def render_manifests(cfg: StackConfig, plan: SessionPlan) -> list[dict[str, Any]]:
    """Every Kubernetes object the stack creates or patches besides the Helm release, in apply order
    (node patches come before the release)."""
    return node_patches(cfg, plan) + method_manifests(cfg, plan) + demo_manifests(cfg)


def manifest_filename(index: int, obj: dict[str, Any]) -> str:
    return f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
