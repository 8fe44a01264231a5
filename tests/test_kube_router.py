"""The kube-router method renders what kube-router itself needs, per its source.

Upstream facts (cloudnativelabs/kube-router, tags v2.1.0 and v2.5.0, identical in both):

- ``pkg/cmd/kube-router.go``: whatever it runs, kube-router creates shared informers for
  services, endpoints, endpointslices (discovery.k8s.io), pods, nodes, namespaces and
  networkpolicies (networking.k8s.io), then ``CacheSyncOrTimeout`` waits for all of them and
  returns "failed to synchronize cache" after ``--cache-sync-timeout`` (default 1 minute,
  ``pkg/options/options.go``): a forbidden list means the pod exits and crash-loops.
- ``daemonset/generic-kuberouter-only-advertise-routes.yaml`` (the advertise-only manifest)
  grants those resources get/list/watch, mounts ``/run/xtables.lock`` (hostPath, FileOrCreate)
  and probes ``/healthz`` on port 20244 (``--health-port``'s default, ``pkg/options/options.go``).
  Its leases and services/status grants serve ``--run-loadbalancer`` (``pkg/controllers/lballoc``),
  which this method does not run; nothing in ``pkg/`` patches or updates a Node.
- ``--peer-router-passwords-file`` (``pkg/options/options.go``) names a file read once at start by
  ``NewNetworkRoutingController`` (``pkg/controllers/routing/network_routes_controller.go``): its
  content is split on "," and each item base64-decoded (``stringSliceB64Decode``,
  ``pkg/controllers/routing/utils.go``), one per ``--peer-router-ips`` entry (``newGlobalPeers``,
  ``pkg/controllers/routing/bgp_peers.go``).
- ``--router-id`` is one value (or ``generate``) for the whole DaemonSet; without it each node
  uses its primary IP (``network_routes_controller.go``); no node annotation sets a router-id.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from harness import StackMocks, run_stack_file, unwrap
from pulumi.runtime import rpc
from pydantic import SecretStr
from stacks import PASSWORD, ROOT

from cilium_bgp.config import StackConfig, load_config
from cilium_bgp.docs import config_reference
from cilium_bgp.errors import ConfigError
from cilium_bgp.plan import build_plan
from cilium_bgp.renderers.manifests import KUBE_ROUTER_PASSWORD_SECRET, render_manifests
from cilium_bgp.secrets import secret_ref
from cilium_bgp.stackfile import load_stack_file, raw_config_from_stack_file

STACK = ROOT / "tests" / "stacks" / "variants" / "kube-router-1.16.yaml"
# Every informer kube-router v2.1.0-v2.5.0 starts, by API group.
INFORMERS = {
    "": {"services", "endpoints", "pods", "nodes", "namespaces"},
    "discovery.k8s.io": {"endpointslices"},
    "networking.k8s.io": {"networkpolicies"},
}


def _objects(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in render_manifests(cfg, build_plan(cfg))}


def _with(stack: Path, **changes: Any) -> StackConfig:
    raw, secret = raw_config_from_stack_file(stack)
    raw.update(changes)
    return load_config(raw, secret | {k for k in changes if k in ("bgpPassword",)}, need_secret_values=True)


def _container(cfg: StackConfig) -> dict[str, Any]:
    return _objects(cfg)["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]


def test_cluster_role_lets_every_informer_list_and_watch() -> None:
    rules = _objects(load_stack_file(STACK))["ClusterRole"]["rules"]
    for group, resources in INFORMERS.items():
        for resource in resources:
            verbs = {v for r in rules if group in r["apiGroups"] and resource in r["resources"] for v in r["verbs"]}
            assert {"get", "list", "watch"} <= verbs, f"kube-router cannot list/watch {group or 'core'}/{resource}"


def test_cluster_role_grants_no_write() -> None:
    """Advertising routes writes nothing to the API server: no verb beyond reading."""
    rules = _objects(load_stack_file(STACK))["ClusterRole"]["rules"]
    verbs = {v for r in rules for v in r["verbs"]}
    assert verbs == {"get", "list", "watch"}, f"verbs granted: {sorted(verbs)}"


def test_daemonset_shares_the_hosts_xtables_lock() -> None:
    pod = _objects(load_stack_file(STACK))["DaemonSet"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    lock = next((name for name, v in volumes.items() if v.get("hostPath", {}).get("path") == "/run/xtables.lock"), None)
    assert lock is not None, f"no hostPath volume for /run/xtables.lock: {volumes}"
    assert volumes[lock]["hostPath"]["type"] == "FileOrCreate"
    assert mounts[lock]["mountPath"] == "/run/xtables.lock" and not mounts[lock].get("readOnly", False)


def test_daemonset_is_probed_on_kube_routers_health_port() -> None:
    probe = _container(load_stack_file(STACK)).get("livenessProbe")
    assert probe is not None and probe["httpGet"] == {"path": "/healthz", "port": 20244}, f"livenessProbe: {probe}"


PASSWORD_STACK = ROOT / "tests" / "stacks" / "variants" / "kube-router-password-1.18.yaml"


def _password_file(cfg: StackConfig) -> tuple[dict[str, Any], str]:
    """The Secret holding kube-router's password file, and the path the DaemonSet reads it from."""
    objects = render_manifests(cfg, build_plan(cfg))
    pod = next(o for o in objects if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    flags = [a for a in pod["containers"][0]["args"] if a.startswith("--peer-router-passwords")]
    assert len(flags) == 1 and flags[0].startswith("--peer-router-passwords-file="), f"password flags: {flags}"
    path = Path(flags[0].split("=", 1)[1])
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if path.parent == Path(m["mountPath"]))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    secret = next(
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == volume["secret"]["secretName"]
    )
    assert secret["metadata"]["namespace"] == cfg.cilium.namespace, "the Secret sits beside the DaemonSet"
    assert mount.get("readOnly") is True
    return secret, path.name


