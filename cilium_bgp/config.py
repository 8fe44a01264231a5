"""The stack config model: every key a stack may set, its meaning, default and allowed values.

``load_config`` turns the raw values of the project namespace (``cilium-bgp:*`` in
``Pulumi.<stack>.yaml``) into a validated :class:`StackConfig` or raises :class:`ConfigError` listing
every problem, each naming its key. Field descriptions here are the config reference (the
README's, generated from them by ``python -m cilium_bgp.docs --update README.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from cilium_bgp.errors import ConfigError, Problem
from cilium_bgp.versions import OLDEST_SUPPORTED, SHARED_ASN_METHODS, Version

# ASNs that may not be used on a session: 0, AS_TRANS (RFC 6793), 65535 and 4294967295 (RFC 7300).
RESERVED_ASNS = {0, 23456, 65535, 4294967295}
SECRET_KEYS = ("bgpPassword", "sshPrivateKey")


def _check_asn(value: int) -> int:
    if not 1 <= value <= 4294967294 or value in RESERVED_ASNS:
        raise PydanticCustomError(
            "asn", "an ASN in 1-4294967294 other than 23456 and 65535 (private: 64512-65534, 4200000000-4294967294)"
        )
    return value


def _address_parser(kind: str, parse: Callable[[str], Any], allowed: str) -> Callable[[Any], Any]:
    """A before-validator turning text into an ``ipaddress`` object, or an error saying what is allowed."""

    def validate(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse(value)
        except ValueError:
            raise PydanticCustomError(kind, allowed) from None

    return validate


def _interface(text: str) -> IPv4Interface:
    if "/" not in text:
        raise ValueError("no prefix length")
    return IPv4Interface(text)


_parse_network = _address_parser(
    "cidr",
    lambda text: IPv4Network(text, strict=True),
    "an IPv4 network in CIDR form with no host bits set, e.g. 172.31.254.0/26",
)
_parse_interface = _address_parser("interface", _interface, "an IPv4 address with its prefix length, e.g. 10.0.1.10/24")
_parse_address = _address_parser("address", IPv4Address, "a plain IPv4 address, e.g. 10.0.1.10")


def _check_dns_label(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
        raise PydanticCustomError("name", "a DNS label: lower-case letters, digits and '-', at most 63 characters")
    return value


def _check_version(value: str) -> str:
    try:
        parsed = Version.parse(value)
    except ValueError:
        raise PydanticCustomError("version", "a Cilium release MAJOR.MINOR.PATCH, e.g. 1.18.3") from None
    if parsed < Version.parse(OLDEST_SUPPORTED):
        raise PydanticCustomError("version", f"Cilium {OLDEST_SUPPORTED} or later")
    return value


Asn = Annotated[int, AfterValidator(_check_asn)]
Cidr = Annotated[IPv4Network, BeforeValidator(_parse_network)]
HostInterface = Annotated[IPv4Interface, BeforeValidator(_parse_interface)]
Address = Annotated[IPv4Address, BeforeValidator(_parse_address)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
Port = Annotated[int, Field(ge=1, le=65535)]
Method = Literal["bird", "kube-router", "cilium-metallb", "cilium-bgp-v1", "cilium-bgp-v2"]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, validate_default=True
    )


class Ssh(Model):
    """How to reach one host over SSH; unset fields fall back to the stack-wide ``ssh`` block."""

    host: str | None = Field(None, description="Host name or address to connect to. Default: the host's own address.")
    user: str | None = Field(None, description="Login user. Default: `ssh.user`.")
    port: Port | None = Field(None, description="SSH port. Default: `ssh.port`.")
    host_key: str | None = Field(
        None,
        description="Pinned public host key (`ssh-ed25519 AAAA...`). Without it the host key is not checked.",
    )


class SshDefaults(Model):
    """Stack-wide SSH settings. The private key is the secret `sshPrivateKey` or a file named here."""

    user: str = Field("root", description="Default login user (must be able to install packages and write /etc).")
    port: Port = Field(22, description="Default SSH port.")
    private_key_path: str | None = Field(
        None,
        description="File holding the private key, read at run time and kept secret. "
        "Ignored when the secret `sshPrivateKey` is set; with neither, the SSH agent (`SSH_AUTH_SOCK`) is used.",
    )
    dial_error_limit: int = Field(10, ge=-1, description="Connection attempts before a command fails (-1: forever).")


class CiliumSettings(Model):
    """The Cilium Helm release and the pod network it manages. Names follow the Cilium chart."""

    version: Annotated[str, AfterValidator(_check_version)] = Field(
        description="Cilium release, e.g. `1.18.3`; selects Helm keys, BGP kinds and API versions."
    )
    chart_repo: str = Field("https://helm.cilium.io", description="Helm repository of the chart.")
    chart_version: str | None = Field(None, description="Chart version. Default: `cilium.version`.")
    release_name: DnsLabel = Field("cilium", description="Helm release name (explicit, no random suffix).")
    namespace: DnsLabel = Field("kube-system", description="Namespace of the release and of BGP objects.")
    k8s_service_host: str | None = Field(
        None,
        alias="k8sServiceHost",
        description="API server address the agents use; required while kube-proxy replacement is on (there is "
        "no kube-proxy to serve the `kubernetes` Service). `auto` (1.16+): read from kube-public/cluster-info.",
    )
    k8s_service_port: Port | None = Field(
        None, alias="k8sServicePort", description="API server port (unset: the `kubernetes` Service's port, 443)."
    )
    devices: str | list[str] | None = Field(None, description="Devices Cilium attaches to (`devices`).")
    kube_proxy_replacement: bool = Field(
        True, description="Kube-proxy replacement; rendered `strict`/`disabled` before 1.14, `true`/`false` after."
    )
    load_balancer_mode: Literal["snat", "dsr", "hybrid"] = Field(
        "snat", description="`loadBalancer.mode`. DSR needs native routing; the seed saw DSR fail with cilium-metallb."
    )
    cluster_pool_ipv4_pod_cidr_list: list[Cidr] = Field(
        alias="clusterPoolIPv4PodCIDRList",
        min_length=1,
        description="Cluster pool the operator carves PodCIDRs from (`ipam.operator.clusterPoolIPv4PodCIDRList`). "
        "With `kube-router` (Kubernetes IPAM), kube-controller-manager's `--cluster-cidr` instead: one CIDR.",
    )
    cluster_pool_ipv4_mask_size: int = Field(
        24,
        alias="clusterPoolIPv4MaskSize",
        ge=8,
        le=30,
        description="Prefix length of each node's PodCIDR. With `kube-router`, kube-controller-manager's "
        "`--node-cidr-mask-size` (its default is 24 as well).",
    )
    ipv4_native_routing_cidr: Cidr | None = Field(
        None,
        alias="ipv4NativeRoutingCIDR",
        description="Traffic to this CIDR is routed, not masqueraded. Default: the pool, when it is one CIDR.",
    )
    auto_direct_node_routes: bool = Field(
        False, description="Only for nodes on one shared L2; across subnets the routes must come from BGP."
    )
    bpf_masquerade: bool = Field(True, description="`bpf.masquerade`.")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Helm values merged last, over everything rendered; keys the release lacks are rejected.",
    )

    @cached_property
    def parsed_version(self) -> Version:
        return Version.parse(self.version)

    @property
    def native_routing_cidr(self) -> IPv4Network | None:
        if self.ipv4_native_routing_cidr is not None:
            return self.ipv4_native_routing_cidr
        if len(self.cluster_pool_ipv4_pod_cidr_list) == 1:
            return self.cluster_pool_ipv4_pod_cidr_list[0]
        return None


class RouterInterface(Model):
    name: str | None = Field(None, description="Interface name on the router (informational; the lab uses it).")
    address: HostInterface = Field(description="Address with prefix length, e.g. `10.0.1.2/24`.")


class RouterSettings(Model):
    """The router every node peers with (seed: `router`, FRR)."""

    hostname: str = Field("router", description="Host name written into `frr.conf`.")
    asn: Asn = Field(description="The router's ASN (seed: 65100).")
    router_id: Address = Field(description="BGP router-id (seed: 192.168.121.16).")
    daemon: Literal["frr", "bird"] = Field("frr", description="Routing daemon on the router: `frr` or `bird` (BIRD 2).")
    frr_version: str | None = Field(
        None, description="Value of the informational `frr version` line at the top of `frr.conf`."
    )
    peering_address: Address | None = Field(
        None,
        description="Address the nodes peer with (seed variant B: 192.168.121.16). "
        "Default: the router's address on each node's subnet.",
    )
    interfaces: list[RouterInterface] = Field(
        min_length=1, description="The router's addresses; every node must sit on one of these subnets."
    )
    neighbors: Literal["static", "peer-group", "listen-range"] = Field(
        "static",
        description="How `frr.conf` lists the nodes: `static` (one neighbor block each, the seed's form), "
        "`peer-group` (shared settings once, one line per node), `listen-range` (FRR accepts any node of the "
        "node subnets: adding a node changes nothing on the router; shared-ASN methods only).",
    )
    listen_limit: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="With `neighbors: listen-range`, the most dynamic peers FRR accepts. Default: 4x the nodes, "
        "at least 100 (FRR's own default, which silently refuses the 101st node).",
    )
    prefix_filter: bool | Literal["per-node"] = Field(
        False,
        description="`true`: accept only PodCIDRs of the pool and LB IPs of the LB pool (keeps `bgp "
        "ebgp-requires-policy`). `per-node`: each node only its own PodCIDRs (static PodCIDRs, not with a "
        "listen range). `false` reproduces the seed's `no bgp ebgp-requires-policy`.",
    )
    ssh: Ssh = Field(default_factory=Ssh, description="SSH connection to the router.")

    @property
    def per_node_filter(self) -> bool:
        return self.prefix_filter == "per-node"


class NodeSettings(Model):
    name: DnsLabel = Field(description="Kubernetes node name (also the CiliumNode name).")
    address: HostInterface = Field(description="Node address with prefix length, e.g. `10.0.1.10/24`.")
    asn: Asn | None = Field(
        None, description="Node ASN for the `bird` method (distinct per node). Shared-ASN methods use `bgp.nodeASN`."
    )
    router_id: Address | None = Field(
        None,
        description="BGP router-id. Default: the node's address. `cilium-bgp-v1`: the Node annotation "
        "`cilium.io/bgp-virtual-router.<nodeASN>` (a server-side patch, set before the release); `cilium-bgp-v2`: a "
        "CiliumBGPNodeConfigOverride; `cilium-metallb`: the node's own bgp-config peer; `kube-router`: only the "
        "node's address (one `--router-id` for all nodes).",
    )
    pod_cidrs: list[Cidr] = Field(
        default_factory=list,
        alias="podCIDRs",
        description="The node's PodCIDRs (as `cilium node list` shows; with `kube-router`, the Node's "
        "`spec.podCIDRs`) when `podCidrSource` is `static`.",
    )
    interface: str | None = Field(None, description="Name of the node's interface on its subnet (informational).")
    ssh: Ssh = Field(default_factory=Ssh, description="SSH connection to the node (used by the `bird` method).")

    @property
    def ip(self) -> IPv4Address:
        return self.address.ip

    @property
    def effective_router_id(self) -> IPv4Address:
        return self.router_id or self.address.ip


class BfdSettings(Model):
    """BFD on every session (FRR bfdd, BIRD `protocol bfd`), with `bgp.failover: bfd`."""

    receive_interval_ms: int = Field(300, ge=10, le=60000, description="Minimum receive interval (ms).")
    transmit_interval_ms: int = Field(300, ge=10, le=60000, description="Minimum transmit interval (ms).")
    detect_multiplier: int = Field(3, ge=2, le=255, description="Missed packets before the session is down.")


class BgpSettings(Model):
    """Session settings shared by every node. The password is the secret `bgpPassword`."""

    node_asn: Asn | None = Field(
        None, alias="nodeASN", description="Shared node ASN for kube-router and Cilium's speakers (seed: 65000)."
    )
    failover: Literal["default", "fast", "bfd"] = Field(
        "default",
        description="How fast a dead node is noticed. `default`: the daemons' timers (FRR hold 180 s). `fast`: "
        "hold 9 s, keepalive 3 s, connect retry 5 s. `bfd`: `fast` plus BFD (method `bird` only: Cilium's "
        "speakers have no BFD). Timer keys below override the profile (custom).",
    )
    bfd: BfdSettings = Field(default_factory=BfdSettings, description="BFD timers for `failover: bfd`.")
    hold_time_seconds: int | None = Field(
        None, ge=3, le=65535, description="Hold time on both ends. Default: each daemon's own (FRR 180, BIRD 240)."
    )
    keep_alive_time_seconds: int | None = Field(
        None, ge=1, le=21845, description="Keepalive interval. Default: a third of the hold time, or the daemon's."
    )
    connect_retry_time_seconds: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Delay between connection attempts (also BIRD's wait after a session error). "
        "Default: each daemon's own.",
    )
    require_password: bool = Field(
        False,
        description="Sessions use TCP MD5 with the secret `bgpPassword`; `pulumi preview` fails while it is unset. "
        "Setting `bgpPassword` alone also turns the password on.",
    )
    maximum_paths: int | None = Field(
        None,
        ge=1,
        le=64,
        description="ECMP paths the router installs for one prefix. Default: the node count (shared-ASN methods).",
    )


class LoadBalancerSettings(Model):
    """LoadBalancer IPs announced by Cilium's speakers or kube-router."""

    cidrs: list[Cidr] = Field(
        min_length=1,
        description="LB IP pool (seed variant B: `192.0.2.0/24`). Before Cilium 1.15, LB IPAM (every method but "
        "`cilium-metallb`) never hands out a block's first or last address: blocks of /30 or larger.",
    )
    pool_name: DnsLabel = Field("default", description="Name of the pool object or address-pool.")


