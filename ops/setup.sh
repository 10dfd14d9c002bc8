#!/usr/bin/env bash
# Install everything Vigil needs to build and run its tests: Debian packages
# (compiler, libraries, redis-server, Java, Maven) and the Apache Kafka jars
# from Maven Central. Idempotent: a second run does nothing and says so.
#
#   ops/setup.sh [--force] [--skip-apt] [--no-kafka]
#
#   --force     run apt-get and re-fetch the Kafka jars even if present
#   --skip-apt  leave system packages alone (e.g. no root); jars only
#   --no-kafka  skip the Kafka jars (the embedded demo needs no broker)
#
# Kafka jars go to ${VIGIL_CACHE:-$HOME/.cache/vigil}/kafka-<version>/libs,
# where ops/stack/kafka.sh looks for them.
set -euo pipefail

VIGIL_LOG_TAG=setup
# shellcheck source-path=SCRIPTDIR source=stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack/lib.sh"

FORCE=0 SKIP_APT=0 NO_KAFKA=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force)    FORCE=1; shift ;;
    --skip-apt) SKIP_APT=1; shift ;;
    --no-kafka) NO_KAFKA=1; shift ;;
    -h|--help)  sed -n '6,10s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    *) die "unexpected argument '$1' (try --help)" ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config
  libprotobuf-c-dev protobuf-c-compiler
  # librdkafka 2.8's build (ops/deps/librdkafka.sh): its codecs, static in.
  libzstd-dev liblz4-dev zlib1g-dev dpkg-dev
  libssl-dev libcriterion-dev libjansson-dev libyaml-dev libmicrohttpd-dev
  redis-server redis-tools
  openjdk-17-jre-headless maven
  python3 valgrind
  # ops/validate.sh and the Prometheus scrape test (tests/ops): prometheus
  # brings promtool; kcat replays dead letters (docs/runbook.md).
  prometheus kcat curl python3-yaml python3-venv
  # The fuzz pass of ops/test.sh: clang and its libFuzzer runtime.
  clang libclang-rt-14-dev openssl
)

# Python tools from PyPI, in a venv of their own under the cache (neither
# Debian's python, which is externally managed, nor the user's is touched).
#   kubernetes-validate: Kubernetes' JSON schemas, offline (ops/validate.sh)
#   confluent-kafka, protobuf, grpcio-tools, pytest: the contract suite
#     (tests/contract: a Kafka client, the protobuf runtime, protoc for the
#     Python classes it generates from schemas/ at test time, its runner)
PY_TOOLS=(
  kubernetes-validate==1.37.0
  confluent-kafka==2.16.1
  protobuf==7.36.2
  grpcio-tools==1.85.1
  pytest==9.2.0
  redis==8.1.0     # redis, hiredis: the Python peer (benchmarks/peers/python)
  hiredis==3.5.0
  matplotlib==3.11.2  # the side by side benchmark's charts (benchmarks/harness)
)

# --- Debian packages ---------------------------------------------------------
missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" == "ii "* ]] || echo "$p"
  done
}

