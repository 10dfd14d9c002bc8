#!/usr/bin/env bash
# Run the Python peer with the venv that ops/setup.sh makes (confluent-kafka,
# protobuf, grpcio-tools, redis, hiredis pinned in its PY_TOOLS list).
#   benchmarks/peers/python/run.sh --bootstrap HOST:PORT --redis HOST:PORT ...
# Arguments go to peer.py unchanged (see README.md). VIGIL_PY overrides the
# interpreter.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${VIGIL_PY:-${VIGIL_CACHE:-$HOME/.cache/vigil}/venv/bin/python}"
if [[ ! -x "$PY" ]]; then
  echo "peer-python: no venv python at $PY (run: bash ops/setup.sh)" >&2
  exit 2
fi
exec "$PY" "$HERE/peer.py" "$@"
