#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, from the operating system's packages.
# It never touches a system cluster: its own data directory, its own port, loopback only.
#
#   deploy/postgres.sh start     install postgresql if missing, create the cluster if new, start, wait
#   deploy/postgres.sh stop      fast shutdown
#   deploy/postgres.sh status    exit 0 when it answers
#   deploy/postgres.sh url       print the connection URL the tests and the app use
#   deploy/postgres.sh destroy   stop and delete the cluster's data
#
# Environment: CARECOORD_VAR (default ./var; cluster in $CARECOORD_VAR/pg),
#              CARECOORD_PG_PORT (default 55432, not 5432, so a system PostgreSQL does not clash).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT="${CARECOORD_PG_PORT:-55432}"
DB_USER=carecoord
DB_PASSWORD=carecoord
DB_NAME=carecoord
URL="postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"

# PostgreSQL refuses to run as root. As root we run its programs as the `postgres` OS user (created
# by the Debian package); as anyone else, as that user.
if [[ $EUID -eq 0 ]]; then
  PG_OS_USER=postgres
  # From / : a cwd under /root would be unreadable to postgres and make pg_ctl complain.
  as_pg() { (cd / && runuser -u "$PG_OS_USER" -- "$@"); }
else
  PG_OS_USER="$(id -un)"
  as_pg() { (cd / && "$@"); }
fi

find_pg_bin() {
  # The newest installed major version (Debian puts each in /usr/lib/postgresql/<major>/bin).
  local initdb
  initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$initdb" ]] && dirname "$initdb"
}

PG_BIN="$(find_pg_bin || true)"

ensure_installed() {
  if [[ -z "$PG_BIN" ]]; then
    apt_install postgresql
    PG_BIN="$(find_pg_bin || true)"
    [[ -n "$PG_BIN" ]] || die "postgresql was installed but no /usr/lib/postgresql/*/bin/initdb was found"
  fi
  id "$PG_OS_USER" >/dev/null 2>&1 || die "OS user '$PG_OS_USER' does not exist (the postgresql package creates it)"
}

# Where the cluster lives. Normally $CARECOORD_VAR/pg, but the server runs as `postgres`, which must
# be able to reach that directory: a clone under /root (mode 700) is not reachable. Then the cluster
# goes to /var/tmp/carecoord-pg-<hash of this repo's path>, one per checkout, still found again by
# every later call because the hash is of the (stable) repo path.
# With "create", makes the directory (owned by the PostgreSQL user); without, only finds it, so that
# `stop` or `status` in a checkout that never started anything leave no directories behind.
pg_root() {
  local preferred="$VAR_DIR/pg" fallback
  fallback="/var/tmp/carecoord-pg-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
  if [[ "${1:-}" != create ]]; then
    if [[ ! -d "$preferred/data" && -d "$fallback/data" ]]; then echo "$fallback"; else echo "$preferred"; fi
    return
  fi
  mkdir -p "$preferred"
  chown "$PG_OS_USER:" "$preferred"
  # `test` run as the PostgreSQL user resolves the whole path with its permissions.
  if as_pg test -w "$preferred" -a -x "$preferred"; then
    echo "$preferred"
    return
  fi
  # Not reachable: leave a note where one would look, and use the fallback.
  echo "the PostgreSQL cluster of this checkout is in $fallback" \
    "(the $PG_OS_USER user cannot reach $preferred)" >"$preferred/WHERE.txt"
  mkdir -p "$fallback"
  chown "$PG_OS_USER:" "$fallback"
  chmod 700 "$fallback"
  echo "$fallback"
}

set_paths() {
  PG_ROOT="$(pg_root "${1:-}")"
  PGDATA="$PG_ROOT/data"
  PG_LOG="$PG_ROOT/postgres.log"
}

psql_admin() {
  # SQL on stdin. Trust auth on loopback: the bootstrap superuser needs no password. Quiet, stop on first error.
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_OS_USER" -d postgres
}

