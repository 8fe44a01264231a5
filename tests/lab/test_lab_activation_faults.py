"""Safe activation under faults, on hosts-mode lab hosts with the program's own commands.

``python -m lab up --hosts ssh`` gives the router and nodes their own sshd, /etc (copy-on-write)
and /run; the program's commands (with a BGP password, so redaction is exercised) are run over
real SSH as pulumi-command runs them, and FRR is the one ``activate.sh`` started on the router.
Then, in order, on that running router:

1. the SSH transfer of a new frr.conf is cut midway (the client killed): the router keeps its
   config, its sessions and its bgpd;
2. a new frr.conf that both checkers accept but the running bgpd refuses (the router's own
   address as a neighbor): the reload fails, the previous config is put back and reloaded, the
   sessions never drop, FRR runs the old config, and no password reaches the output or FRR's
   reload log;
3. two activations at once: one waits for the other, the one that ran last is what is in place
   and what FRR runs, and the program's router check passes.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from cilium_bgp.artifacts import sha256
from cilium_bgp.renderers.scripts import CONFIG_PATHS, RUN_DIR, activate_script, activation_stdin
from cilium_bgp.stackfile import load_stack_file
from lab.sshd import ssh_argv
from tests.harness import run_program, stack_file_config
from tests.lab.hostskit import Remote, lab_stack
from tests.lab.labkit import lab_cli

pytestmark = pytest.mark.lab

PASSWORD = "lab-fault-pw-4821"
FRR_CONF = CONFIG_PATHS["frr"]
SETTLE_SECONDS = 20  # an abandoned activation ends (EOF on its stdin) well within this


@dataclass
class RouterHost:
    """The lab's router host: SSH as the program uses it, and a look inside through ``lab exec``."""

    workdir: Path
    connection: dict[str, Any]
    frr_command: dict[str, Any]
    frr_text: str  # the frr.conf the program pushed (password filled in)
    verify_command: dict[str, Any]

    def ssh(self, script: str) -> list[str]:
        host, port = self.connection["host"], int(self.connection["port"])
        known = self.workdir / "pinned-router"
        known.write_text(f"{host} {self.connection['hostKey']}\n")
        return [*ssh_argv(self.workdir, host, port, self.connection["user"], known_hosts=known), script]

    def command(self, text: str) -> str:
        return activate_script("frr", sha256(text), ("bgpd",), install="frr")

    def push(self, text: str) -> subprocess.CompletedProcess[str]:
        """``text`` activated as the program does it (the hash in the header before the file)."""
        return subprocess.run(
            self.ssh(self.command(text)), input=activation_stdin(text), capture_output=True, text=True, timeout=180
        )

    def on_host(self, *argv: str) -> str:
        proc = lab_cli("exec", "--workdir", str(self.workdir), "--host", "router", "--", *argv)
        assert proc.returncode == 0, f"{argv} on the router host: {proc.stderr}"
        return proc.stdout

    def conf_sha256(self) -> str:
        return self.on_host("sha256sum", FRR_CONF).split()[0]

    def running_config(self) -> str:
        return self.on_host("vtysh", "-c", "show running-config")

    def sessions(self) -> dict[str, tuple[str, int, int]]:
        """Per neighbor: state, connections established and dropped (a reset changes the counters)."""
        neighbors = json.loads(self.on_host("vtysh", "-c", "show bgp neighbors json"))
        return {a: (n["bgpState"], n["connectionsEstablished"], n["connectionsDropped"]) for a, n in neighbors.items()}

    def bgpd_pids(self) -> list[int]:
        _, hosts = inspect(self.workdir)
        return sorted(d["pid"] for d in hosts["router"]["daemons"] if d["comm"] == "bgpd")

    def check(self) -> dict[str, Any]:
        """The program's own router check (bgp_status.py), as ``pulumi up`` runs it."""
        command = self.verify_command
        proc = subprocess.run(
            self.ssh(command["create"]), input=command["stdin"], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"the router check failed:\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout)


def inspect(workdir: Path) -> tuple[int, dict[str, Any]]:
    proc = lab_cli("inspect", "--workdir", str(workdir), "--json")
    assert proc.stdout, f"inspect printed nothing ({proc.returncode}): {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


def program_commands(stack: Path, hosts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The program's remote commands with the lab's host keys pinned and a BGP password set."""
    config = stack_file_config(stack)
    config["cilium-bgp:router"]["ssh"]["hostKey"] = hosts["router"]["hostKey"]
    for node in config["cilium-bgp:nodes"]:
        node["ssh"]["hostKey"] = hosts[node["name"]]["hostKey"]
    run = run_program(config, secrets={"bgpPassword": PASSWORD})
    commands = {}
    for registration in run.of_type("command:remote:Command"):
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in run.inputs[registration.urn].items()}
        commands[registration.urn.split("::")[-1]] = inputs
    return commands


@pytest.fixture(scope="module")
def router(lab_machine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterHost]:
    tmp = tmp_path_factory.mktemp("activation-faults")
    stack, workdir = lab_stack(tmp), tmp / "lab"
    up = lab_cli("up", "--stack-file", str(stack), "--hosts", "ssh", "--workdir", str(workdir))
    try:
        assert up.returncode == 0, f"up --hosts ssh failed:\n{up.stdout}\n{up.stderr}"
        hosts = json.loads((workdir / "hosts.json").read_text())
        commands = program_commands(stack, hosts)
        frr = commands["router-frr-config"]
        pushed = frr["stdin"].split("\n", 1)[1]  # after the header: the file with the password in
        assert f"password {PASSWORD}" in pushed, "the lab stack should run with a BGP password"
        host = RouterHost(workdir, frr["connection"], frr, pushed, commands["verify-check"])
        # pulumi up: the sysctl and BIRD configs, then FRR, then the check.
        remote = Remote(workdir)
        nodes = [n.name for n in load_stack_file(stack).nodes]
        for name in ("router-sysctl", *(f"{n}-bird-config" for n in nodes), "router-frr-config"):
            remote.create(name, commands[name])
        assert host.check()["ok"]
        yield host
    finally:
        down = lab_cli("down", "--workdir", str(workdir))
        assert down.returncode == 0, f"down:\n{down.stdout}\n{down.stderr}"


def wait_until_settled(router: RouterHost) -> None:
    """Until no activation is at work on the router (its lock is free and nothing is being received)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        busy = lab_cli(
            "exec", "--workdir", str(router.workdir), "--host", "router", "--",
            "sh", "-c", f"! ls {RUN_DIR}/frr.received.* >/dev/null 2>&1 && flock -n {RUN_DIR}/frr.lock true",
        )  # fmt: skip
        if busy.returncode == 0:
            return
        assert time.monotonic() < deadline, f"an activation is still at work after {SETTLE_SECONDS} s"
        time.sleep(0.3)


def changed(text: str, marker: str) -> str:
    """``text`` with one harmless, visible addition: a prefix-list named after ``marker``."""
    return text + f"ip prefix-list CBGP-FAULT-{marker} seq 5 permit 192.0.2.0/24\n!\n"


def test_a_transfer_cut_midway_changes_nothing(router: RouterHost) -> None:
    before = (router.conf_sha256(), router.sessions(), router.bgpd_pids())
    new = changed(router.frr_text, "CUT")
    framed = activation_stdin(new)
    command = router.command(new)
    client = subprocess.Popen(
        router.ssh(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert client.stdin is not None
    client.stdin.write(framed[: len(framed) // 2].encode())
    client.stdin.flush()
    time.sleep(1)  # the first half is on the host, being received
    client.send_signal(signal.SIGKILL)  # the connection drops: no more bytes, no goodbye
    client.wait(timeout=10)
    wait_until_settled(router)
    assert router.conf_sha256() == before[0], "a cut transfer changed frr.conf"
    assert "CBGP-FAULT-CUT" not in router.running_config()
    assert router.sessions() == before[1], "a session reset after the cut transfer"
    assert router.bgpd_pids() == before[2], "bgpd restarted"
    listed = router.on_host("ls", "-A", "/etc/frr")
    assert not [name for name in listed.split() if ".cilium-bgp." in name], f"a temporary file in /etc/frr: {listed}"
    # The same cut, deterministic: half the file and a closed stdin. The script says why it refused.
    proc = subprocess.run(
        router.ssh(command), input=framed[: len(framed) // 2], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1 and "incomplete or altered" in proc.stderr and "nothing changed" in proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert router.conf_sha256() == before[0] and router.sessions() == before[1]


def test_a_failed_reload_rolls_back_and_keeps_the_sessions(router: RouterHost) -> None:
    before = (router.conf_sha256(), router.sessions(), router.bgpd_pids())
    own_address = "10.0.1.2"  # router.interfaces[0]: bgpd refuses itself as a neighbor, at run time only
    bad = router.frr_text.replace(" bgp router-id", f" neighbor {own_address} remote-as 65999\n bgp router-id", 1)
    proc = router.push(bad)
    assert proc.returncode == 1, f"the push was accepted:\n{proc.stdout}\n{proc.stderr}"
    assert "did not take the new /etc/frr/frr.conf" in proc.stderr, proc.stderr
    assert "the previous config is back in place and active" in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr, "the reload's output carries the password"
    assert router.conf_sha256() == before[0], "the previous frr.conf is back"
    running = router.running_config()
    assert f"neighbor {own_address}" not in running and "remote-as 65999" not in running, running
    assert router.sessions() == before[1], "a session reset during the failed reload or the rollback"
    assert router.bgpd_pids() == before[2], "bgpd restarted"
    log = router.on_host("sh", "-c", "cat /var/log/frr/frr-reload.log 2>/dev/null || true")
    assert PASSWORD not in log, "frr-reload.log keeps the password"
    assert router.check()["ok"]


def test_two_activations_at_once_are_serialised_and_the_last_wins(router: RouterHost) -> None:
    before = router.sessions()
    texts = {marker: changed(router.frr_text, marker) for marker in ("A", "B")}
    clients = {}
    for marker, text in texts.items():
        clients[marker] = subprocess.Popen(
            router.ssh(router.command(text)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    # Both files are on their way at once: one activation takes the lock, the other waits for it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {m: pool.submit(c.communicate, activation_stdin(texts[m]), 180) for m, c in clients.items()}
        results = {m: f.result() for m, f in futures.items()}
    for marker, client in clients.items():
        assert client.returncode == 0, f"activation {marker} failed:\n{results[marker]}"
        assert PASSWORD not in "".join(results[marker]), f"activation {marker}'s output carries the password"
    waited = [m for m, (_, err) in results.items() if "waiting for another activation of frr" in err]
    assert len(waited) == 1, f"exactly one activation should have waited for the other: {results}"
    (last,) = waited
    (first,) = set(texts) - {last}
    digest = hashlib.sha256(texts[last].encode()).hexdigest()
    assert router.conf_sha256() == digest, f"the file in place is not the last activation's ({last})"
    running = router.running_config()
    assert f"CBGP-FAULT-{last}" in running and f"CBGP-FAULT-{first}" not in running, running
    assert router.sessions() == before, "a session reset during the activations"
    assert router.check()["ok"]
