"""SSH plumbing shared by the host components: connections and safely activated config files."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_command import remote

from cilium_bgp.artifacts import sha256
from cilium_bgp.config import Ssh, SshDefaults
from cilium_bgp.renderers.scripts import Daemon, activate_script, activation_stdin, remove_script
from cilium_bgp.secrets import reveal
from components.outputs import then


def ssh_connection(
    defaults: SshDefaults, ssh: Ssh, default_host: str, private_key: pulumi.Output[str] | None
) -> remote.ConnectionArgs:
    """How to reach one host: its own ``ssh`` settings, else the stack-wide ``defaults``."""
    return remote.ConnectionArgs(
        host=ssh.host or default_host,
        user=ssh.user or defaults.user,
        port=ssh.port or defaults.port,
        host_key=ssh.host_key,
        private_key=private_key,
        dial_error_limit=defaults.dial_error_limit,
    )


def config_file(
    name: str,
    *,
    kind: str,
    text: str | pulumi.Output[str],
    connection: remote.ConnectionArgs,
    secrets: Mapping[str, pulumi.Output[str]],
    opts: pulumi.ResourceOptions,
    daemons: tuple[str, ...] = ("bgpd",),
    install: Daemon | None = None,
) -> remote.Command:
    """A config file pushed through safe activation (see ``cilium_bgp.renderers.scripts``).

    ``text`` is the rendered, secret-free text. When ``secrets`` is non-empty the text references
    them: they are filled in here, inside ``Output.secret``, and the command logs nothing. The
    script embeds the hash of the secret-free text, so an unchanged file means unchanged inputs
    and no command on the next ``up``. ``opts``: the component's child options (parent, order).
    """
    if secrets:

        def filled(values: dict[str, str]) -> str | pulumi.Output[str]:
            return then(text, lambda t: activation_stdin(reveal(t, values)))

        stdin: pulumi.Input[str] = pulumi.Output.secret(pulumi.Output.all(**dict(secrets)).apply(filled))
    else:
        stdin = then(text, activation_stdin)
    owner = f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}"
    return remote.Command(
        name,
        connection=connection,
        create=then(text, lambda t: activate_script(kind, sha256(t), daemons, install, owner)),
        delete=remove_script(kind, owner),
        stdin=stdin,
        # pulumi-command replaces a command only when its `triggers` change; any other change, a
        # new connection included, runs `create` again in place. On another host that would leave
        # the old host's file and daemon running, so the host and port (a port forward may lead to
        # another machine) are the triggers. (`replace_on_changes=["connection.host"]` would not
        # do: the provider diffs the connection, a secret, as one value.) With
        # `delete_before_replace` the old resource's `delete` runs first, with the connection kept
        # in the state, on the old host: it cannot undo a file just written when both addresses
        # lead to the same machine, and it is done before the router check. A renamed resource is
        # another matter: Pulumi creates the new one first and deletes the old one last, after the
        # router check; the owner the activation records on the host makes that delete leave the new file
        # and its daemon alone.
        triggers=[connection.host, connection.port],
        # Our scripts read nothing of an earlier run; its (maybe secret) output stays off the host.
        add_previous_output_in_env=False,
        logging=remote.Logging.NONE if secrets else remote.Logging.STDOUT_AND_STDERR,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                delete_before_replace=True,
                additional_secret_outputs=["stdin", "stdout", "stderr"] if secrets else None,
            ),
        ),
    )
