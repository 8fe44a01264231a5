# shellcheck shell=sh
# activate.sh KIND RENDERED_SHA256 INSTALL OWNER [DAEMON...]: make the file on stdin KIND's config.
#
#   KIND             frr, bird or sysctl
#   RENDERED_SHA256  sha256 of the secret-free rendered text (recorded; identifies the push)
#   INSTALL          yes: install the daemon first when missing; no: do not
#   OWNER            the Pulumi resource pushing the file (project/stack/name), recorded as its owner
#   DAEMON...        FRR only: the daemons the config needs on in /etc/frr/daemons
#
# stdin: one line "cilium-bgp-sha256 HEX" (the sha256 of the bytes that follow), then the file.
# Order: the received bytes are checked against that hash before anything else, so a transfer
# cut midway changes nothing; the distribution is checked before anything is installed or
# written; then, under a per-daemon lock, the daemon's own checker, a one-time backup of a config
# this program did not write, an atomic replace, the reload (or start/restart), and on failure the
# previous config put back and activated again. Runs after lib.sh and redact.sh (joined by
# cilium_bgp.renderers.scripts); every message a daemon prints is redacted.

# check_os: refuse, before changing anything, a distribution the install path does not know.
check_os() {
  [ -r /etc/os-release ] || die "cannot tell the distribution: /etc/os-release is missing; nothing changed"
  # shellcheck disable=SC1091
  os_id=$(. /etc/os-release && echo "${ID:-unknown}")
  # shellcheck disable=SC1091
  os_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
  # shellcheck disable=SC1091
  os_version=$(. /etc/os-release && echo "${VERSION_ID:-}")
  case $os_id in
    debian | ubuntu) os_family=apt ;;
    rhel | centos | rocky | almalinux)
      # FRR's RPM repository (rpm.frrouting.org) and EPEL's bird package: EL 8 and 9.
      case ${os_version%%.*} in
        8 | 9) os_family=el ;;
        *) os_family=none ;;
      esac
      ;;
    *)
      case " $os_like " in
        *" debian "* | *" ubuntu "*) os_family=apt ;;
        *) os_family=none ;;
      esac
      ;;
  esac
  if [ "$os_family" = none ]; then
    die "unsupported distribution: ID=$os_id VERSION_ID=$os_version ID_LIKE=$os_like" \
      "(supported: Debian, Ubuntu and their derivatives; RHEL, CentOS Stream, Rocky Linux, AlmaLinux 8 and 9);" \
      "nothing changed"
  fi
}

# install_daemon DAEMON: install frr or bird with the distribution's tools when missing.
install_daemon() {
  case $1 in
    frr) present() { command -v vtysh >/dev/null 2>&1 && [ -x "$(frr_lib)/frr-reload.py" ]; } ;;
    bird) present() { command -v bird >/dev/null 2>&1 && command -v birdc >/dev/null 2>&1; } ;;
  esac
  if present; then
    echo "os=$os_id $os_version $1=present"
    return 0
  fi
  if [ "$os_family" = apt ]; then
    case $1 in frr) packages="frr frr-pythontools" ;; bird) packages=bird2 ;; esac
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y -q $packages
  else
    if command -v dnf >/dev/null 2>&1; then pm=dnf; else pm=yum; fi
    case $1 in
      frr)
        rpm -q frr-stable-repo >/dev/null 2>&1 ||
          $pm install -y "https://rpm.frrouting.org/repo/frr-stable-repo-1-0.el${os_version%%.*}.noarch.rpm"
        $pm install -y frr frr-pythontools
        ;;
      bird)
        rpm -q epel-release >/dev/null 2>&1 || $pm install -y epel-release
        $pm install -y bird
        ;;
    esac
  fi
  present || die "$1 is still missing after the install"
  echo "os=$os_id $os_version $1=installed"
}

# install_file SRC DEST OWNER MODE: DEST gets SRC's bytes atomically (a temporary file beside it,
# synced, renamed, the directory synced).
install_file() {
  dest_dir=$(dirname "$2")
  dest_base=$(basename "$2")
  mkdir -p "$dest_dir"
  # Leftovers of a run killed between copy and rename (we hold the lock: none is in use).
  rm -f "$dest_dir/.$dest_base.cilium-bgp."*
  staging=$(mktemp "$dest_dir/.$dest_base.cilium-bgp.XXXXXX")
  cat "$1" >"$staging"
  chown "$3" "$staging" 2>/dev/null || true
  chmod "$4" "$staging"
  sync_path "$staging"
  mv -f "$staging" "$2"
  staging=
  sync_path "$dest_dir"
}

