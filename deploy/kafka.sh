#!/usr/bin/env bash
# Real Apache Kafka (KRaft mode) for development and tests, without Docker: one node, or a cluster of
# three. The broker's jars come from Maven Central (the only source this project's machines reach)
# and run on the machine's JDK 17. See shared/kafka.md for the facts this script is built on.
#
#   deploy/kafka.sh [--brokers N] fetch        download the broker's classpath into deploy/.cache/kafka-lib (once)
#   deploy/kafka.sh [--brokers N] start [NODE...]   fetch, format storage if new, start in the background, wait until ready
#   deploy/kafka.sh [--brokers N] stop [NODE...]    SIGTERM (clean shutdown), SIGKILL after a timeout
#   deploy/kafka.sh [--brokers N] kill NODE...      SIGKILL at once (fault-injection tests)
#   deploy/kafka.sh [--brokers N] status [NODE...]  exit 0 when running and accepting connections
#   deploy/kafka.sh [--brokers N] bootstrap         print the bootstrap servers (host:port,...)
#   deploy/kafka.sh [--brokers N] env               print the CARECOORD_* settings of the layout, for
#                                                   deploy/topics.py (bootstrap, replication, min ISR)
#   deploy/kafka.sh [--brokers N] render NODE       print a node's server.properties (nothing started)
#
# One broker (the default): node 1, data in $CARECOORD_VAR/kafka, 127.0.0.1:9092 (controller 9093),
# replication settings from deploy/kafka/single-node.env. This is what `make up` starts.
# Three brokers (--brokers 3 or CARECOORD_KAFKA_BROKERS=3, `make up BROKERS=3`): nodes 1-3, each a
# broker and a voter of a static controller quorum of three, data in $CARECOORD_VAR/kafka-cluster/node-N,
# broker ports 19092, 19094, 19096 and controller ports 19093, 19095, 19097 (moved together by
# CARECOORD_KAFKA_CLUSTER_PORT), replication settings from deploy/kafka/cluster.env, the file the
# production compose file reads too (factor 3, min ISR 2, no unclean leader election).
# The single node and the cluster have ports and folders of their own: both can run at once.
# NODE arguments (cluster only) name nodes by number; without them, every node.
#
# Environment: CARECOORD_VAR (default ./var), CARECOORD_KAFKA_BROKERS (1 or 3, default 1),
#              CARECOORD_KAFKA_PORT (default 9092), CARECOORD_KAFKA_CONTROLLER_PORT (default 9093),
#              CARECOORD_KAFKA_CLUSTER_PORT (default 19092: node N's broker port is it + 2(N-1), its
#              controller port the one after), CARECOORD_KAFKA_START_TIMEOUT (seconds, default 90),
#              CARECOORD_KAFKA_HEAP (default 512m for one node, 320m per node of the cluster).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BROKERS="${CARECOORD_KAFKA_BROKERS:-1}"
if [[ "${1:-}" == --brokers ]]; then
  BROKERS="${2:-}"
  shift 2 || true
elif [[ "${1:-}" == --brokers=* ]]; then
  BROKERS="${1#--brokers=}"
  shift
fi
[[ "$BROKERS" == 1 || "$BROKERS" == 3 ]] || die "--brokers / CARECOORD_KAFKA_BROKERS: 1 or 3, got '$BROKERS'"

START_TIMEOUT="${CARECOORD_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=60

TEMPLATES="$DEPLOY_DIR/kafka"
# The classpath is a cache beside the repo (gitignored), keyed by the pom's content below,
# so changing the Kafka version in pom.xml re-fetches by itself.
LIB_DIR="$DEPLOY_DIR/.cache/kafka-lib"

if [[ "$BROKERS" == 1 ]]; then
  HEAP="${CARECOORD_KAFKA_HEAP:-512m}"
  XMS=256m
  LAYOUT_ENV="$TEMPLATES/single-node.env"
  CLUSTER_HOME="$VAR_DIR/kafka"
  SINGLE_PORT="${CARECOORD_KAFKA_PORT:-9092}"
  SINGLE_CONTROLLER_PORT="${CARECOORD_KAFKA_CONTROLLER_PORT:-9093}"
