# shellcheck shell=sh
# cilium-bgp host library: the one definition of the config paths, the locks and the records of
# what this program wrote, shared by activate.sh and remove.sh on the hosts and read by the Python
# side (cilium_bgp.renderers.scripts) for the lab. POSIX sh; works with and without systemd.
# shellcheck disable=SC2034 # the constants are used by the scripts joined after this library

# The files this program writes (Debian paths; EL's BIRD reads /etc/bird.conf).
FRR_CONF=/etc/frr/frr.conf
FRR_DAEMONS=/etc/frr/daemons
BIRD_CONF=/etc/bird/bird.conf
BIRD_CONF_EL=/etc/bird.conf
SYSCTL_CONF=/etc/sysctl.d/90-cilium-bgp.conf
# Root-only scratch space: received files, the previous config during an activation, the locks.
RUN_DIR=/run/cilium-bgp
# What this program wrote where, and for which resource: per kind, KIND.written (path and sha256
# of the file) and KIND.owner (the Pulumi resource that activated it last). remove.sh deletes only
# a file still exactly as written, and only for the resource that owns it.
STATE_DIR=/etc/cilium-bgp
# An operator's own config found in place is kept once under this suffix before the first push.
BACKUP_SUFFIX=.cilium-bgp-orig

say() { printf 'cilium-bgp: %s\n' "$*" >&2 || true; }
die() {
  say "$@"
  exit 1
}

has_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

frr_lib() { if [ -d /usr/lib/frr ]; then echo /usr/lib/frr; else echo /usr/libexec/frr; fi; }

# config_path KIND: where KIND's config lives on this host.
config_path() {
  case $1 in
    frr) echo "$FRR_CONF" ;;
    bird) if [ -d /etc/bird ]; then echo "$BIRD_CONF"; else echo "$BIRD_CONF_EL"; fi ;;
    sysctl) echo "$SYSCTL_CONF" ;;
    *) die "unknown config kind '$1'" ;;
  esac
}

# take_lock KIND: one activation or removal of KIND at a time on this host (fd 9 holds the lock).
take_lock() {
  exec 9>"$RUN_DIR/$1.lock"
  if ! flock -n 9; then
    say "waiting for another activation of $1 on this host"
    flock -w 600 9 || die "another activation of $1 held the lock for 10 minutes; nothing changed"
  fi
}

# runtime_dir: the root-only scratch directory.
runtime_dir() {
  mkdir -p "$RUN_DIR"
  chmod 0700 "$RUN_DIR"
}

sync_path() { sync "$1" 2>/dev/null || sync; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# record_path KIND: the state file saying what this program wrote for KIND.
record_path() { echo "$STATE_DIR/$1.written"; }

# owner_path KIND: the state file naming the resource that activated KIND's file last.
owner_path() { echo "$STATE_DIR/$1.owner"; }

# owned KIND PATH: whether PATH is still exactly the file this program wrote for KIND.
owned() {
  record=$(record_path "$1")
  [ -f "$record" ] && [ -f "$2" ] || return 1
  [ "$(sed -n 's/^path=//p' "$record")" = "$2" ] || return 1
  [ "$(sed -n 's/^sha256=//p' "$record")" = "$(sha256_of "$2")" ]
}
