"""The shell the program runs over SSH: syntax, and safe activation against the real checkers.

Activation tests run the exact script inside a private mount namespace whose /etc/frr or
/etc/bird is a scratch tmpfs, with the real ``vtysh -C`` and ``bird -p``; they never start a
daemon (the broken config stops the script before that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cilium_bgp.artifacts import sha256
from cilium_bgp.renderers.scripts import TARGETS, activate_script, remove_script, verify_command

GOOD_FRR = "frr defaults traditional\nhostname router\n!\nrouter bgp 65100\n bgp router-id 192.168.121.16\nexit\n!\n"
GOOD_BIRD = "router id 10.0.1.10;\nprotocol device { scan time 10; }\n"


def all_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for kind in TARGETS:
        scripts[f"activate-{kind}"] = activate_script(kind, sha256(kind))
        if kind in ("frr", "bird"):
            scripts[f"install-and-activate-{kind}"] = activate_script(kind, sha256(kind), install=kind)  # type: ignore[arg-type]
        scripts[f"remove-{kind}"] = remove_script(kind)
    scripts["verify"] = verify_command("frr", {"peers": {}, "routes": {}}, 10)
    return scripts


@pytest.mark.parametrize("name", sorted(all_scripts()))
def test_scripts_parse_as_posix_sh(name: str) -> None:
    shell = shutil.which("dash") or "sh"
    proc = subprocess.run([shell, "-n"], input=all_scripts()[name], text=True, capture_output=True)
    assert proc.returncode == 0, f"{name}: {proc.stderr}"


def test_script_embeds_the_content_hash() -> None:
    """Changed content changes the command (an update runs it); same content, same command (no-op)."""
    assert activate_script("frr", sha256("a")) == activate_script("frr", sha256("a"))
    assert activate_script("frr", sha256("a")) != activate_script("frr", sha256("b"))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="activation tests need root for a private mount namespace")


def activate_in_scratch_etc(kind: str, etc_dir: str, existing: str, new: str, tmp_path: Path) -> tuple[int, str, str]:
    """Run ``activate_script(kind)`` with ``new`` on stdin, ``etc_dir`` a tmpfs holding ``existing``."""
    # As the components run it: the daemon's install check first, then the safe activation.
    script = activate_script(kind, sha256(new), install=kind)  # type: ignore[arg-type]
    conf_name = {"frr": "frr.conf", "bird": "bird.conf"}[kind]
    probe = tmp_path / "after"
    wrapper = f"""
set -e
mount -t tmpfs scratch {etc_dir}
printf '%s' "$EXISTING" > {etc_dir}/{conf_name}
set +e
sh -c "$SCRIPT"
rc=$?
cat {etc_dir}/{conf_name} > {probe}
ls -A {etc_dir} > {probe}.ls
exit $rc
"""
    env = {**os.environ, "SCRIPT": script, "EXISTING": existing}
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper],
        input=new,
        text=True,
        capture_output=True,
        env=env,
        timeout=60,
    )
    return proc.returncode, proc.stderr, probe.read_text() + "\n--\n" + (tmp_path / "after.ls").read_text()


@needs_root
def test_broken_frr_conf_never_replaces_the_working_one(tmp_path: Path) -> None:
    assert shutil.which("vtysh"), "frr is not installed (.ci/run installs it)"
    Path("/etc/frr").mkdir(exist_ok=True)
    broken = GOOD_FRR.replace(" bgp router-id", " bgp routr-id") + "neighbor 10.0.1.10 password s3cr3t-value\n"
    rc, err, after = activate_in_scratch_etc("frr", "/etc/frr", GOOD_FRR, broken, tmp_path)
    assert rc == 1
    assert "new /etc/frr/frr.conf rejected by `vtysh -C -f, bgpd -C`; the running config is unchanged" in err
    assert "Unknown command" in err, f"the checker's own message is shown: {err}"
    assert "s3cr3t-value" not in err, "checker output is redacted"
    content, listing = after.split("\n--\n")
    assert content == GOOD_FRR, "the working config stays in place"
    assert listing.split() == ["frr.conf"], "no temporary file is left behind"


@needs_root
def test_frr_conf_vtysh_accepts_but_bgpd_refuses_is_rejected(tmp_path: Path) -> None:
    """vtysh -C passes a per-neighbor line placed before the neighbor exists; bgpd -C does not."""
    assert shutil.which("vtysh"), "frr is not installed (.ci/run installs it)"
    misplaced = GOOD_FRR.replace(
        " bgp router-id 192.168.121.16\n", " bgp router-id 192.168.121.16\n neighbor 10.0.1.10 timers connect 5\n"
    )
    assert subprocess.run(["vtysh", "-C", "-f", "/dev/stdin"], input=misplaced, text=True).returncode == 0
    rc, err, after = activate_in_scratch_etc("frr", "/etc/frr", GOOD_FRR, misplaced, tmp_path)
    assert rc == 1
    assert "% Specify remote-as or peer-group commands first" in err, err
    assert after.split("\n--\n")[0] == GOOD_FRR


@needs_root
def test_broken_bird_conf_never_replaces_the_working_one(tmp_path: Path) -> None:
    assert shutil.which("bird"), "bird2 is not installed (.ci/run installs it)"
    Path("/etc/bird").mkdir(exist_ok=True)
    broken = GOOD_BIRD + 'protocol bgp uplink0 { password "s3cr3t-value"; neighbr 10.0.1.2 as 65100; }\n'
    rc, err, after = activate_in_scratch_etc("bird", "/etc/bird", GOOD_BIRD, broken, tmp_path)
    assert rc == 1
    assert "new /etc/bird/bird.conf rejected by `bird -p -c`; the running config is unchanged" in err
    assert "syntax error" in err, f"the checker's own message is shown: {err}"
    assert "s3cr3t-value" not in err
    content, listing = after.split("\n--\n")
    assert content == GOOD_BIRD
    assert listing.split() == ["bird.conf"]