is_running() { [[ -f "$PGDATA/postmaster.pid" ]] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }
answers() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

init_cluster() {
  [[ -f "$PGDATA/PG_VERSION" ]] && return 0
  log "creating a new cluster in $PGDATA"
  # Trust for TCP from loopback (the server listens nowhere else) and for the local socket; the
  # password of role carecoord exists so that URLs with a password work as they will in production.
  if ! as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$PG_OS_USER" --auth-host=trust --auth-local=trust \
        -E UTF8 --locale=C.UTF-8 >"$PG_ROOT/initdb.log" 2>&1; then
    log_tail "$PG_ROOT/initdb.log"
    die "initdb failed"
  fi
  # Settings for tests, appended once at creation (later lines win over initdb's defaults above).
  cat >>"$PGDATA/postgresql.conf" <<'CONF'

# --- carecoord development/test settings (deploy/postgres.sh) ---
listen_addresses = '127.0.0.1'
# No Unix socket: its directory (/var/run/postgresql) may not exist on a fresh machine, and
# a long repo path would overflow the socket path limit. Everything connects over TCP.
unix_socket_directories = ''
# Parallel test workers, the services, relays and projection consumers each hold a pool.
max_connections = 200
shared_buffers = 128MB
# fsync stays on: tests must see the same durability the application relies on.
fsync = on
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  # The port is passed on the command line at start (-p), so CARECOORD_PG_PORT can change later.
}

ensure_role_and_db() {
  psql_admin <<SQL
SELECT 'CREATE ROLE $DB_USER LOGIN SUPERUSER PASSWORD ''$DB_PASSWORD'''
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER')\gexec
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
}

cmd_start() {
  ensure_installed
  set_paths create
  if is_running && answers; then
    ensure_role_and_db
    log "already running (127.0.0.1:$PG_PORT, data $PGDATA)"
    return 0
  fi
  if ! is_running && port_open "$PG_PORT"; then
    die "port $PG_PORT is already in use by another process (another clone's 'make up'?). Stop it, or set CARECOORD_PG_PORT."
  fi
  init_cluster
  if ! is_running; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT, log $PG_LOG"
    # -w waits for the server to accept connections; -o passes the port. pg_ctl forks the server
    # into its own session, so it outlives this script and make.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 60 start >/dev/null; then
      log_tail "$PG_LOG"
      die "PostgreSQL did not start"
    fi
  fi
  local waited=0
  until answers; do
    if ((waited >= 60)); then
      log_tail "$PG_LOG"
      die "PostgreSQL is running but does not answer on 127.0.0.1:$PG_PORT"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  ensure_role_and_db
  log "ready: $URL"
}

cmd_stop() {
  [[ -n "$PG_BIN" ]] || { log "not installed, nothing to stop"; return 0; }
  set_paths
  if ! is_running; then
    log "not running"
    return 0
  fi
  log "stopping PostgreSQL"
  # Fast mode: disconnect clients (a test run may have left pools open) but shut down cleanly.
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null; then
    log "fast shutdown timed out; immediate shutdown"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null
  fi
  log "stopped"
}

cmd_status() {
  [[ -n "$PG_BIN" ]] || { log "not installed"; return 3; }
  set_paths
  if is_running && answers; then
    log "running (127.0.0.1:$PG_PORT, data $PGDATA)"
    return 0
  fi
  if is_running; then
    log "running but not answering on 127.0.0.1:$PG_PORT"
    return 1
  fi
  log "not running (data $PGDATA)"
  return 3
}

cmd_destroy() {
  cmd_stop
  [[ -n "$PG_BIN" ]] || return 0
  log "deleting $PG_ROOT"
  rm -rf "$PG_ROOT"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) echo "$URL" ;;
  destroy) cmd_destroy ;;
  *) echo "usage: $0 {start|stop|status|url|destroy}" >&2; exit 2 ;;
esac
