package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// Benchmarks of serve on loopback (its unix socket), on the real Docker
// Engine: scripts/bench-serve.sh runs them with the baseline and prints the
// figures docs/BENCHMARKS.md records.

// cutRules run a one-step playbook: the cut, as the contain benchmark
// measures it (the drop rules in the container's namespace).
const cutRules = `
- name: cut
  match: {rule: "Container escape attempt"}
  playbook: cut-only
  approve: all
  dedupe: 1ms
`

const cutPlaybook = `name: cut-only
description: Cut the container's network, nothing else (benchmark).
steps:
  - id: isolate
    action: contain.network
    with: {verify: false}
`

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// cutAt is when the container's drop rules went in, from its record.
func cutAt(b *testing.B, stateDir, id string) (time.Time, bool) {
	b.Helper()
	recs, err := contain.OpenRecords(stateDir)
	if err != nil {
		b.Fatal(err)
	}
	r, err := recs.Load("docker", "", id)
	if err != nil || r == nil {
		return time.Time{}, false
	}
	for _, e := range r.Log {
		if e.Action == "firewall" && e.Error == "" {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// BenchmarkServeAlertToCut: from the start of an alert's POST to the drop
// rules in the container's namespace, one alert at a time, each for a
// container not yet held (released between iterations, outside the timer).
// Metrics: p50-ms and p99-ms over the iterations.
func BenchmarkServeAlertToCut(b *testing.B) {
	h := runtimetest.Docker(b)
	vspec, _, _ := h.Network(b)
	const fleet = 8
	var vs []runtime.Details
	for i := 0; i < fleet; i++ {
		vs = append(vs, h.Run(b, fmt.Sprintf("%s-%d", runtimetest.Name(b), i), vspec))
	}
	flags := []string{"--runtime=docker", "--state-dir", b.TempDir(), "--key-dir", b.TempDir(), "--spool-dir", b.TempDir(), "--store", "file://" + b.TempDir()}
	dir := flagValue(flags, "--state-dir")
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.MkdirAll(pbDir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbDir, "cut-only.yaml"), []byte(cutPlaybook), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(cutRules), 0o600); err != nil {
		b.Fatal(err)
	}
	p := startServe(b, flags, "--playbooks", pbDir)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := vs[i%fleet]
		start := time.Now()
		if code, msg := p.post(falcoAlert(v.ShortID(), v.Name), nil); code != http.StatusAccepted {
			b.Fatalf("post: %d %s", code, msg)
		}
		var at time.Time
		deadline := time.Now().Add(10 * time.Second)
		for {
			if t, ok := cutAt(b, dir, v.ID); ok {
				at = t
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no cut of %s within 10 s\n%s", v.Name, p.stderr)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, at.Sub(start))
		b.StopTimer()
		// The run ends after its cut; release once it has let go.
		runtimetest.Eventually(b, 10*time.Second, "the run let go", func() bool {
			var out strings.Builder
			return run(b.Context(), []string{"release", v.ID, "--state-dir", dir, "--runtime=docker"}, newDeps(&out, &out)) == exitOK
		})
		b.StartTimer()
	}
	b.ReportMetric(millis(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(millis(percentile(lat, 0.99)), "p99-ms")
}

// BenchmarkContainCLIBaseline: the same cut from an alert handler that runs
// `firebreak contain --pause=false` for each alert, as a script behind
// falcosidekick would: a new process, a new session, the cut.
func BenchmarkContainCLIBaseline(b *testing.B) {
	h := runtimetest.Docker(b)
	vspec, _, _ := h.Network(b)
	v := h.Run(b, runtimetest.Name(b), vspec)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cmd := exec.Command(self, "contain", "--pause=false", "--verify=false", "--runtime=docker", "--state-dir", dir, v.ID)
		cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("contain: %v\n%s", err, out)
		}
		at, ok := cutAt(b, dir, v.ID)
		if !ok {
			b.Fatal("no cut recorded")
		}
		lat = append(lat, at.Sub(start))
		b.StopTimer()
		var out strings.Builder
		if code := run(b.Context(), []string{"release", v.ID, "--state-dir", dir, "--runtime=docker"}, newDeps(&out, &out)); code != exitOK {
			b.Fatalf("release: %d %s", code, out.String())
		}
		b.StartTimer()
	}
	b.ReportMetric(millis(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(millis(percentile(lat, 0.99)), "p99-ms")
}

// BenchmarkServeSustained offers alerts at a fixed rate (FIREBREAK_BENCH_SERVE_RATE,
// default 5000/s) for FIREBREAK_BENCH_SERVE_SECONDS (default 60) and
// measures each request from its send to its 202; then checks that every
// 202 is in the journal and decided (none lost). The alerts name one
// running container, so all but the first are duplicates: the dispatcher's
// path a flood takes. With FIREBREAK_BENCH_SERVE_DISTINCT=1 each alert
// names another container that does not exist: every decision asks the
// engine (a few milliseconds each), far slower than intake, which is the
// overload the bounded queue must refuse rather than grow under. Metrics:
// accept p50/p99, alerts/s offered and accepted, refused (429), lost, and
// serve's peak resident memory.
func BenchmarkServeSustained(b *testing.B) {
	rate := envInt("FIREBREAK_BENCH_SERVE_RATE", 5000)
	secs := envInt("FIREBREAK_BENCH_SERVE_SECONDS", 60)
	h := runtimetest.Docker(b)
	v := h.Run(b, runtimetest.Name(b), runtimetest.Spec{})
	for i := 0; i < b.N; i++ {
		flags := []string{"--runtime=docker", "--state-dir", b.TempDir(), "--key-dir", b.TempDir(), "--spool-dir", b.TempDir(), "--store", "file://" + b.TempDir()}
		p := startServe(b, flags, "--queue", strconv.Itoa(envInt("FIREBREAK_BENCH_SERVE_QUEUE", 10000)))
		body := falcoAlert(v.ShortID(), v.Name)
		distinct := os.Getenv("FIREBREAK_BENCH_SERVE_DISTINCT") == "1"
		var serial atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		var ok202, refused, failed atomic.Int64
		tokens := make(chan time.Time, 4096)
		var wg sync.WaitGroup
		for w := 0; w < 128; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for due := range tokens {
					b := body
					if distinct {
						b = falcoAlert(fmt.Sprintf("%012x", 0xf00000000000+serial.Add(1)), "none")
					}
					code, _ := p.post(b, nil)
					d := time.Since(due)
					switch code {
					case http.StatusAccepted:
						ok202.Add(1)
						mine = append(mine, d)
					case http.StatusTooManyRequests:
						refused.Add(1)
					default:
						failed.Add(1)
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		start := time.Now()
		total := rate * secs
		interval := time.Second / time.Duration(rate)
		for n := 0; n < total; n++ {
			due := start.Add(time.Duration(n) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			tokens <- due
		}
		close(tokens)
		wg.Wait()
		elapsed := time.Since(start)
		hwm := peakRSS(p.cmd.Process.Pid)
		if resp, err := p.client.Get("http://serve/metrics"); err == nil {
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var keep []string
			for _, line := range strings.Split(string(m), "\n") {
				if strings.HasPrefix(line, "firebreak_journal_sync_seconds") || strings.HasPrefix(line, "firebreak_alert_accept_seconds") {
					keep = append(keep, line)
				}
			}
			fmt.Fprintln(os.Stderr, "serve's own histograms:\n"+strings.Join(keep, "\n"))
		}
		runtimetest.Eventually(b, 120*time.Second, "every accepted alert decided", func() bool { return decided(stories(b, flags)) >= int(ok202.Load()) })
		ss := stories(b, flags)
		lost := ok202.Load() - int64(len(ss))
		if lost < 0 {
			lost = 0 // accepted whose 202 the sender did not see: none here, serve is not killed
		}
		p.stop()
		b.ReportMetric(millis(percentile(lat, 0.5)), "accept-p50-ms")
		b.ReportMetric(millis(percentile(lat, 0.99)), "accept-p99-ms")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "offered/s")
		b.ReportMetric(float64(ok202.Load())/elapsed.Seconds(), "accepted/s")
		b.ReportMetric(float64(refused.Load()), "refused-429")
		b.ReportMetric(float64(failed.Load()), "failed")
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(hwm)/1024, "peak-rss-MiB")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSS is a process's peak resident memory in KiB (VmHWM).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
