"""The dev stack reproduces the seed procedure's variant A exactly; the constants quote it.

No safety additions are made to the dev stack's files: the router keeps the seed's
`no bgp ebgp-requires-policy` (router.prefixFilter gives the filtered form the prod stack uses).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cilium_bgp.artifacts import render_artifacts
from cilium_bgp.stackfile import load_stack_file

ROOT = Path(__file__).resolve().parent.parent

SEED_FRR_CONF = """\
frr version 8.4.1
frr defaults traditional
hostname router
log syslog informational
!
router bgp 65100
 bgp router-id 192.168.121.16
 no bgp ebgp-requires-policy
 neighbor 10.0.1.10 remote-as 65010
 neighbor 10.0.2.10 remote-as 65020
exit
!
"""

SEED_NODE1_BIRD = """\
router id 10.0.1.10;
protocol device { scan time 10; }
protocol direct { disabled; }
protocol kernel { ipv4 { import none; export none; }; }
protocol static { ipv4; route 172.31.254.0/26 via "cilium_host"; }
protocol bgp uplink0 {
  description "BGP uplink 0";
  local 10.0.1.10 as 65010;
  neighbor 10.0.1.2 as 65100;
  ipv4 { import filter { reject; }; export filter { accept; }; };
}
"""

SEED_HELM_VALUES = """
k8sServiceHost: "10.0.1.10"
k8sServicePort: 6443
kubeProxyReplacement: strict
devices: eth1
ipam:
  operator:
    clusterPoolIPv4PodCIDR: "172.31.254.0/23"
    clusterPoolIPv4PodCIDRList: []
    clusterPoolIPv4MaskSize: 26
loadBalancer:
  mode: dsr
tunnel: disabled
autoDirectNodeRoutes: false
bpf:
  masquerade: true
ipv4NativeRoutingCIDR: "172.31.254.0/23"
socketLB: {enabled: true}
nodePort: {enabled: true}
externalIPs: {enabled: true}
hostPort: {enabled: true}
"""

SEED_SYSCTL = [
    "net.ipv4.ip_forward=1",
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
    "net.ipv6.conf.lo.disable_ipv6=1",
    "net.ipv6.conf.all.forwarding=1",
]


def dev_files() -> dict[str, str]:
    return render_artifacts(load_stack_file(ROOT / "Pulumi.dev.yaml"))


def test_router_frr_conf_is_the_seeds() -> None:
    assert dev_files()["router/frr.conf"] == SEED_FRR_CONF


def test_node1_bird_conf_is_the_seeds() -> None:
    assert dev_files()["nodes/node1/bird.conf"] == SEED_NODE1_BIRD


def test_node2_bird_conf_is_node1s_with_node2s_facts() -> None:
    expected = (
        SEED_NODE1_BIRD.replace("10.0.1.10", "10.0.2.10")
        .replace("10.0.1.2 ", "10.0.2.2 ")
        .replace("172.31.254.0/26", "172.31.254.64/26")
        .replace("65010", "65020")
    )
    assert dev_files()["nodes/node2/bird.conf"] == expected


def test_helm_values_are_the_seeds_in_the_seeds_order() -> None:
    rendered = yaml.safe_load(dev_files()["cilium/values.yaml"])
    seed = yaml.safe_load(SEED_HELM_VALUES)
    assert rendered == seed
    assert list(rendered) == list(seed), "keys come in the seed's order"


def test_router_sysctls_are_the_seeds() -> None:
    lines = [line for line in dev_files()["router/sysctl.conf"].splitlines() if not line.startswith("#")]
    assert lines == SEED_SYSCTL
