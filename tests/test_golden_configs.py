"""Every artifact of every stack equals its golden file (tests/golden/stacks/<stack>/...)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from golden import assert_golden, golden_files
from stacks import ALL_STACKS, carved_pod_cidrs, stack_id

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.stackfile import load_stack_file

PASSWORD_VALUE = re.compile(r"\bpassword\b:?[ ]+(\S+)")


def artifacts_of(stack: Path) -> dict[str, str]:
    cfg = load_stack_file(stack)
    pod_cidrs = carved_pod_cidrs(cfg) if cfg.pod_cidr_source == "cluster" else None
    return render_artifacts(cfg, pod_cidrs)


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_artifacts_match_golden_files(stack: Path) -> None:
    files = artifacts_of(stack)
    for rel, text in sorted(files.items()):
        assert_golden(f"stacks/{stack_id(stack)}/{rel}", text)
    stale = golden_files(f"stacks/{stack_id(stack)}") - set(files)
    assert not stale, f"golden files no longer rendered: {sorted(stale)}"


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_no_secret_value_in_artifacts(stack: Path) -> None:
    for rel, text in artifacts_of(stack).items():
        assert "PRIVATE KEY" not in text, rel
        # Wherever a password value goes (FRR, BIRD, bgp-config, a Secret), it is a placeholder.
        for value in PASSWORD_VALUE.findall(text):
            assert value.lstrip("'\"\\").startswith("<<secret:"), f"{rel} carries a password that is not a placeholder"
