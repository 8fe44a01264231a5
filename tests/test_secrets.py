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


def test_a_kubeconfig_reaches_the_provider_as_a_secret() -> None:
    """Cluster credentials stay secret: the kubeconfig always, the context when stored encrypted."""
    import json

    from harness import run_program, stack_file_config

    config = stack_file_config(ROOT / "Pulumi.prod.yaml")
    config = {k: v for k, v in config.items() if not (isinstance(v, dict) and "secure" in v)}
    kubernetes = {
        "kubeconfig": "apiVersion: v1\nusers: [{name: u, user: {token: kube-token-0123}}]\n",
        "context": "ctx",
    }
    run = run_program(
        config,
        secrets={**secrets_for(ROOT / "Pulumi.prod.yaml"), "kubernetes": json.dumps(kubernetes)},
        mocks=mocks_for(ROOT / "Pulumi.prod.yaml"),
    )
    (provider,) = run.of_type("pulumi:providers:kubernetes")
    inputs = run.inputs[provider.urn]
    assert rpc.is_rpc_secret(inputs["kubeconfig"]), "the kubeconfig reaches the provider as plain input"
    assert rpc.is_rpc_secret(inputs["context"]), "a context stored as a secret reaches the provider as plain input"
    for urn, registered in run.inputs.items():
        assert "kube-token-0123" not in "".join(plain_strings(registered)), urn


def test_stack_config_is_read_through_the_supported_sdk_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine hands config over as PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS; the program reads
    it with pulumi.Config and pulumi.runtime.is_config_secret only. If a new SDK changes either, this
    fails here rather than as a silently empty config in `pulumi up`."""
    import json

    import pulumi

    from components.stack_config import raw_project_config

    pulumi.runtime.set_all_config({}, [])
    engine = {
        "cilium-bgp:method": "bird",
        "cilium-bgp:router": json.dumps({"asn": 65100}),
        "cilium-bgp:bgpPassword": PASSWORD,
        "cilium-bgp:bgpPasword": "typo",
        "other:key": "ignored",
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["cilium-bgp:bgpPassword"]))
    assert pulumi.Config("cilium-bgp").get("method") == "bird", "pulumi.Config no longer reads PULUMI_CONFIG"
    raw, secret_keys = raw_project_config()
    assert raw == {"method": "bird", "router": {"asn": 65100}, "bgpPassword": PASSWORD, "bgpPasword": "typo"}
    assert secret_keys == {"bgpPassword"}
    monkeypatch.delenv("PULUMI_CONFIG")
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS")
    pulumi.runtime.set_all_config(
        {"cilium-bgp:method": "bird", "cilium-bgp:bgpPassword": PASSWORD}, ["cilium-bgp:bgpPassword"]
    )
    raw, secret_keys = raw_project_config()
    assert raw == {"method": "bird", "bgpPassword": PASSWORD} and secret_keys == {"bgpPassword"}