install_packages() {
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "installing packages needs root (or sudo); missing: $*"
    sudo=(sudo)
  fi
  # Slim Debian images drop /usr/share/man, and openjdk's postinst then
  # fails creating its man page alternatives.
  "${sudo[@]}" mkdir -p /usr/share/man/man1
  log "apt-get update"
  "${sudo[@]}" apt-get update
  # Only the packages asked for: naming installed ones too would upgrade
  # them (e.g. a new openjdk under a running broker).
  log "apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

if ((SKIP_APT)); then
  log "apt: skipped (--skip-apt)"
else
  command -v dpkg-query >/dev/null || die "dpkg-query not found: this script expects Debian 12"
  mapfile -t missing < <(missing_packages)
  if ((FORCE)); then
    install_packages "${PACKAGES[@]}"
    log "apt: (re)installed ${#PACKAGES[@]} packages (--force)"
  elif ((${#missing[@]})); then
    log "apt: missing ${missing[*]}"
    install_packages "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) || die "apt: still not installed after apt-get: ${missing[*]}"
    log "apt: installed the missing packages"
  else
    log "apt: all ${#PACKAGES[@]} packages already installed (skipped)"
  fi
fi

# --- Python tools from PyPI ----------------------------------------------------
PY_VENV="${VIGIL_CACHE:-$HOME/.cache/vigil}/venv"
# True if every pinned tool is in the venv at its version (pip freeze spells
# names its own way: compare lower-cased, with "-" for "_").
py_tools_installed() {
  local have tool
  [[ -x "$PY_VENV/bin/pip" ]] || return 1
  have="$("$PY_VENV/bin/pip" freeze 2>/dev/null | tr 'A-Z_' 'a-z-')" || return 1
  for tool in "${PY_TOOLS[@]}"; do
    grep -qxF "$(tr 'A-Z_' 'a-z-' <<<"$tool")" <<<"$have" || return 1
  done
}
if ((FORCE == 0)) && [[ -x "$PY_VENV/bin/kubernetes-validate" ]] && py_tools_installed; then
  log "pypi: ${PY_TOOLS[*]} already in $PY_VENV (skipped)"
else
  need_cmd python3
  log "pypi: installing ${PY_TOOLS[*]} into $PY_VENV"
  python3 -m venv "$PY_VENV" || die "pypi: python3 -m venv $PY_VENV failed (Debian: python3-venv)"
  "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}" \
    || die "pypi: pip could not install ${PY_TOOLS[*]} (network to PyPI?)"
fi

# --- hiredis 1.2 from Debian 13's source package ------------------------------
# Into the cache, where CMakeLists.txt looks first (ops/deps/hiredis.sh).
bash "$(dirname "${BASH_SOURCE[0]}")/deps/hiredis.sh" \
  "${VIGIL_CACHE:-$HOME/.cache/vigil}/hiredis-1.2.0-6" $( ((FORCE)) && echo --force) \
  || die "hiredis: ops/deps/hiredis.sh failed"

# --- librdkafka 2.8 from Debian 13's source package ---------------------------
# Into the cache, where CMakeLists.txt looks first (ops/deps/librdkafka.sh).
bash "$(dirname "${BASH_SOURCE[0]}")/deps/librdkafka.sh" \
  "${VIGIL_CACHE:-$HOME/.cache/vigil}/librdkafka-2.8.0-1" $( ((FORCE)) && echo --force) \
  || die "librdkafka: ops/deps/librdkafka.sh failed"

# --- Valkey 8 from bookworm-backports ------------------------------------------
# Into the cache, for the Valkey pass of ops/test.sh (ops/deps/valkey.sh).
bash "$(dirname "${BASH_SOURCE[0]}")/deps/valkey.sh" \
  "${VIGIL_CACHE:-$HOME/.cache/vigil}/valkey-8" $( ((FORCE)) && echo --force) \
  || die "valkey: ops/deps/valkey.sh failed"

# --- Kafka jars from Maven Central --------------------------------------------
if ((NO_KAFKA)); then
  log "kafka: jars skipped (--no-kafka)"
  exit 0
fi
need_cmd java; need_cmd mvn
LIBS="$(VIGIL_KAFKA_LIBS='' vigil_kafka_libs)"
CACHE="$(dirname "$LIBS")"
MARKER="$CACHE/.complete"
mkdir -p "$CACHE"
# The marker holds the pom's hash, so editing the pom (new Kafka version or
# extra jars) triggers a new download.
want="$(sha256sum "$VIGIL_KAFKA_POM" | cut -d' ' -f1)"

# Parallel CI jobs may share a cache: one downloads, the others wait.
exec 9>"$CACHE/.lock"
flock 9

if ((FORCE == 0)) && [[ -f "$MARKER" && "$(cat "$MARKER")" == "$want" ]] &&
  compgen -G "$LIBS/kafka_2.13-$VIGIL_KAFKA_VERSION.jar" >/dev/null; then
  log "kafka: $VIGIL_KAFKA_VERSION jars already in $LIBS (skipped)"
else
  t0=$SECONDS
  log "kafka: fetching $VIGIL_KAFKA_VERSION jars with Maven into $LIBS"
  rm -f "$MARKER"
  rm -rf -- "$CACHE"/libs.tmp.*   # left by an interrupted run; we hold the lock
  # Download into a scratch folder and rename it into place, so an
  # interrupted download never looks complete.
  tmp="$(mktemp -d "$CACHE/libs.tmp.XXXXXX")"
  trap 'rm -rf -- "$tmp"' EXIT
  # Maven's output goes to a log: even -q prints stray colour codes.
  if ! mvn -B -Dstyle.color=never -f "$VIGIL_KAFKA_POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$CACHE/maven.log" 2>&1; then
    grep -E '^\[(ERROR|WARNING)\]' "$CACHE/maven.log" | head -n 30 >&2 || true
    die "kafka: Maven could not fetch the jars (network to Maven Central?); full log: $CACHE/maven.log"
  fi
  [[ -f "$tmp/kafka_2.13-$VIGIL_KAFKA_VERSION.jar" ]] \
    || die "kafka: Maven ran but kafka_2.13-$VIGIL_KAFKA_VERSION.jar is missing"
  rm -rf -- "$LIBS"
  mv "$tmp" "$LIBS"
  trap - EXIT
  echo "$want" >"$MARKER"
  log "kafka: fetched $(find "$LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - t0))s"
fi

java_version="$(java -version 2>&1 | head -n1)"
log "ready: $java_version; $(redis-server --version | cut -d' ' -f1-3); cmake $(cmake --version | head -n1 | cut -d' ' -f3)"
