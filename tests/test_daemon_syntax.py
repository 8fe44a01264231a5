"""Every router and node config of every stack under tests/stacks/variants passes the daemons' own
checkers (`vtysh -C`, `bgpd -C`, `bird -p`): the variants exercise options the shipped stacks do
not (peer-groups, listen ranges, BFD, BIRD templates). The lab suite does the same for the shipped
and lab stacks and then runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stacks import PASSWORD, VARIANTS, carved_pod_cidrs, stack_id

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.secrets import reveal
from cilium_bgp.stackfile import load_stack_file
from lab.run import ConfigRejected, check_syntax

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bgpd -C reads the file as user frr: needs root")


@pytest.mark.parametrize("stack", VARIANTS, ids=stack_id)
def test_configs_pass_their_daemons_checkers(stack: Path, tmp_path: Path) -> None:
    cfg = load_stack_file(stack)
    files = render_artifacts(cfg, carved_pod_cidrs(cfg) if cfg.pod_cidr_source == "cluster" else None)
    checked = 0
    for rel, text in files.items():
        if not rel.endswith((".conf",)) or rel.endswith("sysctl.conf"):
            continue
        path = tmp_path / rel.replace("/", "_")
        path.write_text(reveal(text, {"bgpPassword": PASSWORD}))
        check_syntax("frr" if rel.endswith("frr.conf") else "bird", path)
        checked += 1
    assert checked >= 1


def test_the_checkers_do_reject(tmp_path: Path) -> None:
    broken = tmp_path / "frr.conf"
    broken.write_text("router bgp 65100\n neighbor 10.0.1.10 timers connect 5\nexit\n")
    with pytest.raises(ConfigRejected, match="Specify remote-as or peer-group commands first"):
        check_syntax("frr", broken)
