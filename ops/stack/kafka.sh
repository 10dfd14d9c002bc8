#!/usr/bin/env bash
# Apache Kafka (KRaft, no ZooKeeper) on loopback ports, from the Maven jars
# that ops/setup.sh caches. One node for most tests, three for failover.
#
#   kafka.sh start      --run-dir DIR [--nodes 1|3] [--security sasl_ssl|mtls]
#   kafka.sh stop       --run-dir DIR
#   kafka.sh stop-node  --run-dir DIR --node N
#   kafka.sh start-node --run-dir DIR --node N
#   kafka.sh kill9-node --run-dir DIR --node N
#   kafka.sh controller --run-dir DIR [--not N]
#   kafka.sh status     --run-dir DIR
#   kafka.sh topics     --run-dir DIR create NAME PARTITIONS RF
#   kafka.sh topics     --run-dir DIR list | describe [NAME]
#   kafka.sh acls       --run-dir DIR KAFKA-ACLS-ARGS...
#
# stop-node is a clean shutdown (SIGTERM: leaders move away first);
# kill9-node is a crash (SIGKILL: the controller fences the node after
# broker.session.timeout.ms, 9s by default). start-node brings either back
# with the same port, config and data; in a 3-node cluster it also waits
# until the metadata lists every running node as a broker (unfenced).
#
# KRaft layout: every node is broker and controller at once (combined
# mode, process.roles=broker,controller) and all of them are voters of
# the metadata quorum, so 3 nodes survive one loss: two nodes down leave
# no controller quorum (the survivor keeps serving with the metadata it
# has). `controller` prints the node id of the active controller (the
# quorum's LeaderId, from kafka-metadata-quorum describe --status),
# waiting until one is known, and with --not N until it is not node N
# (after node N, the controller, was killed: a new one is elected).
#
# Files in DIR: kafka.env (VIGIL_KAFKA_BOOTSTRAP=host:port[,...]),
# kafka.state (ports, cluster id, jar folder; lets start-node and a second
# `start` reuse the same ports and data), kafka-N.pid, kafka-N/ (config,
# data, server.log, stdout.log), kafka-log4j.properties.
#
# Environment: VIGIL_KAFKA_LIBS (jar folder), VIGIL_KAFKA_HEAP (default
# "-Xmx512m -Xms256m"), VIGIL_KAFKA_JAVA_OPTS (extra JVM flags),
# VIGIL_KAFKA_START_TIMEOUT (seconds, default 90), VIGIL_KAFKA_PROPS
# (extra "key=value key=value" broker settings for a new cluster, e.g.
# "broker.session.timeout.ms=3000" for quicker fencing in chaos tests).
#
# --security (a new cluster only; without it nothing changes): each node
# gets a second, secured listener next to its PLAINTEXT one, and the KRaft
# StandardAuthorizer with allow.everyone.if.no.acl.found=false:
#   sasl_ssl  SASL_SSL with SCRAM-SHA-512; the SCRAM user "vigil" is created
#             at format time with a random password (kafka-secrets/)
#   mtls      SSL with ssl.client.auth=required; a client certificate's
#             CN is its principal (CN=vigil-worker -> User:vigil-worker)
# Certificates come from certs.sh (DIR/kafka-certs). The PLAINTEXT and
# CONTROLLER listeners stay for the brokers themselves and the test
# harness: their principal, User:ANONYMOUS, is the super user, so they are
# loopback-only admin ports, never what a worker is given. kafka.env then
# also holds VIGIL_KAFKA_SECURITY, VIGIL_KAFKA_SECURE_BOOTSTRAP,
# VIGIL_KAFKA_CERTS and (sasl_ssl) VIGIL_KAFKA_SASL_USERNAME and
# VIGIL_KAFKA_SASL_PASSWORD_FILE, or (mtls) VIGIL_KAFKA_PRINCIPAL. `acls`
# runs kafka-acls (kafka.admin.AclCommand) against the admin port.
set -euo pipefail

VIGIL_LOG_TAG=kafka
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