# write_record KIND PATH RENDERED OWNER: remember that PATH (as it is now) was written by this
# program, for the resource OWNER.
write_record() {
  mkdir -p "$STATE_DIR"
  chmod 0700 "$STATE_DIR"
  printf 'path=%s\nsha256=%s\nrendered=%s\n' "$2" "$(sha256_of "$2")" "$3" >"$RUN_DIR/$1.record"
  install_file "$RUN_DIR/$1.record" "$(record_path "$1")" root:root 0600
  printf '%s\n' "$4" >"$RUN_DIR/$1.record"
  install_file "$RUN_DIR/$1.record" "$(owner_path "$1")" root:root 0600
  rm -f "$RUN_DIR/$1.record"
}

set -eu
umask 077
[ $# -ge 4 ] || die "usage: activate.sh KIND RENDERED_SHA256 INSTALL OWNER [DAEMON...]"
kind=$1
rendered=$2
install=$3
owner=$4
shift 4
daemons=$*
staging=
check_dir=
runtime_dir
received=$(mktemp "$RUN_DIR/$kind.received.XXXXXX")
previous=$RUN_DIR/$kind.previous
previous_daemons=$RUN_DIR/frr-daemons.previous
# shellcheck disable=SC2317,SC2329 # invoked by the EXIT trap
cleanup() {
  rm -f "$received" "$previous" "$previous_daemons"
  [ -z "$staging" ] || rm -f "$staging"
  [ -z "$check_dir" ] || rm -rf "$check_dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
# A message to a connection that is gone must not kill the script before it cleans up.
trap '' PIPE

# 1. The bytes, complete: the header's hash must match what arrived.
IFS= read -r header || die "no complete header received on stdin (the transfer was cut?); nothing changed"
want=${header#cilium-bgp-sha256 }
case $want in
  "$header" | *[!0-9a-f]*) die "the data on stdin does not start with 'cilium-bgp-sha256 HEX'; nothing changed" ;;
esac
[ ${#want} -eq 64 ] || die "incomplete header received (the transfer was cut?); nothing changed"
cat >"$received"
got=$(sha256_of "$received")
[ "$got" = "$want" ] ||
  die "the received $kind config is incomplete or altered (sha256 $got, expected $want; the transfer" \
    "was cut?); nothing changed"

# From here on the host must not be left half-changed because the connection dropped: a closed
# SSH session no longer stops the script (SIGHUP).
trap '' HUP

# 2. A distribution we know, before anything is installed or written.
check_os
take_lock "$kind"
[ "$install" != yes ] || install_daemon "$kind"
conf=$(config_path "$kind")

# 3. The daemon's own checker on the received file.
# check_frr FILE COPY: grammar (vtysh -C), then bgpd's dry run on COPY, which it reads as user frr.
check_frr() {
  vtysh -C -f "$1" || return 1
  said=$("$(frr_lib)/bgpd" -C --log stdout -f "$2" 2>&1) || {
    printf '%s\n' "$said"
    return 1
  }
  if printf '%s\n' "$said" | bgpd_complains; then
    printf '%s\n' "$said"
    return 1
  fi
}
case $kind in
  frr)
    checker="vtysh -C -f, bgpd -C"
    # A copy bgpd may read, in a directory only it and root may enter.
    check_dir=$(mktemp -d /run/cilium-bgp-check.XXXXXX)
    cp "$received" "$check_dir/frr.conf"
    chown -R frr:frr "$check_dir" 2>/dev/null || true
    ;;
  bird) checker="bird -p -c" ;;
  *) checker= ;;
esac
if [ -n "$checker" ]; then
  if ! said=$(if [ "$kind" = frr ]; then check_frr "$received" "$check_dir/frr.conf"; else bird -p -c "$received"; fi 2>&1); then
    # shellcheck disable=SC2016 # the backquotes are text: they quote the checker's command line
    printf 'cilium-bgp: new %s rejected by `%s`; the running config is unchanged:\n%s\n' \
      "$conf" "$checker" "$said" | redact "$received" >&2
    exit 1
  fi
fi
[ -z "$check_dir" ] || rm -rf "$check_dir"
check_dir=

# 4. Keep what is there: once for good when this program did not write it, and for the rollback.
rm -f "$previous" "$previous_daemons"
if [ -f "$conf" ]; then
  if ! owned "$kind" "$conf" && [ ! -e "$conf$BACKUP_SUFFIX" ]; then
    cp -p "$conf" "$conf$BACKUP_SUFFIX"
    sync_path "$conf$BACKUP_SUFFIX"
    say "kept the existing $conf (not written by cilium-bgp) as $conf$BACKUP_SUFFIX"
  fi
  cp -p "$conf" "$previous"
fi

# 5. Replace, activate, and put the previous config back when the daemon does not take the new one.
case $kind in
  frr) file_owner=frr:frr mode=0640 ;;
  bird) file_owner=bird:bird mode=0640 ;;
  *) file_owner=root:root mode=0644 ;;
esac

