#!/usr/bin/env bash
# Stop everything a stack run folder holds: every Kafka node and every redis
# instance started in DIR, and every Redis Cluster (redis-cluster.sh) started
# in a folder of DIR, by the pids recorded there (never by name: other
# stacks may be running). Safe to run twice, or on a half-started stack.
#
#   down.sh --run-dir DIR [--rm]
#
#   --rm   delete DIR afterwards (default: keep it, for the logs)
set -euo pipefail

VIGIL_LOG_TAG=down
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

usage() { sed -n '6,8s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }

RUN_DIR="" RM=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run-dir) [[ $# -ge 2 ]] || usage; RUN_DIR="$2"; shift 2 ;;
    --rm)      RM=1; shift ;;
    -h|--help) usage ;;
    *) die "unexpected argument '$1'" ;;
  esac
done
[[ -n "$RUN_DIR" ]] || die "--run-dir DIR is required"
if [[ ! -d "$RUN_DIR" ]]; then
  log "no such run dir: $RUN_DIR; nothing to stop"
  exit 0
fi
RUN_DIR="$(cd "$RUN_DIR" && pwd)"

# Stop both kinds even if one fails, then report.
rc=0
bash "$HERE/kafka.sh" stop --run-dir "$RUN_DIR" || rc=1
shopt -s nullglob
for conf in "$RUN_DIR"/redis.conf "$RUN_DIR"/redis-*.conf; do
  name="$(basename "$conf" .conf)"; name="${name#redis}"; name="${name#-}"
  bash "$HERE/redis.sh" stop --run-dir "$RUN_DIR" ${name:+--name "$name"} || rc=1
done
# Redis Clusters that tests started in folders of their own here (a test
# killed by its timeout leaves its nodes running).
for state in "$RUN_DIR"/*/redis-cluster.state "$RUN_DIR"/*/redis-cluster-*.state; do
  name="$(basename "$state" .state)"; name="${name#redis-cluster}"; name="${name#-}"
  bash "$HERE/redis-cluster.sh" stop --run-dir "$(dirname "$state")" ${name:+--name "$name"} || rc=1
done
((rc == 0)) || die "some processes in $RUN_DIR could not be stopped"
if ((RM)); then
  remove_run_dir "$RUN_DIR"
  log "removed $RUN_DIR"
fi
