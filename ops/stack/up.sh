#!/usr/bin/env bash
# Start a local stack: one redis-server and a Kafka cluster (KRaft), each on
# free loopback ports, all files in one run folder.
#
#   up.sh [--run-dir DIR] [--kafka-nodes 0|1|3] [--aof MODE] [--fresh|--reuse]
#
#   --run-dir DIR     default: ./run/stack-<timestamp>-<pid> (under the cwd)
#   --kafka-nodes N   1 (default), 3 for failover tests, 0 for Redis only
#   --kafka-security M  sasl_ssl or mtls: a secured listener too (kafka.sh)
#   --aof MODE        redis appendfsync: always|everysec|no, or off (default)
#   --fresh           if a stack still runs in DIR, stop it (by pid) first
#   --reuse           restart a stopped stack in DIR with its ports and data
#
# The stack is new and empty unless --reuse: a stopped stack left in DIR is
# deleted first. A stack still running in DIR is an error without --fresh
# (it may be someone's), so ctest fixtures should pass --fresh: an
# interrupted run can leave its servers up.
#
# Writes DIR/stack.env (sourceable, KEY=VALUE lines):
#   VIGIL_STACK_DIR, VIGIL_REDIS_ADDR, VIGIL_KAFKA_BOOTSTRAP (if Kafka runs),
#   and with --kafka-security the secured listener's (kafka.sh, --security)
# Stop with: ops/stack/down.sh --run-dir DIR
set -euo pipefail

VIGIL_LOG_TAG=up
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

usage() { sed -n '5,12s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }

RUN_DIR="" NODES="" AOF="" FRESH=0 REUSE=0 SECURITY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run-dir)     [[ $# -ge 2 ]] || usage; RUN_DIR="$2"; shift 2 ;;
    --kafka-nodes) [[ $# -ge 2 ]] || usage; NODES="$2"; shift 2 ;;
    --aof)         [[ $# -ge 2 ]] || usage; AOF="$2"; shift 2 ;;
    --kafka-security) [[ $# -ge 2 ]] || usage; SECURITY="$2"; shift 2 ;;
    --fresh)       FRESH=1; shift ;;
    --reuse)       REUSE=1; shift ;;
    -h|--help)     usage ;;
    *) die "unexpected argument '$1'" ;;
  esac
done
[[ -z "$NODES" || "$NODES" =~ ^[013]$ ]] || die "--kafka-nodes must be 0, 1 or 3 (got '$NODES')"
((FRESH + REUSE < 2)) || die "--fresh and --reuse exclude each other"
RUN_DIR="${RUN_DIR:-$PWD/run/stack-$(date +%Y%m%d-%H%M%S)-$$}"

# True if any server recorded in DIR is still alive (and still ours).
stack_running() {
  local f n
  shopt -s nullglob
  for f in "$1"/kafka-*.pid; do
    n="${f##*/kafka-}"; n="${n%.pid}"
    pid_is_ours "$(read_pid "$f")" "$1/kafka-$n/server.properties" && return 0
  done
  for f in "$1"/redis*.pid; do
    pid_is_ours "$(read_pid "$f")" "${f%.pid}" && return 0
  done
  return 1
}

if [[ -f "$RUN_DIR/stack.env" || -f "$RUN_DIR/kafka.state" ]] ||
  compgen -G "$RUN_DIR/redis*.conf" >/dev/null; then
  if stack_running "$RUN_DIR"; then
    ((FRESH)) || die "a stack is already running in $RUN_DIR; stop it with down.sh --run-dir $RUN_DIR, or pass --fresh"
    bash "$HERE/down.sh" --run-dir "$RUN_DIR" >/dev/null
  fi
  ((REUSE)) || remove_run_dir "$RUN_DIR"
fi
RUN_DIR="$(abs_dir "$RUN_DIR")"
t0=$SECONDS
if [[ -z "$NODES" ]]; then
  # A reused stack keeps its cluster size unless told otherwise.
  NODES=1
  if [[ -f "$RUN_DIR/kafka.state" ]]; then
    NODES="$(sed -n 's/^KAFKA_NODES=//p' "$RUN_DIR/kafka.state")"
  fi
fi

bash "$HERE/redis.sh" start --run-dir "$RUN_DIR" ${AOF:+--aof "$AOF"} >/dev/null
if ((NODES > 0)); then
  # A half-started stack is worse than none: take Redis down again.
  if ! bash "$HERE/kafka.sh" start --run-dir "$RUN_DIR" --nodes "$NODES" \
    ${SECURITY:+--security "$SECURITY"} >/dev/null; then
    bash "$HERE/redis.sh" stop --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
    die "Kafka failed to start (see above; logs under $RUN_DIR)"
  fi
fi

{
  # %q leaves ordinary paths bare and escapes odd ones, so the file stays
  # both sourceable and trivially parseable.
  printf 'VIGIL_STACK_DIR=%q\n' "$RUN_DIR"
  cat "$RUN_DIR/redis.env"
  ((NODES == 0)) || cat "$RUN_DIR/kafka.env"
} >"$RUN_DIR/stack.env.tmp"
mv "$RUN_DIR/stack.env.tmp" "$RUN_DIR/stack.env"

log "stack up in $((SECONDS - t0))s; stop it with: $HERE/down.sh --run-dir $RUN_DIR"
cat "$RUN_DIR/stack.env"
