package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/fake"
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
