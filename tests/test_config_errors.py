"""Each invalid stack under tests/stacks/errors fails with the message in tests/golden/errors.

The same text must come out of the config loader, the render command and the program under
mocks (what `pulumi preview` prints), and nothing may be registered.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
from golden import assert_golden
from harness import run_stack_file

from cilium_bgp.errors import ConfigError
from cilium_bgp.render import main as render_main
from cilium_bgp.stackfile import load_stack_file

ERRORS = sorted((Path(__file__).parent / "stacks" / "errors").glob("*.yaml"))


@pytest.mark.parametrize("stack", ERRORS, ids=[p.stem for p in ERRORS])
def test_loader_names_the_key(stack: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack_file(stack)
    message = str(caught.value)
    assert "cilium-bgp:" in message, "every problem names its key"
    assert_golden(f"errors/{stack.stem}.txt", message + "\n")


@pytest.mark.parametrize("stack", ERRORS, ids=[p.stem for p in ERRORS])
def test_render_command_fails_with_the_same_message(
    stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = render_main(["--stack-file", str(stack), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2, f"render exited {code} for an invalid stack"
    with pytest.raises(ConfigError) as caught:
        load_stack_file(stack)
    assert captured.err == str(caught.value) + "\n"
    assert not (tmp_path / "out").exists(), "nothing is written for an invalid stack"


@pytest.mark.parametrize("stack", ERRORS, ids=[p.stem for p in ERRORS])
def test_program_fails_before_registering_anything(stack: Path) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_stack_file(stack)
    with pytest.raises(ConfigError) as expected:
        load_stack_file(stack)
    assert str(caught.value) == str(expected.value)
    assert caught.value.registrations == [], "an invalid stack registers no resource"
