"""Golden files: compare text with a file under tests/golden, print a unified diff on mismatch.

``UPDATE_GOLDEN=1 pytest ...`` rewrites the files instead; review the diff with git before
committing.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(relpath: str, actual: str) -> None:
    path = GOLDEN / relpath
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text()
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), actual.splitlines(keepends=True), str(path), "rendered"
            )
        )
        raise AssertionError(f"{relpath} differs from its golden file:\n{diff}")


def golden_files(prefix: str) -> set[str]:
    base = GOLDEN / prefix
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()} if base.exists() else set()
