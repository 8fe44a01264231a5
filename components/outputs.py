"""Values the stack config already holds stay plain Python values, not ``pulumi.Output``s.

Every Output costs the SDK futures and tasks, and combining Outputs (``Output.all``,
``Output.from_input``) unwraps every list and dict nested in them into further Outputs: a
thousand-node stack made tens of thousands for PodCIDRs, config texts and commands that were
known before the program ran. A plain value registers the same inputs as the Output it would
resolve to: known, not secret, depending on nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pulumi

T = TypeVar("T")
U = TypeVar("U")


def then(value: T | pulumi.Output[T], func: Callable[[T], U | pulumi.Output[U]]) -> U | pulumi.Output[U]:
    """``func(value)`` now when ``value`` is plain, else ``value.apply(func)`` once it resolves."""
    if isinstance(value, pulumi.Output):
        return value.apply(func)
    return func(value)
