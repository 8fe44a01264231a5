"""Run the Pulumi program under mocks and collect what it registered and exported.

Each run installs fresh mocks and config, executes ``__main__.py`` from scratch and returns plain
data: the exports (resolved) and every registration (inputs as the engine would receive them,
secrets still wrapped). The mocks stand in for providers only where a provider computes
something: a CiliumNode's PodCIDRs, a Service's LB IP, the router's answer to the BGP check.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
import yaml
from pulumi.runtime import rpc

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
STACKS = ROOT / "tests" / "stacks"


class AllocatedCiliumNodes:
    """The cluster as the mocks stand for it, to ``components.cilium_nodes``: every CiliumNode
    allocated already (what a read then returns is ``StackMocks.cluster_pod_cidrs``)."""

    def pod_cidrs(self, node: str) -> list[str] | None:
        return ["allocated"]


class ServedKinds:
    """The cluster as the mocks stand for it, to ``components.cilium_kinds``: every kind served."""

    def served(self, group: str, version: str, kind: str) -> bool:
        return True


class StackMocks(pulumi.runtime.Mocks):
    def __init__(
        self,
        cluster_pod_cidrs: dict[str, list[str]] | None = None,
        lb_ips: dict[str, str] | None = None,
        peer_states: dict[str, str] | None = None,
    ) -> None:
        self.cluster_pod_cidrs = cluster_pod_cidrs or {}
        # What components.cilium_nodes asks the cluster before reading a CiliumNode.
        self.cilium_nodes: Any = AllocatedCiliumNodes()
        self.lb_ips = lb_ips or {}
        self.peer_states = peer_states or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "kubernetes:cilium.io/v2:CiliumNode" and args.resource_id in ("", rpc.UNKNOWN):
            # The engine skips a read whose ID is unknown (a preview): its outputs stay unknown.
            state = {"apiVersion": "cilium.io/v2", "kind": "CiliumNode"}
        elif args.typ == "kubernetes:cilium.io/v2:CiliumNode":
            node = args.resource_id
            state = {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNode",
                "metadata": {"name": node},
                "spec": {"ipam": {"podCIDRs": self.cluster_pod_cidrs.get(node, [])}},
            }
        elif args.typ == "kubernetes:core/v1:Service":
            name = state["metadata"]["name"]
            ip = self.lb_ips.get(name)
            state["status"] = {"loadBalancer": {"ingress": [{"ip": ip}] if ip else []}}
        elif args.typ == "command:remote:Command":
            state["stdout"] = self._router_answer(rpc.unwrap_rpc_secret(state.get("create", "")))
            state["stderr"] = ""
        return f"{args.name}-id", state

    def _router_answer(self, create: str) -> str:
        """What the router-side check prints: peers in ``peer_states`` (default Established)."""
        # Unknown in a preview (the expectations depend on what the cluster allocates).
        words = shlex.split(create) if isinstance(create, str) and create.startswith("python3 - ") else []
        if "--expect" not in words:
            return ""
        expect = json.loads(words[words.index("--expect") + 1])
        received: dict[str, int] = {}
        for hops in expect["routes"].values():
            for hop in hops or []:
                received[hop] = received.get(hop, 0) + 1
        peers = {
            address: {
                "state": self.peer_states.get(address, "Established"),
                "asn": want["asn"],
                "prefixesReceived": received.get(address, 0),
            }
            for address, want in expect["peers"].items()
        }
        return json.dumps({"ok": True, "peers": peers, "routes": expect["routes"], "problems": []})

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Also keeps what MockMonitor drops: each registration's explicit dependencies and inputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, list[str]] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.read_ids: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.dependencies[response.urn] = list(request.dependencies)
        self.inputs[response.urn] = rpc.deserialize_properties(request.object)
        self.options[response.urn] = {
            "parent": request.parent or None,
            "protect": request.protect,
            "deleteBeforeReplace": request.deleteBeforeReplace,
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "ignoreChanges": list(request.ignoreChanges),
            "custom": request.custom,
            "aliases": [a.spec.type for a in request.aliases] or list(request.aliasURNs),
            "provider": request.provider or None,
        }
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        self.dependencies[response.urn] = list(request.dependencies)
        # The ID the program read under (the engine skips a read whose ID is unknown; mocks do not).
        self.read_ids[response.urn] = request.id
        self.options[response.urn] = {"parent": request.parent or None, "provider": request.provider or None}
        return response


def unwrap(value: Any) -> Any:
    """A registered value with every secret wrapper removed (as providers and policies see it)."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class ProgramRun:
    exports: dict[str, Any]
    registrations: list[pulumi.runtime.mocks.MockMonitor.ResourceRegistration] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    read_ids: dict[str, str] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Any]:
        return [r for r in self.registrations if r.urn.split("::")[2].split("$")[-1] == typ]

    def named(self, name: str) -> Any:
        found = [r for r in self.registrations if r.urn.endswith(f"::{name}")]
        assert len(found) == 1, f"expected one resource named {name}, found {[r.urn for r in found]}"
        return found[0]

    def types(self) -> set[str]:
        return {r.urn.split("::")[2].split("$")[-1] for r in self.registrations}


