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
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from cilium_bgp.errors import HIDDEN, ConfigError, Problem, excerpt, looks_secret
from cilium_bgp.versions import OLDEST_SUPPORTED, SHARED_ASN_METHODS, Version

# ASNs that may not be used on a session: 0, AS_TRANS (RFC 6793), 65535 and 4294967295 (RFC 7300).
RESERVED_ASNS = {0, 23456, 65535, 4294967295}
SECRET_KEYS = ("bgpPassword", "sshPrivateKey")
# Keys whose values may be stored as Pulumi secrets: the secrets themselves, and the cluster
# credentials (``kubernetes.kubeconfig``), which reach the Kubernetes provider as secret inputs.
# Every other key ends up in rendered configs, outputs and resource inputs, where a secret would leak.
SECRET_CAPABLE_KEYS = (*SECRET_KEYS, "kubernetes")
# What the render command knows of a value encrypted in the stack file (it cannot decrypt it).
ENCRYPTED = "encrypted-in-the-stack-file"
# Raw config is untrusted: bounded before anything walks it recursively (validation, Helm merge, YAML dump).
MAX_DEPTH = 32
MAX_VALUES = 500_000
PLACEHOLDER = "<<secret:"
# A known secret shorter than this is not searched for in other values (too many false alarms).
MIN_SECRET_SEARCH = 8


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


def _pattern(kind: str, pattern: str, allowed: str, max_length: int) -> Callable[[str], str]:
    """An after-validator: ``value`` must match ``pattern`` whole, or the error says what is allowed."""
    compiled = re.compile(pattern)

    def validate(value: str) -> str:
        if len(value) > max_length or not compiled.fullmatch(value):
            raise PydanticCustomError(kind, allowed)
        return value

    return validate


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*"
_HOSTNAME = "a host name (RFC 1123: letters, digits, '-' and '.', at most 253 characters)"
_check_hostname = _pattern("hostname", _HOSTNAME_RE, _HOSTNAME, 253)


def _check_host(value: str) -> str:
    """A host name or an IP address: what ssh and the Kubernetes API client take."""
    try:
        ip_address(value)
    except ValueError:
        if len(value) > 253 or not re.fullmatch(_HOSTNAME_RE, value):
            raise PydanticCustomError("host", _HOSTNAME + " or an IP address") from None
    return value


_IFNAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}"
_check_interface_name = _pattern(
    "interface", _IFNAME, "a Linux interface name: letters, digits, '_', '.', '-', at most 15 characters", 15
)
_check_device = _pattern(
    "device", _IFNAME + r"\+?", "interface names (at most 15 characters; a trailing '+' is Cilium's wildcard)", 16
)


def _check_devices(value: str | list[str]) -> str | list[str]:
    names = re.split(r"[ ,]", value) if isinstance(value, str) else value
    for name in names:
        _check_device(name)
    return value


_check_user = _pattern(
    "user", r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", "a login name: letters, digits, '_', '.', '-', not starting with '-'", 32
)
_check_host_key = _pattern(
    "hostKey",
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}",
    "a public host key as `<type> <base64>`, e.g. ssh-ed25519 AAAA...",
    16384,
)
_check_path = _pattern("path", r"[^\x00-\x1f\x7f]+", "a file path (no control characters)", 4096)
_check_frr_version = _pattern(
    "frrVersion", r"[0-9]+\.[0-9]+(\.[0-9]+)?([-_.+~][0-9A-Za-z]+)*", "an FRR version, e.g. 8.4.1", 32
)
_check_chart_version = _pattern(
    "chartVersion", r"v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?", "a chart version, e.g. 1.18.3", 64
)
_check_chart_repo = _pattern(
    "chartRepo",
    r"(https?|oci)://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+-]*)?",
    "a chart repository URL (https://, http:// or oci://)",
    2048,
)
# A chart on disk: what `helm install NAME PATH` takes (a chart directory or a packaged archive).
_check_chart = _pattern(
    "chart",
    r"(?![A-Za-z][A-Za-z0-9+.-]*://)[^\x00-\x1f\x7f]+",
    "a local chart: a directory holding Chart.yaml or a .tgz archive (for a repository, set chartRepo)",
    4096,
)
DEFAULT_CHART_REPO = "https://helm.cilium.io"
# The reference grammar of container images (distribution/reference), lower-case repository.
_check_image = _pattern(
    "image",
    r"([A-Za-z0-9.-]+(:[0-9]{1,5})?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?",
    "an image reference, e.g. docker.io/traefik/whoami:v1.10.3",
    512,
)
_check_flag = _pattern(
    "flag", r"--[a-z0-9][a-z0-9-]*(=[^\x00-\x1f\x7f]*)?", "one flag per item: --flag or --flag=value", 1024
)
_check_context = _pattern("context", r"[^\x00-\x1f\x7f]+", "a kubeconfig context name (no control characters)", 253)
_check_kubeconfig = _pattern("kubeconfig", r"[^\x00]+", "a kubeconfig path or content", 1_000_000)


