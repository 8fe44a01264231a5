"""Everything we render is valid for the Cilium release it targets, by upstream schemas.

Cilium kinds against the CRD served in that release (``openAPIV3Schema``), core kinds with
kubernetes-validate, Helm values against the chart's ``values.schema.json`` (1.16+) and, for every
release, each rendered key against the chart's ``values.yaml``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from reference import chart_values, crd_schema, values_schema
from stacks import ALL_STACKS, carved_pod_cidrs, stack_id

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.renderers.helm_values import render_helm_values
from cilium_bgp.stackfile import load_stack_file
from cilium_bgp.versions import Version

KUBERNETES_VERSION = "1.33"


def manifests_of(stack: Path) -> list[dict[str, Any]]:
    cfg = load_stack_file(stack)
    files = render_artifacts(cfg, carved_pod_cidrs(cfg) if cfg.pod_cidr_source == "cluster" else None)
    return [yaml.safe_load(text) for rel, text in sorted(files.items()) if rel.startswith("manifests/")]


CASES = [(stack, obj) for stack in ALL_STACKS for obj in manifests_of(stack)]


def case_id(case: tuple[Path, dict[str, Any]]) -> str:
    stack, obj = case
    return f"{stack_id(stack)}-{obj['kind']}-{obj['metadata']['name']}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_object_is_valid(case: tuple[Path, dict[str, Any]]) -> None:
    stack, obj = case
    if obj["apiVersion"].startswith("cilium.io/"):
        version = load_stack_file(stack).cilium.version
        schema = crd_schema(version, obj["kind"], obj["apiVersion"])
        jsonschema.validate(obj, schema, cls=jsonschema.Draft7Validator)
    else:
        # Raises kubernetes_validate.ValidationError on an invalid object.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_wrong_object_is_caught() -> None:
    """The validators above do reject: a v1 neighbor without peerASN, a Service with a bad port."""
    stack = next(s for s in ALL_STACKS if stack_id(s) == "v1-1.16")
    policy = next(o for o in manifests_of(stack) if o["kind"] == "CiliumBGPPeeringPolicy")
    del policy["spec"]["virtualRouters"][0]["neighbors"][0]["peerASN"]
    with pytest.raises(jsonschema.ValidationError, match="peerASN"):
        jsonschema.validate(policy, crd_schema("1.16.15", policy["kind"], policy["apiVersion"]))
    service = next(o for o in manifests_of(stack) if o["kind"] == "Service")
    service["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def _paths(values: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        out = []
        for key, sub in values.items():
            out.append((*prefix, key))
            out += _paths(sub, (*prefix, key))
        return out
    return []


def chart_has(cilium_version: str, path: tuple[str, ...]) -> bool:
    """``path`` is a key of the chart's values.yaml, set or documented as a commented-out key."""
    values_text, node = chart_values(cilium_version)
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    if isinstance(node, dict) and path[-1] in node:
        return True
    indent = "  " * (len(path) - 1)
    return re.search(rf"^{indent}# ?{re.escape(path[-1])}:", values_text, re.MULTILINE) is not None


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_helm_values_keys_exist_in_the_chart(stack: Path) -> None:
    cfg = load_stack_file(stack)
    missing = [".".join(p) for p in _paths(render_helm_values(cfg)) if not chart_has(cfg.cilium.version, p)]
    assert not missing, f"Cilium {cfg.cilium.version}'s chart has no {missing}"


@pytest.mark.parametrize("stack", [s for s in ALL_STACKS if load_stack_file(s).version >= Version(1, 16)], ids=stack_id)
def test_helm_values_match_the_chart_schema(stack: Path) -> None:
    cfg = load_stack_file(stack)
    jsonschema.validate(render_helm_values(cfg), values_schema(cfg.cilium.version), cls=jsonschema.Draft7Validator)


def test_chart_key_check_rejects_removed_keys() -> None:
    assert chart_has("1.13.12", ("tunnel",))
    assert not chart_has("1.16.15", ("tunnel",))
    assert chart_has("1.16.15", ("kubeProxyReplacement",))
    assert not chart_has("1.18.10", ("hostPort",))
