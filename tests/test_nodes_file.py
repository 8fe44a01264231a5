"""`nodesFile`: a stack's nodes read from a YAML file in the project directory, for stacks whose
config would pass the 128 KiB the Pulumi CLI can hand the program; the same checks and errors as
`nodes` in the stack file, with the file named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from harness import run_program, stack_file_config
from keys import throwaway_private_key
from stacks import ROOT

from cilium_bgp.errors import HIDDEN, ConfigError
from cilium_bgp.stackfile import MAX_NODES_FILE_BYTES, load_stack_file

DEV = ROOT / "Pulumi.dev.yaml"
SECRETS = {"sshPrivateKey": throwaway_private_key()}


def split_stack(directory: Path, nodes: Any = None, name: str = "nodes.yaml") -> Path:
    """The dev stack file in ``directory`` with its nodes in ``directory/name`` (or ``nodes`` there)."""
    directory.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_load(DEV.read_text())
    inline = document["config"].pop("cilium-bgp:nodes")
    document["config"]["cilium-bgp:nodesFile"] = name
    (directory / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nodes if isinstance(nodes, str) else yaml.safe_dump(inline if nodes is None else nodes))
    return directory / "Pulumi.dev.yaml"


def problems(stack_file: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_stack_file(stack_file)
    return [str(p) for p in caught.value.problems]


def test_a_nodes_file_gives_the_same_config_as_inline_nodes(tmp_path: Path) -> None:
    from_file = load_stack_file(split_stack(tmp_path))
    assert from_file.nodes_file == "nodes.yaml"
    assert from_file.model_copy(update={"nodes_file": None}) == load_stack_file(DEV)


def test_a_nodes_file_in_a_subdirectory(tmp_path: Path) -> None:
    assert load_stack_file(split_stack(tmp_path, name="inventory/nodes.json")).nodes == load_stack_file(DEV).nodes


def test_the_program_registers_the_same_as_with_inline_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The program reads the file in the project directory the engine names (under mocks, a
    placeholder: set here; the real engine's case is tests/e2e/test_engine.py)."""
    inline = run_program(stack_file_config(DEV), secrets=SECRETS)
    split_stack(tmp_path)
    monkeypatch.setattr(pulumi.runtime, "get_root_directory", lambda: str(tmp_path))
    config = stack_file_config(tmp_path / "Pulumi.dev.yaml")
    assert "cilium-bgp:nodes" not in config
    from_file = run_program(config, secrets=SECRETS)
    # The stack's own resource is recorded by whichever run comes first in the process.
    registered = {urn: inputs for urn, inputs in inline.inputs.items() if "::pulumi:pulumi:Stack::" not in urn}
    assert len(registered) > 10
    for urn, inputs in registered.items():
        assert from_file.inputs.get(urn) == inputs, urn
    assert {urn for urn in from_file.inputs if "::pulumi:pulumi:Stack::" not in urn} == registered.keys()


