"""Commands run by the lab: argv lists, a timeout on each, and failures that say what the tool said."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence

# A password may appear in a daemon's complaint about a config line: the hosts' own redaction.
from cilium_bgp.renderers.scripts import redact

log = logging.getLogger("lab")


class LabError(Exception):
    """The lab cannot be built, or a check failed; the message says which and why."""


class CommandTimeout(LabError):
    pass


class CommandFailed(LabError):
    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        output = redact((stderr or stdout).strip())
        super().__init__(f"`{' '.join(self.argv)}` exited {returncode}: {output or '(no output)'}")


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv]


def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    stdin: str | None = None,
    timeout: float = 30.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (inside ``netns`` when given) and return its output; ``stdin`` is never logged."""
    full = in_netns(netns, argv) if netns else list(argv)
    log.debug("run: %s", " ".join(full))
    try:
        proc = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise CommandTimeout(f"`{' '.join(full)}` did not finish within {timeout:.0f} s") from error
    except FileNotFoundError as error:
        raise LabError(f"`{full[0]}` is not installed: {error}") from error
    if check and proc.returncode != 0:
        raise CommandFailed(full, proc.returncode, proc.stdout, proc.stderr)
    return proc
