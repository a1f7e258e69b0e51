#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft mode) for development and tests, without Docker:
# the broker's jars come from Maven Central (the only source this project's machines reach) and run
# on the machine's JDK 17. See shared/kafka.md for the facts this script is built on.
#
#   deploy/kafka.sh fetch    download the broker's classpath into deploy/.cache/kafka-lib (once)
#   deploy/kafka.sh start    fetch, format storage if new, start in the background, wait until ready
#   deploy/kafka.sh stop     SIGTERM (clean shutdown), SIGKILL after a timeout
#   deploy/kafka.sh status   exit 0 when running and accepting connections
#
# Environment: CARECOORD_VAR (default ./var; data in $CARECOORD_VAR/kafka),
#              CARECOORD_KAFKA_PORT (default 9092), CARECOORD_KAFKA_CONTROLLER_PORT (default 9093),
#              CARECOORD_KAFKA_START_TIMEOUT (seconds, default 90), CARECOORD_KAFKA_HEAP (default 512m).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_PORT="${CARECOORD_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CARECOORD_KAFKA_CONTROLLER_PORT:-9093}"
START_TIMEOUT="${CARECOORD_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=60
HEAP="${CARECOORD_KAFKA_HEAP:-512m}"

TEMPLATES="$DEPLOY_DIR/kafka"
# The classpath is a cache beside the repo (gitignored), keyed by the pom's content below,
# so changing the Kafka version in pom.xml re-fetches by itself.
LIB_DIR="$DEPLOY_DIR/.cache/kafka-lib"
KAFKA_HOME="$VAR_DIR/kafka"
DATA_DIR="$KAFKA_HOME/data"
CONFIG="$KAFKA_HOME/server.properties"
PIDFILE="$KAFKA_HOME/kafka.pid"
LOGFILE="$KAFKA_HOME/kafka.log"

need_java() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  # "openjdk version "17.0.15"" -> 17; Kafka 4.x brokers need Java 17 (UnsupportedClassVersionError).
  local major
  major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
  [[ -n "$major" && "$major" -ge 17 ]] || die "Kafka 4.x needs Java 17 or newer; found: $(java -version 2>&1 | head -n1)"
}

pom_hash() { sha256sum "$TEMPLATES/pom.xml" | cut -c1-16; }

cmd_fetch() {
  local stamp
  stamp="$LIB_DIR/.pom-$(pom_hash)"
  if [[ -f "$stamp" ]]; then
    log "classpath already fetched ($(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR)"
    return 0
  fi
  need_java
  command -v mvn >/dev/null || apt_install maven
  log "fetching Apache Kafka and its runtime dependencies from Maven Central into $LIB_DIR"
  # Copy into a fresh directory and swap it in only when complete: an interrupted fetch must not
  # leave a half classpath that looks fetched.
  local tmp="$LIB_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Maven's own output goes to a file and is shown only when it fails.
  local mvn_log="$DEPLOY_DIR/.cache/kafka-fetch.log"
  if ! (cd "$TEMPLATES" && mvn -B -q dependency:copy-dependencies \
          -DincludeScope=runtime -DoutputDirectory="$tmp") >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    log_tail "$mvn_log"
    die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "fetch finished without kafka_2.13 jar"; }
  touch "$tmp/.pom-$(pom_hash)"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIB_DIR" | cut -f1))"
}

# The pid from the pidfile, if that process is alive and really is our broker
# (a stale pidfile after a reboot may name an unrelated process).
running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

# The JVM command line, as an array so paths with spaces survive. The classpath 'lib/*' must reach
# java unexpanded (java expands the wildcard itself; a shell glob would break it).
JAVA=(java -Xms256m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true
      "-Dlog4j2.configurationFile=$TEMPLATES/log4j2.properties" -cp "$LIB_DIR/*")