def stack_file_config(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file (keys with their namespace)."""
    return dict(yaml.safe_load(path.read_text())["config"])


def run_program(
    config: dict[str, Any],
    *,
    secrets: dict[str, str] | None = None,
    mocks: StackMocks | None = None,
    stack: str = "test",
    record: bool = True,
    preview: bool = False,
) -> ProgramRun:
    """Run ``__main__.py`` with ``config`` (namespaced keys, plain values) plus ``secrets``.

    ``preview``: as in a ``pulumi preview`` (unknown values stay unknown).
    ``record=False`` uses Pulumi's own MockMonitor (no inputs, options or dependencies kept) and
    serializes the exports as the engine does without resolving them into ``exports`` (empty):
    what the benchmarks time, since recording is the tests' cost, not the program's.
    """
    mocks = mocks or StackMocks()
    monitor = RecordingMonitor(mocks) if record else pulumi.runtime.mocks.MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="cilium-bgp", stack=stack, preview=preview, monitor=monitor)
    all_config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    secret_keys = []
    for key, value in (secrets or {}).items():
        all_config[f"cilium-bgp:{key}"] = value
        secret_keys.append(f"cilium-bgp:{key}")
    pulumi.runtime.set_all_config(all_config, secret_keys)
    exports: dict[str, Any] = {}
    captured: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        with (
            mock.patch.object(pulumi, "export", side_effect=lambda k, v: exports.__setitem__(k, v)),
            mock.patch("components.cilium_nodes.connect", return_value=mocks.cilium_nodes),
            mock.patch("components.cilium_kinds.connect", return_value=ServedKinds()),
        ):
            runpy.run_path(str(PROGRAM), run_name="__main__")
        # What the engine does with stack outputs: serialize them (an Output as a dict key fails here).
        serialized = asyncio.ensure_future(rpc.serialize_properties(exports, {}))
        if not record:
            return pulumi.Output.from_input(serialized)
        return pulumi.Output.all(
            pulumi.Output.from_input(serialized), pulumi.Output.all(**exports).apply(captured.update)
        )

    try:
        program()
    except Exception as error:
        # Let tests see what was registered before the failure (it should be nothing).
        error.registrations = list(monitor.get_registered_resources().values())  # type: ignore[attr-defined]
        raise
    return ProgramRun(
        captured,
        list(monitor.get_registered_resources().values()),
        getattr(monitor, "dependencies", {}),
        getattr(monitor, "inputs", {}),
        getattr(monitor, "options", {}),
        getattr(monitor, "read_ids", {}),
    )


def run_stack_file(path: Path, **kwargs: Any) -> ProgramRun:
    config = {k: v for k, v in stack_file_config(path).items() if not (isinstance(v, dict) and "secure" in v)}
    return run_program(config, **kwargs)