def test_the_render_command_reads_it_beside_the_stack_file(tmp_path: Path) -> None:
    stack_file = split_stack(tmp_path / "project")
    proc = subprocess.run(
        [sys.executable, "-m", "cilium_bgp.render", "--stack-file", str(stack_file), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads((tmp_path / "out" / "outputs.json").read_text())
    assert "node1" in json.dumps(outputs) and "node2" in json.dumps(outputs)


def test_nodes_and_a_nodes_file_together_are_refused(tmp_path: Path) -> None:
    stack_file = split_stack(tmp_path)
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["cilium-bgp:nodes"] = yaml.safe_load((tmp_path / "nodes.yaml").read_text())
    stack_file.write_text(yaml.safe_dump(document))
    assert problems(stack_file) == [
        "cilium-bgp:nodesFile: found nodes given as well; allowed: either nodes in the stack config or a "
        "nodesFile, not both"
    ]


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("/etc/hosts", "'/etc/hosts'"),
        ("../nodes.yaml", "'../nodes.yaml'"),
        ("inventory/../../nodes.yaml", "'inventory/../../nodes.yaml'"),
    ],
)
def test_a_path_outside_the_project_is_refused(tmp_path: Path, name: str, found: str) -> None:
    stack_file = split_stack(tmp_path / "project")
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["cilium-bgp:nodesFile"] = name
    stack_file.write_text(yaml.safe_dump(document))
    assert problems(stack_file) == [
        f"cilium-bgp:nodesFile: found {found}; allowed: a relative path inside the project directory "
        "(no leading / and no ..)"
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    stack_file = split_stack(tmp_path)
    (tmp_path / "nodes.yaml").unlink()
    assert problems(stack_file) == [
        f"cilium-bgp:nodesFile: found 'nodes.yaml', which cannot be read (No such file or directory); "
        f"allowed: a readable file in {tmp_path}"
    ]


@pytest.mark.parametrize(
    ("text", "found", "allowed"),
    [
        ("name: node1\n", "'nodes.yaml' holding a mapping of 1 keys", "a YAML list of nodes, each with the keys"),
        ("- [unclosed\n", "'nodes.yaml': did not find expected ',' or ']' (line 2", "a YAML list of nodes"),
        (
            "- &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"- &{c} [*{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
            "more than",
            "a bounded YAML list",
        ),
    ],
    ids=["mapping", "unclosed", "alias-bomb"],
)
def test_a_file_that_is_no_node_list_is_refused(tmp_path: Path, text: str, found: str, allowed: str) -> None:
    [problem] = problems(split_stack(tmp_path, nodes=text))
    assert problem.startswith("cilium-bgp:nodesFile: found ")
    assert found in problem and f"allowed: {allowed}" in problem


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    stack_file = split_stack(tmp_path)
    with (tmp_path / "nodes.yaml").open("r+b") as handle:
        handle.truncate(MAX_NODES_FILE_BYTES + 1)
    assert problems(stack_file) == [
        f"cilium-bgp:nodesFile: found 'nodes.yaml' of {MAX_NODES_FILE_BYTES + 1} bytes; "
        f"allowed: at most {MAX_NODES_FILE_BYTES} bytes"
    ]


def test_a_broken_node_is_reported_in_its_file(tmp_path: Path) -> None:
    nodes = yaml.safe_load(yaml.safe_dump(stack_file_config(DEV)["cilium-bgp:nodes"]))
    nodes[1]["asn"] = "65020"
    nodes[0]["colour"] = "blue"
    found = problems(split_stack(tmp_path, nodes=nodes))
    assert found, "a broken node passed"
    assert all("(in nodesFile 'nodes.yaml')" in p for p in found), found
    assert any(p.startswith("cilium-bgp:nodes[1].asn (in nodesFile 'nodes.yaml'): ") for p in found), found
    assert any(p.startswith("cilium-bgp:nodes[0].colour (in nodesFile 'nodes.yaml'): ") for p in found), found


def test_a_secret_pasted_into_the_nodes_file_is_not_shown(tmp_path: Path) -> None:
    nodes = yaml.safe_load(yaml.safe_dump(stack_file_config(DEV)["cilium-bgp:nodes"]))
    key = throwaway_private_key()
    nodes[0]["name"] = key
    found = problems(split_stack(tmp_path, nodes=nodes))
    assert found and not any(key in p or "PRIVATE KEY" in p for p in found), found


def test_a_secret_shaped_file_name_is_not_shown(tmp_path: Path) -> None:
    nodes = yaml.safe_load(yaml.safe_dump(stack_file_config(DEV)["cilium-bgp:nodes"]))
    nodes[1]["asn"] = "65020"
    found = problems(split_stack(tmp_path, nodes=nodes, name="secret/nodes.yaml"))
    assert found and all(f"(in nodesFile {HIDDEN})" in p and "secret/" not in p for p in found), found
