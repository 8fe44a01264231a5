"""The real Pulumi engine against the lab: `pulumi up -s lab` over SSH into the lab's hosts.

    python -m lab.engine up     # toolchain, hosts-mode lab, stack, `pulumi up`, outputs, BGP summary
    python -m lab.engine down   # `pulumi destroy`, then the lab removed

State lives in the project's local backend (``.pulumi-state/``, git-ignored; the passphrase is
generated there on first use). The per-run stack config (the hosts' pinned keys, the SSH key as a
secret) goes to a copy of ``Pulumi.lab.yaml`` in the lab's workdir, passed with ``--config-file``,
so the repository's stack file is never rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STACK = "lab"
STACK_FILE = ROOT / "Pulumi.lab.yaml"
STATE_DIR = ROOT / ".pulumi-state"
DEFAULT_WORKDIR = Path("/tmp/cilium-bgp-lab-engine")
PROJECT = "cilium-bgp"
# The version the pulumi-command SDK (requirements.txt) asks for; our build reports 1.2.1+cilium-bgp.
COMMAND_PLUGIN_VERSION = "1.2.1"


class EngineError(Exception):
    pass


def toolchain_bin() -> Path:
    """Build (or reuse) the Pulumi CLI and plugins; their directory."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-pulumi"), "--print-path"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise EngineError(f"scripts/install-pulumi failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Engine:
    """Runs the Pulumi CLI with the lab's backend, passphrase and per-run config file."""

    bin_dir: Path
    workdir: Path
    stack: str = STACK
    stack_file: Path = STACK_FILE

    @property
    def config_file(self) -> Path:
        return self.workdir / f"Pulumi.{self.stack}.yaml"

    def env(self) -> dict[str, str]:
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        passphrase = STATE_DIR / "passphrase"
        if not passphrase.exists():
            fd = os.open(passphrase, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        env = {
            **os.environ,
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PULUMI_BACKEND_URL": f"file://{STATE_DIR}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_HOME": str(STATE_DIR / "home"),
        }
        env.pop("PULUMI_CONFIG_PASSPHRASE", None)
        return env

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, cwd: Path = ROOT, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=cwd,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise EngineError(
                f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        return proc

    def register_plugins(self) -> None:
        """Put the locally built provider into the plugin cache too, so `pulumi plugin ls` shows it
        (the engine already finds it beside the CLI; nothing is ever downloaded)."""
        listed = self.run("plugin", "ls", "--json")
        if any(p.get("name") == "command" for p in json.loads(listed.stdout or "[]")):
            return
        binary = self.bin_dir / "pulumi-resource-command"
        self.run("plugin", "install", "resource", "command", COMMAND_PLUGIN_VERSION, "--file", str(binary))

    def stack_args(self) -> list[str]:
        return ["--stack", self.stack, "--config-file", str(self.config_file)]

    def ensure_stack(self) -> None:
        """Create the stack (passphrase provider) without touching the repository's stack file."""
        listed = self.run("stack", "ls", "--json")
        if any(s.get("name") == self.stack for s in json.loads(listed.stdout or "[]")):
            return
        with tempfile.TemporaryDirectory(prefix="cbgp-stack-init-") as scratch:
            shutil.copy(ROOT / "Pulumi.yaml", Path(scratch) / "Pulumi.yaml")
            self.run("stack", "init", self.stack, "--secrets-provider", "passphrase", cwd=Path(scratch))
            created = yaml.safe_load((Path(scratch) / f"Pulumi.{self.stack}.yaml").read_text()) or {}
        salt = created.get("encryptionsalt")
        if not salt:
            raise EngineError("pulumi stack init wrote no encryptionsalt")
        (STATE_DIR / f"{self.stack}.encryptionsalt").write_text(salt)

    def write_config(self, hosts: dict[str, Any], private_key: Path, nodes: int | None = None) -> None:
        """The working stack config: the stack file's, plus this lab's pinned host keys and the SSH
        key as a secret. ``nodes``: keep only the first ``nodes`` nodes (the rest join later)."""
        document = yaml.safe_load(self.stack_file.read_text())
        salt_file = STATE_DIR / f"{self.stack}.encryptionsalt"
        if salt_file.exists():
            document["encryptionsalt"] = salt_file.read_text().strip()
        config = document["config"]
        router = config[f"{PROJECT}:router"]
        router["ssh"] = {**router.get("ssh", {}), "hostKey": hosts[router.get("hostname", "router")]["hostKey"]}
        config[f"{PROJECT}:nodes"] = config[f"{PROJECT}:nodes"][:nodes]
        for node in config[f"{PROJECT}:nodes"]:
            node["ssh"] = {**node.get("ssh", {}), "hostKey": hosts[node["name"]]["hostKey"]}
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False))
        self.run("config", "set", "--secret", "sshPrivateKey", *self.stack_args(), stdin=private_key.read_text())


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


def lab_up(workdir: Path, stack_file: Path = STACK_FILE, stack: str = STACK, nodes: int | None = None) -> Engine:
    """Build the toolchain and a hosts-mode lab, create the stack and write its config."""
    engine = Engine(toolchain_bin(), workdir / "engine", stack, stack_file)
    lab_cli("up", "--stack-file", str(stack_file), "--hosts", "ssh", workdir=workdir / "lab")
    hosts = json.loads((workdir / "lab" / "hosts.json").read_text())
    engine.register_plugins()
    engine.ensure_stack()
    engine.write_config(hosts, workdir / "lab" / "ssh" / "id_ed25519", nodes)
    return engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.engine", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    try:
        if args.command == "up":
            engine = lab_up(workdir)
            engine.run("preview", *engine.stack_args())
            up = engine.run("up", "--yes", "--skip-preview", *engine.stack_args())
            print(up.stdout[-3000:])
            print(engine.run("stack", "output", "--json", "--stack", STACK).stdout)
            print(
                lab_cli(
                    "exec", "--host", "router", "--", "vtysh", "-c", "show bgp summary", workdir=workdir / "lab"
                ).stdout
            )
        else:
            engine = Engine(toolchain_bin(), workdir / "engine")
            if engine.config_file.exists():
                engine.run("destroy", "--yes", *engine.stack_args(), check=False)
                engine.run("stack", "rm", "--yes", "--force", "--preserve-config", "--stack", STACK, check=False)
            print(lab_cli("down", "--stack-file", str(STACK_FILE), workdir=workdir / "lab", check=False).stdout)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
