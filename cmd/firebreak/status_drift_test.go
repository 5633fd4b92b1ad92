package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// TestStatusExitsNotIsolatedOnDrift: a held container thawed from outside
// makes status say DRIFT and exit 4, in text and JSON, naming it; once
// contained again, status exits 0. A container that is held and as
// contained beside it does not change that.
func TestStatusExitsNotIsolatedOnDrift(t *testing.T) {
	e := fake.New()
	a := e.Create("drifter")
	b := e.Create("steady")
	e.Start(a.ID)
	e.Start(b.ID)
	state := "--state-dir=" + t.TempDir()
	for _, c := range []runtime.Details{a, b} {
		if r := runFake(t, e, "contain", state, "--network=false", c.Name); r.code != exitOK {
			t.Fatalf("contain %s: exit %d\n%s%s", c.Name, r.code, r.stdout, r.stderr)
		}
	}
	if r := runFake(t, e, "status", state); r.code != exitOK || strings.Contains(r.stdout, "DRIFT") {
		t.Fatalf("status of two contained containers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	e.SetState(a.ID, runtime.StateRunning) // thawed by hand
	r := runFake(t, e, "status", state)
	if r.code != exitNotIsolated || !strings.Contains(r.stdout, "DRIFT") {
		t.Fatalf("status after a thaw: exit %d, want %d and DRIFT\n%s%s", r.code, exitNotIsolated, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "drifter") || strings.Contains(r.stderr, "steady") || !strings.Contains(r.stderr, "firebreak contain") {
		t.Errorf("status's error should name the drifted container only and say what to do:\n%s", r.stderr)
	}
	r = runFake(t, e, "status", state, "-o", "json", b.Name)
	if r.code != exitOK {
		t.Errorf("status of the steady one alone: exit %d\n%s", r.code, r.stderr)
	}
	r = runFake(t, e, "status", state, "-o", "json")
	var rows []statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 || r.code != exitNotIsolated {
		t.Fatalf("status -o json after a thaw: exit %d, %s (%v)", r.code, r.stdout, err)
	}

	if r := runFake(t, e, "contain", state, "--network=false", a.Name); r.code != exitOK {
		t.Fatalf("contain again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFake(t, e, "status", state); r.code != exitOK || strings.Contains(r.stdout, "DRIFT") {
		t.Errorf("status once contained again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestOneDamagedRecordLeavesTheOthersShown: a held record truncated on
// disk is named (kept as it is), while status and ps still show the other
// held containers and release still releases them; the damaged one makes
// the exit code 1.
func TestOneDamagedRecordLeavesTheOthersShown(t *testing.T) {
	e := fake.New()
	a := e.Create("damaged-one")
	b := e.Create("readable-one")
	e.Start(a.ID)
	e.Start(b.ID)
	dir := t.TempDir()
	state := "--state-dir=" + dir
	for _, c := range []runtime.Details{a, b} {
		if r := runFake(t, e, "contain", state, "--network=false", c.Name); r.code != exitOK {
			t.Fatalf("contain %s: exit %d\n%s%s", c.Name, r.code, r.stdout, r.stderr)
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "held", "*"+a.ID+".json"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("record of %s: %v %v", a.Name, paths, err)
	}
	if err := os.Truncate(paths[0], 50); err != nil {
		t.Fatal(err)
	}
	r := runFake(t, e, "status", state)
	if r.code != exitFailed || !strings.Contains(r.stdout, "readable-one") || !strings.Contains(r.stderr, paths[0]) || !strings.Contains(r.stderr, "mend") {
		t.Errorf("status with one damaged record: exit %d, want %d, the other shown and the damaged named\n%s%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	r = runFake(t, e, "ps", state)
	if r.code != exitFailed || !strings.Contains(r.stdout, "readable-one") || !strings.Contains(r.stdout, "contained since") {
		t.Errorf("ps with one damaged record: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFake(t, e, "release", state, b.Name); r.code != exitOK {
		t.Errorf("release of the readable one: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(paths[0]); err != nil {
		t.Errorf("the damaged record was not kept: %v", err)
	}
}
