#!/usr/bin/env bash
# Test certificates made with openssl: a CA, a server certificate it signs
# (for localhost and 127.0.0.1), a client certificate it signs (mutual
# TLS), and a second CA that signs nothing of these (the "wrong CA").
# For tests and local stacks only: keys unencrypted, valid for 2 days.
#
#   certs.sh DIR [SERVER_NAME]
#
# Files in DIR: ca.pem ca-key.pem server.pem server-key.pem client.pem
# client-key.pem wrong-ca.pem wrong-ca-key.pem. SERVER_NAME (default
# localhost) goes into the server certificate's subjectAltName with
# 127.0.0.1. A second run leaves existing files alone.
set -euo pipefail

VIGIL_LOG_TAG=certs
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[[ $# -ge 1 && $# -le 2 ]] || { sed -n '7s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
DIR="$1" NAME="${2:-localhost}"
need_cmd openssl
mkdir -p "$DIR"
cd "$DIR"
[[ -f client.pem && -f server.pem && -f wrong-ca.pem ]] && exit 0

ca() { # name
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vigil test $1" \
    -keyout "$1-key.pem" -out "$1.pem" 2>/dev/null
}
leaf() { # name cn extensions
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca
ca wrong-ca
leaf server "$NAME" "subjectAltName=DNS:$NAME,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client vigil-worker "extendedKeyUsage=clientAuth"
chmod 600 ./*-key.pem
log "certificates for $NAME in $DIR"
