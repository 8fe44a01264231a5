"""FRR on the router: ``frr.conf`` with one neighbor per node.

Method-aware: BIRD nodes each have their own ASN; kube-router and Cilium's speakers share one ASN,
so the router adds the seed's bestpath lines and ``maximum-paths`` for ECMP over LB IPs.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from cilium_bgp.config import StackConfig
from cilium_bgp.renderers.common import PREFIX_FILTER_NAME, accepted_prefixes, effective_timers, update_source
from cilium_bgp.secrets import secret_ref


def render_frr_conf(cfg: StackConfig) -> str:
    router = cfg.router
    lines: list[str] = []
    if router.frr_version:
        lines.append(f"frr version {router.frr_version}")
    lines += ["frr defaults traditional", f"hostname {router.hostname}", "log syslog informational", "!"]
    lines.append(f"router bgp {router.asn}")
    if cfg.shared_asn:
        # Nodes share one ASN; these are the seed's lines for multipath over their identical paths.
        lines += [" bgp bestpath as-path multipath-relax", " bgp bestpath bandwidth skip-missing"]
    lines.append(f" bgp router-id {router.router_id}")
    if not router.prefix_filter:
        # The seed's choice: accept every route the nodes send (see router.prefixFilter).
        lines.append(" no bgp ebgp-requires-policy")
    timers = effective_timers(cfg)
    if timers.keepalive is not None and timers.hold is not None:
        lines.append(f" timers bgp {timers.keepalive} {timers.hold}")
    neighbors: list[IPv4Address] = []
    for node in cfg.nodes:
        ip = node.ip
        neighbors.append(ip)
        lines.append(f" neighbor {ip} remote-as {cfg.node_asn(node)}")
        source = update_source(cfg, node)
        if source is not None:
            lines.append(f" neighbor {ip} update-source {source}")
        if cfg.uses_password:
            lines.append(f" neighbor {ip} password {secret_ref('bgpPassword')}")
        if timers.connect_retry is not None:
            # FRR 8.4 has no "bgp connect-retry"; the per-neighbor form is "timers connect".
            lines.append(f" neighbor {ip} timers connect {timers.connect_retry}")
    af_lines: list[str] = []
    if cfg.shared_asn:
        af_lines.append(f"  maximum-paths {cfg.maximum_paths}")
    if router.prefix_filter:
        af_lines += [f"  neighbor {ip} route-map {PREFIX_FILTER_NAME} in" for ip in neighbors]
    if af_lines:
        lines += [" !", " address-family ipv4 unicast", *af_lines, " exit-address-family"]
    lines += ["exit", "!"]
    if router.prefix_filter:
        for seq, prefix in enumerate(accepted_prefixes(cfg), start=1):
            bounds = (f" ge {prefix.ge}" if prefix.ge else "") + (f" le {prefix.le}" if prefix.le else "")
            lines.append(f"ip prefix-list {PREFIX_FILTER_NAME} seq {seq * 5} permit {prefix.network}{bounds}")
        lines += [
            "!",
            f"route-map {PREFIX_FILTER_NAME} permit 10",
            f" match ip address prefix-list {PREFIX_FILTER_NAME}",
            "exit",
            "!",
        ]
    return "\n".join(lines) + "\n"
