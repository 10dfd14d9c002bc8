#!/usr/bin/env bash
# Redis memory per customer: one vigil-worker at_least_once consumes a
# generated backlog, then MEMORY USAGE is sampled over its state keys and
# the states' bytes are broken down by field (harness/redis_memory.py).
# It also prints the worker's memory high-water mark (VmHWM) through that
# backlog: the worker's memory must not grow with the number of customers.
#
#   bash benchmarks/redis-memory.sh [--events N (150000)] [--customers C (10000)]
#       [--partitions P (4)] [--sample K (500)] [-- --set name=value ...]
#
# Starts its own stack (ops/stack/up.sh) unless VIGIL_STACK_ENV names one,
# and a Release build in build-bench/. Prints the MEM line (keys, mean
# MEMORY USAGE, mean state bytes, Redis encoding) and the FIELD lines.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"; LOGS="$BUILD/logs"; PY="$HOME/.cache/vigil/venv/bin/python"
EVENTS=150000; CUSTOMERS=10000; PARTS=4; SAMPLE=500; EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --customers) CUSTOMERS="$2"; shift 2 ;;
    --partitions) PARTS="$2"; shift 2 ;;
    --sample) SAMPLE="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) sed -n '6,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
# shellcheck source=harness/lib.sh
source "$ROOT/benchmarks/harness/lib.sh"
"$PY" -c 'import redis, grpc_tools' 2>/dev/null ||
  { echo "# the venv at $PY lacks redis or grpcio-tools (run: bash ops/setup.sh)" >&2; exit 1; }
bench_build build-memory.log vigil-worker vigilctl
bench_stack stack-memory
# shellcheck source=/dev/null
source "$VIGIL_STACK_ENV"
RH=${VIGIL_REDIS_ADDR%:*}; RP=${VIGIL_REDIS_ADDR#*:}
# Key lengths count: on its own stack the worker runs with the default
# names (key prefix "vigil", topic "vigil.events"); on a shared one, with
# unique names of the same lengths.
if [[ -n "$STACK_DIR" ]]; then
  P=vigil; EV=vigil.events; T=vigil
else
  P=$(printf 'm%04d' $((RANDOM % 10000))); EV="$P.events"; T="$P"
fi
WORK="$(mktemp -d)"
K=(--set kafka.bootstrap.servers="$VIGIL_KAFKA_BOOTSTRAP" --set topic.events="$EV"
   --set topic.triggers="$T.tr" --set topic.dead_letter="$T.dl")
"$BUILD/vigilctl" "${K[@]}" topics --partitions "$PARTS" >"$WORK/topics.out" 2>&1 ||
  { cat "$WORK/topics.out" >&2; exit 1; }
"$BUILD/vigilctl" "${K[@]}" gen --events "$EVENTS" --customers "$CUSTOMERS" --seed 7 \
  >"$WORK/gen.out" 2>&1 || { cat "$WORK/gen.out" >&2; exit 1; }
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/vigil-worker" "${K[@]}" --set redis.host="$RH" --set redis.port="$RP" --set group.id="$T" \
  --set redis.key_prefix="$P" --set worker.id="$T" --set log.level=warn --set http.port="$PORT" \
  --set delivery.mode=at_least_once "${EXTRA[@]}" 2>"$WORK/worker.err" &
W=$!
trap 'kill $W 2>/dev/null || true; rm -rf "$WORK"; bench_stop_stack' EXIT
# Done when every generated record was consumed (malformed ones included).
until curl -s "localhost:$PORT/metrics" |
      awk -v n="$EVENTS" '/^vigil_events_consumed_total /{ok = $2 >= n} END{exit !ok}'; do
  kill -0 $W 2>/dev/null || { tail -5 "$WORK/worker.err" >&2; exit 1; }
  sleep 0.5
done
awk '/^VmHWM/{printf "WORKER vm_hwm_mb=%.1f", $2 / 1024}' "/proc/$W/status"
echo " customers=$CUSTOMERS events=$EVENTS"
kill $W; wait $W || true
"$PY" "$ROOT/benchmarks/harness/redis_memory.py" "$RH" "$RP" "$P" --sample "$SAMPLE"
