#!/usr/bin/env bash
# make.sh makes the test certificates in this directory (see README.md).
# They are committed: tests load them instead of each making its own. Run
# it again (bash testdata/certs/make.sh) only to replace them; they are
# valid for 100 years.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }

# A CA, and a gateway certificate it signed for localhost and loopback.
ec ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/CN=fwd test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
ec gateway.key
openssl req -new -key gateway.key -subj "/CN=fwd test gateway" -out gateway.csr
openssl x509 -req -in gateway.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
  -extfile <(printf 'subjectAltName=DNS:localhost,DNS:gateway.test,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n') \
  -out gateway.pem
rm -f gateway.csr ca.srl

# A self-signed certificate no test trusts: another gateway, or an impostor.
ec other.key
openssl req -x509 -new -key other.key -sha256 -days "$days" -subj "/CN=some other server" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out other.pem
