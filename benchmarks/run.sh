#!/usr/bin/env bash
# Build the benchmarks in a Release build of their own and run them, one at
# a time (STYLE.md rule 12). Each benchmark prints one machine-readable
# line (BENCH ...); this script prints the machine, then those lines.
#
#   benchmarks/run.sh [--only score|e2e] [--build-dir DIR] [-- E2E_ARGS...]
#
#   --only NAME      run one benchmark (default: score, then e2e)
#   --build-dir DIR  default: build-bench (under the repository)
#   E2E_ARGS         passed to vg_bench_e2e, e.g. -- --events 100000
#
# vg_bench_e2e needs Apache Kafka and redis-server. With VIGIL_STACK_ENV set
# (a stack.env written by ops/stack/up.sh) it uses that stack; otherwise
# this script starts its own with ops/stack/up.sh in DIR/stack and stops it
# with ops/stack/down.sh on exit (run ops/setup.sh once first for the Kafka
# jars). Per-benchmark details (stderr) go to DIR/bench-logs/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"
ONLY=""
E2E_ARGS=()
usage() { sed -n '6,10s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only)      [[ $# -ge 2 ]] || usage; ONLY="$2"; shift 2 ;;
    --build-dir) [[ $# -ge 2 ]] || usage; BUILD="$2"; shift 2 ;;
    --)          shift; E2E_ARGS=("$@"); break ;;
    -h|--help)   usage ;;
    *)           usage ;;
  esac
done
[[ -z "$ONLY" || "$ONLY" == score || "$ONLY" == e2e ]] || usage
LOGS="$BUILD/bench-logs"

# Release, no sanitizer, no tests.
mkdir -p "$LOGS"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF \
         -DVIGIL_BENCHMARKS=ON -DVIGIL_ASAN=OFF -DVIGIL_UBSAN=OFF -DVIGIL_TSAN=OFF &&
       cmake --build "$BUILD" -j"$(nproc)" --target vg_bench_score vg_bench_e2e; } \
     >"$LOGS/build.log" 2>&1; then
  echo "# build failed; see $LOGS/build.log" >&2
  tail -20 "$LOGS/build.log" >&2
  exit 1
fi

echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

LINES=()
run_one() { # name, then the command; keeps the BENCH line, stderr to the logs
  local name="$1" line
  shift
  line="$("$@" 2>"$LOGS/$name.err" | grep '^BENCH ' || true)"
  if [[ -z "$line" ]]; then
    echo "# $name FAILED; see $LOGS/$name.err:" >&2
    tail -5 "$LOGS/$name.err" >&2
    return 1
  fi
  LINES+=("$line")
}

rc=0
if [[ -z "$ONLY" || "$ONLY" == score ]]; then
  run_one score "$BUILD/benchmarks/vg_bench_score" || rc=1
fi

if [[ -z "$ONLY" || "$ONLY" == e2e ]]; then
  STACK_DIR=""
  if [[ -z "${VIGIL_STACK_ENV:-}" ]]; then
    STACK_DIR="$BUILD/stack"
    trap 'bash "$ROOT/ops/stack/down.sh" --run-dir "$STACK_DIR" >/dev/null 2>&1 || true' EXIT
    bash "$ROOT/ops/stack/up.sh" --run-dir "$STACK_DIR" --fresh >"$LOGS/stack.log" 2>&1 ||
      { echo "# e2e: the stack did not start; see $LOGS/stack.log" >&2; exit 1; }
    export VIGIL_STACK_ENV="$STACK_DIR/stack.env"
  fi
  # Bounded: vg_bench_e2e fails a phase that overruns; this is the backstop.
  run_one e2e timeout 600 "$BUILD/benchmarks/vg_bench_e2e" ${E2E_ARGS[@]+"${E2E_ARGS[@]}"} || rc=1
  if [[ -n "$STACK_DIR" ]]; then
    bash "$ROOT/ops/stack/down.sh" --run-dir "$STACK_DIR" >/dev/null 2>&1 || true
    trap - EXIT
  fi
fi

echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' ${LINES[@]+"${LINES[@]}"}
exit "$rc"
