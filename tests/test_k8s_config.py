"""The cluster lab's pure parts: the ConfigMap directory Cilium reads, the kubeconfig, the objects
created in place of kubelets and agents, and the command lines of the control plane."""

from __future__ import annotations

import base64
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
import yaml

from lab.k8s.api import node_object, resource_path
from lab.k8s.binaries import CiliumBinaries
from lab.k8s.cilium import cilium_node_object, config_lines, operator_argv, write_config_dir
from lab.k8s.control_plane import ControlPlaneSpec, controller_manager_argv, kwok_argv
from lab.k8s.credentials import Credentials, kubeconfig_text, subject_alt_names, token_file_line
from lab.shell import LabError

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_config_dir_holds_one_file_per_key_with_the_exact_value(tmp_path: Path) -> None:
    directory = tmp_path / "config-map"
    write_config_dir({"enable-ipv6": "false", "cluster-pool-ipv4-cidr": "10.42.0.0/16", "empty": ""}, directory)
    files = {p.name: p.read_bytes() for p in directory.iterdir()}
    assert files == {"enable-ipv6": b"false", "cluster-pool-ipv4-cidr": b"10.42.0.0/16", "empty": b""}


def test_config_dir_rewrite_drops_removed_keys(tmp_path: Path) -> None:
    directory = tmp_path / "config-map"
    write_config_dir({"a": "1", "b": "2"}, directory)
    write_config_dir({"b": "3"}, directory)
    assert {p.name: p.read_text() for p in directory.iterdir()} == {"b": "3"}


@pytest.mark.parametrize("key", ["../escape", "a/b", "..", "with space"])
def test_config_dir_refuses_what_no_configmap_can_hold(tmp_path: Path, key: str) -> None:
    with pytest.raises(LabError, match="not ConfigMap keys"):
        write_config_dir({key: "x"}, tmp_path / "config-map")
    assert not (tmp_path / "config-map").exists()


def test_config_lines_are_sorted_key_value_pairs() -> None:
    assert config_lines({"b": "2", "a": "1"}) == ["a=1", "b=2"]


def test_kubeconfig_carries_server_ca_and_token() -> None:
    config = yaml.safe_load(kubeconfig_text("https://198.19.254.1:6443", CA, "t0ken"))
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == "https://198.19.254.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode() == CA
    (user,) = config["users"]
    assert user["user"] == {"token": "t0ken"}
    (context,) = config["contexts"]
    assert config["current-context"] == context["name"]
    assert context["context"] == {"cluster": cluster["name"], "user": user["name"]}


def test_serving_certificate_names_every_address_once() -> None:
    sans = subject_alt_names([IPv4Address("198.19.254.1"), IPv4Address("127.0.0.1"), IPv4Address("10.96.0.1")])
    assert sans.split(",")[:3] == ["IP:198.19.254.1", "IP:127.0.0.1", "IP:10.96.0.1"]
    assert sans.count("IP:127.0.0.1") == 1
    assert "DNS:kubernetes.default.svc" in sans and "DNS:localhost" in sans


def test_token_file_line_puts_the_admin_in_system_masters(tmp_path: Path) -> None:
    line = token_file_line("s3cret")
    assert line.endswith(',"system:masters"\n') and line.startswith("s3cret,")
    (tmp_path / "tokens.csv").write_text(line)
    assert Credentials(tmp_path).admin_token == "s3cret"


def test_node_object_is_what_a_kubelet_registers() -> None:
    node = node_object("k8s-1", IPv4Address("198.19.1.11"), {"rack": "r1"})
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "k8s-1" and labels["kubernetes.io/os"] == "linux"
    assert labels["rack"] == "r1"
    assert {"type": "InternalIP", "address": "198.19.1.11"} in node["status"]["addresses"]


def test_cilium_node_is_owned_by_its_node() -> None:
    node = node_object("k8s-1", IPv4Address("198.19.1.11"))
    node["metadata"]["uid"] = "u-1"
    cilium_node = cilium_node_object(node)
    assert cilium_node["metadata"]["name"] == "k8s-1"
    assert cilium_node["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "k8s-1", "uid": "u-1"}
    ]
    assert cilium_node["spec"]["addresses"] == [{"type": "InternalIP", "ip": "198.19.1.11"}]
    assert cilium_node["metadata"]["labels"] == node["metadata"]["labels"]


def test_operator_argv_passes_debug_only_when_the_release_set_it(tmp_path: Path) -> None:
    build = CiliumBinaries("1.18.3", tmp_path)
    argv = operator_argv(build, tmp_path / "kc", tmp_path / "cfg", {"ipam": "cluster-pool"})
    assert argv == [
        str(build.operator),
        "--k8s-kubeconfig-path",
        str(tmp_path / "kc"),
        "--config-dir",
        str(tmp_path / "cfg"),
    ]
    assert operator_argv(build, tmp_path / "kc", tmp_path / "cfg", {"debug": "false"})[-1] == "--debug=false"


def _spec(tmp_path: Path, **kwargs: object) -> ControlPlaneSpec:
    return ControlPlaneSpec("cbgp-x-cp", IPv4Address("198.19.254.1"), IPv4Address("198.18.254.2"), tmp_path, **kwargs)  # type: ignore[arg-type]


def test_node_cidr_allocation_only_when_asked(tmp_path: Path) -> None:
    creds = Credentials(tmp_path)
    off = controller_manager_argv(Path("kcm"), _spec(tmp_path), tmp_path / "kc", creds)
    assert "--allocate-node-cidrs=false" in off and "--cluster-cidr" not in off
    spec = _spec(tmp_path, cluster_cidr=IPv4Network("10.244.0.0/16"), node_cidr_mask_size=26)
    on = controller_manager_argv(Path("kcm"), spec, tmp_path / "kc", creds)
    assert "--allocate-node-cidrs=true" in on
    assert on[on.index("--cluster-cidr") + 1] == "10.244.0.0/16"
    assert on[on.index("--node-cidr-mask-size") + 1] == "26"


def test_kwok_gets_every_stage_and_all_nodes(tmp_path: Path) -> None:
    argv = kwok_argv(Path("kwok"), tmp_path / "kc", [tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert "--manage-all-nodes=true" in argv
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--config"] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yaml"),
    ]


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("v1", "nodes"), "/api/v1/nodes"),
        (
            ("v1", "configmaps", "kube-system", "cilium-config"),
            "/api/v1/namespaces/kube-system/configmaps/cilium-config",
        ),
        (("cilium.io/v2", "ciliumnodes", None, "k8s-1"), "/apis/cilium.io/v2/ciliumnodes/k8s-1"),
    ],
)
def test_resource_paths(args: tuple[str, ...], path: str) -> None:
    assert resource_path(*args) == path
