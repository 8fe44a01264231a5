"""Fixtures of the lab tests: the machine check and a lab that is always torn down."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.lab.labkit import TOOLS, running_lab


@pytest.fixture(scope="session")
def lab_machine() -> None:
    """The lab needs root (namespaces) and the daemons; without them these tests cannot mean anything."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root to create network namespaces")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing or not Path("/usr/lib/frr/frrinit.sh").exists():
        pytest.skip(f"the lab needs FRR, BIRD 2, GoBGP and iproute2; missing: {missing or ['frrinit.sh']}")


@pytest.fixture
def lab_run(lab_machine: None, tmp_path: Path) -> Callable[[Path], Any]:
    """``with lab_run(stack_file) as lab:`` a lab up inside the block, proven gone after it."""

    def start(stack_file: Path) -> Any:
        return running_lab(stack_file, tmp_path / "lab")

    return start
