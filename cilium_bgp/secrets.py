"""Secret values never enter renderers: configs carry a placeholder the components fill in.

A renderer writes ``secret_ref("bgpPassword")`` where the password goes. The text is then safe to
show (stack outputs, golden files, the render command); only the component that pushes it to a
host or cluster calls :func:`reveal`, inside ``Output.secret``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PATTERN = re.compile(r"<<secret:([A-Za-z][A-Za-z0-9]*)>>")


def secret_ref(key: str) -> str:
    return f"<<secret:{key}>>"


def referenced_secrets(text: str) -> set[str]:
    return set(_PATTERN.findall(text))


class SecretError(Exception):
    """A rendered text references a secret that is not set; the message names the secret, never a value."""


def reveal(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its secret's value (inserted verbatim, not rescanned)."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SecretError(f"the rendered config references the secret {key!r}, which is not set")
        return values[key]

    return _PATTERN.sub(substitute, text)
