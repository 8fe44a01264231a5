"""The stack's BGP method as Kubernetes objects, ordered after the Cilium release."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from cilium_bgp.config import StackConfig
from cilium_bgp.plan import SessionPlan
from cilium_bgp.renderers.manifests import (
    KUBE_ROUTER_PASSWORD_SECRET,
    demo_manifests,
    kube_router_password,
    method_manifests,
    node_patches,
)
from components import cilium_kinds
from components.kubernetes_objects import KubernetesObject, resource_name


class BgpMethod(pulumi.ComponentResource):
    """bgp-config, CiliumBGPPeeringPolicy, the v2 family or kube-router; the LB pool; the password."""

    objects: list[KubernetesObject]

    def __init__(
        self,
        name: str,
        *,
        cfg: StackConfig,
        plan: SessionPlan,
        after: k8s.helm.v3.Release,
        provider: k8s.Provider | None,
        secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        manifests = method_manifests(cfg, plan)
        if "bgpPassword" in secrets:
            secrets = {
                **secrets,
                KUBE_ROUTER_PASSWORD_SECRET: pulumi.Output.secret(secrets["bgpPassword"].apply(kube_router_password)),
            }
        props = {
            "method": cfg.method,
            "ciliumVersion": cfg.cilium.version,
            "objects": [f"{m['apiVersion']}/{m['kind']}/{m['metadata']['name']}" for m in manifests],
        }
        super().__init__("cilium-bgp:index:BgpMethod", name, props, opts)
        # Cilium's kinds exist only once cilium-operator has registered them at the rendered
        # version: after the release, and once the API server serves them (components.cilium_kinds).
        kinds = cilium_kinds.cilium_kinds(manifests)
        served = cilium_kinds.after_served(after, after.status, cilium_kinds.connect(cfg.kubernetes), kinds)
        self.objects = [
            KubernetesObject(
                resource_name(obj), obj, secrets=secrets, provider=provider, parent=self, depends_on=[served]
            )
            for obj in manifests
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
        *,
        cfg: StackConfig,
        plan: SessionPlan,
        provider: k8s.Provider | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        patches = node_patches(cfg, plan)
        props = {"nodes": [p["metadata"]["name"] for p in patches]}
        super().__init__("cilium-bgp:index:NodeAnnotations", name, props, opts)
        self.patches = [
            KubernetesObject(resource_name(obj), obj, secrets={}, provider=provider, parent=self) for obj in patches
        ]
        self.register_outputs(props)


class DemoService(pulumi.ComponentResource):
    """The seed's whoami Deployment and `whoami-lb` LoadBalancer Service."""

    service: KubernetesObject
    load_balancer_ip: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        *,
        cfg: StackConfig,
        after: pulumi.Resource,
        provider: k8s.Provider | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        demo = cfg.demo
        assert demo is not None
        props = {"name": demo.name, "namespace": demo.namespace, "loadBalancerIP": str(demo.load_balancer_ip or "")}
        super().__init__("cilium-bgp:index:DemoService", name, props, opts)
        for obj in demo_manifests(cfg):
            created = KubernetesObject(
                resource_name(obj), obj, secrets={}, provider=provider, parent=self, depends_on=[after]
            )
            if obj["kind"] == "Service":
                self.service = created
        service = self.service.resource
        assert isinstance(service, k8s.core.v1.Service)
        self.load_balancer_ip = service.status.apply(_ingress_ip)
        self.register_outputs({**props, "loadBalancerIp": self.load_balancer_ip})


def _ingress_ip(status: k8s.core.v1.outputs.ServiceStatus | None) -> str | None:
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return ingress[0].ip if ingress else None
