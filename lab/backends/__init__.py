"""How a lab's hosts run, behind one interface: :class:`Backend`.

- ``daemons`` (:mod:`lab.backends.daemons`, ``python -m lab up``): the lab itself installs the
  rendered configs and starts FRR or BIRD on the router and BIRD or the GoBGP stand-in on the
  nodes; ``up`` waits until the router has every session and route.
- ``hosts`` (:mod:`lab.backends.ssh`, ``up --hosts ssh``): the router and nodes become SSH hosts
  (own sshd, mount and UTS namespace) and the real program starts the daemons; the lab only reads
  them.

Everything else (``lab.run``: rendering, waiting, ``verify``; ``lab.teardown``) is the same for
both: it reads each router through :class:`~lab.daemons.RouterDaemon`, each node's speaker through
:class:`~lab.daemons.NodeSpeaker`, and runs a command on a host with :meth:`Backend.enter`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from lab.backends.daemons import DaemonsBackend
from lab.backends.ssh import SshHostsBackend
from lab.daemons import BirdDaemon, NodeSpeaker, RouterDaemon
from lab.plan import LabPlan
from lab.state import LabState


class Backend(Protocol):
    mode: ClassVar[str]  # recorded in the lab state: "daemons" or "hosts"
    routers: dict[str, RouterDaemon]  # router host ("router", or each router's name) -> its daemon
    speakers: dict[str, NodeSpeaker]  # node name -> its speaker
    upstream: BirdDaemon | None  # the stack's upstream peer, played by the client

    def __init__(self, plan: LabPlan, workdir: Path, state: LabState) -> None: ...

    @classmethod
    def refuse_unplayable(cls, plan: LabPlan) -> None:
        """Raise ``StackUnusable`` for what this backend cannot play of ``plan``, before anything exists."""
        ...

    def enter(self, host: str) -> list[str]:
        """The argv prefix that runs a command on ``host`` (a router's host, a node name, "client")."""
        ...

    def up(self, began: float) -> dict[str, Any]:
        """Build the namespaces and start what runs on the hosts (recording each thing in the state
        before or as it is made); the "up" timings (``buildSeconds`` from ``began``, ...)."""
        ...

    def before_verify(self) -> dict[str, Any]:
        """Fail fast when there is nothing to verify yet; extra sections of the verify report."""
        ...


BACKENDS: dict[str, type[Backend]] = {DaemonsBackend.mode: DaemonsBackend, SshHostsBackend.mode: SshHostsBackend}


def backend_for(plan: LabPlan, workdir: Path, state: LabState) -> Backend:
    """The backend the lab in ``state`` was built with."""
    return BACKENDS[state.mode](plan, workdir, state)
