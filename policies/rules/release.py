"""The Cilium release: its routing mode, the Helm keys and BGP kinds the chosen version has.

Helm key lifetimes and kubeProxyReplacement's forms are the config validation's checks
(``cilium_bgp.checks``), here run on the values the release carries; the rest reads the rendered
values and objects only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from cilium_bgp.checks import kube_proxy_replacement_problem, missing_helm_keys
from cilium_bgp.versions import METHODS

from .registered import (
    NODE,
    cilium_kind,
    get,
    is_cilium_release,
    native_routing,
    of_kind,
    of_type,
    release,
    release_version,
)


def _cilium_values(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """The Helm values of the Cilium release; None for any other resource."""
    return (args.props.get("values") or {}) if is_cilium_release(args.props) else None


def native_routing_needs_cidr(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values = _cilium_values(args)
    if values is not None and native_routing(values) and not values.get("ipv4NativeRoutingCIDR"):
        report(
            "Native routing without ipv4NativeRoutingCIDR: Cilium cannot tell pod traffic to route from traffic "
            "to masquerade. Set cilium.ipv4NativeRoutingCIDR to a CIDR covering the pod pool.",
            None,
        )


def no_dsr_with_metallb_or_tunnel(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values = _cilium_values(args)
    if values is None or get(values, "loadBalancer", "mode") != "dsr":
        return
    if get(values, "bgp", "enabled") is True:
        report(
            "loadBalancer.mode dsr with the MetalLB-based speaker (bgp.enabled): replies bypass the announcing "
            "node and connections break. Use cilium.loadBalancerMode: snat.",
            None,
        )
    if not native_routing(values):
        report(
            "loadBalancer.mode dsr with tunnelling: DSR needs native routing. Use routingMode native "
            "(the program's default) or loadBalancerMode: snat.",
            None,
        )


def release_has_its_keys(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values, version = _cilium_values(args), release_version(args.props)
    if values is None or version is None:
        return
    for path, _ in missing_helm_keys(values, version):
        report(
            f"Helm value {path} does not exist in Cilium {version} (removed or not yet added); the chart "
            "ignores or rejects it. Remove it, or render the values for this version (cilium.version).",
            None,
        )
    kpr = values.get("kubeProxyReplacement")
    problem = kube_proxy_replacement_problem(kpr, version)
    if problem == "words-removed":
        report(f"kubeProxyReplacement: {kpr} was removed in Cilium 1.16 (the chart fails). Use true or false.", None)
    elif problem == "boolean-too-early":
        report(
            f"kubeProxyReplacement: {str(kpr).lower()} is not a value Cilium {version} has (true and false arrived "
            "in 1.14). Use strict, partial or disabled.",
            None,
        )


def release_has_its_kinds(args: StackValidationArgs, report: ReportViolation) -> None:
    cilium = release(args.resources)
    version = release_version(cilium.props) if cilium is not None else None
    if version is None:
        return
    if not METHODS["cilium-bgp-v1"].exists_in(version):
        for policy in of_kind(args.resources, "CiliumBGPPeeringPolicy"):
            report(
                f"CiliumBGPPeeringPolicy does not exist in Cilium {version} (removed in 1.19). "
                "Use method cilium-bgp-v2.",
                policy.urn,
            )
    for node in of_type(args.resources, NODE):
        method = str(node.props.get("method"))
        if method in METHODS and not METHODS[method].exists_in(version):
            report(
                f"Method {method} exists in {METHODS[method].describe()}, not in Cilium {version}. "
                "Pick a method this release has.",
                node.urn,
            )
            break


def v1_neighbor_cidr(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not cilium_kind(args, "CiliumBGPPeeringPolicy"):
        return
    for router in get(args.props, "spec", "virtualRouters") or []:
        for neighbor in router.get("neighbors") or []:
            address = str(neighbor.get("peerAddress", ""))
            if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+/32|[0-9a-fA-F:]+/128", address):
                report(
                    f"CiliumBGPPeeringPolicy neighbor peerAddress {address!r} must be one host in CIDR form "
                    "(a.b.c.d/32); Cilium rejects or misreads anything else.",
                    None,
                )
