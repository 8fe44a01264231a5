"""Render every artifact a stack would push, without touching any host or cluster.

    python -m cilium_bgp.render --stack-file Pulumi.dev.yaml --out rendered/dev

Writes the router's config, each node's config, the Helm values, each Kubernetes manifest and the
expected stack outputs (``outputs.json``), byte-identical to what ``pulumi up`` pushes except that
secrets stay as ``<<secret:KEY>>`` placeholders. Invalid config exits 2 with the message
``pulumi preview`` prints.
"""

from __future__ import annotations

import argparse
import re
import sys
from ipaddress import IPv4Network
from pathlib import Path, PurePosixPath

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.errors import ConfigError
from cilium_bgp.stackfile import StackFileError, load_stack_file
from cilium_bgp.validate import check_cluster_pod_cidrs

MARKER = ".cilium-bgp-render"
# What an artifact path looks like (``router/frr.conf``, ``manifests/01-...yaml``); the marker
# lists only such paths, so an edited marker cannot name anything else.
_ARTIFACT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


class OutError(Exception):
    """``--out`` cannot be used; nothing was deleted."""


def _parse_pod_cidrs(items: list[str]) -> dict[str, list[IPv4Network]]:
    result: dict[str, list[IPv4Network]] = {}
    for item in items:
        node, sep, cidr = item.partition("=")
        if not sep:
            raise ValueError(f"--pod-cidr {item!r}: expected NODE=CIDR")
        result.setdefault(node, []).append(IPv4Network(cidr, strict=True))
    return result


def _inside(out: Path, rel: str) -> Path:
    """``out / rel`` when ``rel`` is an artifact path and no part of it below ``out`` is a symlink."""
    if not _ARTIFACT.fullmatch(rel) or ".." in PurePosixPath(rel).parts:
        raise OutError(f"{out / MARKER} lists {rel[:80]!r}, a path outside --out or not an artifact: not touching it")
    path = out
    for part in PurePosixPath(rel).parts:
        path = path / part
        if path.is_symlink():
            raise OutError(f"{path} is a symlink: the render command writes and deletes only below --out")
    return path


def write_artifacts(files: dict[str, str], out: Path) -> None:
    """Write ``files`` under ``out``, replacing what an earlier render wrote there (and nothing else).

    Every path is checked before anything is deleted or written: the marker's entries must be
    artifact paths below ``out``, with no symlink on the way.
    """
    if out.exists() and not out.is_dir():
        raise OutError(f"--out {out} exists and is not a directory")
    marker = out / MARKER
    if marker.is_symlink() or (marker.exists() and not marker.is_file()):
        raise OutError(f"{marker} is not a regular file: pick another --out")
    if out.exists() and any(out.iterdir()) and not marker.exists():
        raise OutError(f"{out} is not empty and was not written by this command; pick another --out")
    old = [_inside(out, rel) for rel in marker.read_text().splitlines() if rel] if marker.exists() else []
    new = {rel: _inside(out, rel) for rel in files}
    for path in old:
        if path.is_file():
            path.unlink()
    for rel, text in files.items():
        path = new[rel]
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
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except (StackFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        write_artifacts(files, args.out)
    except OutError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: --out {args.out}: {error.strerror or error}{where}", file=sys.stderr)
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