else
  HEAP="${CARECOORD_KAFKA_HEAP:-320m}"
  XMS=128m
  LAYOUT_ENV="$TEMPLATES/cluster.env"
  CLUSTER_HOME="$VAR_DIR/kafka-cluster"
  CLUSTER_PORT="${CARECOORD_KAFKA_CLUSTER_PORT:-19092}"
fi
NODES=($(seq 1 "$BROKERS"))

# --- where each node lives ------------------------------------------------------------------------
# The single node keeps the paths it always had ($CARECOORD_VAR/kafka/{data,server.properties,...}).

node_home() { if [[ "$BROKERS" == 1 ]]; then echo "$CLUSTER_HOME"; else echo "$CLUSTER_HOME/node-$1"; fi; }
broker_port() { if [[ "$BROKERS" == 1 ]]; then echo "$SINGLE_PORT"; else echo $((CLUSTER_PORT + 2 * ($1 - 1))); fi; }
controller_port() {
  if [[ "$BROKERS" == 1 ]]; then echo "$SINGLE_CONTROLLER_PORT"; else echo $((CLUSTER_PORT + 2 * ($1 - 1) + 1)); fi
}
node_config() { echo "$(node_home "$1")/server.properties"; }
node_pidfile() { echo "$(node_home "$1")/kafka.pid"; }
node_log() { echo "$(node_home "$1")/kafka.log"; }
node_data() { echo "$(node_home "$1")/data"; }

voters() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

bootstrap() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(broker_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

# The node numbers named on the command line (default: all), checked.
select_nodes() {
  if (($# == 0)); then
    echo "${NODES[@]}"
    return
  fi
  local n
  for n in "$@"; do
    [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= BROKERS)) || die "no node '$n' (nodes: ${NODES[*]})"
  done
  echo "$@"
}

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

# The pid from the node's pidfile, if that process is alive and really is this node's broker
# (a stale pidfile after a reboot may name an unrelated process, or another node's broker).
running_pid() {
  local pidfile pid
  pidfile="$(node_pidfile "$1")"
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx 'kafka\.Kafka' || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$(node_config "$1")" || return 1
  echo "$pid"
}

# The JVM command line, as an array so paths with spaces survive. The classpath 'lib/*' must reach
# java unexpanded (java expands the wildcard itself; a shell glob would break it).
JAVA=(java "-Xms$XMS" "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true
      "-Dlog4j2.configurationFile=$TEMPLATES/log4j2.properties" -cp "$LIB_DIR/*")

# KAFKA_X_Y=value lines of an env file as x.y=value, the way the apache/kafka image turns its
# environment into server.properties (`___` -> `-`, `__` -> `_`, `_` -> `.`); other lines ignored.
env_to_properties() {
  local line key value
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^KAFKA_([A-Z0-9_]+)=(.*)$ ]] || continue
    key="${BASH_REMATCH[1],,}"
    value="${BASH_REMATCH[2]}"
    key="${key//___/-}"
    key="${key//__/@UNDERSCORE@}"
    key="${key//_/.}"
    key="${key//@UNDERSCORE@/_}"
    printf '%s=%s\n' "$key" "$value"
  done <"$1"
}

render_config() {
  local n="$1"
  sed -e "s|@NODE_ID@|$n|g" \
      -e "s|@VOTERS@|$(voters)|g" \
      -e "s|@KAFKA_PORT@|$(broker_port "$n")|g" \
      -e "s|@CONTROLLER_PORT@|$(controller_port "$n")|g" \
      -e "s|@LOG_DIR@|$(node_data "$n")|g" \
      "$TEMPLATES/server.properties.in"
  printf '# from %s\n' "${LAYOUT_ENV#"$REPO_ROOT"/}"
  env_to_properties "$LAYOUT_ENV"
}

