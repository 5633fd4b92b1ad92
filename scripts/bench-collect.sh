#!/usr/bin/env bash
# Capture of an ~800 MiB writable layer (10,000 small files, four 200 MiB
# random files) into a real MinIO, beside `docker export | gzip -1` and
# `tar | zstd -1 -T0` to a local file, and the same capture into the local
# store, in one `go test -bench` run, with the ratios and the CPU time each
# used (MinIO's too: the benchmark starts its own servers, one with default
# settings and one with --no-compat). Needs scripts/testenv.sh up.
# Usage: scripts/bench-collect.sh [BENCHTIME]
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/testenv.sh env)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkCollectFSDiffMinIO|BenchmarkCollectFSDiffLocal|BenchmarkBaselineDockerExportGzip|BenchmarkBaselineTarZstd' \
  -benchtime="${1:-3x}" -timeout 60m ./collect | tee "$out"
awk '
  function metric(name,   i) { for (i = 4; i <= NF; i++) if ($i == name) return $(i-1); return 0 }
  /^BenchmarkCollectFSDiffMinIO\/server=default/ { fb = $3 / 1e9; rss = metric("peak-rss-MiB"); fbc = metric("cpu-s/op"); srv = metric("server-cpu-s/op") }
  /^BenchmarkCollectFSDiffMinIO\/server=no-compat/ { nc = $3 / 1e9; ncr = metric("peak-rss-MiB"); ncc = metric("cpu-s/op"); ncs = metric("server-cpu-s/op") }
  /^BenchmarkCollectFSDiffLocal/ { lo = $3 / 1e9; loc = metric("cpu-s/op") }
  /^BenchmarkBaselineDockerExportGzip/ { ex = $3 / 1e9; exc = metric("child-cpu-s/op") }
  /^BenchmarkBaselineTarZstd/ { tz = $3 / 1e9; tzc = metric("child-cpu-s/op") }
  END {
    printf "\n%-28s %7s %9s\n", "", "wall s", "CPU s"
    printf "%-28s %7.2f %9.2f  + MinIO %.2f CPU-s (peak RSS %.1f MiB)\n", "firebreak fsdiff -> MinIO", fb, fbc, srv, rss
    printf "%-28s %7.2f %9.2f  + MinIO %.2f CPU-s (peak RSS %.1f MiB)\n", "  ... MinIO --no-compat", nc, ncc, ncs, ncr
    printf "%-28s %7.2f %9.2f  firebreak is %.2fx faster (%.2fx into MinIO --no-compat; dockerd CPU not counted)\n", "docker export | gzip -1", ex, exc, ex / fb, ex / nc
    printf "%-28s %7.2f %9.2f  firebreak takes %.2fx as long (%.2fx into MinIO --no-compat)\n", "tar | zstd -1 -T0 > file", tz, tzc, fb / tz, nc / tz
    printf "%-28s %7.2f %9.2f  %.2fx docker export | gzip, %.2fx tar | zstd\n", "firebreak fsdiff -> local", lo, loc, ex / lo, lo / tz
  }' "$out"
