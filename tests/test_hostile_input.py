"""Hostile or unlucky config: nothing reaches a router, a host script or a Kubernetes object that its
target would read differently, the loader neither hangs nor crashes, and no error echoes a secret.

Each case is a stack an attacker or an unlucky operator could write; each must end in a
``ConfigError`` naming the key (or a clean ``StackFileError`` for the file itself), quickly.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from keys import throwaway_private_key
from pydantic import SecretStr
from stacks import ROOT

from cilium_bgp.config import load_config
from cilium_bgp.errors import ConfigError
from cilium_bgp.renderers.frr import render_frr_conf
from cilium_bgp.secrets import SecretError, reveal
from cilium_bgp.stackfile import StackFileError, load_stack_file, raw_config_from_stack_file

DEV = ROOT / "Pulumi.dev.yaml"
PROD = ROOT / "Pulumi.prod.yaml"
# No key, real or fake, is kept in the repository.
PRIVATE_KEY = throwaway_private_key()
KEY_BODY = PRIVATE_KEY.splitlines()[1]


def dev_raw(stack: Path = DEV) -> dict[str, Any]:
    raw, _ = raw_config_from_stack_file(stack)
    return copy.deepcopy(raw)


def set_path(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``raw`` with ``value`` at ``path`` (``router.asn``, ``nodes[0].name``)."""
    parts: list[str | int] = []
    for piece in path.replace("]", "").replace("[", ".").split("."):
        parts.append(int(piece) if piece.isdigit() else piece)
    target: Any = raw
    for part in parts[:-1]:
        target = target.setdefault(part, {}) if isinstance(target, dict) else target[part]
    target[parts[-1]] = value
    return raw


