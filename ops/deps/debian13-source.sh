# Sourced by ops/deps/hiredis.sh and ops/deps/librdkafka.sh: fetch one of
# Debian 13's (trixie's) source packages and unpack it with Debian's
# patches applied, through a sources list of our own (the machine's apt
# lists are left alone). Not a script of its own.
#
#   deb_source_unpack NAME PACKAGE VERSION WORK
#
# NAME prefixes the log lines; WORK is an empty directory (the caller's,
# removed by the caller): the source tree lands in WORK/src, apt's and
# dpkg-source's output in WORK/apt.log. Exits with a message on failure.

deb_source_unpack() {
  local name="$1" pkg="$2" version="$3" work="$4"
  local -a apt_src
  for c in apt-get dpkg-source; do
    command -v "$c" >/dev/null ||
      { printf '[%s] error: %s not found (dpkg-dev)\n' "$name" "$c" >&2; exit 1; }
  done
  mkdir -p "$work/lists/partial"
  cat >"$work/trixie.sources" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt_src=(-o Dir::Etc::SourceList="$work/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$work/lists" -o APT::Sandbox::User=root)
  printf '[%s] apt-get source %s=%s (Debian 13)\n' "$name" "$pkg" "$version"
  (cd "$work" && apt-get "${apt_src[@]}" update && \
     apt-get "${apt_src[@]}" source --download-only "$pkg=$version") >"$work/apt.log" 2>&1 || {
    tail -n 20 "$work/apt.log" >&2
    printf '[%s] error: apt-get source failed (network to deb.debian.org?)\n' "$name" >&2
    exit 1
  }
  (cd "$work" && dpkg-source -x "${pkg}_${version}.dsc" src) >>"$work/apt.log" 2>&1 || {
    tail -n 20 "$work/apt.log" >&2
    printf '[%s] error: dpkg-source -x failed\n' "$name" >&2
    exit 1
  }
}
