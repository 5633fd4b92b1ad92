#!/usr/bin/env bash
# firebreak serve on loopback against the real Docker Engine (the test
# environment must be up: scripts/testenv.sh up; . the env it prints):
#  1. alert POST to the container's cut, beside an alert handler that runs
#     `firebreak contain` per alert, in the same run, and the ratio;
#  2. 5,000 alerts/s for 60 s (accept latency from each request's due time,
#     none lost);
#  3. ten times that rate offered for 20 s (refusals, not growth).
# Usage: scripts/bench-serve.sh [ITERATIONS for 1] [SECONDS for 2]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
secs=${2:-60}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
export FIREBREAK_TEST_REQUIRE_DAEMONS=1
go test -run '^$' -bench 'BenchmarkServeAlertToCut|BenchmarkContainCLIBaseline' -benchtime="${n}x" ./cmd/firebreak | tee "$out"
awk '
  /^BenchmarkServeAlertToCut/ { for (i = 2; i <= NF; i++) { if ($i == "p50-ms") s50 = $(i-1); if ($i == "p99-ms") s99 = $(i-1) } }
  /^BenchmarkContainCLIBaseline/ { for (i = 2; i <= NF; i++) { if ($i == "p50-ms") c50 = $(i-1); if ($i == "p99-ms") c99 = $(i-1) } }
  END {
    printf "\n%-34s %10s %10s\n", "alert to cut", "p50 ms", "p99 ms"
    printf "%-34s %10.1f %10.1f\n", "firebreak serve", s50, s99
    printf "%-34s %10.1f %10.1f\n", "handler running firebreak contain", c50, c99
    printf "%-34s %9.2fx %9.2fx\n", "serve faster by", c50 / s50, c99 / s99
  }' "$out"
FIREBREAK_BENCH_SERVE_RATE=5000 FIREBREAK_BENCH_SERVE_SECONDS="$secs" \
  go test -run '^$' -bench 'BenchmarkServeSustained' -benchtime=1x ./cmd/firebreak
FIREBREAK_BENCH_SERVE_RATE=50000 FIREBREAK_BENCH_SERVE_SECONDS=20 \
  go test -run '^$' -bench 'BenchmarkServeSustained' -benchtime=1x ./cmd/firebreak
