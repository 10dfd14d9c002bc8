# shellcheck shell=bash
# Shared by benchmarks/run.sh and benchmarks/soak.sh (sourced): the Release
# build, the venv check, the results folder and the stack. Each function
# uses ROOT, BUILD, LOGS and PY, which the caller sets first.

# Build targets in BUILD (Release, no sanitizer, no tests: STYLE.md rule
# 12), logging to LOGS/<log>; on failure print the log's tail and exit 1.
bench_build() {
  local log="$1"; shift
  mkdir -p "$LOGS"
  if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF \
           -DVIGIL_BENCHMARKS=ON -DVIGIL_ASAN=OFF -DVIGIL_UBSAN=OFF -DVIGIL_TSAN=OFF &&
         cmake --build "$BUILD" -j"$(nproc)" --target "$@"; } >"$LOGS/$log" 2>&1; then
    echo "# build failed; see $LOGS/$log" >&2
    tail -20 "$LOGS/$log" >&2
    exit 1
  fi
}

# The venv's python with confluent-kafka, redis and matplotlib, or exit 1.
bench_check_py() {
  [[ -x "$PY" ]] || { echo "# no venv python at $PY (run: bash ops/setup.sh)" >&2; exit 1; }
  "$PY" -c 'import confluent_kafka, redis, matplotlib' 2>/dev/null ||
    { echo "# the venv at $PY lacks confluent-kafka, redis or matplotlib (run: bash ops/setup.sh)" >&2; exit 1; }
}

# OUT, unless set: BUILD/<kind>/<UTC time>, linked from BUILD/<kind>/latest.
bench_out() {
  if [[ -z "$OUT" ]]; then
    OUT="$BUILD/$1/$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$OUT"
    ln -sfn "$OUT" "$BUILD/$1/latest"
  fi
  mkdir -p "$OUT"
}

# Unless VIGIL_STACK_ENV names one, start a stack in BUILD/<dir> (log
# LOGS/<dir>.log), export VIGIL_STACK_ENV, and stop it on exit
# (bench_stop_stack).
STACK_DIR=""
bench_stop_stack() {
  if [[ -n "$STACK_DIR" ]]; then
    bash "$ROOT/ops/stack/down.sh" --run-dir "$STACK_DIR" >/dev/null 2>&1 || true
    STACK_DIR=""
  fi
}
bench_stack() {
  [[ -z "${VIGIL_STACK_ENV:-}" ]] || return 0
  STACK_DIR="$BUILD/$1"
  trap bench_stop_stack EXIT
  trap 'exit 130' INT TERM
  bash "$ROOT/ops/stack/up.sh" --run-dir "$STACK_DIR" --fresh >"$LOGS/$1.log" 2>&1 ||
    { echo "# the stack did not start; see $LOGS/$1.log" >&2; exit 1; }
  export VIGIL_STACK_ENV="$STACK_DIR/stack.env"
}
