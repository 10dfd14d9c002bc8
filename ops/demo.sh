#!/usr/bin/env bash
# The zero-setup demo: one command on a fresh Debian/Ubuntu machine.
#
#   bash ops/demo.sh [--real-kafka] [--events N] [--rate N]
#
# Installs what it needs (ops/setup.sh), builds a release build, starts a
# redis-server on a free loopback port, runs one worker in-process against
# librdkafka's embedded mock cluster (no JVM), drives generated traffic
# through it and prints a summary: events/s, triggers by intervention, top
# reason codes and two sample triggers as JSON. --real-kafka runs the same
# against a real single-node Apache Kafka (KRaft) started for the demo, in
# exactly_once mode. Everything started is stopped by process id on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REAL=0 EVENTS=200000 RATE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --real-kafka) REAL=1; shift ;;
    --events)     EVENTS="$2"; shift 2 ;;
    --rate)       RATE="$2"; shift 2 ;;
    -h|--help)    sed -n '4,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "demo: unexpected argument $1" >&2; exit 2 ;;
  esac
done

if ((REAL)); then
  bash "$ROOT/ops/setup.sh"
else
  bash "$ROOT/ops/setup.sh" --no-kafka
fi
BUILD="${VIGIL_DEMO_BUILD:-$ROOT/build-release}"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF -DVIGIL_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target vigilctl vigil-worker >/dev/null

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/vigil-demo.XXXXXX")"
cleanup() { bash "$ROOT/ops/stack/down.sh" --run-dir "$RUN_DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
bash "$ROOT/ops/stack/up.sh" --run-dir "$RUN_DIR" --kafka-nodes "$REAL" >/dev/null
# shellcheck disable=SC1091
source "$RUN_DIR/stack.env"

args=(--set "redis.port=${VIGIL_REDIS_ADDR##*:}" --set "redis.host=${VIGIL_REDIS_ADDR%:*}")
demo=(demo --events "$EVENTS" --rate "$RATE")
((REAL)) && demo+=(--kafka "$VIGIL_KAFKA_BOOTSTRAP")
"$BUILD/vigilctl" "${args[@]}" "${demo[@]}"
