# shellcheck shell=sh
# cilium-bgp host library: the one definition of the config paths, the redaction and the FRR
# checks, shared by activate.sh and remove.sh on the hosts and read by the Python side
# (cilium_bgp.renderers.scripts) for the lab. POSIX sh; works with and without systemd.
# shellcheck disable=SC2034 # the constants are used by the scripts joined after this library

# The files this program writes (Debian paths; EL's BIRD reads /etc/bird.conf).
FRR_CONF=/etc/frr/frr.conf
FRR_DAEMONS=/etc/frr/daemons
BIRD_CONF=/etc/bird/bird.conf
BIRD_CONF_EL=/etc/bird.conf
SYSCTL_CONF=/etc/sysctl.d/90-cilium-bgp.conf
# Root-only scratch space: received files, the previous config during an activation, the locks.
RUN_DIR=/run/cilium-bgp
# What this program wrote where (path and sha256 per kind): remove.sh deletes only those files.
STATE_DIR=/etc/cilium-bgp
# An operator's own config found in place is kept once under this suffix before the first push.
BACKUP_SUFFIX=.cilium-bgp-orig
# bgpd's dry run exits 0 even when a line fails; its complaints start with "%" or say so.
BGPD_COMPLAINT="^%|Config Failed|can't open configuration file"

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

# redact [FILE...]: stdin to stdout without passwords. Every password found in FILE... (the
# configs in play, so the exact values are known) is replaced wherever it appears, then anything
# after a password keyword, to the end of the line (passwords may hold spaces and ';').
redact() {
  awk '
    function secrets_of(file,   line, low, word, quote) {
      while ((getline line < file) > 0) {
        low = tolower(line)
        if (match(low, /pass(word|wd)[ \t]+/)) {
          word = substr(line, RSTART + RLENGTH)
          quote = substr(word, 1, 1)
          if (quote == "\"" || quote == "\047") {
            word = substr(word, 2)
            if (index(word, quote) > 0) word = substr(word, 1, index(word, quote) - 1)
          } else {
            sub(/[ \t;].*$/, "", word)
          }
          if (length(word) >= 3) known[++n] = word
        }
      }
      close(file)
    }
    BEGIN {
      n = 0
      for (i = 1; i < ARGC; i++) secrets_of(ARGV[i])
      ARGC = 1
    }
    {
      line = $0
      for (k = 1; k <= n; k++) {
        out = ""
        while ((at = index(line, known[k])) > 0) {
          out = out substr(line, 1, at - 1) "<redacted>"
          line = substr(line, at + length(known[k]))
        }
        line = out line
      }
      if (match(tolower(line), /pass(word|wd|phrase)[^a-z0-9<]*/) && RSTART + RLENGTH <= length(line)) {
        line = substr(line, 1, RSTART + RLENGTH - 1) "<redacted>"
      }
      print line
    }
  ' "$@"
}

# bgpd_complains: whether bgpd's dry-run output on stdin reports a problem.
bgpd_complains() { grep -qE "$BGPD_COMPLAINT"; }

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

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# record_path KIND: the state file saying what this program wrote for KIND.
record_path() { echo "$STATE_DIR/$1"; }

# owned KIND PATH: whether PATH is still exactly the file this program wrote for KIND.
owned() {
  record=$(record_path "$1")
  [ -f "$record" ] && [ -f "$2" ] || return 1
  [ "$(sed -n 's/^path=//p' "$record")" = "$2" ] || return 1
  [ "$(sed -n 's/^sha256=//p' "$record")" = "$(sha256_of "$2")" ]
}

# write_record KIND PATH RENDERED: remember that PATH (as it is now) was written by this program.
write_record() {
  mkdir -p "$STATE_DIR"
  chmod 0700 "$STATE_DIR"
  printf 'path=%s\nsha256=%s\nrendered=%s\n' "$2" "$(sha256_of "$2")" "$3" >"$RUN_DIR/$1.record"
  install_file "$RUN_DIR/$1.record" "$(record_path "$1")" root:root 0600
  rm -f "$RUN_DIR/$1.record"
}
