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

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j2

rc=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j1 "$@" || rc=$?
exit "$rc"
