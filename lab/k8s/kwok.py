"""kwok's Stage objects for the lab: the module's own, with every pod stage narrowed to the pods the
lab does not run for real (``lab.k8s.pods.REAL_PODS``).

kwok ships its stages with ``kustomize/stage`` (``install-cluster`` copies ``node/fast``,
``node/heartbeat`` and ``pod/fast``); their pod stages apply to every pod on a node kwok manages:
``pod-ready`` would turn the Cilium operator's pods Ready before any operator runs, and
``pod-delete`` would remove them before the lab stopped what they stand for. Each pod stage gets
one more ``NotIn`` requirement per real kind (a pod without the label passes ``NotIn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lab.k8s.pods import PodKind
from lab.shell import LabError


def exclusion(kind: PodKind) -> dict[str, Any]:
    """A kwok selector requirement (a jq query on the object) that a pod of ``kind`` fails."""
    return {"key": f'.metadata.labels["{kind.label}"]', "operator": "NotIn", "values": [kind.value]}


def narrowed(stage: dict[str, Any], kinds: Sequence[PodKind]) -> dict[str, Any]:
    """``stage`` unchanged unless it acts on Pods; then also requiring a pod of none of ``kinds``."""
    spec = stage.get("spec") or {}
    if (spec.get("resourceRef") or {}).get("kind") != "Pod":
        return stage
    selector = spec.setdefault("selector", {})
    selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *(exclusion(k) for k in kinds)]
    return stage


def lab_stages(upstream: Sequence[Path], directory: Path, kinds: Sequence[PodKind]) -> list[Path]:
    """Write the module's stages, pod stages narrowed, into ``directory``; the files for ``--config``."""
    if not upstream:
        raise LabError("no kwok stages to start from (run `scripts/install-cluster --control-plane`)")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path in upstream:
        stage = yaml.safe_load(path.read_text())
        if not isinstance(stage, dict) or stage.get("kind") != "Stage":
            raise LabError(f"{path}: not a kwok Stage object")
        target = directory / path.name
        target.write_text(yaml.safe_dump(narrowed(stage, kinds), sort_keys=False))
        written.append(target)
    return written
