#!/usr/bin/env bash
# Fetch Valkey 8 (valkey-server, valkey-cli) from Debian 12's
# bookworm-backports into PREFIX, for the Valkey pass of ops/test.sh
# (VIGIL_REDIS_SERVER). apt-get download through a sources list of our own
# (the machine's lists are left alone) and dpkg -x: nothing is installed
# system-wide, so the Redis 7 that Debian ships stays the default. Its
# libraries (liblzf1, libjemalloc2, libatomic1) come with redis-server.
#
#   valkey.sh PREFIX [--force]
#
# Prints nothing but its log; PREFIX/bin/valkey-server when done.
set -euo pipefail

VALKEY_DEB_VERSION=8.0.1+dfsg1-1~bpo12+1
[[ $# -ge 1 ]] || { sed -n '9s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
PREFIX="$1" FORCE="${2:-}"
say() { printf '[valkey] %s\n' "$*"; }
die() { printf '[valkey] error: %s\n' "$*" >&2; exit 1; }

if [[ "$FORCE" != --force && "$(cat "$PREFIX/.complete" 2>/dev/null)" == "$VALKEY_DEB_VERSION" ]]; then
  say "$VALKEY_DEB_VERSION already in $PREFIX (skipped)"
  exit 0
fi
for c in apt-get dpkg; do command -v "$c" >/dev/null || die "$c not found"; done
t0=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-valkey.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
mkdir -p "$work/lists/partial"
cat >"$work/backports.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_bp=(-o Dir::Etc::SourceList="$work/backports.sources" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$work/lists" -o APT::Sandbox::User=root)
(cd "$work" && apt-get "${apt_bp[@]}" update && \
   apt-get "${apt_bp[@]}" download "valkey-server=$VALKEY_DEB_VERSION" \
     "valkey-tools=$VALKEY_DEB_VERSION") >"$work/apt.log" 2>&1 \
  || { tail -n 20 "$work/apt.log" >&2; die "apt-get download failed (network to deb.debian.org?)"; }
rm -rf -- "$PREFIX"
mkdir -p "$PREFIX/bin"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
cp -a "$work/root/usr/bin/." "$PREFIX/bin/"
# valkey-server is a link to the one binary that is every tool.
ln -sf valkey-check-rdb "$PREFIX/bin/valkey-server"
"$PREFIX/bin/valkey-server" --version >/dev/null || die "valkey-server does not run (libraries?)"
echo "$VALKEY_DEB_VERSION" >"$PREFIX/.complete"
say "$("$PREFIX/bin/valkey-server" --version | cut -d' ' -f1-3) in $PREFIX in $((SECONDS - t0))s"
