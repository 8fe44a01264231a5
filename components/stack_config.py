"""The stack config as the Pulumi engine hands it over: raw values in, a validated model out.

Values are read through ``pulumi.Config`` (the SDK's supported API): ``get`` for each key the
model knows, ``pulumi.runtime.is_config_secret`` for which of them were stored encrypted. The
engine hands structured values over as JSON text; it is decoded here with the same care as a
stack file: duplicate keys and nesting too deep for the rest of the program are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cilium_bgp.config import MAX_DEPTH, SECRET_KEYS, KubernetesSettings, StackConfig
from cilium_bgp.errors import PROJECT, ConfigError, Problem, excerpt
from cilium_bgp.stackfile import load_project_config

# Top-level keys holding a plain string: they arrive as the string itself, not as JSON.
_STRING_KEYS = {*SECRET_KEYS, "method", "podCidrSource", "nodesFile"}


def _no_duplicates(key: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` object hook refusing a key given twice (the last one would silently win)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in pairs:
            if name in result:
                raise ConfigError([Problem(key, f"duplicate key {excerpt(name)}", "each key once")])
            result[name] = value
        return result

    return hook


def decode_value(key: str, text: str) -> Any:
    """Structured config arrives as JSON text; plain strings stay strings; secrets stay verbatim."""
    if key in _STRING_KEYS:
        return text
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates(key))
    except RecursionError:
        raise ConfigError([Problem(key, f"nesting deeper than {MAX_DEPTH} levels", f"at most {MAX_DEPTH}")]) from None
    except ValueError:
        return text


def project_keys() -> list[str]:
    """Every top-level key of the model, by the name stack files use."""
    return [field.alias or name for name, field in StackConfig.model_fields.items()]


def raw_project_config() -> tuple[dict[str, Any], frozenset[str]]:
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    secret_keys: set[str] = set()
    env_secret_keys = set(pulumi.runtime.get_config_secret_keys_env())
    # pulumi.Config cannot list keys; the engine's hand-off (PULUMI_CONFIG) can, so a misspelt
    # top-level key (`cilium-bgp:bgpPasword`) is refused instead of silently ignored.
    known = project_keys()
    listed = [k.removeprefix(f"{PROJECT}:") for k in pulumi.runtime.get_config_env() if k.startswith(f"{PROJECT}:")]
    for key in [*known, *(k for k in listed if k not in known)]:
        text = config.get(key)
        if text is None:
            continue
        raw[key] = decode_value(key, text)
        full_key = config.full_key(key)
        if pulumi.runtime.is_config_secret(full_key) or full_key in env_secret_keys:
            secret_keys.add(key)
    return raw, frozenset(secret_keys)


def read_stack_config() -> StackConfig:
    raw, secret_keys = raw_project_config()
    # A nodes file is relative to the project directory the engine names (where Pulumi.yaml is; a
    # `main:` there runs the program elsewhere). Without one, the working directory.
    project_dir = Path(pulumi.runtime.get_root_directory() or Path.cwd())
    return load_project_config(raw, secret_keys, project_dir, need_secret_values=True)


def secret_values(cfg: StackConfig) -> dict[str, pulumi.Output[str]]:
    """Secrets configs may reference (``<<secret:KEY>>``), as secret Outputs."""
    values = {}
    if cfg.bgp_password is not None:
        values["bgpPassword"] = pulumi.Output.secret(cfg.bgp_password.get_secret_value())
    return values


def kubernetes_provider_args(settings: KubernetesSettings) -> k8s.ProviderArgs | None:
    """The Kubernetes provider's inputs, or None for the ambient kubeconfig.

    A kubeconfig holds cluster credentials: it is always a secret input. The context name is
    one too when the stack stored ``kubernetes`` encrypted, so nothing stored secret leaves as plain.
    """
    if not (settings.kubeconfig or settings.context):
        return None
    context_secret = pulumi.runtime.is_config_secret(pulumi.Config(PROJECT).full_key("kubernetes"))
    context: pulumi.Input[str] | None = settings.context
    if settings.context and context_secret:
        context = pulumi.Output.secret(settings.context)
    kubeconfig = pulumi.Output.secret(settings.kubeconfig) if settings.kubeconfig else None
    return k8s.ProviderArgs(kubeconfig=kubeconfig, context=context)


def ssh_private_key(cfg: StackConfig) -> pulumi.Output[str] | None:
    if cfg.ssh_private_key is not None:
        return pulumi.Output.secret(cfg.ssh_private_key.get_secret_value())
    if cfg.ssh.private_key_path is not None:
        path = Path(cfg.ssh.private_key_path).expanduser()
        try:
            return pulumi.Output.secret(path.read_text())
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not a text file"
            found = f"{excerpt(str(path), limit=256)} ({reason})"
            raise ConfigError([Problem("ssh.privateKeyPath", found, "a readable private key file")]) from None
    return None
