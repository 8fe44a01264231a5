"""Daemons mode: the lab runs the routing daemons itself, from the program's rendered configs.

Every config is written where its daemon reads it (``hosts/<host>/`` in the workdir, FRR's
pathspace), the ``<<secret:bgpPassword>>`` placeholders filled with a password generated per run,
and checked by the daemon's own checker before any namespace exists. Then the namespaces are
built, every daemon started at once, and ``up`` waits until the router has every session and route.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from cilium_bgp.artifacts import router_sysctl_path
from cilium_bgp.renderers.frr import frr_daemons
from cilium_bgp.secrets import reveal
from lab import netns
from lab.checks import wait_converged
from lab.daemons import BirdDaemon, Enter, FrrRouter, GobgpSpeaker, NodeSpeaker, RouterDaemon
from lab.plan import ConfigFile, LabPlan
from lab.shell import in_netns
from lab.state import LabState
from lab.syntax import ConfigRejected, check_syntax
from lab.topology import NodeHost

RUN_ROOT = Path("/run")


def install_checked(daemon: RouterDaemon | NodeSpeaker, config: ConfigFile, text: str) -> None:
    """Write ``text`` (``config`` with its secrets filled in) where ``daemon`` reads it, and check
    it with the daemon's own checker; a refusal names the config and its host."""
    daemon.install(text)
    try:
        check_syntax(config.kind, daemon.conf)
    except ConfigRejected as error:
        raise ConfigRejected(f"{config.path} ({config.host}): {error}") from None


class DaemonsBackend:
    mode: ClassVar[str] = "daemons"

    def __init__(self, plan: LabPlan, workdir: Path, state: LabState) -> None:
        self.plan = plan
        self.workdir = workdir
        self.state = state
        self.run_dir = RUN_ROOT / f"cbgp-{plan.lab_id}"
        topo = plan.topology
        self.routers: dict[str, RouterDaemon] = {}
        for host in topo.routers:
            if plan.sessions.router(host.name).daemon == "frr":
                # Each router's FRR in its own pathspace, named like its namespace.
                self.routers[host.host] = FrrRouter(
                    host.netns, host.netns, self._enter(host.host), frr_daemons(plan.sessions), host.host
                )
            else:
                self.routers[host.host] = self._bird(host.host, host.netns)
        speakers = {"bird": self._bird_speaker, "gobgp": self._gobgp_speaker}[plan.speaker_kind]
        self.speakers: dict[str, NodeSpeaker] = {node.name: speakers(node) for node in topo.nodes}
        # The stack's upstream peer, played by the client (``lab.upstream``).
        self.upstream: BirdDaemon | None = self._bird("client", topo.client.netns) if plan.upstream else None

    @classmethod
    def refuse_unplayable(cls, plan: LabPlan) -> None:
        """The plan itself refuses what no daemon here can play (kube-router)."""

    def _host_dir(self, host: str) -> Path:
        return self.workdir / "hosts" / host

    def _enter(self, host: str) -> Enter:
        netns_name = self.plan.topology.netns_of(host)
        return lambda: in_netns(netns_name, [])

    def enter(self, host: str) -> list[str]:
        return self._enter(host)()

    def _bird(self, host: str, netns_name: str) -> BirdDaemon:
        etc = self._host_dir(host) / "etc-bird"
        return BirdDaemon(host, netns_name, etc, self.run_dir / host, self._enter(host), lab_owned=True)

    def _bird_speaker(self, node: NodeHost) -> NodeSpeaker:
        return self._bird(node.name, node.netns)

    def _gobgp_speaker(self, node: NodeHost) -> NodeSpeaker:
        host_dir = self._host_dir(node.name)
        prefixes = self.plan.standins[node.name].prefixes
        return GobgpSpeaker(
            node.name, node.netns, host_dir / "gobgpd.toml", host_dir / "gobgpd.log", prefixes, self._enter(node.name)
        )

    def _install_configs(self, password: str) -> None:
        """Write every config where its daemon reads it, secrets filled in, and check each one."""
        self.state.add("directories", str(self.run_dir))
        for router in self.routers.values():
            if isinstance(router, FrrRouter):
                self.state.add("directories", str(router.conf_dir))
                self.state.add("directories", str(router.run_dir))
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        for config in self.plan.configs:
            install_checked(self.daemon_of(config.host), config, reveal(config.text, {"bgpPassword": password}))

    def daemon_of(self, host: str) -> RouterDaemon | NodeSpeaker:
        """The daemon the lab runs on ``host``: a router's, a node's speaker, the client's upstream."""
        if host in self.routers:
            return self.routers[host]
        if host == "client" and self.upstream is not None:
            return self.upstream
        return self.speakers[host]

    def _start(self, daemon: RouterDaemon | NodeSpeaker) -> None:
        for record in daemon.start():
            self.state.add_process(record)

    def up(self, began: float) -> dict[str, Any]:
        self._install_configs(secrets.token_urlsafe(18))
        netns.build(
            self.plan.topology,
            lambda name: self.state.add("namespaces", name),
            self.workdir / "rendered" / router_sysctl_path(self.plan.sessions, self.plan.sessions.routers[0]),
        )
        started = time.monotonic()
        daemons: list[RouterDaemon | NodeSpeaker] = [*self.routers.values(), *self.speakers.values()]
        daemons += [self.upstream] if self.upstream is not None else []
        with ThreadPoolExecutor(max_workers=len(daemons)) as pool:
            futures = [pool.submit(self._start, daemon) for daemon in daemons]
            errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            raise errors[0]
        return {"buildSeconds": round(started - began, 2), **wait_converged(self.routers, self.plan, started)}

    def before_verify(self) -> dict[str, Any]:
        return {}