def _check_bounded(values: dict[str, Any]) -> dict[str, Any]:
    """Helm values are merged and dumped recursively: bounded here whatever built the model."""
    todo: list[tuple[int, Any]] = [(1, values)]
    count = 0
    while todo:
        depth, value = todo.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_VALUES:
            raise PydanticCustomError("bounded", f"values nested at most {MAX_DEPTH} deep, at most {MAX_VALUES} in all")
        if isinstance(value, dict):
            todo.extend((depth + 1, item) for item in value.values())
        elif isinstance(value, list):
            todo.extend((depth + 1, item) for item in value)
    return values


_LIMITED_BROADCAST = IPv4Address("255.255.255.255")


def _unusable(ip: IPv4Address) -> str | None:
    """Why ``ip`` cannot be a host's address, or None."""
    if ip == _LIMITED_BROADCAST:
        return "the limited broadcast address"
    if ip in IPv4Network("0.0.0.0/8"):
        return "the unspecified network 0.0.0.0/8"
    for test, what in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_reserved, "a reserved address (240.0.0.0/4)"),
    ):
        if test:
            return what
    return None


def _check_host_interface(iface: IPv4Interface) -> IPv4Interface:
    why = _unusable(iface.ip)
    network = iface.network
    if why is None and network.prefixlen <= 30:
        if iface.ip == network.network_address:
            why = f"the network address of {network}"
        elif iface.ip == network.broadcast_address:
            why = f"the broadcast address of {network}"
    if why is not None:
        raise PydanticCustomError("interface", f"a usable host address (this is {why})")
    return iface


def _check_router_id(ip: IPv4Address) -> IPv4Address:
    if ip.is_unspecified:
        raise PydanticCustomError("routerId", "any address but the unspecified 0.0.0.0")
    return ip


