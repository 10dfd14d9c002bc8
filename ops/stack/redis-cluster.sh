#!/usr/bin/env bash
# A local Redis Cluster for tests and chaos: redis-server nodes on free
# loopback ports, made with redis-cli --cluster create, tracked by pid.
#
#   redis-cluster.sh start     --run-dir DIR [--name NAME] [--masters M] [--replicas R] [--tls CERTDIR]
#   redis-cluster.sh stop      --run-dir DIR [--name NAME]
#   redis-cluster.sh status    --run-dir DIR [--name NAME]
#   redis-cluster.sh wait-ok   --run-dir DIR [--name NAME] [--timeout S]
#   redis-cluster.sh kill9     --run-dir DIR [--name NAME] --node I
#   redis-cluster.sh restart   --run-dir DIR [--name NAME] --node I
#   redis-cluster.sh reshard   --run-dir DIR [--name NAME] --slots K --from I --to J
#   redis-cluster.sh master-of --run-dir DIR [--name NAME] --slot S
#
# start: M masters (default 3, at least 3) with R replicas each (default 1),
# so M*(1+R) nodes, numbered 0..N-1; redis-cli --cluster create makes nodes
# 0..M-1 the masters. It returns once every node says cluster_state:ok,
# every node has the same slot map, redis-cli --cluster check passes and
# every replica is in sync with its master; after
# VIGIL_REDIS_CLUSTER_START_TIMEOUT seconds (default 30) it stops the nodes,
# prints the logs' tails and fails. A start in a run dir whose cluster was
# stopped starts the same nodes again (same ports, data and nodes.conf).
# Each node: bind 127.0.0.1, cluster-node-timeout 2000 ms (a failover takes
# a few seconds), cluster-replica-validity-factor 0 (a replica always may
# take over, however long it was cut off), appendonly yes with appendfsync
# everysec (a SIGKILL loses at most about a second of acknowledged writes on
# that node), no RDB snapshots, diskless replica sync without delay.
# --tls CERTDIR: TLS only (port 0, tls-port, tls-cluster yes,
# tls-replication yes), certificates from ops/stack/certs.sh (made in
# CERTDIR if missing); clients need ca.pem and, since the nodes require
# client certificates, client.pem/client-key.pem.
#
# stop: SIGTERM to every node by pid, SIGKILL after 30 s. kill9: SIGKILL one
# node (a crash). restart: start node I again (stopping it first if it
# runs) and return when it answers PING; wait-ok then waits until it has
# rejoined (an old master comes back as a replica of its successor).
# wait-ok: waits (default VIGIL_REDIS_CLUSTER_START_TIMEOUT) until every
# live node says cluster_state:ok, all live nodes have the same slot map,
# every slot is served by a live master and every live replica is in sync.
# status: one line per node: node, port, pid, role, alive (and the slots of
# a master, the master of a replica); exit 3 if any node is down.
# reshard: moves K slots from master I to master J with redis-cli --cluster
# reshard --cluster-yes (live: clients follow ASK/MOVED), returns when all
# live nodes agree on the new map. master-of: the node index that serves
# slot S now (the live master that owns it in its own view).
#
# Files in DIR, where BASE is "redis-cluster" or "redis-cluster-NAME":
# BASE.env (VIGIL_REDIS_CLUSTER_NODES=127.0.0.1:P0,...,127.0.0.1:PN-1, all
# nodes, usable as seeds; with --tls also VIGIL_REDIS_CLUSTER_TLS_CA/_CERT/
# _KEY), BASE.state, BASE.create.log, BASE.reshard.log, and per node I:
# BASE-I.conf, BASE-I.pid, BASE-I.log and BASE-I/ (its working folder:
# nodes.conf, the AOF). The per-node files follow redis.sh's layout for
# --name cluster-I (or cluster-NAME-I), so down.sh stops the nodes too.
#
# Environment: VIGIL_REDIS_CLUSTER_START_TIMEOUT (seconds, default 30),
# VIGIL_REDIS_SERVER (the server binary, default redis-server; valkey-server
# works too). redis-cli speaks to either.
set -euo pipefail

VIGIL_LOG_TAG=redis-cluster
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