class KubernetesSettings(Model):
    enabled: bool = Field(True, description="Create the Cilium release and Kubernetes objects (off: hosts only).")
    kubeconfig: str | None = Field(None, description="Kubeconfig path or content. Default: the ambient kubeconfig.")
    context: str | None = Field(None, description="Kubeconfig context.")


class KubeRouterSettings(Model):
    image: str = Field("docker.io/cloudnativelabs/kube-router:v2.5.0", description="kube-router image.")
    extra_args: list[str] = Field(default_factory=list, description="Extra kube-router flags.")


class DemoServiceSettings(Model):
    """The seed's `whoami-lb`: a whoami Deployment behind a LoadBalancer Service."""

    enabled: bool = Field(True, description="Create the demo Deployment and Service.")
    name: DnsLabel = Field("whoami-lb", description="Service name.")
    namespace: DnsLabel = Field("default", description="Namespace of the demo objects.")
    image: str = Field("docker.io/traefik/whoami:v1.10.3", description="Image serving HTTP on port 80.")
    load_balancer_ip: Address | None = Field(
        None,
        alias="loadBalancerIP",
        description="Ask LB IPAM for this IP (seed: 192.0.2.0). Default: any. Before Cilium 1.15 not a block's first "
        "or last address (LB IPAM skips them; `cilium-metallb` does not).",
    )


