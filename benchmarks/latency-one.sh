#!/usr/bin/env bash
# One vigil-worker, one paced latency run, and where its batches spend
# their time: the quick way to see what a change does to event-to-trigger
# latency, beside run.sh's side-by-side table (which this does not replace).
#
#   VIGIL_STACK_ENV=<stack.env> benchmarks/latency-one.sh [--build-dir DIR]
#       [--rate R (2000)] [--seconds S (8)] [--mode at_least_once|exactly_once]
#       [--partitions P (4)] [-- --set name=value ...]
#
# Needs a running stack (ops/stack/up.sh --run-dir DIR; its stack.env) and a
# Release build with vigil-worker, vigilctl and vg_bench_e2e (run.sh makes
# build-bench/). Creates fresh topics, starts the worker, runs
# `vg_bench_e2e latency` (3 s warm-up, then S seconds sampled; the same
# instrument as run.sh), and prints its LAT line and, from the worker's
# /metrics before and after, the batches, their mean size and the mean
# time per batch of each stage. Stops the worker; leaves the topics.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$ROOT/build-bench"; RATE=2000; SECS=8; MODE=at_least_once; PARTS=4; EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) B="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --seconds) SECS="$2"; shift 2 ;;
    --mode) MODE="$2"; shift 2 ;;
    --partitions) PARTS="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) sed -n '6,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
[[ -n "${VIGIL_STACK_ENV:-}" && -f "$VIGIL_STACK_ENV" ]] || { echo "latency-one: set VIGIL_STACK_ENV to a stack.env" >&2; exit 2; }
# shellcheck source=/dev/null
source "$VIGIL_STACK_ENV"
RH=${VIGIL_REDIS_ADDR%:*}; RP=${VIGIL_REDIS_ADDR#*:}
T="lat1-$(date +%s)-$RANDOM"; WORK="$(mktemp -d)"
"$B/vigilctl" --set kafka.bootstrap.servers="$VIGIL_KAFKA_BOOTSTRAP" --set topic.events="$T.ev" \
  --set topic.triggers="$T.tr" --set topic.dead_letter="$T.dl" topics --partitions "$PARTS" \
  >"$WORK/topics.out" 2>&1 || { cat "$WORK/topics.out" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B/vigil-worker" --set kafka.bootstrap.servers="$VIGIL_KAFKA_BOOTSTRAP" --set topic.events="$T.ev" \
  --set topic.triggers="$T.tr" --set topic.dead_letter="$T.dl" --set redis.host="$RH" \
  --set redis.port="$RP" --set group.id="$T" --set redis.key_prefix="$T" --set worker.id="$T" \
  --set log.level=warn --set http.port="$PORT" --set delivery.mode="$MODE" "${EXTRA[@]}" \
  2>"$WORK/worker.err" &
W=$!
trap 'kill $W 2>/dev/null || true; rm -rf "$WORK"' EXIT
until curl -sf "localhost:$PORT/readyz" >/dev/null; do
  kill -0 $W 2>/dev/null || { tail -5 "$WORK/worker.err" >&2; exit 1; }
  sleep 0.1
done
mkfifo "$WORK/in"
"$B/benchmarks/vg_bench_e2e" latency --bootstrap "$VIGIL_KAFKA_BOOTSTRAP" --events-topic "$T.ev" \
  --triggers-topic "$T.tr" --rate "$RATE" --events $((RATE * (SECS + 3))) --warmup-ms 3000 \
  --seed 7 --customers 10000 <"$WORK/in" >"$WORK/lat.out" 2>"$WORK/lat.err" &
L=$!
exec 7>"$WORK/in"
until grep -q READY "$WORK/lat.out"; do sleep 0.1; done
curl -s "localhost:$PORT/metrics" >"$WORK/m0"
echo GO >&7
until grep -q PRODUCED "$WORK/lat.out"; do sleep 0.2; done
curl -s "localhost:$PORT/metrics" >"$WORK/m1"
echo DONE >&7
exec 7>&-
wait $L || true
grep '^LAT' "$WORK/lat.out" || { tail -3 "$WORK/lat.err" >&2; exit 1; }
grep 'worst ms per second' "$WORK/lat.err" || true
python3 - "$WORK/m0" "$WORK/m1" <<'PY'
import re, sys
def rd(f):
    d = {}
    for l in open(f):
        m = re.match(r'(\S+?)(\{[^}]*\})?\s+(\S+)$', l.strip())
        if m and not l.startswith('#'):
            d[m.group(1) + (m.group(2) or '')] = float(m.group(3))
    return d
a, b = rd(sys.argv[1]), rd(sys.argv[2])
dd = lambda k: b.get(k, 0) - a.get(k, 0)
nb = dd('vigil_batches_total') or 1
out = 'batches %d, mean size %.1f; ms per batch:' % (nb, dd('vigil_batch_size_sum') / nb)
for st in ('decode', 'redis_load', 'score', 'redis_store', 'commit'):
    out += ' %s %.3f' % (st, dd('vigil_stage_duration_seconds_sum{stage="%s"}' % st) / nb * 1000)
nt = dd('vigil_transactions_total{outcome="committed"}')
if nt:
    out += '; %d transactions, %.1f ms of commit stage each' % (
        nt, dd('vigil_stage_duration_seconds_sum{stage="commit"}') / nt * 1000)
print(out)
PY