def refusal(raw: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(raw, secret_keys)
    return str(caught.value)


# --- 1. strings reaching a daemon config, a host script or a Kubernetes object ---

INJECTIONS = [
    ("router.hostname", "router\nrouter bgp 666\n neighbor 6.6.6.6 remote-as 666"),
    ("router.hostname", "router bgp"),
    ("router.hostname", "-router"),
    ("router.frrVersion", "8.4.1\nrouter bgp 666"),
    ("router.frrVersion", "8.4 x"),
    ("router.interfaces[0].name", "eth1\nrm -rf /"),
    ("router.interfaces[0].name", "a-very-long-interface-name"),
    ("router.ssh.host", "192.168.121.16 -oProxyCommand=sh"),
    ("router.ssh.user", "-oProxyCommand=sh"),
    ("router.ssh.user", "root\n"),
    ("router.ssh.hostKey", "ssh-ed25519 AAAA\nmalicious"),
    ("nodes[0].interface", "eth1;reboot"),
    ("nodes[0].ssh.host", "node1\n"),
    ("cilium.version", "1.13.12\n"),
    ("cilium.chartVersion", "1.13.12 --devel"),
    ("cilium.chartRepo", "https://helm.cilium.io\n--set x=y"),
    ("cilium.k8sServiceHost", "10.0.1.10\nx"),
    ("cilium.devices", "eth1\neth2"),
    ("cilium.devices", ["eth1", "eth1 -x"]),
    ("ssh.user", "root;id"),
    ("ssh.privateKeyPath", "/root/.ssh/id\n"),
]


@pytest.mark.parametrize(("key", "value"), INJECTIONS, ids=[f"{k}={v!r}" for k, v in INJECTIONS])
def test_strings_are_what_their_target_accepts(key: str, value: Any) -> None:
    raw = set_path(dev_raw(), key, value)
    message = refusal(raw)
    assert f"cilium-bgp:{key}:" in message, f"the refusal names {key}: {message}"
    assert "\nrouter bgp 666" not in message, "the error must not carry the injected lines verbatim"


def test_hostname_injection_never_reaches_frr_conf() -> None:
    raw = set_path(dev_raw(), "router.hostname", "router\nrouter bgp 666\n neighbor 6.6.6.6 remote-as 666")
    with pytest.raises(ConfigError):
        render_frr_conf(load_config(raw, frozenset()))


STRICT_VALUES = [
    ("router.asn", True),
    ("router.asn", "65100"),
    ("router.asn", "12 "),
    ("router.asn", 65100.0),
    ("nodes[0].asn", True),
    ("bgp.requirePassword", "yes"),
    ("bgp.requirePassword", 1),
    ("verify.timeoutSeconds", "30"),
    ("cilium.kubeProxyReplacement", "true"),
    ("cilium.k8sServicePort", 6443.0),
]


@pytest.mark.parametrize(("key", "value"), STRICT_VALUES, ids=[f"{k}={v!r}" for k, v in STRICT_VALUES])
def test_numbers_and_booleans_are_strict(key: str, value: Any) -> None:
    message = refusal(set_path(dev_raw(), key, value))
    assert f"cilium-bgp:{key}:" in message, message


KUBE_VALUES = [
    ("loadBalancer.poolName", "Default Pool"),
    ("demoService.image", "docker.io/traefik/whoami:v1.10.3\n  command: [sh]"),
    ("demoService.image", "whoami latest"),
    ("kubeRouter.image", "--privileged"),
    ("kubeRouter.extraArgs[0]", "--v=2\n--run-firewall=true"),
    ("kubeRouter.extraArgs[0]", "run-firewall"),
    ("kubeRouter.extraArgs[0]", "--bgp-graceful-restart\x00"),
    ("kubernetes.context", "ctx\nother"),
]


@pytest.mark.parametrize(("key", "value"), KUBE_VALUES, ids=[f"{k}={v!r}" for k, v in KUBE_VALUES])
def test_kubernetes_bound_strings_are_validated(key: str, value: Any) -> None:
    raw = dev_raw(PROD)
    raw["kubeRouter"] = {"extraArgs": ["--v=2"]}
    message = refusal(set_path(raw, key, value), frozenset({"bgpPassword"}))
    assert f"cilium-bgp:{key}:" in message, message


def test_good_strings_stay_accepted() -> None:
    raw = dev_raw(PROD)
    raw["kubeRouter"] = {"extraArgs": ["--v=2", "--bgp-graceful-restart", "--metrics-port=9090"]}
    raw["routers"][0]["hostname"] = "edge-router.example.net"
    raw["routers"][0]["frrVersion"] = "10.1.2"
    raw["cilium"]["devices"] = ["eth+", "bond0.100"]
    raw["cilium"]["chartRepo"] = "oci://registry.example.com/charts"
    raw["ssh"] = {"user": "ops_admin"}
    raw["routers"][0]["ssh"] = {"host": "router.example.net", "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE"}
    raw["demoService"]["image"] = "registry.example.com:5000/team/whoami@sha256:" + "a" * 64
    raw["kubernetes"] = {"context": "arn:aws:eks:eu-west-1:123:cluster/prod"}
    raw.pop("bgpPassword", None)
    raw["bgp"]["requirePassword"] = False
    load_config(raw, frozenset())


@pytest.mark.parametrize(
    "key",
    ["router.hostname", "nodes[0].ssh.host", "cilium.values.hubble.peerService.name", "kubernetes.kubeconfig"],
)
def test_no_free_text_carries_a_secret_placeholder(key: str) -> None:
    raw = dev_raw()
    if key.startswith("cilium.values"):
        raw["cilium"]["values"] = {"hubble": {"peerService": {"name": "x<<secret:bgpPassword>>"}}}
    elif key.startswith("kubernetes"):
        raw["kubernetes"] = {"kubeconfig": "token: <<secret:sshPrivateKey>>"}
    else:
        set_path(raw, key, "a<<secret:bgpPassword>>")
    message = refusal(raw)
    assert f"cilium-bgp:{key}:" in message and "<<secret:" not in message, message


@pytest.mark.parametrize(
    ("text", "values"),
    [("hostname <<secret:sshPrivateKey>>", {"bgpPassword": "pw-0123456789"}), ("x <<secret:bgpPassword>>", {})],
)
def test_reveal_of_an_unset_secret_is_a_clean_error(text: str, values: dict[str, str]) -> None:
    with pytest.raises(SecretError) as caught:
        reveal(text, values)
    assert not isinstance(caught.value, KeyError), "a KeyError traceback says nothing useful"
    assert "pw-0123456789" not in str(caught.value)
    assert "not set" in str(caught.value)


# --- 2. addresses that cannot be a host, pools that swallow the nodes ---

ADDRESSES = [
    ("nodes[0].address", "10.0.1.0/24", "network address"),
    ("nodes[0].address", "10.0.1.255/24", "broadcast address"),
    ("router.interfaces[0].address", "0.0.0.0/24", "unspecified"),
    ("router.interfaces[0].address", "255.255.255.255/32", "broadcast"),
    ("router.interfaces[0].address", "127.0.0.2/8", "loopback"),
    ("router.interfaces[0].address", "224.0.0.5/24", "multicast"),
    ("router.interfaces[0].address", "169.254.1.2/16", "link-local"),
    ("router.interfaces[0].address", "10.0.1.0/24", "network address"),
    ("router.routerId", "0.0.0.0", "unspecified"),
]


@pytest.mark.parametrize(("key", "value", "why"), ADDRESSES, ids=[f"{k}={v}" for k, v, _ in ADDRESSES])
def test_unusable_host_addresses_are_refused(key: str, value: str, why: str) -> None:
    message = refusal(set_path(dev_raw(), key, value))
    assert f"cilium-bgp:{key}: found '{value}'" in message and why in message, message


@pytest.mark.parametrize("pool", ["10.0.0.0/8", "0.0.0.0/0", "10.0.1.0/24"])
def test_a_pod_pool_containing_node_subnets_is_refused(pool: str) -> None:
    raw = dev_raw()
    raw["cilium"]["clusterPoolIPv4PodCIDRList"] = [pool]
    raw["cilium"]["ipv4NativeRoutingCIDR"] = pool
    message = refusal(raw)
    assert "cilium-bgp:cilium.clusterPoolIPv4PodCIDRList[0]:" in message and "node subnet" in message, message


# --- 4. errors never echo a secret, and stay short ---


def test_a_private_key_pasted_into_the_key_path_is_not_echoed() -> None:
    raw = dev_raw()
    raw["ssh"] = {"privateKeyPath": PRIVATE_KEY}
    message = refusal(raw)
    assert "cilium-bgp:ssh.privateKeyPath:" in message, message
    assert KEY_BODY not in message and "PRIVATE KEY" not in message, message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("router.asn", PRIVATE_KEY),
        ("nodes[0].interface", "pw-" + "x" * 200),
        ("router.frrVersion", "password hunter2-hunter2"),
    ],
)
def test_a_value_in_the_wrong_key_is_shown_as_a_short_excerpt_at_most(key: str, value: str) -> None:
    message = refusal(set_path(dev_raw(), key, value))
    assert f"cilium-bgp:{key}:" in message
    assert "PRIVATE KEY" not in message and KEY_BODY[:20] not in message
    assert "x" * 40 not in message, f"the value is cut short: {message}"
    assert "hunter2-hunter2" not in message, message


