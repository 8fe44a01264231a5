"""What each Cilium release has: BGP methods, Helm keys and custom-resource API versions.

One table per fact, each row naming the release that added or removed the thing. The facts come
from the upstream charts and CRDs (see docs/cilium-versions.md); tests cross-check the Helm-key
table against the upstream ``values.schema.json`` of every release that ships one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering

from packaging.version import InvalidVersion
from packaging.version import Version as PackagingVersion

OLDEST_SUPPORTED = "1.13.0"


@total_ordering
@dataclass(frozen=True)
class Version:
    """A Cilium release, compared on MAJOR.MINOR.PATCH: a pre-release or build suffix (``-rc.1``,
    ``-dev``, ``+abc``) names the release it leads to, so its features are that release's."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        try:
            release = PackagingVersion(text.strip()).release
        except InvalidVersion:
            release = ()
        if not 2 <= len(release) <= 3:
            raise ValueError(f"not a Cilium version: {text!r} (expected MAJOR.MINOR[.PATCH], e.g. 1.18.3)")
        return cls(*release)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def v(text: str) -> Version:
    return Version.parse(text)


@dataclass(frozen=True)
class Lifetime:
    """A thing that exists from ``since`` (inclusive) until ``removed`` (exclusive)."""

    since: Version | None = None
    removed: Version | None = None

    def exists_in(self, version: Version) -> bool:
        if self.since is not None and version < self.since:
            return False
        return self.removed is None or version < self.removed

    def describe(self) -> str:
        if self.since and self.removed:
            return f"Cilium {self.since} up to (not including) {self.removed}"
        if self.since:
            return f"Cilium {self.since} and later"
        if self.removed:
            return f"Cilium releases before {self.removed}"
        return "every Cilium release"


METHODS: dict[str, Lifetime] = {
    # BIRD and kube-router run beside Cilium; Cilium only needs native routing.
    "bird": Lifetime(),
    "kube-router": Lifetime(),
    # The MetalLB-based speaker (bgp-config ConfigMap), removed in 1.17.0.
    "cilium-metallb": Lifetime(v("1.10.0"), v("1.17.0")),
    # CiliumBGPPeeringPolicy, removed in 1.19.
    "cilium-bgp-v1": Lifetime(v("1.12.0"), v("1.19.0")),
    # CiliumBGPClusterConfig and friends, usable from 1.16 (v2alpha1).
    "cilium-bgp-v2": Lifetime(v("1.16.0")),
}

METHODS_WITH_CILIUM_SPEAKER = ("cilium-metallb", "cilium-bgp-v1", "cilium-bgp-v2")
# Methods whose nodes all speak from one shared ASN and may announce the same LB IP (ECMP).
SHARED_ASN_METHODS = ("kube-router", *METHODS_WITH_CILIUM_SPEAKER)


@dataclass(frozen=True)
class HelmKey:
    path: str
    lifetime: Lifetime
    note: str


# Helm value paths that some supported release lacks. A user override at (or under) one of these
# paths is rejected for releases where it does not exist; the renderer gates its own keys on the
# same table, so "what we render" and "what we reject" cannot disagree.
HELM_KEYS: tuple[HelmKey, ...] = (
    HelmKey("tunnel", Lifetime(removed=v("1.15.0")), "replaced by routingMode (1.14) and tunnelProtocol"),
    HelmKey("routingMode", Lifetime(since=v("1.14.0")), "replaces tunnel: disabled"),
    HelmKey("tunnelProtocol", Lifetime(since=v("1.14.0")), "replaces tunnel: vxlan|geneve"),
    HelmKey(
        "ipam.operator.clusterPoolIPv4PodCIDR",
        Lifetime(removed=v("1.14.0")),
        "use ipam.operator.clusterPoolIPv4PodCIDRList",
    ),
    HelmKey("bgp", Lifetime(removed=v("1.17.0")), "the MetalLB-based speaker was removed in 1.17.0"),
    HelmKey("bgpControlPlane", Lifetime(since=v("1.12.0")), "BGP Control Plane"),
    HelmKey(
        "bgpControlPlane.secretsNamespace",
        Lifetime(since=v("1.15.0")),
        "where BGP auth Secrets are read from, with authSecretRef (1.15)",
    ),
    HelmKey("externalIPs", Lifetime(removed=v("1.17.6")), "dropped in 1.17.6 (kube-proxy replacement covers it)"),
    HelmKey("hostPort", Lifetime(removed=v("1.18.0")), "dropped in 1.18 (kube-proxy replacement covers it)"),
    HelmKey("nodePort.enabled", Lifetime(removed=v("1.19.0")), "removed in 1.19"),
)


def helm_key_lifetime(path: str) -> HelmKey | None:
    """The table row governing ``path``: the most specific row whose path is ``path`` or one of its
    parents."""
    rows = [row for row in HELM_KEYS if path == row.path or path.startswith(row.path + ".")]
    return max(rows, key=lambda row: len(row.path), default=None)


def has_helm_key(version: Version, path: str) -> bool:
    row = helm_key_lifetime(path)
    return row is None or row.lifetime.exists_in(version)


KUBE_PROXY_REPLACEMENT_WORDS = ("disabled", "partial", "strict", "probe")
# true/false arrived in 1.14; the old words were removed in 1.16 (the chart fails on them).
KPR_BOOLEAN = Lifetime(since=v("1.14.0"))
KPR_WORDS = Lifetime(removed=v("1.16.0"))
K8S_SERVICE_HOST_AUTO = Lifetime(since=v("1.16.0"))


def bgp_crd_api_version(version: Version) -> str:
    """API version of the BGP Control Plane v2 kinds and of CiliumLoadBalancerIPPool."""
    return "cilium.io/v2" if version >= v("1.18.0") else "cilium.io/v2alpha1"


# CiliumBGPPeeringPolicy fields that arrived after the kind itself.
PEERING_POLICY_NEIGHBOR_TIMERS = Lifetime(since=v("1.14.0"))
PEERING_POLICY_AUTH_SECRET = Lifetime(since=v("1.15.0"))
# CiliumLoadBalancerIPPool: spec.cidrs until 1.15, spec.blocks from 1.15 (cidrs removed in 1.16).
LB_POOL_BLOCKS = Lifetime(since=v("1.15.0"))
# LB IPAM hands out a block's first and last address only with allowFirstLastIPs (1.15+); before, a
# /31 or /32 block holds no address at all.
LB_POOL_FIRST_LAST_IPS = Lifetime(since=v("1.15.0"))
# Annotation asking LB IPAM for a specific address.
LB_IPAM_IPS_ANNOTATION_NEW = Lifetime(since=v("1.16.0"))
