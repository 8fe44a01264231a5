"""Which cluster releases the lab builds: Cilium's nearest served patch, and install-cluster's
command line (no build: these run without Go or network)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.k8s import versions
from lab.k8s.binaries import CiliumBinaries, cluster_dir
from lab.k8s.versions import CILIUM_BUILDS, CILIUM_REFUSED, UnservedVersion, cilium_build, substitution_note

ROOT = Path(__file__).resolve().parent.parent
INSTALL_CLUSTER = ROOT / "scripts" / "install-cluster"


@pytest.mark.parametrize(
    ("requested", "built"),
    [
        ("1.18", "1.18.3"),  # a bare minor: the minor's default
        ("v1.16", "1.16.19"),
        ("1.15.19", "1.15.19"),  # builds: itself
        ("1.16.15", "1.16.19"),  # not served: the only 1.16 that builds
        ("1.14.16", "1.14.19"),
        ("1.15.10", "1.15.7"),  # nearer to .7 than to .19
        ("1.15.15", "1.15.19"),
        ("1.15.13", "1.15.19"),  # as near to .7 as to .19: the newer
        ("1.17.14", "1.17.8"),  # served, but needs a module the proxy refuses
        ("1.18.10", "1.18.3"),
    ],
)
def test_cilium_release_maps_to_the_nearest_release_that_builds(requested: str, built: str) -> None:
    assert cilium_build(requested) == built


def test_every_minor_default_is_a_build_and_no_refused_release_is_one() -> None:
    for minor, builds in CILIUM_BUILDS.items():
        assert builds and all(b.startswith(minor + ".") for b in builds), (minor, builds)
        assert cilium_build(minor) == builds[0]
    assert not set(CILIUM_REFUSED) & {b for builds in CILIUM_BUILDS.values() for b in builds}


def test_an_unbuildable_minor_says_why() -> None:
    with pytest.raises(UnservedVersion, match=r"Cilium 1\.12\.3: no 1\.12\.x release .*: 1\.14, 1\.15"):
        cilium_build("1.12.3")
    with pytest.raises(
        UnservedVersion, match=r"Cilium 1\.13\.12: no 1\.13\.x .*1\.13\.18 needs github.com/cilium/proxy"
    ):
        cilium_build("1.13.12")
    with pytest.raises(ValueError, match="not a Cilium version"):
        cilium_build("latest")


def test_a_substitute_release_is_explained() -> None:
    assert substitution_note("1.18", "1.18.3") is None
    assert substitution_note("1.18.3", "1.18.3") is None
    note = substitution_note("1.17.14", "1.17.8")
    assert note == (
        "Cilium 1.17.14 cannot be built here (it needs k8s.io/endpointslice v0.32.13, which the proxy refuses):"
        " 1.17.8 stands for it"
    )
    assert "the proxy does not serve it" in str(substitution_note("1.16.15", "1.16.19"))


def test_the_command_line_resolves_for_install_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert versions.main(["cilium", "1.18", "1.16.15"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["1.18.3", "1.16.19"]
    assert "1.16.19 stands for it" in err
    assert versions.main(["pins"]) == 0
    pins = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert pins == {"etcd": "3.6.16", "kubernetes": "1.34.4", "kwok": "0.8.0", "kube-router": "2.1.0", "helm": "3.18.6"}
    assert versions.main(["cilium", "2.0"]) == 2
    assert "no 2.0.x release" in capsys.readouterr().err


def test_binaries_live_where_install_cluster_puts_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CILIUM_BGP_CLUSTER_DIR", str(tmp_path))
    assert cluster_dir() == tmp_path
    build = CiliumBinaries.for_version("1.16.15")
    assert build.operator == tmp_path / "cilium" / "1.16.19" / "bin" / "cilium-operator-generic"
    monkeypatch.delenv("CILIUM_BGP_CLUSTER_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cluster_dir() == tmp_path / "xdg" / "cilium-bgp" / "cluster"


def _install_cluster(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_CLUSTER), *args], capture_output=True, text=True, env={**os.environ, **env}, check=False
    )


def test_install_cluster_prints_its_bin_dir(tmp_path: Path) -> None:
    done = _install_cluster("--print-path", env={"CILIUM_BGP_CLUSTER_DIR": str(tmp_path / "c")})
    assert (done.returncode, done.stdout) == (0, f"{tmp_path / 'c' / 'bin'}\n")
    assert not (tmp_path / "c").exists(), "--print-path builds nothing"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing asked"),
        (("--bogus",), "unknown argument: --bogus"),
        (("--cilium", "1.13"), "no 1.13.x release can be built here"),
    ],
)
def test_install_cluster_refuses_bad_requests(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = _install_cluster(*args, env={"CILIUM_BGP_CLUSTER_DIR": str(tmp_path / "c")})
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert done.stdout == ""


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_install_cluster_is_shellcheck_clean() -> None:
    done = subprocess.run(["shellcheck", str(INSTALL_CLUSTER)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