def test_password_is_accepted_for_kube_router() -> None:
    cfg = _with(PASSWORD_STACK, bgpPassword=SecretStr(PASSWORD))
    assert cfg.uses_password


def test_password_reaches_kube_router_as_a_mounted_file() -> None:
    cfg = load_stack_file(PASSWORD_STACK)
    secret, key = _password_file(cfg)
    peers = {a.split("=", 1)[1] for a in _container(cfg)["args"] if a.startswith("--peer-router-ips=")}
    # One base64 item per --peer-router-ips entry, comma-separated: what stringSliceB64Decode reads.
    items = secret["stringData"][key].split(",")
    assert len(items) == len(next(iter(peers)).split(",")), f"{items} for peers {peers}"
    assert set(items) == {secret_ref(KUBE_ROUTER_PASSWORD_SECRET)}


def test_program_fills_the_file_with_the_base64_password() -> None:
    run = run_stack_file(
        PASSWORD_STACK, secrets={"bgpPassword": PASSWORD}, mocks=StackMocks(lb_ips={"whoami-lb": "192.0.2.20"})
    )
    secrets = [r for r in run.of_type("kubernetes:core/v1:Secret") if "kube-router" in r.urn]
    assert len(secrets) == 1, [r.urn for r in run.of_type("kubernetes:core/v1:Secret")]
    inputs = run.inputs[secrets[0].urn]
    assert rpc.is_rpc_secret(inputs["stringData"]), "the password file is a secret input"
    (content,) = unwrap(inputs["stringData"]).values()
    assert [base64.b64decode(item).decode() for item in content.split(",")] == [PASSWORD]
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    for reg in run.registrations:
        if reg.urn != secrets[0].urn and "::kubernetes:" in reg.urn:
            text = json.dumps(unwrap(run.inputs.get(reg.urn, {})))
            assert PASSWORD not in text and encoded not in text, f"{reg.urn} carries the password"


def test_pod_pool_is_the_controller_managers_one_cluster_cidr() -> None:
    """With kube-router, Cilium runs ``ipam.mode: kubernetes``: PodCIDRs come from
    kube-controller-manager's ``--cluster-cidr``, which holds one IPv4 CIDR (kubernetes v1.34.4,
    ``cmd/kube-controller-manager/app/core.go``: more than one CIDR must be dual-stack, at most one
    per family). A pool of two CIDRs cannot be what the controller manager hands out."""
    raw, secret = raw_config_from_stack_file(STACK)
    raw["cilium"] = {
        **raw["cilium"],
        "clusterPoolIPv4PodCIDRList": ["172.31.254.0/24", "172.31.255.0/24"],
        "ipv4NativeRoutingCIDR": "172.31.254.0/23",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(raw, secret)
    assert [p.key for p in caught.value.problems] == ["cilium.clusterPoolIPv4PodCIDRList"]
    assert "--cluster-cidr" in caught.value.problems[0].allowed


def test_reference_says_the_pool_keys_are_the_controller_managers_flags() -> None:
    rows = {line.split("|")[1].strip(): line for line in config_reference().splitlines() if line.startswith("| `")}
    assert "--cluster-cidr" in rows["`cilium.clusterPoolIPv4PodCIDRList`"]
    assert "--node-cidr-mask-size" in rows["`cilium.clusterPoolIPv4MaskSize`"]
    assert "spec.podCIDRs" in rows["`nodes[].podCIDRs`"]
