"""The README's generated parts (config reference, policy table) and its layout match the tree."""

from __future__ import annotations

import ast
import re

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


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Layout\n") :]
    return section.split("```", 2)[1]


def test_readme_layout_names_every_module() -> None:
    """Every module, template, host script and install script of the project is named in the
    README's layout (a new file without a line there fails here)."""
    block = _layout_block()
    missing = []
    for top in ("cilium_bgp", "components", "policies", "lab", "benchmarks", "scripts"):
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.name in ("__init__.py", "__main__.py"):
                continue
            if path.suffix not in (".py", ".sh", ".j2", ".patch") and top != "scripts":
                continue
            if not re.search(rf"(?<![\w-]){re.escape(path.name)}(?![\w-])", block):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not named in README.md's Layout: {missing}"


LONG_FILE_LINES = 350


def test_no_long_lab_or_policy_file_without_a_reason() -> None:
    """A lab or policy module over ``LONG_FILE_LINES`` says why in its docstring ("over 350 lines: ...")."""
    long_files = []
    for top in ("lab", "policies"):
        for path in sorted((ROOT / top).rglob("*.py")):
            text = path.read_text()
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if len(text.splitlines()) > LONG_FILE_LINES and f"over {LONG_FILE_LINES} lines:" not in docstring:
                long_files.append(f"{path.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    assert not long_files, long_files
