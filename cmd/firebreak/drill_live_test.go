package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"firebreak/drill"
	"firebreak/runtime/docker"
	"firebreak/runtime/runtimetest"
)

// drillFlags are a drill's own state directory and local store.
func drillFlags(t *testing.T) []string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fbc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return []string{"--runtime=docker", "--state-dir", filepath.Join(dir, "s"), "--key-dir", filepath.Join(dir, "k"), "--store", "file://" + filepath.Join(dir, "e"),
		"--image", runtimetest.Image()}
}

func stateFlags(flags []string) []string {
	return []string{"--runtime=docker", "--state-dir", flagValue(flags, "--state-dir")}
}

// leftovers is what of any drill is left on the engine and in the state
// directory.
func leftovers(t *testing.T, stateDir string) []string {
	t.Helper()
	d, err := docker.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	left, err := drill.Leftovers(context.Background(), d.API(), stateDir, "")
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// startDrill runs `drill live` as a separate process (this test binary as
// the CLI) and returns it once a line of its stderr ends with until.
func startDrill(t *testing.T, flags []string, scenario, until string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"drill", "live", scenario, "--yes"}, flags...)...)
	cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1")
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(errp)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(line, until) {
			return cmd, sc
		}
	}
	t.Fatalf("the drill ended before it printed %q", until)
	return nil, nil
}

// TestDrillLiveKilledThenCleanup kills a drill (SIGKILL) in the middle of
// its response, the nsenter decoy held and its sentinel on the host;
// `drill cleanup` then finds and removes everything it made, and a second
// cleanup has nothing to do.
func TestDrillLiveKilledThenCleanup(t *testing.T) {
	runtimetest.Docker(t)
	flags := drillFlags(t)
	stateDir := flagValue(flags, "--state-dir")
	// Killed as soon as the playbook has cut the decoy's network: the
	// decoy is held, its drop rules in place, the run half done.
	cmd, _ := startDrill(t, flags, "nsenter", "isolate (contain.network) ok: isolated")
	metas, _ := filepath.Glob(filepath.Join(stateDir, "drills", "*", "drill.json"))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	left := leftovers(t, stateDir)
	if !slices.ContainsFunc(left, func(l string) bool { return strings.HasPrefix(l, "held record ") }) {
		t.Fatalf("the killed drill left no held decoy (%v): the test proves less than it claims", left)
	}
	var meta struct {
		Sentinel struct{ PID int } `json:"sentinel"`
	}
	if len(metas) != 1 {
		t.Fatalf("drill records: %v", metas)
	}
	if b, err := os.ReadFile(metas[0]); err != nil || json.Unmarshal(b, &meta) != nil || meta.Sentinel.PID == 0 {
		t.Fatalf("no sentinel in the drill's record: %s %v", b, err)
	}
	r := cli(t, stateFlags(flags), "drill", "cleanup")
	if r.code != exitOK || !strings.Contains(r.stdout, "cleaned up 1 drill") {
		t.Fatalf("cleanup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if left := leftovers(t, stateDir); len(left) > 0 {
		t.Errorf("left after cleanup: %v", left)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(meta.Sentinel.PID) + "/cmdline"); err == nil && strings.Contains(string(b), "86400") {
		t.Errorf("the sentinel %d still runs: %q", meta.Sentinel.PID, b)
	}
	r = cli(t, append(stateFlags(flags), "-o", "json"), "drill", "cleanup")
	var rep struct {
		Type string `json:"type"`
		drill.CleanupReport
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != exitOK || err != nil || rep.Type != "cleanup" || !rep.Empty() {
		t.Errorf("second cleanup is not a no-op: exit %d %v\n%s", r.code, err, r.stdout)
	}
}

// TestDrillLiveInterruptedCleansUp interrupts a drill with SIGINT during
// its response, and another with SIGHUP (a responder's SSH session
// dropped): each exits 130 having cleaned up, and still writes its
// (aborted) result.
func TestDrillLiveInterruptedCleansUp(t *testing.T) {
	runtimetest.Docker(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			flags := drillFlags(t)
			reports := t.TempDir()
			cmd, sc := startDrill(t, append(flags, "--report-dir", reports), "dropped-binary", ": respond")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			go func() {
				for sc.Scan() {
				}
			}()
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Errorf("exit: %v, want %d", err, exitInterrupted)
			}
			if left := leftovers(t, flagValue(flags, "--state-dir")); len(left) > 0 {
				t.Errorf("left after the %v: %v", sig, left)
			}
			res, err := drill.LoadResult(reports)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Aborted, "interrupted") {
				t.Errorf("aborted %q", res.Aborted)
			}
		})
	}
}

// TestDrillLiveUnattended runs a scenario through the CLI: exit 0, the
// measures and checks printed, and where the reports are.
func TestDrillLiveUnattended(t *testing.T) {
	runtimetest.Docker(t)
	flags := drillFlags(t)
	reports := filepath.Join(t.TempDir(), "r")
	r := cli(t, append(flags, "--report-dir", reports), "drill", "live", "engine-socket", "--yes")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"measures:", "contain", "checks:", "ok   artifact:call", "ok   zero-residue", "result and reports written to " + reports, "report.html"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "[engine]") || !strings.Contains(r.stderr, "[journal]") {
		t.Errorf("the timeline is not shown with its sources:\n%s", r.stderr)
	}
	if left := leftovers(t, flagValue(flags, "--state-dir")); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}

func TestDrillLiveUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"drill", "live", "engine-socket", "--playbook", "escape-suspected", "--interactive"},
		{"drill", "live", "engine-socket", "--interactive", "--yes"},
		{"drill", "live", "engine-socket", "--console"},
		{"drill", "live", "engine-socket", "--interactive", "--console", "-o", "json"},
		{"drill", "live", "no-such-scenario"},
		{"drill", "live", "engine-socket", "--playbook", "no-such-playbook"},
		{"drill", "cleanup", "--id", "../etc"},
	} {
		if r := runCLI(t, append(args, "--state-dir", t.TempDir())...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
}

// TestDrillLiveJSON: with -o json the timeline comes as entry lines and
// the result last, with where its reports are.
func TestDrillLiveJSON(t *testing.T) {
	runtimetest.Docker(t)
	flags := drillFlags(t)
	r := cli(t, append(flags, "-o", "json", "--report-dir", filepath.Join(t.TempDir(), "r")), "drill", "live", "kernel-helper", "--yes")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	entries := 0
	for _, l := range lines[:len(lines)-1] {
		var e struct {
			Type   string `json:"type"`
			Source string `json:"source"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Type != "entry" || e.Source == "" {
			t.Errorf("not an entry line: %s (%v)", l, err)
		}
		entries++
	}
	var last struct {
		Type      string        `json:"type"`
		ReportDir string        `json:"report_dir"`
		Files     []string      `json:"files"`
		Checks    []drill.Check `json:"checks"`
		Scenario  string        `json:"scenario"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Type != "drill" || last.Scenario != "kernel-helper" || len(last.Files) != 4 || len(last.Checks) == 0 {
		t.Errorf("last line: %s (%v)", lines[len(lines)-1], err)
	}
	if entries < 5 {
		t.Errorf("%d timeline entries", entries)
	}
}
