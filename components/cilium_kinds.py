"""When Cilium's objects can be written: once the API server serves their kinds at the version the
program renders.

cilium-operator registers its CRDs, and on an upgrade adds the versions its release serves, only
once it is elected leader (1.18 ``operator/cmd/root.go``: ``RegisterCRDsCell`` is the first of the
leader's cells), while its pods turn ready without leading. When a release moves from 1.17 to
1.18, Helm's await ends once the new operator pods are ready; the old operator holds the leader
lease until its pod is gone, and only then does the new one add ``cilium.io/v2`` to the kinds 1.18
promoted. Writing those objects as ``cilium.io/v2`` right after the release fails then ("no
matches for kind"). So the program writes Cilium's objects after the release *and* once every
kind is served at the rendered version (and established), waiting up to :data:`SERVED_TIMEOUT`
seconds; a preview waits for nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pulumi
from kubernetes import client as k8s_client

from cilium_bgp.config import KubernetesSettings
from components.cilium_nodes import api_client

# An operator that starts, waits for the old leader's lease to lapse, then registers its CRDs.
SERVED_TIMEOUT = 600.0
POLL_INTERVAL = 2.0
CILIUM_GROUP = "cilium.io"


class KindReader(Protocol):
    def served(self, group: str, version: str, kind: str) -> bool:
        """Whether the API server serves ``kind`` of ``group`` at ``version`` (its CRD established)."""
        ...


class ClusterKinds:
    """CRDs through the cluster's API (connected on first use, as ``components.cilium_nodes``)."""

    def __init__(self, settings: KubernetesSettings) -> None:
        self._settings = settings
        self._api: k8s_client.ApiextensionsV1Api | None = None

    def served(self, group: str, version: str, kind: str) -> bool:
        if self._api is None:
            self._api = k8s_client.ApiextensionsV1Api(api_client(self._settings))
        crds: list[Any] = self._api.list_custom_resource_definition().items
        for crd in crds:
            if crd.spec.group != group or crd.spec.names.kind != kind:
                continue
            conditions = {c.type: c.status for c in (crd.status.conditions or [])} if crd.status else {}
            versions = {v.name: v.served for v in crd.spec.versions}
            return conditions.get("Established") == "True" and bool(versions.get(version))
        return False


def connect(settings: KubernetesSettings) -> KindReader:
    return ClusterKinds(settings)


def cilium_kinds(manifests: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The (apiVersion, kind) of each of Cilium's objects in ``manifests``, once each."""
    found = {(str(m["apiVersion"]), str(m["kind"])) for m in manifests}
    return sorted(k for k in found if k[0].startswith(f"{CILIUM_GROUP}/"))


async def wait_served(reader: KindReader, kinds: Sequence[tuple[str, str]], timeout: float = SERVED_TIMEOUT) -> None:
    """Return once every (apiVersion, kind) is served; after ``timeout`` seconds raise, naming
    those that are not."""
    deadline = time.monotonic() + timeout
    while True:
        missing = []
        for api_version, kind in kinds:
            group, version = api_version.split("/", 1)
            try:
                served = await asyncio.to_thread(reader.served, group, version, kind)
            except Exception as error:  # any failure to ask is retried, and reported if it lasts
                served, kind = False, f"{kind} (no answer from the cluster: {type(error).__name__}: {error})"
            if not served:
                missing.append(f"{api_version} {kind}")
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise pulumi.RunError(
                f"cilium.version: the cluster does not serve {', '.join(missing)} after {timeout:.0f} s "
                "(cilium-operator registers its CRDs once it leads)"
            )
        await asyncio.sleep(POLL_INTERVAL)


def after_served(
    release: pulumi.CustomResource, ready: pulumi.Output[Any], reader: KindReader, kinds: Sequence[tuple[str, str]]
) -> pulumi.Output[pulumi.Resource]:
    """``release``, for ``depends_on``, once ``ready`` (an output of the release: its update is
    done) resolved and, in an update, every kind is served."""

    async def resolved() -> pulumi.Resource:
        await ready.future()
        if kinds and not pulumi.runtime.is_dry_run():
            await wait_served(reader, kinds)
        return release

    async def known() -> bool:
        return True

    return pulumi.Output({release}, resolved(), known())
