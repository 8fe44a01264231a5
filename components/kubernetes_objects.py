"""Kubernetes objects registered exactly as rendered: one resource per manifest dict.

The rendered dict (camelCase, as ``kubectl`` takes it) goes to the provider unchanged, so what the
render command writes and what ``pulumi up`` applies cannot drift. Type tokens follow
pulumi-kubernetes: ``kubernetes:<group>/<version>:<Kind>`` (``core`` for the legacy group).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes import _utilities as k8s_utilities

from cilium_bgp.renderers.manifests import dump_yaml
from cilium_bgp.secrets import referenced_secrets, reveal

# Objects whose content is the whole point: a changed ConfigMap must be replaced, and names are
# fixed, so the old one has to go first.
_REPLACE_FIRST = {"ConfigMap", "Secret"}
_STATUS_KINDS = {"Service"}


def type_token(obj: Mapping[str, Any]) -> str:
    api = str(obj["apiVersion"])
    group_version = api if "/" in api else f"core/{api}"
    # The program never creates a Node: a Node manifest is a server-side-apply patch of one.
    kind = "NodePatch" if obj["kind"] == "Node" else obj["kind"]
    return f"kubernetes:{group_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    status: pulumi.Output[Any]

    def __init__(
        self,
        name: str,
        obj: Mapping[str, Any],
        *,
        secrets: Mapping[str, pulumi.Output[str]],
        provider: k8s.Provider | None,
        parent: pulumi.Resource,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        props: dict[str, Any] = dict(obj)
        # As pulumi-kubernetes' own Secret does: its payload is secret in state whatever it holds.
        secret_outputs = {"data", "stringData"} if obj["kind"] == "Secret" else set()
        for key, value in obj.items():
            refs = referenced_secrets(dump_yaml(value))
            if refs and key not in ("apiVersion", "kind", "metadata"):
                values = pulumi.Output.all(**{k: secrets[k] for k in sorted(refs)})
                props[key] = pulumi.Output.secret(values.apply(partial(_reveal_tree, value)))
                secret_outputs.add(key)
        if obj["kind"] in _STATUS_KINDS:
            props["status"] = None
        super().__init__(
            type_token(obj),
            name,
            props,
            pulumi.ResourceOptions(
                parent=parent,
                provider=provider,
                depends_on=list(depends_on),
                version=k8s_utilities.get_version(),
                delete_before_replace=obj["kind"] in _REPLACE_FIRST,
                additional_secret_outputs=sorted(secret_outputs) or None,
            ),
        )


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
