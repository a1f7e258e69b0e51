# shellcheck shell=bash
# Shared by deploy/postgres.sh and deploy/kafka.sh (sourced, not run).
# Paths are made absolute from the repository root so the scripts work from any current directory
# (make, CI, a developer's shell in a subfolder).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEPLOY_DIR="$REPO_ROOT/deploy"

# CARECOORD_VAR holds the servers' data and logs; a relative value is taken from the repo root.
_var="${CARECOORD_VAR:-var}"
case "$_var" in
  /*) VAR_DIR="$_var" ;;
  *) VAR_DIR="$REPO_ROOT/$_var" ;;
esac
unset _var

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr, so a failed start explains itself in CI output.
log_tail() {
  local file="$1" lines="${2:-60}"
  if [[ -f "$file" ]]; then
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '----- end of %s -----\n' "$file" >&2
  else
    printf '(no log file at %s)\n' "$file" >&2
  fi
}

# Install Debian packages when a tool is missing. A fresh machine of this project's kind may lack
# them, and nothing installed by hand survives a move to a new machine: the scripts must do it.
apt_install() {
  [[ $EUID -eq 0 ]] || die "need the Debian package(s) $*; run as root or install them: apt-get install -y $*"
  log "installing Debian package(s): $*"
  # `apt-get update` once per run: a fresh machine has no package lists at all.
  if [[ -z "${_CARECOORD_APT_UPDATED:-}" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    _CARECOORD_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    || die "apt-get install $* failed"
}

# True when something accepts TCP connections on 127.0.0.1:PORT (bash's /dev/tcp: no nc needed).
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
