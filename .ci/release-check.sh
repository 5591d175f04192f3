#!/usr/bin/env bash
# release-check.sh checks .goreleaser.yaml for real: goreleaser check, then
# a snapshot build of every archive, whose contents and checksums are
# verified. goreleaser v2.15.1 is installed from the Go module proxy into
# GOPATH/bin once (a few minutes on a new machine), then reused.
set -euo pipefail
cd "$(dirname "$0")/.."

want=2.15.1
bin="$(go env GOPATH)/bin/goreleaser"
if ! "$bin" --version 2>/dev/null | grep -q "GitVersion:.*v$want"; then
  echo "release-check: installing goreleaser v$want"
  GOFLAGS= go install "github.com/goreleaser/goreleaser/v2@v$want"
fi

"$bin" check
"$bin" release --snapshot --clean --skip=publish >/tmp/fwd-goreleaser.log 2>&1 || {
  tail -40 /tmp/fwd-goreleaser.log >&2
  exit 1
}

# Every archive has the binary, the README, the completions and the man
# pages, and the checksums match.
cd dist
for a in fwd_*_linux_amd64.tar.gz fwd_*_darwin_arm64.tar.gz; do
  list=$(tar tzf "$a")
  for f in fwd README.md completions/fwd.bash completions/_fwd completions/fwd.fish completions/fwd.ps1 manpages/fwd.1 manpages/fwd-service.1; do
    grep -qx "$f" <<<"$list" || { echo "release-check: $a lacks $f" >&2; exit 1; }
  done
done
# The listing is read whole first: grep -q stopping at the match would
# leave unzip writing to a closed pipe, which pipefail counts as a failure.
zlist=$(unzip -l fwd_*_windows_amd64.zip)
grep -q 'fwd\.exe$' <<<"$zlist" || { echo "release-check: the windows zip lacks fwd.exe" >&2; exit 1; }
sha256sum -c checksums.txt --quiet
echo "release-check: $(ls fwd_*.tar.gz fwd_*.zip | wc -l) archives built, contents and checksums right"
