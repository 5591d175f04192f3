#!/usr/bin/env bash
# install-deps.sh installs the Debian packages that fwd's integration tests
# (test/protocols, internal/testservers) run as real servers and clients.
# Idempotent: packages already installed are skipped, and apt-get update runs
# only when something is missing. Runs as root, without stdin. Starts nothing.
set -euo pipefail

packages=(
	openssh-server openssh-client
	postgresql postgresql-contrib
	redis-server redis-tools
	dnsmasq dnsutils
	nginx
	iproute2 iptables
	curl nghttp2-client netcat-openbsd unzip
	etcd-server
	procps passwd
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages already installed"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Keep services from starting during install (they are started by the tests
# themselves, on their own ports); remove the policy afterwards only if we
# created it.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

# Another apt-get (a developer's, unattended-upgrades) may hold the locks:
# wait for it, boundedly, rather than fail.
apt_opts=(-q -o DPkg::Lock::Timeout=300)
retry() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if "$@" </dev/null; then return 0; fi
		echo "install-deps: '$*' failed (try $i), retrying in 10s" >&2
		sleep 10
	done
	"$@" </dev/null
}

echo "install-deps: installing: ${missing[*]}"
retry apt-get "${apt_opts[@]}" update
retry apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
echo "install-deps: installed: ${missing[*]}"
