#!/bin/sh
# A hosts-mode lab host comes to life: run by `python -m lab up --hosts ssh` inside the host's
# network namespace, right after `unshare --mount --uts --propagation private`; ends as its sshd.
#   $1  the host's name (router or a node name): its hostname
#   $2  the host's directory in the lab's workdir: views/ (overlay layers), seed/ (files to copy in)
# /etc and /var/log become copy-on-write views of the machine's, /run /tmp /var/tmp and /root
# private tmpfs; the machine's own files are never written.
set -eu
name=$1
dir=$2

# A copy-on-write view of $1 with its layers under $2 (overlayfs; a private copy where it fails).
view() {
  target=$1
  at=$2
  mkdir -p "$at/upper" "$at/work"
  if err=$(mount -t overlay "cbgp-lab-$name" -o "lowerdir=$target,upperdir=$at/upper,workdir=$at/work" "$target" 2>&1)
  then
    echo "lab host $name: $target is copy-on-write (overlayfs, upper layer $at/upper)" >&2
  else
    echo "lab host $name: overlayfs on $target failed ($err); using a private copy in $at/copy" >&2
    mkdir -p "$at/copy"
    cp -a "$target/." "$at/copy/"
    mount --bind "$at/copy" "$target"
  fi
}

view /etc "$dir/views/etc"
view /var/log "$dir/views/var-log"
# Only this host's own host key and sshd config.
rm -f /etc/ssh/ssh_host_*
cp -a "$dir/seed/etc/." /etc/
# A root home of its own, as on a fresh Debian host, with the lab's key authorised.
mount -t tmpfs -o mode=0700,nosuid,nodev cbgp-lab-root /root
cp /usr/share/base-files/dot.bashrc /root/.bashrc 2>/dev/null || cp /etc/skel/.bashrc /root/.bashrc
cp /usr/share/base-files/dot.profile /root/.profile 2>/dev/null || cp /etc/skel/.profile /root/.profile
cp -a "$dir/seed/root/." /root/
chmod 0700 /root
# Let go of the copies of other mounts below what becomes private (the namespaces' /run/netns/*
# bind mounts would otherwise keep every lab's network namespace alive as long as this host).
awk '$2 ~ /^\/(run|tmp|var\/tmp)\// {print $2}' /proc/self/mounts | sort -r | while read -r mounted; do
  umount -l "$mounted" 2>/dev/null || true
done
mount -t tmpfs -o mode=0755,nosuid,nodev cbgp-lab-run /run
mkdir -p /run/sshd /run/lock
mount -t tmpfs -o mode=1777,nosuid,nodev cbgp-lab-tmp /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev cbgp-lab-tmp /var/tmp
echo "$name" >/proc/sys/kernel/hostname
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
