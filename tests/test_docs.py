"""The README's config reference is the one generated from the model."""

from __future__ import annotations

from stacks import ROOT

from cilium_bgp.docs import BEGIN, END, config_reference


def test_readme_config_reference_is_generated() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block == "\n" + config_reference(), "run: python -m cilium_bgp.docs --update README.md"


def test_every_key_is_described() -> None:
    undocumented = [
        line for line in config_reference().splitlines() if line.startswith("| `") and line.endswith("|  |")
    ]
    assert not undocumented, undocumented
