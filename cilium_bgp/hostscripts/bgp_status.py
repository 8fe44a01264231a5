#!/usr/bin/env python3
"""Check a router's BGP sessions and kernel routes against expectations, retrying until a deadline.

Runs on the router itself (sent over SSH as the program of ``python3 -``) and in the lab, so it
uses only the standard library and Python 3.6 syntax (EL8's python3). Prints one JSON document:

    {"ok": true, "elapsedSeconds": 1.4,
     "peers": {"10.0.1.10": {"state": "Established", "asn": 65010, "prefixesReceived": 1}},
     "routes": {"172.31.254.0/26": ["10.0.1.10"]}, "problems": []}

Exit status 0 when every expected peer is Established and every expected prefix is in the kernel
table with exactly the expected nexthops; 1 when the deadline passes first (problems on stderr).
"""

import argparse
import json
import re
import shlex
import subprocess
import sys
import time

ROUTE_PROTOCOLS = ("bgp", "bird", "186", "12")


def _run(command):
    proc = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=30
    )
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def frr_peers(vtysh):
    text = _run(vtysh + ["-c", "show bgp summary json"])
    summary = json.loads(text or "{}").get("ipv4Unicast", {})
    peers = {}
    for address, peer in summary.get("peers", {}).items():
        peers[address] = {
            "state": peer.get("state", "unknown"),
            "asn": peer.get("remoteAs"),
            "prefixesReceived": peer.get("pfxRcd", 0),
        }
    return peers


def bird_peers(birdc):
    text = _run(birdc + ["show", "protocols", "all"])
    peers = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"^(\S+)\s+BGP\s", line)
        if header:
            current = {"protocol": header.group(1), "state": "unknown", "prefixesReceived": 0}
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("BGP state:"):
            current["state"] = stripped.split(":", 1)[1].strip()
        elif stripped.startswith("Neighbor AS:"):
            current["asn"] = int(stripped.split(":", 1)[1])
        elif stripped.startswith("Neighbor address:"):
            peers[stripped.split(":", 1)[1].strip()] = current
        elif stripped.startswith("Routes:"):
            found = re.search(r"(\d+) imported", stripped)
            current["prefixesReceived"] = int(found.group(1)) if found else 0
    return peers


def kernel_routes(ip):
    routes = {}
    for route in json.loads(_run(ip + ["-j", "-4", "route", "show"]) or "[]"):
        if str(route.get("protocol")) not in ROUTE_PROTOCOLS:
            continue
        dst = route["dst"] if "/" in route["dst"] else route["dst"] + "/32"
        hops = [hop.get("gateway") for hop in route.get("nexthops", [])] or [route.get("gateway")]
        routes[dst] = sorted(h for h in hops if h)
    return routes


def observe(args):
    if args.daemon == "frr":
        peers = frr_peers(shlex.split(args.vtysh))
    else:
        peers = bird_peers(shlex.split(args.birdc))
    return peers, kernel_routes(shlex.split(args.ip))


def problems_of(expect, peers, routes):
    problems = []
    for address, want in sorted(expect.get("peers", {}).items()):
        got = peers.get(address)
        if got is None:
            problems.append("peer %s (AS %s) is not configured on the router" % (address, want.get("asn")))
        elif got["state"] != "Established":
            problems.append("peer %s (AS %s) is %s, not Established" % (address, want.get("asn"), got["state"]))
    for prefix, hops in sorted(expect.get("routes", {}).items()):
        got = routes.get(prefix)
        if got is None:
            problems.append("prefix %s is missing from the kernel table (expected via %s)" % (prefix, ", ".join(hops or ["any node"])))
        elif hops is not None and sorted(hops) != got:
            problems.append("prefix %s goes via %s, expected via %s" % (prefix, ", ".join(got), ", ".join(sorted(hops))))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemon", choices=("frr", "bird"), required=True)
    parser.add_argument("--expect", required=True, help="JSON: {peers: {addr: {asn}}, routes: {prefix: [nexthops] or null}}")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--vtysh", default="vtysh")
    parser.add_argument("--birdc", default="birdc")
    parser.add_argument("--ip", default="ip")
    args = parser.parse_args(argv)
    expect = json.loads(args.expect)
    start = time.monotonic()
    deadline = start + args.timeout
    while True:
        try:
            peers, routes = observe(args)
            problems = problems_of(expect, peers, routes)
        except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as error:
            peers, routes, problems = {}, {}, ["cannot read the router's state: %s" % error]
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    report = {
        "ok": not problems,
        "elapsedSeconds": round(time.monotonic() - start, 2),
        "peers": {a: peers[a] for a in sorted(peers)},
        "routes": {p: routes[p] for p in sorted(routes)},
        "problems": problems,
    }
    print(json.dumps(report, sort_keys=True))
    if problems:
        sys.stderr.write(
            "BGP check failed after %.0f s:\n%s\n" % (args.timeout, "\n".join("  - " + p for p in problems))
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
