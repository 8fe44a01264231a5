"""After `up`: each router's own view of sessions and routes, checked against what the stack expects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
from pulumi_command import remote

from cilium_bgp.artifacts import peer_output, sha256
from cilium_bgp.renderers.scripts import Daemon, status_script_source, verify_command
from components.options import child_options


@dataclass(frozen=True)
class BgpVerificationArgs:
    daemon: Daemon
    router: str | None  # the router's name when the stack has several: a failure says which one it was
    timeout_seconds: int
    connection: remote.ConnectionArgs
    expect: pulumi.Output[dict[str, Any]]  # cilium_bgp.renderers.expectations.expected_state
    triggers: Sequence[pulumi.Input[str]]  # hashes of what was pushed: a new push runs the check again


class BgpVerification(pulumi.ComponentResource):
    """Runs ``show bgp summary json`` and reads the kernel table on one router until every expected
    peer is Established and every expected prefix routed, or fails the update at the deadline.
    Order it after what it checks (``depends_on``: the pushed configs and objects)."""

    command: remote.Command
    peers: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: BgpVerificationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        expect = args.expect
        super().__init__("cilium-bgp:index:BgpVerification", name, {"expect": expect}, opts)

        def command(e: dict[str, Any]) -> str:
            return verify_command(args.daemon, _wire_expectation(e), args.timeout_seconds, router=args.router)

        self.command = remote.Command(
            f"{name}-check",
            connection=args.connection,
            create=expect.apply(command),
            stdin=status_script_source(),
            add_previous_output_in_env=False,
            # Re-check whenever anything that changes routing was pushed again, and whenever the
            # expectation changes: a renamed node's config is pushed by a new resource even when
            # its text is unchanged, and the check must pass again after that push.
            triggers=[*args.triggers, expect.apply(lambda e: sha256(json.dumps(e, sort_keys=True)))],
            opts=child_options(self, opts),
        )
        # Nested applies, not Output.all: that would unwrap the expectation (a peer and a route
        # per node) into an Output per value.
        stdout = self.command.stdout
        self.peers = expect.apply(lambda e: stdout.apply(partial(observed_peers, e)))
        self.register_outputs({"peers": self.peers})


def _wire_expectation(expect: dict[str, Any]) -> dict[str, Any]:
    return {"peers": {a: {"asn": p["asn"]} for a, p in expect["peers"].items()}, "routes": expect["routes"]}


def observed_peers(expect: dict[str, Any], stdout: str) -> dict[str, Any]:
    """``bgpPeers`` of one router: each expected peer with the state and prefix count it reported."""
    report = json.loads(stdout) if stdout else {}
    seen = report.get("peers", {})
    return {
        address: peer_output(
            want, seen.get(address, {}).get("state", "missing"), seen.get(address, {}).get("prefixesReceived", 0)
        )
        for address, want in sorted(expect["peers"].items())
    }


def unverified_peers(expect: dict[str, Any]) -> dict[str, Any]:
    return {
        address: {**peer_output(want, "unverified"), "prefixesReceived": None}
        for address, want in sorted(expect["peers"].items())
    }
