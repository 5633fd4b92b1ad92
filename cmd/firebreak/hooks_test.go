package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/runtime/runtimetest"
)

// TestBackupHooks: hooks run in the container around the read (a pre-hook's
// file is in the snapshot, the post-hook removed it after), are recorded in
// the snapshot, a failed one ends the backup unless on-error is continue, a
// hook that hangs is killed at its timeout, and no hook runs in a container
// Firebreak holds.
func TestBackupHooks(t *testing.T) {
	h := runtimetest.Docker(t)
	name := runtimetest.Name(t)
	dir := h.Volume(t, name+"-data")
	if err := os.WriteFile(filepath.Join(dir, "table"), []byte("rows"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}})
	state := t.TempDir()
	flags := []string{"--store", "file://" + t.TempDir(), "--key-dir", t.TempDir(), "--state-dir", state, "--runtime", "docker", "-o", "json"}
	type hook struct {
		When     string
		ExitCode int `json:"exit_code"`
		Error    string
		Ignored  bool
	}
	backup := func(args ...string) (cliResult, []hook, int) {
		t.Helper()
		r := cli(t, flags, append([]string{"backup", d.Name}, args...)...)
		var line struct {
			Hooks  []hook
			Totals struct{ Files int }
		}
		if r.code == exitOK {
			if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &line); err != nil {
				t.Fatalf("backup JSON %q: %v", r.stdout, err)
			}
		}
		return r, line.Hooks, line.Totals.Files
	}
	r, hooks, plain := backup()
	if r.code != exitOK || len(hooks) != 0 {
		t.Fatalf("backup without hooks: exit %d hooks %v\n%s", r.code, hooks, r.stderr)
	}
	r, hooks, files := backup("--pre-hook", "echo flushed > /data/flush-marker", "--post-hook", "rm /data/flush-marker")
	if r.code != exitOK || len(hooks) != 2 || hooks[0].When != "pre" || hooks[1].When != "post" || hooks[0].ExitCode != 0 || hooks[1].ExitCode != 0 {
		t.Fatalf("backup with hooks: exit %d hooks %+v\n%s", r.code, hooks, r.stderr)
	}
	if files != plain+1 {
		t.Errorf("the snapshot holds %d files, want %d (the pre-hook's marker too)", files, plain+1)
	}
	if _, err := os.Stat(filepath.Join(dir, "flush-marker")); !os.IsNotExist(err) {
		t.Errorf("the post-hook did not run after the read: %v", err)
	}
	if r, _, _ := backup("--pre-hook", "echo no > /data/x; exit 3"); r.code == exitOK || !strings.Contains(r.stdout+r.stderr, "pre-backup hook") {
		t.Errorf("a failing pre-hook: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r, hooks, _ := backup("--pre-hook", "exit 3", "--hook-on-error", "continue"); r.code != exitOK || len(hooks) != 1 || hooks[0].ExitCode != 3 || !hooks[0].Ignored {
		t.Errorf("a failing pre-hook with on-error continue: exit %d hooks %+v\n%s", r.code, hooks, r.stderr)
	}
	if r, _, _ := backup("--post-hook", "sleep 60", "--hook-timeout", "1s"); r.code == exitOK || !strings.Contains(r.stdout+r.stderr, "killed after 1s") {
		t.Errorf("a hanging post-hook: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, []string{"--state-dir", state, "--runtime", "docker"}, "contain", d.Name, "--network=false"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s", r.code, r.stderr)
	}
	if r, _, _ := backup("--pre-hook", "echo ran > /data/suspect-ran"); r.code != exitRefused {
		t.Errorf("a hook in a held container: exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "suspect-ran")); !os.IsNotExist(err) {
		t.Errorf("a hook ran in a held container: %v", err)
	}
	if r := cli(t, flags, "backup", d.Name, "--pre-hook", " ", "--hook-timeout", "1s"); r.code != exitUsage {
		t.Errorf("a blank hook: exit %d, want 2", r.code)
	}
}
