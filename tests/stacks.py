"""The stack files tests run: the shipped environments and the variants under tests/stacks."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

from cilium_bgp.config import StackConfig
from cilium_bgp.renderers.manifests import KUBE_ROUTER_PASSWORD_SECRET, kube_router_password

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(ROOT.glob("Pulumi.*.yaml"))
VARIANTS = sorted((ROOT / "tests" / "stacks" / "variants").glob("*.yaml"))
ALL_STACKS = SHIPPED + VARIANTS
PASSWORD = "test-only-password-7f3a"
# What the components fill placeholders with: the password and the forms derived from it.
SECRET_VALUES = {"bgpPassword": PASSWORD, KUBE_ROUTER_PASSWORD_SECRET: kube_router_password(PASSWORD)}


def stack_id(path: Path) -> str:
    return path.stem.removeprefix("Pulumi.")


def carved_pod_cidrs(cfg: StackConfig) -> dict[str, list[IPv4Network]]:
    """What cilium-operator hands out for ``podCidrSource: cluster``: the pool's /mask in node order."""
    pool = cfg.cilium.cluster_pool_ipv4_pod_cidr_list[0]
    subnets = pool.subnets(new_prefix=cfg.cilium.cluster_pool_ipv4_mask_size)
    return {node.name: [next(subnets)] for node in cfg.nodes}