def test_the_bgp_password_in_a_plain_key_is_refused_without_echo() -> None:
    raw = dev_raw()
    raw["router"]["hostname"] = "s3cr3t-passw0rd"
    raw["bgpPassword"] = SecretStr("s3cr3t-passw0rd")
    message = refusal(raw, frozenset({"bgpPassword"}))
    assert "cilium-bgp:router.hostname:" in message and "s3cr3t-passw0rd" not in message, message


@pytest.mark.parametrize("password", ["two words", 'quo"te', "x" * 81, "new\nline"])
def test_bgp_password_errors_never_quote_it(password: str) -> None:
    raw = dev_raw()
    raw["bgpPassword"] = SecretStr(password)
    with pytest.raises(ConfigError) as caught:
        load_config(raw, frozenset({"bgpPassword"}), need_secret_values=True)
    message = str(caught.value)
    assert "cilium-bgp:bgpPassword: found a password" in message and password not in message, message


def test_secret_marking_on_a_key_that_cannot_stay_secret_is_refused() -> None:
    message = refusal(dev_raw(), frozenset({"router"}))
    assert "cilium-bgp:router: found a secret value" in message, message


def test_error_formatting_is_bounded_for_huge_values() -> None:
    raw = dev_raw()
    raw["cilium"]["devices"] = ["x" * 1_000_000] * 200
    began = time.monotonic()
    message = refusal(raw)
    assert time.monotonic() - began < 2, "formatting a huge value must not take long"
    assert len(message) < 20_000, f"the message is {len(message)} characters"


# --- 2. the loaders: aliases, depth, duplicate keys ---

DEV_TEXT = DEV.read_text()


