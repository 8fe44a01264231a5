"""Benchmark (d): the real Pulumi engine at scale, through the Automation API.

- ``preview`` of a stack of 1,000 nodes (no hosts: a preview runs no command; Kubernetes off);
- on a hosts-mode lab of N node hosts plus one spare (sshd per namespace; the program starts BIRD
  and FRR): ``preview``, first ``up``, no-op ``up``, ``up`` after adding the spare node, ``destroy``.

Each step records its wall time, the peak resident memory of the engine (``pulumi``), the language
host (``pulumi-language-python``), the program (the Python process running ``__main__.py``) and
the command provider, and the SSH logins it made (each host's sshd logs ``Accepted publickey`` once
per connection; ``hosts/<host>/sshd.log`` in the lab's workdir). After the added node's ``up`` FRR's
``connectionsEstablished``/``connectionsDropped`` tell whether any existing session reset.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from benchmarks.stacks import stack_config, with_nodes_file
from lab.engine import Engine, EngineError, lab_cli, lab_config, lab_down, lab_up, toolchain_bin

ACCEPTED = "Accepted publickey"
SAMPLE_SECONDS = 0.2
# The router check polls for up to this long; a 250-node lab converges in seconds.
VERIFY_SECONDS = 120


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _role(pid: int) -> str | None:
    """Which engine process ``pid`` is: engine, languageHost, program, commandProvider (or None)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if comm == "pulumi":
        return "engine"
    if comm.startswith("pulumi-language"):
        return "languageHost"
    if comm.startswith("pulumi-resource"):
        return "commandProvider" if b"command" in argv[0] else comm
    if comm.startswith("python") and any(b"pulumi-language-python-exec" in a for a in argv):
        return "program"
    return None


def _peak_kib(pid: int) -> int:
    """VmHWM: the process's own peak resident set so far."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Samples the peak RSS of this process's engine descendants while a step runs."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            for pid in _descendants(os.getpid()):
                role, peak = _role(pid), _peak_kib(pid)
                if role and peak:  # a process gone between the listing and the read has none
                    self.peaks[role] = max(self.peaks.get(role, 0), peak)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def mib(self) -> dict[str, float]:
        return {role: round(kib / 1024, 1) for role, kib in sorted(self.peaks.items())}


def ssh_logins(lab_workdir: Path) -> int:
    """Every SSH login the lab's sshds accepted so far."""
    total = 0
    for log in (lab_workdir / "hosts").glob("*/sshd.log"):
        total += log.read_text(errors="replace").count(ACCEPTED)
    return total


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def step(action: Callable[[], object], lab_workdir: Path | None = None) -> dict[str, Any]:
    """Run one engine step: its wall time, peak memory per process, SSH logins, load before/after."""
    before = ssh_logins(lab_workdir) if lab_workdir else 0
    load = loadavg()
    start = time.monotonic()
    with PeakMemory() as memory:
        action()
    row: dict[str, Any] = {"seconds": round(time.monotonic() - start, 2), "peakMiB": memory.mib()}
    if lab_workdir:
        row["sshLogins"] = ssh_logins(lab_workdir) - before
    row["loadAverage"] = {"before": load, "after": loadavg()}
    return row


@contextmanager
def scratch_engine(name: str, parallel: int | None) -> Iterator[Engine]:
    engine = Engine(toolchain_bin(), name, parallel=parallel)
    engine.forget_leftover()
    try:
        yield engine
    finally:
        engine.workspace.remove_stack(name, force=True)
        shutil.rmtree(engine.workspace_dir, ignore_errors=True)


def preview_only(nodes: int, parallel: int | None) -> dict[str, Any]:
    """``pulumi preview`` of a ``nodes``-node stack that no host backs: every resource a create.

    The nodes sit in a nodes file (``nodesFile``), as a stack of this size keeps them: in the stack
    config they would pass the 128 KiB the CLI can hand the program.
    """
    config = stack_config(nodes, "bird", racks=True, bgp={"failover": "fast"}, kubernetes={"enabled": False})
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-preview-") as scratch:
        key = Path(scratch) / "id_benchmark"
        # A preview connects nowhere; the program only needs a key to hand the provider.
        key.write_text("benchmark-key-never-used\n")
        with scratch_engine(f"bench-preview-{nodes}", parallel) as engine:
            engine.configure(
                with_nodes_file(config, engine.workspace_dir), secret_files={"cilium-bgp:sshPrivateKey": key}
            )
            sizes = {
                "stackConfigBytes": engine.settings_file.stat().st_size,
                "nodesFileBytes": (engine.workspace_dir / "nodes.yaml").stat().st_size,
            }
            result: dict[str, Any] = {}
            row = step(lambda: result.update(steps=len(engine.preview().steps)))
    return {"nodes": nodes, "parallel": parallel, "preview": row | {"changes": result["steps"]} | sizes}


