"""Resilience: the stacks an organisation marks as production peer with two routers and fail over fast.

Which stacks those are is said by a stack tag, not read from the stack's name: for example
``pulumi stack tag set environment production``. The tag's name (``stackTag``) and the values that
count are each rule's settings, so an organisation with its own tagging scheme points the rules at
it. The engine hands the stack's tags to the pack on Pulumi Cloud and on the local file backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from .registered import ROUTER, get, of_type

STACK_TAG = "environment"
FAST_FAILOVER_VALUES = ["prod"]
PRODUCTION_VALUES = ["prod", "production"]
MAX_HOLD_TIME_SECONDS = 30


def _tagged(tags: Mapping[str, str], config: Mapping[str, Any], values_key: str, default: list[str]) -> str | None:
    """``tag=value`` when the stack's ``stackTag`` tag holds one of the rule's values, else None."""
    tag = str(config.get("stackTag", STACK_TAG))
    value = tags.get(tag)
    return f"{tag}={value}" if value is not None and value in config.get(values_key, default) else None


def fast_failover_timers(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ROUTER:
        return
    config = args.get_config()
    tagged = _tagged(args.stack_tags, config, "fastFailoverValues", FAST_FAILOVER_VALUES)
    if tagged is None:
        return
    limit = int(config.get("maxHoldTimeSeconds", MAX_HOLD_TIME_SECONDS))
    hold = get(args.props, "timers", "holdTimeSeconds")
    if hold is None or hold > limit:
        shown = "the daemons' default (FRR 180 s, BIRD 240 s)" if hold is None else f"{hold} s"
        report(
            f"The stack (tagged {tagged}) asks for fast failover but the hold time is {shown}: a dead node "
            f"black-holes traffic that long. Set bgp.holdTimeSeconds to {limit} or less.",
            None,
        )


def redundant_router(args: StackValidationArgs, report: ReportViolation) -> None:
    routers = of_type(args.resources, ROUTER)
    tagged = _tagged(args.stack_tags, args.get_config(), "productionValues", PRODUCTION_VALUES)
    if routers and tagged is not None and len(routers) < 2:
        report(
            f"Production stack (tagged {tagged}) has a single router: when it fails, every PodCIDR and LB IP is "
            "unreachable. Add a second router for the nodes to peer with.",
            None,
        )