render_config() {
  mkdir -p "$DATA_DIR"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@LOG_DIR@|$DATA_DIR|g" \
      "$TEMPLATES/server.properties.in" >"$CONFIG"
}

format_storage() {
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  log "formatting new KRaft storage in $DATA_DIR"
  local cluster_id
  # Keep the cluster id: re-formatting with another id would orphan the existing data.
  if [[ -s "$KAFKA_HOME/cluster-id" ]]; then
    cluster_id="$(cat "$KAFKA_HOME/cluster-id")"
  else
    if ! cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOGFILE" | tail -n1)" \
        || [[ -z "$cluster_id" ]]; then
      log_tail "$LOGFILE"
      die "kafka.tools.StorageTool random-uuid failed"
    fi
    echo "$cluster_id" >"$KAFKA_HOME/cluster-id"
  fi
  # A static controller.quorum.voters is configured, so no --standalone here.
  if ! "${JAVA[@]}" kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$CONFIG" \
        >>"$LOGFILE" 2>&1; then
    log_tail "$LOGFILE"
    die "formatting Kafka storage failed"
  fi
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$KAFKA_PORT"; then
      log "already running (pid $pid, 127.0.0.1:$KAFKA_PORT)"
      return 0
    fi
    log "process $pid is running but port $KAFKA_PORT is not open yet; waiting for it"
  else
    # Something else on our port (a broker of another clone, a leftover without pidfile) would make
    # the new broker die with "Socket server failed to bind": say so plainly instead.
    for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
      port_open "$port" && die "port $port is already in use by another process (another broker? \
another clone's 'make up'?). Stop it, or set CARECOORD_KAFKA_PORT / CARECOORD_KAFKA_CONTROLLER_PORT."
    done
    cmd_fetch
    need_java
    mkdir -p "$KAFKA_HOME"
    # One log per run (the previous one kept as .1), so a failure's tail is this run's, and the
    # log does not grow without bound across restarts.
    [[ -f "$LOGFILE" ]] && mv -f "$LOGFILE" "$LOGFILE.1"
    render_config
    format_storage
    log "starting Kafka 127.0.0.1:$KAFKA_PORT (controller :$CONTROLLER_PORT), log $LOGFILE"
    # setsid: the broker gets its own session, so a Ctrl-C in `make` (or make's exit) does not kill it.
    # Started from / so that it holds no reference to the caller's working directory.
    (cd / && exec setsid "${JAVA[@]}" kafka.Kafka "$CONFIG" >>"$LOGFILE" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi

  # The PLAINTEXT port opens only once the broker is unfenced and ready (the controller port opens
  # earlier), so a TCP connect to it is a valid readiness check.
  local waited=0
  until port_open "$KAFKA_PORT"; do
    if [[ ! -d "/proc/$pid" ]]; then
      log_tail "$LOGFILE"
      rm -f "$PIDFILE"
      die "Kafka exited during start-up (see the log above)"
    fi
    if ((waited >= START_TIMEOUT)); then
      log_tail "$LOGFILE"
      die "Kafka did not open port $KAFKA_PORT within ${START_TIMEOUT}s (pid $pid still running; 'deploy/kafka.sh stop' ends it)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "ready after ${waited}s (pid $pid, bootstrap 127.0.0.1:$KAFKA_PORT)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while [[ -d "/proc/$pid" ]]; do
    if ((waited >= STOP_TIMEOUT)); then
      log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$KAFKA_PORT"; then
      log "running (pid $pid, bootstrap 127.0.0.1:$KAFKA_PORT, data $DATA_DIR)"
      return 0
    fi
    log "process $pid is running but 127.0.0.1:$KAFKA_PORT does not accept connections (starting up?)"
    return 1
  fi
  if port_open "$KAFKA_PORT"; then
    log "not started by this checkout, but something listens on 127.0.0.1:$KAFKA_PORT"
  else
    log "not running"
  fi
  return 3
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 {fetch|start|stop|status}" >&2; exit 2 ;;
esac
