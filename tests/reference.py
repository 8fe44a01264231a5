"""Upstream Cilium data files (CRD YAMLs, chart ``values.schema.json``) the tests validate against.

Looked up, in order, in ``$CILIUM_REFERENCE_DIR``, in ``shared/reference/cilium`` beside the
checkout (how these machines provide them), and in the Go module cache filled by
``scripts/fetch-cilium-reference`` (the cilium/cilium module zip from the Go module proxy).
Never vendored: they are Cilium's files, not ours.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = "pkg/k8s/apis/cilium.io/client/crds"
SCHEMA = "install/kubernetes/cilium/values.schema.json"
VALUES = "install/kubernetes/cilium/values.yaml"


def _candidates() -> list[Path]:
    found = []
    if os.environ.get("CILIUM_REFERENCE_DIR"):
        found.append(Path(os.environ["CILIUM_REFERENCE_DIR"]))
    for parent in (ROOT, *ROOT.parents):
        found.append(parent / "shared" / "reference" / "cilium")
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cilium-bgp" / "cilium-reference"
    found.append(cache_dir)
    return [c for c in found if c.is_dir()]


def _patch(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name[1:].split("."))


@cache
def release_dir(cilium_version: str, needs: str = CRD_DIR) -> Path:
    """Upstream files of ``cilium_version`` holding ``needs``: that release if present, else the
    newest patch release of the same minor."""
    minor = ".".join(cilium_version.split(".")[:2])
    best: Path | None = None
    for base in _candidates():
        exact = base / f"v{cilium_version}"
        if (exact / needs).exists():
            return exact
        for path in base.glob(f"v{minor}.*"):
            if path.name.count(".") != 2 or not (path / needs).exists():
                continue
            if best is None or _patch(path.name) > _patch(best.name):
                best = path
    if best is None:
        pytest.fail(
            f"upstream Cilium {needs} for {cilium_version} not found (looked in {[str(c) for c in _candidates()]}); "
            "run scripts/fetch-cilium-reference or set CILIUM_REFERENCE_DIR"
        )
    return best


@cache
def crd_schema(cilium_version: str, kind: str, api_version: str) -> dict:
    """The openAPIV3Schema of ``kind`` served at ``api_version`` (e.g. cilium.io/v2)."""
    base = release_dir(cilium_version) / CRD_DIR
    for path in sorted(base.glob("*/*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] != kind:
            continue
        for served in crd["spec"]["versions"]:
            if f"{crd['spec']['group']}/{served['name']}" == api_version and served.get("served", True):
                return served["schema"]["openAPIV3Schema"]
    pytest.fail(f"Cilium {cilium_version} serves no {kind} at {api_version} (looked in {base})")


def values_schema(cilium_version: str) -> dict:
    """The chart's ``values.schema.json`` (shipped from 1.16.0)."""
    return json.loads((release_dir(cilium_version, SCHEMA) / SCHEMA).read_text())


@cache
def chart_values(cilium_version: str) -> tuple[str, dict]:
    """The chart's ``values.yaml``: its text (commented-out keys document options) and its data."""
    text = (release_dir(cilium_version, VALUES) / VALUES).read_text()
    return text, yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
