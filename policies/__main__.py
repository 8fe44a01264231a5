"""The cilium-bgp policy pack: assembles the rules of ``rules/`` (nothing else lives here).

The pack needs nothing from outside this directory but its requirements: the checks it shares with
the config validation come from the ``cilium-bgp`` distribution (requirements.txt), so the pack
runs as ``pulumi policy publish`` uploads it.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(name="cilium-bgp", enforcement_level=EnforcementLevel.ADVISORY, policies=POLICIES)
