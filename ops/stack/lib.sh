# shellcheck shell=bash
# Shared helpers for the ops/stack scripts. Sourced, never executed.
#
# Every server started here is tracked by a pid file in a run folder and is
# stopped by that pid only: several stacks (parallel ctest jobs, a developer's
# own stack) may run on one machine, so nothing is ever killed by name.

VIGIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The Kafka version has one source of truth: the pom that fetches the jars.
VIGIL_KAFKA_POM="$VIGIL_ROOT/ops/kafka/pom.xml"
VIGIL_KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$VIGIL_KAFKA_POM")"

# Where ops/setup.sh puts the Kafka jars; VIGIL_KAFKA_LIBS overrides it.
vigil_kafka_libs() {
  echo "${VIGIL_KAFKA_LIBS:-${VIGIL_CACHE:-${HOME:?HOME is not set}/.cache/vigil}/kafka-${VIGIL_KAFKA_VERSION}/libs}"
}

log()  { printf '[%s] %s\n' "${VIGIL_LOG_TAG:-stack}" "$*"; }
warn() { printf '[%s] %s\n' "${VIGIL_LOG_TAG:-stack}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${VIGIL_LOG_TAG:-stack}" "$*" >&2; exit 1; }

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; run ops/setup.sh first"
}

# Make DIR absolute (creating it): pid files and configs hold absolute paths
# so the stack can be stopped from any working directory.
abs_dir() {
  mkdir -p "$1" && (cd "$1" && pwd)
}

# Print N distinct free loopback ports. All sockets stay open until every
# port is chosen, so one call never returns the same port twice. Another
# process could still grab a port before the server binds it; the window is
# small and a start then fails loudly rather than silently sharing a port.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A zombie (exited, not yet reaped: servers started by spawn are reparented
# to pid 1, which may take a second or two) counts as gone: its ports and
# files are closed already.
pid_alive() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# Read a pid file; prints nothing if missing.
read_pid() {
  if [[ -f "$1" ]]; then tr -d '[:space:]' <"$1"; fi
}

# True if PID is alive and is still the process we started: its command line
# (or, for redis-server which rewrites its title, its working directory)
# mentions MARK. Guards against a recycled pid belonging to someone else.
pid_is_ours() {
  local pid="$1" mark="$2"
  pid_alive "$pid" || return 1
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark"; then
    return 0
  fi
  [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$mark" ]]
}

# Send SIGTERM to each "pid:mark" that is still ours, wait up to TIMEOUT
# seconds for all of them, then SIGKILL the rest. Waiting for all together
# keeps a 3-node Kafka shutdown at the cost of the slowest node, not the sum.
stop_pids() {
  local timeout="$1"; shift
  local entry pid mark live=()
  for entry in "$@"; do
    pid="${entry%%:*}"; mark="${entry#*:}"
    if pid_is_ours "$pid" "$mark"; then
      kill -TERM "$pid" 2>/dev/null || true
      live+=("$pid")
    fi
  done
  ((${#live[@]})) || return 0
  local deadline=$((SECONDS + timeout)) still
  while :; do
    still=()
    for pid in "${live[@]}"; do pid_alive "$pid" && still+=("$pid"); done
    ((${#still[@]})) || return 0
    ((SECONDS < deadline)) || break
    sleep 0.2
  done
  warn "still running after ${timeout}s, sending SIGKILL to: ${still[*]}"
  kill -KILL "${still[@]}" 2>/dev/null || true
  for pid in "${still[@]}"; do
    while pid_alive "$pid"; do sleep 0.1; done
  done
}

# Delete a run folder, but only one that these scripts made (or an empty
# one): a mistyped --run-dir must never cost someone their home folder.
remove_run_dir() {
  local d="$1"
  [[ -d "$d" ]] || return 0
  if [[ -n "$(ls -A "$d")" ]] && [[ ! -f "$d/stack.env" && ! -f "$d/kafka.state" ]] &&
    ! compgen -G "$d/redis*.conf" >/dev/null; then
    die "refusing to delete $d: it does not look like a stack run folder"
  fi
  rm -rf -- "$d"
}

# Start a command detached from the caller: own session (a ctest timeout or a
# Ctrl-C in the caller's terminal does not hit it) and no inherited stdio
# (ctest waits for a fixture's output pipes to close, so a server holding
# them would hang the setup test). Prints the server's pid.
spawn() {
  local out="$1"; shift
  # setsid does not fork here (a background job is not a group leader), so
  # $! is the server's own pid.
  setsid "$@" </dev/null >>"$out" 2>&1 &
  echo $!
}
