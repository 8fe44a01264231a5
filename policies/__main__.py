"""The cilium-bgp policy pack: assembles the rules of ``rules.py`` (nothing else lives here)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# rules.py beside this file; cilium_bgp (the Cilium version tables the rules share) one level up.
sys.path[:0] = [str(HERE), str(HERE.parent)]

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402
from rules import POLICIES  # noqa: E402

PolicyPack(name="cilium-bgp", enforcement_level=EnforcementLevel.ADVISORY, policies=POLICIES)
