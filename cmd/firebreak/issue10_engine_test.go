package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/fake"
	"firebreak/runtime/runtimetest"
)

// TestActsOnAContainerARunHoldsAreRefused: contain and release from the
// command line take the run lock a playbook run holds (they acted behind
// a run's back, which then reported OK over a container in another state).
func TestActsOnAContainerARunHoldsAreRefused(t *testing.T) {
	e := fake.New()
	d := e.Create("held-by-run")
	e.Start(d.ID)
	dir := t.TempDir()
	recs, err := contain.OpenRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := contain.New(e, recs, "").LockTarget(d.ID, "case IR-9, playbook escape-suspected")
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"contain", "release"} {
		r := runFake(t, e, verb, "--state-dir", dir, "--network=false", d.Name)
		if verb == "release" {
			r = runFake(t, e, verb, "--state-dir", dir, d.Name)
		}
		if r.code != exitRefused || !strings.Contains(r.stdout+r.stderr, "playbook escape-suspected") {
			t.Errorf("%s while a run holds it: exit %d\n%s%s", verb, r.code, r.stdout, r.stderr)
		}
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning {
		t.Errorf("a refused contain changed the container: %s", got.State)
	}
	unlock()
	if r := runFake(t, e, "contain", "--state-dir", dir, "--network=false", d.Name); r.code != exitOK {
		t.Errorf("contain after the run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestStatusNamesHoldsOfOtherEngines: a status of one engine says where
// else containers are held (a containerd hold was invisible from Docker).
func TestStatusNamesHoldsOfOtherEngines(t *testing.T) {
	dir := t.TempDir()
	recs, err := contain.OpenRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := &contain.Record{Version: 1, Runtime: "containerd", Namespace: "k8s.io", Container: runtime.Container{ID: "c2"},
		Since: time.Now(), Phase: "contained", Pause: &contain.PauseHold{Paused: true}}
	if err := recs.Save(other); err != nil {
		t.Fatal(err)
	}
	r := runFake(t, fake.New(), "status", "--state-dir", dir)
	if r.code != exitOK || !strings.Contains(r.stderr, "1 container held on containerd/k8s.io") || !strings.Contains(r.stderr, "--runtime containerd --namespace k8s.io") {
		t.Errorf("status: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestNamedDockerThatDoesNotAnswerIsAnError: with DOCKER_HOST (or -H, or
// --runtime) naming an engine that does not answer, status fails with the
// engine's error (it switched to containerd and said "nothing held").
func TestNamedDockerThatDoesNotAnswerIsAnError(t *testing.T) {
	state := t.TempDir()
	sock := filepath.Join(t.TempDir(), "nonexistent.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	for _, args := range [][]string{{"status"}, {"ps"}} {
		r := runCLI(t, append(args, "--state-dir", state)...)
		if r.code == exitOK || !strings.Contains(r.stderr, "nonexistent.sock") {
			t.Errorf("%v with a dead DOCKER_HOST: exit %d\nstdout %q\nstderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	t.Setenv("DOCKER_HOST", "")
	r := runCLI(t, "status", "--state-dir", state, "-H", "unix://"+sock)
	if r.code == exitOK {
		t.Errorf("status -H with a dead socket: exit 0\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(state, "held")); err == nil {
		t.Error("a failed status created the records directory")
	}
}

// TestShortPrefixIsRefusedForActs: an act that changes a container needs
// at least 4 characters of its ID (a one-character prefix was accepted).
func TestShortPrefixIsRefusedForActs(t *testing.T) {
	e := fake.New()
	d := e.Create("victim", fake.WithID("f00d"+strings.Repeat("1", 60)))
	e.Start(d.ID)
	dir := t.TempDir()
	for _, ref := range []string{"f", "f0", "f00"} {
		r := runFake(t, e, "contain", "--state-dir", dir, "--network=false", ref)
		if r.code != exitUsage || !strings.Contains(r.stdout+r.stderr, "at least 4 characters") {
			t.Errorf("contain %s: exit %d\n%s%s", ref, r.code, r.stdout, r.stderr)
		}
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning {
		t.Fatalf("a refused contain acted: %s", got.State)
	}
	if r := runFake(t, e, "contain", "--state-dir", dir, "--network=false", "f00d"); r.code != exitOK {
		t.Errorf("contain f00d: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestContainTextWording: no "contained  at" (an empty detail), no
// "timings: cut 0.0ms" when nothing was cut, and dry runs write nothing.
func TestContainTextWording(t *testing.T) {
	e := fake.New()
	d := e.Create("victim")
	e.Start(d.ID)
	dir := filepath.Join(t.TempDir(), "state")
	if r := runFake(t, e, "contain", "--state-dir", dir, "--network=false", "--dry-run", d.Name); r.code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a dry run created the state directory")
	}
	r := runFake(t, e, "contain", "--state-dir", dir, "--network=false", d.Name)
	if r.code != exitOK || strings.Contains(r.stdout, "cut 0.0ms") || !strings.Contains(r.stdout, "timings: ") {
		t.Errorf("contain pause-only: exit %d\n%s", r.code, r.stdout)
	}
	r = runFake(t, e, "status", "--state-dir", dir, d.Name)
	if strings.Contains(r.stdout, "  at ") || !strings.Contains(r.stdout, "last act: contained at") {
		t.Errorf("status wording:\n%s", r.stdout)
	}
	locks, _ := filepath.Glob(filepath.Join(dir, "*", "*.lock"))
	locks2, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.lock"))
	if len(locks)+len(locks2) != 0 {
		t.Errorf("lock files left behind: %v %v", locks, locks2)
	}
}

// TestRunShowsTheVerdict: a run's text names the verdict of its isolate
// step (it said "ok" and hid UNVERIFIED).
func TestRunShowsTheVerdict(t *testing.T) {
	e := fake.New()
	d := e.Create("victim", fake.WithNetwork(fake.DefaultNetwork))
	e.Start(d.ID)
	pb := writePlaybook(t, "name: isolate-only\nsteps:\n  - id: isolate\n    action: contain.network\n")
	flags := []string{"--state-dir", t.TempDir(), "--key-dir", t.TempDir(), "--store", "file://" + t.TempDir()}
	r := runFake(t, e, append(flags, "run", pb, "--target", d.Name)...)
	if r.code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "isolate OK (UNVERIFIED: no network namespace to probe from)") || !strings.Contains(r.stdout, "ok UNVERIFIED") {
		t.Errorf("the verdict is not shown:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// hostileText carries what a terminal acts on: ESC sequences, BEL, a C1
// CSI (U+009B), a bidi override (U+202E) and an isolate (U+2066).
const hostileText = "evil\x1b[2J\x1b]0;owned\x07\u009b31m\u202eslaw\u2066x"

// TestNoCommandPassesTerminalControls drives every command, in text and
// JSON, over a real containerd container whose name (nerdctl's label),
// labels and command line carry terminal controls, and over the hostile
// playbook fixture: nothing of it reaches the output raw.
func TestNoCommandPassesTerminalControls(t *testing.T) {
	h := runtimetest.Containerd(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{
		Labels: map[string]string{"nerdctl/name": "web-" + hostileText, "team" + hostileText: hostileText},
		Cmd:    []string{"sh", "-c", "sleep 3600", hostileText},
	})
	if d.Name != "web-"+hostileText {
		t.Fatalf("the container's name is %q, want the hostile label", d.Name)
	}
	pbDir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "playbooks", "hostile-text.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pbDir, "hostile-text.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	store := "file://" + t.TempDir()
	engine := []string{"--runtime", "containerd", "--namespace", runtimetest.ContainerdNamespace(), "--state-dir", t.TempDir()}
	ev := []string{"--store", store, "--key-dir", t.TempDir()}
	steps := [][]string{
		{"ps"},
		{"triage", d.ID},
		{"contain", "--network=false", d.ID},
		{"status"},
		{"status", d.ID},
		{"collect", "--case", "HOSTILE-1", "--what", "inspect,processes,indicators", d.ID},
		{"evidence", "ls"},
		{"evidence", "show", "HOSTILE-1"},
		{"evidence", "verify", "HOSTILE-1"},
		{"release", d.ID},
		{"playbook", "show", "hostile-text", "--playbooks", pbDir},
		{"playbook", "list", "--playbooks", pbDir},
		{"run", "hostile-text", "--playbooks", pbDir, "--target", d.ID, "--yes", "--case", "HOSTILE-2"},
		{"release", d.ID},
	}
	for _, output := range []string{"text", "json"} {
		for _, step := range steps {
			args := append(append([]string{}, step...), "-o", output)
			args = append(args, engine...)
			switch {
			case step[0] == "collect" || step[0] == "run" || (step[0] == "evidence" && step[1] == "verify"):
				args = append(args, ev...)
			case step[0] == "evidence":
				args = append(args, "--store", store)
			}
			if output == "json" && (step[0] == "collect" || step[0] == "run") {
				for i, a := range args { // a case of its own for the JSON pass
					if a == "HOSTILE-1" {
						args[i] = "HOSTILE-1J"
					}
					if a == "HOSTILE-2" {
						args[i] = "HOSTILE-2J"
					}
				}
			}
			r := runCLI(t, args...)
			if r.code != exitOK {
				t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
			}
			if r, bad := hasUnsafe(r.stdout + r.stderr); bad {
				t.Errorf("%v printed %U raw", args, r)
			}
			if step[0] == "ps" && !strings.Contains(r.stdout, `\x1b[2J`) && !strings.Contains(r.stdout, `\u001b[2J`) {
				t.Errorf("%v hides the name instead of escaping it:\n%s", args, r.stdout)
			}
		}
	}
}

// TestSharedNamedNamespaceCutWithSharers: two containerd containers that
// joined one named network namespace each refused, naming the other, so
// neither could be cut. --with-sharers cuts the namespace and contains both;
// the rules stay until the last sharer is released.
func TestSharedNamedNamespaceCutWithSharers(t *testing.T) {
	h := runtimetest.Containerd(t)
	vspec, pspec, addr := h.Network(t)
	a := h.Run(t, runtimetest.Name(t)+"-a", vspec)
	b := h.Run(t, runtimetest.Name(t)+"-b", vspec)
	peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	flags := []string{"--runtime", "containerd", "--namespace", runtimetest.ContainerdNamespace(), "--state-dir", t.TempDir()}
	r := cli(t, flags, "contain", a.ID)
	if r.code != exitRefused || !strings.Contains(r.stdout+r.stderr, runtime.ShortID(b.ID)) || !strings.Contains(r.stdout+r.stderr, "--with-sharers") {
		t.Fatalf("contain of a sharer: exit %d, want 3 naming %s and --with-sharers\n%s%s", r.code, b.ShortID(), r.stdout, r.stderr)
	}
	r = cli(t, flags, "contain", "--with-sharers", "--probe", addr(peer), a.ID)
	if r.code != exitOK {
		t.Fatalf("contain --with-sharers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, d := range []runtime.Details{a, b} {
		if got := runtimetest.Inspect(t, h, d.ID); got.State != runtime.StatePaused {
			t.Errorf("%s is %s after contain --with-sharers, want paused", d.Name, got.State)
		}
	}
	if !strings.Contains(r.stdout, "ISOLATED") || !strings.Contains(r.stdout, "the drop rules cut them too") {
		t.Errorf("contain --with-sharers output lacks the verdict or the note:\n%s", r.stdout)
	}
	if r := cli(t, flags, "release", a.ID); r.code != exitOK || !strings.Contains(r.stdout, "drop rules stay") {
		t.Errorf("release of one sharer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if present, err := contain.HasDropRules(vspec.NetNS); err != nil || !present {
		t.Errorf("drop rules after releasing one sharer: %v %v, want still there", present, err)
	}
	if r := cli(t, flags, "release", b.ID); r.code != exitOK {
		t.Errorf("release of the last sharer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if present, err := contain.HasDropRules(vspec.NetNS); err != nil || present {
		t.Errorf("drop rules after releasing every sharer: %v %v, want gone", present, err)
	}
}

// TestRunAndContainInputIsChecked: what was accepted silently or exited 1 is
// bad input, exit 2, saying what to fix.
func TestRunAndContainInputIsChecked(t *testing.T) {
	e := fake.New()
	d := e.Create("victim", fake.WithNetwork(fake.DefaultNetwork))
	e.Start(d.ID)
	pb := writePlaybook(t, "name: p\nparams:\n  since: {type: duration, default: 1h}\nsteps:\n  - id: freeze\n    action: contain.pause\n")
	state, keys, store := t.TempDir(), t.TempDir(), "file://"+t.TempDir()
	run := func(args ...string) []string {
		return append([]string{"run", pb, "--target", d.Name, "--state-dir", state, "--key-dir", keys, "--store", store}, args...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{run("--param", "since=banana", "--case", "P1"), "--param since"},
		{run("--param", "since=1h", "--param", "since=2h", "--case", "P2"), "given twice"},
		{run("--approve", "no_such_step", "--case", "P3"), "no such step"},
		{run("--resume", "NEVER-RAN"), "no run of case NEVER-RAN"},
		{[]string{"contain", "--state-dir", state, "--case", "bad id!", d.Name}, "--case"},
		{[]string{"contain", "--state-dir", state, "--probe-timeout", "-1s", d.Name}, "--probe-timeout"},
		{[]string{"contain", "--state-dir", state, "--probe", "10.0.0.1:99999", d.Name}, "--probe"},
		{[]string{"contain", "--state-dir", state, ""}, "empty target"},
	} {
		r := runFake(t, e, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 saying %q\n%s%s", tc.args, r.code, tc.want, r.stdout, r.stderr)
		}
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning {
		t.Errorf("bad input changed the container: %s", got.State)
	}
}

// TestRunJSONEventsHaveOneTypeKey: every JSON line of a run has one "type"
// (the envelope: event or report) and the event's kind under "event"; the
// key "type" was written twice, so jq found no event.
func TestRunJSONEventsHaveOneTypeKey(t *testing.T) {
	e := fake.New()
	d := e.Create("victim")
	e.Start(d.ID)
	pb := writePlaybook(t, "name: p\nsteps:\n  - id: freeze\n    action: contain.pause\n")
	r := runFake(t, e, "run", pb, "--target", d.Name, "-o", "json", "--state-dir", t.TempDir(), "--key-dir", t.TempDir(), "--store", "file://"+t.TempDir())
	if r.code != exitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	events := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if n := strings.Count(line, `"type":`); n != 1 {
			t.Errorf("%d type keys in %s", n, line)
		}
		var v struct{ Type, Event string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if v.Type == "event" && v.Event != "" {
			events++
		}
	}
	if events < 4 { // run_started, step_started, step_finished, target_finished, run_finished
		t.Errorf("%d events with a kind, want at least 4:\n%s", events, r.stdout)
	}
}

// TestConfigErrorsOnceWithPlace: a bad value was reported twice, a repeated
// setting was taken silently (the last won), a YAML error had no place.
func TestConfigErrorsOnceWithPlace(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ src, want string }{
		"bad":  {"output: yaml\n", "bad.yaml:1:9: setting output"},
		"dup":  {"runtime: docker\nstate_dir: /a\nstate-dir: /b\n", "dup.yaml:3:1: setting state-dir is given twice"},
		"yaml": {"store: [a\n", "yaml.yaml:1:1: not valid YAML"},
	} {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(tc.src), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "--config", p, "version")
		if r.code != exitUsage || strings.Count(r.stderr, tc.want) != 1 {
			t.Errorf("%s: exit %d, want 2 and %q once:\n%s", name, r.code, tc.want, r.stderr)
		}
	}
}

// TestTriageHostFlag: --host adds the host's assessment: a section in text,
// {"host", "containers"} in JSON, results located at the host in SARIF.
func TestTriageHostFlag(t *testing.T) {
	e := fake.New()
	d := e.Create("web")
	e.Start(d.ID)
	state := t.TempDir()
	r := runFake(t, e, "triage", "--all", "--host", "--state-dir", state, "-o", "json")
	if r.code != exitOK {
		t.Fatalf("triage --host: exit %d\n%s", r.code, r.stderr)
	}
	var out struct {
		Host       *struct{ Versions struct{ Kernel string } } `json:"host"`
		Containers []json.RawMessage                           `json:"containers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Host == nil || out.Host.Versions.Kernel == "" || len(out.Containers) != 1 {
		t.Errorf("triage --host JSON = %v %+v:\n%s", err, out, r.stdout)
	}
	if r := runFake(t, e, "triage", "--all", "--host", "--state-dir", state); !strings.HasPrefix(r.stdout, "host: ") {
		t.Errorf("text output does not start with the host:\n%s", r.stdout)
	}
	if r := runFake(t, e, "triage", "--all", "--state-dir", state, "-o", "json"); !strings.HasPrefix(strings.TrimSpace(r.stdout), "[") {
		t.Errorf("without --host the JSON is no longer the array:\n%s", r.stdout)
	}
}