def _sessions(lab_workdir: Path) -> dict[str, tuple[int, int]]:
    """FRR's count of sessions established and dropped, per peer: a reset changes both."""
    out = lab_cli("exec", "--host", "router", "--", "vtysh", "-c", "show bgp neighbors json", workdir=lab_workdir)
    return {
        peer: (state.get("connectionsEstablished", 0), state.get("connectionsDropped", 0))
        for peer, state in json.loads(out.stdout).items()
    }


def on_lab(nodes: int, parallel: int | None) -> dict[str, Any]:
    """Every step on a hosts-mode lab of ``nodes`` node hosts plus the spare the added node takes."""
    name = f"bench-scale-{nodes}"
    with tempfile.TemporaryDirectory(prefix="cbgp-bench-scale-") as scratch:
        workdir = Path(scratch)
        stack_file = workdir / f"Pulumi.{name}.yaml"
        config = stack_config(
            nodes + 1, "bird", hosts=True, bgp={"failover": "fast"}, verify={"timeoutSeconds": VERIFY_SECONDS}
        )
        stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        lab_dir = workdir / "lab"
        started = time.monotonic()
        row: dict[str, Any] = {"nodes": nodes, "parallel": parallel}
        try:
            engine = lab_up(workdir, stack_file, name, nodes=nodes)
        except EngineError as error:
            # The lab removes what it built when it fails; the other sizes still run.
            return row | {"failed": {"step": "labUp", "error": str(error)[:4000]}}
        engine.parallel = parallel
        row["labUpSeconds"] = round(time.monotonic() - started, 2)
        current = "preview"
        try:
            row["preview"] = step(engine.preview, lab_dir)
            current = "up"
            row["up"] = step(engine.up, lab_dir)
            current = "noopUp"
            row["noopUp"] = step(lambda: engine.up(expect_no_changes=True), lab_dir)
            before = _sessions(lab_dir)
            hosts = json.loads((lab_dir / "hosts.json").read_text())
            # lab_up may have moved the stack to a free management /24: its file says where.
            every_node = lab_config(engine.stack_file, hosts)["cilium-bgp:nodes"]
            engine.configure({"cilium-bgp:nodes": every_node})
            current = "addNodeUp"
            row["addNodeUp"] = step(engine.up, lab_dir)
            after = _sessions(lab_dir)
            row["addNodeUp"]["sessionsReset"] = sorted(p for p, marks in before.items() if after.get(p) != marks)
            row["addNodeUp"]["peersAfter"] = len(after)
            current = "destroy"
            row["destroy"] = step(engine.destroy, lab_dir)
        except EngineError as error:
            # Keep what was measured; the failed step says why (each resource's error first).
            row["failed"] = {"step": current, "error": str(error)[:4000]}
        finally:
            started = time.monotonic()
            try:
                lab_down(engine, workdir)  # destroys again what a failed step left, then the lab
            except EngineError as error:
                row["teardownError"] = str(error)[:4000]
            row["labDownSeconds"] = round(time.monotonic() - started, 2)
    return row


def run(
    lab_sizes: list[int],
    preview_nodes: int,
    parallel: list[int | None],
    progress: Callable[[dict[str, Any]], object] = lambda _: None,
) -> dict[str, Any]:
    """Each measurement once per engine parallelism (None: the CLI's default); ``progress`` gets
    the results so far after each one (a run of all sizes takes a while)."""
    results: dict[str, Any] = {"preview": [], "lab": []}
    for p in parallel:
        results["preview"].append(preview_only(preview_nodes, p))
        progress(results)
    for nodes in lab_sizes:
        for p in parallel:
            results["lab"].append(on_lab(nodes, p))
            progress(results)
    return results
