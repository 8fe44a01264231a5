"""Hosts mode's SSH hosts: each lab host's own mount and UTS namespace, its sshd and keys.

A host starts as ``lab/host-init.sh`` run inside its network namespace after ``unshare --mount
--uts``: ``/etc`` and ``/var/log`` become copy-on-write views of the machine's (the upper layer in
the workdir), ``/run``, ``/tmp``, ``/var/tmp`` and ``/root`` private tmpfs, the hostname the host's
name; then it execs sshd (one ed25519 host key per host, the lab's client key authorised for
root). The sshd is the anchor of the host's namespaces: ``lab.inspection`` enters them through it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from lab.hostsplan import SshHost
from lab.process import ProcessRecord, is_alive, record_process
from lab.shell import LabError, run
from lab.state import LabState
from lab.wait import Budget, wait_until

SSHD_READY = Budget("sshd ready (every host accepts an SSH login)", 20)
# A login costs ~70 ms of the client's CPU alone (101 at once: 7.2 s user on 2 cores): with
# hundreds of hosts probed at once none finishes within an attempt's timeout, so a few at a time.
PROBES_AT_ONCE = 16
# Every host's sshd starts at once and shares the CPU: with 251 hosts the first one listened only
# after the flat 20 s (twice, "Connection refused" to the end), so the budget grows per host.
SSHD_READY_PER_HOST_SECONDS = 0.2
SSH_ATTEMPT_SECONDS = 5
CLIENT_KEY = "ssh/id_ed25519"
KNOWN_HOSTS = "ssh/known_hosts"
HOSTS_JSON = "hosts.json"
HOST_INIT = resources.files("lab").joinpath("host-init.sh")


def _keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair at ``path`` (0600) and ``path``.pub; returns ``<type> <base64>``."""
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    path.chmod(0o600)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def client_key(workdir: Path, lab_id: str) -> str:
    (workdir / "ssh").mkdir(mode=0o700, exist_ok=True)
    (workdir / "ssh").chmod(0o700)
    return _keygen(workdir / CLIENT_KEY, f"cilium-bgp-lab-{lab_id}")


def sshd_config(lab_id: str, host: SshHost) -> str:
    return f"""\
# cilium-bgp lab {lab_id}: the sshd of host {host.name} ({host.netns}), written by `python -m lab up --hosts ssh`
ListenAddress {host.address}
Port {host.port}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers root
AcceptEnv PULUMI_* LANG
PrintMotd no
UseDNS no
X11Forwarding no
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def host_dir(workdir: Path, name: str) -> Path:
    return workdir / "hosts" / name


def prepare_host(workdir: Path, lab_id: str, host: SshHost, authorised: str) -> str:
    """A fresh host directory: the files copied into the host's /etc and /root, and its host key (returned)."""
    directory = host_dir(workdir, host.name)
    if directory.exists():
        # A previous lab's layers (the workdir held no lab: Lab.create checked): start clean.
        run(["rm", "-rf", "--one-file-system", str(directory)])
    etc, ssh_dir = directory / "seed" / "etc", directory / "seed" / "root" / ".ssh"
    (etc / "ssh").mkdir(parents=True)
    ssh_dir.mkdir(mode=0o700, parents=True)
    (directory / "views").mkdir()
    host_key = _keygen(etc / "ssh" / "ssh_host_ed25519_key", f"root@{host.name}")
    (etc / "ssh" / "sshd_config").write_text(sshd_config(lab_id, host))
    (etc / "hostname").write_text(host.name + "\n")
    keys = ssh_dir / "authorized_keys"
    keys.write_text(authorised + "\n")
    keys.chmod(0o600)
    return host_key


