"""Shell run on the router and nodes over SSH: install, safe activation, removal and the BGP check.

Safe activation: the new file arrives on stdin, lands in a temporary file beside its destination,
is checked by the daemon's own checker (``vtysh -C -f``, ``bird -p -c``) and only then renamed into
place and reloaded (``frr-reload`` via the service's reload, ``birdc configure``). A file that fails
its check is deleted and the running config is untouched; the command fails with the checker's
output. Scripts are POSIX sh and work with and without systemd (the lab's hosts have none).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Daemon = Literal["frr", "bird"]

# Checker output can quote the offending line; never let a password through.
_REDACT = "sed -E 's/(password)[[:space:]]+[^[:space:];]+/\\1 <redacted>/g'"

_SERVICE_HELPERS = """\
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then has_systemd=yes; else has_systemd=no; fi
"""

_INSTALL = {
    "frr": {
        "apt": "frr frr-pythontools",
        "el": "frr frr-pythontools",
        "check": "command -v vtysh >/dev/null 2>&1 && [ -x /usr/lib/frr/frr-reload.py ]",
    },
    "bird": {
        "apt": "bird2",
        "el": "bird",
        "check": "command -v bird >/dev/null 2>&1 && command -v birdc >/dev/null 2>&1",
    },
}


def _ensure_installed(daemon: Daemon) -> str:
    """Shell that detects the OS and installs the daemon's packages if missing, then carries on."""
    spec = _INSTALL[daemon]
    if daemon == "frr":
        # EL ships no (or an old) FRR: use the FRR project's stable RPM repository.
        el_repo = (
            "rpm -q frr-stable-repo >/dev/null 2>&1 || $pm install -y "
            '"https://rpm.frrouting.org/repo/frr-stable-repo-1-0.el${VERSION_ID%%.*}.noarch.rpm"'
        )
    else:
        el_repo = "rpm -q epel-release >/dev/null 2>&1 || $pm install -y epel-release"
    return f"""\
# cilium-bgp: {daemon} installed?
. /etc/os-release
if {spec["check"]}; then
  echo "os=${{ID}} ${{VERSION_ID:-}} {daemon}=present"
else
  case " ${{ID:-}} ${{ID_LIKE:-}} " in
    *" debian "*|*" ubuntu "*) family=apt ;;
    *" rhel "*|*" fedora "*|*" centos "*|*" rocky "*|*" almalinux "*) family=el ;;
    *) echo "cilium-bgp: unsupported OS '${{ID:-unknown}}' (Debian/Ubuntu or EL only)" >&2; exit 1 ;;
  esac
  if [ "$family" = apt ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q {spec["apt"]}
  else
    if command -v dnf >/dev/null 2>&1; then pm=dnf; else pm=yum; fi
    {el_repo}
    $pm install -y {spec["el"]}
  fi
  {spec["check"]} || {{ echo "cilium-bgp: {daemon} is still missing after the install" >&2; exit 1; }}
  echo "os=${{ID}} ${{VERSION_ID:-}} {daemon}=installed"
fi
"""


@dataclass(frozen=True)
class FileTarget:
    """Where a config file goes, how it is checked and how its daemon takes it."""

    kind: str
    locate: str  # shell that sets $conf
    checker: str  # what the operator is told rejected the file; empty: no checker
    check: str  # body of a shell function checking the file "$1", printing why it fails
    owner: str
    mode: str
    activate: str  # shell run after the rename


_FRR_LIB = "frrlib=/usr/lib/frr; [ -d $frrlib ] || frrlib=/usr/libexec/frr\n"

# vtysh -C checks the grammar only; bgpd -C also catches misplaced lines ("% Specify remote-as or
# peer-group commands first") but exits 0 on them, so its output is read as well. bgpd reads the
# file as user frr: the temporary file is handed to frr before the check.
_FRR_CHECK = """\
vtysh -C -f "$1" || return 1
said=$("$frrlib/bgpd" -C --log stdout -f "$1" 2>&1) || { printf '%s\\n' "$said"; return 1; }
if printf '%s\\n' "$said" | grep -qE "^%|Config Failed|can't open configuration file"; then
  printf '%s\\n' "$said"; return 1
fi
"""

_FRR_ACTIVATE = (
    _SERVICE_HELPERS
    + """\
frr() { if [ "$has_systemd" = yes ]; then systemctl "$1" frr; else "$frrlib/frrinit.sh" "$1"; fi; }
restart=no
# reload cannot start a daemon FRR is not running: the daemons must be on before the first start.
for daemon in $daemons; do
  if ! grep -qx "$daemon=yes" /etc/frr/daemons; then
    sed -i -E "s/^#?[[:space:]]*$daemon=.*/$daemon=yes/" /etc/frr/daemons
    grep -qx "$daemon=yes" /etc/frr/daemons || echo "$daemon=yes" >>/etc/frr/daemons
    restart=yes
  fi
done
[ "$has_systemd" = yes ] && systemctl enable frr >/dev/null 2>&1 || true
if ! vtysh -c 'show version' >/dev/null 2>&1; then
  frr start
elif [ "$restart" = yes ]; then
  frr restart
else
  frr reload
fi
"""
)

