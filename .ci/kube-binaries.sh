#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from the Go module k8s.io/kubernetes,
# once: the binaries are cached (FWD_KUBE_CACHE, default
# ~/.cache/fwd-ci/kube-VERSION) and later runs only print where they are.
# The Kubernetes tests (test/kube) use them with Debian's etcd: a real API
# server, not a fake clientset. The build takes about 6 minutes on 2 cores.
#
# The module is built from a copy of its source: its go.mod replaces every
# k8s.io/* staging module with ./staging, which a module download does
# not contain, so the copy requires the published v0.x.y of each instead.
#
# Prints the cache directory on its last line.
set -euo pipefail

version=${KUBE_VERSION:-v1.37.2}
staging=v0.${version#v1.}
cache=${FWD_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fwd-ci/kube-$version}

if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/kubectl" ]; then
  echo "$cache"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

echo "kube-binaries: building kube-apiserver and kubectl $version (once; cached in $cache)" >&2
dir=$(GOFLAGS= go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ]; then
  echo "kube-binaries: go mod download k8s.io/kubernetes@$version gave no directory" >&2
  exit 1
fi
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
rm -f go.work go.work.sum
# Drop the staging replaces and pin each k8s.io requirement at v0.0.0 to
# the published version of this release.
sed -i -e '/=> \.\/staging/d' -e "s#^\(\s*k8s\.io/[^ ]*\) v0\.0\.0\$#\1 $staging#" go.mod

minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for cmd in kube-apiserver kubectl; do
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/$cmd" "./cmd/$cmd"
done
# Moved in only when both built, so that a cache is never half made.
mv "$work/kube-apiserver" "$work/kubectl" "$cache/"
echo "$cache"
