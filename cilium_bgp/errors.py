"""Configuration errors that say which key, what was found and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "cilium-bgp"


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
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))
