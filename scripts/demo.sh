#!/usr/bin/env bash
# A demo response on this machine: brings up the engine, starts a victim
# container and a peer on a demo network, contains the victim (network cut,
# frozen, verified), captures its evidence into the local default store and
# verifies it, shows its status, releases it, and cleans up what it made (the
# evidence stays in /var/lib/firebreak/evidence).
# Usage (as root): scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

FIREBREAK_TESTENV_DIR=$(mktemp -d /tmp/firebreak-demo.XXXXXX)
export FIREBREAK_TESTENV_DIR FIREBREAK_TESTENV_MINIO=0
scripts/testenv.sh up >/dev/null
IMAGE=$(scripts/testenv.sh env | sed -n 's/^export FIREBREAK_TEST_IMAGE=//p')

cleanup() {
  docker rm -f fb-demo-victim fb-demo-peer >/dev/null 2>&1 || true
  docker network rm fb-demo >/dev/null 2>&1 || true
  scripts/testenv.sh down
  rm -rf "$FIREBREAK_TESTENV_DIR"
}
trap cleanup EXIT

go build -o bin/firebreak ./cmd/firebreak
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

docker network create fb-demo >/dev/null
docker run -d --name fb-demo-peer --network fb-demo "$IMAGE" httpd -f -p 8080 -h /etc >/dev/null
docker run -d --name fb-demo-victim --network fb-demo --network-alias api "$IMAGE" \
  sh -c 'echo "planting a miner"; mkdir -p /tmp/.x; echo "#!/bin/sh" > /tmp/.x/miner; chmod +x /tmp/.x/miner; rm /etc/group; exec httpd -f -p 8080 -h /etc' >/dev/null
CASE=DEMO-$(date -u +%Y%m%d-%H%M%S)
sleep 1

step bin/firebreak ps
step bin/firebreak contain --case "$CASE" fb-demo-victim
step bin/firebreak collect --case "$CASE" fb-demo-victim
step bin/firebreak evidence verify "$CASE"
step bin/firebreak status fb-demo-victim
step docker inspect -f 'state={{.State.Status}} networks={{len .NetworkSettings.Networks}}' fb-demo-victim
step bin/firebreak release fb-demo-victim
step docker inspect -f 'state={{.State.Status}} networks={{range $k, $v := .NetworkSettings.Networks}}{{$k}} aliases={{$v.Aliases}}{{end}}' fb-demo-victim
