#!/bin/sh
# kube-router's node-side mounts, made only for it: run by lab.k8s.kuberouter through
# `ip netns exec NODE` (a mount namespace of its own, nothing propagates back). Ends as kube-router
# (exec keeps the PID).
#   $1  kube-router's directory: run/ becomes /run (the DaemonSet's /run/xtables.lock hostPath),
#       etc/ holds the upper layer of its /etc (files its Secret volumes put there come pre-made)
#   $2... kube-router's argv
# kube-router writes into /etc: it appends its routing table to /etc/iproute2/rt_tables at start
# (even with the overlay off); /etc becomes a copy-on-write view so the machine's is never written.
set -eu
dir=$1
shift
mkdir -p "$dir/run" "$dir/etc/upper" "$dir/etc/work"
mount --bind "$dir/run" /run
mount -t overlay cbgp-kube-router-etc -o "lowerdir=/etc,upperdir=$dir/etc/upper,workdir=$dir/etc/work" /etc
exec "$@"
