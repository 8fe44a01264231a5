"""The readable summary ``python -m lab verify`` prints (the full report is ``verify.json``)."""

from __future__ import annotations

from typing import Any


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return [f"{indent}(none)"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} s"


def timings_lines(timings: dict[str, Any]) -> list[str]:
    up = timings.get("up", {})
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


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"lab {report['labId']}: {report['stackFile']}",
        f"  method {report['method']}, router {report['routerDaemon']}; namespaces {' '.join(report['namespaces'])}",
        "",
        "sessions (the router's view)",
    ]
    expected = report["expected"]
    peers = report["router"]["peers"]
    rows = [["peer", "node", "AS", "state", "prefixes"]]
    for address, want in sorted(expected["peers"].items()):
        got = peers.get(address, {})
        rows.append(
            [
                address,
                want["node"],
                str(got.get("asn", "?")),
                got.get("state", "missing"),
                str(got.get("prefixesReceived", "-")),
            ]
        )
    lines += _table(rows)
    lines += ["", "routes (the router's kernel table)"]
    routes = report["router"]["routes"]
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
    check = report["programCheck"]
    lines += [
        "",
        f"the program's own router check (bgp_status.py): {'ok' if check['ok'] else 'FAILED'} "
        f"in {_seconds(check['elapsedSeconds'])}",
        "",
        *timings_lines(report["timings"]),
    ]
    return "\n".join(lines)