def start_sshd(workdir: Path, host: SshHost) -> int:
    """Start the host: its own mount and UTS namespace inside its network namespace, ending as sshd
    (``-D``: no fork, so the PID returned is sshd's; ``setsid``: Ctrl-C leaves it to the teardown)."""
    directory = host_dir(workdir, host.name)
    argv = ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--uts", "--propagation", "private"]
    argv += ["sh", "-c", HOST_INIT.read_text(), "host-init.sh", host.name, str(directory)]
    logfile = shlex.quote(str(directory / "sshd.log"))
    script = f"setsid {shlex.join(argv)} </dev/null >>{logfile} 2>&1 & echo $!"
    return int(run(["sh", "-c", script]).stdout.strip())


def sshd_log_tail(workdir: Path, name: str, lines: int = 8) -> str:
    try:
        return "\n".join((host_dir(workdir, name) / "sshd.log").read_text().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def record_sshd(state: LabState, workdir: Path, name: str, pid: int) -> ProcessRecord:
    """Record the host's process (it may still be ``ip netns exec`` on its way to ``exec sshd``: the
    PID and start time stay); when it already exited, say why."""
    try:
        record = record_process(f"{name}/sshd", pid)
    except LabError:
        raise LabError(f"the sshd of {name} exited right away:\n{sshd_log_tail(workdir, name)}") from None
    state.add_process(record)
    return record


def ssh_argv(workdir: Path, host: str, port: int, user: str = "root", known_hosts: Path | None = None) -> list[str]:
    """The OpenSSH client as a script would use it: the lab's key, only the pinned host keys
    (``known_hosts``, default the lab's ``ssh/known_hosts``)."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(workdir / CLIENT_KEY),
        "-o",
        f"UserKnownHostsFile={known_hosts or workdir / KNOWN_HOSTS}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"ConnectTimeout={SSH_ATTEMPT_SECONDS}",
        "-p",
        str(port),
        "-T",
        f"{user}@{host}",
    ]


def _known_host(host: SshHost) -> str:
    return str(host.address) if host.port == 22 else f"[{host.address}]:{host.port}"


def write_client_files(workdir: Path, hosts: Sequence[SshHost], host_keys: dict[str, str]) -> None:
    """``hosts.json`` (pulumi-command's connection per host) and ``ssh/known_hosts``."""
    known = "".join(f"{_known_host(h)} {host_keys[h.name]}\n" for h in hosts)
    (workdir / KNOWN_HOSTS).write_text(known)
    document = {
        h.name: {"host": str(h.address), "port": h.port, "user": h.user, "hostKey": host_keys[h.name]} for h in hosts
    }
    (workdir / HOSTS_JSON).write_text(json.dumps(document, indent=2) + "\n")


def wait_logins(workdir: Path, hosts: Sequence[SshHost], records: dict[str, ProcessRecord], since: float) -> float:
    """Wait until every host's sshd accepts a real login with the lab's key and pinned host key."""

    def ready(host: SshHost) -> float:
        def probe() -> tuple[None, list[str]]:
            if not is_alive(records[host.name]):
                raise LabError(f"the sshd of {host.name} exited:\n{sshd_log_tail(workdir, host.name)}")
            argv = [*ssh_argv(workdir, str(host.address), host.port, host.user), "true"]
            proc = run(argv, check=False, timeout=SSH_ATTEMPT_SECONDS + 5)
            said = proc.stderr.strip().splitlines()
            return None, [] if proc.returncode == 0 else [f"{host.name}: {said[-1] if said else proc.returncode}"]

        return wait_until(probe, budget, f"the sshd of {host.name} accepts a login", since=since).elapsed

    budget = Budget(SSHD_READY.name, SSHD_READY.seconds + SSHD_READY_PER_HOST_SECONDS * len(hosts))
    with ThreadPoolExecutor(max_workers=min(len(hosts), PROBES_AT_ONCE)) as pool:
        return max(pool.map(ready, hosts))


def etc_view(pid: int) -> str:
    """How the host sees /etc: "overlay" (copy-on-write) or "copy"."""
    kind = "unknown"
    for line in Path(f"/proc/{pid}/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == "/etc":  # the last one is on top
            kind = "overlay" if fields[2] == "overlay" else "copy"
    return kind
