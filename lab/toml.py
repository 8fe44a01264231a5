"""A small TOML writer for GoBGP configs (the standard library reads TOML but does not write it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON's string escapes are a subset of TOML basic strings'.
        return json.dumps(value)
    if isinstance(value, list) and all(not isinstance(v, Mapping) for v in value):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(data: Mapping[str, Any], path: list[str], out: list[str], depth: int) -> None:
    indent = "  " * depth
    for key, value in data.items():
        if not isinstance(value, Mapping) and not _is_table_array(value):
            out.append(f"{indent}{key} = {_scalar(value)}")
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.append(f"{indent}[{'.'.join([*path, key])}]")
            _table(value, [*path, key], out, depth + 1)
        elif _is_table_array(value):
            for item in value:
                out.append(f"{indent}[[{'.'.join([*path, key])}]]")
                _table(item, [*path, key], out, depth + 1)


def dump_toml(data: Mapping[str, Any]) -> str:
    """``data`` as TOML: plain keys first, then tables, then arrays of tables, each indented by depth."""
    out: list[str] = []
    _table(data, [], out, 0)
    return "\n".join(out) + "\n"
