"""The pod runner's kubelet logic for the agents' pods, with the agent process replaced by a fake
(no root, no cluster): what runs for which pod, when the pod turns Ready, a restart after an exit,
and what a deleted pod stops."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from lab.k8s import podrunner
from lab.k8s.labcluster import runs_agents
from lab.k8s.podrunner import AgentPod, AgentStandIn, OperatorPod, RunnerConfig, handler_type
from lab.k8s.pods import AGENT, OPERATOR
from lab.k8s.processes import ProcessExited
from lab.plan import load_stack
from lab.shell import LabError


def runner_config(tmp_path: Path, real_agents: bool = True) -> RunnerConfig:
    return RunnerConfig(
        server="https://198.18.0.254:6443",
        pki=str(tmp_path / "pki"),
        kubeconfig=str(tmp_path / "kubeconfig"),
        workdir=str(tmp_path / "pods"),
        nodes={"node1": {"netns": "cbgp-t-node1", "address": "10.0.1.10"}},
        real_agents=real_agents,
    )


def agent_pod(probe: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.17.8@sha256:0f"}
    if probe:
        container["readinessProbe"] = {"httpGet": {"host": "127.0.0.1", "path": "/healthz", "port": 9879}}
    return {
        "metadata": {"name": "cilium-abcde", "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
        "spec": {"nodeName": "node1", "containers": [container]},
    }


class FakeAgent:
    """What AgentPod asks of lab.k8s.agent.CiliumAgent, scripted."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.readiness_answers: list[tuple[list[IPv4Network], list[str]] | Exception] = []
        self.exited = False

    def start(self, client: object) -> None:
        self.calls.append("start")

    def readiness(self) -> tuple[list[IPv4Network], list[str]]:
        answer = self.readiness_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def check_running(self) -> None:
        self.calls.append("check_running")
        if self.exited:
            raise ProcessExited("cilium-agent (pid 1) exited:\nlevel=fatal msg=boom")

    def stop_process(self) -> list[str]:
        self.calls.append("stop_process")
        return []

    def stop(self) -> list[str]:
        self.calls.append("stop")
        return []


class FakeClient:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    def merge_patch(self, path: str, patch: dict[str, Any]) -> None:
        assert path == "/api/v1/namespaces/kube-system/pods/cilium-abcde/status", path
        self.patches.append(patch["status"])


def ready_of(status: dict[str, Any]) -> str:
    return next(c["status"] for c in status["conditions"] if c["type"] == "Ready")


@pytest.fixture
def fake_agent(monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    agent = FakeAgent()
    monkeypatch.setattr(podrunner, "CiliumAgent", lambda *args, **kwargs: agent)
    return agent


def test_agent_pods_run_real_agents_unless_the_lab_stands_in(tmp_path: Path) -> None:
    assert handler_type(runner_config(tmp_path), AGENT) is AgentPod
    assert handler_type(runner_config(tmp_path, real_agents=False), AGENT) is AgentStandIn
    assert handler_type(runner_config(tmp_path, real_agents=False), OPERATOR) is OperatorPod


def test_a_runner_config_without_the_agents_key_runs_real_agents(tmp_path: Path) -> None:
    saved = runner_config(tmp_path).save(tmp_path / "podrunner.json")
    text = json.loads(saved.read_text())
    del text["real_agents"]
    saved.write_text(json.dumps(text))
    assert RunnerConfig.load(saved).real_agents is True


def test_the_agent_of_the_pods_release_on_the_pods_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[Any, ...]] = []
    monkeypatch.setattr(podrunner, "CiliumAgent", lambda *args: made.append(args))
    AgentPod(runner_config(tmp_path), agent_pod())
    ((binaries, node, netns, kubeconfig, workdir, namespace),) = made
    assert (binaries.release, node, netns, namespace) == ("1.17.8", "node1", "cbgp-t-node1", "kube-system")
    assert (kubeconfig, workdir) == (tmp_path / "kubeconfig", tmp_path / "pods" / "cilium-abcde")


def test_the_pod_turns_ready_once_the_agent_is(tmp_path: Path, fake_agent: FakeAgent) -> None:
    client = FakeClient()
    pod = AgentPod(runner_config(tmp_path), agent_pod())
    fake_agent.readiness_answers = [
        LabError("cilium-agent API /v1/cluster/nodes: 503"),
        ([], ["cilium: Warning not ready"]),
        ([IPv4Network("172.31.254.0/26")], []),
    ]
    pod.step(client, agent_pod())
    assert fake_agent.calls == ["start"]
    assert [ready_of(s) for s in client.patches] == ["False"]
    pod.step(client, agent_pod())
    pod.step(client, agent_pod())
    assert len(client.patches) == 1, "no status change while the agent is not ready"
    pod.step(client, agent_pod())
    assert [ready_of(s) for s in client.patches] == ["False", "True"]
    pod.step(client, agent_pod())
    assert fake_agent.calls[-1] == "check_running", "a ready agent is only watched"
    assert fake_agent.readiness_answers == []


def test_a_failing_readiness_probe_keeps_the_pod_unready(
    tmp_path: Path, fake_agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[str] = []
    monkeypatch.setattr(podrunner, "probe_passes", lambda netns, probe, address: probed.append(netns) or False)
    client = FakeClient()
    pod = AgentPod(runner_config(tmp_path), agent_pod(probe=True))
    fake_agent.readiness_answers = [([IPv4Network("172.31.254.0/26")], [])]
    pod.step(client, agent_pod(probe=True))
    pod.step(client, agent_pod(probe=True))
    assert probed == ["cbgp-t-node1"]
    assert [ready_of(s) for s in client.patches] == ["False"]


def test_an_agent_that_exits_is_restarted_in_its_pod_and_a_deleted_pod_stops_it(
    tmp_path: Path, fake_agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(podrunner.time, "monotonic", lambda: clock[0])
    client = FakeClient()
    pod = AgentPod(runner_config(tmp_path), agent_pod())
    fake_agent.readiness_answers = [([IPv4Network("172.31.254.0/26")], [])]
    pod.step(client, agent_pod())
    pod.step(client, agent_pod())
    fake_agent.exited = True
    pod.step(client, agent_pod())
    status = client.patches[-1]
    assert ready_of(status) == "False"
    (container,) = status["containerStatuses"]
    assert container["restartCount"] == 1
    assert "level=fatal msg=boom" in container["lastState"]["terminated"]["message"]
    assert fake_agent.calls[-1] == "stop_process", "an exited agent keeps its pod's directory"
    fake_agent.exited = False
    pod.step(client, agent_pod())
    assert fake_agent.calls.count("start") == 1, "no restart before the back-off"
    clock[0] += podrunner.BACKOFF_FIRST
    pod.step(client, agent_pod())
    assert fake_agent.calls.count("start") == 2
    assert pod.stop() == []
    assert fake_agent.calls[-1] == "stop", "a deleted pod's agent goes with its directory and cgroup"


def test_a_cluster_lab_runs_real_agents_unless_cilium_is_only_the_cni() -> None:
    stacks = Path(__file__).resolve().parent / "stacks" / "e2e"
    assert runs_agents(load_stack(stacks / "Pulumi.cluster-v2.yaml")) is True
    assert runs_agents(load_stack(stacks / "Pulumi.cluster-bird.yaml")) is False, "method bird: BIRD announces"
