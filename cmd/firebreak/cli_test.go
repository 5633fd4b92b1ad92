package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/contain"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, newDeps(&out, &errb))
	return cliResult{code, out.String(), errb.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, p, got)
	}
}

func TestHelpGolden(t *testing.T) {
	// Flag defaults come from the environment; the golden files hold the
	// built-in ones.
	for _, k := range []string{"CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "FIREBREAK_STATE_DIR", "FIREBREAK_RUNTIME"} {
		t.Setenv(k, "")
	}
	for _, args := range [][]string{{"--help"}, {"contain", "--help"}, {"release", "--help"}} {
		r := runCLI(t, args...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		golden(t, "help-"+strings.Join(args, "-"), r.stdout)
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"ps", "--output", "yaml"},
		{"ps", "--runtime", "podman"},
		{"contain"},
		{"contain", "--allow", "not-a-cidr", "x"},
		{"contain", "--network=false", "--pause=false", "x"},
		{"contain", "--no-such-flag", "x"},
	} {
		r := runCLI(t, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, r.code, exitUsage, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "firebreak: ") {
			t.Errorf("%v: stderr %q does not say what is wrong", args, r.stderr)
		}
	}
}

func TestExitCode(t *testing.T) {
	c := runtime.Container{ID: "abcdef0123456789"}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"Nil", nil, exitOK},
		{"Plain", errors.New("boom"), exitFailed},
		{"NotFound", &runtime.NotFoundError{Ref: "x"}, exitUsage},
		{"Ambiguous", &runtime.AmbiguousError{Ref: "a"}, exitUsage},
		{"Refused", &runtime.RefusedError{Container: c}, exitRefused},
		{"Replaced", fmt.Errorf("wrapped: %w", &runtime.ReplacedError{Want: c}), exitRefused},
		{"Busy", &contain.BusyError{ID: "x"}, exitRefused},
		{"NotIsolated", &contain.NotIsolatedError{Container: c}, exitNotIsolated},
		{"Canceled", fmt.Errorf("x: %w", context.Canceled), exitInterrupted},
		{"JoinedWorstWins", errors.Join(&runtime.NotFoundError{Ref: "x"}, errors.New("boom")), exitFailed},
		{"JoinedRefusedOverUsage", errors.Join(&runtime.NotFoundError{Ref: "x"}, &runtime.RefusedError{Container: c}), exitRefused},
		// A run keeps the exit codes of contain: a step that failed because
		// the target is not isolated exits 4, not 1.
		{"RunStepNotIsolated", errors.Join(&playbooks.StepFailedError{Target: "web", Step: "isolate", Err: &contain.NotIsolatedError{Container: c}}), exitNotIsolated},
		{"RunLocked", &playbooks.LockedError{Target: "web", Holder: "pid 1"}, exitRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestSafeEscapesControlCharacters(t *testing.T) {
	if got := safe("evil\x1b[2Jname\n"); strings.ContainsAny(got, "\x1b\n") {
		t.Errorf("safe left control characters: %q", got)
	}
	if got := safe("plain-name"); got != "plain-name" {
		t.Errorf("safe changed a plain name: %q", got)
	}
}

// TestCLIContainStatusRelease drives the binary's commands against the real
// Docker Engine.
func TestCLIContainStatusRelease(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, pspec, _ := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	state := "--state-dir=" + t.TempDir()

	r := runCLI(t, "ps", "--runtime=docker", "-o", "json", state)
	if r.code != exitOK {
		t.Fatalf("ps: exit %d: %s", r.code, r.stderr)
	}
	var rows []psRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("ps JSON: %v\n%s", err, r.stdout)
	}
	if row := findRow(rows, victim.ID); row == nil || row.Contained {
		t.Fatalf("ps row for victim = %+v, want present and not contained", row)
	}

	r = runCLI(t, "contain", "--runtime=docker", "--dry-run", "-o", "json", state, victim.Name)
	if r.code != exitOK {
		t.Fatalf("contain --dry-run: exit %d: %s", r.code, r.stderr)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil {
		t.Fatalf("contain JSON line: %v\n%s", err, r.stdout)
	}
	if line["type"] != "contain" || line["dry_run"] != true || line["ok"] != true {
		t.Errorf("dry-run line = %v", line)
	}
	if d := inspectDetails(t, h, victim.ID); d.State != runtime.StateRunning || len(d.Networks) != 1 {
		t.Fatalf("dry run changed the container: %s %v", d.State, d.Networks)
	}

	r = runCLI(t, "contain", "--runtime=docker", "--case", "IR-7", state, victim.ID[:12])
	if r.code != exitOK {
		t.Fatalf("contain: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"firewall", "pause", "disconnect", "ISOLATED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("contain output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, "status", "--runtime=docker", state, victim.Name)
	if r.code != exitOK || !strings.Contains(r.stdout, "contained since") || !strings.Contains(r.stdout, "case IR-7") {
		t.Errorf("status: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "ps", "--runtime=docker", "-o", "json", state)
	_ = json.Unmarshal([]byte(r.stdout), &rows)
	if row := findRow(rows, victim.ID); row == nil || !row.Contained || row.Since == nil {
		t.Errorf("ps row after contain = %+v, want contained with a time", row)
	}

	r = runCLI(t, "release", "--runtime=docker", state, victim.Name)
	if r.code != exitOK {
		t.Fatalf("release: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "status", "--runtime=docker", "-o", "json", state, victim.Name)
	var st []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 1 || st[0]["held"] != false {
		t.Errorf("status after release = %s (%v), want one row not held", r.stdout, err)
	}
	r = runCLI(t, "status", "--runtime=docker", "-o", "json", state)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("status of nothing held = %q, want []", r.stdout)
	}
}

func TestCLIRefusalsExitCodes(t *testing.T) {
	h := runtimetest.Docker(t)
	state := "--state-dir=" + t.TempDir()
	r := runCLI(t, "contain", "--runtime=docker", state, "fbt-no-such-container-at-all")
	if r.code != exitUsage || strings.Count(r.stdout+r.stderr, "no such container") != 1 {
		t.Errorf("unknown target: exit %d, want 2 and the error said once:\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "failed for 1 of 1 targets") {
		t.Errorf("stderr %q does not count the failures", r.stderr)
	}
	hostNet := h.Run(t, runtimetest.Name(t), runtimetest.Spec{HostNetwork: true})
	r = runCLI(t, "contain", "--runtime=docker", state, hostNet.Name)
	if r.code != exitRefused || !strings.Contains(r.stdout+r.stderr, "--network=false") {
		t.Errorf("host network: exit %d, output %q %q", r.code, r.stdout, r.stderr)
	}
	if d := inspectDetails(t, h, hostNet.ID); d.State != runtime.StateRunning {
		t.Errorf("refused container is %s", d.State)
	}
}

func findRow(rows []psRow, id string) *psRow {
	for i := range rows {
		if rows[i].ID == id {
			return &rows[i]
		}
	}
	return nil
}

func inspectDetails(t *testing.T, h runtimetest.Harness, id string) runtime.Details {
	return runtimetest.Inspect(t, h, id)
}

func TestCLITriage(t *testing.T) {
	h := runtimetest.Docker(t)
	risky := h.Create(t, runtimetest.Name(t), runtimetest.Spec{Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}})
	r := runCLI(t, "triage", "--runtime=docker", "-o", "json", risky.Name)
	if r.code != exitOK {
		t.Fatalf("triage: exit %d: %s", r.code, r.stderr)
	}
	var as []struct {
		Container struct{ ID string } `json:"container"`
		Score     int                 `json:"score"`
		Findings  []struct{ ID, Severity string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &as); err != nil || len(as) != 1 {
		t.Fatalf("triage JSON: %v\n%s", err, r.stdout)
	}
	if as[0].Findings[0].ID != "engine-socket" || as[0].Findings[0].Severity != "critical" {
		t.Errorf("worst finding first = %+v, want engine-socket critical", as[0].Findings[0])
	}
	if r := runCLI(t, "triage", "--runtime=docker", "--fail-on", "critical", risky.Name); r.code != exitFailed {
		t.Errorf("--fail-on critical: exit %d, want %d", r.code, exitFailed)
	}
	r = runCLI(t, "triage", "--runtime=docker", "-o", "sarif", risky.Name)
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Fatalf("SARIF: %v\n%s", err, r.stdout)
	}
	found := false
	for _, res := range sarif.Runs[0].Results {
		if res.RuleID == "engine-socket" && res.Level == "error" {
			found = true
		}
	}
	if !found || len(sarif.Runs[0].Tool.Driver.Rules) == 0 {
		t.Errorf("SARIF lacks the engine-socket result or rules: %+v", sarif.Runs[0])
	}
	if r := runCLI(t, "triage", "--runtime=docker"); r.code != exitUsage {
		t.Errorf("triage without targets: exit %d", r.code)
	}
}

func TestConfigFileSetsDefaults(t *testing.T) {
	for _, k := range []string{"FIREBREAK_STORE", "FIREBREAK_PLAYBOOKS", "FIREBREAK_CONFIG"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	if err := os.MkdirAll(pbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, data string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(pbDir, "site-special.yaml"), "name: site-special\ndescription: ours.\nsteps:\n  - id: a\n    action: contain.pause\n")
	cfg := filepath.Join(dir, "config.yaml")
	write(cfg, "playbooks: ["+pbDir+"]\nstore: file://"+filepath.Join(dir, "ev")+"\n")

	r := runCLI(t, "playbook", "list", "--config", cfg)
	if r.code != exitOK || !strings.Contains(r.stdout, "site-special") {
		t.Fatalf("playbook list with a config file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The command line wins over the file.
	r = runCLI(t, "playbook", "list", "--config", cfg, "--playbooks", t.TempDir())
	if r.code != exitOK || strings.Contains(r.stdout, "site-special") || !strings.Contains(r.stdout, "escape-suspected") {
		t.Errorf("--playbooks did not win over the config file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The environment wins over the file too.
	t.Setenv("FIREBREAK_PLAYBOOKS", t.TempDir())
	r = runCLI(t, "playbook", "list", "--config", cfg)
	if r.code != exitOK || strings.Contains(r.stdout, "site-special") || !strings.Contains(r.stdout, "escape-suspected") {
		t.Errorf("$FIREBREAK_PLAYBOOKS did not win over the config file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An unknown setting is an error that says where.
	bad := filepath.Join(dir, "bad.yaml")
	write(bad, "store: x\nstorage: y\n")
	r = runCLI(t, "playbook", "list", "--config", bad)
	if r.code != exitUsage || !strings.Contains(r.stderr, bad+":2:1") || !strings.Contains(r.stderr, `unknown setting "storage"`) {
		t.Errorf("bad config: exit %d, stderr %q", r.code, r.stderr)
	}
	// A named file that is missing is an error; the default one is optional.
	if r := runCLI(t, "playbook", "list", "--config", filepath.Join(dir, "nope.yaml")); r.code != exitUsage {
		t.Errorf("missing --config file: exit %d", r.code)
	}
}
