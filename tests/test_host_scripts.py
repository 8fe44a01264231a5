"""The shell the program runs over SSH: shellcheck, and safe activation against the real tools.

Every run happens in a private mount and network namespace: ``/etc`` is a copy-on-write view of
the machine's (overlayfs, a private copy where overlayfs is refused), ``/run`` a private tmpfs, so
nothing reaches the machine's files, and ``sysctl`` changes only the private namespace. The real
``vtysh -C``, ``bgpd -C`` and ``bird -p`` check configs; no routing daemon is started here (the
lab tests do that: tests/lab/test_lab_activation_faults.py). The ``sysctl`` kind exercises the
whole activation path, rollback included, with the kernel's own ``sysctl -p`` as the daemon.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cilium_bgp.artifacts import sha256
from cilium_bgp.renderers.scripts import (
    BACKUP_SUFFIX,
    CONFIG_PATHS,
    KINDS,
    RUN_DIR,
    STATE_DIR,
    activate_script,
    activation_stdin,
    bgpd_complains,
    host_script,
    program_text,
    redact,
    remove_script,
    verify_command,
)
from cilium_bgp.renderers.sysctl import render_router_sysctl

HOSTSCRIPTS = Path(__file__).resolve().parent.parent / "cilium_bgp" / "hostscripts"
GOOD_FRR = "frr defaults traditional\nhostname router\n!\nrouter bgp 65100\n bgp router-id 192.168.121.16\nexit\n!\n"
GOOD_BIRD = "router id 10.0.1.10;\nprotocol device { scan time 10; }\n"
SYSCTL = CONFIG_PATHS["sysctl"]
OPERATORS = "# the operator's own settings\nnet.ipv4.ip_forward=0\n"


def all_commands() -> dict[str, str]:
    commands: dict[str, str] = {}
    for kind in KINDS:
        commands[f"activate-{kind}"] = activate_script(kind, sha256(kind))
        if kind in ("frr", "bird"):
            commands[f"install-and-activate-{kind}"] = activate_script(kind, sha256(kind), install=kind)  # type: ignore[arg-type]
        commands[f"remove-{kind}"] = remove_script(kind)
    commands["verify"] = verify_command("frr", {"peers": {}, "routes": {}}, 10)
    return commands


@pytest.mark.parametrize("name", sorted(all_commands()))
def test_commands_parse_as_posix_sh(name: str) -> None:
    shell = shutil.which("dash") or "sh"
    proc = subprocess.run([shell, "-n"], input=all_commands()[name], text=True, capture_output=True)
    assert proc.returncode == 0, f"{name}: {proc.stderr}"


def shellcheck(
    *args: str, stdin: str | None = None, dialect: tuple[str, ...] = ("-s", "sh"), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """shellcheck ``args``: as POSIX sh (what the hosts run) unless ``dialect`` says otherwise
    (``()``: each file's shebang)."""
    assert shutil.which("shellcheck"), "shellcheck is not installed (scripts/install-deps installs it)"
    return subprocess.run(["shellcheck", *dialect, *args], input=stdin, capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("script", sorted(p.name for p in HOSTSCRIPTS.glob("*.sh")))
def test_each_host_script_passes_shellcheck(script: str) -> None:
    proc = shellcheck(str(HOSTSCRIPTS / script))
    assert proc.returncode == 0, f"{script}:\n{proc.stdout}"


@pytest.mark.parametrize("main", ["activate.sh", "remove.sh"])
def test_each_command_as_sent_passes_shellcheck(main: str) -> None:
    """What a host runs is the libraries and one program joined: check that text too."""
    proc = shellcheck("-", stdin=program_text(main))
    assert proc.returncode == 0, f"{main} as sent:\n{proc.stdout}"


def test_no_shell_is_built_in_python() -> None:
    """Parameters travel as arguments: the joined program is the same for every stack."""
    a = activate_script("frr", sha256("a"), ("bgpd", "bfdd"), install="frr")
    b = activate_script("bird", sha256("b"))
    program = "\n".join(
        line for line in program_text("activate.sh").splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    assert a.split("\n", 1)[1].startswith("sh -c ") and b.split("\n", 1)[1].startswith("sh -c ")
    for command, args in (
        (a, ["frr", sha256("a"), "yes", "cilium-bgp", "bgpd", "bfdd"]),
        (b, ["bird", sha256("b"), "no", "cilium-bgp"]),
    ):
        words = shlex.split(command.split("\n", 1)[1])
        assert words[:4] == ["sh", "-c", program + "\n", "activate.sh"] and words[4:] == args, words[4:]


def test_script_embeds_the_content_hash() -> None:
    """Changed content changes the command (an update runs it); same content, same command (no-op)."""
    assert activate_script("frr", sha256("a")) == activate_script("frr", sha256("a"))
    assert activate_script("frr", sha256("a")) != activate_script("frr", sha256("b"))


def test_python_reads_the_one_definition_of_paths_and_checks() -> None:
    probe = subprocess.run(
        ["sh", "-c", host_script("lib.sh") + '\necho "$FRR_CONF $BIRD_CONF $SYSCTL_CONF $RUN_DIR $STATE_DIR"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == [CONFIG_PATHS["frr"], CONFIG_PATHS["bird"], SYSCTL, RUN_DIR, STATE_DIR]
    assert bgpd_complains("2026/01/01 BGP: loaded\n% Specify remote-as or peer-group commands first\n")
    assert bgpd_complains("Config Failed\n") and not bgpd_complains("2026/01/01 BGP: all fine\n")


REDACTIONS = [
    (" neighbor 10.0.1.10 password s3cr3t-value", " neighbor 10.0.1.10 password <redacted>"),
    ("no neighbor 10.0.1.10 password OLD-pw", "no neighbor 10.0.1.10 password <redacted>"),
    ('  password "two words; and more";', '  password "<redacted>'),
    ('auth-password = "gobgp pw"', 'auth-password = "<redacted>'),
    ("bgpPassword: yaml value", "bgpPassword: <redacted>"),
    ('{"password": "x y", "other": 1}', '{"password": "<redacted>'),
    ("nothing secret here", "nothing secret here"),
]


@pytest.mark.parametrize(("text", "expected"), REDACTIONS, ids=[t for t, _ in REDACTIONS])
def test_redaction_leaves_no_tail_of_a_password(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redaction_knows_the_passwords_of_the_configs_in_play(tmp_path: Path) -> None:
    """A checker may quote a mistyped line: the password is found by value, with no keyword."""
    conf = tmp_path / "bird.conf"
    conf.write_text('protocol bgp a { password "pw with; spaces"; }\nfrr:\n neighbor 10.0.1.10 password frr-pw-1\n')
    said = "line 3: % Unknown command: neighbor 10.0.1.10 passwrd frr-pw-1\nsyntax error near pw with; spaces\n"
    proc = subprocess.run(
        ["sh", "-c", host_script("redact.sh") + '\nredact "$1"', "sh", str(conf)],
        input=said,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "frr-pw-1" not in proc.stdout and "pw with" not in proc.stdout, proc.stdout
    assert proc.stdout.count("<redacted>") == 2, proc.stdout


# --- activation in a private mount and network namespace ---

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="activation tests need root for private namespaces")

# Runs inside `unshare --mount --net`: a copy-on-write /etc, a private /run, then $COMMAND.
NAMESPACE = r"""
set -e
scratch=$1
shift
mkdir -p "$scratch/upper" "$scratch/work"
if ! mount -t overlay cbgp-test -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc 2>/dev/null; then
  mkdir -p "$scratch/copy" && cp -a /etc/. "$scratch/copy/" && mount --bind "$scratch/copy" /etc
fi
mount -t tmpfs cbgp-test-run /run
mkdir -p /etc/frr /etc/bird
sh -c "$SETUP"
set +e
sh -c "$COMMAND" "$@"
echo "rc=$?" >"$scratch/rc"
sh -c "$AFTER"
"""


@dataclass
class Host:
    """A private /etc, /run and network namespace, reused by consecutive commands of one test."""

    scratch: Path

    def run(
        self,
        command: str,
        stdin: str = "",
        setup: str = "",
        after: str = "",
        args: tuple[str, ...] = (),
        timeout: float = 60,
    ) -> tuple[int, str, str]:
        env = {**os.environ, "COMMAND": command, "SETUP": setup, "AFTER": after}
        unshare = ["unshare", "--mount", "--net", "--propagation", "private"]
        proc = subprocess.run(
            [*unshare, "sh", "-c", NAMESPACE, "sh", str(self.scratch), *args],
            input=stdin,
            text=True,
            capture_output=True,
            env=env,
            timeout=timeout,
        )
        rc_file = self.scratch / "rc"
        assert rc_file.exists(), f"the namespace did not run the command:\n{proc.stderr}"
        rc = int(rc_file.read_text().strip().removeprefix("rc="))
        rc_file.unlink()
        return rc, proc.stdout, proc.stderr

    def etc(self, path: str) -> Path:
        """The host's view of ``path`` under /etc (what the overlay's upper layer holds)."""
        root = self.scratch / "upper" if (self.scratch / "upper").exists() else self.scratch / "copy"
        return root / path.removeprefix("/etc/")

    def read(self, path: str) -> str | None:
        """``path`` as the host sees it after the last command (None: absent or whited out)."""
        layer = self.etc(path)
        if layer.is_char_device():
            return None  # an overlayfs whiteout: deleted on the host
        if layer.is_file():
            return layer.read_text()
        real = Path(path)
        return real.read_text() if real.is_file() and not (self.scratch / "copy").exists() else None


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


SNAPSHOT = f"""
for f in {SYSCTL} {SYSCTL}{BACKUP_SUFFIX} {STATE_DIR}/sysctl.written; do
  [ -e "$f" ] && echo "file $f" || true
done
ls -A /etc/sysctl.d /etc/frr /etc/bird {RUN_DIR} 2>/dev/null | sed 's/^/ls /'
echo "forward $(sysctl -n net.ipv4.ip_forward)"
"""


def state(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key, []).append(value)
    return found


def push(host: Host, kind: str, text: str, *, stdin: str | None = None, setup: str = "", install: bool = False):
    command = activate_script(kind, sha256(text), install=kind if install else None)  # type: ignore[arg-type]
    return host.run(command, stdin=activation_stdin(text) if stdin is None else stdin, setup=setup, after=SNAPSHOT)


def existing(path: str, text: str) -> str:
    """Setup: ``path`` holds ``text`` before the command (an operator's file)."""
    return f"mkdir -p {os.path.dirname(path)} && printf '%s' {shlex.quote(text)} > {path}"


@needs_root
def test_sysctl_activation_backs_up_records_and_removes_only_its_own(host: Host) -> None:
    new = render_router_sysctl()
    rc, out, err = push(host, "sysctl", new, setup=existing(SYSCTL, OPERATORS))
    assert rc == 0, err
    assert host.read(SYSCTL) == new
    assert host.read(SYSCTL + BACKUP_SUFFIX) == OPERATORS, "the operator's file is kept once"
    assert "forward 1" in out, "the settings are applied"
    record = host.read(f"{STATE_DIR}/sysctl.written") or ""
    assert f"path={SYSCTL}\n" in record and f"sha256={sha256(new)}\n" in record, record
    # A second push with other content keeps the first backup as it was.
    second = new.replace("net.ipv4.ip_forward=1\n", "net.ipv4.ip_forward=1\nnet.ipv4.conf.all.rp_filter=0\n")
    assert push(host, "sysctl", second)[0] == 0
    assert host.read(SYSCTL + BACKUP_SUFFIX) == OPERATORS
    # destroy: our file goes, the operator's backup stays.
    rc, out, err = host.run(remove_script("sysctl"), after=SNAPSHOT)
    assert rc == 0, err
    assert host.read(SYSCTL) is None and host.read(SYSCTL + BACKUP_SUFFIX) == OPERATORS
    assert "kept as" in err, err


@needs_root
def test_remove_leaves_a_file_it_did_not_write(host: Host) -> None:
    rc, _, err = host.run(remove_script("sysctl"), setup=existing(SYSCTL, OPERATORS), after=SNAPSHOT)
    assert rc == 0, err
    assert host.read(SYSCTL) == OPERATORS, "destroy deleted a file this program never wrote"
    assert "not the file cilium-bgp wrote" in err
    # Written by us, then edited by someone: left in place too.
    assert push(host, "sysctl", render_router_sysctl())[0] == 0
    edited = "# edited by hand\nnet.ipv4.ip_forward=1\n"
    rc, _, err = host.run(remove_script("sysctl"), setup=existing(SYSCTL, edited))
    assert rc == 0 and host.read(SYSCTL) == edited, err


@needs_root
@pytest.mark.parametrize("cut", ["body", "header", "empty"])
def test_a_cut_transfer_changes_nothing(host: Host, cut: str) -> None:
    """A truncated sysctl file (whole lines, so a tool would accept it) never replaces the old one."""
    new = render_router_sysctl()
    framed = activation_stdin(new)
    stdin = {"body": framed[: framed.index("net.ipv6")], "header": framed[:30], "empty": ""}[cut]
    rc, out, err = push(host, "sysctl", new, stdin=stdin, setup=existing(SYSCTL, OPERATORS))
    assert rc == 1, f"a cut transfer was accepted:\n{err}"
    assert "nothing changed" in err, err
    assert host.read(SYSCTL) == OPERATORS and host.read(SYSCTL + BACKUP_SUFFIX) is None
    listed = state(out).get("ls", [])
    assert not [name for name in listed if name.startswith(".") or ".received." in name], listed


@needs_root
def test_a_failed_activation_rolls_back(host: Host) -> None:
    good = render_router_sysctl()
    assert push(host, "sysctl", good)[0] == 0
    bad = good.replace("net.ipv4.ip_forward=1\n", "net.ipv4.ip_forward=0\nnet.ipv4.no_such_setting=1\n")
    rc, out, err = push(host, "sysctl", bad)
    assert rc == 1, err
    assert "did not take the new" in err and "previous config is back in place and active" in err, err
    assert host.read(SYSCTL) == good, "the previous file is back"
    assert "forward 1" in out, "and its settings are what the kernel runs"
    assert f"sha256={sha256(good)}" in (host.read(f"{STATE_DIR}/sysctl.written") or ""), (
        "the record names the file in place"
    )


@needs_root
def test_activations_are_serialised_per_daemon(host: Host) -> None:
    """With the lock held (another activation at work), a push waits, then applies its file."""
    new = render_router_sysctl()
    hold = f"mkdir -p {RUN_DIR} && (flock {RUN_DIR}/sysctl.lock sleep 3 &) && sleep 0.5"
    began = time.monotonic()
    rc, _, err = push(host, "sysctl", new, setup=hold)
    assert rc == 0, err
    assert "waiting for another activation of sysctl" in err, err
    assert time.monotonic() - began >= 2, "the push did not wait for the lock"
    assert host.read(SYSCTL) == new


@needs_root
def test_a_killed_activation_leaves_no_secret_in_etc(host: Host) -> None:
    """SIGKILL while the file is arriving: whatever was received stays in the root-only /run."""
    command = activate_script("frr", sha256(GOOD_FRR))
    kill = (
        # Its own process group (setsid), so the kill reaches the script itself, not just its shell.
        f'setsid sh -c "$0" <&0 & pid=$!; sleep 1; kill -KILL -- -$pid; wait $pid 2>/dev/null; '
        f"stat -c 'mode %a %n' {RUN_DIR}; ls -A /etc/frr | sed 's/^/ls /'; "
        "grep -rl s3cr3t /etc 2>/dev/null | sed 's/^/secret /'"
    )
    # stdin stays open (a sleeping writer): the script is still receiving when it is killed.
    env_command = f"(printf 'cilium-bgp-sha256 %064d\\nneighbor x password s3cr3t\\n' 0; sleep 5) | {kill}"
    _, out, _ = host.run(env_command, args=(command,), timeout=60)
    found = state(out)
    assert found.get("mode") == [f"700 {RUN_DIR}"], out
    assert not found.get("secret"), f"the password reached /etc: {found['secret']}"
    assert [name for name in found.get("ls", []) if name.startswith(".")] == [], f"a temporary file in /etc/frr: {out}"


UNSUPPORTED = {
    "fedora": 'ID=fedora\nVERSION_ID=40\nID_LIKE=""\n',
    "amazon": 'ID="amzn"\nVERSION_ID="2023"\nID_LIKE="fedora"\n',
    "centos7": 'ID="centos"\nVERSION_ID="7"\nID_LIKE="rhel fedora"\n',
}


@needs_root
@pytest.mark.parametrize("distro", sorted(UNSUPPORTED))
def test_unsupported_distributions_are_refused_before_any_change(host: Host, distro: str) -> None:
    release = UNSUPPORTED[distro]
    setup = f"rm -f /etc/os-release && printf '%s' {shlex.quote(release)} > /etc/os-release"
    rc, out, err = push(host, "sysctl", render_router_sysctl(), setup=setup)
    assert rc == 1, err
    found_id = release.split("\n")[0].split("=")[1].strip('"')
    assert f"unsupported distribution: ID={found_id}" in err and "nothing changed" in err, err
    assert host.read(SYSCTL) is None and not state(out).get("file"), out


@needs_root
def test_fsync_before_rename(host: Host) -> None:
    assert shutil.which("strace"), "strace is missing (bash scripts/install-deps installs it)"
    command = activate_script("sysctl", sha256(render_router_sysctl()))
    traced = 'strace -f -e trace=fsync,fdatasync,rename,renameat,renameat2,openat -o "$0" sh -c "$1"'
    rc, _, err = host.run(
        traced, stdin=activation_stdin(render_router_sysctl()), args=(str(host.scratch / "trace"), command)
    )
    assert rc == 0, err
    lines = (host.scratch / "trace").read_text().splitlines()
    renamed = next(i for i, line in enumerate(lines) if "rename" in line and SYSCTL + '"' in line)
    temp = lines[renamed].split('"')[1]
    opened = [i for i, line in enumerate(lines[:renamed]) if "openat" in line and temp in line]
    synced = [i for i, line in enumerate(lines[:renamed]) if "fsync" in line or "fdatasync" in line]
    assert opened and synced and max(synced) > max(opened), "the new file is not synced before its rename"


@needs_root
def test_broken_frr_conf_never_replaces_the_working_one(host: Host) -> None:
    assert shutil.which("vtysh"), "frr is not installed (scripts/install-deps installs it)"
    broken = GOOD_FRR.replace(" bgp router-id", " bgp routr-id") + "neighbor 10.0.1.10 password s3cr3t-value\n"
    rc, _, err = push(host, "frr", broken, setup=existing(CONFIG_PATHS["frr"], GOOD_FRR), install=True)
    assert rc == 1
    assert "new /etc/frr/frr.conf rejected by `vtysh -C -f, bgpd -C`; the running config is unchanged" in err
    assert "Unknown command" in err, f"the checker's own message is shown: {err}"
    assert "s3cr3t-value" not in err, "checker output is redacted"
    assert host.read(CONFIG_PATHS["frr"]) == GOOD_FRR, "the working config stays in place"


@needs_root
def test_frr_conf_vtysh_accepts_but_bgpd_refuses_is_rejected(host: Host) -> None:
    """vtysh -C passes a per-neighbor line placed before the neighbor exists; bgpd -C does not."""
    misplaced = GOOD_FRR.replace(
        " bgp router-id 192.168.121.16\n", " bgp router-id 192.168.121.16\n neighbor 10.0.1.10 timers connect 5\n"
    )
    assert subprocess.run(["vtysh", "-C", "-f", "/dev/stdin"], input=misplaced, text=True).returncode == 0
    rc, _, err = push(host, "frr", misplaced, setup=existing(CONFIG_PATHS["frr"], GOOD_FRR))
    assert rc == 1
    assert "% Specify remote-as or peer-group commands first" in err, err
    assert host.read(CONFIG_PATHS["frr"]) == GOOD_FRR


@needs_root
def test_broken_bird_conf_never_replaces_the_working_one(host: Host) -> None:
    assert shutil.which("bird"), "bird2 is not installed (scripts/install-deps installs it)"
    broken = GOOD_BIRD + 'protocol bgp uplink0 { password "s3cr3t value"; neighbr 10.0.1.2 as 65100; }\n'
    rc, _, err = push(host, "bird", broken, setup=existing(CONFIG_PATHS["bird"], GOOD_BIRD), install=True)
    assert rc == 1
    assert "new /etc/bird/bird.conf rejected by `bird -p -c`; the running config is unchanged" in err
    assert "syntax error" in err, f"the checker's own message is shown: {err}"
    assert "s3cr3t" not in err and "value" not in err.split("rejected", 1)[1], err
    assert host.read(CONFIG_PATHS["bird"]) == GOOD_BIRD


@needs_root
@pytest.mark.parametrize("kind", KINDS)
def test_remove_leaves_a_file_another_resource_activated_since(host: Host, kind: str) -> None:
    """A renamed node's old resource is deleted after the new one activated the same file."""
    conf = CONFIG_PATHS[kind]
    setup = (
        existing(conf, "written by the new resource\n")
        + " && "
        + existing(f"{STATE_DIR}/{kind}.owner", "cilium-bgp/s/node2-renamed-x\n")
    )
    rc, _, err = host.run(remove_script(kind, "cilium-bgp/s/node2-x"), setup=setup)
    assert rc == 0, err
    assert f"the {kind} config now belongs to cilium-bgp/s/node2-renamed-x; left in place" in err, err
    assert host.read(conf) == "written by the new resource\n"
    assert host.read(f"{STATE_DIR}/{kind}.owner") == "cilium-bgp/s/node2-renamed-x\n"


@needs_root
def test_remove_takes_its_own_file_and_records(host: Host) -> None:
    owner = "cilium-bgp/s/router-sysctl"
    command = activate_script("sysctl", sha256(render_router_sysctl()), owner=owner)
    assert host.run(command, stdin=activation_stdin(render_router_sysctl()))[0] == 0
    assert host.read(f"{STATE_DIR}/sysctl.owner") == owner + "\n"
    rc, _, err = host.run(remove_script("sysctl", owner), after=f"ls -A {STATE_DIR} 2>/dev/null | sed 's/^/left /'")
    assert rc == 0, err
    assert host.read(SYSCTL) is None and host.read(f"{STATE_DIR}/sysctl.owner") is None
    assert host.read(f"{STATE_DIR}/sysctl.written") is None


def repository_shell_scripts() -> list[str]:
    """Every shell script of the repository (install, lab, CI), by its shebang."""
    root = HOSTSCRIPTS.parents[1]
    candidates = [*root.glob("scripts/*"), root / ".ci" / "run", *root.glob("lab/**/*.sh")]
    return sorted(
        str(p.relative_to(root))
        for p in candidates
        if p.is_file() and p.read_text(errors="replace").startswith(("#!/usr/bin/env bash", "#!/bin/sh"))
    )


@pytest.mark.parametrize("script", repository_shell_scripts())
def test_each_repository_script_passes_shellcheck(script: str) -> None:
    proc = shellcheck("-x", script, dialect=(), cwd=HOSTSCRIPTS.parents[1])
    assert proc.returncode == 0, f"{script}:\n{proc.stdout}"
