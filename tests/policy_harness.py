"""Feed what the program registered under mocks through the policy pack's rules.

Resource rules get each registration's inputs (secrets unwrapped, as CrossGuard hands them over)
and options; stack rules get every resource with its state, parent and dependencies; both get the
stack's tags. Policy config is merged over each rule's schema defaults, as `--policy-pack-config`
does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ProgramRun, unwrap
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

POLICIES_DIR = Path(__file__).resolve().parent.parent / "policies"
if str(POLICIES_DIR) not in sys.path:
    sys.path.insert(0, str(POLICIES_DIR))

from rules import POLICIES  # noqa: E402


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    message: str
    urn: str | None


def _options(run: ProgramRun, urn: str) -> PolicyResourceOptions:
    opts = run.options.get(urn, {})
    return PolicyResourceOptions(
        protect=bool(opts.get("protect")),
        ignore_changes=list(opts.get("ignoreChanges", [])),
        delete_before_replace=opts.get("deleteBeforeReplace"),
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(opts.get("additionalSecretOutputs", [])),
        parent=opts.get("parent"),
    )


def _type_and_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return parts[2].split("$")[-1], parts[3]


def _config_for(policy: Any, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    level = policy.enforcement_level.value if policy.enforcement_level else EnforcementLevel.ADVISORY.value
    config: dict[str, Any] = {}
    if policy.config_schema is not None:
        config = {k: v["default"] for k, v in policy.config_schema.properties.items() if "default" in v}
    override = overrides.get(policy.name)
    if isinstance(override, str):
        level = override
    elif isinstance(override, dict):
        level = override.get("enforcementLevel", level)
        config.update({k: v for k, v in override.items() if k != "enforcementLevel"})
    return level, config


def evaluate(
    run: ProgramRun, overrides: dict[str, Any] | None = None, stack_tags: dict[str, str] | None = None
) -> list[Violation]:
    overrides = overrides or {}
    stack_tags = stack_tags or {}
    registrations = [r for r in run.registrations if r.urn in run.inputs or r.urn in run.dependencies]
    resources: dict[str, PolicyResource] = {}
    for reg in registrations:
        typ, name = _type_and_name(reg.urn)
        resources[reg.urn] = PolicyResource(
            typ, unwrap(reg.state), reg.urn, name, _options(run, reg.urn), None, None, [], {}
        )
    for urn, resource in resources.items():
        parent = run.options.get(urn, {}).get("parent")
        resource.parent = resources.get(parent) if parent else None
        resource.dependencies = [resources[d] for d in run.dependencies.get(urn, []) if d in resources]

    violations: list[Violation] = []
    for policy in POLICIES:
        level, config = _config_for(policy, overrides)
        if level == "disabled":
            continue

        def report(message: str, urn: str | None = None, _policy: str = policy.name, _level: str = level) -> None:
            violations.append(Violation(_policy, _level, message, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for urn, resource in resources.items():
                props = unwrap(run.inputs.get(urn, resource.props))
                args = ResourceValidationArgs(
                    resource.resource_type, props, urn, resource.name, resource.opts, None, config, stack_tags
                )
                policy.validate(args, lambda message, u=None, _urn=urn: report(message, u or _urn))
        else:
            policy.validate(StackValidationArgs(list(resources.values()), config, stack_tags), report)
    return violations


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.level == "mandatory"]