usage() {
  sed -n '5,14s/^#   //p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

START_TIMEOUT="${VIGIL_KAFKA_START_TIMEOUT:-90}"

# --- argument parsing: a subcommand, then options and positionals in any order
[[ $# -ge 1 ]] || usage
CMD="$1"; shift
RUN_DIR="" NODES="" NODE="" NOT="" SECURITY="" ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run-dir) [[ $# -ge 2 ]] || usage; RUN_DIR="$2"; shift 2 ;;
    --nodes)   [[ $# -ge 2 ]] || usage; NODES="$2"; shift 2 ;;
    --node)    [[ $# -ge 2 ]] || usage; NODE="$2"; shift 2 ;;
    --not)     [[ $# -ge 2 ]] || usage; NOT="$2"; shift 2 ;;
    --security) [[ $# -ge 2 ]] || usage; SECURITY="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ -n "$RUN_DIR" ]] || die "--run-dir DIR is required"
[[ "$CMD" == topics || "$CMD" == acls || ${#ARGS[@]} -eq 0 ]] || die "unexpected argument '${ARGS[0]}'"
[[ -z "$NOT" || "$CMD" == controller ]] || die "--not is for the controller command"
[[ -z "$SECURITY" || "$SECURITY" == sasl_ssl || "$SECURITY" == mtls ]] \
  || die "--security must be sasl_ssl or mtls (got '$SECURITY')"
[[ -z "$NODES" || "$NODES" == 1 || "$NODES" == 3 ]] || die "--nodes must be 1 or 3 (got '$NODES')"

# ---------------------------------------------------------------------------
node_dir()  { echo "$RUN_DIR/kafka-$1"; }
node_conf() { echo "$RUN_DIR/kafka-$1/server.properties"; }
node_pid()  { echo "$RUN_DIR/kafka-$1.pid"; }
port_of()   { local a; read -r -a a <<<"$KAFKA_PORTS"; echo "${a[$1-1]}"; }

load_state() {
  [[ -d "$RUN_DIR" ]] || die "no such run dir: $RUN_DIR"
  RUN_DIR="$(cd "$RUN_DIR" && pwd)"
  [[ -f "$RUN_DIR/kafka.state" ]] || die "no Kafka cluster in $RUN_DIR (run: kafka.sh start --run-dir $RUN_DIR)"
  # shellcheck source=/dev/null
  source "$RUN_DIR/kafka.state"
}

node_running() {
  pid_is_ours "$(read_pid "$(node_pid "$1")")" "$(node_conf "$1")"
}

check_node_arg() {
  if ! [[ "$NODE" =~ ^[0-9]+$ ]] || ((NODE < 1 || NODE > KAFKA_NODES)); then
    die "--node must be between 1 and $KAFKA_NODES (got '${NODE}')"
  fi
}

# The secured listener (--security) of a node, appended to its
# server.properties: later keys win, so these listeners lines replace the
# plain ones. Arguments: plain port, controller port, secure port,
# certificate folder.
security_conf() {
  local proto=SASL_SSL
  [[ "$SECURITY" == mtls ]] && proto=SSL
  cat <<EOF

# --security $SECURITY: a secured listener; PLAINTEXT and CONTROLLER stay
# loopback-only admin ports whose principal (ANONYMOUS) is the super user.
listeners=PLAINTEXT://127.0.0.1:$1,CONTROLLER://127.0.0.1:$2,SECURE://127.0.0.1:$3
advertised.listeners=PLAINTEXT://127.0.0.1:$1,SECURE://127.0.0.1:$3
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:$proto
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS
listener.name.secure.ssl.keystore.type=PKCS12
listener.name.secure.ssl.keystore.location=$4/server.p12
listener.name.secure.ssl.keystore.password=$(cat "$4/server.p12.password")
listener.name.secure.ssl.truststore.type=PEM
listener.name.secure.ssl.truststore.location=$4/ca.pem
EOF
  if [[ "$SECURITY" == sasl_ssl ]]; then
    cat <<'EOF'
listener.name.secure.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  else
    cat <<'EOF'
listener.name.secure.ssl.client.auth=required
# The certificate's CN is the principal: CN=vigil-worker -> User:vigil-worker.
ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT
EOF
  fi
}

# Write configs for a new cluster: free ports, a cluster id, one
# server.properties per node, and format each node's storage.
init_cluster() {
  local n="$1" libs="$2"
  local ports cports sports="" all i voters="" bootstrap="" sbootstrap="" per=2
  [[ -z "$SECURITY" ]] || per=3
  read -r -a all <<<"$(free_ports $((per * n)))"
  ports="${all[*]:0:n}"; cports="${all[*]:n:n}"
  [[ -z "$SECURITY" ]] || sports="${all[*]:2*n:n}"
  local p c s
  read -r -a p <<<"$ports"; read -r -a c <<<"$cports"; read -r -a s <<<"$sports"
  for ((i = 1; i <= n; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:${c[i-1]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${p[i-1]}"
    [[ -z "$SECURITY" ]] || sbootstrap+="${sbootstrap:+,}127.0.0.1:${s[i-1]}"
  done
  local certs="$RUN_DIR/kafka-certs" secrets="$RUN_DIR/kafka-secrets" scram=()
  if [[ -n "$SECURITY" ]]; then
    need_cmd openssl
    bash "$(dirname "${BASH_SOURCE[0]}")/certs.sh" "$certs" localhost >/dev/null
    if [[ "$SECURITY" == sasl_ssl ]]; then
      mkdir -p "$secrets"; chmod 700 "$secrets"
      [[ -s "$secrets/vigil.password" ]] || (umask 077; openssl rand -hex 16 >"$secrets/vigil.password")
      # The SCRAM credentials go into the first metadata records.
      scram=(--add-scram "SCRAM-SHA-512=[name=vigil,password=$(cat "$secrets/vigil.password")]")
    fi
  fi
  # A cluster id is a base64url 16-byte uuid, not starting with '-' (Kafka
  # rejects those); made here to save a JVM start.
  local cluster_id
  cluster_id="$(python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break')"

  # Replication settings: 1 node cannot replicate; 3 nodes use RF 3 and
  # min ISR 2 so a single node can fail without stopping acks=all writers.
  local rf=1 isr=1
  ((n == 3)) && rf=3 isr=2

  for ((i = 1; i <= n; i++)); do
    # No kafka.state yet, so any data here is from a start that failed
    # half-way; formatting needs an empty folder.
    rm -rf -- "$(node_dir "$i")/data"
    mkdir -p "$(node_dir "$i")/data"
    cat >"$(node_conf "$i")" <<EOF
# Generated by ops/stack/kafka.sh for a local test cluster.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${p[i-1]},CONTROLLER://127.0.0.1:${c[i-1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${p[i-1]}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$(node_dir "$i")/data

# Tests create their topics explicitly; a typo must not create a topic.
auto.create.topics.enable=false
num.partitions=4
default.replication.factor=$rf
min.insync.replicas=$isr

# Consumer groups form at once instead of after the default 3s delay.
group.initial.rebalance.delay.ms=0
# Few internal partitions: faster first group join / first transaction.
offsets.topic.num.partitions=4
offsets.topic.replication.factor=$rf
transaction.state.log.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr

# Light on a 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
EOF
    [[ -z "$SECURITY" ]] || security_conf "${p[i-1]}" "${c[i-1]}" "${s[i-1]}" "$certs" \
      >>"$(node_conf "$i")"
    if [[ -n "${VIGIL_KAFKA_PROPS:-}" ]]; then
      # Last, so these win: Java properties keep the last value of a key.
      { echo "# From VIGIL_KAFKA_PROPS."; tr -s ' \t' '\n' <<<"$VIGIL_KAFKA_PROPS"; } \
        >>"$(node_conf "$i")"
    fi
  done

  cat >"$RUN_DIR/kafka-log4j.properties" <<'EOF'
# reload4j config for the brokers; kafka.logs.dir is set per node.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
# Per-request and state-change chatter is not useful for tests.
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
  cat >"$RUN_DIR/kafka-tools-log4j.properties" <<'EOF'
# reload4j config for command-line tools: warnings only, to stderr.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF

  # Format all nodes at once: each is a JVM start, and they are independent.
  local pids=() fail=0
  for ((i = 1; i <= n; i++)); do
    java -Dlog4j.configuration="file:$RUN_DIR/kafka-tools-log4j.properties" \
      -cp "$libs/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$(node_conf "$i")" "${scram[@]}" >"$(node_dir "$i")/format.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 1; i <= n; i++)); do
    if ! wait "${pids[i-1]}"; then
      fail=1
      warn "formatting node $i failed:"; cat "$(node_dir "$i")/format.log" >&2
    fi
  done
  ((fail == 0)) || die "could not format storage in $RUN_DIR"

  # Written last: its presence means the cluster is fully initialised.
  cat >"$RUN_DIR/kafka.state.tmp" <<EOF
KAFKA_NODES=$n
KAFKA_PORTS="$ports"
KAFKA_CPORTS="$cports"
KAFKA_CLUSTER_ID=$cluster_id
KAFKA_LIBS="$libs"
KAFKA_BOOTSTRAP=$bootstrap
KAFKA_SECURITY=$SECURITY
EOF
  mv "$RUN_DIR/kafka.state.tmp" "$RUN_DIR/kafka.state"
  {
    echo "VIGIL_KAFKA_BOOTSTRAP=$bootstrap"
    if [[ -n "$SECURITY" ]]; then
      echo "VIGIL_KAFKA_SECURITY=$SECURITY"
      echo "VIGIL_KAFKA_SECURE_BOOTSTRAP=$sbootstrap"
      echo "VIGIL_KAFKA_CERTS=$certs"
      if [[ "$SECURITY" == sasl_ssl ]]; then
        echo "VIGIL_KAFKA_SASL_USERNAME=vigil"
        echo "VIGIL_KAFKA_SASL_PASSWORD_FILE=$secrets/vigil.password"
      else
        echo "VIGIL_KAFKA_PRINCIPAL=User:vigil-worker"
      fi
    fi
  } >"$RUN_DIR/kafka.env.tmp"
  mv "$RUN_DIR/kafka.env.tmp" "$RUN_DIR/kafka.env"
}

# Launch node I's JVM in the background; remembers how long server.log was
# so readiness only looks at what this run logs.
launch_node() {
  local i="$1" dir
  dir="$(node_dir "$i")"
  touch "$dir/server.log"
  LOG_OFFSET[i]=$(($(stat -c %s "$dir/server.log") + 1))
  echo "----- start $(date '+%F %T') -----" >>"$dir/stdout.log"
  # SerialGC and a small heap: several brokers and the tests share 2 cores.
  local pid heap extra
  read -r -a heap <<<"${VIGIL_KAFKA_HEAP:--Xmx512m -Xms256m}"
  read -r -a extra <<<"${VIGIL_KAFKA_JAVA_OPTS:-}"
  # Run from the node folder so a JVM crash report (hs_err_pid*.log) lands there.
  pid=$(cd "$dir" && spawn "$dir/stdout.log" java \
    "${heap[@]}" -XX:+UseSerialGC \
    -XX:MaxInlineLevel=15 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir" \
    -Dlog4j.configuration="file:$RUN_DIR/kafka-log4j.properties" \
    "${extra[@]}" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$(node_conf "$i")")
  echo "$pid" >"$(node_pid "$i")"
}

# Wait until every given node accepts connections on its broker port and
# has logged "Kafka Server started" (the broker is unfenced and serving).
wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT)) i pending
  while :; do
    pending=()
    for i in "$@"; do
      local pid dir
      pid="$(read_pid "$(node_pid "$i")")"; dir="$(node_dir "$i")"
      if ! pid_alive "$pid"; then
        warn "node $i (pid $pid) exited during startup; last lines of its logs:"
        tail -n 40 "$dir/server.log" "$dir/stdout.log" >&2 || true
        stop_nodes "$@" >/dev/null 2>&1 || true
        die "Kafka node $i failed to start"
      fi
      # grep reads a process substitution, not a pipe: with pipefail, tail
      # dying of SIGPIPE after grep -q's early exit would read as "no match".
      if port_open "$(port_of "$i")" &&
        grep -q "Kafka Server started" < <(tail -c "+${LOG_OFFSET[i]}" "$dir/server.log"); then
        continue
      fi
      pending+=("$i")
    done
    ((${#pending[@]})) || return 0
    if ((SECONDS >= deadline)); then
      for i in "${pending[@]}"; do
        warn "node $i not ready after ${START_TIMEOUT}s; last lines of its logs:"
        tail -n 40 "$(node_dir "$i")/server.log" "$(node_dir "$i")/stdout.log" >&2 || true
      done
      stop_nodes "$@" >/dev/null 2>&1 || true
      die "Kafka did not start within ${START_TIMEOUT}s (logs in $RUN_DIR)"
    fi
    sleep 0.25
  done
}

# Wait until the cluster's metadata lists WANT brokers (it lists unfenced
# brokers only). Until it lists all N, a topic with replication factor N
# can be refused ("larger than available brokers"): a fresh 3-node
# cluster did refuse topics for up to 30 s when only each node's "Kafka
# Server started" was awaited.
wait_unfenced() {
  local want="$1" deadline=$((SECONDS + START_TIMEOUT)) have=0
  while :; do
    have="$(java -Dlog4j.configuration="file:$RUN_DIR/kafka-tools-log4j.properties" \
      -cp "$KAFKA_LIBS/*" kafka.admin.BrokerApiVersionsCommand \
      --bootstrap-server "$KAFKA_BOOTSTRAP" 2>/dev/null | grep -c '(id: [0-9]* rack:' || true)"
    ((have >= want)) && return 0
    if ((SECONDS >= deadline)); then
      warn "only $have of $want brokers unfenced after ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
}

# Stop the given nodes (SIGTERM, then SIGKILL after 30s).
stop_nodes() {
  local i entries=()
  for i in "$@"; do
    entries+=("$(read_pid "$(node_pid "$i")"):$(node_conf "$i")")
  done
  # All nodes at once: sequential SIGTERMs would leave the last nodes
  # waiting for a controller quorum that is already gone.
  stop_pids 30 "${entries[@]}"
  for i in "$@"; do rm -f "$(node_pid "$i")"; done
}

# ---------------------------------------------------------------------------
declare -a LOG_OFFSET=()

case "$CMD" in
  start)
    need_cmd java; need_cmd python3
    RUN_DIR="$(abs_dir "$RUN_DIR")"
    t0=$SECONDS
    if [[ -f "$RUN_DIR/kafka.state" ]]; then
      # Restarting a stopped cluster: same ports, same data.
      load_state
      [[ -z "$NODES" || "$NODES" == "$KAFKA_NODES" ]] \
        || die "$RUN_DIR holds a $KAFKA_NODES-node cluster, not $NODES"
      for ((i = 1; i <= KAFKA_NODES; i++)); do
        node_running "$i" && die "Kafka node $i is already running in $RUN_DIR"
      done
      [[ -z "$SECURITY" || "$SECURITY" == "${KAFKA_SECURITY:-}" ]] \
        || die "$RUN_DIR holds a cluster with --security '${KAFKA_SECURITY:-}', not $SECURITY"
      [[ -d "$KAFKA_LIBS" ]] || die "Kafka jars not found in $KAFKA_LIBS; run ops/setup.sh"
      log "restarting $KAFKA_NODES-node cluster in $RUN_DIR"
    else
      libs="$(vigil_kafka_libs)"
      compgen -G "$libs/kafka_2.13-*.jar" >/dev/null \
        || die "Kafka jars not found in $libs; run ops/setup.sh"
      init_cluster "${NODES:-1}" "$libs"
      load_state
    fi
    for ((i = 1; i <= KAFKA_NODES; i++)); do launch_node "$i"; done
    wait_ready $(seq 1 "$KAFKA_NODES")
    if ((KAFKA_NODES > 1)); then
      wait_unfenced "$KAFKA_NODES" || { stop_nodes $(seq 1 "$KAFKA_NODES") >/dev/null 2>&1 || true;
        die "Kafka: not every broker unfenced (logs in $RUN_DIR)"; }
    fi
    log "$KAFKA_NODES node(s) ready in $((SECONDS - t0))s; logs in $RUN_DIR/kafka-*/server.log"
    cat "$RUN_DIR/kafka.env"
    ;;

  stop)
    if [[ ! -f "$RUN_DIR/kafka.state" ]]; then
      log "no Kafka cluster in $RUN_DIR; nothing to stop"
      exit 0
    fi
    load_state
    stop_nodes $(seq 1 "$KAFKA_NODES")
    log "stopped"
    ;;

  stop-node)
    load_state; check_node_arg
    stop_nodes "$NODE"
    log "node $NODE stopped"
    ;;

  kill9-node)
    load_state; check_node_arg
    pid="$(read_pid "$(node_pid "$NODE")")"
    node_running "$NODE" || die "Kafka node $NODE is not running"
    kill -KILL "$pid"
    while pid_alive "$pid"; do sleep 0.05; done
    rm -f "$(node_pid "$NODE")"
    log "node $NODE killed (SIGKILL, pid $pid)"
    ;;

  start-node)
    need_cmd java
    load_state; check_node_arg
    node_running "$NODE" && die "Kafka node $NODE is already running"
    t0=$SECONDS
    launch_node "$NODE"
    wait_ready "$NODE"
    if ((KAFKA_NODES > 1)); then
      # Every running node, this one included, unfenced: the caller's next
      # step (another fault, a topic with RF 3) needs it listed.
      running=0
      for ((i = 1; i <= KAFKA_NODES; i++)); do node_running "$i" && running=$((running + 1)); done
      wait_unfenced "$running" || die "Kafka node $NODE: not every running broker unfenced (logs in $RUN_DIR)"
    fi
    log "node $NODE ready in $((SECONDS - t0))s on 127.0.0.1:$(port_of "$NODE")"
    ;;

  controller)
    need_cmd java
    load_state
    [[ -z "$NOT" || "$NOT" =~ ^[0-9]+$ ]] || die "--not must be a node id (got '$NOT')"
    # The quorum's LeaderId as the brokers know it. Right after the leader
    # dies they may still name it (or answer nothing) until an election
    # is won: ask again until the answer is a live, different node.
    deadline=$((SECONDS + START_TIMEOUT)) leader=""
    while :; do
      leader="$(java -Dlog4j.configuration="file:$RUN_DIR/kafka-tools-log4j.properties" \
        -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.MetadataQuorumCommand \
        --bootstrap-server "$KAFKA_BOOTSTRAP" describe --status 2>/dev/null |
        sed -n 's/^LeaderId:[[:space:]]*\([0-9][0-9]*\)$/\1/p')" || true
      if [[ -n "$leader" && "$leader" != "$NOT" && "$leader" -ge 1 && "$leader" -le "$KAFKA_NODES" ]] &&
        node_running "$leader"; then
        echo "$leader"
        exit 0
      fi
      ((SECONDS < deadline)) || die "no active controller${NOT:+ other than node $NOT} within ${START_TIMEOUT}s (last answer: '${leader:-none}')"
      sleep 0.5
    done
    ;;

  status)
    load_state
    rc=0
    for ((i = 1; i <= KAFKA_NODES; i++)); do
      if node_running "$i"; then
        echo "node $i: running (pid $(read_pid "$(node_pid "$i")"), 127.0.0.1:$(port_of "$i"))"
      else
        echo "node $i: stopped"; rc=3
      fi
    done
    exit $rc
    ;;

  topics)
    need_cmd java
    load_state
    tool=(java -Dlog4j.configuration="file:$RUN_DIR/kafka-tools-log4j.properties"
      -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand
      --bootstrap-server "$KAFKA_BOOTSTRAP")
    case "${ARGS[0]:-}" in
      create)
        [[ ${#ARGS[@]} -eq 4 ]] || die "usage: kafka.sh topics --run-dir DIR create NAME PARTITIONS RF"
        exec "${tool[@]}" --create --topic "${ARGS[1]}" \
          --partitions "${ARGS[2]}" --replication-factor "${ARGS[3]}" ;;
      list) exec "${tool[@]}" --list ;;
      describe)
        exec "${tool[@]}" --describe ${ARGS[1]:+--topic "${ARGS[1]}"} ;;
      *) die "usage: kafka.sh topics --run-dir DIR create NAME PARTITIONS RF | list | describe [NAME]" ;;
    esac
    ;;

  acls)
    need_cmd java
    load_state
    exec java -Dlog4j.configuration="file:$RUN_DIR/kafka-tools-log4j.properties" \
      -cp "$KAFKA_LIBS/*" kafka.admin.AclCommand --bootstrap-server "$KAFKA_BOOTSTRAP" "${ARGS[@]}"
    ;;

  *) usage ;;
esac
