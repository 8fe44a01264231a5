"""Kubernetes objects registered exactly as rendered: one resource per manifest dict.

The rendered dict (camelCase, as ``kubectl`` takes it) goes to the provider unchanged, so what the
render command writes and what ``pulumi up`` applies cannot drift. Each object is registered as
pulumi-kubernetes' own class for its kind (``core.v1.ConfigMap``, ``apps.v1.DaemonSet``, ...) or,
for Cilium's kinds, as ``apiextensions.CustomResource``; either way its type token is
``kubernetes:<group>/<version>:<Kind>`` (``core`` for the legacy group).

Cilium 1.18 moved its BGP v2 kinds and CiliumLoadBalancerIPPool from ``cilium.io/v2alpha1`` to
``cilium.io/v2``: the same object under a new type token. Each such object carries an alias from
the other API version's token, so moving a stack across 1.18 updates the live object in place
instead of creating it anew and then deleting it under its old URN (which deletes the live object).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from types import ModuleType
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cilium_bgp.secrets import referenced_secrets, reveal

# Objects whose content is the whole point: a changed ConfigMap must be replaced, and names are
# fixed, so the old one has to go first.
_REPLACE_FIRST = {"ConfigMap", "Secret"}
# pulumi-kubernetes' modules for the API versions the program renders outside Cilium's group.
_TYPED: dict[str, ModuleType] = {"v1": k8s.core.v1, "apps/v1": k8s.apps.v1, "rbac.authorization.k8s.io/v1": k8s.rbac.v1}
# Kinds served as cilium.io/v2alpha1 before Cilium 1.18 and as cilium.io/v2 from it
# (cilium_bgp.versions.bgp_crd_api_version), and the other version of each.
PROMOTED_KINDS = frozenset(
    {
        "CiliumBGPClusterConfig",
        "CiliumBGPPeerConfig",
        "CiliumBGPAdvertisement",
        "CiliumBGPNodeConfigOverride",
        "CiliumLoadBalancerIPPool",
    }
)
_OTHER_VERSION = {"cilium.io/v2alpha1": "cilium.io/v2", "cilium.io/v2": "cilium.io/v2alpha1"}


def type_token(obj: Mapping[str, Any]) -> str:
    api = str(obj["apiVersion"])
    group_version = api if "/" in api else f"core/{api}"
    # The program never creates a Node: a Node manifest is a server-side-apply patch of one.
    kind = "NodePatch" if obj["kind"] == "Node" else obj["kind"]
    return f"kubernetes:{group_version}:{kind}"


def aliases(obj: Mapping[str, Any]) -> list[pulumi.Alias]:
    """The object under the other API version of its kind, for kinds Cilium 1.18 promoted."""
    other = _OTHER_VERSION.get(str(obj["apiVersion"]))
    if other is None or obj["kind"] not in PROMOTED_KINDS:
        return []
    return [pulumi.Alias(type_=type_token({**obj, "apiVersion": other}))]


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


class KubernetesObject:
    """One rendered manifest, registered as ``resource`` (its typed outputs, e.g. a Service's
    ``status.load_balancer``, are the live object's)."""

    resource: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        obj: Mapping[str, Any],
        *,
        secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        fields: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        secret_outputs = set()
        for key, value in obj.items():
            refs = _referenced(value)
            if refs and key not in ("apiVersion", "kind", "metadata"):
                values = pulumi.Output.all(**{k: secrets[k] for k in sorted(refs)})
                fields[key] = pulumi.Output.secret(values.apply(partial(_reveal_tree, value)))
                secret_outputs.add(key)
        if obj["kind"] == "Secret":
            # pulumi-kubernetes' Secret keeps its data and stringData secret in state by itself.
            secret_outputs -= {"data", "stringData"}
        options = pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(
                delete_before_replace=obj["kind"] in _REPLACE_FIRST,
                additional_secret_outputs=sorted(secret_outputs) or None,
                aliases=aliases(obj) or None,
            ),
            opts,
        )
        module = _TYPED.get(str(obj["apiVersion"]))
        if module is None:
            unexpected = set(fields) - {"metadata", "spec"}
            if unexpected:
                raise ValueError(f"{obj['kind']}: a custom resource takes metadata and spec, not {sorted(unexpected)}")
            self.resource = k8s.apiextensions.CustomResource(
                name, api_version=obj["apiVersion"], kind=obj["kind"], opts=options, **fields
            )
        else:
            cls = getattr(module, "NodePatch" if obj["kind"] == "Node" else obj["kind"])
            self.resource = cls(name, opts=options, **{_snake(k): v for k, v in fields.items()})


def _referenced(value: Any) -> set[str]:
    """The secrets ``value``'s strings reference (read in place: dumping every object to YAML for
    this was most of the program's own time per node with a NodePatch per node)."""
    if isinstance(value, str):
        return referenced_secrets(value)
    if isinstance(value, dict):
        return set().union(*(_referenced(k) | _referenced(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_referenced(v) for v in value))
    return set()


def _reveal_tree(value: Any, secrets: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return reveal(value, secrets)
    if isinstance(value, dict):
        return {k: _reveal_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal_tree(v, secrets) for v in value]
    return value


def resource_name(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    namespace = f"{meta['namespace']}-" if meta.get("namespace") else ""
    return f"{obj['kind'].lower()}-{namespace}{meta['name']}"
