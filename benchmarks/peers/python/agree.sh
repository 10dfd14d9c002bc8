#!/usr/bin/env bash
# Vigil and the Python peer on the same generated input; prints the peer's
# PEER line and the AGREEMENT line of benchmarks/peers/compare.py.
#
#   agree.sh --stack-env FILE --build DIR [--events N] [--customers C]
#            [--seed S] [--mode at_least_once|exactly_once] [--batch B]
#
#   --stack-env FILE  written by ops/stack/up.sh (VIGIL_KAFKA_BOOTSTRAP,
#                     VIGIL_REDIS_ADDR)
#   --build DIR       a Vigil build with vigil-worker and vigilctl
#   --events N        records to generate (default 50000), --customers C
#                     (10000), --seed S (7); both run in --mode (default
#                     at_least_once) with fresh topics, groups and key prefixes.
# The worker is stopped (by its pid) once its group has committed the end of
# the events topic. Exit status: compare.py's with --require (1 below 0.99).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${VIGIL_PY:-${VIGIL_CACHE:-$HOME/.cache/vigil}/venv/bin/python}"

usage() { sed -n '5,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
STACK_ENV="" BUILD="" EVENTS=50000 CUSTOMERS=10000 SEED=7 MODE=at_least_once BATCH=500
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || usage
  case "$1" in
    --stack-env) STACK_ENV="$2" ;;
    --build)     BUILD="$2" ;;
    --events)    EVENTS="$2" ;;
    --customers) CUSTOMERS="$2" ;;
    --seed)      SEED="$2" ;;
    --mode)      MODE="$2" ;;
    --batch)     BATCH="$2" ;;
    *) usage ;;
  esac
  shift 2
done
[[ -n "$STACK_ENV" && -n "$BUILD" ]] || usage
# shellcheck disable=SC1090
source "$STACK_ENV"
B="$VIGIL_KAFKA_BOOTSTRAP" RH="${VIGIL_REDIS_ADDR%:*}" RP="${VIGIL_REDIS_ADDR##*:}"
ID="pyagree-$(date +%s)-$$"
ctl() { "$BUILD/vigilctl" --set kafka.bootstrap.servers="$B" "$@"; }

ctl --set topic.events="$ID.events" --set topic.triggers="$ID.trig.vigil" \
    --set topic.dead_letter="$ID.dlq.vigil" topics --partitions 4 >&2
ctl --set topic.events="$ID.events" --set topic.triggers="$ID.trig.peer" \
    --set topic.dead_letter="$ID.dlq.peer" topics --partitions 4 >&2
ctl --set topic.events="$ID.events" gen --events "$EVENTS" --customers "$CUSTOMERS" --seed "$SEED" >&2

"$BUILD/vigil-worker" --set kafka.bootstrap.servers="$B" --set redis.host="$RH" \
  --set redis.port="$RP" --set topic.events="$ID.events" --set topic.triggers="$ID.trig.vigil" \
  --set topic.dead_letter="$ID.dlq.vigil" --set group.id="$ID.vigil" \
  --set redis.key_prefix="$ID.v" --set delivery.mode="$MODE" --set batch.max_events="$BATCH" \
  >"${TMPDIR:-/tmp}/$ID.vigil.log" 2>&1 &
VPID=$!
trap 'kill "$VPID" 2>/dev/null || true' EXIT
# Wait until the worker's group has committed the end of every partition.
"$PY" - "$B" "$ID.events" "$ID.vigil" <<'EOF' >&2
import sys, time
from confluent_kafka import Consumer, TopicPartition
b, topic, group = sys.argv[1:4]
c = Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False})
parts = [TopicPartition(topic, p) for p in sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)]
end = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
t0 = time.time()
while time.time() - t0 < 1800:
    if all(tp.offset >= end[tp.partition] for tp in c.committed(parts, timeout=10)):
        print("agree: vigil-worker caught up in %.1f s" % (time.time() - t0)); break
    time.sleep(0.5)
else:
    sys.exit("agree: vigil-worker did not catch up")
c.close()
EOF
kill "$VPID"; wait "$VPID" || true
trap - EXIT

"$HERE/run.sh" --bootstrap "$B" --redis "$VIGIL_REDIS_ADDR" --events-topic "$ID.events" \
  --triggers-topic "$ID.trig.peer" --group "$ID.peer" --mode "$MODE" --expect "$EVENTS" \
  --key-prefix "$ID.p" --batch "$BATCH"
"$PY" "$HERE/../compare.py" --bootstrap "$B" --vigil-topic "$ID.trig.vigil" \
  --peer-topic "$ID.trig.peer" --show 5 --require