frr_service() {
  if has_systemd; then systemctl "$1" frr; else "$(frr_lib)/frrinit.sh" "$1"; fi
}
frr_running() { vtysh -c 'show version' >/dev/null 2>&1; }
# frr_reload: FRR's own reload, logging to our stdout instead of /var/log/frr/frr-reload.log,
# which would keep every added line (passwords included) on disk.
frr_reload() { "$(frr_lib)/frr-reload.py" --reload --stdout "$FRR_CONF"; }
bird_running() { birdc show status >/dev/null 2>&1; }
bird_configure() {
  out=$(birdc configure 2>&1) || true
  printf '%s\n' "$out"
  case $out in *Reconfigured* | *"Reconfiguration in progress"*) return 0 ;; *) return 1 ;; esac
}
bird_start() {
  if has_systemd; then
    systemctl enable bird >/dev/null 2>&1 || true
    systemctl restart bird
  else
    # Without systemd nobody creates the control socket's directory (bird.service does).
    mkdir -p /run/bird
    bird -c "$conf"
  fi
}
bird_stop() { if has_systemd; then systemctl stop bird; else birdc down >/dev/null 2>&1; fi; }

# enable_frr_daemons: turn on what the config needs; restart=yes when FRR must restart for it.
enable_frr_daemons() {
  cp -p "$FRR_DAEMONS" "$previous_daemons"
  for daemon in $daemons; do
    if ! grep -qx "$daemon=yes" "$FRR_DAEMONS"; then
      sed -E "s/^#?[[:space:]]*$daemon=.*/$daemon=yes/" "$FRR_DAEMONS" >"$RUN_DIR/frr-daemons.new"
      grep -qx "$daemon=yes" "$RUN_DIR/frr-daemons.new" || echo "$daemon=yes" >>"$RUN_DIR/frr-daemons.new"
      install_file "$RUN_DIR/frr-daemons.new" "$FRR_DAEMONS" root:frr 0640
      restart=yes
    fi
  done
  rm -f "$RUN_DIR/frr-daemons.new"
}

# activate_kind WAS_RUNNING NEEDS_RESTART: make the daemon run the config now in place.
activate_kind() {
  case $kind in
    frr)
      if [ "$1" = no ]; then
        frr_service start
      elif [ "$2" = yes ]; then
        frr_service restart
      else
        frr_reload
      fi
      ;;
    bird) if [ "$1" = yes ]; then bird_configure; else bird_start; fi ;;
    sysctl) sysctl -q -p "$conf" ;;
  esac
}

# rollback WAS_RUNNING: the previous config (and daemons file) back in place and running again,
# or, when there was none, the new file gone and the daemon as it was.
rollback() {
  if [ -f "$previous_daemons" ]; then install_file "$previous_daemons" "$FRR_DAEMONS" root:frr 0640; fi
  if [ -f "$previous" ]; then
    install_file "$previous" "$conf" "$file_owner" "$mode"
  else
    rm -f "$conf"
  fi
  case $kind in
    frr)
      if [ "$1" = no ]; then
        frr_service stop
      elif [ -f "$previous_daemons" ] && ! cmp -s "$previous_daemons" "$FRR_DAEMONS"; then
        frr_service restart
      elif frr_running; then
        frr_reload || frr_service restart
      else
        frr_service restart
      fi
      ;;
    bird) if [ "$1" = yes ]; then bird_configure || bird_start; else bird_stop || true; fi ;;
    sysctl) if [ -f "$previous" ]; then sysctl -q -p "$conf"; fi ;;
  esac
}

case $kind in
  frr) if frr_running; then was_running=yes; else was_running=no; fi ;;
  bird) if bird_running; then was_running=yes; else was_running=no; fi ;;
  *) was_running=yes ;;
esac
restart=no
if [ "$kind" = frr ]; then
  enable_frr_daemons
  if has_systemd; then systemctl enable frr >/dev/null 2>&1 || true; fi
fi
install_file "$received" "$conf" "$file_owner" "$mode"
# A daemon started here gets the default signal handling and not the lock's descriptor (it would
# hold the lock forever).
if said=$(
  trap - HUP PIPE
  activate_kind "$was_running" "$restart" 9>&- 2>&1
); then
  write_record "$kind" "$conf" "$rendered" "$owner"
  printf '%s\n' "$said" | redact "$conf" || true
  say "$kind config $conf active (sha256 $got)"
  exit 0
fi
if undone=$(
  trap - HUP PIPE
  rollback "$was_running" 9>&- 2>&1
); then
  outcome="the previous config is back in place and active"
else
  outcome="putting the previous config back failed too:
$undone"
fi
printf 'cilium-bgp: the %s daemon did not take the new %s; %s. What it said:\n%s\n' \
  "$kind" "$conf" "$outcome" "$said" | redact "$received" "$conf" >&2
exit 1
