#!/usr/bin/env bash
# Test certificates made with openssl: a CA, a server certificate it signs
# (for localhost and 127.0.0.1), a client certificate it signs (mutual
# TLS), a second CA that signs none of these (the "wrong CA"), and a client
# certificate signed by that wrong CA (a client a broker does not trust).
# For tests and local stacks only: keys unencrypted, valid for 2 days.
#
#   certs.sh DIR [SERVER_NAME]
#
# Files in DIR: ca.pem ca-key.pem server.pem server-key.pem client.pem
# client-key.pem wrong-ca.pem wrong-ca-key.pem, wrong-client.pem
# wrong-client-key.pem (CN=vigil-worker, like client.pem, but signed by
# wrong-ca), and server.p12 (the server key and certificate with the CA,
# PKCS#12, for Java: Kafka's keystore; its password in
# server.p12.password). SERVER_NAME (default localhost) goes into the
# server certificate's subjectAltName with 127.0.0.1. A second run
# leaves existing files alone (and adds those missing from an older run:
# wrong-client*.pem, server.p12).
set -euo pipefail

VIGIL_LOG_TAG=certs
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[[ $# -ge 1 && $# -le 2 ]] || { sed -n '8s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
DIR="$1" NAME="${2:-localhost}"
need_cmd openssl
mkdir -p "$DIR"
cd "$DIR"

# A Java keystore from the PEM files. Kafka reads a PEM keystore file only
# with an encrypted key (ssl.key.password is mandatory for it); PKCS#12
# with a password is what every Java version reads.
p12() {
  [[ -f server.p12 ]] && return 0
  openssl rand -hex 16 >server.p12.password
  chmod 600 server.p12.password
  openssl pkcs12 -export -name server -in server.pem -inkey server-key.pem -certfile ca.pem \
    -passout file:server.p12.password -out server.p12.tmp 2>/dev/null
  chmod 600 server.p12.tmp
  mv server.p12.tmp server.p12
}

ca() { # name
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vigil test $1" \
    -keyout "$1-key.pem" -out "$1.pem" 2>/dev/null
}
leaf() { # name cn extensions [signing CA, default ca]
  local by="${4:-ca}"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$by.pem" -CAkey "$by-key.pem" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
# The same CN as client.pem, so only its issuer differs: a broker that
# trusts ca.pem refuses it in the TLS handshake.
wrong_client() {
  [[ -f wrong-client.pem ]] && return 0
  leaf wrong-client vigil-worker "extendedKeyUsage=clientAuth" wrong-ca
  chmod 600 wrong-client-key.pem
}

if [[ -f client.pem && -f server.pem && -f wrong-ca.pem ]]; then
  [[ -f wrong-ca-key.pem ]] && wrong_client
  p12
  exit 0
fi

ca ca
ca wrong-ca
leaf server "$NAME" "subjectAltName=DNS:$NAME,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client vigil-worker "extendedKeyUsage=clientAuth"
chmod 600 ./*-key.pem
wrong_client
p12
log "certificates for $NAME in $DIR"
