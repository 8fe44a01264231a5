"""A throwaway SSH key pair made at run time (no key, real or fake, is kept in the repository)."""

from __future__ import annotations

import subprocess
import tempfile
from functools import cache
from pathlib import Path


@cache
def throwaway_private_key() -> str:
    with tempfile.TemporaryDirectory(prefix="cbgp-key-") as scratch:
        path = Path(scratch) / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cilium-bgp-test", "-f", str(path)], check=True
        )
        return path.read_text()
