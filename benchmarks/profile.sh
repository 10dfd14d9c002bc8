#!/usr/bin/env bash
# Where a worker's CPU goes: one vigil-worker works through a generated
# backlog under `perf record` (DWARF call graphs), then the report by
# library and thread, by function (self) and by caller (children), and the
# worker's CPU per event from /proc.
#
#   bash benchmarks/profile.sh [--events N (300000)] [--customers C (10000)]
#       [--mode at_least_once|exactly_once] [--out DIR] [-- --set name=value ...]
#
# Builds build-prof/ (Release with -g -fno-omit-frame-pointer) and starts
# its own stack unless VIGIL_STACK_ENV names one. Writes DIR (default
# build-prof/profile/<UTC time>): by-dso.txt, self.txt, children.txt,
# summary.txt. Needs perf (linux-perf) and kernel.perf_event_paranoid <= 2.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-prof"; LOGS="$BUILD/logs"; PY="$HOME/.cache/vigil/venv/bin/python"
EVENTS=300000; CUSTOMERS=10000; MODE=at_least_once; OUT=""; EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --customers) CUSTOMERS="$2"; shift 2 ;;
    --mode) MODE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) sed -n '7,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "# no perf (apt-get install linux-perf)" >&2; exit 1; }
# shellcheck source=harness/lib.sh
source "$ROOT/benchmarks/harness/lib.sh"
mkdir -p "$LOGS"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF -DVIGIL_BENCHMARKS=OFF \
  -DCMAKE_C_FLAGS="-g -fno-omit-frame-pointer" >"$LOGS/build.log" 2>&1 &&
  cmake --build "$BUILD" -j"$(nproc)" --target vigil-worker vigilctl >>"$LOGS/build.log" 2>&1 ||
  { tail -20 "$LOGS/build.log" >&2; exit 1; }
bench_out profile
bench_stack stack-profile
# shellcheck source=/dev/null
source "$VIGIL_STACK_ENV"
RH=${VIGIL_REDIS_ADDR%:*}; RP=${VIGIL_REDIS_ADDR#*:}
T="prof-$(date +%s)-$RANDOM"; WORK="$(mktemp -d)"
K=(--set kafka.bootstrap.servers="$VIGIL_KAFKA_BOOTSTRAP" --set topic.events="$T.ev"
   --set topic.triggers="$T.tr" --set topic.dead_letter="$T.dl")
"$BUILD/vigilctl" "${K[@]}" topics --partitions 4 >"$WORK/topics.out" 2>&1 ||
  { cat "$WORK/topics.out" >&2; exit 1; }
"$BUILD/vigilctl" "${K[@]}" gen --events "$EVENTS" --customers "$CUSTOMERS" --seed 7 \
  >"$WORK/gen.out" 2>&1 || { cat "$WORK/gen.out" >&2; exit 1; }
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/vigil-worker" "${K[@]}" --set redis.host="$RH" --set redis.port="$RP" --set group.id="$T" \
  --set redis.key_prefix="$T" --set worker.id="$T" --set log.level=warn --set http.port="$PORT" \
  --set delivery.mode="$MODE" "${EXTRA[@]}" 2>"$WORK/worker.err" &
W=$!
perf record -q -F 499 --call-graph dwarf,8192 -p $W -o "$WORK/perf.data" 2>"$WORK/perf.err" &
R=$!
trap 'kill $W $R 2>/dev/null || true; [[ -n "${VIGIL_PROFILE_KEEP:-}" ]] || rm -rf "$WORK"; bench_stop_stack' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$W/stat"; }
consumed() { curl -s "localhost:$PORT/metrics" | awk '/^vigil_events_consumed_total /{print $2}'; }
until [[ -n "$(consumed)" ]]; do
  kill -0 $W 2>/dev/null || { tail -5 "$WORK/worker.err" >&2; exit 1; }
  sleep 0.2
done
C0=$(ticks); N0=$(consumed); S0=$(date +%s.%N)
until awk -v c="$(consumed)" -v n="$EVENTS" 'BEGIN{exit !(c >= n)}'; do
  kill -0 $W 2>/dev/null || { tail -5 "$WORK/worker.err" >&2; exit 1; }
  sleep 0.5
done
C1=$(ticks); N1=$(consumed); S1=$(date +%s.%N)
curl -s "localhost:$PORT/metrics" >"$WORK/metrics.txt"
kill -INT $R; wait $R || true
kill $W; wait $W || true
HZ=$(getconf CLK_TCK)
awk -v c0="$C0" -v c1="$C1" -v n0="$N0" -v n1="$N1" -v s0="$S0" -v s1="$S1" -v hz="$HZ" \
  -v rev="$(git -C "$ROOT" rev-parse --short HEAD)" -v mode="$MODE" -v cust="$CUSTOMERS" 'BEGIN{
  n = n1 - n0; printf "commit %s, %s, %d events over %d customers\n", rev, mode, n, cust;
  printf "events/s %.0f; worker CPU %.2f us/event (%.2f s of CPU)\n",
         n / (s1 - s0), (c1 - c0) / hz / n * 1e6, (c1 - c0) / hz }' | tee "$OUT/summary.txt"
awk '/^vigil_batches_total /{b=$2} /^vigil_batch_size_sum /{s=$2}
     /^vigil_transactions_total\{outcome="committed"\}/{t=$2}
     END{printf "batches %d (mean size %.0f), transactions committed %d\n", b, b ? s / b : 0, t}' \
  "$WORK/metrics.txt" | tee -a "$OUT/summary.txt"
perf report -i "$WORK/perf.data" --no-children --sort dso,comm --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | awk 'NR <= 40' >"$OUT/by-dso.txt"
perf report -i "$WORK/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | awk 'NR <= 80' >"$OUT/self.txt"
perf report -i "$WORK/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | awk 'NR <= 120' >"$OUT/children.txt"
echo "profile: $OUT"
head -12 "$OUT/by-dso.txt"
