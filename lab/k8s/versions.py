"""Which releases of the cluster's parts the lab builds and runs: one place for
``scripts/install-cluster`` (``python3 -m lab.k8s.versions``) and the lab.

Only what the Go module proxy serves can be built here; a Cilium release the proxy refuses (most
patch releases answer 403) is replaced by the nearest served patch of the same minor.
"""

from __future__ import annotations

import sys

from cilium_bgp.versions import Version

ETCD = "3.6.16"
# kube-apiserver, kube-controller-manager and kube-scheduler (k8s.io/kubernetes).
KUBERNETES = "1.34.4"
KWOK = "0.8.0"
# The only github.com/cloudnativelabs/kube-router/v2 release the proxy serves (v2.4.1, v2.5.0: 403).
KUBE_ROUTER = "2.1.0"

# github.com/cilium/cilium releases whose module zip the proxy served (checked 2026-12), per minor;
# the first is what a bare minor (``1.18``) builds: the releases the lab has been run with.
CILIUM_SERVED: dict[str, tuple[str, ...]] = {
    "1.13": ("1.13.18",),
    "1.14": ("1.14.19",),
    "1.15": ("1.15.7", "1.15.19"),
    "1.16": ("1.16.19",),
    "1.17": ("1.17.14", "1.17.15"),
    "1.18": ("1.18.3", "1.18.4", "1.18.10"),
}


class UnservedVersion(ValueError):
    """No release of this Cilium minor can be built here."""


def cilium_build(requested: str) -> str:
    """The Cilium release to build and run for ``requested`` (``MAJOR.MINOR`` or a full release).

    A bare minor gives that minor's default build; a full release gives itself when served, else
    the served patch of its minor nearest to it (the newer one on a tie).
    """
    text = requested.strip().removeprefix("v")
    version = Version.parse(text)
    minor = f"{version.major}.{version.minor}"
    served = CILIUM_SERVED.get(minor)
    if served is None:
        known = ", ".join(CILIUM_SERVED)
        raise UnservedVersion(f"Cilium {requested}: no {minor}.x release can be built here (served minors: {known})")
    if text.count(".") == 1:
        return served[0]
    return min(served, key=lambda s: (abs(Version.parse(s).patch - version.patch), -Version.parse(s).patch))


def pins() -> dict[str, str]:
    """The fixed releases of the non-Cilium parts, by the component names install-cluster uses."""
    return {"etcd": ETCD, "kubernetes": KUBERNETES, "kwok": KWOK, "kube-router": KUBE_ROUTER}


def main(argv: list[str]) -> int:
    """``cilium VERSION...``: one resolved release per line; ``pins``: ``NAME VERSION`` lines."""
    if argv[:1] == ["pins"] and len(argv) == 1:
        print("\n".join(f"{name} {version}" for name, version in pins().items()))
        return 0
    if argv[:1] == ["cilium"] and len(argv) > 1:
        try:
            print("\n".join(cilium_build(requested) for requested in argv[1:]))
        except ValueError as error:
            print(f"lab.k8s.versions: {error}", file=sys.stderr)
            return 2
        return 0
    print("usage: python3 -m lab.k8s.versions pins | cilium VERSION...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
