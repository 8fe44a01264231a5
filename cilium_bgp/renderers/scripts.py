"""Commands run on the router and nodes over SSH: safe activation, removal and the BGP check.

The shell lives in ``cilium_bgp/hostscripts/*.sh`` (POSIX sh, checked by shellcheck): ``lib.sh``
holds the one definition of the config paths, locks and records, ``redact.sh`` the redaction and
the FRR check; ``activate.sh`` and ``remove.sh`` are the programs. A command is the libraries and
one program joined and run with ``sh -c``, its parameters as arguments: nothing is filled into
the shell text.

Safe activation (``activate.sh``): the file arrives on stdin behind a header with its sha256 and
is refused when incomplete; the distribution is checked before anything changes; under a lock
per daemon, the daemon's own checker (``vtysh -C -f`` and ``bgpd -C``, ``bird -p -c``) runs on the
received file in the root-only ``/run/cilium-bgp`` (``bgpd`` on a copy only it and root can read);
an operator's existing config is kept once; the file
is replaced atomically (fsync, rename); the daemon reloads (``frr-reload.py``, ``birdc
configure``) or starts; when it does not take the file, the previous config is put back and
activated again. Every message from a host is redacted.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any, Literal

Daemon = Literal["frr", "bird"]
KINDS = ("frr", "bird", "sysctl")
HEADER = "cilium-bgp-sha256"


@cache
def host_script(name: str) -> str:
    """The text of ``cilium_bgp/hostscripts/<name>``."""
    return resources.files("cilium_bgp.hostscripts").joinpath(name).read_text()


# The files each program is joined from, in order: the libraries it uses, then itself.
PROGRAMS = {"activate.sh": ("lib.sh", "redact.sh", "activate.sh"), "remove.sh": ("lib.sh", "remove.sh")}


def program_text(main: str) -> str:
    """The files of ``main`` joined, as checked by shellcheck."""
    return "\n".join(host_script(name) for name in PROGRAMS[main])


@cache
def _quoted_program(main: str) -> str:
    """:func:`program_text` without comment lines, quoted for ``sh -c``: what every host command
    carries (and Pulumi keeps in the state once per host), so only what runs. Made once per
    process: a thousand-node stack has two thousand commands."""
    lines = program_text(main).splitlines()
    return shlex.quote("\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("#")) + "\n")


def _library_constants() -> dict[str, str]:
    """``NAME=value`` lines of ``lib.sh`` (plain words; a quoted value is unquoted as sh would)."""
    constants = {}
    for line in host_script("lib.sh").splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.+)", line)
        if match:
            (value,) = shlex.split(match.group(2))
            constants[match.group(1)] = value
    return constants


_CONSTANTS = _library_constants()
# Where the scripts write each kind on a Debian host (the lab's hosts are Debian).
CONFIG_PATHS: dict[str, str] = {
    "frr": _CONSTANTS["FRR_CONF"],
    "bird": _CONSTANTS["BIRD_CONF"],
    "sysctl": _CONSTANTS["SYSCTL_CONF"],
}
RUN_DIR = _CONSTANTS["RUN_DIR"]
STATE_DIR = _CONSTANTS["STATE_DIR"]
BACKUP_SUFFIX = _CONSTANTS["BACKUP_SUFFIX"]


def _command(main: str, args: list[str], title: str) -> str:
    """``sh -c PROGRAM main.sh ARGS...`` as one command line for the remote user's shell."""
    return f"# cilium-bgp: {title}\nsh -c {_quoted_program(main)} {main} {shlex.join(args)}"


def activate_script(
    kind: str,
    content_sha256: str,
    daemons: tuple[str, ...] = ("bgpd",),
    install: Daemon | None = None,
    owner: str = "cilium-bgp",
) -> str:
    """The command installing the file on stdin (see :func:`activation_stdin`) as ``kind``'s config.

    ``content_sha256``: the hash of the secret-free rendered text; a changed file changes the
    command (an update runs it), an unchanged one leaves it as it was (no command on ``up``).
    ``daemons``: for FRR, the daemons the config needs on in ``/etc/frr/daemons``. ``install``:
    first make sure this daemon is installed (one command per host keeps a thousand-node stack
    at one resource per node). ``owner``: the resource pushing the file (``project/stack/name``),
    recorded on the host with the file; only that resource's :func:`remove_script` removes it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown config kind {kind!r}")
    title = f"{install} installed?, then " if install else ""
    title += f"activate {kind} config, content sha256 {content_sha256}"
    args = [kind, content_sha256, "yes" if install else "no", owner, *(daemons if kind == "frr" else ())]
    return _command("activate.sh", args, title)


def activation_stdin(text: str) -> str:
    """What the activation command reads: a header with the sha256 of the file, then the file.

    The expected hash travels with the bytes rather than in the command: the file may hold the
    BGP password, and its hash on a command line (visible in the host's process list) would let
    anyone there test password guesses offline.
    """
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{HEADER} {digest}\n{text}"


def remove_script(kind: str, owner: str = "cilium-bgp") -> str:
    """What ``pulumi destroy`` runs: ``remove.sh KIND OWNER``. It removes the file only while
    ``owner`` is the resource that activated it last and the file is still exactly as written."""
    if kind not in KINDS:
        raise ValueError(f"unknown config kind {kind!r}")
    return _command("remove.sh", [kind, owner], f"remove {kind} config of {owner}")


def _library_call(function: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run one function of ``redact.sh`` here, with ``stdin``: the lab uses the hosts' own definitions."""
    return subprocess.run(
        ["sh", "-c", host_script("redact.sh") + f"\n{function}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def redact(text: str) -> str:
    """``text`` without password values (``redact.sh``'s ``redact``: what the hosts apply)."""
    if not text:
        return text
    proc = _library_call("redact", text)
    if proc.returncode != 0:
        return "(output withheld: the redaction failed)"
    return proc.stdout if text.endswith("\n") else proc.stdout.removesuffix("\n")


def bgpd_complains(output: str) -> bool:
    """Whether ``bgpd -C`` output reports a problem (``redact.sh``'s ``bgpd_complains``)."""
    return _library_call("bgpd_complains", output).returncode == 0


def status_script_source() -> str:
    return host_script("bgp_status.py")


def verify_command(
    daemon: Daemon,
    expect: dict[str, Any],
    timeout_seconds: int,
    *,
    router: str | None = None,
    options: Sequence[str] = (),
) -> str:
    """Command whose stdin is :func:`status_script_source`; fails when the deadline passes.

    ``router``: the stack has several, and a failure ends with a line naming this one (the
    script's own lines say which peer or prefix is missing). ``options``: further arguments for
    the script (the lab's daemon sockets)."""
    expect_json = json.dumps(expect, sort_keys=True, separators=(",", ":"))
    check = " ".join(
        [
            f"python3 - --daemon {daemon} --timeout {timeout_seconds} --expect {shlex.quote(expect_json)}",
            *map(shlex.quote, options),
        ]
    )
    if router is None:
        return check
    said = shlex.quote(f"cilium-bgp: the check above failed on router {router}")
    return f"{check} || {{ echo {said} >&2; exit 1; }}"
