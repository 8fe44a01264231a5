"""Where ``scripts/install-cluster`` keeps the cluster's binaries, and a check that they are there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lab.k8s.versions import cilium_build
from lab.shell import LabError

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def cluster_dir() -> Path:
    """The cache root, as install-cluster computes it."""
    if "CILIUM_BGP_CLUSTER_DIR" in os.environ:
        return Path(os.environ["CILIUM_BGP_CLUSTER_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cilium-bgp" / "cluster"


def _missing(paths: list[Path], how: str) -> None:
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        raise LabError(f"not built: {', '.join(absent)} (run `scripts/install-cluster {how}`)")


@dataclass(frozen=True)
class ControlPlaneBinaries:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def binary(self, name: str) -> Path:
        return self.bin / name

    @property
    def kwok_stages(self) -> list[Path]:
        """kwok's Stage objects (nodes turn Ready and keep a heartbeat; pods turn Running and Ready)."""
        return sorted((self.root / "kwok" / "stages").glob("*.yaml"))

    def require(self) -> ControlPlaneBinaries:
        _missing([self.binary(name) for name in CONTROL_PLANE], "--control-plane")
        if not self.kwok_stages:
            raise LabError(
                f"no kwok stages in {self.root / 'kwok' / 'stages'} (run `scripts/install-cluster --control-plane`)"
            )
        return self


@dataclass(frozen=True)
class CiliumBinaries:
    """One Cilium release's build: the agent, the operator, the CNI plugin, the datapath sources,
    the chart, and the clang/llc directory that goes first on the agent's PATH."""

    release: str
    root: Path

    @classmethod
    def for_version(cls, requested: str, root: Path | None = None) -> CiliumBinaries:
        """The build that stands for ``requested`` (the stack's release): the nearest one served."""
        release = cilium_build(requested)
        return cls(release, (root or cluster_dir()) / "cilium" / release)

    @property
    def agent(self) -> Path:
        return self.root / "bin" / "cilium-agent"

    @property
    def operator(self) -> Path:
        return self.root / "bin" / "cilium-operator-generic"

    @property
    def cni(self) -> Path:
        return self.root / "bin" / "cilium-cni"

    @property
    def bpf(self) -> Path:
        return self.root / "bpf"

    @property
    def chart(self) -> Path:
        return self.root / "chart"

    @property
    def tool_path(self) -> Path:
        return self.root / "path"

    def require(self) -> CiliumBinaries:
        _missing(
            [self.agent, self.operator, self.cni, self.bpf, self.chart, self.tool_path], f"--cilium {self.release}"
        )
        return self


def control_plane_binaries(root: Path | None = None) -> ControlPlaneBinaries:
    return ControlPlaneBinaries(root or cluster_dir())