def _check_dns_label(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
        raise PydanticCustomError("name", "a DNS label: lower-case letters, digits and '-', at most 63 characters")
    return value


def _check_version(value: str) -> str:
    if not re.fullmatch(r"v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.-]+)?", value[:64]):
        raise PydanticCustomError("version", "a Cilium release MAJOR.MINOR.PATCH, e.g. 1.18.3")
    try:
        parsed = Version.parse(value)
    except ValueError:
        raise PydanticCustomError("version", "a Cilium release MAJOR.MINOR.PATCH, e.g. 1.18.3") from None
    if parsed < Version.parse(OLDEST_SUPPORTED):
        raise PydanticCustomError("version", f"Cilium {OLDEST_SUPPORTED} or later")
    return value


Asn = Annotated[int, AfterValidator(_check_asn)]
Cidr = Annotated[IPv4Network, BeforeValidator(_parse_network)]
HostInterface = Annotated[IPv4Interface, BeforeValidator(_parse_interface), AfterValidator(_check_host_interface)]
Address = Annotated[IPv4Address, BeforeValidator(_parse_address)]
RouterId = Annotated[IPv4Address, BeforeValidator(_parse_address), AfterValidator(_check_router_id)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
Hostname = Annotated[str, AfterValidator(_check_hostname)]
Host = Annotated[str, AfterValidator(_check_host)]
InterfaceName = Annotated[str, AfterValidator(_check_interface_name)]
UserName = Annotated[str, AfterValidator(_check_user)]
FilePath = Annotated[str, AfterValidator(_check_path)]
Image = Annotated[str, AfterValidator(_check_image)]
ChartRepo = Annotated[str, AfterValidator(_check_chart_repo)]
ChartPath = Annotated[str, AfterValidator(_check_chart)]
ChartVersion = Annotated[str, AfterValidator(_check_chart_version)]
Devices = Annotated[str | list[str], AfterValidator(_check_devices)]
HostKey = Annotated[str, AfterValidator(_check_host_key)]
FrrVersion = Annotated[str, AfterValidator(_check_frr_version)]
Kubeconfig = Annotated[str, AfterValidator(_check_kubeconfig)]
Context = Annotated[str, AfterValidator(_check_context)]
Flag = Annotated[str, AfterValidator(_check_flag)]
Port = Annotated[int, Field(ge=1, le=65535)]
Method = Literal["bird", "kube-router", "cilium-metallb", "cilium-bgp-v1", "cilium-bgp-v2"]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
        # No coercion: `asn: true`, `"12 "` or `65000.0` are mistakes, not the number they coerce to.
        strict=True,
    )


class Ssh(Model):
    """How to reach one host over SSH; unset fields fall back to the stack-wide ``ssh`` block."""

    host: Host | None = Field(None, description="Host name or address to connect to. Default: the host's own address.")
    user: UserName | None = Field(None, description="Login user. Default: `ssh.user`.")
    port: Port | None = Field(None, description="SSH port. Default: `ssh.port`.")
    host_key: HostKey | None = Field(
        None,
        description="Pinned public host key (`ssh-ed25519 AAAA...`). Without it the host key is not checked.",
    )


class SshDefaults(Model):
    """Stack-wide SSH settings. The private key is the secret `sshPrivateKey` or a file named here."""

    user: UserName = Field("root", description="Default login user (must be able to install packages and write /etc).")
    port: Port = Field(22, description="Default SSH port.")
    private_key_path: FilePath | None = Field(
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
    chart_repo: ChartRepo | None = Field(
        None, description=f"Helm repository of the chart. Default: `{DEFAULT_CHART_REPO}` (unless `chart` is set)."
    )
    chart_version: ChartVersion | None = Field(None, description="Chart version. Default: `cilium.version`.")
    chart: ChartPath | None = Field(
        None,
        description="A local chart instead of a repository: a chart directory or `.tgz` archive (e.g. "
        "`install/kubernetes/cilium` of Cilium's source, for hosts without access to the repository). A relative "
        "path is taken from the project directory. Excludes `chartRepo` and `chartVersion` (the chart is the version).",
    )
    release_name: DnsLabel = Field("cilium", description="Helm release name (explicit, no random suffix).")
    namespace: DnsLabel = Field("kube-system", description="Namespace of the release and of BGP objects.")
    k8s_service_host: Host | None = Field(
        None,
        alias="k8sServiceHost",
        description="API server address the agents use; required while kube-proxy replacement is on (there is "
        "no kube-proxy to serve the `kubernetes` Service). `auto` (1.16+): read from kube-public/cluster-info.",
    )
    k8s_service_port: Port | None = Field(
        None, alias="k8sServicePort", description="API server port (unset: the `kubernetes` Service's port, 443)."
    )
    devices: Devices | None = Field(None, description="Devices Cilium attaches to (`devices`).")
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
    values: Annotated[dict[str, Any], AfterValidator(_check_bounded)] = Field(
        default_factory=dict,
        description="Helm values merged last, over everything rendered; keys the release lacks are rejected.",
    )

    @field_validator("chart")
    @classmethod
    def _chart_alone(cls, chart: str | None, info: ValidationInfo) -> str | None:
        """A local chart is the whole source: a repository or version beside it would be ignored."""
        beside = [alias for name, alias in (("chart_repo", "chartRepo"), ("chart_version", "chartVersion"))
                  if info.data.get(name) is not None]  # fmt: skip
        if chart is not None and beside:
            raise PydanticCustomError("chart", f"a local chart or {' and '.join(beside)}, not both")
        return chart

    @cached_property
    def parsed_version(self) -> Version:
        return Version.parse(self.version)

    @property
    def repository(self) -> str | None:
        """The Helm repository the chart comes from; None for a local chart."""
        return None if self.chart is not None else self.chart_repo or DEFAULT_CHART_REPO

    @property
    def native_routing_cidr(self) -> IPv4Network | None:
        if self.ipv4_native_routing_cidr is not None:
            return self.ipv4_native_routing_cidr
        if len(self.cluster_pool_ipv4_pod_cidr_list) == 1:
            return self.cluster_pool_ipv4_pod_cidr_list[0]
        return None


class RouterInterface(Model):
    name: InterfaceName | None = Field(
        None, description="Interface name on the router (informational; the lab uses it)."
    )
    address: HostInterface = Field(description="Address with prefix length, e.g. `10.0.1.2/24`.")


class UpstreamPeer(Model):
    """A BGP peer beyond the cluster the router announces the cluster's prefixes to."""

    name: DnsLabel = Field(description="Name of the peer (outputs, BIRD's protocol name).")
    address: Address = Field(description="Its address, on one of the router's subnets.")
    asn: Asn = Field(description="Its ASN (eBGP: not the router's, nor one a node speaks from).")


class RouterSettings(Model):
    """A router the nodes peer with (seed: `router`, FRR)."""

    name: DnsLabel | None = Field(
        None,
        description="The router's name (outputs, artifact paths, resource names, `nodes[].routers`, "
        "`routerMesh.reflectors`). Default: `hostname`. With `routers`, name a router `router` to keep the "
        "resources of a stack that had one `router`.",
    )
    hostname: Hostname = Field(
        "router", description="Host name written into `frr.conf`. Default: `name`, else `router`."
    )
    asn: Asn = Field(description="The router's ASN (seed: 65100).")
    router_id: RouterId = Field(description="BGP router-id (seed: 192.168.121.16).")
    daemon: Literal["frr", "bird"] = Field("frr", description="Routing daemon on the router: `frr` or `bird` (BIRD 2).")
    frr_version: FrrVersion | None = Field(
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
    upstreams: list[UpstreamPeer] = Field(
        default_factory=list,
        description="BGP peers beyond the cluster (a core router, a firewall, the clients' gateway): the router "
        "announces them the cluster's prefixes (PodCIDRs of the pool, LB IPs of the LB pool) and accepts nothing "
        "from them. The stack's timers apply; not its password or BFD; no graceful restart (a dead router's "
        "paths leave the peer with its session).",
    )
    ssh: Ssh = Field(default_factory=Ssh, description="SSH connection to the router.")

    @property
    def per_node_filter(self) -> bool:
        return self.prefix_filter == "per-node"

    @property
    def effective_name(self) -> str:
        return self.name or self.hostname

    @property
    def effective_hostname(self) -> str:
        return self.hostname if self.name is None or "hostname" in self.model_fields_set else self.name

    @cached_property
    def _interfaces_by_network(self) -> tuple[dict[IPv4Network, RouterInterface], list[int]]:
        by_network: dict[IPv4Network, RouterInterface] = {}
        for iface in self.interfaces:
            by_network.setdefault(iface.address.network, iface)
        return by_network, sorted({net.prefixlen for net in by_network}, reverse=True)

    def interface_on(self, address: IPv4Address) -> RouterInterface | None:
        """The router's interface on the subnet holding ``address`` (looked up by prefix: stacks
        have thousands of nodes)."""
        by_network, prefixlens = self._interfaces_by_network
        for prefixlen in prefixlens:
            iface = by_network.get(IPv4Network((address, prefixlen), strict=False))
            if iface is not None:
                return iface
        return None


class NodeSettings(Model):
    name: DnsLabel = Field(description="Kubernetes node name (also the CiliumNode name).")
    address: HostInterface = Field(description="Node address with prefix length, e.g. `10.0.1.10/24`.")
    asn: Asn | None = Field(
        None, description="Node ASN for the `bird` method (distinct per node). Shared-ASN methods use `bgp.nodeASN`."
    )
    router_id: RouterId | None = Field(
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
    routers: list[DnsLabel] | None = Field(
        None,
        min_length=1,
        description="Names of the routers this node peers with, each with an address on the node's subnet. "
        "Default: every router with an address on the node's subnet.",
    )
    interface: InterfaceName | None = Field(
        None, description="Name of the node's interface on its subnet (informational)."
    )
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
    kubeconfig: Kubeconfig | None = Field(
        None,
        description="Kubeconfig path or content (passed to the provider as a secret). Default: the ambient kubeconfig.",
    )
    context: Context | None = Field(None, description="Kubeconfig context.")


class KubeRouterSettings(Model):
    image: Image = Field("docker.io/cloudnativelabs/kube-router:v2.5.0", description="kube-router image.")
    extra_args: list[Flag] = Field(
        default_factory=list, description="Extra kube-router flags, one `--flag` or `--flag=value` per item."
    )


class DemoServiceSettings(Model):
    """The seed's `whoami-lb`: a whoami Deployment behind a LoadBalancer Service."""

    enabled: bool = Field(True, description="Create the demo Deployment and Service.")
    name: DnsLabel = Field("whoami-lb", description="Service name.")
    namespace: DnsLabel = Field("default", description="Namespace of the demo objects.")
    image: Image = Field("docker.io/traefik/whoami:v1.10.3", description="Image serving HTTP on port 80.")
    load_balancer_ip: Address | None = Field(
        None,
        alias="loadBalancerIP",
        description="Ask LB IPAM for this IP (seed: 192.0.2.0). Default: any. Before Cilium 1.15 not a block's first "
        "or last address (LB IPAM skips them; `cilium-metallb` does not).",
    )


class RouterMeshSettings(Model):
    """How the routers of `routers` exchange what they learn, so every router reaches every PodCIDR."""

    mode: Literal["full", "reflectors"] = Field(
        "full",
        description="`full`: every router peers with every other on a subnet they share (iBGP between routers "
        "of one ASN, with next-hop-self; eBGP between different ASNs). `reflectors`: the routers named in "
        "`reflectors` reflect routes to every other router (iBGP: one ASN for all; every router needs an "
        "address on one shared subnet, which carries the sessions and the reflected next hops).",
    )
    reflectors: list[DnsLabel] = Field(
        default_factory=list, description="With `mode: reflectors`, the names of the route reflectors (a pair)."
    )
    cluster_id: Address | None = Field(
        None,
        alias="clusterId",
        description="With `mode: reflectors`, the cluster-id the reflectors share. Default: each its router-id.",
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
    router: RouterSettings | None = Field(
        None, description="The router every node peers with (one router; `routers` for several)."
    )
    routers: list[RouterSettings] | None = Field(
        None,
        min_length=1,
        description="Several routers, each with the keys of `router` and a distinct `name`: each node peers with "
        "every router that has an address on its subnet (or those in `nodes[].routers`); the routers exchange "
        "routes as `routerMesh` says.",
    )
    router_mesh: RouterMeshSettings = Field(
        default_factory=RouterMeshSettings, description="How the routers of `routers` exchange routes."
    )
    nodes: list[NodeSettings] = Field(
        min_length=1, description="Kubernetes nodes; each peers with its routers (or from `nodesFile`)."
    )
    nodes_file: str | None = Field(
        None,
        alias="nodesFile",
        min_length=1,
        max_length=1024,
        description="Instead of `nodes`: a YAML file, relative to the project directory, holding the list "
        "`nodes` would. For large clusters: the CLI hands the program all stack config in one environment "
        "variable, which Linux caps at 128 KiB (about 760 nodes with one subnet each).",
    )
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

    @property
    def all_routers(self) -> list[tuple[str, RouterSettings]]:
        """Every router with the config key it sits under (``router`` or ``routers[i]``)."""
        if self.routers is not None:
            return [(f"routers[{i}]", r) for i, r in enumerate(self.routers)]
        return [("router", self.router)] if self.router is not None else []

    def node_routers(self, node: NodeSettings) -> list[tuple[RouterSettings, RouterInterface]]:
        """The routers ``node`` peers with, each with its interface on the node's subnet: those the
        node names, else every router with an address on its subnet."""
        found = []
        for _, router in self.all_routers:
            if node.routers is not None and router.effective_name not in node.routers:
                continue
            iface = router.interface_on(node.ip)
            if iface is not None:
                found.append((router, iface))
        return found

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


def _render_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if len(text) > 64 or looks_secret(text):
                # Keys are config too: a pasted secret or a huge key is not printed either.
                text = "<a key shaped like a secret>" if looks_secret(text) else text[:61] + "..."
            out += ("." if out else "") + text
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


# Pydantic's words for a wrong type, said the way a stack file author needs them.
_TYPE_MESSAGES = {
    "int_type": "a whole number (no quotes, no decimal point; true/false are not numbers)",
    "bool_type": "true or false (no quotes)",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


def _problems_from_validation(error: ValidationError, known_secrets: tuple[str, ...]) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False, include_context=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            owner = _model_at(loc[:-1])
            allowed = (
                "one of " + ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else "no such key"
            )
            problems.append(Problem(_render_loc(loc), f"unknown key {_render_loc(loc[-1:])!r}", allowed))
        elif kind == "missing":
            owner = _model_at(loc[:-1])
            field = next((f for n, f in owner.model_fields.items() if loc[-1] in (n, f.alias)), None) if owner else None
            meaning = field.description if field is not None and field.description else "a value"
            problems.append(Problem(_render_loc(loc), "nothing (the key is required)", meaning))
        else:
            key = _render_loc(tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "lax-")))))
            secret = key in SECRET_KEYS or isinstance(item.get("input"), SecretStr)
            found = "a secret value (not shown)" if secret else excerpt(item.get("input"), known_secrets)
            message = _TYPE_MESSAGES.get(kind, item["msg"])
            if kind == "literal_error":
                message = message.removeprefix("Input should be ")
            problems.append(Problem(key, found, message))
    return problems


def _secret_text(value: Any) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if isinstance(value, str) and value != ENCRYPTED else None


def _raw_problems(raw: Mapping[str, Any], known_secrets: tuple[str, ...]) -> tuple[list[Problem], bool]:
    """Problems of the raw values before any model sees them, and whether they are fatal.

    The walk is iterative and bounded (depth, count): a self-referencing or alias-expanded
    structure ends here with a message, not in a RecursionError or a hang further on. Strings
    outside the secret keys may carry neither a secret placeholder (the push would fill in the
    secret) nor a known secret's value (it would be rendered in plain text).
    """
    problems: list[Problem] = []
    searched = tuple(s for s in known_secrets if len(s) >= MIN_SECRET_SEARCH)
    todo: list[tuple[tuple[Any, ...], Any]] = [((key,), value) for key, value in raw.items() if key not in SECRET_KEYS]
    count = 0
    while todo:
        path, value = todo.pop()
        count += 1
        if count > MAX_VALUES:
            return [Problem(_render_loc(path[:1]), f"more than {MAX_VALUES} values", "a stack config")], True
        if len(path) > MAX_DEPTH:
            problems.append(
                Problem(_render_loc(path[:3]), f"nesting deeper than {MAX_DEPTH} levels", f"at most {MAX_DEPTH}")
            )
            continue
        if isinstance(value, dict):
            todo.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend(((*path, i), v) for i, v in enumerate(value))
        elif isinstance(value, str):
            if PLACEHOLDER in value:
                problems.append(
                    Problem(
                        _render_loc(path),
                        "a secret placeholder",
                        "text without placeholders (secrets go in bgpPassword or sshPrivateKey)",
                    )
                )
            elif any(secret in value for secret in searched):
                problems.append(Problem(_render_loc(path), HIDDEN, "no secret outside the secret keys"))
    fatal = any(p.found.startswith("nesting deeper") for p in problems)
    # One report per branch that is too deep; a wide, deep structure would repeat it.
    unique = list(dict.fromkeys(problems))
    return unique, fatal


def load_config(
    raw: Mapping[str, Any], secret_keys: frozenset[str], *, need_secret_values: bool = False
) -> StackConfig:
    """Validate raw project-namespace values (keys without the ``cilium-bgp:`` prefix).

    ``secret_keys`` lists the keys whose values arrived encrypted; a secret key holding plain text
    is rejected, since it would sit in the stack file for anyone to read, and so is a secret
    value in a key that cannot keep it secret. ``need_secret_values``: the caller will push
    configs (``pulumi up``), so a required secret must be set; rendering only needs to know a
    secret is used.
    """
    from cilium_bgp.validate import check_password, check_pool_apart_from_nodes, check_stack

    problems: list[Problem] = []
    for key in SECRET_KEYS:
        if key in raw and key not in secret_keys:
            problems.append(Problem(key, "a plain-text value", f"a secret: pulumi config set --secret {key} ..."))
    for key in sorted(secret_keys - set(SECRET_CAPABLE_KEYS)):
        if key in raw:
            problems.append(
                Problem(
                    key,
                    "a secret value",
                    "plain text: only " + ", ".join(SECRET_CAPABLE_KEYS) + " stay secret end to end; this key "
                    "ends up in rendered configs, outputs and resource inputs",
                )
            )
    known = tuple(t for t in (_secret_text(raw.get(k)) for k in SECRET_KEYS) if t)
    raw_problems, fatal = _raw_problems(raw, known)
    problems += raw_problems
    if fatal:
        raise ConfigError(problems)
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(problems + _problems_from_validation(error, known)) from None
    problems += check_stack(config)
    problems += check_pool_apart_from_nodes(config)
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