_BIRD_ACTIVATE = (
    _SERVICE_HELPERS
    + """\
if birdc show status >/dev/null 2>&1; then
  out=$(birdc configure 2>&1) || true
  case "$out" in
    *Reconfigured*|*"Reconfiguration in progress"*) echo "$out" ;;
    *) printf 'cilium-bgp: birdc configure failed:\\n%s\\n' "$out" | """
    + _REDACT
    + """ >&2; exit 1 ;;
  esac
elif [ "$has_systemd" = yes ]; then
  systemctl enable bird >/dev/null 2>&1 || true
  systemctl restart bird
else
  # Without systemd nobody creates the control socket's directory (bird.service does).
  mkdir -p /run/bird
  bird -c "$conf"
fi
"""
)

TARGETS: dict[str, FileTarget] = {
    "frr": FileTarget(
        kind="frr",
        locate=_FRR_LIB + "conf=/etc/frr/frr.conf",
        checker="vtysh -C -f, bgpd -C",
        check=_FRR_CHECK,
        owner="frr:frr",
        mode="0640",
        activate=_FRR_ACTIVATE,
    ),
    "bird": FileTarget(
        kind="bird",
        # Debian's bird2 reads /etc/bird/bird.conf; EL's reads /etc/bird.conf (the seed's path).
        locate="if [ -d /etc/bird ]; then conf=/etc/bird/bird.conf; else conf=/etc/bird.conf; fi",
        checker="bird -p -c",
        check='bird -p -c "$1"\n',
        owner="bird:bird",
        mode="0640",
        activate=_BIRD_ACTIVATE,
    ),
    "sysctl": FileTarget(
        kind="sysctl",
        locate="conf=/etc/sysctl.d/90-cilium-bgp.conf",
        checker="",
        check="",
        owner="root:root",
        mode="0644",
        activate='sysctl -q -p "$conf"\n',
    ),
}


def activate_script(
    kind: str, content_sha256: str, daemons: tuple[str, ...] = ("bgpd",), install: Daemon | None = None
) -> str:
    """Install the file read from stdin as ``kind``'s config, safely (see module docstring).

    ``daemons``: for FRR, the daemons the config needs switched on in ``/etc/frr/daemons``.
    ``install``: first make sure this daemon is installed (OS detected, packages installed if
    missing); one command per host keeps a thousand-node stack at one resource per node.
    """
    target = TARGETS[kind]
    setup = f"daemons='{' '.join(daemons)}'\n" if kind == "frr" else ""
    check = ""
    if target.checker:
        check = f"""\
check() {{
{target.check}}}
if ! out=$(check "$tmp" 2>&1); then
  printf 'cilium-bgp: new %s rejected by `{target.checker}`; the running config is unchanged:\\n%s\\n' \\
    "$conf" "$out" | {_REDACT} >&2
  exit 1
fi
"""
    return f"""\
set -eu
# cilium-bgp: activate {kind} config, content sha256 {content_sha256}
{_ensure_installed(install) if install else ""}{target.locate}
{setup}tmp=$(mktemp "$(dirname "$conf")/.cilium-bgp.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
chown {target.owner} "$tmp" 2>/dev/null || true
chmod {target.mode} "$tmp"
{check}mv -f "$tmp" "$conf"
trap - EXIT
{target.activate}"""


_REMOVE = {
    "frr": _SERVICE_HELPERS
    + _FRR_LIB
    + """\
if [ "$has_systemd" = yes ]; then systemctl disable --now frr || true; else "$frrlib/frrinit.sh" stop || true; fi
rm -f /etc/frr/frr.conf
""",
    "bird": _SERVICE_HELPERS
    + """\
if [ "$has_systemd" = yes ]; then systemctl disable --now bird || true; else birdc down >/dev/null 2>&1 || true; fi
rm -f /etc/bird/bird.conf /etc/bird.conf
""",
    "sysctl": "rm -f /etc/sysctl.d/90-cilium-bgp.conf\n",
}


# Which resource last activated each kind of file on a host: written after every successful
# activation, read by the removal, so that a resource deleted after another one took the file over
# (a renamed node: new resource first, old one deleted last) leaves the file and its daemon alone.
_OWNER_DIR = "/etc/cilium-bgp"


def claim_script(kind: str, owner: str) -> str:
    """Shell run after a successful activation: record ``owner`` as the writer of ``kind``'s file."""
    return f"mkdir -p {_OWNER_DIR}\nprintf '%s\\n' {shlex.quote(owner)} >{_OWNER_DIR}/{kind}.owner\n"


def remove_script(kind: str, owner: str) -> str:
    """What ``pulumi destroy`` runs: stop the daemon and remove the file this program wrote, unless
    another resource than ``owner`` has activated it since."""
    marker = f"{_OWNER_DIR}/{kind}.owner"
    return f"""\
set -u
# cilium-bgp: remove {kind} config
if [ -f {marker} ] && [ "$(cat {marker})" != {shlex.quote(owner)} ]; then
  echo "cilium-bgp: the {kind} config now belongs to $(cat {marker}); left in place"
  exit 0
fi
{_REMOVE[kind]}rm -f {marker}
rmdir {_OWNER_DIR} 2>/dev/null || true
"""


def status_script_source() -> str:
    return resources.files("cilium_bgp.hostscripts").joinpath("bgp_status.py").read_text()


def verify_command(daemon: Daemon, expect: dict[str, Any], timeout_seconds: int) -> str:
    """Command whose stdin is :func:`status_script_source`; fails when the deadline passes."""
    expect_json = json.dumps(expect, sort_keys=True, separators=(",", ":"))
    return f"python3 - --daemon {daemon} --timeout {timeout_seconds} --expect {shlex.quote(expect_json)}"
