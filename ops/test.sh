#!/usr/bin/env bash
# The test command: configure, build, run the whole ctest suite.
#
#   bash ops/test.sh [CTEST_ARGS...]     e.g. bash ops/test.sh -R kafka -V
#
# Tests that need Kafka or Redis start and stop their own servers through
# ctest fixtures (ops/stack/up.sh, down.sh); this script starts none.
# VIGIL_BUILD_DIR overrides the build folder (default: build).
# Exit status: ctest's (or the build's, if that fails first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${VIGIL_BUILD_DIR:-build}"

# A hint, not a failure: the suite itself reports which tests need the jars.
# shellcheck source-path=SCRIPTDIR source=stack/lib.sh
source "$ROOT/ops/stack/lib.sh"
compgen -G "$(vigil_kafka_libs)/kafka_2.13-*.jar" >/dev/null \
  || echo "[test] warning: no Kafka jars in $(vigil_kafka_libs); run ops/setup.sh first" >&2

rc=0

# First, memory safety: unit and integration tests on an AddressSanitizer +
# UndefinedBehaviorSanitizer build (workers included: a leak or a bad
# access makes a worker exit non-zero, which the integration tests check).
# VIGIL_TEST_SANITIZE=0 skips it; extra arguments select the main run only.
if [[ "${VIGIL_TEST_SANITIZE:-1}" != 0 && $# -eq 0 ]]; then
  SAN_DIR="${BUILD_DIR}-asan"
  echo "[test] sanitizer pass (ASan + UBSan) in $SAN_DIR"
  cmake -S . -B "$SAN_DIR" -DCMAKE_BUILD_TYPE=Debug -DVIGIL_ASAN=ON -DVIGIL_UBSAN=ON \
        -DVIGIL_BENCHMARKS=OFF >/dev/null
  cmake --build "$SAN_DIR" -j2
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir "$SAN_DIR" --output-on-failure -j1 -L 'unit|integration|contract' ||
    { rc=1; echo "[test] sanitizer pass FAILED" >&2; }
fi

# Then the input parsers under libFuzzer (clang, ASan+UBSan): event decode,
# state decode, the model loader, JSON events, the config loader, each for
# VIGIL_FUZZ_SECONDS (60) over its committed seed corpus (tests/fuzz).
# VIGIL_TEST_FUZZ=0 skips it; without clang it says so and is skipped.
if [[ "${VIGIL_TEST_FUZZ:-1}" != 0 && $# -eq 0 ]]; then
  if command -v clang >/dev/null; then
    FUZZ_DIR="${BUILD_DIR}-fuzz"
    echo "[test] fuzz pass (libFuzzer, ${VIGIL_FUZZ_SECONDS:-60} s per target) in $FUZZ_DIR"
    CC=clang cmake -S . -B "$FUZZ_DIR" -DCMAKE_BUILD_TYPE=Debug -DVIGIL_FUZZ=ON -DVIGIL_ASAN=ON \
          -DVIGIL_UBSAN=ON -DVIGIL_BENCHMARKS=OFF -DVIGIL_FUZZ_SECONDS="${VIGIL_FUZZ_SECONDS:-60}" \
          >/dev/null
    cmake --build "$FUZZ_DIR" -j2 --target fuzz_event fuzz_state fuzz_model fuzz_json fuzz_config
    ctest --test-dir "$FUZZ_DIR" --output-on-failure -j1 -L fuzz ||
      { rc=1; echo "[test] fuzz pass FAILED (artifacts in $FUZZ_DIR/fuzz/artifacts)" >&2; }
  else
    echo "[test] fuzz pass SKIPPED: no clang (ops/setup.sh installs it)" >&2
  fi
fi

# Then the whole suite on the build users run. Its ctest summary is the
# last line of this script's output.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j2

# The Redis-facing tests (integration, contract) again with Valkey 8 as the
# server (ops/deps/valkey.sh puts it in the cache; VIGIL_REDIS_SERVER tells
# ops/stack/redis.sh and the tests). VIGIL_TEST_VALKEY=0 skips it.
VALKEY="${VIGIL_VALKEY_SERVER:-${VIGIL_CACHE:-$HOME/.cache/vigil}/valkey-8/bin/valkey-server}"
if [[ "${VIGIL_TEST_VALKEY:-1}" != 0 && $# -eq 0 ]]; then
  if "$VALKEY" --version 2>/dev/null | grep -q '^Valkey'; then
    echo "[test] Valkey pass: $("$VALKEY" --version | cut -d' ' -f1-3)"
    VIGIL_REDIS_SERVER="$VALKEY" ctest --test-dir "$BUILD_DIR" --output-on-failure -j1 \
      -L 'integration|contract' -E 'kafka-secured' || { rc=1; echo "[test] Valkey pass FAILED" >&2; }
  else
    echo "[test] Valkey pass SKIPPED: no Valkey at $VALKEY (ops/setup.sh fetches it)" >&2
  fi
fi

ctest --test-dir "$BUILD_DIR" --output-on-failure -j1 "$@" || rc=$?
exit "$rc"
