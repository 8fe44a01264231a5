"""The daemons' ``show`` output as dicts: what the checks compare against expected subsets.

FRR answers in JSON itself (``vtysh -c 'show ... json'``) and so does GoBGP (``gobgp ... -j``) and
the kernel (``ip -j route``); BIRD 2 has no JSON output, so its ``show protocols all`` and
``show route`` text are parsed here into dicts of the same spirit, keys as BIRD prints them
(lower-cased).
"""

from __future__ import annotations

import re
from typing import Any

# Protocol numbers or names a routing daemon's kernel routes carry (FRR: bgp/186, BIRD: bird/12).
DAEMON_ROUTE_PROTOCOLS = ("bgp", "bird", "186", "12")
_ROUTES = re.compile(r"(\d+) (imported|filtered|exported|preferred)")


def _value(text: str) -> Any:
    text = text.strip()
    counts = {kind: int(n) for n, kind in _ROUTES.findall(text)}
    if counts:
        return counts
    return int(text) if text.isdigit() else text


def bird_protocols(text: str) -> dict[str, dict[str, Any]]:
    """``birdc show protocols all`` as {protocol name: {"proto", "table", "state", "info", field: value,
    "channels": {name: {field: value}}}}; "Routes: 1 imported, 0 exported" becomes a dict of counts."""
    protocols: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    fields: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith(("BIRD ", "Name ")):
            continue
        if not line[0].isspace():
            # Name Proto Table State Since Info
            parts = line.split()
            name, proto, table, state = [*parts, "", "", ""][:4]
            current = {"proto": proto, "table": table, "state": state, "info": " ".join(parts[5:]), "channels": {}}
            protocols[name] = fields = current
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Channel "):
            fields = current["channels"].setdefault(stripped.split()[1], {})
        elif ":" in stripped:
            key, value = stripped.split(":", 1)
            fields[key.strip().lower()] = _value(value)
    return protocols


def bird_bgp_sessions(text: str) -> dict[str, dict[str, Any]]:
    """The BGP protocols of ``show protocols all``, keyed by their neighbor address."""
    return {
        str(p["neighbor address"]): p | {"name": name}
        for name, p in bird_protocols(text).items()
        if p["proto"] == "BGP" and "neighbor address" in p
    }


def bird_routes(text: str) -> dict[str, list[dict[str, Any]]]:
    """``birdc show route`` as {prefix: [{"type", "protocol", "primary", "via": [gateways]}]}, one
    entry per route BIRD holds (with ``merge paths`` the kernel gets them merged)."""
    routes: dict[str, list[dict[str, Any]]] = {}
    prefix = None
    entry: dict[str, Any] | None = None
    for line in text.splitlines():
        head = re.match(r"^(\S+/\d+)?\s+(\S+) \[(\S+) [^\]]*\](.*)$", line)
        if head and (head.group(1) or prefix):
            prefix = head.group(1) or prefix
            entry = {"type": head.group(2), "protocol": head.group(3), "primary": " * " in f"{head.group(4)} "}
            entry["via"] = []
            routes.setdefault(str(prefix), []).append(entry)
            continue
        via = re.match(r"^\s+via (\S+)", line)
        if via and entry is not None:
            entry["via"].append(via.group(1))
    return routes


def kernel_routes(routes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``ip -j -4 route show`` as {prefix: route}, the routing daemons' routes only, ``/32`` spelled out."""
    table = {}
    for route in routes:
        if str(route.get("protocol")) in DAEMON_ROUTE_PROTOCOLS:
            dst = route["dst"] if "/" in route["dst"] else route["dst"] + "/32"
            table[dst] = route
    return table


def gobgp_neighbors(neighbors: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``gobgp neighbor -j`` keyed by neighbor address (its ``state.session_state``: 6 is Established),
    without the password GoBGP prints back (``conf.auth_password``)."""
    keyed = {}
    for neighbor in neighbors:
        conf = {k: v for k, v in neighbor.get("conf", {}).items() if k != "auth_password"}
        keyed[str(neighbor.get("state", {}).get("neighbor_address", "?"))] = neighbor | {"conf": conf}
    return keyed
