"""The Pulumi toolchain the lab's engine runs, and the environment every run of it gets.

``toolchain_bin`` builds (or reuses: a warm run builds nothing) the upstream CLI and plugins with
``scripts/install-pulumi``; ``state_env`` points a run at the local file backend ``.pulumi-state/``
with the passphrase generated there, and turns off downloads, the update check and per-step
checkpoints. ``lab.engine`` drives the engine with them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".pulumi-state"


class EngineError(Exception):
    pass


def resource_name(urn: str) -> str:
    """A resource's name: the last part of its URN."""
    return urn.split("::")[-1]


# What an error report keeps of one resource's diagnostic: the command provider's message starts
# with the whole command it ran (a host script runs to thousands of characters) and ends with
# what the command printed and why it failed.
DIAGNOSTIC_HEAD, DIAGNOSTIC_TAIL = 200, 800
# Of the run's own output, the last lines (its summary).
OUTPUT_TAIL = 30


class ErrorDiagnostics:
    """An engine event handler that keeps each resource's error diagnostics (and passes every
    event on): a failed run is reported by what failed and why, not by the tail of its output,
    where one long command can hide every other error."""

    def __init__(self, forward: Callable[[Any], None] | None = None) -> None:
        self.errors: list[str] = []
        self._forward = forward

    def __call__(self, event: Any) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error":
            name = resource_name(diagnostic.urn) if diagnostic.urn else "stack"
            message = diagnostic.message.strip()
            if len(message) > DIAGNOSTIC_HEAD + DIAGNOSTIC_TAIL:
                skipped = len(message) - DIAGNOSTIC_HEAD - DIAGNOSTIC_TAIL
                message = f"{message[:DIAGNOSTIC_HEAD]} [... {skipped} characters ...] {message[-DIAGNOSTIC_TAIL:]}"
            self.errors.append(f"{name}: {message}")
        if self._forward is not None:
            self._forward(event)

    def failure(self, what: str, lines: list[str]) -> EngineError:
        """The error for a failed ``pulumi <what>``: every resource error first, then the run's last lines."""
        report = [f"pulumi {what} failed ({len(self.errors)} resource errors):", *self.errors[:20]]
        if len(self.errors) > 20:
            report.append(f"... and {len(self.errors) - 20} more")
        report += ["--- the run's last lines:", *lines[-OUTPUT_TAIL:]]
        return EngineError("\n".join(report))


def toolchain_bin() -> Path:
    """Build (or reuse) the Pulumi CLI and install the plugins (a warm run builds nothing); the
    CLI's directory."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-pulumi")], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise EngineError(f"scripts/install-pulumi failed:\n{out.stderr[-3000:]}")
    line = out.stdout.strip().splitlines()[-1]  # export PATH=<dir>:$PATH
    return Path(line.removeprefix("export PATH=").removesuffix(":$PATH"))


def state_env(bin_dir: Path) -> dict[str, str]:
    """What every engine run gets: the local backend, the passphrase, no downloads, no update check."""
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        raise EngineError("unset PULUMI_CONFIG_PASSPHRASE: the lab's stacks use .pulumi-state/passphrase")
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    passphrase = STATE_DIR / "passphrase"
    if not passphrase.exists():
        fd = os.open(passphrase, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PULUMI_BACKEND_URL": f"file://{STATE_DIR}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The engine saves the whole state after every step, so a run costs O(resources^2): two
        # thirds of a 250-node preview's CPU. Only the final state is saved; an interrupted run
        # leaves the state of the run before it, and the next `up` runs the (idempotent) commands again.
        "PULUMI_SKIP_CHECKPOINTS": "true",
    }
