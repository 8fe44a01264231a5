"""Retry a probe until it reports no problems or a named budget runs out (topotests' run_and_expect)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from lab.shell import CommandFailed, CommandTimeout, LabError

T = TypeVar("T")

# What a probe returns: what it saw, and what is still wrong with it (nothing: done).
Probe = Callable[[], tuple[T, list[str]]]


@dataclass(frozen=True)
class Budget:
    """How long one kind of wait may take, with the name a failure reports."""

    name: str
    seconds: float


@dataclass(frozen=True)
class Waited(Generic[T]):
    value: T
    elapsed: float  # seconds since ``since`` (or since the wait began)


class DeadlinePassed(LabError):
    def __init__(self, what: str, budget: Budget, problems: list[str]) -> None:
        self.what = what
        self.budget = budget
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems) or "  - (the probe reported nothing)"
        super().__init__(f"{what}: not reached within the {budget.name} budget of {budget.seconds:.0f} s:\n{listed}")


def wait_until(
    probe: Probe[T], budget: Budget, what: str, *, since: float | None = None, interval: float = 0.2
) -> Waited[T]:
    """Call ``probe`` until it returns no problems; raise :class:`DeadlinePassed` with the last ones.

    A probe whose command fails or times out, or whose JSON is cut short (a daemon not answering
    yet), counts as one more problem and is retried; other errors end the wait. ``since`` (a
    ``time.monotonic()`` value) is where the reported elapsed time starts, e.g. when the daemons
    were started; the budget always starts now.
    """
    start = time.monotonic()
    origin = start if since is None else since
    deadline = start + budget.seconds
    while True:
        try:
            value, problems = probe()
        except (CommandFailed, CommandTimeout, json.JSONDecodeError) as error:
            value, problems = None, [f"no answer yet: {error}"]
        now = time.monotonic()
        if not problems:
            # ``value`` is None only after a failed probe, which always has problems.
            return Waited(value, round(now - origin, 2))  # type: ignore[arg-type]
        if now >= deadline:
            raise DeadlinePassed(what, budget, problems)
        time.sleep(min(interval, max(0.0, deadline - now)))
