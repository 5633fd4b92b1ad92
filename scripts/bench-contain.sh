#!/usr/bin/env bash
# Time-to-contain on the real Docker Engine: Firebreak beside the docker CLI
# sequence a responder would type (network disconnect for each network, then
# pause), in the same `go test -bench` run, and the ratio of the two.
# Usage: scripts/bench-contain.sh [BENCHTIME for 1 container] [BENCHTIME for 50]
set -euo pipefail
cd "$(dirname "$0")/.."
one=${1:-20x}
fifty=${2:-3x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkContainDocker/containers=1$|BenchmarkDockerCLIBaseline/containers=1$' -benchtime="$one" ./contain | tee "$out"
go test -run '^$' -bench 'BenchmarkContainDocker/containers=50$|BenchmarkDockerCLIBaseline/containers=50$' -benchtime="$fifty" ./contain | tee -a "$out"
awk '
  /^Benchmark/ {
    split($1, p, "/"); kind = p[1]; sub(/-[0-9]+$/, "", p[2]); n = p[2]
    for (i = 2; i <= NF; i++) { if ($i == "frozen-ms/op") f[kind, n] = $(i-1); if ($i == "all-done-ms/op") a[kind, n] = $(i-1) }
    ns[n] = 1
  }
  END {
    print ""
    printf "%-16s %14s %14s %14s %10s %10s\n", "fleet", "cli ms", "fb frozen ms", "fb all ms", "frozen x", "all x"
    for (n in ns) {
      c = f["BenchmarkDockerCLIBaseline", n]; fz = f["BenchmarkContainDocker", n]; al = a["BenchmarkContainDocker", n]
      printf "%-16s %14.1f %14.1f %14.1f %10.2f %10.2f\n", n, c, fz, al, c / fz, c / al
    }
  }' "$out"
