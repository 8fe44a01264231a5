"""Daemon wording lives in Jinja2 templates (``cilium_bgp/templates``); renderers compute the values.

Daemon configs are not HTML: nothing is escaped. Undefined names fail (a typo in a template is an
error, not an empty string), and block tags take their line with them, so a template reads like the
file it produces.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("cilium_bgp", "templates"),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, context: Any) -> str:
    """``context``: a dataclass whose fields are the template's names."""
    return _environment().get_template(name).render({f.name: getattr(context, f.name) for f in fields(context)})
