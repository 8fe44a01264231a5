"""Each rendered config checked by its own daemon before anything starts.

``vtysh -C`` and ``bird -p`` are what the program's safe activation runs; ``bgpd -C`` adds FRR's
semantic checks the grammar check misses (e.g. ``timers connect`` before ``remote-as``) and
``gobgpd -d`` checks the GoBGP stand-in's TOML. A rejected config stops the lab with the daemon's
own words, passwords redacted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cilium_bgp.renderers.scripts import bgpd_complains
from lab.shell import LabError, redact, run

FRR_LIB = Path("/usr/lib/frr")


@dataclass(frozen=True)
class Checker:
    """A daemon's own config checker: its argv, and how its output says "rejected"."""

    argv: Callable[[Path], list[str]]
    complaint: Callable[[str], bool] = lambda output: False
    # bgpd drops to user frr before it reads the file: give it a copy it can open.
    as_frr: bool = False


SYNTAX_CHECKERS: dict[str, tuple[Checker, ...]] = {
    "frr": (
        Checker(lambda path: ["vtysh", "-C", "-f", str(path)]),
        Checker(lambda path: [str(FRR_LIB / "bgpd"), "-C", "--log", "stdout", "-f", str(path)], bgpd_complains, True),
    ),
    "bird": (Checker(lambda path: ["bird", "-p", "-c", str(path)]),),
    "gobgp": (Checker(lambda path: ["gobgpd", "-d", "-t", "toml", "-f", str(path)]),),
}


class ConfigRejected(LabError):
    """A rendered config failed its daemon's own check; the message quotes the daemon."""


def _run_checker(checker: Checker, path: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    if not checker.as_frr:
        argv = checker.argv(path)
        return argv, run(argv, check=False, timeout=30)
    with tempfile.TemporaryDirectory(prefix="cbgp-check-") as scratch:
        copy = Path(scratch) / path.name
        copy.touch(mode=0o600)
        copy.write_text(path.read_text())
        for item in (Path(scratch), copy):
            shutil.chown(item, "frr", "frr")
        return checker.argv(path), run(checker.argv(copy), check=False, timeout=30)


def _gobgp_error(output: str) -> str:
    """gobgpd logs JSON lines: the one with an "Error" says why."""
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "Error" in entry:
            return f"{entry.get('msg', '')}: {entry['Error']}"
    return output


def check_syntax(kind: str, path: Path) -> None:
    """Run the daemon's own checkers on ``path`` (``kind``: frr, bird or gobgp); raise :class:`ConfigRejected`."""
    for checker in SYNTAX_CHECKERS[kind]:
        argv, proc = _run_checker(checker, path)
        said = (proc.stderr.strip() + "\n" + proc.stdout.strip()).strip()
        if proc.returncode != 0 or checker.complaint(said):
            if kind == "gobgp":
                said = _gobgp_error(said)
            tool = " ".join(a for a in argv if a != str(path))
            raise ConfigRejected(f"`{tool}` rejected {path} (exit {proc.returncode}):\n{redact(said)}")
