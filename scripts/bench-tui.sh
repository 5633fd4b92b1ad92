#!/usr/bin/env bash
# The console (`firebreak tui`) over 500 containers, each figure beside its
# target (issue 14): BenchmarkFleetUpdateView (tui/bench_test.go: the model
# alone, synthetic engine events and key presses, no daemon) and
# BenchmarkConsoleTmux (cmd/firebreak/tui_bench_test.go: a binary built here
# without the race detector, in a 160x48 tmux window, against N busybox
# containers on the real Docker Engine, through a proxy that counts the
# engine's list calls). It makes the containers, labelled firebreak.bench=tui
# (RUNNING of them running `sleep`, the rest created), and removes every one
# it made on exit. Needs dockerd, tmux and the test image (scripts/testenv.sh
# up); run it under the daemon lock.
# Usage: scripts/bench-tui.sh [CONTAINERS=500] [RUNNING=CONTAINERS] [COUNT=3]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
running=${2:-$n}
count=${3:-3}
image=${FIREBREAK_TEST_IMAGE:-firebreak.local/busybox:test}
label=firebreak.bench=tui
work=$(mktemp -d)

remove_bench_containers() {
  docker ps -aq --filter "label=$label" | xargs -r -n 50 docker rm -f >/dev/null
}
trap 'remove_bench_containers; rm -rf "$work"' EXIT
remove_bench_containers # left by a run that was killed

go build -o "$work/firebreak" ./cmd/firebreak
go test -c -o "$work/tui.test" ./tui
go test -c -o "$work/firebreak.test" ./cmd/firebreak

start=$SECONDS
seq 1 "$n" | xargs -P 8 -I{} sh -c '
  name=$(printf "fbbench-%03d" "$1")
  if [ "$1" -le "$2" ]; then verb="run -d"; else verb=create; fi
  docker $verb --label "$3" --name "$name" "$4" sleep 86400 >/dev/null
' _ {} "$running" "$label" "$image"
made=$(docker ps -aq --filter "label=$label" | wc -l)
up=$(docker ps -q --filter "label=$label" --filter status=running | wc -l)
echo "made $made containers ($up running) in $((SECONDS - start)) s; the engine has $(docker ps -aq | wc -l) in all"
free -m | sed -n 2p | awk '{print "host memory used: " $3 " MiB of " $2}'

out=$work/bench.txt
(cd tui && "$work/tui.test" -test.run '^$' -test.bench 'BenchmarkFleetUpdateView$' -test.benchtime 20000x -test.count "$count") | tee "$out"
(cd cmd/firebreak && FIREBREAK_BENCH_TUI=1 FIREBREAK_BENCH_TUI_BIN="$work/firebreak" FIREBREAK_BENCH_TUI_N="$n" \
  "$work/firebreak.test" -test.run '^$' -test.bench 'BenchmarkConsoleTmux$' -test.benchtime 1x -test.count "$count" -test.timeout 60m -test.v) | tee -a "$out"

awk -v n="$n" '
  function metric(name,   i) { for (i = 4; i <= NF; i++) if ($i == name) return $(i-1); return "" }
  function check(kind, name, label, target) {
    vals = ""; ok = 1; runs = 0
    for (r = 1; r <= nr[kind]; r++) {
      v = m[kind, r, name]
      if (v == "") continue
      vals = vals sprintf("%s%s", runs ? " " : "", v); runs++
      if (target != "" && !(v + 0 < target)) ok = 0
    }
    if (!runs) { ok = 0; vals = "(no figure)" }
    if (target == "") printf "%-40s %-30s %-8s\n", label, vals, "-"
    else printf "%-40s %-30s %-8s %s\n", label, vals, "< " target, ok ? "PASS" : "MISS"
  }
  /^BenchmarkFleetUpdateView/ { k = "model"; nr[k]++; for (i = 4; i <= NF; i++) m[k, nr[k], $i] = $(i-1) }
  /^BenchmarkConsoleTmux/ { k = "tmux"; nr[k]++; for (i = 4; i <= NF; i++) m[k, nr[k], $i] = $(i-1) }
  END {
    printf "\n%d containers; one figure per run\n", n
    printf "%-40s %-30s %-8s %s\n", "figure", "runs", "target", ""
    check("model", "p99-us", "model Update+View p99 (us)", 5000)
    check("model", "p50-us", "model Update+View p50 (us)", "")
    check("tmux", "first-screen-ms", "first populated screen (ms)", 500)
    check("tmux", "key-p50-ms", "key press to screen p50 (ms)", 16)
    check("tmux", "key-p99-ms", "key press to screen p99 (ms)", 50)
    check("tmux", "idle-list-calls", "list calls while idle 30 s", 1)
    check("tmux", "idle-cpu-pct", "CPU while idle 30 s (% of a core)", 1)
    check("tmux", "peak-rss-MiB", "peak resident memory (MiB)", 80)
    check("tmux", "rss-MiB", "resident memory at the end (MiB)", 80)
    check("tmux", "idle-requests", "engine requests while idle 30 s", "")
    check("tmux", "triage-s", "whole fleet ranked (s)", "")
    check("tmux", "busy-key-p50-ms", "key p50 while the triage runs (ms)", "")
    check("tmux", "busy-key-p99-ms", "key p99 while the triage runs (ms)", "")
    check("tmux", "key-max-ms", "key press to screen max (ms)", "")
    check("tmux", "list-calls", "list calls in the whole run", "")
  }' "$out"
