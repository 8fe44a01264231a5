"""Pods on a lab node, made as a container runtime makes them: Cilium's CNI plugin.

A kubelet asks its runtime for a sandbox; the runtime makes a network namespace and runs the CNI
plugin of the node's CNI config with ``CNI_COMMAND=ADD``, the namespace's path, the container ID,
``eth0`` and the Pod's namespace and name in ``CNI_ARGS``; the plugin asks the node's cilium-agent
(over its socket) for an address and an endpoint and wires the namespace to the node. The lab does
the same, running ``cilium-cni`` where the agent runs (its network and mount namespace: the
plugin finds the agent's socket at its fixed path, as the hostPath volumes share it on a node).
The Pod object exists first and is bound to the node (the agent reads its labels for the
endpoint's identity); kwok, playing the kubelet, marks it Running, and the lab then writes the
address the plugin returned into its status, as a kubelet reports the sandbox's IP.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from lab.k8s.agent import CiliumAgent
from lab.k8s.api import ApiClient, Object, condition, resource_path
from lab.shell import LabError, log, run
from lab.wait import Budget, DeadlinePassed, wait_until

POD_SCHEDULED = Budget("pod marked Running by kwok", 30)
# The plugin waits for the agent itself (up to its own timeouts); this bounds the whole call.
CNI_CALL_SECONDS = 120.0
CNI_VERSION = "0.3.1"
IFNAME = "eth0"


def cni_config(log_file: str = "/var/run/cilium/cilium-cni.log") -> Object:
    """The one plugin of the chart's ``05-cilium.conflist`` (``cni.logFile`` at its default), as a
    runtime hands it to the plugin on stdin."""
    return {"cniVersion": CNI_VERSION, "name": "cilium", "type": "cilium-cni", "log-file": log_file}


def cni_env(
    command: str, container_id: str, netns_path: str, namespace: str, name: str, cni_path: str
) -> dict[str, str]:
    """The environment a runtime gives a CNI plugin (containerd's ``CNI_ARGS``)."""
    args = (
        f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID={container_id}"
    )
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns_path,
        "CNI_IFNAME": IFNAME,
        "CNI_ARGS": args,
        "CNI_PATH": cni_path,
    }


def pod_object(namespace: str, name: str, node: str, labels: dict[str, str]) -> Object:
    """A Pod already bound to ``node`` (what the scheduler would have done)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "registry.invalid/lab/none:0", "ports": [{"containerPort": 80}]}],
            "terminationGracePeriodSeconds": 0,
        },
    }


def result_address(result: Object) -> IPv4Interface:
    """The pod's IPv4 address from the plugin's result (CNI spec 0.3.x: ``ips[].address``)."""
    for entry in result.get("ips") or []:
        address = IPv4Interface(entry["address"]) if ":" not in entry["address"] else None
        if address is not None:
            return address
    raise LabError(f"the CNI result holds no IPv4 address: {json.dumps(result)[:300]}")


@dataclass
class Pod:
    namespace: str
    name: str
    node: str
    netns: str  # the sandbox's network namespace (``ip netns`` name)
    container_id: str
    address: IPv4Address | None = None

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


def _call(agent: CiliumAgent, pod: Pod, command: str) -> Object:
    env = cni_env(command, pod.container_id, pod.netns_path, pod.namespace, pod.name, str(agent.binaries.cni.parent))
    argv = [*agent.enter(), "env", *(f"{k}={v}" for k, v in env.items()), str(agent.binaries.cni)]
    proc = run(argv, stdin=json.dumps(cni_config()), check=False, timeout=CNI_CALL_SECONDS)
    output = proc.stdout.strip()
    answer: Object = json.loads(output) if output.startswith("{") else {}
    if proc.returncode != 0:
        said = answer.get("msg") or answer.get("details") or proc.stderr.strip() or output
        raise LabError(f"cilium-cni {command} for pod {pod.namespace}/{pod.name} on {pod.node}: {said}")
    return answer


def _wait_running(client: ApiClient, pod: Pod) -> None:
    path = resource_path("v1", "pods", pod.namespace, pod.name)

    def running() -> tuple[None, list[str]]:
        obj = client.get(path)
        return None, [] if condition(obj, "Ready") == "True" else [f"pod {pod.name}: {obj.get('status', {})}"]

    try:
        wait_until(running, POD_SCHEDULED, f"kwok runs pod {pod.namespace}/{pod.name}")
    except DeadlinePassed as error:
        raise LabError(str(error)) from None


def add_pod(
    client: ApiClient, agent: CiliumAgent, namespace: str, name: str, labels: dict[str, str], netns: str
) -> Pod:
    """Create Pod ``namespace``/``name`` on the agent's node and its sandbox ``netns``, and wire it
    with ``cilium-cni ADD``. On failure, what was made goes again."""
    pod = Pod(namespace, name, agent.node, netns, secrets.token_hex(32))
    client.create(resource_path("v1", "pods", namespace), pod_object(namespace, name, agent.node, labels))
    made_netns = False
    try:
        # kwok reports the Pod Running first (with an address of its own choosing); the plugin's
        # address then replaces it, so kwok never writes over what the lab reports.
        _wait_running(client, pod)
        run(["ip", "netns", "add", netns])
        made_netns = True
        result = _call(agent, pod, "ADD")
        address = result_address(result)
        pod.address = address.ip
        status: Object = {"status": {"podIP": str(address.ip), "podIPs": [{"ip": str(address.ip)}]}}
        client.merge_patch(resource_path("v1", "pods", namespace, name) + "/status", status)
        log.info("pod %s/%s on %s: %s (container %s)", namespace, name, agent.node, address, pod.container_id[:12])
    except BaseException:
        if made_netns:
            run(["ip", "netns", "del", netns], check=False)
        client.delete(resource_path("v1", "pods", namespace, name))
        raise
    return pod


def delete_pod(client: ApiClient, agent: CiliumAgent | None, pod: Pod) -> list[str]:
    """``cilium-cni DEL`` (while the agent runs), then the sandbox and the Pod object go. Returns
    what could not be done."""
    problems: list[str] = []
    if agent is not None:
        try:
            _call(agent, pod, "DEL")
        except LabError as error:
            problems.append(str(error))
    run(["ip", "netns", "del", pod.netns], check=False)
    client.delete(resource_path("v1", "pods", pod.namespace, pod.name))
    return problems


def endpoint_of(agent: CiliumAgent, pod: Pod) -> dict[str, Any] | None:
    """The agent's endpoint for ``pod`` (``/v1/endpoint``), or None."""
    from lab.k8s.agent import api_get

    for endpoint in api_get(agent.socket_path, "/v1/endpoint"):
        ids = endpoint.get("status", {}).get("external-identifiers", {})
        if ids.get("container-id") == pod.container_id:
            return dict(endpoint)
    return None
