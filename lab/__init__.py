"""A lab of real BGP daemons in network namespaces, built from a stack file.

``python -m lab up|verify|down --stack-file Pulumi.<stack>.yaml [--workdir DIR]`` builds one network
namespace per host of the stack (the router, every node, and a client behind the router), renders
every config with the program's own renderers (the bytes ``pulumi up`` pushes), runs FRR or BIRD on
the router and BIRD or GoBGP on the nodes, and checks sessions, routes and pings against the
program's expectations. ``up --hosts ssh`` (hosts mode) starts no daemon: the router and nodes
become SSH hosts (own sshd, mount and UTS namespace) that the real program configures; ``verify``
then checks what it started. See ``docs/lab.md``.

By job:

- what to build (pure): ``plan`` (configs, expectations), ``topology`` (hosts, links, addresses),
  ``cluster`` (PodCIDRs, LB IPAM, selectors), ``standin`` (Cilium's objects as GoBGP configs),
  ``hostsplan`` (hosts mode's SSH hosts and management network);
- building and running: ``netns`` (namespaces, links), ``mgmt`` (the root namespace's management
  veth), ``sshd`` and ``host-init.sh`` (SSH hosts), ``daemons`` (FRR, BIRD, GoBGP), ``syntax``
  (the daemons' config checkers), ``process`` (PIDs with start times), ``state`` (what was made);
- the two ways a lab's hosts run, behind one interface: ``backends`` (``daemons``, ``ssh``);
- one run: ``run`` (up, verify), ``checks`` (probes), ``shows`` (show output as dicts),
  ``faults``, ``inspection`` (inspect, exec), ``teardown``, ``report`` (what the CLI prints);
- ``engine``: the real Pulumi engine against a hosts-mode lab (``python -m lab.engine``);
  ``toolchain``: its CLI and plugins, and the environment of every run.
"""
