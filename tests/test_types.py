"""The type checker (mypy, configured in pyproject.toml) is clean: the program, its components, the
lab and the benchmarks; and the policy pack, which is a program of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("where", "argv"),
    [(ROOT, []), (ROOT / "policies", ["--config-file", str(ROOT / "pyproject.toml"), "."])],
    ids=["program", "policy-pack"],
)
def test_mypy_is_clean(where: Path, argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", *argv], cwd=where, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
