"""Configuration errors that say which key, what was found and what is allowed.

What was found is described, never dumped: a value is shown as a short excerpt at most, and not at
all when it has the shape of a secret (a private key, a password line, a known secret's value),
since a secret pasted into the wrong key must not end up in a terminal or a CI log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PROJECT = "cilium-bgp"
# Longest excerpt of a value an error shows; enough to recognise a typo, too short for a key.
EXCERPT_CHARS = 32
# Shapes of secrets: PEM/OpenSSH key blocks, an OpenSSH key body, a password statement, a placeholder.
_SECRET_SHAPES = re.compile(
    r"PRIVATE KEY|-----BEGIN|b3BlbnNzaC1rZXktdjE|<<secret:|pass(word|wd|phrase)\W|secret\W|token\W",
    re.IGNORECASE,
)
HIDDEN = "a value shaped like a secret (not shown)"


def looks_secret(text: str, known: Iterable[str] = ()) -> bool:
    """Whether ``text`` has a secret's shape or contains a known secret value."""
    return bool(_SECRET_SHAPES.search(text[:100_000])) or any(secret in text for secret in known)


def excerpt(value: Any, known_secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """A short description of ``value`` for an error message, bounded in work and length."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if looks_secret(value, known_secrets):
            return HIDDEN
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Problem:
    key: str  # path below the project namespace, e.g. "nodes[1].podCIDRs[0]"
    found: str
    allowed: str

    def __str__(self) -> str:
        return f"{PROJECT}:{self.key}: found {self.found}; allowed: {self.allowed}"


class ConfigError(Exception):
    """The stack config is invalid; nothing may be created from it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = [f"invalid stack config ({len(problems)} {noun}):"]
        lines += [f"  - {p}" for p in problems[:MAX_SHOWN]]
        if len(problems) > MAX_SHOWN:
            lines.append(f"  ... and {len(problems) - MAX_SHOWN} more")
        super().__init__("\n".join(lines))


# A stack with a thousand broken nodes does not need a thousand-line message to be fixed.
MAX_SHOWN = 50
