#!/usr/bin/env bash
# The Kafka Streams peer of issue 10 (README.md beside this file).
#
#   run.sh --bootstrap HOST:PORT --events-topic T --triggers-topic T2 --app-id A
#          --mode at_least_once|exactly_once --expect N
#
# Builds target/vigil-kstreams-peer.jar when it is missing or older than the
# sources (mvn -q; offline once the first build has filled ~/.m2), then runs
# it. Prints exactly one line on stdout:
#   PEER name=kstreams mode=M events=N seconds=S eps=E triggers=T
# Everything else goes to stderr. KSTREAMS_JAVA_OPTS adds JVM options;
# KSTREAMS_THREADS sets num.stream.threads (default: Streams' own, 1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$HERE/target/vigil-kstreams-peer.jar"

stale() {
  [[ ! -f "$JAR" ]] && return 0
  [[ -n "$(find "$HERE/pom.xml" "$HERE/src" "$HERE/../../../schemas" -newer "$JAR" -type f -print -quit)" ]]
}

if stale; then
  echo "kstreams peer: building $JAR" >&2
  # Offline first (everything cached after one build), then online.
  mvn -q -o -f "$HERE/pom.xml" package -DskipTests >&2 2>&1 ||
    mvn -q -f "$HERE/pom.xml" package -DskipTests >&2
fi

# shellcheck disable=SC2086
exec java ${KSTREAMS_JAVA_OPTS:-} -jar "$JAR" "$@"
