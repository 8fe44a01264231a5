"""Fixtures of the lab tests: the machine check, a lab that is always torn down (``lab_run``), and
topotests' shape: one lab per module and stack (``lab``), shared by the module's ordered steps.

A module's lab is built from its ``STACK`` (a path), from a module's own ``stack_file`` fixture, or
from the stack its tests are parametrized with (``@pytest.mark.parametrize("stack_file", STACKS,
indirect=True)``): pytest then runs every step on one stack before building the next.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.run import Lab
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


@pytest.fixture(scope="module")
def stack_file(request: pytest.FixtureRequest) -> Path:
    """The stack of the module's lab: the tests' (indirect) parameter, else the module's ``STACK``."""
    return Path(getattr(request, "param", None) or request.module.STACK)


@pytest.fixture(scope="module")
def lab(lab_machine: None, stack_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The module's lab, up for all its steps, then torn down and proven gone."""
    with running_lab(stack_file, tmp_path_factory.mktemp(f"lab-{stack_file.stem.removeprefix('Pulumi.')}")) as built:
        yield built
