#!/bin/sh
# A cilium-agent's node-side mounts, as the DaemonSet's hostPath volumes give them on a real node,
# made only for this agent: run by lab.k8s.agent through `ip netns exec NODE`, which already gives
# it a mount namespace of its own (`/` a slave of the machine's, nothing propagates back) and a
# sysfs of the node's network namespace. Ends as the agent itself (exec keeps the PID).
#   $1  the agent's directory: its run/ becomes /run (so /var/run/cilium: state, sockets), its
#       etc/ the upper layer of a copy-on-write /etc
#   $2  the agent's cgroup, relative to the cgroup2 hierarchy's root (made by the caller)
#   $3... the agent's argv
set -eu
dir=$1
cgroup=$2
shift 2

# /run of its own: the agent keeps sockets and state at fixed paths there. The machine's
# /run/netns comes along as a slave, so pods' network namespaces made later appear in it (the CNI
# plugin runs in this mount namespace and opens them there).
mkdir -p "$dir/run/netns"
if mountpoint -q /run/netns; then
  mount --rbind /run/netns "$dir/run/netns"
fi
mount --rbind "$dir/run" /run

# /etc copy-on-write: what the agent writes on the node's /etc (its CNI config, once ready) stays
# in its directory.
mkdir -p "$dir/etc/upper" "$dir/etc/work"
mount -t overlay cbgp-cilium-agent-etc -o "lowerdir=/etc,upperdir=$dir/etc/upper,workdir=$dir/etc/work" /etc
# The chart mounts the node's /etc/cni/net.d as a DirectoryOrCreate hostPath: the kubelet makes
# it. Agent 1.14 writes its CNI config into it without making it first.
mkdir -p /etc/cni/net.d

# Its own cgroup, which the cgroup namespace below makes its root: the socket load balancer's
# programs attach to the cgroup2 root the agent mounts, so they reach this agent's processes only,
# never the machine's.
mkdir -p /run/.cgroup2
mount -t cgroup2 cgroup2 /run/.cgroup2
echo $$ >"/run/.cgroup2/$cgroup/cgroup.procs"
umount /run/.cgroup2
rmdir /run/.cgroup2

# The bpffs this agent pins its maps and programs in: gone with this mount namespace.
mount -t bpf bpf /sys/fs/bpf
exec unshare --cgroup -- "$@"