def bomb(level: int = 9) -> str:
    lines = ["bomb:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, level)]
    return "\n".join(lines) + "\n"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_FILES = {
    "alias-bomb-in-values": DEV_TEXT.replace(
        "    devices: eth1\n", "    devices: eth1\n    values: {b: *a8}\n"
    ).replace("config:\n", bomb() + "config:\n", 1),
    "alias-bomb-in-typed-field": DEV_TEXT.replace("    devices: eth1\n", "    devices: *a8\n").replace(
        "config:\n", bomb() + "config:\n", 1
    ),
    "self-referencing-anchor": DEV_TEXT.replace("    devices: eth1\n", "    values: &loop {x: *loop}\n"),
    "deep-nesting-in-values": DEV_TEXT.replace("    devices: eth1\n", f"    values: {{x: {nested(1000)}}}\n"),
    "very-deep-nesting": DEV_TEXT.replace("    devices: eth1\n", f"    values: {{x: {nested(100_000)}}}\n"),
    "duplicate-project-key": DEV_TEXT + "  cilium-bgp:method: kube-router\n",
    "duplicate-nested-key": DEV_TEXT.replace("    asn: 65100\n", "    asn: 65100\n    asn: 65101\n"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_stack_files_end_in_a_clean_error_quickly(name: str, tmp_path: Path) -> None:
    """Run in a child process: a hang or a crash of the loader must fail this test, not the suite."""
    stack = tmp_path / "Pulumi.hostile.yaml"
    stack.write_text(HOSTILE_FILES[name])
    probe = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from cilium_bgp.errors import ConfigError\n"
        "from cilium_bgp.stackfile import StackFileError, load_stack_file\n"
        "began = time.monotonic()\n"
        "try:\n"
        "    load_stack_file(Path(sys.argv[1]))\n"
        "except (ConfigError, StackFileError) as error:\n"
        "    print(f'{time.monotonic() - began:.3f}'); print(error)\n"
        "else:\n"
        "    print('accepted')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(stack)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, f"{name}: {proc.stderr[-2000:]}"
    seconds, *message = proc.stdout.splitlines()
    assert seconds != "accepted", f"{name} was accepted"
    assert float(seconds) < 0.5, f"{name}: refused after {seconds} s"
    assert "cilium-bgp:" in message[0] or str(stack) in message[0], f"{name}: {message}"
    assert len(proc.stdout) < 4000, f"{name}: a {len(proc.stdout)}-character message"


def test_duplicate_keys_name_the_key(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dup.yaml"
    stack.write_text(HOSTILE_FILES["duplicate-nested-key"])
    with pytest.raises(StackFileError, match=r"cilium-bgp:router\.asn: duplicate key"):
        load_stack_file(stack)


def test_small_aliases_stay_usable(tmp_path: Path) -> None:
    text = DEV_TEXT.replace("    ssh: {host: 192.168.121.16}\n", "    ssh: &ssh {port: 22}\n")
    text = text.replace("      podCIDRs: [172.31.254.0/26]\n", "      podCIDRs: [172.31.254.0/26]\n      ssh: *ssh\n")
    stack = tmp_path / "Pulumi.alias.yaml"
    stack.write_text(text)
    assert load_stack_file(stack).nodes[0].ssh.port == 22


def test_config_dicts_are_bounded_whatever_their_source() -> None:
    """The program gets config as JSON from the engine, tests build dicts: the same bounds apply."""
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"x": deep}
    raw = dev_raw()
    raw["cilium"]["values"] = deep
    message = refusal(raw)
    assert "cilium-bgp:cilium.values" in message and "deeper than" in message, message
    loop: dict[str, Any] = {}
    loop["x"] = loop
    raw["cilium"]["values"] = loop
    assert "deeper than" in refusal(raw)


def test_program_decoding_refuses_duplicates_and_depth() -> None:
    from components.stack_config import decode_value

    with pytest.raises(ConfigError, match=r"cilium-bgp:router: found duplicate key 'asn'"):
        decode_value("router", '{"asn": 1, "asn": 2}')
    with pytest.raises(ConfigError, match=r"cilium-bgp:cilium: .*deeper than"):
        decode_value("cilium", '{"values": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert decode_value("method", "bird") == "bird"
    assert decode_value("nodes", json.dumps([{"name": "n"}])) == [{"name": "n"}]


def test_the_model_bounds_helm_values_whoever_builds_it() -> None:
    """Validation, the Helm merge and the YAML dump walk values recursively: the model refuses
    values they could not walk, also when it is built without load_config."""
    from pydantic import ValidationError

    from cilium_bgp.config import CiliumSettings

    loop: dict[str, Any] = {}
    loop["x"] = loop
    base = {"version": "1.18.3", "clusterPoolIPv4PodCIDRList": ["172.31.254.0/23"]}
    with pytest.raises(ValidationError, match="nested at most 32 deep"):
        CiliumSettings.model_validate({**base, "values": loop})