cluster_id() {
  # One id for every node of the layout, kept: re-formatting with another id would orphan the data.
  local file="$CLUSTER_HOME/cluster-id" id
  if [[ -s "$file" ]]; then
    cat "$file"
    return
  fi
  mkdir -p "$CLUSTER_HOME"
  if ! id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$CLUSTER_HOME/format.log" | tail -n1)" \
      || [[ -z "$id" ]]; then
    log_tail "$CLUSTER_HOME/format.log"
    die "kafka.tools.StorageTool random-uuid failed"
  fi
  echo "$id" >"$file"
  echo "$id"
}

format_storage() {
  local n="$1" id
  [[ -f "$(node_data "$n")/meta.properties" ]] && return 0
  log "formatting new KRaft storage in $(node_data "$n")"
  id="$(cluster_id)"
  # A static controller.quorum.voters is configured, so no --standalone here.
  if ! "${JAVA[@]}" kafka.tools.StorageTool format --cluster-id "$id" --config "$(node_config "$n")" \
        >>"$(node_log "$n")" 2>&1; then
    log_tail "$(node_log "$n")"
    die "formatting Kafka storage of node $n failed"
  fi
}

launch() {
  local n="$1" port cport home logfile pid
  port="$(broker_port "$n")"
  cport="$(controller_port "$n")"
  home="$(node_home "$n")"
  logfile="$(node_log "$n")"
  # Something else on our ports (a broker of another clone, a leftover without pidfile) would make
  # the new broker die with "Socket server failed to bind": say so plainly instead.
  for p in "$port" "$cport"; do
    port_open "$p" && die "port $p is already in use by another process (another broker? another \
clone's 'make up'?). Stop it, or set CARECOORD_KAFKA_PORT / CARECOORD_KAFKA_CONTROLLER_PORT / CARECOORD_KAFKA_CLUSTER_PORT."
  done
  mkdir -p "$home" "$(node_data "$n")"
  # One log per run (the previous one kept as .1), so a failure's tail is this run's, and the
  # log does not grow without bound across restarts.
  [[ -f "$logfile" ]] && mv -f "$logfile" "$logfile.1"
  render_config "$n" >"$(node_config "$n")"
  format_storage "$n"
  log "starting Kafka node $n: 127.0.0.1:$port (controller :$cport), log $logfile"
  # setsid: the broker gets its own session, so a Ctrl-C in `make` (or make's exit) does not kill it.
  # Started from / so that it holds no reference to the caller's working directory.
  (cd / && exec setsid "${JAVA[@]}" kafka.Kafka "$(node_config "$n")" >>"$logfile" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$(node_pidfile "$n")"
}

cmd_start() {
  local list nodes n pid started=()
  list="$(select_nodes "$@")" || exit 1
  read -r -a nodes <<<"$list"
  for n in "${nodes[@]}"; do
    if pid="$(running_pid "$n")"; then
      if port_open "$(broker_port "$n")"; then
        log "node $n already running (pid $pid, 127.0.0.1:$(broker_port "$n"))"
        continue
      fi
      log "node $n: process $pid is running but port $(broker_port "$n") is not open yet; waiting for it"
    else
      if ((${#started[@]} == 0)); then
        cmd_fetch
        need_java
      fi
      launch "$n"
    fi
    started+=("$n")
  done
  ((${#started[@]} > 0)) || return 0

  # The PLAINTEXT port opens only once the broker is unfenced and ready (the controller port opens
  # earlier), so a TCP connect to it is a valid readiness check. In a cluster, a node is ready only
  # once a majority of the controller quorum runs: every node named is started before any wait.
  local waited=0 pending
  while true; do
    pending=()
    for n in "${started[@]}"; do
      port_open "$(broker_port "$n")" && continue
      pid="$(cat "$(node_pidfile "$n")" 2>/dev/null || true)"
      if [[ -z "$pid" || ! -d "/proc/$pid" ]]; then
        log_tail "$(node_log "$n")"
        rm -f "$(node_pidfile "$n")"
        die "Kafka node $n exited during start-up (see the log above)"
      fi
      pending+=("$n")
    done
    ((${#pending[@]} == 0)) && break
    if ((waited >= START_TIMEOUT)); then
      for n in "${pending[@]}"; do log_tail "$(node_log "$n")" 30; done
      die "Kafka node(s) ${pending[*]} did not open their port within ${START_TIMEOUT}s ('deploy/kafka.sh stop' ends them)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  for n in "${started[@]}"; do
    log "node $n ready after ${waited}s (pid $(cat "$(node_pidfile "$n")"), 127.0.0.1:$(broker_port "$n"))"
  done
  log "bootstrap $(bootstrap)"
}

cmd_stop() {
  local list nodes n pid pids=() names=()
  list="$(select_nodes "$@")" || exit 1
  read -r -a nodes <<<"$list"
  for n in "${nodes[@]}"; do
    if pid="$(running_pid "$n")"; then
      log "stopping Kafka node $n (pid $pid)"
      # All at once: a node's clean shutdown hands its partitions' leadership over, and needs the
      # controller quorum for that; stopped one after another, the last would wait for a quorum
      # that is gone.
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$n")
    else
      rm -f "$(node_pidfile "$n")"
      [[ "$BROKERS" == 1 ]] && log "not running" || log "node $n not running"
    fi
  done
  local waited=0 i alive
  while true; do
    alive=0
    for pid in "${pids[@]}"; do [[ -d "/proc/$pid" ]] && alive=1; done
    ((alive)) || break
    if ((waited >= STOP_TIMEOUT)); then
      log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
      sleep 1
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  for i in "${!names[@]}"; do
    rm -f "$(node_pidfile "${names[$i]}")"
    log "node ${names[$i]} stopped"
  done
}

cmd_kill() {
  (($# > 0)) || die "kill: name the node(s) to SIGKILL"
  local list nodes n pid
  list="$(select_nodes "$@")" || exit 1
  read -r -a nodes <<<"$list"
  for n in "${nodes[@]}"; do
    if pid="$(running_pid "$n")"; then
      kill -KILL "$pid"
      while [[ -d "/proc/$pid" ]]; do sleep 0.1; done
      rm -f "$(node_pidfile "$n")"
      log "node $n killed (pid $pid)"
    else
      log "node $n not running"
    fi
  done
}

cmd_status() {
  local list nodes n pid rc=0 port
  list="$(select_nodes "$@")" || exit 1
  read -r -a nodes <<<"$list"
  for n in "${nodes[@]}"; do
    port="$(broker_port "$n")"
    if pid="$(running_pid "$n")"; then
      if port_open "$port"; then
        log "node $n running (pid $pid, 127.0.0.1:$port, data $(node_data "$n"))"
        continue
      fi
      log "node $n: process $pid is running but 127.0.0.1:$port does not accept connections (starting up?)"
      rc=1
      continue
    fi
    if port_open "$port"; then
      log "node $n not started by this checkout, but something listens on 127.0.0.1:$port"
    else
      log "node $n not running"
    fi
    ((rc == 0)) && rc=3
  done
  ((rc == 0)) && log "bootstrap $(bootstrap)"
  return "$rc"
}

cmd_env() {
  echo "CARECOORD_KAFKA_BOOTSTRAP=$(bootstrap)"
  grep -E '^CARECOORD_[A-Z0-9_]+=' "$LAYOUT_ENV"
}

cmd_render() {
  (($# == 1)) || die "render: name one node"
  local list nodes
  list="$(select_nodes "$@")" || exit 1
  read -r -a nodes <<<"$list"
  render_config "${nodes[0]}"
}

command="${1:-}"
shift || true
case "$command" in
  fetch) cmd_fetch ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  kill) cmd_kill "$@" ;;
  status) cmd_status "$@" ;;
  bootstrap) bootstrap ;;
  env) cmd_env ;;
  render) cmd_render "$@" ;;
  *) echo "usage: $0 [--brokers 1|3] {fetch|start|stop|kill|status|bootstrap|env|render} [NODE...]" >&2; exit 2 ;;
esac
