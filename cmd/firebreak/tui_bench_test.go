package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"firebreak/runtime/runtimetest"
)

// benchLabel marks the containers the console benchmark lists;
// scripts/bench-tui.sh makes them.
const benchLabel = "firebreak.bench=tui"

// BenchmarkConsoleTmux runs the console (a real binary, not the race-built
// test binary) in a 160x48 tmux window against the real Docker Engine with
// the containers labelled firebreak.bench=tui, through a counting proxy to
// the engine's socket, and measures what a responder sees:
//
//   - first-screen-ms: from starting the program to the fleet's rows on
//     the screen;
//   - triage-s: from starting it to every row on the screen ranked (the
//     triage of the whole fleet answered);
//   - key-p50-ms, key-p99-ms, key-max-ms: from a key press (send-keys) to
//     the first output of the pane after it, for 200 presses of j and k and
//     a few filter keys, read from a tmux control-mode client (%output), so
//     no capture-pane process is timed, after the triage answered;
//   - busy-key-p50-ms, busy-key-p99-ms: the same for j and k in turn while
//     the triage of the fleet still runs (up to 60 presses);
//   - idle-list-calls, idle-requests, idle-cpu-pct: the engine list calls
//     and all requests through the proxy, and the console's CPU time as a
//     share of one core, over 30 s with nothing happening;
//   - rss-MiB, peak-rss-MiB: the console's VmRSS and VmHWM at the end;
//   - list-calls: list calls over the whole run (the one at start).
//
// It runs only with FIREBREAK_BENCH_TUI=1 (scripts/bench-tui.sh sets it,
// builds the binary into FIREBREAK_BENCH_TUI_BIN and makes the containers;
// FIREBREAK_BENCH_TUI_N is how many it made; FIREBREAK_BENCH_TUI_ENV adds
// variables to the console's environment).
func BenchmarkConsoleTmux(b *testing.B) {
	if os.Getenv("FIREBREAK_BENCH_TUI") != "1" {
		b.Skip("set FIREBREAK_BENCH_TUI=1 (scripts/bench-tui.sh does, with the containers)")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		b.Fatal("tmux is not installed (scripts/testenv.sh installs it)")
	}
	h := runtimetest.Docker(b)
	ctx := runtimetest.Context(b)
	bench, err := h.Docker().API().ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", benchLabel))})
	if err != nil {
		b.Fatal(err)
	}
	if want := os.Getenv("FIREBREAK_BENCH_TUI_N"); want != "" && want != strconv.Itoa(len(bench)) {
		b.Fatalf("%d containers labelled %s, want %s", len(bench), benchLabel, want)
	}
	if len(bench) == 0 {
		b.Fatalf("no container labelled %s (scripts/bench-tui.sh makes them)", benchLabel)
	}
	all, err := h.Docker().API().ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		b.Fatal(err)
	}
	bin := benchBinary(b)
	// The tmux server this starts is a daemon: it must not keep a lock
	// the benchmark's caller holds (flock) through an inherited descriptor.
	closeInheritedOnExec(b)

	// the bench container listed first before the triage ranks them (by
	// name: they all have risk 0 until then), to see on the first screen
	var first string
	for _, c := range bench {
		if n := strings.TrimPrefix(c.Names[0], "/"); first == "" || n < first {
			first = n
		}
	}
	var r consoleRun
	for range b.N {
		r.run(b, bin, len(all), first)
	}
	b.StopTimer()
	slices.Sort(r.keys)
	slices.Sort(r.busyKeys)
	pct := func(p float64) float64 { return percentileMS(r.keys, p) }
	b.ReportMetric(float64(len(bench)), "containers")
	b.ReportMetric(r.first, "first-screen-ms")
	b.ReportMetric(r.triage, "triage-s")
	b.ReportMetric(pct(0.50), "key-p50-ms")
	b.ReportMetric(pct(0.99), "key-p99-ms")
	b.ReportMetric(millis(r.keys[len(r.keys)-1]), "key-max-ms")
	b.ReportMetric(float64(len(r.keys)), "keys")
	if len(r.busyKeys) > 0 {
		b.ReportMetric(percentileMS(r.busyKeys, 0.50), "busy-key-p50-ms")
		b.ReportMetric(percentileMS(r.busyKeys, 0.99), "busy-key-p99-ms")
		b.ReportMetric(float64(len(r.busyKeys)), "busy-keys")
	}
	b.ReportMetric(r.idleLists, "idle-list-calls")
	b.ReportMetric(r.idleRequests, "idle-requests")
	b.ReportMetric(r.idleCPU, "idle-cpu-pct")
	b.ReportMetric(r.rss, "rss-MiB")
	b.ReportMetric(r.hwm, "peak-rss-MiB")
	b.ReportMetric(r.lists, "list-calls")
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// percentileMS is the p-th percentile of sorted durations, in ms.
func percentileMS(sorted []time.Duration, p float64) float64 {
	return millis(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))])
}

