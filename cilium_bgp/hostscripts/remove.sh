# shellcheck shell=sh
# remove.sh KIND OWNER: what `pulumi destroy` runs for KIND (frr, bird or sysctl) on behalf of the
# resource OWNER. Runs after lib.sh.
#
# A file another resource has activated since (a renamed node: the new resource writes first, the
# old one is deleted last) is left in place with its daemon. Otherwise the config file is deleted
# only when it is still exactly what this program wrote (its record in STATE_DIR names the path
# and the sha256), then its daemon is stopped; a file someone else wrote or changed since is left
# in place, with its daemon, and named. The backup of an operator's own config (BACKUP_SUFFIX)
# stays for them; installed packages stay too.

set -u
umask 077
# Once started, finish: a dropped SSH session must not leave the daemon stopped and the file in place.
trap '' HUP PIPE
# The command provider sends a delete the resource's stdin too (the activation's header and file).
# Read it to its end before exiting: a command that exits before its stdin has been sent can end
# the provider's SSH session with EOF instead of its exit status, and the delete fails although it
# ran (5 of 8 destroys of 100 and 250 hosts at `--parallel 64`). From a terminal, nothing is read.
[ -t 0 ] || cat >/dev/null || true
[ $# -eq 2 ] || die "usage: remove.sh KIND OWNER"
kind=$1
owner=$2
runtime_dir
take_lock "$kind"
conf=$(config_path "$kind")
record=$(record_path "$kind")
marker=$(owner_path "$kind")
forget() {
  rm -f "$record" "$marker"
  rmdir "$STATE_DIR" 2>/dev/null || true
}
if [ -f "$marker" ] && [ "$(cat "$marker")" != "$owner" ]; then
  say "the $kind config now belongs to $(cat "$marker"); left in place"
  exit 0
fi
if [ ! -e "$conf" ]; then
  forget
  say "no $kind config at $conf: nothing to remove"
  exit 0
fi
if ! owned "$kind" "$conf"; then
  forget
  say "leaving $conf in place: it is not the file cilium-bgp wrote (changed since, or never written by it)"
  exit 0
fi
case $kind in
  frr)
    if has_systemd; then systemctl disable --now frr || true; else "$(frr_lib)/frrinit.sh" stop || true; fi
    ;;
  bird)
    if has_systemd; then systemctl disable --now bird || true; else birdc down >/dev/null 2>&1 || true; fi
    ;;
esac
rm -f "$conf"
forget
sync_path "$(dirname "$conf")"
say "removed $conf"
if [ -e "$conf$BACKUP_SUFFIX" ]; then
  say "the config found before cilium-bgp is kept as $conf$BACKUP_SUFFIX"
fi