class VerifySettings(Model):
    enabled: bool = Field(True, description="After `up`, check sessions and routes on the router.")
    timeout_seconds: int = Field(120, ge=1, le=3600, description="How long the check waits for sessions and routes.")


class StackConfig(Model):
    """Everything under the `cilium-bgp:` namespace of a stack file."""

    method: Method = Field(
        description="BGP method: `bird`, `kube-router`, `cilium-metallb`, `cilium-bgp-v1` or `cilium-bgp-v2`."
    )
    pod_cidr_source: Literal["static", "cluster"] = Field(
        "static",
        description="`static`: `nodes[].podCIDRs` from config. `cluster`: each CiliumNode's `spec.ipam.podCIDRs`.",
    )
    cilium: CiliumSettings = Field(description="The Cilium release and its pod network (Cilium's own key names).")
    router: RouterSettings = Field(description="The router every node peers with.")
    nodes: list[NodeSettings] = Field(min_length=1, description="Kubernetes nodes; each peers with the router.")
    bgp: BgpSettings = Field(default_factory=BgpSettings, description="Session settings shared by every node.")
    load_balancer: LoadBalancerSettings | None = Field(None, description="LB IP pool; not for the `bird` method.")
    ssh: SshDefaults = Field(default_factory=SshDefaults, description="Stack-wide SSH settings for router and nodes.")
    kubernetes: KubernetesSettings = Field(
        default_factory=KubernetesSettings, description="The cluster the release and objects go to."
    )
    kube_router: KubeRouterSettings = Field(
        default_factory=KubeRouterSettings, description="The kube-router DaemonSet (method `kube-router`)."
    )
    demo_service: DemoServiceSettings | None = Field(None, description="Optional demo LoadBalancer Service.")
    verify: VerifySettings = Field(
        default_factory=VerifySettings, description="The router-side check of sessions and routes after `up`."
    )
    bgp_password: SecretStr | None = Field(
        None, description="Secret. MD5 password on every session: `pulumi config set --secret bgpPassword`."
    )
    ssh_private_key: SecretStr | None = Field(
        None, description="Secret. SSH private key: `pulumi config set --secret sshPrivateKey < key`."
    )

    @property
    def version(self) -> Version:
        return self.cilium.parsed_version

    @property
    def uses_password(self) -> bool:
        return self.bgp.require_password or self.bgp_password is not None

    @property
    def shared_asn(self) -> bool:
        return self.method in SHARED_ASN_METHODS

    def node_asn(self, node: NodeSettings) -> int:
        asn = self.bgp.node_asn if self.shared_asn else node.asn
        assert asn is not None, "validated: every node has an ASN for its method"
        return asn

    @cached_property
    def _interfaces_by_network(self) -> tuple[dict[IPv4Network, RouterInterface], list[int]]:
        by_network: dict[IPv4Network, RouterInterface] = {}
        for iface in self.router.interfaces:
            by_network.setdefault(iface.address.network, iface)
        return by_network, sorted({net.prefixlen for net in by_network}, reverse=True)

    def node_subnet(self, node: NodeSettings) -> RouterInterface | None:
        """The router interface on the node's subnet (looked up by prefix: stacks have thousands)."""
        by_network, prefixlens = self._interfaces_by_network
        for prefixlen in prefixlens:
            iface = by_network.get(IPv4Network((node.ip, prefixlen), strict=False))
            if iface is not None:
                return iface
        return None

    def router_address_for(self, node: NodeSettings) -> IPv4Address:
        """The router address a node peers with."""
        if self.router.peering_address is not None:
            return self.router.peering_address
        iface = self.node_subnet(node)
        assert iface is not None, "validated: every node sits on a router subnet"
        return iface.address.ip

    @property
    def maximum_paths(self) -> int:
        if self.bgp.maximum_paths is not None:
            return self.bgp.maximum_paths
        if self.router.neighbors == "listen-range":
            # Nodes come and go without a router change: allow FRR's most.
            return 64
        return min(64, max(1, len(self.nodes)))

    @property
    def listen_limit(self) -> int:
        if self.router.listen_limit is not None:
            return self.router.listen_limit
        return min(65535, max(100, 4 * len(self.nodes)))

    @property
    def uses_bfd(self) -> bool:
        return self.bgp.failover == "bfd"

    @property
    def lb_cidrs(self) -> list[IPv4Network]:
        return list(self.load_balancer.cidrs) if self.load_balancer else []

    @property
    def demo(self) -> DemoServiceSettings | None:
        if self.demo_service is not None and self.demo_service.enabled and self.kubernetes.enabled:
            return self.demo_service
        return None


