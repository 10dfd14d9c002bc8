#!/usr/bin/env bash
# Build hiredis 1.2 with TLS from Debian 13's source package into PREFIX.
# Debian 12's hiredis 0.14 has no TLS and no RESP3 (docs/decisions.md,
# "hiredis 1.2 from Debian 13's source"). apt-get source fetches trixie's
# package through a sources list of our own (the machine's lists are left
# alone), dpkg-source applies Debian's patches, make installs static
# libraries only: the binaries link them in and need only libssl at run
# time. Used by ops/setup.sh (PREFIX in the cache) and by the image's build
# stage (ops/docker/Dockerfile).
#
#   hiredis.sh PREFIX [--force]
#
# Needs apt-get, dpkg-source (dpkg-dev), make, a C compiler, libssl-dev and
# the network to deb.debian.org. A second run does nothing.
set -euo pipefail
# shellcheck source=debian13-source.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian13-source.sh"

HIREDIS_DEB_VERSION=1.2.0-6
[[ $# -ge 1 ]] || { sed -n '11s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
PREFIX="$1" FORCE="${2:-}"
say() { printf '[hiredis] %s\n' "$*"; }
die() { printf '[hiredis] error: %s\n' "$*" >&2; exit 1; }

if [[ "$FORCE" != --force && "$(cat "$PREFIX/.complete" 2>/dev/null)" == "$HIREDIS_DEB_VERSION" ]]; then
  say "$HIREDIS_DEB_VERSION already in $PREFIX (skipped)"
  exit 0
fi
for c in make cc; do
  command -v "$c" >/dev/null || die "$c not found (build-essential)"
done
t0=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-hiredis.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
deb_source_unpack hiredis hiredis "$HIREDIS_DEB_VERSION" "$work"
rm -rf -- "$PREFIX"
make -C "$work/src" -j"$(nproc)" USE_SSL=1 PREFIX="$PREFIX" install >"$work/make.log" 2>&1 \
  || { tail -n 30 "$work/make.log" >&2; die "build failed (libssl-dev installed?)"; }
rm -f "$PREFIX"/lib/*.so*
echo "$HIREDIS_DEB_VERSION" >"$PREFIX/.complete"
say "built $HIREDIS_DEB_VERSION with TLS into $PREFIX in $((SECONDS - t0))s"
