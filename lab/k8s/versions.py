"""Which releases of the cluster's parts the lab builds and runs: one place for
``scripts/install-cluster`` (``python3 -m lab.k8s.versions``) and the lab.

Only what the Go module proxy serves can be built here, dependencies included. The proxy serves
few Cilium patch releases, and some of those need a dependency it refuses: a stack's release is
run as the nearest release of its minor that builds.
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
# helm.sh/helm/v3: the release pulumi-kubernetes 4.25.0 (the program's provider here) embeds.
HELM = "3.18.6"

# github.com/cilium/cilium releases built here by scripts/install-cluster (checked 2026-11), per
# minor; the first is what a bare minor (``1.18``) builds.
CILIUM_BUILDS: dict[str, tuple[str, ...]] = {
    "1.14": ("1.14.19",),
    "1.15": ("1.15.7", "1.15.19"),
    "1.16": ("1.16.19",),
    "1.17": ("1.17.8",),
    "1.18": ("1.18.3",),
}
# Served releases that do not build, and why: each needs a module the proxy refuses (403).
_FORK = "the k8s.io/apimachinery fork github.com/cilium/apimachinery v0.33.3-1"
CILIUM_REFUSED = {
    "1.13.18": "github.com/cilium/proxy v0.0.0-20230911173141-49b6a7c9c075 and the k8s.io/client-go"
    " fork github.com/cilium/client-go v0.26.9-fix",
    "1.17.14": "k8s.io/endpointslice v0.32.13",
    "1.17.15": "k8s.io/endpointslice v0.32.13",
    "1.18.4": _FORK,
    "1.18.10": _FORK,
}


class UnservedVersion(ValueError):
    """No release of this Cilium minor can be built here."""


def cilium_build(requested: str) -> str:
    """The Cilium release to build and run for ``requested`` (``MAJOR.MINOR`` or a full release).

    A bare minor gives that minor's default build; a full release gives itself when it builds, else
    the release of its minor nearest to it (the newer one on a tie).
    """
    text = requested.strip().removeprefix("v")
    version = Version.parse(text)
    minor = f"{version.major}.{version.minor}"
    builds = CILIUM_BUILDS.get(minor)
    if builds is None:
        refused = [f"{r} needs {why}" for r, why in CILIUM_REFUSED.items() if r.startswith(minor + ".")]
        known = ", ".join(CILIUM_BUILDS)
        raise UnservedVersion(
            f"Cilium {requested}: no {minor}.x release can be built here (minors that build: {known})"
            + "".join(f"; {r}, which the proxy refuses" for r in refused)
        )
    if text.count(".") == 1:
        return builds[0]
    return min(builds, key=lambda b: (abs(Version.parse(b).patch - version.patch), -Version.parse(b).patch))


def substitution_note(requested: str, built: str) -> str | None:
    """Why ``built`` runs in place of ``requested``, for the log; None when it is the same release."""
    text = requested.strip().removeprefix("v")
    if text.count(".") == 1 or Version.parse(text) == Version.parse(built):
        return None
    why = CILIUM_REFUSED.get(str(Version.parse(text)))
    reason = f"it needs {why}, which the proxy refuses" if why else "the proxy does not serve it"
    return f"Cilium {requested} cannot be built here ({reason}): {built} stands for it"


def pins() -> dict[str, str]:
    """The fixed releases of the non-Cilium parts, by the component names install-cluster uses."""
    return {"etcd": ETCD, "kubernetes": KUBERNETES, "kwok": KWOK, "kube-router": KUBE_ROUTER, "helm": HELM}


def main(argv: list[str]) -> int:
    """``cilium VERSION...``: one release to build per line (and on stderr, why one differs from
    the request); ``pins``: ``NAME VERSION`` lines."""
    if argv[:1] == ["pins"] and len(argv) == 1:
        print("\n".join(f"{name} {version}" for name, version in pins().items()))
        return 0
    if argv[:1] == ["cilium"] and len(argv) > 1:
        try:
            builds = [cilium_build(requested) for requested in argv[1:]]
        except ValueError as error:
            print(f"lab.k8s.versions: {error}", file=sys.stderr)
            return 2
        for requested, built in zip(argv[1:], builds, strict=True):
            note = substitution_note(requested, built)
            if note:
                print(f"lab.k8s.versions: {note}", file=sys.stderr)
        print("\n".join(builds))
        return 0
    print("usage: python3 -m lab.k8s.versions pins | cilium VERSION...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