// consoleRun holds the figures of the runs so far: the worst of each, and
// every key's latency.
type consoleRun struct {
	first, triage                    float64
	keys, busyKeys                   []time.Duration
	idleLists, idleRequests, idleCPU float64
	rss, hwm, lists                  float64
}

func (r *consoleRun) run(b *testing.B, bin string, total int, benchName string) {
	dir := b.TempDir()
	proxy := startCountingProxy(b, filepath.Join(dir, "docker.sock"))
	state := filepath.Join(dir, "state")
	store := filepath.Join(dir, "store")
	argv := []string{bin, "--runtime", "docker", "--host", "unix://" + proxy.path, "--state-dir", state,
		"tui", "--key-dir", filepath.Join(dir, "keys"), "--spool-dir", filepath.Join(dir, "spool"), "--store", "file://" + store}
	env := []string{"TERM=xterm-256color", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	// FIREBREAK_BENCH_TUI_ENV adds to the console's environment, for
	// experiments ("GOMAXPROCS=1 GOGC=50")
	env = append(env, strings.Fields(os.Getenv("FIREBREAK_BENCH_TUI_ENV"))...)
	var quoted []string
	for _, s := range append(env, argv...) {
		quoted = append(quoted, shellQuoteTest(s))
	}
	// The shell waits for a line before it starts the console, so that the
	// control client is attached and the start is timed from the key.
	shell := "read _; env " + strings.Join(quoted, " ") + "; echo; echo \"[exited $?]\"; sleep 600"
	x := &tmuxTerm{t: b, socket: filepath.Join(dir, "tmux.sock"), target: "fb:0.0"}
	x.tmux("-f", "/dev/null", "new-session", "-d", "-s", "fb", "-x", "160", "-y", "48", shell)
	b.Cleanup(func() { _ = exec.Command("tmux", "-S", x.socket, "kill-server").Run() })
	x.tmux("set-option", "-g", "status", "off")
	x.tmux("set-window-option", "-g", "automatic-rename", "off")
	c := attachControl(b, x.socket)
	if size := strings.TrimSpace(x.tmux("display-message", "-p", "-t", x.target, "#{pane_width}x#{pane_height}")); size != "160x48" {
		b.Fatalf("the pane is %s, want 160x48", size)
	}
	shellPID, err := strconv.Atoi(strings.TrimSpace(x.tmux("display-message", "-p", "-t", x.target, "#{pane_pid}")))
	if err != nil {
		b.Fatal(err)
	}

	// (a) first populated screen: the count of every container the engine
	// has, on the screen with a bench container's row
	populated := regexp.MustCompile(`\b` + strconv.Itoa(total) + ` containers\b`)
	start := c.send("send-keys -t fb:0.0 Enter")
	var screen []byte
	first, ok := c.waitOutput(20*time.Second, func(out []byte) bool {
		screen = append(screen, out...)
		plain := stripANSI(screen)
		return populated.Match(plain) && strings.Contains(string(plain), benchName)
	})
	if !ok {
		b.Fatalf("the screen did not show %d containers and %s in 20 s:\n%s", total, benchName, x.screen())
	}
	firstMS := millis(first.Sub(start))
	pid := childPID(b, shellPID)
	x.waitFor(5*time.Second, fmt.Sprintf("%d containers", total), benchName)

	// keys while the triage of the fleet runs (both cores busy with it and
	// the engine): j and k in turn, each moving the cursor
	var busy []time.Duration
	for i := 0; i < 60; i++ {
		if i%10 == 0 && ranked(x.screen()) {
			break
		}
		c.quiet(b, 25*time.Millisecond, 10*time.Second)
		pause()
		k := map[bool]string{true: "j", false: "k"}[i%2 == 0]
		t0 := c.send("send-keys -t fb:0.0 " + k)
		t1, ok := c.waitOutput(5*time.Second, func([]byte) bool { return true })
		if !ok {
			b.Fatalf("key %s during the triage did not change the screen in 5 s:\n%s", k, x.screen())
		}
		busy = append(busy, t1.Sub(t0))
	}

	// the whole fleet ranked: no row left with "…" for its risk
	for {
		if ranked(x.screen()) {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("the fleet was not triaged in 5 minutes:\n%s", x.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	triage := time.Since(start).Seconds()
	c.quiet(b, time.Second, 30*time.Second)

	// (b) key press to the first output after it
	// each key changes the screen: j and k move the cursor down from the
	// top and back (the fleet's order sorted by risk, then name)
	moves := min(100, total-1)
	var keys []string
	for range moves {
		keys = append(keys, "j")
	}
	for range moves {
		keys = append(keys, "k")
	}
	keys = append(keys, "/", "f", "b", "b", "e", "n", "c", "h", "Enter", "Escape")
	var lat []time.Duration
	for _, k := range keys {
		c.quiet(b, 25*time.Millisecond, 5*time.Second)
		pause()
		t0 := c.send("send-keys -t fb:0.0 " + k)
		t1, ok := c.waitOutput(2*time.Second, func([]byte) bool { return true })
		if !ok {
			b.Fatalf("key %d (%s) did not change the screen in 2 s:\n%s", len(lat)+1, k, x.screen())
		}
		lat = append(lat, t1.Sub(t0))
	}
	c.quiet(b, time.Second, 10*time.Second)
	if s := x.screen(); !strings.Contains(s, fmt.Sprintf("%d containers", total)) || line(s, "> ") == "" {
		b.Fatalf("after the keys the fleet is not shown whole with its cursor:\n%s", s)
	}

	// (c) 30 s with nothing happening
	const idle = 30 * time.Second
	lists0, reqs0, cpu0, out0 := proxy.lists.Load(), proxy.requests.Load(), cpuTicks(b, pid), c.outputs.Load()
	time.Sleep(idle)
	lists1, reqs1, cpu1, out1 := proxy.lists.Load(), proxy.requests.Load(), cpuTicks(b, pid), c.outputs.Load()
	cpuPct := float64(cpu1-cpu0) / clockTicks / idle.Seconds() * 100
	b.Logf("idle %s: %d list calls, %d requests, %d pane outputs, %.2f%% of a core", idle, lists1-lists0, reqs1-reqs0, out1-out0, cpuPct)

	// (d) memory at the end
	rss, hwm := procMemMiB(b, pid)

	x.keys("q")
	x.waitFor(10*time.Second, "[exited 0]")
	c.close()

	b.Logf("first screen %.1f ms, triaged %.2f s, %d keys during the triage, %d keys after, rss %.1f MiB (peak %.1f), %d list calls, %d requests",
		firstMS, triage, len(busy), len(lat), rss, hwm, proxy.lists.Load(), proxy.requests.Load())
	r.first = max(r.first, firstMS)
	r.triage = max(r.triage, triage)
	r.keys = append(r.keys, lat...)
	r.busyKeys = append(r.busyKeys, busy...)
	r.idleLists = max(r.idleLists, float64(lists1-lists0))
	r.idleRequests = max(r.idleRequests, float64(reqs1-reqs0))
	r.idleCPU = max(r.idleCPU, cpuPct)
	r.rss, r.hwm = max(r.rss, rss), max(r.hwm, hwm)
	r.lists = max(r.lists, float64(proxy.lists.Load()))
}

// pause waits 0-50 ms at random before a key press. The renderer draws on
// a ticker (60 frames a second by default); pressing a fixed time after the
// last output would press at the same point of its frame every time and
// measure that point's wait instead of a responder's, who presses at any
// point.
func pause() { time.Sleep(rand.N(50 * time.Millisecond)) }

// ranked reports whether every fleet row on the screen has its risk score:
// the cell after the cursor and selection marks is not "…".
func ranked(screen string) bool {
	rows := 0
	for _, l := range strings.Split(screen, "\n") {
		rs := []rune(l)
		if len(rs) < 8 || strings.Contains(l, "RISK") || strings.Contains(l, " containers") {
			continue
		}
		if rs[2] == '…' {
			return false
		}
		rows++
	}
	return rows > 0
}

// benchBinary is the console binary: FIREBREAK_BENCH_TUI_BIN, else one
// built here without the race detector.
func benchBinary(b *testing.B) string {
	if bin := os.Getenv("FIREBREAK_BENCH_TUI_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(b.TempDir(), "firebreak")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec:
// Go opens its own so, and one inherited from the caller (flock's lock)
// then does not reach the tmux server.
func closeInheritedOnExec(b *testing.B) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// countingProxy passes requests to the Docker Engine's socket and counts
// them: every request, and the list calls (GET .../containers/json).
type countingProxy struct {
	path            string
	lists, requests atomic.Int64
}

func startCountingProxy(b *testing.B, path string) *countingProxy {
	upstream := "/var/run/docker.sock"
	if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok {
		upstream = h
	}
	p := &countingProxy{path: path}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.Host = "http", "docker", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", upstream)
		}},
		FlushInterval: -1, // the event stream passes as it comes
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if strings.HasSuffix(r.URL.Path, "/containers/json") {
			p.lists.Add(1)
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	return p
}

// controlClient is a tmux control-mode client: commands go in on its
// standard input, and the pane's output comes back as %output lines, each
// stamped with when it was read.
type controlClient struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     chan paneOutput
	outputs atomic.Int64
}

type paneOutput struct {
	at   time.Time
	data []byte
}

func attachControl(b *testing.B, socket string) *controlClient {
	cmd := exec.Command("tmux", "-u", "-S", socket, "-C", "attach-session", "-t", "fb")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &controlClient{cmd: cmd, in: in, out: make(chan paneOutput, 1<<16)}
	go func() {
		br := bufio.NewReaderSize(stdout, 1<<20)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(c.out)
				return
			}
			if rest, ok := strings.CutPrefix(l, "%output "); ok {
				at := time.Now()
				_, data, _ := strings.Cut(strings.TrimSuffix(rest, "\n"), " ")
				c.outputs.Add(1)
				c.out <- paneOutput{at: at, data: unescapeControl(data)}
			}
		}
	}()
	b.Cleanup(c.close)
	return c
}

// send writes one command and returns when it was written.
func (c *controlClient) send(command string) time.Time {
	at := time.Now()
	_, _ = io.WriteString(c.in, command+"\n")
	return at
}

// waitOutput reads the pane's output until done accepts it and returns
// when that output was read; false when it did not come within the time or
// the client ended.
func (c *controlClient) waitOutput(within time.Duration, done func([]byte) bool) (time.Time, bool) {
	timeout := time.After(within)
	for {
		select {
		case o, ok := <-c.out:
			if !ok {
				return time.Time{}, false
			}
			if done(o.data) {
				return o.at, true
			}
		case <-timeout:
			return time.Time{}, false
		}
	}
}

// quiet waits until the pane has written nothing for d.
func (c *controlClient) quiet(b *testing.B, d, within time.Duration) {
	end := time.Now().Add(within)
	for {
		select {
		case _, ok := <-c.out:
			if !ok {
				b.Fatal("the tmux control client ended")
			}
			if time.Now().After(end) {
				b.Fatalf("the pane never went quiet for %s in %s", d, within)
			}
		case <-time.After(d):
			return
		}
	}
}

func (c *controlClient) close() {
	if c.in != nil {
		_ = c.in.Close()
		c.in = nil
		_ = c.cmd.Wait()
	}
}

// unescapeControl undoes control mode's escaping of %output data: bytes
// below space and the backslash come as \ooo.
func unescapeControl(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

var ansiSeq = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])`)

// stripANSI drops escape sequences from terminal output; cursor moves
// become a space, so words of different lines do not join.
func stripANSI(b []byte) []byte {
	return ansiSeq.ReplaceAll(b, []byte(" "))
}

// childPID is the process the pane's shell started (the console).
func childPID(b *testing.B, parent int) int {
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			f := statFields(st)
			if len(f) > 2 && f[1] == strconv.Itoa(parent) {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("no child of the pane's shell %d", parent)
	return 0
}

// statFields are the fields of /proc/PID/stat after the command name:
// state, ppid, ... (utime and stime are [11] and [12]).
func statFields(st []byte) []string {
	s := string(st)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Fields(s)
}

// clockTicks is USER_HZ, the unit of utime and stime (100 on Linux).
const clockTicks = 100

// cpuTicks is a process's user and system time in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := statFields(st)
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		b.Fatal(err)
	}
	return u + s
}

// procMemMiB is a process's VmRSS and VmHWM in MiB.
func procMemMiB(b *testing.B, pid int) (rss, hwm float64) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = float64(kb) / 1024
		case "VmHWM":
			hwm = float64(kb) / 1024
		}
	}
	if rss == 0 || hwm == 0 {
		b.Fatalf("no VmRSS or VmHWM for process %d", pid)
	}
	return rss, hwm
}
