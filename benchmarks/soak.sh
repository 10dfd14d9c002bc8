#!/usr/bin/env bash
# The soak (issue 10, section 4): one vigil-worker in at_least_once under a
# paced stream of the generator's mix, sampled every 10 s (lag, worker RSS,
# p99 of event-to-trigger latency, Redis memory), drawn as PNG timelines,
# and the trigger set checked against the oracle at the end. Not in CI.
#
#   benchmarks/soak.sh [--minutes M] [--rate R | --rate N%] [--customers C]
#                      [--partitions P] [--seed S] [--out DIR] [--build-dir DIR]
#                      [--keep]
#
#   --minutes M     of paced production (60); then the drain and the audit
#   --rate R        events/s (default 8000, see below), or N% of the
#                   at_least_once maximum measured first (one worker reading
#                   300,000 pre-produced events whole, as run.sh's rounds)
#   --customers C   population of the generator (200000, see below)
#   --partitions P  of the events and triggers topics (4, as run.sh)
#   --seed S        of the generator (7)
#   --out DIR       results (default: DIR/soak/<UTC time>; the link
#                   DIR/soak/latest points at the newest)
#   --build-dir DIR Release build (default: build-bench under the repo)
#   --keep          leave the soak's topics and Redis keys
#   --no-audit      skip the audit (to try rates quickly)
#
# What runs: vg_bench_e2e soak produces the generator's default mix
# (vg_gen_conf_init: trouble rate 0.05, malformed 0.001, 20 ms of event
# time per record) paced at the rate, and times each trigger with a
# read_committed reader; harness/soak.py starts vigil-worker, samples on
# each 10 s window, waits until the worker has committed every event, then
# runs vg_bench_e2e audit (the events topic through vg_oracle, against the
# trigger ids read back) and draws soak.png (harness/soak_charts.py).
# harness/README.md ("Soak") says what each figure is.
#
# The default rate, 8000 events/s. The at_least_once maximum measured by
# run.sh (a pre-produced topic read whole) is ~24-30k events/s, but on this
# 2-core machine the paced producer, the trigger reader, the broker, Redis
# and the worker share the cores, so 80% of it is not sustainable paced.
# Short runs chose it (2 minutes each, 200,000 customers, --no-audit, load
# average 5-7 with other work on the machine; figures per 10 s window):
#   events/s  lag (events)                 p99 (ms)     worker CPU
#   8000      1124 at 10 s, then 56-683    103-314      26-33%
#   10000     46-625                       86-758       27-35%
#   12000     252-16334, 16k at the end    320-1808     19-34%
# At 12000 the backlog came and went and was growing at the end (the
# worker is not CPU-bound there: the broker and the other work hold the
# cores). 8000 is 80% of the highest rate that kept the lag flat, 10000:
# the issue's "80% of the maximum" with the maximum a paced one. --rate
# 80% asks for 80% of the pre-produced maximum, for a quieter machine.
#
# The default population, 200,000 customers: enough that the run keeps
# meeting new customers for its first minutes (Redis memory grows, then
# plateaus) and the states do not all sit in the worker's cache. The
# audit's oracle holds every customer's state in memory (~16 KB resident
# each: ~3.3 GB at 200,000), which is what bounds it here.
#
# Event time. The generator advances event time 20 ms per record, so at
# 8000 events/s it runs ~160x the wall clock and is days ahead of the
# records' CreateTime within the hour; the worker runs with
# event.max_future_ms at its maximum (a year) so that the stream is not
# dead-lettered as "from the future". Making event time follow the wall
# clock instead (more customers, less event time per record) puts minutes
# of checkouts in the 10-minute absence window: the oracle scans its
# partition's pending absences at every record, and the audit of an hour
# would take hours.
#
# The stack: with VIGIL_STACK_ENV set (a stack.env of ops/stack/up.sh) that
# one; otherwise this script starts its own (ops/stack/up.sh --run-dir
# BUILD/soak-stack --fresh) and stops it with ops/stack/down.sh on exit. An
# hour at 8000 events/s keeps ~29M events (~7 GB) in the broker's log.
#
# Exit status: 0 when the run completed and no trigger is missing or extra
# against the oracle; 1 otherwise. "Flat" is printed, not an exit status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"
OUT=""
MINUTES=60
RATE=8000
CUSTOMERS=200000
HARGS=()
usage() { sed -n '7,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes)     [[ $# -ge 2 ]] || usage; MINUTES="$2"; shift 2 ;;
    --rate)        [[ $# -ge 2 ]] || usage; RATE="$2"; shift 2 ;;
    --customers)   [[ $# -ge 2 ]] || usage; CUSTOMERS="$2"; shift 2 ;;
    --partitions|--seed)
                   [[ $# -ge 2 ]] || usage; HARGS+=("$1" "$2"); shift 2 ;;
    --keep|--no-audit) HARGS+=("$1"); shift ;;
    --build-dir)   [[ $# -ge 2 ]] || usage; BUILD="$2"; shift 2 ;;
    --out)         [[ $# -ge 2 ]] || usage; OUT="$2"; shift 2 ;;
    -h|--help)     usage ;;
    *)             echo "soak.sh: unexpected argument '$1'" >&2; usage ;;
  esac
done
[[ "$RATE" =~ ^[0-9]+(\.[0-9]+)?%?$ ]] || { echo "soak.sh: --rate: events/s or N%, got '$RATE'" >&2; exit 2; }
BUILD="$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)"
LOGS="$BUILD/bench-logs"
PY="${VIGIL_PY:-${VIGIL_CACHE:-$HOME/.cache/vigil}/venv/bin/python}"

# shellcheck source-path=SCRIPTDIR source=harness/lib.sh
source "$ROOT/benchmarks/harness/lib.sh"
bench_build soak-build.log vg_bench_e2e vigil-worker vigilctl
bench_check_py
bench_out soak
bench_stack soak-stack

echo "# results in $OUT" >&2
rc=0
"$PY" "$ROOT/benchmarks/harness/soak.py" --stack-env "$VIGIL_STACK_ENV" --build "$BUILD" \
  --out "$OUT" --minutes "$MINUTES" --rate "$RATE" --customers "$CUSTOMERS" \
  ${HARGS[@]+"${HARGS[@]}"} || rc=$?
bench_stop_stack
exit "$rc"
