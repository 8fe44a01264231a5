"""Read the project's keys out of a ``Pulumi.<stack>.yaml`` file, without the Pulumi engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from cilium_bgp.config import StackConfig, load_config
from cilium_bgp.errors import PROJECT


class StackFileError(Exception):
    pass


def raw_config_from_stack_file(path: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The ``cilium-bgp:*`` values of a stack file and the keys that hold ``secure:`` values.

    Encrypted values cannot be read without the stack's secrets provider; they become opaque
    placeholders, which is all the renderers need (secrets are filled in only on push).
    """
    try:
        document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as error:
        raise StackFileError(f"cannot read stack file {path}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{path}: expected a mapping with a 'config:' mapping (a Pulumi stack file)")
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace != PROJECT or not name:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            raw[name] = SecretStr("(encrypted in the stack file)")
            secret.add(name)
        else:
            raw[name] = value
    return raw, frozenset(secret)


def load_stack_file(path: Path) -> StackConfig:
    raw, secret_keys = raw_config_from_stack_file(path)
    return load_config(raw, secret_keys)
