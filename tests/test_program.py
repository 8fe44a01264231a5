"""The program under mocks: what each stack registers, in what order, and what it exports."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from golden import assert_golden
from harness import ProgramRun, StackMocks, run_program, run_stack_file, stack_file_config, unwrap
from keys import throwaway_private_key
from stacks import ALL_STACKS, PASSWORD, ROOT, SECRET_VALUES, carved_pod_cidrs, stack_id

from cilium_bgp.artifacts import node_config_path, render_artifacts, router_config, router_sysctl_path
from cilium_bgp.plan import RouterPlan, SessionPlan, build_plan
from cilium_bgp.renderers.helm_values import render_helm_values
from cilium_bgp.renderers.manifests import render_manifests
from cilium_bgp.renderers.scripts import activation_stdin
from cilium_bgp.secrets import reveal
from cilium_bgp.stackfile import load_stack_file
from components.kubernetes_objects import type_token

SSH_KEY = throwaway_private_key()
SECRETS = {"sshPrivateKey": SSH_KEY}


def secrets_for(stack: Path) -> dict[str, str]:
    """The secrets an operator sets for ``stack``: the SSH key, and the password it requires."""
    if load_stack_file(stack).bgp.require_password:
        return {**SECRETS, "bgpPassword": PASSWORD}
    return dict(SECRETS)


def mocks_for(stack: Path) -> StackMocks:
    cfg = load_stack_file(stack)
    cluster = {n: [str(c) for c in cs] for n, cs in carved_pod_cidrs(cfg).items()}
    lb = {cfg.demo.name: str(cfg.demo.load_balancer_ip or "192.0.2.77")} if cfg.demo else {}
    return StackMocks(cluster_pod_cidrs=cluster, lb_ips=lb)


_RUNS: dict[Path, ProgramRun] = {}


def run_of(stack: Path) -> ProgramRun:
    """One program run per stack, shared by the read-only tests below."""
    if stack not in _RUNS:
        _RUNS[stack] = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    return _RUNS[stack]


def router_resource(plan: SessionPlan, router: RouterPlan) -> str:
    """The Router component's name: ``router`` for the one-router form, else the router's name."""
    return "router" if plan.form == "router" else router.name


def commands(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {r.urn.split("::")[-1]: run.inputs[r.urn] for r in run.of_type("command:remote:Command")}


def expected_files(stack: Path) -> dict[str, str]:
    cfg = load_stack_file(stack)
    pod_cidrs = carved_pod_cidrs(cfg) if cfg.pod_cidr_source == "cluster" else None
    return {k: reveal(v, SECRET_VALUES) for k, v in render_artifacts(cfg, pod_cidrs).items()}


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_pushes_exactly_the_rendered_files(stack: Path) -> None:
    """Byte-identical: what the commands send over SSH is what `render` writes (secrets filled)."""
    cfg = load_stack_file(stack)
    files = expected_files(stack)
    cmds = commands(run_of(stack))
    # On the wire each file follows the header with its sha256 (the activation checks it).
    plan = build_plan(cfg)
    for router in plan.routers:
        name = router_resource(plan, router)
        path, _ = router_config(plan, router)
        assert unwrap(cmds[f"{name}-sysctl"]["stdin"]) == activation_stdin(files[router_sysctl_path(plan, router)])
        assert unwrap(cmds[f"{name}-{router.daemon}-config"]["stdin"]) == activation_stdin(files[path])
    for node in cfg.nodes:
        if cfg.method == "bird":
            assert unwrap(cmds[f"{node.name}-bird-config"]["stdin"]) == activation_stdin(
                files[node_config_path(node.name)]
            )
        else:
            assert f"{node.name}-bird-config" not in cmds, "only the bird method touches node hosts"


K8S_STACKS = [s for s in ALL_STACKS if load_stack_file(s).kubernetes.enabled]
MULTI_ROUTER_STACKS = [s for s in ALL_STACKS if load_stack_file(s).routers is not None]
VARIANTS_DIR = ROOT / "tests" / "stacks" / "variants"
HOST_ONLY_STACKS = [s for s in ALL_STACKS if not load_stack_file(s).kubernetes.enabled]


@pytest.mark.parametrize("stack", K8S_STACKS, ids=stack_id)
def test_applies_exactly_the_rendered_kubernetes_objects(stack: Path) -> None:
    cfg = load_stack_file(stack)
    run = run_of(stack)
    release = run.of_type("kubernetes:helm.sh/v3:Release")
    assert len(release) == 1
    inputs = run.inputs[release[0].urn]
    assert inputs["values"] == yaml.safe_load(expected_files(stack)["cilium/values.yaml"]) == render_helm_values(cfg)
    assert inputs["name"] == cfg.cilium.release_name, "explicit release name (no random suffix)"
    assert inputs["namespace"] == cfg.cilium.namespace
    assert inputs["repositoryOpts"]["repo"] == cfg.cilium.repository
    assert inputs["version"] == cfg.cilium.version
    files = expected_files(stack)
    manifests = [yaml.safe_load(files[k]) for k in sorted(files) if k.startswith("manifests/")]
    for obj in manifests:
        found = [
            r
            for r in run.of_type(type_token(obj))
            if unwrap(run.inputs[r.urn]["metadata"])["name"] == obj["metadata"]["name"]
        ]
        assert len(found) == 1, f"{type_token(obj)} {obj['metadata']['name']} registered {len(found)} times"
        sent = {k: unwrap(v) for k, v in run.inputs[found[0].urn].items()}
        assert sent == obj
    registered = [r for token in {type_token(m) for m in manifests} for r in run.of_type(token)]
    rendered = render_manifests(cfg, build_plan(cfg))
    assert len(registered) == len(manifests) == len(rendered), "no object beyond the rendered ones"


@pytest.mark.parametrize("stack", HOST_ONLY_STACKS, ids=stack_id)
def test_host_only_stacks_register_nothing_in_kubernetes(stack: Path) -> None:
    run = run_of(stack)
    assert not [t for t in run.types() if t.startswith("kubernetes:")]
    assert "router-frr-config" in commands(run)


@pytest.mark.parametrize("stack", K8S_STACKS, ids=stack_id)
def test_kubernetes_objects_come_after_the_release(stack: Path) -> None:
    run = run_of(stack)
    release_urn = run.of_type("kubernetes:helm.sh/v3:Release")[0].urn
    k8s_objects = [
        r
        for r in run.registrations
        if r.urn.split("::")[2].split("$")[-1].startswith("kubernetes:") and r.urn != release_urn
    ]
    assert k8s_objects or load_stack_file(stack).method == "bird"
    # Node annotations are the exception: the release waits for them (agents read them at start).
    patches = [r.urn for r in k8s_objects if r.urn.split("::")[2].endswith(":NodePatch")]
    for r in k8s_objects:
        if r.urn in patches:
            assert r.urn in run.dependencies[release_urn], f"the Cilium release is not ordered after {r.urn}"
        else:
            assert release_urn in run.dependencies[r.urn], f"{r.urn} is not ordered after the Cilium release"


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_exports(stack: Path) -> None:
    cfg = load_stack_file(stack)
    run = run_of(stack)
    out = run.exports
    assert set(out) == {
        "bgpMethod",
        "ciliumVersion",
        "podCidrs",
        "loadBalancerIps",
        "bgpPeers",
        "routerConfig",
        "nodeConfigs",
    }
    assert out["bgpMethod"] == cfg.method
    assert out["ciliumVersion"] == cfg.cilium.version
    pod_cidrs = carved_pod_cidrs(cfg) if cfg.pod_cidr_source == "cluster" else {n.name: n.pod_cidrs for n in cfg.nodes}
    assert out["podCidrs"] == {n: [str(c) for c in cs] for n, cs in pod_cidrs.items()}
    plan = build_plan(cfg)
    configs = {r.name: router_config(plan, r)[1] for r in plan.routers}
    # One router: the shapes such stacks always had; several: keyed by router name.
    keyed = plan.form == "routers"
    assert out["routerConfig"] == (configs if keyed else configs[plan.routers[0].name]), "the rendered, redacted text"
    files = render_artifacts(cfg, pod_cidrs)
    assert out["nodeConfigs"] == (
        {n.name: files[node_config_path(n.name)] for n in cfg.nodes} if cfg.method == "bird" else {}
    )
    peers_by_router = out["bgpPeers"] if keyed else {plan.routers[0].name: out["bgpPeers"]}
    assert set(peers_by_router) == {r.name for r in plan.routers}
    lb = 1 if cfg.demo and cfg.shared_asn else 0
    for router in plan.routers:
        peers = peers_by_router[router.name]
        nodes = {str(s.node_address): s for s in router.sessions}
        mesh = {str(m.peer_address): m for m in router.mesh}
        upstreams = {str(u.address) for u in router.upstreams}
        assert set(peers) == set(nodes) | set(mesh) | upstreams, f"{router.name}: its node, router and upstream peers"
        for address, session in nodes.items():
            assert peers[address] == {
                "node": session.node,
                "asn": session.node_asn,
                "state": "Established",
                "prefixesReceived": len(pod_cidrs[session.node]) + lb,
            }
        for address, m in mesh.items():
            assert peers[address]["router"] == m.peer
            assert peers[address]["asn"] == m.peer_asn
            assert peers[address]["state"] == "Established"
    if cfg.demo:
        assert out["loadBalancerIps"] == {cfg.demo.name: str(cfg.demo.load_balancer_ip or "192.0.2.77")}
    else:
        assert out["loadBalancerIps"] == {}


def test_lb_ip_comes_from_the_service_status() -> None:
    stack = ROOT / "tests" / "stacks" / "variants" / "metallb-1.16.yaml"
    config = stack_file_config(stack)
    config["cilium-bgp:demoService"] = {"name": "web"}
    run = run_program(config, secrets=secrets_for(stack), mocks=StackMocks(lb_ips={"web": "192.0.2.33"}))
    assert run.exports["loadBalancerIps"] == {"web": "192.0.2.33"}
    check = commands(run)["verify-check"]["create"]
    expect = json.loads(check.split("--expect ", 1)[1].strip("'"))
    assert expect["routes"]["192.0.2.33/32"] == ["10.0.1.10", "10.0.2.10"], "ECMP over both nodes"


def test_peer_state_is_what_the_router_reports() -> None:
    stack = ROOT / "Pulumi.dev.yaml"
    run = run_stack_file(stack, secrets=SECRETS, mocks=StackMocks(peer_states={"10.0.2.10": "Active"}))
    assert run.exports["bgpPeers"]["10.0.2.10"]["state"] == "Active"
    assert run.exports["bgpPeers"]["10.0.1.10"]["state"] == "Established"


def test_verification_expects_every_peer_and_prefix() -> None:
    run = run_of(ROOT / "Pulumi.dev.yaml")
    check = commands(run)["verify-check"]
    assert check["create"].startswith("python3 - --daemon frr --timeout 120 --expect ")
    expect = json.loads(check["create"].split("--expect ", 1)[1].strip("'"))
    assert expect == {
        "peers": {"10.0.1.10": {"asn": 65010}, "10.0.2.10": {"asn": 65020}},
        "routes": {"172.31.254.0/26": ["10.0.1.10"], "172.31.254.64/26": ["10.0.2.10"]},
    }
    assert check["stdin"].startswith("#!/usr/bin/env python3"), "the checker script travels on stdin"
    verify_urn = run.named("verify-check").urn
    for name in ("router-frr-config", "node1-bird-config", "node2-bird-config"):
        assert run.named(name).urn in run.dependencies[verify_urn], f"the check runs after {name}"


def test_verification_can_be_turned_off() -> None:
    config = stack_file_config(ROOT / "Pulumi.dev.yaml")
    config["cilium-bgp:verify"] = {"enabled": False}
    run = run_program(config, secrets=SECRETS)
    assert "verify-check" not in commands(run)
    assert {p["state"] for p in run.exports["bgpPeers"].values()} == {"unverified"}


def test_cluster_pod_cidrs_are_read_after_the_release() -> None:
    stack = ROOT / "tests" / "stacks" / "variants" / "bird-cluster-1.18.yaml"
    run = run_stack_file(
        stack,
        secrets=SECRETS,
        mocks=StackMocks(cluster_pod_cidrs={"node1": ["172.31.255.0/26"], "node2": ["172.31.254.128/26"]}),
    )
    reads = run.of_type("kubernetes:cilium.io/v2:CiliumNode")
    assert sorted(r.id for r in reads) == ["node1-ciliumnode-id", "node2-ciliumnode-id"]
    release_urn = run.of_type("kubernetes:helm.sh/v3:Release")[0].urn
    for read in reads:
        assert release_urn in run.dependencies[read.urn], "CiliumNodes are read after the release"
    assert run.exports["podCidrs"] == {"node1": ["172.31.255.0/26"], "node2": ["172.31.254.128/26"]}
    node1 = unwrap(commands(run)["node1-bird-config"]["stdin"])
    assert 'route 172.31.255.0/26 via "cilium_host";' in node1


def test_unusable_cluster_pod_cidrs_fail_with_the_node_named() -> None:
    stack = ROOT / "tests" / "stacks" / "variants" / "bird-cluster-1.18.yaml"
    with pytest.raises(pulumi.RunError) as caught:
        run_stack_file(
            stack, secrets=SECRETS, mocks=StackMocks(cluster_pod_cidrs={"node1": ["10.9.0.0/26"], "node2": []})
        )
    message = str(caught.value)
    assert "nodes[0] (CiliumNode node1 spec.ipam.podCIDRs[0]): found 10.9.0.0/26, outside the pool" in message
    assert "nodes[1] (node2): found no PodCIDR in its CiliumNode" in message


def test_kubernetes_can_be_left_out() -> None:
    config = stack_file_config(ROOT / "Pulumi.dev.yaml")
    config["cilium-bgp:kubernetes"] = {"enabled": False}
    run = run_program(config, secrets=SECRETS)
    assert not [t for t in run.types() if t.startswith("kubernetes:")]
    assert "router-frr-config" in commands(run)


def test_a_second_run_registers_identical_inputs() -> None:
    """Nothing time- or order-dependent in inputs: an unchanged stack means no diff, so no command runs."""
    stack = ROOT / "Pulumi.prod.yaml"
    first = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    second = run_stack_file(stack, secrets=secrets_for(stack), mocks=mocks_for(stack))
    assert first.inputs.keys() == second.inputs.keys()
    for urn, inputs in first.inputs.items():
        assert inputs == second.inputs[urn], f"{urn} inputs differ between identical runs"


def test_config_change_changes_only_that_command() -> None:
    config = stack_file_config(ROOT / "Pulumi.dev.yaml")
    before = commands(run_program(config, secrets=SECRETS))
    config["cilium-bgp:nodes"][1]["asn"] = 65021
    after = commands(run_program(config, secrets=SECRETS))
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == ["node2-bird-config", "router-frr-config", "verify-check"]


def test_components_carry_resolved_specs() -> None:
    run = run_of(ROOT / "Pulumi.prod.yaml")
    router = run.inputs[run.named("router").urn]
    assert router["method"] == "cilium-bgp-v2"
    assert router["neighbors"] == [
        {"node": "node1", "address": "10.0.1.10", "asn": 65000, "subnet": "10.0.1.0/24"},
        {"node": "node2", "address": "10.0.2.10", "asn": 65000, "subnet": "10.0.2.0/24"},
    ]
    assert router["maximumPaths"] == 2
    assert router["usesPassword"] is True
    assert router["mesh"] == [
        {"router": "router2", "address": "192.168.121.17", "asn": 65100, "internal": True, "reflectorClient": False}
    ]
    node = run.inputs[run.named("node2").urn]
    assert node["speaker"] == "cilium-bgp-v2"
    assert node["podCIDRs"] == ["172.31.254.64/26"]
    assert node["peers"] == [
        {"router": "router", "address": "10.0.2.2", "asn": 65100},
        {"router": "router2", "address": "10.0.2.3", "asn": 65100},
    ]
    assert (node["peerAddress"], node["peerASN"]) == ("10.0.2.2", 65100), "the first of its routers"


ONE_ROUTER_NAMES = {"router", "router-sysctl", "router-frr-config", "verify", "verify-check"}


@pytest.mark.parametrize("stack", [ROOT / "Pulumi.dev.yaml", VARIANTS_DIR / "bird-router-1.18.yaml"], ids=stack_id)
def test_one_router_keeps_its_resource_names(stack: Path) -> None:
    """A running one-router stack must not see its router replaced: the names (URNs) stay."""
    run = run_of(stack)
    daemon = load_stack_file(stack).router.daemon  # type: ignore[union-attr]
    names = {r.urn.split("::")[-1] for r in run.registrations}
    assert {n.replace("frr", daemon) for n in ONE_ROUTER_NAMES} <= names
    assert [r.urn.split("::")[-1] for r in run.of_type("cilium-bgp:index:Router")] == ["router"]


@pytest.mark.parametrize("stack", MULTI_ROUTER_STACKS, ids=stack_id)
def test_one_router_component_and_check_per_router(stack: Path) -> None:
    cfg = load_stack_file(stack)
    plan = build_plan(cfg)
    run = run_of(stack)
    routers = sorted(r.urn.split("::")[-1] for r in run.of_type("cilium-bgp:index:Router"))
    assert routers == sorted(r.name for r in plan.routers)
    checks = sorted(r.urn.split("::")[-1] for r in run.of_type("cilium-bgp:index:BgpVerification"))
    assert checks == sorted(f"verify-{r.name}" for r in plan.routers)
    cmds = commands(run)
    configs = [run.named(f"{r.name}-{r.daemon}-config").urn for r in plan.routers]
    for router in plan.routers:
        check = cmds[f"verify-{router.name}-check"]
        assert check["create"].startswith(f"python3 - --daemon {router.daemon} ")
        # The check fails naming its router (the status script's own words come first).
        assert check["create"].endswith(
            f"|| {{ echo 'cilium-bgp: the check above failed on router {router.name}' >&2; exit 1; }}"
        )
        expect = json.loads(shlex.split(check["create"])[shlex.split(check["create"]).index("--expect") + 1])
        want = {str(s.node_address): {"asn": s.node_asn} for s in router.sessions}
        want |= {str(m.peer_address): {"asn": m.peer_asn} for m in router.mesh}
        want |= {str(u.address): {"asn": u.asn} for u in router.upstreams}
        assert expect["peers"] == want, f"{router.name} expects its nodes, the routers and upstreams it peers with"
        assert set(expect["routes"]) >= {str(c) for n in cfg.nodes for c in n.pod_cidrs}, "every PodCIDR"
        # Mesh sessions need the other routers configured too.
        deps = run.dependencies[run.named(f"verify-{router.name}-check").urn]
        assert set(configs) <= set(deps), f"the check on {router.name} runs after every router's config"


def test_router_per_rack_expects_remote_racks_via_the_rack_router() -> None:
    run = run_of(VARIANTS_DIR / "rack-v2-1.18.yaml")
    check = commands(run)["verify-tor2-check"]["create"]
    expect = json.loads(shlex.split(check)[shlex.split(check).index("--expect") + 1])
    # node1 and node3 sit in rack 1: tor2 reaches them through tor1's fabric address, whichever
    # reflector carried the route; its own node2 directly.
    assert expect["routes"]["172.31.254.0/26"] == ["10.0.0.1"]
    assert expect["routes"]["172.31.254.128/26"] == ["10.0.0.1"]
    assert expect["routes"]["172.31.254.64/26"] == ["10.0.2.10"]
    assert expect["routes"]["192.0.2.10/32"] == ["10.0.2.10"], "the LB IP over its own node"
    reflector = commands(run)["verify-rr1-check"]["create"]
    expect = json.loads(shlex.split(reflector)[shlex.split(reflector).index("--expect") + 1])
    assert expect["routes"]["192.0.2.10/32"] is None, "both rack routers announce it: the reflector picks"


def test_redundant_pair_keyed_by_router_in_outputs() -> None:
    run = run_of(ROOT / "Pulumi.prod.yaml")
    peers = run.exports["bgpPeers"]
    assert set(peers) == {"router", "router2"}
    assert peers["router"]["192.168.121.17"]["router"] == "router2"
    assert peers["router2"]["10.0.1.10"]["node"] == "node1"
    assert set(run.exports["routerConfig"]) == {"router", "router2"}


def _inputs_by_name(run: ProgramRun) -> dict[str, Any]:
    return {urn.split("::")[-1]: inputs for urn, inputs in run.inputs.items()}


@pytest.mark.parametrize(
    ("stack", "changes"),
    [
        # The router's config lists every neighbor: it changes (one reload on the router).
        (ROOT / "Pulumi.dev.yaml", {"router-frr-config"}),
        # A listen range accepts the new node as it is: no router change; the node joins the
        # ClusterConfig that selects its subnet's nodes.
        (
            ROOT / "tests" / "stacks" / "variants" / "v2-listen-range-1.18.yaml",
            {"ciliumbgpclusterconfig-cilium-bgp-10-0-2-2"},
        ),
    ],
    ids=["static-neighbors", "listen-range"],
)
def test_adding_a_node_touches_only_that_node_and_the_router(stack: Path, changes: set[str]) -> None:
    config = stack_file_config(stack)
    before = _inputs_by_name(run_program(config, secrets=secrets_for(stack), mocks=mocks_for(stack)))
    node = {"name": "node9", "address": "10.0.2.19/24", "podCIDRs": ["172.31.255.192/26"]}
    if load_stack_file(stack).method == "bird":
        node["asn"] = 65090
    config["cilium-bgp:nodes"] = [*config["cilium-bgp:nodes"], node]
    after = _inputs_by_name(run_program(config, secrets=secrets_for(stack), mocks=mocks_for(stack)))
    added = set(after) - set(before)
    changed = {name for name in before if name in after and before[name] != after[name]}
    assert added == ({"node9", "node9-bird-config"} if load_stack_file(stack).method == "bird" else {"node9"})
    # Besides: the router component's spec (it lists the neighbors) and the check's expectation.
    assert changed == {"router", "verify", "verify-check", *changes}


def test_config_commands_follow_their_host_and_their_owner() -> None:
    """pulumi-command replaces a command only when its triggers change: a new host (or port) must
    replace the config commands, old one deleted first; each delete removes only what it wrote."""
    run = run_of(ROOT / "Pulumi.dev.yaml")
    kinds = {
        "router-sysctl": "sysctl",
        "router-frr-config": "frr",
        "node1-bird-config": "bird",
        "node2-bird-config": "bird",
    }
    for name, kind in kinds.items():
        urn = run.named(name).urn
        options, inputs = run.options[urn], run.inputs[urn]
        connection = unwrap(inputs["connection"])
        assert inputs["triggers"] == [connection["host"], connection["port"]], name
        assert options["deleteBeforeReplace"], name
        assert inputs["addPreviousOutputInEnv"] is False, name
        owner = f"cilium-bgp/test/{name}"
        create = shlex.split(unwrap(inputs["create"]).split("\n", 1)[1])
        assert create[3:8] == ["activate.sh", kind, create[5], create[6], owner], "the activation records its owner"
        delete = shlex.split(inputs["delete"].split("\n", 1)[1])
        assert delete[3:] == ["remove.sh", kind, owner], "the delete removes only what its owner wrote"
    assert run.inputs[run.named("verify-check").urn]["addPreviousOutputInEnv"] is False


def test_renaming_a_node_runs_the_router_check_again() -> None:
    """A renamed node's config is pushed by a new resource, even with the same text: the router
    check must run again after that push (its triggers change)."""
    config = stack_file_config(ROOT / "Pulumi.dev.yaml")
    before = commands(run_program(config, secrets=SECRETS))
    config["cilium-bgp:nodes"][1]["name"] = "node2-renamed"
    after = commands(run_program(config, secrets=SECRETS))
    assert unwrap(after["node2-renamed-bird-config"]["stdin"]) == unwrap(before["node2-bird-config"]["stdin"])
    assert after["verify-check"]["triggers"] != before["verify-check"]["triggers"]


def resource_graph(run: ProgramRun) -> str:
    """Every registered resource by URN, with its parent, provider and explicit dependencies: what
    the engine keys state on and orders by. A renamed, retyped or re-parented resource changes its
    URN, which the engine treats as a delete and a create."""
    lines = []
    for urn in sorted(r.urn for r in run.registrations):
        options = run.options.get(urn, {})
        lines.append(urn)
        if options.get("parent"):
            lines.append(f"  parent {options['parent']}")
        if options.get("provider"):
            lines.append(f"  provider {options['provider']}")
        lines.extend(f"  dependsOn {dep}" for dep in sorted(run.dependencies.get(urn, [])))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("stack", ALL_STACKS, ids=stack_id)
def test_urns_parents_and_ordering_stay_as_deployed(stack: Path) -> None:
    """A running stack keeps its resources: the URNs, parents, providers and explicit dependencies
    of every stack are those recorded in tests/golden/urns (``UPDATE_GOLDEN=1``, review the diff)."""
    assert_golden(f"urns/{stack_id(stack)}.txt", resource_graph(run_of(stack)))


def test_kubernetes_resources_keep_the_stacks_provider() -> None:
    """With ``kubernetes`` set, every Kubernetes resource and read goes through the stack's provider
    (its graph recorded as for the shipped stacks)."""
    prod = ROOT / "Pulumi.prod.yaml"
    config = {k: v for k, v in stack_file_config(prod).items() if not (isinstance(v, dict) and "secure" in v)}
    config["cilium-bgp:kubernetes"] = {"kubeconfig": "apiVersion: v1\nclusters: []\n", "context": "ctx"}
    run = run_program(config, secrets=secrets_for(prod), mocks=mocks_for(prod))
    (provider,) = run.of_type("pulumi:providers:kubernetes")
    kubernetes = [r.urn for r in run.registrations if r.urn.split("::")[2].split("$")[-1].startswith("kubernetes:")]
    assert kubernetes
    for urn in kubernetes:
        assert run.options[urn]["provider"] == f"{provider.urn}::{provider.urn.split('::')[-1]}-id", urn
    assert_golden("urns/prod-with-kubeconfig.txt", resource_graph(run))
