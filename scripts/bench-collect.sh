#!/usr/bin/env bash
# Capture of an ~800 MiB writable layer (10,000 small files, four 200 MiB
# random files) into a real MinIO, beside `docker export | gzip -1` and
# `tar | zstd -1 -T0` to a local file, and the same capture into the local
# store, in one `go test -bench` run, with the ratios. Needs scripts/testenv.sh up (it reads the MinIO address from it).
# Usage: scripts/bench-collect.sh [BENCHTIME]
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/testenv.sh env)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkCollectFSDiffMinIO|BenchmarkCollectFSDiffLocal|BenchmarkBaselineDockerExportGzip|BenchmarkBaselineTarZstd' \
  -benchtime="${1:-3x}" -timeout 60m ./collect | tee "$out"
awk '
  /^BenchmarkCollectFSDiffMinIO/ { fb = $3 / 1e9; for (i = 4; i <= NF; i++) if ($i == "peak-rss-MiB") rss = $(i-1) }
  /^BenchmarkCollectFSDiffLocal/ { lo = $3 / 1e9 }
  /^BenchmarkBaselineDockerExportGzip/ { ex = $3 / 1e9 }
  /^BenchmarkBaselineTarZstd/ { tz = $3 / 1e9 }
  END {
    printf "\nfirebreak fsdiff -> MinIO  %6.2f s  (peak RSS %.1f MiB)\n", fb, rss
    printf "docker export | gzip -1    %6.2f s  firebreak is %.2fx faster\n", ex, ex / fb
    printf "tar | zstd -1 -T0 > file   %6.2f s  firebreak takes %.2fx as long\n", tz, fb / tz
    printf "firebreak fsdiff -> local  %6.2f s  %.2fx docker export | gzip, %.2fx tar | zstd\n", lo, ex / lo, lo / tz
  }' "$out"
