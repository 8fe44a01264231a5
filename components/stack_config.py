"""The stack config as the Pulumi engine hands it over: raw values in, a validated model out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from cilium_bgp.config import SECRET_KEYS, StackConfig, load_config
from cilium_bgp.errors import PROJECT, ConfigError, Problem


def _decode(key: str, value: Any) -> Any:
    """Structured config arrives as JSON text; plain strings stay strings; secrets stay verbatim."""
    if key in SECRET_KEYS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def raw_project_config() -> tuple[dict[str, Any], frozenset[str]]:
    prefix = f"{PROJECT}:"
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw = {
        key[len(prefix) :]: _decode(key[len(prefix) :], value)
        for key, value in values.items()
        if key.startswith(prefix)
    }
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | {
        key for key in values if runtime_config.is_config_secret(key)
    }
    return raw, frozenset(k[len(prefix) :] for k in secret_keys if k.startswith(prefix))


def read_stack_config() -> StackConfig:
    raw, secret_keys = raw_project_config()
    return load_config(raw, secret_keys, need_secret_values=True)


def secret_values(cfg: StackConfig) -> dict[str, pulumi.Output[str]]:
    """Secrets configs may reference (``<<secret:KEY>>``), as secret Outputs."""
    values = {}
    if cfg.bgp_password is not None:
        values["bgpPassword"] = pulumi.Output.secret(cfg.bgp_password.get_secret_value())
    return values


def ssh_private_key(cfg: StackConfig) -> pulumi.Output[str] | None:
    if cfg.ssh_private_key is not None:
        return pulumi.Output.secret(cfg.ssh_private_key.get_secret_value())
    if cfg.ssh.private_key_path is not None:
        path = Path(cfg.ssh.private_key_path).expanduser()
        try:
            return pulumi.Output.secret(path.read_text())
        except OSError as error:
            raise ConfigError(
                [Problem("ssh.privateKeyPath", f"{str(path)!r} ({error.strerror})", "a readable private key file")]
            ) from None
    return None
