"""The SDK's floor: what registering costs with no project code.

Per node a component and a ``remote.Command`` with a secret connection and stdin, parented to it,
under a mock monitor that echoes inputs (the resources of a `bird` stack's node, of the same kinds
and with inputs of about the same size): what the Python SDK spends on the registrations alone.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_command import remote


class _EchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def register_floor(nodes: int) -> int:
    """Register the floor's resources for ``nodes`` nodes; the number of resources registered."""
    pulumi.runtime.set_mocks(_EchoMocks(), project="cilium-bgp", stack="floor", preview=False)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        key = pulumi.Output.secret("benchmark-key")
        outputs = []
        for i in range(nodes):
            node = pulumi.ComponentResource("cilium-bgp:index:KubernetesNode", f"node{i}")
            connection = remote.ConnectionArgs(host=f"10.0.{i // 250}.{i % 250}", user="root", private_key=key)
            command = remote.Command(
                f"node{i}-bird",
                connection=connection,
                create="x" * 2000,
                delete="y" * 500,
                stdin=pulumi.Output.secret("z" * 1000),
                triggers=[connection.host, 22],
                opts=pulumi.ResourceOptions(parent=node),
            )
            node.register_outputs({"config": command.stdout})
            outputs.append(command.stdout)
        return pulumi.Output.all(*outputs)

    program()
    return 2 * nodes
