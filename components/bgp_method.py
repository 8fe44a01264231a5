"""The stack's BGP method as Kubernetes objects, ordered after the Cilium release."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cilium_bgp.renderers.manifests import KUBE_ROUTER_PASSWORD_SECRET, kube_router_password
from components import cilium_kinds
from components.kubernetes_objects import KubernetesObject, resource_name
from components.options import child_options


@dataclass(frozen=True)
class BgpMethodArgs:
    method: str
    cilium_version: str
    manifests: Sequence[Mapping[str, Any]]  # cilium_bgp.renderers.manifests.method_manifests, in apply order
    secrets: Mapping[str, pulumi.Output[str]]  # what the manifests' ``<<secret:KEY>>`` placeholders reference

    @property
    def cilium_kinds(self) -> list[tuple[str, str]]:
        """Cilium's kinds among the manifests: the cluster must serve them before they are written
        (pass ``CiliumRelease.serving(args.cilium_kinds)`` in ``depends_on``)."""
        return cilium_kinds.cilium_kinds(self.manifests)


class BgpMethod(pulumi.ComponentResource):
    """bgp-config, CiliumBGPPeeringPolicy, the v2 family or kube-router; the LB pool; the password."""

    objects: list[KubernetesObject]

    def __init__(self, name: str, args: BgpMethodArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        secrets = args.secrets
        if "bgpPassword" in secrets:
            secrets = {
                **secrets,
                KUBE_ROUTER_PASSWORD_SECRET: pulumi.Output.secret(secrets["bgpPassword"].apply(kube_router_password)),
            }
        props = {
            "method": args.method,
            "ciliumVersion": args.cilium_version,
            "objects": [f"{m['apiVersion']}/{m['kind']}/{m['metadata']['name']}" for m in args.manifests],
        }
        super().__init__("cilium-bgp:index:BgpMethod", name, props, opts)
        self.objects = [
            KubernetesObject(resource_name(obj), obj, secrets=secrets, opts=child_options(self, opts))
            for obj in args.manifests
        ]
        # Outputs repeat the props: stack policies read outputs, resource policies read inputs.
        self.register_outputs(props)


class NodeAnnotations(pulumi.ComponentResource):
    """Annotations on Nodes the program does not own, as server-side-apply patches (removed on
    destroy): v1's router-id per node. The Cilium release depends on them, since the 1.13/1.14
    agents copy a Node's annotations into their CiliumNode when they start."""

    patches: list[KubernetesObject]

    def __init__(
        self,
        name: str,
        patches: Sequence[Mapping[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``patches``: cilium_bgp.renderers.manifests.node_patches."""
        props = {"nodes": [p["metadata"]["name"] for p in patches]}
        super().__init__("cilium-bgp:index:NodeAnnotations", name, props, opts)
        self.patches = [
            KubernetesObject(resource_name(obj), obj, secrets={}, opts=child_options(self, opts)) for obj in patches
        ]
        self.register_outputs(props)


@dataclass(frozen=True)
class DemoServiceArgs:
    name: str
    namespace: str
    load_balancer_ip: str | None
    manifests: Sequence[Mapping[str, Any]]  # cilium_bgp.renderers.manifests.demo_manifests


class DemoService(pulumi.ComponentResource):
    """The seed's whoami Deployment and `whoami-lb` LoadBalancer Service."""

    service: KubernetesObject
    load_balancer_ip: pulumi.Output[str | None]

    def __init__(self, name: str, args: DemoServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"name": args.name, "namespace": args.namespace, "loadBalancerIP": args.load_balancer_ip or ""}
        super().__init__("cilium-bgp:index:DemoService", name, props, opts)
        for obj in args.manifests:
            created = KubernetesObject(resource_name(obj), obj, secrets={}, opts=child_options(self, opts))
            if obj["kind"] == "Service":
                self.service = created
        service = self.service.resource
        assert isinstance(service, k8s.core.v1.Service)
        self.load_balancer_ip = service.status.apply(_ingress_ip)
        self.register_outputs({**props, "loadBalancerIp": self.load_balancer_ip})


def _ingress_ip(status: k8s.core.v1.outputs.ServiceStatus | None) -> str | None:
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return ingress[0].ip if ingress else None
