"""A lab of real BGP daemons in network namespaces, built from a stack file.

``python -m lab up|verify|down --stack-file Pulumi.<stack>.yaml [--workdir DIR]`` builds one network
namespace per host of the stack (the router, every node, and a client behind the router), renders
every config with the program's own renderers (the bytes ``pulumi up`` pushes), runs FRR or BIRD on
the router and BIRD or GoBGP on the nodes, and checks sessions, routes and pings against the
program's expectations. ``up --hosts ssh`` (hosts mode, ``lab.hosts``) starts no daemon: the router
and nodes become SSH hosts (own sshd, mount and UTS namespace) that the real program configures;
``verify`` then checks what it started. See ``docs/lab.md``.
"""
