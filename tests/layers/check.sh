#!/usr/bin/env bash
# The layer rule (docs/internals.md): every #include "..." of a module must
# resolve to its own layer or one below it.
#
#   common   <- nothing
#   kafka, redis (broker-adapters) <- common
#   core     <- common
#   tools    <- common, core
#   service  <- common, core, kafka, redis
#   vigilctl <- anything
#
# Generated headers (vigil/v1/*.pb-c.h, vg_model_default.h) belong to
# schemas, which every layer but the adapters may use.
#
#   check.sh [ROOT]     check the tree at ROOT (default: the repository)
#   check.sh --self-test  plant a violation in a scratch tree; it must fail
set -euo pipefail

declare -A ALLOWED=(
  [common]="common"
  [kafka]="common kafka"
  [redis]="common redis"
  [core]="common core schemas"
  [tools]="common core tools schemas"
  [service]="common core kafka redis service schemas"
  [vigilctl]="common core tools service kafka redis vigilctl schemas"
)

layer_dirs() { # ROOT -> "layer dir" lines
  local root=$1
  for l in common core tools service vigilctl; do echo "$l $root/workers/$l"; done
  echo "kafka $root/broker-adapters/kafka"
  echo "redis $root/broker-adapters/redis"
}

check() {
  local root=$1 bad=0 layer dir f inc owner
  declare -A OWNER=()
  while read -r layer dir; do
    [[ -d "$dir" ]] || continue
    for f in "$dir"/*.h; do [[ -e "$f" ]] && OWNER[$(basename "$f")]=$layer; done
  done < <(layer_dirs "$root")
  while read -r layer dir; do
    [[ -d "$dir" ]] || continue
    for f in "$dir"/*.[ch]; do
      [[ -e "$f" ]] || continue
      while read -r inc; do
        case "$inc" in
          vigil/v1/*|vg_model_default.h) owner=schemas ;;
          *) owner=${OWNER[$inc]:-} ;;
        esac
        if [[ -z "$owner" ]]; then
          echo "layers: ${f#"$root"/}: includes \"$inc\", which no layer owns" >&2
          bad=1
        elif [[ " ${ALLOWED[$layer]} " != *" $owner "* ]]; then
          echo "layers: ${f#"$root"/} ($layer) includes \"$inc\" ($owner): $layer may use only: ${ALLOWED[$layer]}" >&2
          bad=1
        fi
      done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
  done < <(layer_dirs "$root")
  return $bad
}

if [[ "${1:-}" == "--self-test" ]]; then
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/workers" "$tmp/broker-adapters"
  cp -r "$root/workers/." "$tmp/workers/"
  cp -r "$root/broker-adapters/." "$tmp/broker-adapters/"
  check "$tmp" || { echo "layers self-test: the clean tree failed" >&2; exit 1; }
  printf '#include "vg_pipeline.h"\n' >>"$tmp/workers/core/vg_state.c"
  if check "$tmp" 2>/dev/null; then
    echo "layers self-test: core including service was NOT caught" >&2; exit 1
  fi
  sed -i '$d' "$tmp/workers/core/vg_state.c"
  printf '#include "vg_state.h"\n' >>"$tmp/broker-adapters/redis/vg_redis.c"
  if check "$tmp" 2>/dev/null; then
    echo "layers self-test: an adapter including core was NOT caught" >&2; exit 1
  fi
  echo "layers self-test: both planted violations caught"
  exit 0
fi

root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
check "$root"
echo "layers: every include follows the layer rule"
