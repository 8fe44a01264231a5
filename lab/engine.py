"""The real Pulumi engine against the lab, driven through the Automation API (`pulumi.automation`).

    python -m lab.engine up     # toolchain, hosts-mode lab, stack, preview, up, outputs, BGP summary
    python -m lab.engine down   # destroy, then the lab removed

State lives in the local file backend ``.pulumi-state/`` (``PULUMI_BACKEND_URL``; git-ignored),
secrets use the passphrase generated there on first use. Each stack has its workspace beside the
state (``.pulumi-state/workspaces/<stack>``): the project's settings with ``main`` pointing at the
repository, and the stack's settings with the per-run config (the stack file's, the lab's pinned
host keys, the SSH key as a secret), so the repository's own files are never rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from lab.k8s.binaries import CiliumBinaries
from lab.k8s.labcluster import engine_kubeconfig
from lab.mgmt import management_stack
from lab.toolchain import ROOT, STATE_DIR, EngineError, ErrorDiagnostics, resource_name, state_env, toolchain_bin

STACK = "lab"
STACK_FILE = ROOT / "Pulumi.lab.yaml"
DEFAULT_WORKDIR = Path("/tmp/cilium-bgp-lab-engine")
PROJECT = "cilium-bgp"


@dataclass
class Preview:
    """What a preview would do, from its engine events."""

    ok: bool
    steps: dict[str, str]  # resource name -> op, for every step that is not `same`
    policy: list[auto.PolicyEvent]
    output: str


@dataclass
class Engine:
    """One stack of the project in its own workspace, with the lab's backend and passphrase."""

    bin_dir: Path
    stack_name: str = STACK
    config: dict[str, Any] = field(default_factory=dict)  # what configure() last set
    stack_file: Path = STACK_FILE  # the stack file its lab was made from (lab_up may move it)
    # Resource operations at once (`pulumi up --parallel`); None: the CLI's default, 4 per CPU.
    parallel: int | None = None

    @property
    def workspace_dir(self) -> Path:
        return STATE_DIR / "workspaces" / self.stack_name

    @property
    def temp_dir(self) -> Path:
        """The engine's TMPDIR, removed with the stack: pulumi-kubernetes writes the kubeconfig it
        is given (credentials included) to a new temporary file each time it is configured and
        never removes it (4.25.0, ``writeKubeconfigToFile``)."""
        return self.workspace_dir / "tmp"

    @cached_property
    def workspace(self) -> auto.LocalWorkspace:
        self.workspace_dir.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(mode=0o700, exist_ok=True)
        project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
        (self.workspace_dir / "Pulumi.yaml").write_text(yaml.safe_dump({**project, "main": str(ROOT)}))
        return auto.LocalWorkspace(
            work_dir=str(self.workspace_dir),
            env_vars={**state_env(self.bin_dir), "TMPDIR": str(self.temp_dir)},
            secrets_provider="passphrase",
            pulumi_command=auto.PulumiCommand(root=str(self.bin_dir.parent), skip_version_check=True),
        )

    @cached_property
    def stack(self) -> auto.Stack:
        return auto.Stack.create_or_select(self.stack_name, self.workspace)

    def forget_leftover(self) -> None:
        """Remove a stack of this name an earlier run left behind (its state and temporary files
        only: the lab hosts it pointed at went with that run's lab)."""
        if self.stack_name in {s.name for s in self.workspace.list_stacks()}:
            self.workspace.remove_stack(self.stack_name, force=True)
        shutil.rmtree(self.temp_dir)
        self.temp_dir.mkdir(mode=0o700)

    @property
    def settings_file(self) -> Path:
        return self.workspace_dir / f"Pulumi.{self.stack_name}.yaml"

    def configure(
        self,
        config: Mapping[str, Any],
        secret_files: Mapping[str, Path] | None = None,
        secrets: Mapping[str, Any] | None = None,
    ) -> None:
        """Set stack config: full keys (``cilium-bgp:nodes``) to plain values, and secrets read
        from files or given (a structured one as its JSON text, as `pulumi config set --secret`
        stores it).

        Plain values go straight into the stack's settings file: the Automation API hands config to
        `pulumi config set-all` as one command-line argument, which the kernel refuses past 128 KiB
        (a stack of about 500 nodes). Secrets go through the CLI, which encrypts them, on its stdin
        (`pulumi config set --secret KEY`), never in its arguments, which any local user can read.
        """
        _ = self.stack  # creates the stack, and with it the settings file and its encryption salt
        settings = yaml.safe_load(self.settings_file.read_text()) or {}
        settings.setdefault("config", {}).update(
            {key: value if isinstance(value, dict | list | str) else json.dumps(value) for key, value in config.items()}
        )
        self.settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
        values = {key: path.read_text() for key, path in (secret_files or {}).items()}
        values |= {k: v if isinstance(v, str) else json.dumps(v) for k, v in (secrets or {}).items()}
        for key, value in values.items():
            self._set_secret(key, value)
        self.config.update(config)

    def _set_secret(self, key: str, value: str) -> None:
        workspace = self.stack.workspace
        argv = [workspace.pulumi_command.command, "--non-interactive", "config", "set", "--secret", "--raw"]
        done = subprocess.run(
            [*argv, "--stack", self.stack_name, key],
            input=value,
            cwd=workspace.work_dir,
            env={**os.environ, **workspace.env_vars},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise EngineError(f"pulumi config set --secret {key} failed ({done.returncode}): {done.stderr.strip()}")

    def preview(
        self, policy_packs: Sequence[Path] = (), policy_pack_configs: Sequence[Path] = (), check: bool = True
    ) -> Preview:
        ops: dict[str, set[str]] = {}
        policy: list[auto.PolicyEvent] = []
        lines: list[str] = []

        def on_event(event: auto.EngineEvent) -> None:
            if event.resource_pre_event:
                meta = event.resource_pre_event.metadata
                ops.setdefault(resource_name(meta.urn), set()).add(meta.op.value)
            if event.policy_event:
                policy.append(event.policy_event)

        diagnostics = ErrorDiagnostics(on_event)
        try:
            self.stack.preview(
                policy_packs=[str(p) for p in policy_packs] or None,
                policy_pack_configs=[str(p) for p in policy_pack_configs] or None,
                parallel=self.parallel,
                on_event=diagnostics,
                on_output=lines.append,
                on_error=lines.append,
            )
            ok = True
        except auto.CommandError:
            if check:
                raise diagnostics.failure("preview", lines) from None
            ok = False
        # A replacement shows as several steps (create-replacement, replace, delete-replaced).
        steps = {name: "replace" if "replace" in o else o.pop() for name, o in ops.items() if o != {"same"}}
        return Preview(ok, steps, policy, "\n".join(lines))

    def up(
        self, expect_no_changes: bool = False, on_event: Callable[[auto.EngineEvent], None] | None = None
    ) -> auto.UpResult:
        lines: list[str] = []
        diagnostics = ErrorDiagnostics(on_event)
        try:
            return self.stack.up(
                expect_no_changes=expect_no_changes,
                parallel=self.parallel,
                on_event=diagnostics,
                on_output=lines.append,
                on_error=lines.append,
                show_secrets=False,
            )
        except auto.CommandError:
            raise diagnostics.failure("up", lines) from None

    def destroy(self) -> None:
        lines: list[str] = []
        diagnostics = ErrorDiagnostics()
        try:
            self.stack.destroy(
                parallel=self.parallel, on_event=diagnostics, on_output=lines.append, on_error=lines.append
            )
        except auto.CommandError:
            raise diagnostics.failure("destroy", lines) from None

    def outputs(self) -> dict[str, Any]:
        return {key: output.value for key, output in self.stack.outputs().items()}

    def remove(self) -> None:
        """Destroy what the stack holds, then the stack itself (state and workspace)."""
        try:
            self.destroy()
        finally:
            self.workspace.remove_stack(self.stack_name, force=True)
            shutil.rmtree(self.workspace_dir)


def lab_cli(*args: str, workdir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "lab", args[0], "--workdir", str(workdir), *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise EngineError(f"python -m lab {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def lab_config(stack_file: Path, hosts: Mapping[str, Any], nodes: int | None = None) -> dict[str, Any]:
    """The stack file's config with this lab's pinned host keys; ``nodes``: only the first ``nodes``
    nodes (the rest are spare lab hosts)."""
    config = yaml.safe_load(stack_file.read_text())["config"]
    # The lab names a stack's one router's host "router", each of several routers' by its name.
    several = config.get(f"{PROJECT}:routers")
    routers = [(r, r.get("name") or r.get("hostname", "router")) for r in several or ()]
    for router, name in routers or [(config[f"{PROJECT}:router"], "router")]:
        router["ssh"] = {**router.get("ssh", {}), "hostKey": hosts[name]["hostKey"]}
    config[f"{PROJECT}:nodes"] = config[f"{PROJECT}:nodes"][:nodes]
    for node in config[f"{PROJECT}:nodes"]:
        if node["name"] in hosts:  # an SSH host (method bird)
            node["ssh"] = {**node.get("ssh", {}), "hostKey": hosts[node["name"]]["hostKey"]}
    return config


def cluster_config(config: dict[str, Any], lab_workdir: Path) -> dict[str, Any]:
    """A cluster lab's part of the stack's config: the chart built from Cilium's source for the
    stack's release (the lab downloads nothing), and (returned) the secret ``kubernetes`` with the
    kubeconfig of the lab's API server; nothing for a lab without a cluster."""
    kubeconfig = engine_kubeconfig(lab_workdir)
    if not kubeconfig.exists():
        return {}
    cilium = config[f"{PROJECT}:cilium"]
    cilium["chart"] = str(CiliumBinaries.for_version(cilium["version"]).require().chart)
    settings = {**config.get(f"{PROJECT}:kubernetes", {}), "kubeconfig": kubeconfig.read_text()}
    return {f"{PROJECT}:kubernetes": settings}


def lab_up(workdir: Path, stack_file: Path = STACK_FILE, stack: str = STACK, nodes: int | None = None) -> Engine:
    """The toolchain, a hosts-mode lab of ``stack_file`` in ``workdir/lab`` (with its cluster when
    the stack has Kubernetes), and a new stack configured for it."""
    workdir.mkdir(parents=True, exist_ok=True)
    stack_file = management_stack(stack_file, workdir)
    engine = Engine(toolchain_bin(), stack, stack_file=stack_file)
    lab_cli("up", "--stack-file", str(stack_file), "--hosts", "ssh", workdir=workdir / "lab")
    engine.forget_leftover()
    hosts = json.loads((workdir / "lab" / "hosts.json").read_text())
    private_key = workdir / "lab" / "ssh" / "id_ed25519"
    config = lab_config(stack_file, hosts, nodes)
    secrets = cluster_config(config, workdir / "lab")
    engine.configure(config, secret_files={f"{PROJECT}:sshPrivateKey": private_key}, secrets=secrets)
    return engine


def lab_down(engine: Engine, workdir: Path) -> str:
    """Destroy the stack and remove it, then the lab (also when that fails); what the lab removed."""
    try:
        engine.remove()
    finally:
        removed = lab_cli("down", "--stack-file", str(engine.stack_file), workdir=workdir / "lab", check=False).stdout
    return removed


def _print_progress(event: auto.EngineEvent) -> None:
    if event.res_outputs_event:
        meta = event.res_outputs_event.metadata
        print(f"  {meta.op.value:>8}  {resource_name(meta.urn)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.engine", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    try:
        if args.command == "up":
            engine = lab_up(workdir)
            planned = engine.preview().steps
            print(f"preview: {len(planned)} changes")
            engine.up(on_event=_print_progress)
            print(json.dumps(engine.outputs(), indent=2))
            print(
                lab_cli(
                    "exec", "--host", "router", "--", "vtysh", "-c", "show bgp summary", workdir=workdir / "lab"
                ).stdout
            )
        else:
            engine = Engine(toolchain_bin())
            if (engine.workspace_dir / f"Pulumi.{STACK}.yaml").exists():
                print(lab_down(engine, workdir))
            else:
                print(lab_cli("down", "--stack-file", str(STACK_FILE), workdir=workdir / "lab", check=False).stdout)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
