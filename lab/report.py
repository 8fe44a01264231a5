"""The readable summaries ``python -m lab up|verify|inspect`` print (the full report is ``verify.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.state import LabState


ORIGINS = {"host": "written on the host", "machine": "the machine's, seen through /etc"}


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return [f"{indent}(none)"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} s"


def timings_lines(timings: dict[str, Any]) -> list[str]:
    up = timings.get("up", {})
    if timings.get("mode") == "hosts":
        lines = [
            "timings",
            f"  namespaces, links and management network built in {_seconds(up.get('buildSeconds'))}; "
            f"every sshd accepted an SSH login after {_seconds(up.get('sshdReadySeconds'))}",
        ]
        if "clusterReadySeconds" in up:
            cluster = up.get("cluster", {})
            lines.append(
                f"  cluster: Kubernetes {cluster.get('kubernetes', '?')} up and its Nodes Ready "
                f"{_seconds(up['clusterReadySeconds'])} after that"
            )
        converged = timings.get("verifyConverged")
        if converged:
            lines.append(
                f"  verify: sessions Established {_seconds(converged.get('establishedSeconds'))} and routes installed "
                f"{_seconds(converged.get('routesInstalledSeconds'))} after it began; "
                f"whole verify {_seconds(timings.get('verifySeconds'))}"
            )
        return lines
    lines = [
        "timings (elapsed from the daemons' start, except the build)",
        f"  configs checked and namespaces built in {_seconds(up.get('buildSeconds'))}; "
        f"all sessions Established after {_seconds(up.get('establishedSeconds'))}; "
        f"all routes installed after {_seconds(up.get('routesInstalledSeconds'))}",
    ]
    faults = timings.get("faults")
    if faults:
        frozen = faults["frozenSpeaker"]
        lines.append(
            f"  {frozen['node']} frozen: routes withdrawn after {_seconds(frozen['withdrawnSeconds'])} "
            f"(hold time {frozen['holdTimeSeconds']} s); back {_seconds(frozen['recoveredSeconds'])} "
            f"after it was {frozen['recovery']}"
        )
        for refused in faults.get("brokenConfigRefused", []):
            first = next((m for m in refused["message"] if "rejected" not in m), "")
            lines.append(f"  broken {refused['kind']} config on {refused['host']}: refused ({first.strip()})")
        if "goodConfigReloaded" in faults:
            lines.append(
                f"  unchanged BIRD config re-pushed on {faults['goodConfigReloaded']['host']}: reloaded, no reset"
            )
    return lines


def hosts_lines(state: LabState, workdir: Path) -> list[str]:
    """What ``up --hosts ssh`` prints: how to reach each host, and the files a client needs (nothing
    for a lab without SSH hosts)."""
    if not state.hosts:
        return []
    rows = [["host", "ssh", "sshd", "/etc", "host key"]]
    for name, info in state.hosts.items():
        pid = next((p["pid"] for p in state.processes if p["role"] == f"{name}/sshd"), "?")
        rows.append([name, f"root@{info['address']}:{info['port']}", str(pid), info.get("etc", "?"), info["hostKey"]])
    first = next(iter(state.hosts.values()))
    return [
        f"management: {', '.join(state.links)} in the root namespace "
        f"(the only root-namespace link; route to {first['address'].rsplit('.', 1)[0]}.0/24 only)",
        "hosts (each with its own sshd, network, mount and UTS namespace)",
        *_table(rows),
        f"hosts.json:  {workdir / 'hosts.json'}",
        f"client key:  {workdir / 'ssh' / 'id_ed25519'}",
        f"known_hosts: {workdir / 'ssh' / 'known_hosts'}",
        f"try: ssh -i {workdir / 'ssh' / 'id_ed25519'} -o UserKnownHostsFile={workdir / 'ssh' / 'known_hosts'} "
        f"-o StrictHostKeyChecking=yes root@{first['address']} hostname",
        *_cluster_lines(state),
    ]


def _cluster_lines(state: LabState) -> list[str]:
    """A cluster lab's API server and the kubeconfig to give the stack (``kubernetes.kubeconfig``)."""
    if not state.cluster:
        return []
    return [
        f"cluster: API server {state.cluster['server']} (from the nodes: cilium.k8sServiceHost)",
        f"kubeconfig: {state.cluster['kubeconfig']}",
    ]


def inspect_lines(report: dict[str, Any]) -> list[str]:
    """Per host: the program's files and the routing daemons running inside (``inspect``, ``verify``)."""
    rows = [["host", "ssh", "file", "", "routing daemons"]]
    for name, host in report.items():
        daemons = ", ".join(f"{d['comm']} {d['pid']}" for d in host["daemons"]) or "none"
        for i, (path, f) in enumerate(host["files"].items()):
            state = "?" if f["exists"] is None else "absent" if not f["exists"] else "present"
            if f.get("from"):
                state += " (" + ORIGINS[f["from"]] + ")"
            rows.append([name if i == 0 else "", host["ssh"] if i == 0 else "", path, state, daemons if i == 0 else ""])
    return _table(rows)


def summary(report: dict[str, Any]) -> str:
    daemons = ", ".join(f"{h} {d}" for h, d in report["routerDaemons"].items())
    lines = [
        f"lab {report['labId']}: {report['stackFile']}",
        f"  method {report['method']}, routers: {daemons}; namespaces {' '.join(report['namespaces'])}",
    ]
    for host, view in report["routers"].items():
        lines += ["", f"sessions ({host}'s view)"]
        rows = [["peer", "who", "AS", "state", "prefixes"]]
        for address, want in sorted(report["expected"][host]["peers"].items()):
            got = view["peers"].get(address, {})
            who = next(f"{k} {want[k]}" for k in ("node", "router", "upstream") if k in want)
            rows.append(
                [
                    address,
                    who,
                    str(got.get("asn", "?")),
                    got.get("state", "missing"),
                    str(got.get("prefixesReceived", "-")),
                ]
            )
        lines += _table(rows)
        lines += ["", f"routes ({host}'s kernel table)"]
        routes = view["routes"]
        lines += _table([[p, "via " + ", ".join(h), "ECMP" if len(h) > 1 else ""] for p, h in sorted(routes.items())])
    if "upstream" in report:
        lines += ["", "the upstream peer (the client): its routes"]
        routes = report["upstream"]["routes"]
        lines += _table([[p, "via " + ", ".join(h), "ECMP" if len(h) > 1 else ""] for p, h in sorted(routes.items())])
    lines += ["", "speakers (each node's own view)"]
    rows = []
    for node, view in report["speakers"].items():
        sessions = ", ".join(f"{a} {s}" for a, s in view["sessions"].items())
        originated = ", ".join(view.get("originated", [])) or "(static routes in bird.conf)"
        rows.append([node, sessions, "originates " + originated])
    lines += _table(rows)
    lines += ["", "pings"]
    lines += _table(
        [
            ["ok" if p["ok"] else "FAIL", p["from"], f"{p['src']} -> {p['dst']}", f"ttl {p['ttl']}"]
            for p in report["pings"]
        ]
    )
    if "hosts" in report:
        lines += ["", "hosts (configured by the program; files and daemons seen inside each host)"]
        lines += inspect_lines(report["hosts"])
    lines.append("")
    for host, check in report["programChecks"].items():
        lines.append(
            f"the program's own check on {host} (bgp_status.py): {'ok' if check['ok'] else 'FAILED'} "
            f"in {_seconds(check['elapsedSeconds'])}"
        )
    lines += ["", *timings_lines(report["timings"])]
    return "\n".join(lines)
