#!/usr/bin/env bash
# The long chaos suite (issue 4): at least 200,000 generated events per
# scenario against the real servers, each scenario in both delivery modes,
# one at a time. ctest runs the short version (label "chaos").
#
#   tests/chaos/run-long.sh [--build DIR] [--events N] [--rate N] [--seed N]
#                           [SCENARIO[.MODE] ...]
#
#   --build DIR   a configured build tree (default: build/; built here first)
#   --events N    events per run (default 200000)
#   --rate N      events per second (default 2000: 100 s of traffic)
#   --seed N      fault schedule and traffic seed (default 1)
#   SCENARIO      kill9, scale, redis, broker, outage, broker9, controller,
#                 quorum (default: all but outage), optionally with
#                 .exactly_once or .at_least_once (default: both)
#
# Environment: VIGIL_WORKER_BIN runs that worker binary instead of the
# build's; VIGIL_CHAOS_OUT is where outputs go (default run/chaos-long).
#
# Each run prints its counts and one RESULT line; logs of a failed run stay
# in run/chaos-long/<scenario>-<mode>/. Exit status: 0 when every run
# passed, 1 if one failed, 77 if the machine cannot run them (no Java,
# redis-server or Kafka jars: run ops/setup.sh).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$REPO/build" EVENTS=200000 RATE=2000 SEED=1 SEL=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build)  BUILD="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --rate)   RATE="$2"; shift 2 ;;
    --seed)   SEED="$2"; shift 2 ;;
    -h|--help) sed -n '5,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "run-long.sh: unknown option $1" >&2; exit 2 ;;
    *) SEL+=("$1"); shift ;;
  esac
done
((${#SEL[@]})) || SEL=(kill9 scale redis broker broker9 controller quorum)

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
cmake --build "$BUILD" -j"$(nproc)" --target vigil-worker chaos >/dev/null || exit 1
CHAOS="$(find "$BUILD" -type f -name chaos -perm -u+x | head -n1)"
[[ -x "$CHAOS" ]] || { echo "run-long.sh: no chaos binary under $BUILD" >&2; exit 1; }
# VIGIL_WORKER_BIN may name another worker binary (a candidate fix).
export VIGIL_WORKER_BIN="${VIGIL_WORKER_BIN:-$BUILD/vigil-worker}" VIGIL_REPO="$REPO"

RUNS=()
for s in "${SEL[@]}"; do
  case "$s" in
    *.*) RUNS+=("$s") ;;
    *) RUNS+=("$s.exactly_once" "$s.at_least_once") ;;
  esac
done

OUT="${VIGIL_CHAOS_OUT:-$REPO/run/chaos-long}"
mkdir -p "$OUT"
failed=0 skipped=0 results=()
for r in "${RUNS[@]}"; do
  sc="${r%%.*}" mode="${r#*.}"
  echo "=== chaos $sc $mode: $EVENTS events at $RATE/s, seed $SEED"
  start=$SECONDS
  "$CHAOS" "$sc" "$mode" "$EVENTS" --rate "$RATE" --seed "$SEED" \
    --run-dir "$OUT/$sc-$mode" | tee "$OUT/$sc-$mode.out"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) ;;
    77) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
  results+=("rc=$rc $((SECONDS - start))s $(grep -h '^RESULT' "$OUT/$sc-$mode.out" || echo "RESULT scenario=$sc mode=$mode (none)")")
done

echo
echo "=== summary (outputs in $OUT)"
printf '%s\n' "${results[@]}"
((failed)) && exit 1
((skipped == ${#RUNS[@]})) && exit 77
exit 0
