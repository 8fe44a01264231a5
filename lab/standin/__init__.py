"""GoBGP standing in for Cilium's BGP speakers: the rendered Kubernetes objects translated per node.

The cilium-agent reads the ``bgp-config`` ConfigMap (cilium-metallb, :mod:`lab.standin.metallb`),
a CiliumBGPPeeringPolicy (cilium-bgp-v1) or the CiliumBGPClusterConfig / PeerConfig / Advertisement
family (cilium-bgp-v2, both in :mod:`lab.standin.bgpcp`) and drives an embedded BGP speaker (GoBGP
for v1 and v2; MetalLB's own for cilium-metallb). Here the same objects, exactly as the program
renders them, become one :class:`~lab.standin.spec.SpeakerSpec` per node: its sessions, and the
prefixes it originates, written as a GoBGP config. Whatever the objects say and the translation
cannot express raises :class:`LabError` naming the object, rather than running something else.
``docs/lab.md`` lists what is modelled and what is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from cilium_bgp.config import StackConfig
from lab.shell import LabError
from lab.standin.bgpcp import v1_speakers, v2_speakers
from lab.standin.metallb import metallb_speakers
from lab.standin.spec import Neighbor, SpeakerSpec


def translate(
    cfg: StackConfig,
    objects: Sequence[Mapping[str, Any]],
    helm_values: Mapping[str, Any],
    pod_cidrs: Mapping[str, Sequence[IPv4Network]],
    lb_ips: Mapping[str, IPv4Address],
) -> dict[str, SpeakerSpec]:
    """Node name -> the GoBGP speaker standing in for its cilium-agent, for Cilium's speaker methods."""
    if cfg.method == "cilium-metallb":
        if not (helm_values.get("bgp") or {}).get("enabled"):
            raise LabError("method cilium-metallb: the Helm values do not set bgp.enabled")
        return metallb_speakers(cfg, objects, helm_values, pod_cidrs, lb_ips)
    if not (helm_values.get("bgpControlPlane") or {}).get("enabled"):
        raise LabError(f"method {cfg.method}: the Helm values do not set bgpControlPlane.enabled")
    if cfg.method == "cilium-bgp-v1":
        return v1_speakers(cfg, objects, pod_cidrs, lb_ips)
    if cfg.method == "cilium-bgp-v2":
        return v2_speakers(cfg, objects, pod_cidrs, lb_ips)
    raise LabError(f"method {cfg.method} has no Cilium speaker to translate")


__all__ = ["Neighbor", "SpeakerSpec", "translate"]
