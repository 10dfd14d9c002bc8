#!/usr/bin/env bash
# Vigil side by side with its peers (issue 10), on one stack and one input:
# the I/O passthrough floor, vigil-worker in at_least_once and exactly_once,
# the Python peer and the Kafka Streams peer in both modes, interleaved over
# rounds; then event-to-trigger latency at paced rates. Prints one table
# (and the issue's targets against it); writes CSV, JSON and PNG charts.
#
#   benchmarks/run.sh [--quick] [--events N] [--rounds R] [--rates LIST]
#                     [--contestants LIST] [--build-dir DIR] [--out DIR]
#                     [--lat-seconds S] [--lat-warmup-ms W] [--keep-topics] [--score]
#
#   --quick           a smoke run (~5 min): --events 100000 --rounds 1
#                     --rates 2000,5000 --lat-seconds 5 --lat-warmup-ms 5000
#                     (options after it still apply)
#   --events N        input per round (200000); vigilctl gen --seed 7
#                     --customers 10000 to a fresh 4-partition topic per round
#   --rounds R        rounds of throughput runs (3); medians are reported
#   --rates LIST      latency rates, events/s or N% of each one's own maximum
#                     (default 1000,2000,5000,20000,80%; "" for none)
#   --contestants L   of passthrough,vigil,python,kstreams (default: all)
#   --lat-seconds S   sampled seconds per latency run (10)
#   --lat-warmup-ms W paced but not sampled, first (15000: a JVM's start)
#   --build-dir DIR   Release build (default: build-bench under the repo)
#   --out DIR         results (default: DIR/sidebyside/<UTC time>; the
#                     link DIR/sidebyside/latest points at the newest)
#   --keep-topics     leave the benchmark's topics on the broker
#   --score           run the scoring micro-benchmark (vg_bench_score) instead
#
# The stack: with VIGIL_STACK_ENV set (a stack.env of ops/stack/up.sh) that
# one; otherwise this script starts its own (ops/stack/up.sh --run-dir
# DIR/stack --fresh) and stops it with ops/stack/down.sh on exit. Needs
# ops/setup.sh run once (Kafka jars, the venv with confluent-kafka, redis,
# matplotlib; Maven and a JDK for the Kafka Streams peer, which is skipped
# with the reason when its jar cannot be built). Benchmarks/harness/README.md
# says what each figure is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"
OUT=""
SCORE=0
HARGS=()
usage() { sed -n '7,27s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick)       HARGS+=(--events 100000 --rounds 1 --rates 2000,5000 --lat-seconds 5 --lat-warmup-ms 5000); shift ;;
    --events|--rounds|--rates|--contestants|--lat-seconds|--lat-warmup-ms)
                   [[ $# -ge 2 ]] || usage; HARGS+=("$1" "$2"); shift 2 ;;
    --keep-topics) HARGS+=("$1"); shift ;;
    --build-dir)   [[ $# -ge 2 ]] || usage; BUILD="$2"; shift 2 ;;
    --out)         [[ $# -ge 2 ]] || usage; OUT="$2"; shift 2 ;;
    --score)       SCORE=1; shift ;;
    -h|--help)     usage ;;
    *)             echo "run.sh: unexpected argument '$1'" >&2; usage ;;
  esac
done
BUILD="$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)"
LOGS="$BUILD/bench-logs"
PY="${VIGIL_PY:-${VIGIL_CACHE:-$HOME/.cache/vigil}/venv/bin/python}"

# shellcheck source-path=SCRIPTDIR source=harness/lib.sh
source "$ROOT/benchmarks/harness/lib.sh"
targets=(vg_bench_score)
((SCORE)) || targets=(vg_bench_e2e vigil-worker vigilctl)
bench_build build.log "${targets[@]}"

if ((SCORE)); then
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BUILD/benchmarks/vg_bench_score" 2>"$LOGS/score.err" | grep '^BENCH '
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

bench_check_py
bench_out sidebyside
bench_stack stack

echo "# results in $OUT" >&2
rc=0
"$PY" "$ROOT/benchmarks/harness/sidebyside.py" --stack-env "$VIGIL_STACK_ENV" --build "$BUILD" \
  --out "$OUT" ${HARGS[@]+"${HARGS[@]}"} || rc=$?
bench_stop_stack
exit "$rc"
