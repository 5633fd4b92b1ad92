package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/internal/app"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/fake"
	"firebreak/runtime/runtimetest"
)

// keepOpen lets one fake engine outlive the session of each command, as a
// daemon outlives the CLI's connection to it; every other method (network
// attach, stop, kill) is the fake's.
type keepOpen struct{ *fake.Engine }

func (keepOpen) Close() error { return nil }

// runFake runs the CLI against the in-process fake engine: for what the CLI
// decides itself (resolution, output), never for engine behaviour.
func runFake(t *testing.T, e *fake.Engine, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	d := newDeps(&out, &errb)
	d.openRuntime = func(context.Context, app.EngineOptions) (runtime.Runtime, error) { return keepOpen{e}, nil }
	code := run(context.Background(), args, d)
	return cliResult{code, out.String(), errb.String()}
}

func TestReleaseAmbiguousPrefixOfHeldContainersIsRefused(t *testing.T) {
	e := fake.New()
	a := e.Create("held-a", fake.WithID("beef0001"+strings.Repeat("a", 56)))
	b := e.Create("held-b", fake.WithID("beef0002"+strings.Repeat("b", 56)))
	e.Start(a.ID)
	e.Start(b.ID)
	state := "--state-dir=" + t.TempDir()
	for _, c := range []runtime.Details{a, b} {
		if r := runFake(t, e, "contain", state, "--network=false", c.Name); r.code != exitOK {
			t.Fatalf("contain %s: exit %d\n%s%s", c.Name, r.code, r.stdout, r.stderr)
		}
	}
	// Both gone from the engine: only their records know them.
	for _, gone := range []bool{false, true} {
		if gone {
			e.Remove(a.ID)
			e.Remove(b.ID)
		}
		r := runFake(t, e, "release", state, "beef000")
		if r.code != exitUsage {
			t.Fatalf("release of a shared prefix (gone=%v): exit %d, want %d\n%s%s", gone, r.code, exitUsage, r.stdout, r.stderr)
		}
		for _, id := range []string{a.ID, b.ID} {
			if !strings.Contains(r.stdout+r.stderr, id) {
				t.Errorf("refusal (gone=%v) does not list %s:\n%s%s", gone, id, r.stdout, r.stderr)
			}
		}
	}
	// Both are still held: nothing was released.
	r := runFake(t, e, "status", state, "-o", "json")
	var rows []statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("status after the refusals = %s (%v), want both held", r.stdout, err)
	}
	// A prefix that names one of them releases it by its record.
	if r := runFake(t, e, "release", state, "beef0001"); r.code != exitOK {
		t.Errorf("release of a unique prefix: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestJSONErrorsParse(t *testing.T) {
	e := fake.New()
	state := "--state-dir=" + t.TempDir()
	for _, args := range [][]string{
		{"contain", "-o", "json", state, "fbt-no-such-container"},
		{"release", "-o", "json", state, ""},
		{"status", "-o", "json", state, "fbt-no-such-container"},
		{"ps", "-o", "json", "--parallel-nonsense"},
		{"run", "-o", "json", state, "no-such-playbook", "--target", "x"},
	} {
		r := runFake(t, e, args...)
		if r.code == exitOK {
			t.Fatalf("%v: exit 0", args)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		var got struct {
			Type     string `json:"type"`
			ExitCode int    `json:"exit_code"`
			Message  string `json:"message"`
		}
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil {
			t.Errorf("%v: stderr is not one JSON object:\n%s", args, r.stderr)
			continue
		}
		if got.Type != "error" || got.ExitCode != r.code || got.Message == "" {
			t.Errorf("%v: error object %+v, want type error, exit code %d and a message", args, got, r.code)
		}
	}
}

func TestOutputFormatsAreCheckedPerCommand(t *testing.T) {
	e := fake.New()
	state := "--state-dir=" + t.TempDir()
	if r := runFake(t, e, "ps", "-o", "sarif", state); r.code != exitUsage || !strings.Contains(r.stderr, "prints text or json") {
		t.Errorf("ps -o sarif: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runFake(t, e, "triage", "--all", "-o", "sarif", state); r.code != exitOK || !strings.Contains(r.stdout, "sarif") {
		t.Errorf("triage -o sarif: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestKillOfContainedContainerIsRecorded: contain.kill goes through the
// records like every act; status shows it, and release retires it saying
// the processes cannot come back. On the real engine, since the thaw before
// the signal is engine behaviour.
func TestKillOfContainedContainerIsRecorded(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := runFlags(t, "file://"+t.TempDir())
	state := []string{"--runtime=docker", "--state-dir", flagValue(flags, "--state-dir")}
	if r := cli(t, state, "contain", victim.Name); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pb := writePlaybook(t, "name: kill-it\nsteps:\n  - id: kill\n    action: contain.kill\n")
	if r := cli(t, flags, "run", pb, "--target", victim.Name, "--case", "KILL-1"); r.code != exitOK {
		t.Fatalf("run kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if d := inspectDetails(t, h, victim.ID); d.State != runtime.StateStopped {
		t.Fatalf("after the kill the container is %s, want stopped", d.State)
	}
	r := cli(t, state, "status", victim.Name)
	if r.code != exitOK || !strings.Contains(r.stdout, "processes ended by Firebreak: kill SIGKILL") || !strings.Contains(r.stdout, "case KILL-1") {
		t.Errorf("status does not show the kill:\n%s%s", r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "DRIFT") {
		t.Errorf("status calls the recorded kill a drift:\n%s", r.stdout)
	}
	r = cli(t, state, "status", "-o", "json", victim.Name)
	var rows []statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Record == nil || rows[0].Record.Ended == nil || rows[0].Record.Pause == nil || rows[0].Record.Pause.Paused {
		t.Fatalf("status JSON = %s (%v), want one record, ended, no longer paused", r.stdout, err)
	}
	var actions []string
	for _, e := range rows[0].Record.Log {
		actions = append(actions, e.Action)
	}
	if !strings.Contains(strings.Join(actions, ","), "thaw-for-kill,thaw-for-kill,kill,kill") {
		t.Errorf("record log %v: want the thaw and the kill each recorded before and after", actions)
	}
	r = cli(t, state, "release", victim.Name)
	if r.code != exitOK || !strings.Contains(r.stdout, "cannot bring them back") {
		t.Errorf("release after the kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	released, _ := filepath.Glob(filepath.Join(flagValue(flags, "--state-dir"), "released", "*.json"))
	if len(released) != 1 {
		t.Errorf("released records = %v, want one", released)
	}
}

// hasUnsafe reports the first rune of s a terminal would act on.
func hasUnsafe(s string) (rune, bool) {
	for _, r := range s {
		if r == '\n' {
			continue
		}
		if terminalUnsafe(r) {
			return r, true
		}
	}
	return 0, false
}

func TestPlaybookCommandsEscapeHostileText(t *testing.T) {
	hostile := filepath.Join("..", "..", "testdata", "playbooks", "hostile-text.yaml")
	dir := t.TempDir()
	src, err := os.ReadFile(hostile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hostile-text.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, raw := hasUnsafe(string(src)); raw {
		t.Fatal("the fixture itself should be plain YAML escapes")
	}
	for _, args := range [][]string{
		{"playbook", "show", hostile},
		{"playbook", "list", "--playbooks", dir},
		{"playbook", "list", "--playbooks", dir, "-o", "json"},
		{"playbook", "validate", hostile},
		{"run", "hostile-text", "--playbooks", dir, "--target", "x", "--dry-run"},
	} {
		r := runCLI(t, args...)
		if r, bad := hasUnsafe(r.stdout + r.stderr); bad {
			t.Errorf("%v printed %U raw", args, r)
		}
		if args[1] == "show" && !strings.Contains(r.stdout, `\x1b[2J`) {
			t.Errorf("show hides the hostile text instead of escaping it:\n%s", r.stdout)
		}
	}
}

func TestPlaybookValidateReportsEachErrorOnItsLine(t *testing.T) {
	cycle := filepath.Join("..", "..", "testdata", "playbooks", "cycle.yaml")
	r := runCLI(t, "playbook", "validate", cycle)
	if r.code != exitUsage {
		t.Fatalf("validate of a cycle: exit %d", r.code)
	}
	if !strings.Contains(r.stdout, "cycle.yaml:11:13: needs form a cycle: a -> b -> a\n") {
		t.Errorf("stdout lacks the cycle error on a line of its own:\n%q", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "firebreak: ") || !strings.Contains(r.stderr, "is not valid\n") {
		t.Errorf("stderr = %q, want one line saying the file is not valid", r.stderr)
	}
}

func TestJSONEscapesWhatTerminalsActOn(t *testing.T) {
	in := map[string]string{"s": "a\x1b[2J\x07b\u009b31m\u202eevil\u2066\x7f"}
	for _, indent := range []bool{false, true} {
		b, err := encodeJSON(in, indent)
		if err != nil {
			t.Fatal(err)
		}
		if r, bad := hasUnsafe(string(b)); bad {
			t.Errorf("indent=%v: %U left raw in %q", indent, r, b)
		}
		var back map[string]string
		if err := json.Unmarshal(b, &back); err != nil || back["s"] != in["s"] {
			t.Errorf("indent=%v: %s does not decode to the same text (%v)", indent, b, err)
		}
	}
}

func TestApprovalPromptEndsOnInterrupt(t *testing.T) {
	in, feed := io.Pipe()
	defer feed.Close()
	var out bytes.Buffer
	a := &ttyApprover{in: in, out: &out}
	req := playbooks.ApprovalRequest{Step: "kill", Prompt: "Kill it?", Target: runtime.Container{ID: strings.Repeat("a", 64), Name: "web"}}

	// An answer approves.
	go func() { _, _ = io.WriteString(feed, "y\n") }()
	if ok, err := a.Approve(context.Background(), req); !ok || err != nil {
		t.Fatalf("answer y: %v %v", ok, err)
	}
	// Nothing typed, then Ctrl-C: the prompt returns at once, as a no.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		ok, err := a.Approve(ctx, req)
		if ok {
			err = errors.New("approved")
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted prompt = %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the prompt did not end on the interrupt")
	}
	// After the interrupt, a queued prompt is not shown and a line typed
	// ahead approves nothing.
	before := out.Len()
	go func() { _, _ = io.WriteString(feed, "y\n") }()
	if ok, err := a.Approve(ctx, req); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("prompt after the interrupt = %v %v, want refused as interrupted", ok, err)
	}
	if out.Len() != before {
		t.Errorf("a prompt was shown after the interrupt: %q", out.String()[before:])
	}
}

func TestPlaybookShowIsStable(t *testing.T) {
	pb := filepath.Join(t.TempDir(), "many.yaml")
	src := "name: many\ndescription: d.\nsteps:\n  - id: a\n    action: contain.network\n    with: {verify: false, quarantine_network: q, allow: [10.0.0.0/8]}\n"
	if err := os.WriteFile(pb, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	first := runCLI(t, "playbook", "show", pb)
	if first.code != exitOK {
		t.Fatalf("show: exit %d\n%s", first.code, first.stderr)
	}
	i, j, k := strings.Index(first.stdout, "allow ="), strings.Index(first.stdout, "quarantine_network ="), strings.Index(first.stdout, "verify =")
	if i < 0 || !(i < j && j < k) {
		t.Errorf("parameters not in name order:\n%s", first.stdout)
	}
	for n := 0; n < 20; n++ {
		if again := runCLI(t, "playbook", "show", pb); again.stdout != first.stdout {
			t.Fatalf("show printed differently on run %d:\n%s\nvs\n%s", n, again.stdout, first.stdout)
		}
	}
}

func TestTerminalSafeWriter(t *testing.T) {
	var b bytes.Buffer
	w := terminalSafe{&b}
	in := "ok\tcol\nline \x1b[2J bell\x07 c1\u009b lone\x9b bidi\u202e é\n"
	n, err := io.WriteString(w, in)
	if err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v; want %d", n, err, len(in))
	}
	want := "ok\tcol\nline \\x1b[2J bell\\a c1\\u009b lone\\x9b bidi\\u202e é\n"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	if r, bad := hasUnsafe(b.String()); bad {
		t.Errorf("%U left raw", r)
	}
}
