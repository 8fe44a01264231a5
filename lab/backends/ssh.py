"""Hosts mode: the routers and nodes as SSH hosts that the real program configures.

``up`` builds the same namespaces, links and addresses as daemons mode but starts no routing
daemon of the program's and applies no sysctl: it adds the management network (``lab.mgmt``) and
one sshd per host (``lab.sshd``), and waits until each accepts a login. A stack with Kubernetes
gets its cluster (``lab.k8s.labcluster``): a real control plane and the pod runner. The daemons
the program starts are read at their default paths inside each host, entered through its sshd
(``lab.inspection``). A stack's upstream peer is not the program's: the client plays it with the
lab's own BIRD (``lab.upstream``), started here as in daemons mode.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from lab import mgmt, netns, sshd
from lab.backends.daemons import RUN_ROOT, install_checked
from lab.daemons import BirdDaemon, Enter, FrrRouter, NodeSpeaker, RouterDaemon
from lab.hostsplan import plan_hosts
from lab.inspection import enter_argv, inspect_hosts
from lab.k8s.labcluster import runs_agents, start_cluster
from lab.plan import UPSTREAM_CONFIG, LabPlan
from lab.process import record_process
from lab.shell import LabError, in_netns
from lab.state import LabState

HOST_ETC_BIRD = Path("/etc/bird")
HOST_RUN = Path("/run")


class SshHostsBackend:
    mode: ClassVar[str] = "hosts"

    def __init__(self, plan: LabPlan, workdir: Path, state: LabState) -> None:
        self.plan = plan
        self.workdir = workdir
        self.state = state
        self.hosts = plan_hosts(plan)
        topo = plan.topology
        # Keyed by the router's host (its SSH host): "router" for a stack's one router, else its name.
        self.routers: dict[str, RouterDaemon] = {}
        for host in topo.routers:
            if plan.sessions.router(host.name).daemon == "frr":
                self.routers[host.host] = FrrRouter(host.netns, None, self._enter(host.host), host=host.host)
            else:
                self.routers[host.host] = self._bird(host.host, host.netns)
        # BIRD, which the program starts; with any other method the cluster lab's cilium-agents
        # speak, which the lab's verify does not read (the program's router check does).
        birds = plan.cfg.method == "bird"
        self.speakers: dict[str, NodeSpeaker] = {n.name: self._bird(n.name, n.netns) for n in topo.nodes if birds}
        # The stack's upstream peer, played by the client with the lab's own BIRD.
        self.run_dir = RUN_ROOT / f"cbgp-{plan.lab_id}"
        self.upstream: BirdDaemon | None = None
        if plan.upstream is not None:
            client = topo.client.netns
            self.upstream = BirdDaemon(
                "client",
                client,
                workdir / "hosts" / "client" / "etc-bird",
                self.run_dir / "client",
                lambda: in_netns(client, []),
                lab_owned=True,
            )

    @classmethod
    def refuse_unplayable(cls, plan: LabPlan) -> None:
        plan_hosts(plan)

    def _enter(self, host: str) -> Enter:
        # Resolved at each call: the host's sshd comes up after this object is made.
        return lambda: enter_argv(self.state, host)

    def enter(self, host: str) -> list[str]:
        return enter_argv(self.state, host)

    def _bird(self, host: str, netns_name: str) -> BirdDaemon:
        return BirdDaemon(host, netns_name, HOST_ETC_BIRD, HOST_RUN, self._enter(host), lab_owned=False)

    def _record_namespace(self, name: str) -> None:
        self.state.add("namespaces", name)

    def _start_upstream(self) -> None:
        """The client's BIRD as the stack's upstream peer: it waits for the routers' sessions, which
        come up once the program has configured the routers."""
        if self.upstream is None:
            return
        self.state.add("directories", str(self.run_dir))
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        config = next(c for c in self.plan.configs if c.path == UPSTREAM_CONFIG)
        install_checked(self.upstream, config, config.text)
        for record in self.upstream.start():
            self.state.add_process(record)

    def up(self, began: float) -> dict[str, Any]:
        hp = self.hosts
        mgmt.check_root_free(hp)
        agents = self.plan.cluster and runs_agents(self.plan.cfg)
        netns.build(self.plan.topology, self._record_namespace, None, cilium_host=not agents)
        cp = self.plan.topology.control_plane
        mgmt.build_management(
            hp, self._record_namespace, lambda link: self.state.add("links", link), cp.netns if cp else None
        )
        authorised = sshd.client_key(self.workdir, self.plan.lab_id)
        host_keys = {}
        for host in hp.hosts:
            self.state.set_host(
                host.name,
                {"netns": host.netns, "address": str(host.address), "port": host.port, "files": list(host.files)},
            )
            host_keys[host.name] = sshd.prepare_host(self.workdir, self.plan.lab_id, host, authorised)
        sshd.write_client_files(self.workdir, hp.hosts, host_keys)
        started = time.monotonic()
        records = {
            h.name: sshd.record_sshd(self.state, self.workdir, h.name, sshd.start_sshd(self.workdir, h))
            for h in hp.hosts
        }
        ready = sshd.wait_logins(self.workdir, hp.hosts, records, started)
        for host in hp.hosts:
            # By now the process is sshd itself, no longer `ip netns exec` on its way there.
            self.state.update_process(record_process(records[host.name].role, records[host.name].pid))
            info = self.state.hosts[host.name] | {"etc": sshd.etc_view(records[host.name].pid)}
            self.state.set_host(host.name, info | {"hostKey": host_keys[host.name]})
        self._start_upstream()
        timings: dict[str, Any] = {"buildSeconds": round(started - began, 2), "sshdReadySeconds": ready}
        if self.plan.cluster:
            cluster_began = time.monotonic()
            timings["cluster"] = start_cluster(self.plan, hp, self.workdir, self.state)
            timings["clusterReadySeconds"] = round(time.monotonic() - cluster_began, 2)
        return timings

    def before_verify(self) -> dict[str, Any]:
        if not self.speakers:
            raise LabError(
                f"method {self.plan.cfg.method!r}: its speakers are the cluster lab's cilium-agents, which the "
                "lab's verify does not read; the program's router check (verify.enabled) checks them"
            )
        hosts = inspect_hosts(self.state)
        idle = [f"{h} ({hosts[h]['ssh']})" for h in self.routers if not hosts[h]["daemons"]]
        if idle:
            raise LabError(
                f"no routing daemon runs on the router host {', '.join(idle)}: "
                "configure the hosts first (`pulumi up`, or the program's scripts over SSH)"
            )
        return {"hosts": hosts}
