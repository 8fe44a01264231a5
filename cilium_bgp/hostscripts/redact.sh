# shellcheck shell=sh
# cilium-bgp redaction and FRR check: what activate.sh applies to every message a daemon prints,
# and what the Python side (cilium_bgp.renderers.scripts.redact, bgpd_complains) runs for the lab.
# shellcheck disable=SC2034 # the constant is used by the functions below and the scripts after them

# bgpd's dry run exits 0 even when a line fails; its complaints start with "%" or say so.
BGPD_COMPLAINT="^%|Config Failed|can't open configuration file"

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
