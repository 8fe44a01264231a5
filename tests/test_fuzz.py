"""The property of tests/fuzz.py on a bounded number of mutated stacks (``CBGP_FUZZ_EXAMPLES``,
default 300); ``python -m tests.fuzz --examples 2000`` runs it longer."""

from __future__ import annotations

import os

from tests.fuzz import EXAMPLES, run


def test_mutated_stacks_end_in_exit_0_or_a_clean_exit_2() -> None:
    tally = run(int(os.environ.get("CBGP_FUZZ_EXAMPLES", EXAMPLES)))
    # Both outcomes occur: the mutations neither all miss the config nor all break it.
    assert tally["accepted"] > 0 and tally["refused"] > 0, tally
