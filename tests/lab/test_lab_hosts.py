"""Hosts mode without Pulumi: the program's own remote commands, replayed over real SSH into the lab.

::

    root namespace  cbgpm-<id> 198.18.0.1/24 ==veth== [mgmt bridge] == mgmt0 of router, node1, node2
                                                                        (each its own sshd, mount
     node1 --eth1-- [ router ] --eth2-- node2                            and UTS namespace)

``python -m lab up --hosts ssh`` turns the router and nodes of ``Pulumi.lab.yaml`` into SSH hosts
(own sshd, network, mount and UTS namespace, copy-on-write /etc). The commands are the ones the
program registers (``remote.Command`` inputs collected under the test harness's mocks, with the
lab's host keys pinned in the stack config): each ``create`` (or ``delete``) is run by the remote
user's shell, its ``stdin`` fed in, exactly as pulumi-command does over its SSH session. The steps
below run in order on one hosts-mode lab: what ``up`` hands a stack, the root namespace, the hosts;
then ``pulumi up``'s commands, ``verify`` and the same show checks as daemons mode (the daemons
read inside the hosts), a second push of the same FRR config (a reload, no reset), the ``delete``
scripts (no daemon, no file left), and ``down`` (the machine as it was).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from cilium_bgp.artifacts import render_artifacts, sha256
from cilium_bgp.config import StackConfig
from cilium_bgp.renderers.scripts import activation_stdin, host_script
from cilium_bgp.renderers.sysctl import render_router_sysctl
from cilium_bgp.stackfile import load_stack_file
from lab import netns
from lab.backends.ssh import SshHostsBackend
from lab.hostsplan import CONFIG_PATHS, SYSCTL_PATH, plan_hosts
from lab.mgmt import root_conflicts
from lab.plan import StackUnusable, plan_lab
from lab.process import ProcessRecord, is_alive, running
from lab.run import Lab
from lab.wait import Budget, wait_until
from tests.harness import run_program, stack_file_config
from tests.lab.expect import kernel_routes, router_sessions, speaker_sessions
from tests.lab.hostskit import MACHINE_FILES, STACK, HostsLab, Remote, digest, lab_stack, root_links, root_routes
from tests.lab.labkit import LAB_STACKS, ROOT, expect, lab_cli

pytestmark = pytest.mark.lab

COMMAND = "command:remote:Command"
HOST_KEY = re.compile(r"^ssh-ed25519 AAAA[0-9A-Za-z+/]+=*$")
# Without overlayfs a host's /etc is a private copy (the lab falls back to it).
OVERLAY = "overlay" in Path("/proc/filesystems").read_text()
RESTARTED = Budget("a BIRD the program started again is running", 10)
SETTLED = Budget("the program's BGP check already converged", 10)


@pytest.fixture(scope="module")
def ssh_machine(lab_machine: None) -> None:
    missing = [t for t in ("sshd", "ssh", "ssh-keygen", "nsenter", "findmnt") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"hosts mode needs OpenSSH (client and server), nsenter, findmnt; missing: {missing}")


@pytest.fixture(scope="module")
def hosts_lab(ssh_machine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostsLab]:
    """``up --hosts ssh`` once for the module; ``down`` afterwards unless the last step did it."""
    directory = tmp_path_factory.mktemp("hosts")
    stack = lab_stack(directory)
    lab = HostsLab(
        stack=stack,
        cfg=load_stack_file(stack),
        workdir=directory / "lab",
        remote=Remote(directory / "lab"),
        routes_before=root_routes(),
        links_before=root_links(),
        machine_before={path: digest(path) for path in MACHINE_FILES},
        forwarding_before=Path("/proc/sys/net/ipv4/ip_forward").read_text(),
    )
    began = time.monotonic()
    up = lab_cli("up", "--stack-file", str(stack), "--hosts", "ssh", "--workdir", str(lab.workdir), timeout=120)
    lab.timings["up (CLI)"] = round(time.monotonic() - began, 2)
    try:
        assert up.returncode == 0, f"up --hosts ssh failed:\n{up.stdout}\n{up.stderr}"
        assert "hosts.json" in up.stdout and "every sshd accepted an SSH login after" in up.stdout, up.stdout
        yield lab
    finally:
        if lab.state_file.exists():
            lab_cli("down", "--workdir", str(lab.workdir))
        print("hosts-mode timings:", json.dumps(lab.timings | {"ssh": lab.remote.seconds}))


@pytest.fixture(scope="module")
def commands(hosts_lab: HostsLab) -> dict[str, dict[str, Any]]:
    """The program's remote commands for the stack with the lab's host keys pinned: name -> inputs."""
    hosts = hosts_lab.hosts()
    config = stack_file_config(hosts_lab.stack)
    config["cilium-bgp:router"]["ssh"]["hostKey"] = hosts["router"]["hostKey"]
    for node in config["cilium-bgp:nodes"]:
        node["ssh"]["hostKey"] = hosts[node["name"]]["hostKey"]
    began = time.monotonic()
    run = run_program(config)
    hosts_lab.timings["program under mocks"] = round(time.monotonic() - began, 2)
    found = {}
    for registration in run.of_type(COMMAND):
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in run.inputs[registration.urn].items()}
        found[registration.urn.split("::")[-1]] = inputs
    return found


def rendered_files(cfg: StackConfig) -> dict[str, tuple[str, str, str]]:
    """Command name -> (host, path it writes, the rendered text)."""
    artifacts = render_artifacts(cfg)
    files = {
        "router-sysctl": ("router", SYSCTL_PATH, render_router_sysctl()),
        "router-frr-config": ("router", CONFIG_PATHS["frr"], artifacts["router/frr.conf"]),
    }
    for n in cfg.nodes:
        files[f"{n.name}-bird-config"] = (n.name, CONFIG_PATHS["bird"], artifacts[f"nodes/{n.name}/bird.conf"])
    return files


def test_up_hands_a_stack_what_it_needs(hosts_lab: HostsLab) -> None:
    recorded = hosts_lab.recorded()
    mgmt_link = f"cbgpm-{recorded['lab_id']}"
    assert recorded["mode"] == "hosts" and recorded["links"] == [mgmt_link], f"state: {recorded}"
    hosts = hosts_lab.hosts()
    cfg = hosts_lab.cfg
    assert set(hosts) == {"router", *(n.name for n in cfg.nodes)}, f"hosts.json: {hosts}"
    for name, host in hosts.items():
        assert set(host) == {"host", "port", "user", "hostKey"}, f"{name}: {host}"
        assert host["port"] == 22 and host["user"] == "root", f"{name}: {host}"
        assert HOST_KEY.match(host["hostKey"]), f"{name}'s host key as pulumi-command takes it: {host['hostKey']!r}"
    assert hosts["router"]["host"] == cfg.router.ssh.host, f"the router's address: {hosts['router']}"
    assert len({h["hostKey"] for h in hosts.values()}) == len(hosts), "one host key per host"
    key = hosts_lab.workdir / "ssh" / "id_ed25519"
    assert key.stat().st_mode & 0o777 == 0o600 and "OPENSSH PRIVATE KEY" in key.read_text(), "the client key, 0600"
    known = (hosts_lab.workdir / "ssh" / "known_hosts").read_text().splitlines()
    assert sorted(known) == sorted(f"{h['host']} {h['hostKey']}" for h in hosts.values()), f"known_hosts: {known}"


def test_the_root_namespace_gets_one_veth_and_its_route(hosts_lab: HostsLab) -> None:
    lab_id = hosts_lab.recorded()["lab_id"]
    mgmt_link = f"cbgpm-{lab_id}"
    links_during = root_links()
    assert {link for link in links_during - hosts_lab.links_before if lab_id in link} == {mgmt_link}, links_during
    new_routes = [r for r in root_routes() if r not in hosts_lab.routes_before]
    subnet = str(ip_network(f"{hosts_lab.hosts()['router']['host']}/24", strict=False))
    ours = [r for r in new_routes if r.get("dev") == mgmt_link or r["dst"] == subnet]
    assert [(r["dst"], r.get("dev"), r.get("protocol")) for r in ours] == [(subnet, mgmt_link, "kernel")], ours
    data = [ip_network(s) for s in ("10.0.0.0/8", "172.31.254.0/23", "192.168.121.0/24")]
    routed = [r for r in new_routes if r["dst"] != "default" and any(ip_network(r["dst"]).overlaps(d) for d in data)]
    assert not routed, f"lab data prefixes routed in the root namespace: {routed}"


def test_each_host_is_a_machine_of_its_own(hosts_lab: HostsLab) -> None:
    hosts = hosts_lab.hosts()
    for name, host in hosts.items():
        connection = {"host": host["host"], "port": 22, "user": "root", "hostKey": host["hostKey"]}
        script = "hostname; for d in /etc /run /tmp /root; do findmnt -n -o FSTYPE $d; done"
        seen = hosts_lab.remote.run(f"{name} look", connection, script)
        assert seen.returncode == 0, f"ssh {name}: {seen.stderr}"
        hostname, etc_fs, *private = seen.stdout.split()
        assert [hostname, *private] == [name, "tmpfs", "tmpfs", "tmpfs"], f"{name}: {seen.stdout!r}"
        assert etc_fs == "overlay" or not OVERLAY, f"{name}: /etc is {etc_fs}, not copy-on-write"
    # A host key is pinned: the router with node1's key is refused.
    wrong = {"host": hosts["router"]["host"], "port": 22, "user": "root", "hostKey": hosts["node1"]["hostKey"]}
    refused = hosts_lab.remote.run("pinning", wrong, "true")
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr, refused.stderr


def test_exec_runs_a_command_on_a_host(hosts_lab: HostsLab) -> None:
    ran = lab_cli("exec", "--workdir", str(hosts_lab.workdir), "--host", "node1", "--", "sh", "-c", "hostname; exit 7")
    assert ran.returncode == 7 and ran.stdout.strip() == "node1", f"exec: {ran.returncode} {ran.stdout!r}"
    # The client has no sshd: exec enters its network namespace, where its default route is the router's.
    client = lab_cli(
        "exec", "--workdir", str(hosts_lab.workdir), "--host", "client", "--", "ip", "-4", "route", "show", "default"
    )
    assert client.returncode == 0 and client.stdout.startswith("default via "), f"exec on client: {client.stderr!r}"
    unknown = lab_cli("exec", "--workdir", str(hosts_lab.workdir), "--host", "nosuch", "--", "true")
    assert unknown.returncode != 0 and "no SSH host 'nosuch'" in unknown.stderr, unknown.stderr


def test_before_the_program_nothing_runs(hosts_lab: HostsLab) -> None:
    _, hosts_view = hosts_lab.inspect()
    assert all(not h["daemons"] for h in hosts_view.values()), f"daemons before the program: {hosts_view}"
    early = lab_cli("verify", "--workdir", str(hosts_lab.workdir))
    assert early.returncode == 1 and "no routing daemon runs on the router host" in early.stderr, early.stderr


def test_the_programs_commands_push_the_rendered_files(
    commands: dict[str, dict[str, Any]], hosts_lab: HostsLab
) -> None:
    for name, (_, _, text) in rendered_files(hosts_lab.cfg).items():
        assert commands[name]["stdin"] == activation_stdin(text), f"{name}: stdin is not the rendered file"
        assert f"content sha256 {sha256(text)}" in commands[name]["create"], f"{name}: hash not in the script"
        assert commands[name]["connection"]["hostKey"], f"{name}: no pinned host key"
    assert commands["verify-check"]["create"].startswith("python3 - --daemon frr"), commands["verify-check"]["create"]


def test_pulumi_ups_commands_configure_the_hosts(commands: dict[str, dict[str, Any]], hosts_lab: HostsLab) -> None:
    """The sysctl and BIRD configs (independent), the FRR config (after the sysctl), the check."""
    began = time.monotonic()
    for name in ("router-sysctl", *(f"{n.name}-bird-config" for n in hosts_lab.cfg.nodes), "router-frr-config"):
        pushed = hosts_lab.remote.create(name, commands[name])
        if "installed?" in commands[name]["create"]:
            assert "=present" in pushed.stdout, f"{name}: the install check did not find the daemon: {pushed.stdout}"
    check = hosts_lab.remote.create("verify-check", commands["verify-check"])
    hosts_lab.timings["program's commands (pulumi up)"] = round(time.monotonic() - began, 2)
    report = json.loads(check.stdout)
    assert report["ok"], f"the program's check: {report}"
    hosts_lab.timings["check: converged after"] = report["elapsedSeconds"]


def test_the_same_show_checks_as_in_daemons_mode(hosts_lab: HostsLab) -> None:
    """The daemons the program started, read inside the hosts through the same interface."""
    lab = Lab.attach(hosts_lab.workdir)
    expect(router_sessions(lab, "router"), SETTLED)
    expect(kernel_routes(lab, "router"), SETTLED)
    for node in lab.speakers:
        expect(speaker_sessions(lab, node), SETTLED)


def test_verify_finds_sessions_routes_pings_and_the_files(hosts_lab: HostsLab) -> None:
    verify = lab_cli("verify", "--workdir", str(hosts_lab.workdir), "--json")
    assert verify.returncode == 0, f"verify on the hosts failed:\n{verify.stdout}\n{verify.stderr}"
    seen = json.loads(verify.stdout)
    expected, router = seen["expected"]["router"], seen["routers"]["router"]
    for address, want in expected["peers"].items():
        got = router["peers"][address]
        assert got["state"] == "Established" and got["prefixesReceived"] == want["prefixesReceived"], got
    assert router["routes"] == {p: sorted(h) for p, h in expected["routes"].items()}, router
    check = seen["programChecks"]["router"]
    assert check["ok"] and all(p["ok"] and p["ttl"] == 63 for p in seen["pings"]), seen["pings"]
    assert len(seen["pings"]) == 4, f"pod to pod both ways and client to both pods: {seen['pings']}"
    states = {v for s in seen["speakers"].values() for v in s["sessions"].values()}
    assert states == {"Established"}, f"the nodes' own views: {seen['speakers']}"
    router_view = seen["hosts"]["router"]
    assert {d["comm"] for d in router_view["daemons"]} >= {"watchfrr", "zebra", "bgpd"}, router_view
    inside = [d["inHostMountNamespace"] for h in seen["hosts"].values() for d in h["daemons"]]
    assert all(inside), f"a daemon outside its host's mount namespace: {seen['hosts']}"
    for name, (host, path, text) in rendered_files(hosts_lab.cfg).items():
        state = seen["hosts"][host]["files"][path]
        want = {"exists": True, "sha256": sha256(text), "from": "host" if OVERLAY else None}
        assert state == want, f"{name}: {host}:{path}: {state}"


def test_the_machine_is_untouched(hosts_lab: HostsLab) -> None:
    machine = {path: digest(path) for path in MACHINE_FILES}
    assert machine == hosts_lab.machine_before, "a push reached the machine's /etc"
    assert not Path(SYSCTL_PATH).exists(), f"{SYSCTL_PATH} appeared on the machine"
    forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    assert forwarding == hosts_lab.forwarding_before, "the machine's forwarding changed"


def test_the_same_frr_config_again_reloads_without_a_reset(
    commands: dict[str, dict[str, Any]], hosts_lab: HostsLab
) -> None:
    """Same bgpd, same connection counters, a growing uptime."""
    before = hosts_lab.bgp_neighbors()
    bgpd_before = [d["pid"] for d in hosts_lab.inspect()[1]["router"]["daemons"] if d["comm"] == "bgpd"]
    again = hosts_lab.remote.create("router-frr-config", commands["router-frr-config"], again=True)
    assert "Stopped bgpd" not in again.stdout, f"the second push restarted FRR:\n{again.stdout}"
    after = hosts_lab.bgp_neighbors()
    bgpd_after = [d["pid"] for d in hosts_lab.inspect()[1]["router"]["daemons"] if d["comm"] == "bgpd"]
    assert bgpd_after == bgpd_before, f"bgpd {bgpd_before} -> {bgpd_after}"
    for address, peer in before.items():
        now = after[address]
        assert now["bgpState"] == "Established", f"{address} after the reload: {now['bgpState']}"
        for counter in ("connectionsEstablished", "connectionsDropped"):
            assert now[counter] == peer[counter], f"{address} {counter}: {peer[counter]} -> {now[counter]}"
        assert now["bgpTimerUpMsec"] >= peer["bgpTimerUpMsec"], f"{address}: the session restarted"


def test_pulumi_destroys_commands_leave_nothing(commands: dict[str, dict[str, Any]], hosts_lab: HostsLab) -> None:
    """node1's BIRD and the router's FRR first: stopped and removed; then the rest."""
    began = time.monotonic()
    hosts_lab.remote.delete("node1-bird-config", commands["node1-bird-config"])
    hosts_lab.remote.delete("router-frr-config", commands["router-frr-config"])
    hosts_lab.timings["delete node1 BIRD + router FRR"] = round(time.monotonic() - began, 2)
    _, hosts_view = hosts_lab.inspect()
    for host, path in (("node1", CONFIG_PATHS["bird"]), ("router", CONFIG_PATHS["frr"])):
        assert hosts_view[host]["daemons"] == [], f"{host} still runs {hosts_view[host]['daemons']}"
        assert hosts_view[host]["files"][path] == {"exists": False}, f"{host}: {path} is still there"
    assert [d["comm"] for d in hosts_view["node2"]["daemons"]] == ["bird"], "node2 is not destroyed yet"
    code, _ = hosts_lab.inspect("--expect-empty")
    assert code == 1, "--expect-empty must fail while node2's BIRD still runs"
    for name in ("node2-bird-config", "router-sysctl"):
        hosts_lab.remote.delete(name, commands[name])
    code, hosts_view = hosts_lab.inspect("--expect-empty")
    assert code == 0, f"after every delete something is left: {hosts_view}"


def test_down_stops_what_the_program_left_and_restores_the_machine(
    commands: dict[str, dict[str, Any]], hosts_lab: HostsLab
) -> None:
    # A daemon the program started is still running at `down` (node2 pushed again): down stops it.
    hosts_lab.remote.create("node2-bird-config", commands["node2-bird-config"], again=True)

    def node2_bird() -> tuple[list[dict[str, Any]], list[str]]:
        daemons = hosts_lab.inspect()[1]["node2"]["daemons"]
        return daemons, [] if daemons else ["node2's BIRD not running yet"]

    left_running = wait_until(node2_bird, RESTARTED, "node2's BIRD running again").value
    recorded = hosts_lab.recorded()
    began = time.monotonic()
    down = lab_cli("down", "--workdir", str(hosts_lab.workdir))
    hosts_lab.timings["down (CLI)"] = round(time.monotonic() - began, 2)
    assert down.returncode == 0 and down.stdout.startswith("removed: "), f"down:\n{down.stdout}\n{down.stderr}"
    assert f"root-namespace link cbgpm-{recorded['lab_id']}" in down.stdout, down.stdout
    left = [n for n in recorded["namespaces"] if netns.exists(n)]
    assert not left, f"namespaces left: {left}"
    processes = [ProcessRecord(**p) for p in recorded["processes"]]
    assert processes and not [p.role for p in processes if is_alive(p)], "an sshd outlived down"
    assert not [d for d in left_running if running(d["pid"])], f"left running: {left_running}"
    assert f"cbgpm-{recorded['lab_id']}" not in root_links(), "the management veth outlived down"
    routes_after, links_after = root_routes(), root_links()
    assert not [r for r in routes_after if recorded["lab_id"] in r.get("dev", "")], routes_after
    lost = [r for r in hosts_lab.routes_before if r not in routes_after and r.get("dev") in links_after]
    assert not lost, f"root-namespace routes lost: {lost}"
    if links_after == hosts_lab.links_before:  # nobody else changed the root namespace meanwhile
        assert routes_after == hosts_lab.routes_before, (
            f"root routes before {hosts_lab.routes_before}, after {routes_after}"
        )
    again = lab_cli("down", "--workdir", str(hosts_lab.workdir))
    assert again.returncode == 0 and "nothing to remove" in again.stdout, again.stdout


def test_hosts_mode_refuses_what_it_cannot_play(lab_machine: None, tmp_path: Path) -> None:
    """Method without SSH nodes, a router without ssh.host, ssh.host in a data subnet or over two
    /24s: refused before anything exists."""
    with pytest.raises(StackUnusable, match="method 'bird'"):
        plan_hosts(plan_lab(ROOT / "Pulumi.prod.yaml", "000000"))
    with pytest.raises(StackUnusable, match=re.escape("routers[0].ssh.host is not set")):
        SshHostsBackend.refuse_unplayable(plan_lab(LAB_STACKS / "Pulumi.lab-pair-bird.yaml", "000000"))
    text = STACK.read_text()
    for change, words in (
        (("host: 198.18.0.11", "host: 10.0.1.11"), "in one /24"),
        (("host: 198.18.0.", "host: 10.0.2."), "overlaps 10.0.2.0/24"),
        (("host: 198.18.0.12", "host: 198.18.0.1"), "is reserved"),
        (("host: 198.18.0.", "host: 192.0.2."), "overlaps 192.0.2.0/24"),
    ):
        stack = tmp_path / "Pulumi.lab.yaml"
        stack.write_text(text.replace(*change))
        with pytest.raises(StackUnusable, match=re.escape(words)):
            plan_hosts(plan_lab(stack, "000000"))
        result = lab_cli("up", "--stack-file", str(stack), "--hosts", "ssh", "--workdir", str(tmp_path / "w"))
        assert result.returncode == 2 and words in result.stderr, f"{change}: {result.returncode} {result.stderr}"
        assert not (tmp_path / "w" / "lab-state.json").exists(), "a refused stack left a lab state"
    # The machine's own subnet is routed in the root namespace: such a management network is refused.
    assert root_conflicts(ip_network("192.0.2.0/24"), "cbgpm-unused"), "192.0.2.0/24 should count as routed"
    # `inspect` looks where the program's scripts write.
    for path in (CONFIG_PATHS["frr"], CONFIG_PATHS["bird"], SYSCTL_PATH):
        assert f"={path}\n" in host_script("lib.sh"), f"the program's scripts write elsewhere than {path}"
