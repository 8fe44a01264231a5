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

from lab.shell import LabError
from lab.standin.bgpcp import v1_speakers, v2_speakers
from lab.standin.metallb import metallb_speakers
from lab.standin.spec import ClusterInputs, Neighbor, SpeakerSpec


def translate(inputs: ClusterInputs) -> dict[str, SpeakerSpec]:
    """Node name -> the GoBGP speaker standing in for its cilium-agent, for Cilium's speaker methods."""
    method, helm_values = inputs.cfg.method, inputs.helm_values
    if method == "cilium-metallb":
        if not (helm_values.get("bgp") or {}).get("enabled"):
            raise LabError("method cilium-metallb: the Helm values do not set bgp.enabled")
        return metallb_speakers(inputs)
    if not (helm_values.get("bgpControlPlane") or {}).get("enabled"):
        raise LabError(f"method {method}: the Helm values do not set bgpControlPlane.enabled")
    if method == "cilium-bgp-v1":
        return v1_speakers(inputs)
    if method == "cilium-bgp-v2":
        return v2_speakers(inputs)
    raise LabError(f"method {method} has no Cilium speaker to translate")


__all__ = ["ClusterInputs", "Neighbor", "SpeakerSpec", "translate"]