def _render_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at ``loc`` (for listing its allowed keys)."""
    import typing

    current: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (f for name, f in current.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if field is None:
            return None
        current = field.annotation
        # Unwrap Optional[...] / list[...] down to the model class.
        while typing.get_origin(current) is not None:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0])
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, SecretStr):
        return "a secret"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _problems_from_validation(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            owner = _model_at(loc[:-1])
            allowed = (
                "one of " + ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else "no such key"
            )
            problems.append(Problem(_render_loc(loc), f"unknown key {loc[-1]!r}", allowed))
        elif kind == "missing":
            owner = _model_at(loc[:-1])
            field = next((f for n, f in owner.model_fields.items() if loc[-1] in (n, f.alias)), None) if owner else None
            meaning = field.description if field is not None and field.description else "a value"
            problems.append(Problem(_render_loc(loc), "nothing (the key is required)", meaning))
        else:
            key = _render_loc(tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "lax-")))))
            found = "a secret value" if key in SECRET_KEYS else _describe(item.get("input"))
            message = item["msg"]
            if kind == "literal_error":
                message = message.removeprefix("Input should be ")
            problems.append(Problem(key, found, message))
    return problems


def load_config(
    raw: Mapping[str, Any], secret_keys: frozenset[str], *, need_secret_values: bool = False
) -> StackConfig:
    """Validate raw project-namespace values (keys without the ``cilium-bgp:`` prefix).

    ``secret_keys`` lists the keys whose values arrived encrypted; a secret key holding plain text
    is rejected, since it would sit in the stack file for anyone to read. ``need_secret_values``:
    the caller will push configs (``pulumi up``), so a required secret must be set; rendering
    only needs to know a secret is used.
    """
    from cilium_bgp.validate import check_password, check_stack

    problems: list[Problem] = []
    for key in SECRET_KEYS:
        if key in raw and key not in secret_keys:
            problems.append(Problem(key, "a plain-text value", f"a secret: pulumi config set --secret {key} ..."))
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(problems + _problems_from_validation(error)) from None
    problems += check_stack(config)
    if need_secret_values and config.bgp_password is not None:
        # Only now is the value at hand; renderers paste it verbatim into each daemon's syntax.
        problems += check_password(config, config.bgp_password.get_secret_value())
    if need_secret_values and config.bgp.require_password and config.bgp_password is None:
        problems.append(
            Problem(
                "bgpPassword",
                "nothing, with bgp.requirePassword true",
                "a secret: pulumi config set --secret bgpPassword ...",
            )
        )
    if problems:
        raise ConfigError(problems)
    return config
