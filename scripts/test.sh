#!/usr/bin/env bash
# The whole test suite, set-up included. As root it first installs the
# Debian packages the real-server tests need (PostgreSQL, Redis, nginx,
# dnsmasq, sshd, iptables); without root those tests skip and say why.
# Then: vet, every test, the core packages again under the race detector,
# and a short run of each fuzz target. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  bash .ci/install-deps.sh
else
  echo "test.sh: not root, so no packages installed; tests that need real servers will skip" >&2
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== go test -race (core packages, -short)"
go test -race -short -count=1 -timeout 10m ./tunnel/... ./forward/... ./hosts/... ./internal/... ./cmd/fwd/...

echo "== fuzz (10 s per target)"
fuzz() { go test -run='^$' -fuzz="^$2\$" -fuzztime=10s "$1"; }
fuzz ./tunnel/ FuzzReadHeader
fuzz ./tunnel/ FuzzReadControl
fuzz ./internal/config/ FuzzParse
fuzz ./hosts/ FuzzParseBlocks
echo "== all tests passed"
