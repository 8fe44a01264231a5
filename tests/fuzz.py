"""Property: any mutation of a valid stack file ends in exit 0 or a clean exit 2 naming a key.

A mutated stack is a shipped stack or variant with one to three changes: a value replaced by
anything YAML can hold (wrong types, control characters, secret placeholders, secrets, huge or
deeply nested values), a key deleted or renamed, a key given twice, an alias bomb or a
self-referencing anchor. Each one goes through the render command in-process (the loader,
validation, every renderer, the writer): it must exit 0 or exit 2 with a message naming a
``cilium-bgp:`` key (or the file, for a file that is not YAML), never raise, never print a
secret-shaped value, and finish within ``SECONDS``.

    python -m tests.fuzz --examples 2000      # a longer run than the suite's; prints the tally

The suite runs ``tests/test_fuzz.py`` with ``EXAMPLES`` examples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cilium_bgp.render import main as render_main  # noqa: E402
from tests.keys import throwaway_private_key  # noqa: E402

EXAMPLES = 300
KEY_BODY = throwaway_private_key().splitlines()[1]
SECONDS = 3.0
# A value with a password's shape, pasted into any key: errors may not show it.
SECRET = "s3cr3t-fuzz-2741"
PASSWORD_LINE = f"neighbor 10.0.1.10 password {SECRET}"
BASES = [
    ROOT / "Pulumi.dev.yaml",
    ROOT / "Pulumi.prod.yaml",
    *(ROOT / "tests" / "stacks" / "variants" / name for name in ("bird-router-1.18.yaml", "v1-1.16.yaml")),
    ROOT / "tests" / "stacks" / "variants" / "kube-router-1.16.yaml",
]
ALIAS = "__fuzz_alias__"  # becomes an alias of a billion-laughs anchor
DEEP = "__fuzz_deep__"  # becomes nested lists 40, 1000 or 100000 deep
LOOP = "__fuzz_loop__"  # becomes a self-referencing anchor
INTERESTING = [
    "<<secret:bgpPassword>>",
    "<<secret:sshPrivateKey>>",
    PASSWORD_LINE,
    "router\nrouter bgp 666\n neighbor 6.6.6.6 remote-as 666",
    throwaway_private_key(),
    "0.0.0.0/0",
    "10.0.1.0/24",
    "10.0.1.255/24",
    "255.255.255.255/32",
    "224.0.0.5/24",
    "172.31.254.0/26",
    "192.0.2.0",
    "65000.0",
    "12 ",
    "true",
    "1.18.3",
    "1.12.0",
    "eth0",
    "eth+",
    "--v=2",
    "../../etc/passwd",
    "a" * 300,
    "\x00",
    "",
    ALIAS,
    DEEP,
    LOOP,
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(INTERESTING)
)
VALUES = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


DOCUMENTS = {base.name: yaml.safe_load(base.read_text()) for base in BASES}
PATHS = {name: [p for p in _paths(doc["config"]) if p] for name, doc in DOCUMENTS.items()}


@st.composite
def mutated_stacks(draw: st.DrawFn) -> str:
    """The text of a mutated stack file."""
    import copy

    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    document = copy.deepcopy(DOCUMENTS[name])
    config = document["config"]
    duplicate = False
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS[name]))
        parent: Any = config
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
        if not isinstance(parent, dict | list):
            continue
        operation = draw(
            st.sampled_from(
                ["replace", "borrow", "borrow", "tweak", "delete", "rename", "duplicate", "structure", "values"]
            )
        )
        if operation == "structure":
            parent[path[-1]] = draw(st.sampled_from([ALIAS, DEEP, LOOP]))
        elif operation == "values":
            # Helm values: free-form, merged and dumped by the program; where nesting and aliases hurt most.
            cilium = config.get("cilium-bgp:cilium")
            if isinstance(cilium, dict):
                special = st.sampled_from([ALIAS, DEEP, LOOP]).map(lambda s: {"x": s})
                cilium["values"] = draw(special | st.dictionaries(st.text(max_size=12), VALUES, max_size=4))
        elif operation == "replace":
            parent[path[-1]] = draw(VALUES)
        elif operation == "borrow":
            # A value from elsewhere in a valid stack: often the right type, sometimes the right meaning.
            donor = draw(st.sampled_from(sorted(DOCUMENTS)))
            value: Any = DOCUMENTS[donor]["config"]
            for part in draw(st.sampled_from(PATHS[donor])):
                value = value[part]
            parent[path[-1]] = copy.deepcopy(value)
        elif operation == "tweak":
            current = parent[path[-1]]
            if isinstance(current, int) and not isinstance(current, bool):
                parent[path[-1]] = current + draw(st.sampled_from([-1, 1, 64, -current, current]))
            elif isinstance(current, str):
                parent[path[-1]] = current + draw(st.sampled_from(["", "0", "1", " ", "\n", "x"]))
        elif operation == "delete":
            del parent[path[-1]]
        elif operation == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(path[-1])
        elif operation == "duplicate":
            duplicate = True
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if ALIAS in text:
        bomb = ["fuzz:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        bomb += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
        text = "\n".join(bomb) + "\n" + text.replace(ALIAS, "*a8")
    if DEEP in text:
        depth = draw(st.sampled_from([40, 1000, 100_000]))
        text = text.replace(DEEP, "[" * depth + "]" * depth)
    text = text.replace(LOOP, "&loop {x: *loop}")
    if duplicate:
        text += "  cilium-bgp:method: bird\n"
    return text


class TookTooLong(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise TookTooLong(f"a mutated stack took longer than {SECONDS} s")


def check_one(text: str, tally: Counter[str]) -> None:
    """Render ``text``: exit 0, or exit 2 naming a key or the file; no secret in the output; quickly."""
    with tempfile.TemporaryDirectory(prefix="cbgp-fuzz-") as scratch:
        stack = Path(scratch) / "Pulumi.fuzz.yaml"
        stack.write_text(text)
        out, err = io.StringIO(), io.StringIO()
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, SECONDS)
        began = time.monotonic()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = render_main(["--stack-file", str(stack), "--out", str(Path(scratch) / "out")])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        seconds = time.monotonic() - began
    said = err.getvalue()
    assert code in (0, 2), f"exit {code}: {said[-2000:]}"
    assert seconds < SECONDS, f"took {seconds:.1f} s"
    assert "Traceback" not in said
    assert SECRET not in said, "a password was printed"
    assert "PRIVATE KEY" not in said and KEY_BODY not in said, "a private key was printed"
    assert len(said) < 20_000, f"a {len(said)}-character message"
    if code == 2:
        assert said.strip(), "exit 2 without a message"
        assert "cilium-bgp:" in said or str(stack) in said, f"the message names no key: {said[:500]}"
        tally["refused"] += 1
    else:
        tally["accepted"] += 1


TALLY: Counter[str] = Counter()


@given(mutated_stacks())
def property_mutated_stacks_end_cleanly(text: str) -> None:
    check_one(text, TALLY)


def run(examples: int, seed: int | None = None) -> Counter[str]:
    """Run the property for ``examples`` examples; the tally of accepted and refused stacks."""
    TALLY.clear()
    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )(property_mutated_stacks_end_cleanly)
    if seed is not None:
        from hypothesis import seed as fixed_seed

        test = fixed_seed(seed)(test)
    test()
    return Counter(TALLY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None, help="a random seed (default: derandomized)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    tally = run(args.examples, args.seed)
    total = sum(tally.values())
    print(
        f"{total} mutated stacks in {time.monotonic() - began:.0f} s: {tally['accepted']} accepted, "
        f"{tally['refused']} refused cleanly, 0 tracebacks, 0 over {SECONDS} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
