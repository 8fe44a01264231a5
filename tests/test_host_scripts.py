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
from cilium_bgp.renderers.scripts import TARGETS, activate_script, claim_script, remove_script, verify_command

GOOD_FRR = "frr defaults traditional\nhostname router\n!\nrouter bgp 65100\n bgp router-id 192.168.121.16\nexit\n!\n"
GOOD_BIRD = "router id 10.0.1.10;\nprotocol device { scan time 10; }\n"


def all_scripts() -> dict[str, str]:
    scripts: dict[str, str] = {}
    for kind in TARGETS:
        scripts[f"activate-{kind}"] = activate_script(kind, sha256(kind))
        if kind in ("frr", "bird"):
            scripts[f"install-and-activate-{kind}"] = activate_script(kind, sha256(kind), install=kind)  # type: ignore[arg-type]
        scripts[f"claim-{kind}"] = claim_script(kind, f"cilium-bgp/test/router-{kind}")
        scripts[f"remove-{kind}"] = remove_script(kind, f"cilium-bgp/test/router-{kind}")
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


def remove_in_scratch_etc(kind: str, owner: str, marker: str | None, tmp_path: Path) -> tuple[int, str, list[str]]:
    """Run ``remove_script(kind, owner)`` with /etc and /run scratch tmpfs (no daemon reachable),
    holding ``kind``'s file and, unless None, an owner marker saying ``marker``; what is left."""
    conf = {"frr": "/etc/frr/frr.conf", "bird": "/etc/bird/bird.conf", "sysctl": "/etc/sysctl.d/90-cilium-bgp.conf"}
    wrapper = f"""
set -e
mount -t tmpfs scratch /etc
mount -t tmpfs scratch /run
mkdir -p "$(dirname {conf[kind]})" /etc/cilium-bgp
echo old > {conf[kind]}
if [ -n "$MARKER" ]; then printf '%s\\n' "$MARKER" > /etc/cilium-bgp/{kind}.owner; fi
set +e
sh -c "$SCRIPT"
rc=$?
find /etc -type f | sort > {tmp_path}/left
exit $rc
"""
    env = {**os.environ, "SCRIPT": remove_script(kind, owner), "MARKER": marker or ""}
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper],
        text=True,
        capture_output=True,
        env=env,
        timeout=60,
    )
    return proc.returncode, proc.stdout, (tmp_path / "left").read_text().split()


@needs_root
@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_remove_leaves_a_file_another_resource_activated_since(kind: str, tmp_path: Path) -> None:
    """A renamed node's old resource is deleted after the new one activated the same file."""
    rc, out, left = remove_in_scratch_etc(kind, "cilium-bgp/s/node2-x", "cilium-bgp/s/node2-renamed-x", tmp_path)
    assert rc == 0
    assert "now belongs to cilium-bgp/s/node2-renamed-x; left in place" in out
    assert len(left) == 2, f"the file and its marker stay: {left}"


@needs_root
@pytest.mark.parametrize("marker", ["cilium-bgp/s/node2-x", None], ids=["own-marker", "no-marker"])
def test_remove_takes_its_own_file_and_marker(marker: str | None, tmp_path: Path) -> None:
    rc, out, left = remove_in_scratch_etc("bird", "cilium-bgp/s/node2-x", marker, tmp_path)
    assert rc == 0, out
    assert left == [], f"left behind: {left}"
