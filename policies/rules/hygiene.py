"""Hygiene: secrets kept secret, SSH host keys pinned, private ASNs, a router that filters.

None of these is a config check: the config cannot see a secret's wrapper, a connection's host
key as the provider uses it, or an organisation's view of which ASNs are its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .registered import COMMAND, NODE, ROUTER

PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))

_SECRET_SHAPES = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "an SSH private key"),
    (re.compile(r"\bneighbor \S+ password (?!<<secret:)\S+"), "a BGP password (FRR)"),
    (re.compile(r'\bpassword "(?!<<secret:)[^"]+"'), "a BGP password (BIRD)"),
    (re.compile(r"^\s*-?\s*password: (?!<<secret:)\S+", re.MULTILINE), "a BGP password (bgp-config)"),
    (re.compile(r"--peer-router-passwords(?:-file)?=(?!<<secret:)\S+"), "a BGP password (kube-router)"),
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def secrets_marked_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    protected = set(args.opts.additional_secret_outputs or [])
    for key, value in args.props.items():
        if key in protected:
            continue
        for text in _strings(value):
            for pattern, what in _SECRET_SHAPES:
                if pattern.search(text):
                    report(
                        f"Property {key} holds {what} that is not marked secret: it would sit in the state in "
                        "plain text. Set it with `pulumi config set --secret` (bgpPassword, sshPrivateKey), not in "
                        "stack values or extra arguments.",
                        None,
                    )
                    return


def ssh_host_key_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != COMMAND:
        return
    connection = args.props.get("connection") or {}
    if not connection.get("hostKey"):
        report(
            f"SSH to {connection.get('host')} does not check the host key: anyone on the path can stand in for "
            "the host. Pin it with router.ssh.hostKey / nodes[].ssh.hostKey (`ssh-keyscan`).",
            None,
        )


def private_asns(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (ROUTER, NODE):
        return
    asn = args.props.get("asn")
    if isinstance(asn, int) and not any(low <= asn <= high for low, high in PRIVATE_ASNS):
        report(
            f"ASN {asn} is outside the private ranges (64512-65534, 4200000000-4294967294): it may be someone "
            "else's on the Internet. Use a private ASN unless this one is yours.",
            None,
        )


def router_prefix_filter(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == ROUTER and not args.props.get("prefixFilter"):
        report(
            "The router accepts every route its nodes send (no bgp ebgp-requires-policy): one wrong announcement "
            "can hijack any prefix. Set router.prefixFilter: true to accept only the pod and LB pools.",
            None,
        )
