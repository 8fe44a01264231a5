"""Secrets (SSH key, BGP password) stay secret end to end: only inside secret-marked values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from golden import GOLDEN
from harness import run_stack_file
from pulumi.runtime import rpc
from stacks import ALL_STACKS, PASSWORD, ROOT, stack_id
from test_program import SSH_KEY, mocks_for, secrets_for

from cilium_bgp.stackfile import load_stack_file

# The password, and the body of the generated key (its base64 lines).
SECRET_TEXTS = (PASSWORD, SSH_KEY.splitlines()[1])


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` that is not inside a secret-marked value."""
    if rpc.is_rpc_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from plain_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from plain_strings(item)


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_no_secret_outside_secret_values(stack: Path) -> None:
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    for urn, inputs in run.inputs.items():
        for text in plain_strings(inputs):
            for secret in SECRET_TEXTS:
                assert secret not in text, f"{urn} carries a secret in a non-secret input"
    for name, value in run.exports.items():
        for text in plain_strings(value):
            for secret in SECRET_TEXTS:
                assert secret not in text, f"export {name} carries a secret"


def test_commands_carrying_the_password_log_nothing() -> None:
    stack = ROOT / "tests" / "stacks" / "variants" / "bird-router-1.18.yaml"
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    carrying = []
    for reg in run.of_type("command:remote:Command"):
        inputs = run.inputs[reg.urn]
        stdin = inputs.get("stdin")
        if stdin is not None and PASSWORD in rpc.unwrap_rpc_secret(stdin):
            carrying.append(reg.urn.split("::")[-1])
            assert rpc.is_rpc_secret(stdin), f"{reg.urn}: stdin with the password is not secret"
            assert inputs["logging"] == "none", f"{reg.urn}: a command carrying the password logs its output"
        else:
            assert inputs.get("logging") != "none", f"{reg.urn}: a command without secrets hides its output"
    assert sorted(carrying) == ["node1-bird-config", "node2-bird-config", "router-bird-config"]


def test_ssh_key_is_secret_in_every_connection() -> None:
    stack = ROOT / "Pulumi.dev.yaml"
    run = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    connections = [run.inputs[r.urn]["connection"] for r in run.of_type("command:remote:Command")]
    assert len(connections) == 5, "router: sysctl, config, check; each node: config"
    for connection in connections:
        key = rpc.unwrap_rpc_secret(connection)["privateKey"]
        assert rpc.unwrap_rpc_secret(key) == SSH_KEY
        assert rpc.is_rpc_secret(connection) or rpc.is_rpc_secret(key)


def test_ssh_key_read_from_a_file_is_secret(tmp_path: Path) -> None:
    from harness import run_program, stack_file_config

    key_file = tmp_path / "id_test"
    key_file.write_text(SSH_KEY)
    config = stack_file_config(ROOT / "Pulumi.dev.yaml")
    config["cilium-bgp:ssh"] = {"privateKeyPath": str(key_file)}
    run = run_program(config)
    for reg in run.of_type("command:remote:Command"):
        assert SSH_KEY not in "".join(plain_strings(run.inputs[reg.urn])), reg.urn


def test_missing_key_file_names_the_key(tmp_path: Path) -> None:
    import pulumi
    from harness import run_program, stack_file_config

    config = stack_file_config(ROOT / "Pulumi.dev.yaml")
    config["cilium-bgp:ssh"] = {"privateKeyPath": str(tmp_path / "absent")}
    with pytest.raises(pulumi.RunError, match=r"cilium-bgp:ssh.privateKeyPath: found '.*absent' \(No such file"):
        run_program(config)


def test_required_password_must_be_set() -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match=r"cilium-bgp:bgpPassword: found nothing, with bgp\.requirePassword true"):
        run_stack_file(ROOT / "Pulumi.prod.yaml", secrets={"sshPrivateKey": SSH_KEY})


def test_golden_files_hold_no_secret() -> None:
    for path in GOLDEN.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY" not in text, path
            assert PASSWORD not in text, path


def test_secret_keys_are_never_in_shipped_stack_files_as_plain_text() -> None:
    for stack in ALL_STACKS:
        load_stack_file(stack)  # raises on a plain-text bgpPassword or sshPrivateKey
