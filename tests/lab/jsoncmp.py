"""Expected subsets of ``show ... json`` output, compared with a readable diff (topotests' json_cmp,
our own).

- A dict matches when every expected key is there with a matching value; an expected value of
  ``None`` means the key must be absent. Other keys may be present, unless the dict is wrapped in
  :class:`Exact`.
- A list matches when each expected element matches a distinct element of the actual list, in any
  order; :class:`Exact` also requires the same length (e.g. exactly these ECMP nexthops).
- Anything else must be equal (``True`` is not ``1``).

:func:`json_cmp` returns ``None`` on a match, else one line per difference, each with its path
(``$.ipv4Unicast.peers["10.0.1.10"].state: expected 'Established', got 'Active'``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exact:
    """A dict with no other keys, or a list with no other elements, than the expected ones."""

    value: Mapping[str, Any] | Sequence[Any]


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=lambda v: v.value if isinstance(v, Exact) else str(v))
    return text if len(text) <= 200 else text[:197] + "..."


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def _dict(actual: Any, expected: Mapping[str, Any], path: str, exact: bool) -> list[str]:
    if not isinstance(actual, Mapping):
        return [f"{path}: expected an object, got {_show(actual)}"]
    problems = []
    for key, want in expected.items():
        where = _key(path, key)
        if want is None:
            if key in actual:
                problems.append(f"{where}: expected absent, got {_show(actual[key])}")
        elif key not in actual:
            problems.append(f"{where}: missing (expected {_show(want)})")
        else:
            problems += _cmp(actual[key], want, where)
    if exact:
        problems += [f"{_key(path, k)}: not expected, got {_show(v)}" for k, v in actual.items() if k not in expected]
    return problems


def _assign(options: list[list[int]], taken: set[int], index: int) -> bool:
    """Whether expected elements ``index..`` can each take a distinct actual element among their options."""
    if index == len(options):
        return True
    return any(c not in taken and _assign(options, taken | {c}, index + 1) for c in options[index])


def _list(actual: Any, expected: Sequence[Any], path: str, exact: bool) -> list[str]:
    if not isinstance(actual, list):
        return [f"{path}: expected a list, got {_show(actual)}"]
    if exact and len(actual) != len(expected):
        return [
            f"{path}: expected exactly {len(expected)} elements {_show(expected)}, got {len(actual)}: {_show(actual)}"
        ]
    options = [[j for j, got in enumerate(actual) if not _cmp(got, want, path)] for want in expected]
    problems = []
    for i, (want, matches) in enumerate(zip(expected, options, strict=True)):
        if not matches:
            closest = min((_cmp(got, want, f"{path}[?]") for got in actual), key=len, default=[])
            detail = f"; closest: {'; '.join(closest)}" if closest else f"; the list is {_show(actual)}"
            problems.append(f"{path}: no element matches expected [{i}] {_show(want)}{detail}")
    if not problems and not _assign(options, set(), 0):
        problems.append(
            f"{path}: the expected elements {_show(expected)} do not match distinct elements of {_show(actual)}"
        )
    return problems


def _cmp(actual: Any, expected: Any, path: str) -> list[str]:
    exact = isinstance(expected, Exact)
    want = expected.value if isinstance(expected, Exact) else expected
    if isinstance(want, Mapping):
        return _dict(actual, want, path, exact)
    if isinstance(want, list | tuple):
        return _list(actual, want, path, exact)
    if type(actual) is not type(want) or actual != want:
        return [f"{path}: expected {_show(want)}, got {_show(actual)}"]
    return []


def json_cmp(actual: Any, expected: Any) -> list[str] | None:
    """``None`` when ``actual`` contains ``expected`` (see the module docstring), else the differences."""
    return _cmp(actual, expected, "$") or None
