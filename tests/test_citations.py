"""Files the code cites exist: a docstring pointing at ``docs/...`` must lead somewhere."""

from __future__ import annotations

import re

import pytest
from stacks import ROOT

CITING = sorted(
    p for d in ("cilium_bgp", "components", "lab", "policies", "benchmarks") for p in (ROOT / d).rglob("*.py")
)
CITED = re.compile(r"\bdocs/[\w./-]+\.md\b")


@pytest.mark.parametrize("source", CITING, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_docs_exist(source) -> None:  # type: ignore[no-untyped-def]
    missing = [c for c in CITED.findall(source.read_text()) if not (ROOT / c).is_file()]
    assert not missing, f"{source.relative_to(ROOT)} cites {missing}, which do not exist"


def test_the_version_facts_cite_their_sources() -> None:
    """docs/cilium-versions.md backs every lifetime cilium_bgp/versions.py encodes, with a source."""
    from cilium_bgp.versions import HELM_KEYS, METHODS

    text = (ROOT / "docs" / "cilium-versions.md").read_text()
    for method in METHODS:
        assert f"`{method}`" in text, f"docs/cilium-versions.md does not cover method {method}"
    for row in HELM_KEYS:
        assert f"`{row.path}`" in text, f"docs/cilium-versions.md does not cover Helm key {row.path}"
    assert "cilium/cilium" in text and "values.yaml" in text, "the facts name their upstream files"
