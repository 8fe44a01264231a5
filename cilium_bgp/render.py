"""Render every artifact a stack would push, without touching any host or cluster.

    python -m cilium_bgp.render --stack-file Pulumi.dev.yaml --out rendered/dev

Writes the router's config, each node's config, the Helm values, each Kubernetes manifest and the
expected stack outputs (``outputs.json``), byte-identical to what ``pulumi up`` pushes except that
secrets stay as ``<<secret:KEY>>`` placeholders. Invalid config exits 2 with the message
``pulumi preview`` prints.
"""

from __future__ import annotations

import argparse
import sys
from ipaddress import IPv4Network
from pathlib import Path

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.errors import ConfigError
from cilium_bgp.stackfile import StackFileError, load_stack_file
from cilium_bgp.validate import check_cluster_pod_cidrs

MARKER = ".cilium-bgp-render"


def _parse_pod_cidrs(items: list[str]) -> dict[str, list[IPv4Network]]:
    result: dict[str, list[IPv4Network]] = {}
    for item in items:
        node, sep, cidr = item.partition("=")
        if not sep:
            raise ValueError(f"--pod-cidr {item!r}: expected NODE=CIDR")
        result.setdefault(node, []).append(IPv4Network(cidr, strict=True))
    return result


def write_artifacts(files: dict[str, str], out: Path) -> None:
    """Write ``files`` under ``out``, replacing what an earlier render wrote there (and nothing else)."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()) and not marker.exists():
        raise FileExistsError(f"{out} is not empty and was not written by this command; pick another --out")
    if marker.exists():
        for old in marker.read_text().splitlines():
            (out / old).unlink(missing_ok=True)
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    marker.write_text("\n".join(sorted(files)) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cilium_bgp.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack-file", type=Path, required=True, help="a Pulumi.<stack>.yaml file")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the artifacts to")
    parser.add_argument(
        "--pod-cidr",
        action="append",
        default=[],
        metavar="NODE=CIDR",
        help="a node's PodCIDR, for podCidrSource: cluster (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        cfg = load_stack_file(args.stack_file)
        pod_cidrs = _parse_pod_cidrs(args.pod_cidr) if args.pod_cidr else None
        if pod_cidrs is not None:
            check_cluster_pod_cidrs(cfg, pod_cidrs)
        files = render_artifacts(cfg, pod_cidrs)
        write_artifacts(files, args.out)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except (StackFileError, ValueError, FileExistsError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if cfg.pod_cidr_source == "cluster" and pod_cidrs is None and cfg.method == "bird":
        print(
            "note: podCidrSource is cluster; node configs need the CiliumNode PodCIDRs "
            "(pass --pod-cidr NODE=CIDR to render them)",
            file=sys.stderr,
        )
    for rel in sorted(files):
        print(args.out / rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
