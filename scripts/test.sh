#!/usr/bin/env bash
# Runs every test against real daemons: brings up containerd, dockerd, MinIO
# and the test image (installing what is missing), runs gofmt, go vet,
# staticcheck and the race-enabled test suite with missing daemons as
# failures, and stops what it started. Usage (as root): scripts/test.sh [go
# test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

FIREBREAK_TESTENV_DIR=$(mktemp -d /tmp/firebreak-testenv.XXXXXX)
export FIREBREAK_TESTENV_DIR
trap 'scripts/testenv.sh down; rm -rf "$FIREBREAK_TESTENV_DIR"' EXIT
scripts/testenv.sh up >"$FIREBREAK_TESTENV_DIR/env"
# shellcheck disable=SC1091
. "$FIREBREAK_TESTENV_DIR/env"
export FIREBREAK_TEST_REQUIRE_DAEMONS=1

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
# staticcheck, pinned, built once from its module and cached beside MinIO.
STATICCHECK_VERSION=v0.8.2
staticcheck=/var/cache/firebreak/bin/staticcheck-$STATICCHECK_VERSION
if [ ! -x "$staticcheck" ]; then
  mkdir -p /var/cache/firebreak/bin
  tmpbin=$(mktemp -d)
  GOBIN=$tmpbin go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  mv "$tmpbin/staticcheck" "$staticcheck"
  rmdir "$tmpbin"
fi
"$staticcheck" ./...
# The live drills check that the engine and the host's firewall are left as
# they found them: they run after the rest, alone, so no other package's
# test containers come and go during their before/after comparison.
go test -race -count=1 -timeout 20m "$@" $(go list ./... | grep -v '^firebreak/drill$')
go test -race -count=1 -timeout 10m "$@" ./drill/
