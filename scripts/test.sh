#!/usr/bin/env bash
# Runs every test against real daemons: brings up containerd, dockerd, MinIO
# and the test image (installing what is missing), runs gofmt, go vet and the
# race-enabled test suite with missing daemons as failures, and stops what it
# started. Usage (as root): scripts/test.sh [go test flags...]
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
go test -race -count=1 -timeout 20m "$@" ./...
