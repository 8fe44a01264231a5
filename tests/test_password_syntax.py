"""``bgpPassword`` reaches each daemon intact, or is refused naming the key, never echoed.

How each target carries the password (the placeholder is replaced verbatim at push time):

- FRR 8.4 ``neighbor <peer> password LINE`` (``bgpd/bgp_vty.c``, tag frr-8.4.4): ``LINE`` without
  ``...`` is a single token, and ``cmd_make_strvec`` (``lib/command.c``) splits a config line on
  space, tab, CR and LF with no quoting: a password is one word without whitespace.
- BIRD 2 ``password "..."``: the lexer (``conf/cf-lex.l``, tags v2.0.12 to v2.19.2) reads a quoted
  string up to the next ``"`` with no escapes, and a newline inside is "Unterminated string".
- The MetalLB-based speaker's ``config.yaml`` (``pkg/config/config.go`` of the cilium/metallb fork
  Cilium 1.14-1.16 pins, ``yaml.UnmarshalStrict``): YAML, where a plain scalar ends at `` #`` or
  breaks on ``: ``, ``*``, quotes. The rendered YAML single-quotes the placeholder, so any value
  without a single quote (YAML's only special character there) stays one scalar.
- Every speaker hands the password to the kernel as a TCP-MD5 key, at most 80 bytes
  (``TCP_MD5SIG_MAXKEYLEN``, ``include/uapi/linux/tcp.h``; metallb ``pkg/bgp/bgp.go`` copies it
  into an 80-byte array).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from golden import assert_golden
from harness import run_stack_file
from pydantic import SecretStr
from stacks import ROOT

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.config import StackConfig, load_config
from cilium_bgp.errors import ConfigError
from cilium_bgp.plan import build_plan
from cilium_bgp.renderers.manifests import render_manifests
from cilium_bgp.secrets import reveal
from cilium_bgp.stackfile import raw_config_from_stack_file

VARIANTS = ROOT / "tests" / "stacks" / "variants"
FRR_BIRD_NODES = VARIANTS / "bird-bfd-1.16.yaml"  # FRR router, BIRD nodes
BIRD_ROUTER = VARIANTS / "bird-router-1.18.yaml"  # BIRD router and nodes
METALLB = VARIANTS / "metallb-1.16.yaml"  # FRR router, bgp-config
V2 = ROOT / "Pulumi.prod.yaml"  # FRR router, a Kubernetes Secret

# Passwords built from fragments that appear in no error text, so any echo shows.
WITH_SPACE = "Qz7Xk#Vw9 Jm4Pq"
WITH_DOUBLE_QUOTE = 'Qz7Xk"Vw9Jm4Pq'
WITH_SINGLE_QUOTE = "Qz7Xk'Vw9Jm4Pq"
WITH_NEWLINE = "Qz7Xk\nVw9Jm4Pq"
TOO_LONG = "Qz7Xk" * 17  # 85 bytes
# A plain YAML scalar cannot start with "*" (an alias) nor hold " #" (a comment) or ": ".
YAML_HOSTILE = '*Qz7:#&x"\\!%@{'
YAML_HOSTILE_SPACED = "Qz7: #*&x Vw9"


def _load(stack: Path, password: str, router_daemon: str | None = None) -> StackConfig:
    raw, secret = raw_config_from_stack_file(stack)
    raw["bgpPassword"] = SecretStr(password)
    if router_daemon is not None:
        raw["router"] = {**raw["router"], "daemon": router_daemon}
    return load_config(raw, secret | {"bgpPassword"}, need_secret_values=True)


def _refusal(stack: Path, password: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _load(stack, password)
    return caught.value


def _assert_not_echoed(error: ConfigError, password: str) -> None:
    text = str(error)
    fragments = {password[i : i + 3] for i in range(len(password) - 2)}
    leaked = sorted(f for f in fragments if f.strip() and f in text)
    assert not leaked, f"the refusal shows parts of the password: {leaked}"


@pytest.mark.parametrize(
    ("stack", "password", "target"),
    [
        (FRR_BIRD_NODES, WITH_SPACE, "FRR"),
        (FRR_BIRD_NODES, WITH_DOUBLE_QUOTE, "BIRD"),
        (BIRD_ROUTER, WITH_DOUBLE_QUOTE, "BIRD"),
        (METALLB, WITH_SINGLE_QUOTE, "bgp-config"),
        (V2, WITH_NEWLINE, "FRR"),
        (V2, TOO_LONG, "80 bytes"),
        (METALLB, "", "empty"),
    ],
    ids=["frr-space", "bird-node-quote", "bird-router-quote", "metallb-quote", "frr-newline", "md5-length", "empty"],
)
def test_uncarriable_password_refused_without_echo(
    stack: Path, password: str, target: str, request: pytest.FixtureRequest
) -> None:
    error = _refusal(stack, password)
    assert_golden(f"errors/password-{request.node.callspec.id}.txt", str(error) + "\n")
    assert {p.key for p in error.problems} == {"bgpPassword"}, str(error)
    assert target in str(error), f"the refusal does not name {target}: {error}"
    _assert_not_echoed(error, password)


@pytest.mark.parametrize(
    ("stack", "password"),
    [
        (FRR_BIRD_NODES, "Qz7#:*'!\\%@&"),
        (BIRD_ROUTER, "Qz7 #:*'!\\%@&"),
        (METALLB, YAML_HOSTILE),
        (V2, "Qz7\"#:*'!\\%@&"),
    ],
    ids=["frr-and-bird", "bird-only", "metallb", "frr-and-secret"],
)
def test_carriable_password_accepted(stack: Path, password: str) -> None:
    assert _load(stack, password).uses_password


@pytest.mark.parametrize(
    ("password", "router_daemon"), [(YAML_HOSTILE, "frr"), (YAML_HOSTILE_SPACED, "bird")], ids=["frr", "bird-router"]
)
def test_bgp_config_keeps_the_password_one_scalar(password: str, router_daemon: str) -> None:
    cfg = _load(METALLB, password, router_daemon)
    config_map = next(o for o in render_manifests(cfg, build_plan(cfg)) if o["kind"] == "ConfigMap")
    text = reveal(config_map["data"]["config.yaml"], {"bgpPassword": password})
    peers = yaml.safe_load(text)["peers"]
    assert peers and all(p["password"] == password for p in peers), "each peer holds the whole password"


def test_program_refuses_before_registering_and_without_echo() -> None:
    import pulumi

    with pytest.raises(pulumi.RunError) as caught:
        run_stack_file(V2, secrets={"bgpPassword": WITH_SPACE})
    assert "cilium-bgp:bgpPassword" in str(caught.value)
    assert "Jm4Pq" not in str(caught.value) and "Qz7Xk" not in str(caught.value)
    assert caught.value.registrations == []  # type: ignore[attr-defined]


def test_render_without_the_value_checks_nothing() -> None:
    """The render command and previews from a stack file have no value to check."""
    raw, secret = raw_config_from_stack_file(METALLB)
    assert load_config(raw, secret).uses_password


@pytest.mark.skipif(os.geteuid() != 0, reason="bgpd -C reads the file as user frr: needs root")
@pytest.mark.parametrize(
    ("daemon", "password", "carried"),
    [
        ("frr", "Qz7#:*'!\\%@&\"x", True),
        ("frr", WITH_SPACE, False),
        ("bird", "Qz7 #:*'!\\%@&x", True),
        ("bird", WITH_DOUBLE_QUOTE, False),
    ],
    ids=["frr-accepts", "frr-rejects-space", "bird-accepts", "bird-rejects-quote"],
)
def test_the_daemons_own_checkers_agree(daemon: str, password: str, carried: bool, tmp_path: Path) -> None:
    """What validation lets through, FRR's and BIRD's checkers parse; what it refuses, they reject."""
    from lab.run import ConfigRejected, check_syntax

    cfg = load_config(*raw_config_from_stack_file(FRR_BIRD_NODES))
    files = render_artifacts(cfg)
    rel = "router/frr.conf" if daemon == "frr" else "nodes/node1/bird.conf"
    path = tmp_path / Path(rel).name
    path.write_text(reveal(files[rel], {"bgpPassword": password}))
    if carried:
        check_syntax(daemon, path)
    else:
        with pytest.raises(ConfigRejected):
            check_syntax(daemon, path)
