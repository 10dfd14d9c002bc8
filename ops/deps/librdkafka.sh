#!/usr/bin/env bash
# Build librdkafka 2.8 from Debian 13's source package into PREFIX.
# Debian 12's librdkafka 2.0.2 spins its main thread on short timers
# (librdkafka#4684, up to a tenth of a worker's CPU in exactly_once) and
# needed workarounds for its batch consume and transaction abort
# (docs/decisions.md, "librdkafka 2.8 from Debian 13's source"). apt-get
# source fetches trixie's package through a sources list of our own (the
# machine's lists are left alone), dpkg-source applies Debian's patches,
# make installs the static library only: the binaries link it in and need
# only libssl, zlib, zstd and lz4 at run time. Used by ops/setup.sh (PREFIX
# in the cache) and by the image's build stage (ops/docker/Dockerfile).
#
#   librdkafka.sh PREFIX [--force]
#
# Needs apt-get, dpkg-source (dpkg-dev), make, a C compiler, libssl-dev,
# zlib1g-dev, libzstd-dev, liblz4-dev and the network to deb.debian.org. A second run does nothing.
set -euo pipefail
# shellcheck source=debian13-source.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian13-source.sh"

RDKAFKA_DEB_VERSION=2.8.0-1
[[ $# -ge 1 ]] || { sed -n '13s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
PREFIX="$1" FORCE="${2:-}"
say() { printf '[librdkafka] %s\n' "$*"; }
die() { printf '[librdkafka] error: %s\n' "$*" >&2; exit 1; }

if [[ "$FORCE" != --force && "$(cat "$PREFIX/.complete" 2>/dev/null)" == "$RDKAFKA_DEB_VERSION" ]]; then
  say "$RDKAFKA_DEB_VERSION already in $PREFIX (skipped)"
  exit 0
fi
for c in make cc; do
  command -v "$c" >/dev/null || die "$c not found (build-essential)"
done
t0=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-librdkafka.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
deb_source_unpack librdkafka librdkafka "$RDKAFKA_DEB_VERSION" "$work"
# Debian's own build asks --install-deps (it downloads zstd from GitHub);
# here Debian's libzstd-dev and liblz4-dev are there instead. No Kerberos
# (GSSAPI) and no libcurl (OIDC token fetch): Vigil's secured Kafka is TLS,
# SASL PLAIN and SCRAM (docs/configuration.md).
(cd "$work/src" && ./configure --prefix="$PREFIX" --disable-gssapi --disable-curl \
   --enable-zstd --enable-lz4-ext --enable-ssl) >"$work/configure.log" 2>&1 \
  || { tail -n 30 "$work/configure.log" >&2; die "configure failed (libssl-dev, libzstd-dev, liblz4-dev?)"; }
rm -rf -- "$PREFIX"
make -C "$work/src" -j"$(nproc)" libs >"$work/make.log" 2>&1 \
  && make -C "$work/src/src" install >>"$work/make.log" 2>&1 \
  || { tail -n 30 "$work/make.log" >&2; die "build failed"; }
rm -f "$PREFIX"/lib/*.so* "$PREFIX"/lib/librdkafka-static.a "$PREFIX"/lib/pkgconfig/rdkafka-static.pc
# The static library's own dependencies, for pkg-config without --static.
sed -i 's/^Libs: .*/& -lssl -lcrypto -lz -lzstd -llz4 -lm -ldl -lpthread -lrt/' \
  "$PREFIX/lib/pkgconfig/rdkafka.pc"
echo "$RDKAFKA_DEB_VERSION" >"$PREFIX/.complete"
say "built $RDKAFKA_DEB_VERSION (static) into $PREFIX in $((SECONDS - t0))s"
