"""CrossGuard rules for cilium-bgp stacks: the designs that cannot route, or leak a secret.

One module per theme: ``addresses`` (PodCIDRs, LB pool, direct routes), ``release`` (the Cilium
release's routing mode, keys and kinds), ``speakers`` (who announces each PodCIDR, who accepts it),
``hygiene`` (secrets, host keys, ASNs, filters) and ``resilience`` (production stacks, by stack
tag). Rules that the config validation also enforces call its checks (``cilium_bgp.checks``) on
what was registered; ``registered`` reads it. Each message says what to change; levels and
settings come from ``--policy-pack-config``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

from . import addresses, hygiene, release, resilience, speakers

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


def _rule(kind: type, name: str, description: str, level: EnforcementLevel, validate: Any, schema: Any = None) -> Any:
    return kind(name=name, description=description, enforcement_level=level, validate=validate, config_schema=schema)


_stack = partial(_rule, StackValidationPolicy)
_resource = partial(_rule, ResourceValidationPolicy)


def _tag_schema(values_key: str, values: list[str], **more: dict[str, Any]) -> PolicyConfigSchema:
    return PolicyConfigSchema(
        properties={
            "stackTag": {"type": "string", "default": resilience.STACK_TAG},
            values_key: {"type": "array", "items": {"type": "string"}, "default": values},
            **more,
        }
    )


POLICIES = [
    _stack(
        "pod-cidrs-in-pool",
        "Every PodCIDR is a pool-sized block of the pod pool.",
        MANDATORY,
        addresses.pod_cidrs_in_pool,
    ),
    _stack(
        "pod-cidrs-no-overlap",
        "No two nodes share PodCIDR addresses.",
        MANDATORY,
        addresses.pod_cidrs_do_not_overlap,
    ),
    _stack(
        "pod-cidrs-in-native-routing-cidr",
        "Every PodCIDR lies inside ipv4NativeRoutingCIDR.",
        MANDATORY,
        addresses.pod_cidrs_in_native_routing_cidr,
    ),
    _stack(
        "lb-pool-apart",
        "The LoadBalancer pool overlaps no pod or node network.",
        MANDATORY,
        addresses.lb_pool_apart,
    ),
    _stack(
        "direct-routes-single-l2",
        "autoDirectNodeRoutes only with every node on one subnet.",
        MANDATORY,
        addresses.direct_routes_single_l2,
    ),
    _resource(
        "native-routing-needs-cidr",
        "Native routing sets ipv4NativeRoutingCIDR.",
        MANDATORY,
        release.native_routing_needs_cidr,
    ),
    _resource(
        "no-dsr-with-metallb-or-tunnel",
        "No DSR with the MetalLB-based speaker or with tunnelling.",
        MANDATORY,
        release.no_dsr_with_metallb_or_tunnel,
    ),
    _resource(
        "release-has-its-keys",
        "Helm values exist in the chosen Cilium release.",
        MANDATORY,
        release.release_has_its_keys,
    ),
    _stack(
        "release-has-its-kinds",
        "BGP kinds and the method exist in the chosen Cilium release.",
        MANDATORY,
        release.release_has_its_kinds,
    ),
    _resource(
        "v1-neighbor-cidr",
        "CiliumBGPPeeringPolicy neighbors are /32 (or /128) CIDRs.",
        MANDATORY,
        release.v1_neighbor_cidr,
    ),
    _stack(
        "one-speaker-per-pod-cidr",
        "No PodCIDR is announced by both BIRD and a Cilium speaker.",
        MANDATORY,
        speakers.one_speaker_per_pod_cidr,
    ),
    _stack(
        "pod-cidr-announced-and-accepted",
        "Every node's PodCIDR is announced by a speaker and accepted by the router's config.",
        MANDATORY,
        speakers.pod_cidr_announced_and_accepted,
    ),
    _resource(
        "secrets-marked-secret",
        "BGP passwords and SSH private keys only in secret values.",
        MANDATORY,
        hygiene.secrets_marked_secret,
    ),
    _resource("ssh-host-key-pinned", "SSH connections pin the host key.", ADVISORY, hygiene.ssh_host_key_pinned),
    _resource("private-asns", "ASNs come from the private ranges.", ADVISORY, hygiene.private_asns),
    _resource("router-prefix-filter", "The router filters what it accepts.", ADVISORY, hygiene.router_prefix_filter),
    _resource(
        "fast-failover-timers",
        "Stacks tagged for fast failover set short BGP timers.",
        ADVISORY,
        resilience.fast_failover_timers,
        _tag_schema(
            "fastFailoverValues",
            resilience.FAST_FAILOVER_VALUES,
            maxHoldTimeSeconds={"type": "integer", "minimum": 3, "default": resilience.MAX_HOLD_TIME_SECONDS},
        ),
    ),
    _stack(
        "redundant-router",
        "Stacks tagged as production peer with more than one router.",
        ADVISORY,
        resilience.redundant_router,
        _tag_schema("productionValues", resilience.PRODUCTION_VALUES),
    ),
]
