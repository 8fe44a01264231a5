"""The README's config reference is the one generated from the model."""

from __future__ import annotations

from stacks import ROOT

from cilium_bgp.docs import BEGIN, END, config_reference, generated_block


def test_readme_config_reference_is_generated() -> None:
    block = generated_block((ROOT / "README.md").read_text(), BEGIN, END)
    assert block == "\n" + config_reference(), "run: python -m cilium_bgp.docs --update README.md"


def test_every_key_is_described() -> None:
    undocumented = [
        line for line in config_reference().splitlines() if line.startswith("| `") and line.endswith("|  |")
    ]
    assert not undocumented, undocumented


def test_readme_policy_table_is_generated() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "policies"))
    from docs import BEGIN as RULES_BEGIN
    from docs import END as RULES_END
    from docs import rules_table

    assert generated_block((ROOT / "README.md").read_text(), RULES_BEGIN, RULES_END) == "\n" + rules_table(), (
        "run: python policies/docs.py --update README.md"
    )