usage() {
  sed -n '5,12s/^#   //p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

START_TIMEOUT="${VIGIL_REDIS_CLUSTER_START_TIMEOUT:-30}"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "VIGIL_REDIS_CLUSTER_START_TIMEOUT must be whole seconds"
NODE_TIMEOUT_MS=2000

[[ $# -ge 1 ]] || usage
CMD="$1"; shift
RUN_DIR="" NAME="" MASTERS="" REPLICAS="" TLS_DIR="" NODE="" TIMEOUT=""
SLOTS="" FROM="" TO="" SLOT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run-dir)  [[ $# -ge 2 ]] || usage; RUN_DIR="$2"; shift 2 ;;
    --name)     [[ $# -ge 2 ]] || usage; NAME="$2"; shift 2 ;;
    --masters)  [[ $# -ge 2 ]] || usage; MASTERS="$2"; shift 2 ;;
    --replicas) [[ $# -ge 2 ]] || usage; REPLICAS="$2"; shift 2 ;;
    --tls)      [[ $# -ge 2 ]] || usage; TLS_DIR="$2"; shift 2 ;;
    --node)     [[ $# -ge 2 ]] || usage; NODE="$2"; shift 2 ;;
    --timeout)  [[ $# -ge 2 ]] || usage; TIMEOUT="$2"; shift 2 ;;
    --slots)    [[ $# -ge 2 ]] || usage; SLOTS="$2"; shift 2 ;;
    --from)     [[ $# -ge 2 ]] || usage; FROM="$2"; shift 2 ;;
    --to)       [[ $# -ge 2 ]] || usage; TO="$2"; shift 2 ;;
    --slot)     [[ $# -ge 2 ]] || usage; SLOT="$2"; shift 2 ;;
    -h|--help)  usage ;;
    *) die "unexpected argument '$1'" ;;
  esac
done
[[ -n "$RUN_DIR" ]] || die "--run-dir DIR is required"
[[ "$NAME" =~ ^[A-Za-z0-9_.-]*$ ]] || die "--name may only use letters, digits, '_', '.', '-'"
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
# Each option belongs to some commands only: a stray one is a mistake.
only_for() { # value option commands...
  local v="$1" opt="$2" c; shift 2
  [[ -z "$v" ]] && return 0
  for c in "$@"; do [[ "$CMD" == "$c" ]] && return 0; done
  die "$opt does not apply to $CMD"
}
only_for "$MASTERS" --masters start; only_for "$REPLICAS" --replicas start
only_for "$TLS_DIR" --tls start; only_for "$NODE" --node kill9 restart
only_for "$TIMEOUT" --timeout wait-ok; only_for "$SLOT" --slot master-of
only_for "$SLOTS" --slots reshard; only_for "$FROM" --from reshard; only_for "$TO" --to reshard
[[ -z "$MASTERS" ]] || { is_uint "$MASTERS" && ((MASTERS >= 3)); } || die "--masters must be 3 or more (redis-cli --cluster create needs 3)"
[[ -z "$REPLICAS" ]] || { is_uint "$REPLICAS" && ((REPLICAS <= 5)); } || die "--replicas must be 0..5"
[[ -z "$TIMEOUT" ]] || is_uint "$TIMEOUT" || die "--timeout must be whole seconds"
[[ -z "$SLOT" ]] || { is_uint "$SLOT" && ((SLOT < 16384)); } || die "--slot must be 0..16383"
[[ -z "$SLOTS" ]] || { is_uint "$SLOTS" && ((SLOTS >= 1 && SLOTS < 16384)); } || die "--slots must be 1..16383"

REDIS_SERVER="${VIGIL_REDIS_SERVER:-redis-server}"
need_cmd "$REDIS_SERVER"; need_cmd redis-cli; need_cmd timeout

if [[ "$CMD" == start ]]; then
  RUN_DIR="$(abs_dir "$RUN_DIR")"
else
  [[ -d "$RUN_DIR" ]] || die "no such run dir: $RUN_DIR"
  RUN_DIR="$(cd "$RUN_DIR" && pwd)"
fi
LABEL="redis-cluster${NAME:+-$NAME}"
BASE="$RUN_DIR/$LABEL"
STATE="$BASE.state"

# --- state ------------------------------------------------------------------
# BASE.state: KEY=VALUE lines, read with sed (never sourced).
state_value() { sed -n "s/^$1=//p" "$STATE"; }

N=0 PORTS=() TLS_ARGS=()
load_state() {
  [[ -f "$STATE" ]] || die "no $LABEL in $RUN_DIR (start it first)"
  N="$(state_value NODES)"
  read -r -a PORTS <<<"$(state_value PORTS)"
  TLS_DIR="$(state_value TLS_DIR)"
  TLS_ARGS=()
  if [[ -n "$TLS_DIR" ]]; then
    TLS_ARGS=(--tls --cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/client.pem" --key "$TLS_DIR/client-key.pem")
  fi
}

node_check() { # I
  { is_uint "$1" && (($1 < N)); } || die "--node must be 0..$((N - 1)) (got '$1')"
}
data_dir() { echo "$BASE-$1"; }
pid_file() { echo "$BASE-$1.pid"; }
node_pid() { read_pid "$(pid_file "$1")"; }
node_alive() { pid_is_ours "$(node_pid "$1")" "$(data_dir "$1")"; }

# The index of the node listening on PORT (nothing if none of ours).
port_index() {
  local i
  for i in "${!PORTS[@]}"; do
    [[ "${PORTS[$i]}" == "$1" ]] && { echo "$i"; return 0; }
  done
  return 1
}

# redis-cli to node I; bounded, so a hung node cannot hang a wait loop.
cli() { # I args...
  local i="$1"; shift
  timeout 5 redis-cli -h 127.0.0.1 -p "${PORTS[$i]}" "${TLS_ARGS[@]}" "$@" 2>/dev/null
}
# One field of INFO (without the trailing CR).
info_field() { # I section field
  cli "$1" info "$2" | tr -d '\r' | sed -n "s/^$3://p"
}
# One field of CLUSTER INFO (cluster_state is there, not in INFO cluster).
cluster_field() { # I field
  cli "$1" cluster info | tr -d '\r' | sed -n "s/^$2://p"
}

now_ms() { local t="${EPOCHREALTIME//[!0-9]/}"; echo $((t / 1000)); }
secs_since() { # start_ms -> "1.234"
  local d=$(($(now_ms) - $1))
  printf '%d.%03d' $((d / 1000)) $((d % 1000))
}

# --- nodes --------------------------------------------------------------------
write_conf() { # I port bus_port
  local i="$1" port="$2" bus="$3" data
  data="$(data_dir "$i")"
  mkdir -p "$data"
  {
    echo "# Generated by ops/stack/redis-cluster.sh (node $i of $LABEL)."
    if [[ -n "$TLS_DIR" ]]; then
      echo "port 0"
      echo "tls-port $port"
      echo "tls-cluster yes"
      echo "tls-replication yes"
      echo "tls-cert-file \"$TLS_DIR/server.pem\""
      echo "tls-key-file \"$TLS_DIR/server-key.pem\""
      # Outgoing bus and replication links present a client certificate:
      # server.pem is for serverAuth only and would be refused.
      echo "tls-client-cert-file \"$TLS_DIR/client.pem\""
      echo "tls-client-key-file \"$TLS_DIR/client-key.pem\""
      echo "tls-ca-cert-file \"$TLS_DIR/ca.pem\""
      echo "tls-auth-clients yes"
    else
      echo "port $port"
    fi
    echo "bind 127.0.0.1"
    echo "protected-mode no"
    echo "daemonize no"
    echo "dir \"$data\""
    echo "logfile \"$BASE-$i.log\""
    echo "cluster-enabled yes"
    echo "cluster-config-file nodes.conf"
    # The bus port is chosen free too, not assumed free at port + 10000.
    echo "cluster-port $bus"
    echo "cluster-node-timeout $NODE_TIMEOUT_MS"
    echo "cluster-replica-validity-factor 0"
    echo 'save ""'
    echo "appendonly yes"
    echo "appendfsync everysec"
    echo "repl-diskless-sync yes"
    echo "repl-diskless-sync-delay 0"
  } >"$BASE-$i.conf"
}

spawn_node() { # I
  local pid
  pid=$(spawn "$BASE-$1.log" "$REDIS_SERVER" "$BASE-$1.conf")
  echo "$pid" >"$(pid_file "$1")"
}

# Wait until node I answers PONG (not LOADING) or the deadline passes.
wait_pong() { # I deadline_seconds
  local i="$1" deadline="$2" pid
  pid="$(node_pid "$i")"
  until [[ "$(cli "$i" ping)" == PONG ]]; do
    pid_alive "$pid" || { FAIL_REASON="node $i exited during startup"; return 1; }
    ((SECONDS < deadline)) || { FAIL_REASON="node $i did not answer PING"; return 1; }
    sleep 0.05
  done
  node_alive "$i" || { FAIL_REASON="node $i on port ${PORTS[$i]} is not the process we started"; return 1; }
}

log_tails() {
  local i
  for ((i = 0; i < N; i++)); do
    [[ -f "$BASE-$i.log" ]] || continue
    printf -- '--- %s (last 8 lines)\n' "$BASE-$i.log" >&2
    tail -n 8 "$BASE-$i.log" >&2 || true
  done
}

stop_nodes() { # timeout
  local i entries=()
  for ((i = 0; i < N; i++)); do entries+=("$(node_pid "$i"):$(data_dir "$i")"); done
  stop_pids "$1" "${entries[@]}"
  for ((i = 0; i < N; i++)); do rm -f "$(pid_file "$i")"; done
}

# --- cluster views ----------------------------------------------------------
# The slot map as node I sees it: "first-last port" per owned range, sorted.
# Bracketed entries (a slot being migrated or imported) are left out: they
# are known only to the two nodes of a migration.
slot_map() { # I
  cli "$1" cluster nodes | awk '
    $3 ~ /master/ {
      p = $2; sub(/@.*/, "", p); sub(/.*:/, "", p)
      for (f = 9; f <= NF; f++) if ($f !~ /^\[/) {
        r = $f; if (r !~ /-/) r = r "-" r
        print r, p
      }
    }' | sort -n
}

# Why the cluster is not settled, in FAIL_REASON; true if it is. Settled:
# every live node says cluster_state:ok and has the same slot map, every
# slot's owner is a live node of ours, and every live replica's link to its
# master is up. With "all", every node must be live.
cluster_settled() { # [all]
  local i live=() map="" m owner port role
  for ((i = 0; i < N; i++)); do
    if node_alive "$i"; then
      live+=("$i")
    elif [[ "${1:-}" == all ]]; then
      FAIL_REASON="node $i is not running"; return 1
    fi
  done
  ((${#live[@]})) || { FAIL_REASON="no node is running"; return 1; }
  for i in "${live[@]}"; do
    [[ "$(cluster_field "$i" cluster_state)" == ok ]] || {
      FAIL_REASON="node $i: cluster_state is not ok"; return 1; }
    m="$(slot_map "$i")"
    [[ -n "$m" ]] || { FAIL_REASON="node $i: no slot map"; return 1; }
    if [[ -z "$map" ]]; then
      map="$m"
    elif [[ "$m" != "$map" ]]; then
      FAIL_REASON="nodes ${live[0]} and $i do not agree on the slot map"; return 1
    fi
  done
  while read -r _ port; do
    owner="$(port_index "$port")" || { FAIL_REASON="slots owned by port $port, not a node of $LABEL"; return 1; }
    node_alive "$owner" || { FAIL_REASON="slots still owned by node $owner, which is down"; return 1; }
  done <<<"$map"
  for i in "${live[@]}"; do
    role="$(info_field "$i" replication role)"
    if [[ "$role" == slave || "$role" == replica ]]; then
      [[ "$(info_field "$i" replication master_link_status)" == up ]] || {
        FAIL_REASON="node $i: replica not in sync with its master"; return 1; }
    fi
  done
}

wait_settled() { # timeout [all]
  local deadline=$((SECONDS + $1))
  FAIL_REASON=""
  until cluster_settled "${2:-}"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# One line per node: index, port, pid, role, alive, detail.
print_status() {
  local i pid alive role detail nodes="" seer="" line flags
  for ((i = 0; i < N; i++)); do
    if node_alive "$i"; then
      nodes="$(cli "$i" cluster nodes)" && [[ -n "$nodes" ]] && { seer="$i"; break; }
    fi
  done
  printf '%-4s %-6s %-8s %-8s %-5s %s\n' node port pid role alive detail
  for ((i = 0; i < N; i++)); do
    pid="$(node_pid "$i")" alive=no role="-" detail=""
    if node_alive "$i"; then alive=yes; else pid="-"; fi
    # The line for this node's port in a live node's view (ours if alive).
    line="$(awk -v p="${PORTS[$i]}" '{ a = $2; sub(/@.*/, "", a); sub(/.*:/, "", a); if (a == p) print }' <<<"$nodes")"
    if [[ -n "$line" ]]; then
      flags="$(awk '{ print $3 }' <<<"$line")"
      case ",$flags," in
        *,master,*) role=master ;;
        *,slave,*|*,replica,*) role=replica ;;
      esac
      if [[ "$role" == master ]]; then
        detail="$(awk '{ n = 0; for (f = 9; f <= NF; f++) if ($f !~ /^\[/) { split($f, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n " slots" }' <<<"$line")"
      elif [[ "$role" == replica ]]; then
        local mid mport
        mid="$(awk '{ print $4 }' <<<"$line")"
        mport="$(awk -v id="$mid" '$1 == id { a = $2; sub(/@.*/, "", a); sub(/.*:/, "", a); print a }' <<<"$nodes")"
        detail="of node $(port_index "$mport" || echo "?")"
      fi
      [[ ",$flags," == *,fail,* || ",$flags," == *,fail\?,* ]] && detail="${detail:+$detail, }seen as failed by node $seer"
    fi
    printf '%-4s %-6s %-8s %-8s %-5s %s\n' "$i" "${PORTS[$i]}" "$pid" "$role" "$alive" "$detail"
  done
}

write_env() {
  local i seeds=""
  for ((i = 0; i < N; i++)); do seeds+="${seeds:+,}127.0.0.1:${PORTS[$i]}"; done
  {
    echo "VIGIL_REDIS_CLUSTER_NODES=$seeds"
    if [[ -n "$TLS_DIR" ]]; then
      printf 'VIGIL_REDIS_CLUSTER_TLS_CA=%q\n' "$TLS_DIR/ca.pem"
      printf 'VIGIL_REDIS_CLUSTER_TLS_CERT=%q\n' "$TLS_DIR/client.pem"
      printf 'VIGIL_REDIS_CLUSTER_TLS_KEY=%q\n' "$TLS_DIR/client-key.pem"
    fi
  } >"$BASE.env.tmp"
  mv "$BASE.env.tmp" "$BASE.env"
  cat "$BASE.env"
}

# Give up a start: stop what runs, show why, and for a cluster that never
# formed remove its configs and data (logs stay) so a new start begins
# afresh rather than reusing a half-made cluster.
start_failed() { # message fresh
  warn "$1"
  [[ -n "${FAIL_REASON:-}" ]] && warn "last check: $FAIL_REASON"
  [[ -n "${CHECK_OUT:-}" ]] && printf '%s\n' "$CHECK_OUT" | tail -n 15 >&2
  log_tails
  stop_nodes 10
  if (($2)); then
    local i
    for ((i = 0; i < N; i++)); do rm -rf -- "$(data_dir "$i")" "$BASE-$i.conf"; done
    rm -f "$STATE" "$BASE.env"
  fi
  die "$LABEL did not start (logs: $BASE-*.log)"
}

# --- commands -----------------------------------------------------------------
case "$CMD" in
  start)
    t0="$(now_ms)"
    deadline=$((SECONDS + START_TIMEOUT))
    fresh=0
    if [[ -f "$STATE" ]]; then
      # A cluster made earlier in this run dir: start the same nodes again.
      [[ -z "$TLS_DIR" ]] || TLS_DIR="$(cd "$TLS_DIR" 2>/dev/null && pwd)" || die "no such folder: $TLS_DIR"
      want_tls="$TLS_DIR"
      load_state
      for ((i = 0; i < N; i++)); do
        node_alive "$i" && die "$LABEL is already running (node $i, pid $(node_pid "$i"))"
      done
      if [[ -n "$MASTERS" && "$MASTERS" != "$(state_value MASTERS)" ]] ||
        [[ -n "$REPLICAS" && "$REPLICAS" != "$(state_value REPLICAS)" ]] ||
        [[ -n "$want_tls" && "$want_tls" != "$TLS_DIR" ]]; then
        die "$LABEL in $RUN_DIR was made with other options; use a new --name or run dir"
      fi
    else
      fresh=1
      MASTERS="${MASTERS:-3}" REPLICAS="${REPLICAS:-1}"
      N=$((MASTERS * (1 + REPLICAS)))
      if [[ -n "$TLS_DIR" ]]; then
        need_cmd openssl
        bash "$HERE/certs.sh" "$TLS_DIR" >/dev/null
        TLS_DIR="$(cd "$TLS_DIR" && pwd)"
      fi
      read -r -a all <<<"$(free_ports $((2 * N)))"
      PORTS=("${all[@]:0:N}")
      for ((i = 0; i < N; i++)); do write_conf "$i" "${PORTS[$i]}" "${all[$((N + i))]}"; done
      {
        echo "# Generated by ops/stack/redis-cluster.sh."
        echo "MASTERS=$MASTERS"
        echo "REPLICAS=$REPLICAS"
        echo "NODES=$N"
        echo "PORTS=${PORTS[*]}"
        echo "TLS_DIR=$TLS_DIR"
      } >"$STATE"
      load_state
    fi
    for ((i = 0; i < N; i++)); do spawn_node "$i"; done
    for ((i = 0; i < N; i++)); do
      wait_pong "$i" "$deadline" || start_failed "$FAIL_REASON" "$fresh"
    done
    if ((fresh)); then
      seeds=()
      for ((i = 0; i < N; i++)); do seeds+=("127.0.0.1:${PORTS[$i]}"); done
      rc=0
      timeout $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)) \
        redis-cli "${TLS_ARGS[@]}" --cluster create "${seeds[@]}" \
        --cluster-replicas "$REPLICAS" --cluster-yes </dev/null >"$BASE.create.log" 2>&1 || rc=$?
      if ((rc == 124)); then
        start_failed "redis-cli --cluster create did not finish within ${START_TIMEOUT}s" 1
      elif ((rc)); then
        CHECK_OUT="$(cat "$BASE.create.log")"
        start_failed "redis-cli --cluster create failed (log: $BASE.create.log)" 1
      fi
    fi
    # Settled on every node, then redis-cli's own check (agreement, coverage,
    # no open slots) on top.
    CHECK_OUT=""
    until wait_settled $((deadline - SECONDS > 0 ? deadline - SECONDS : 0)) all &&
      CHECK_OUT="$(cli 0 --cluster check "127.0.0.1:${PORTS[0]}" 2>&1)"; do
      ((SECONDS < deadline)) || start_failed "$LABEL not ready within ${START_TIMEOUT}s" "$fresh"
      sleep 0.2
    done
    masters=0
    for ((i = 0; i < N; i++)); do
      [[ "$(info_field "$i" replication role)" == master ]] && masters=$((masters + 1))
    done
    log "$LABEL ready in $(secs_since "$t0")s: $N nodes, $masters masters, ports ${PORTS[*]}${TLS_DIR:+ (TLS)}"
    write_env
    ;;

  stop)
    if [[ ! -f "$STATE" ]]; then
      log "no $LABEL in $RUN_DIR; nothing to stop"; exit 0
    fi
    load_state
    # SIGTERM makes each node flush its AOF and nodes.conf before exiting.
    stop_nodes 30
    log "$LABEL stopped"
    ;;

  kill9)
    [[ -n "$NODE" ]] || die "kill9 needs --node I"
    load_state; node_check "$NODE"
    node_alive "$NODE" || die "node $NODE of $LABEL is not running"
    pid="$(node_pid "$NODE")"
    role="$(info_field "$NODE" replication role)"
    [[ "$role" == slave ]] && role=replica
    kill -KILL "$pid"
    while pid_alive "$pid"; do sleep 0.05; done
    rm -f "$(pid_file "$NODE")"
    log "node $NODE (127.0.0.1:${PORTS[$NODE]}, ${role:-role unknown}) killed (SIGKILL, pid $pid)"
    ;;

  restart)
    [[ -n "$NODE" ]] || die "restart needs --node I"
    load_state; node_check "$NODE"
    if node_alive "$NODE"; then
      stop_pids 30 "$(node_pid "$NODE"):$(data_dir "$NODE")"
      rm -f "$(pid_file "$NODE")"
    fi
    t0="$(now_ms)"
    spawn_node "$NODE"
    if ! wait_pong "$NODE" $((SECONDS + START_TIMEOUT)); then
      tail -n 20 "$BASE-$NODE.log" >&2 || true
      stop_pids 5 "$(node_pid "$NODE"):$(data_dir "$NODE")"; rm -f "$(pid_file "$NODE")"
      die "$FAIL_REASON (log: $BASE-$NODE.log)"
    fi
    log "node $NODE ready in $(secs_since "$t0")s on 127.0.0.1:${PORTS[$NODE]} (pid $(node_pid "$NODE")); wait-ok waits until it has rejoined"
    ;;

  status)
    load_state
    print_status
    for ((i = 0; i < N; i++)); do node_alive "$i" || exit 3; done
    ;;

  wait-ok)
    load_state
    TIMEOUT="${TIMEOUT:-$START_TIMEOUT}"
    t0="$(now_ms)"
    if ! wait_settled "$TIMEOUT"; then
      print_status >&2 || true
      die "$LABEL not settled within ${TIMEOUT}s: $FAIL_REASON"
    fi
    log "$LABEL ok after $(secs_since "$t0")s"
    ;;

  reshard)
    [[ -n "$SLOTS" && -n "$FROM" && -n "$TO" ]] || die "reshard needs --slots K --from I --to J"
    load_state
    for i in "$FROM" "$TO"; do
      { is_uint "$i" && ((i < N)); } || die "--from and --to must be 0..$((N - 1)) (got '$i')"
      node_alive "$i" || die "node $i is not running"
      [[ "$(info_field "$i" replication role)" == master ]] || die "node $i is not a master"
    done
    ((FROM != TO)) || die "--from and --to must differ"
    from_id="$(cli "$FROM" cluster myid)" to_id="$(cli "$TO" cluster myid)"
    [[ -n "$from_id" && -n "$to_id" ]] || die "could not read the node ids"
    t0="$(now_ms)"
    if ! redis-cli "${TLS_ARGS[@]}" --cluster reshard "127.0.0.1:${PORTS[$FROM]}" \
      --cluster-from "$from_id" --cluster-to "$to_id" --cluster-slots "$SLOTS" \
      --cluster-yes </dev/null >"$BASE.reshard.log" 2>&1; then
      tail -n 15 "$BASE.reshard.log" >&2
      die "redis-cli --cluster reshard failed (log: $BASE.reshard.log)"
    fi
    if ! wait_settled "$START_TIMEOUT"; then
      die "resharded, but the nodes did not agree within ${START_TIMEOUT}s: $FAIL_REASON"
    fi
    log "reshard done in $(secs_since "$t0")s: $SLOTS slots moved from node $FROM to node $TO (log: $BASE.reshard.log)"
    ;;

  master-of)
    [[ -n "$SLOT" ]] || die "master-of needs --slot S"
    load_state
    # Each live master's own claim; if two claim the slot for a moment (an
    # old master back before it learnt of its successor), the higher config
    # epoch wins, as in the cluster itself.
    best="" best_epoch=-1
    for ((i = 0; i < N; i++)); do
      node_alive "$i" || continue
      epoch="$(cli "$i" cluster nodes | awk -v s="$SLOT" '
        $3 ~ /myself/ && $3 ~ /master/ {
          for (f = 9; f <= NF; f++) if ($f !~ /^\[/) {
            n = split($f, r, "-"); lo = r[1]; hi = (n > 1 ? r[2] : r[1])
            if (s >= lo + 0 && s <= hi + 0) { print $7; exit }
          }
        }')"
      if [[ -n "$epoch" ]] && ((epoch > best_epoch)); then best="$i" best_epoch="$epoch"; fi
    done
    [[ -n "$best" ]] || die "no live master of $LABEL serves slot $SLOT"
    echo "$best"
    ;;

  *) usage ;;
esac
