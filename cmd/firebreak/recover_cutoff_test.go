package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"firebreak/runtime/runtimetest"
)

// planSnapshot is the snapshot a recover's plan names.
func planSnapshot(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)snapshot (\S+?):?\s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no snapshot named in the plan:\n%s", out)
	}
	return strings.TrimSuffix(m[1], ":")
}

// TestRecoverLatestIsBeforeTheFirstContainment: `--from latest` takes the
// newest snapshot from before the container was first contained in the
// case, also when a backup was taken after the containment and the
// suspect no longer holds the name (renamed by hand), and when it was
// released and contained again in the same case since.
func TestRecoverLatestIsBeforeTheFirstContainment(t *testing.T) {
	store, state := t.TempDir(), t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", state, "--runtime", "docker"}
	engine := []string{"--state-dir", state, "--runtime", "docker"}
	h, d, _ := recoverService(t, flags) // one clean backup, then "ransom" written
	r := cli(t, []string{"--store", "file://" + store}, "backup", "ls", d.Name, "-o", "json")
	var snaps []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("backup ls: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	clean := snaps[0].ID
	time.Sleep(1100 * time.Millisecond) // snapshot IDs name the second
	if r := cli(t, engine, "contain", d.Name, "--case", "IR-CUT"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	time.Sleep(1100 * time.Millisecond)
	if r := cli(t, flags, "backup", d.Name); r.code != exitOK || !strings.Contains(r.stdout, "read while it was paused") { // the nightly cron, after the compromise
		t.Fatalf("backup after containment: exit %d, want it read while paused\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, flags, "recover", d.Name, "--case", "IR-CUT", "--dry-run")
	if got := planSnapshot(t, r.stdout); r.code != exitOK || got != clean {
		t.Fatalf("recover --dry-run while held: snapshot %s (exit %d), want the clean %s\n%s%s", got, r.code, clean, r.stdout, r.stderr)
	}

	// released and contained again in the same case
	if r := cli(t, engine, "release", d.Name); r.code != exitOK {
		t.Fatalf("release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	time.Sleep(1100 * time.Millisecond)
	if r := cli(t, flags, "backup", d.Name); r.code != exitOK {
		t.Fatalf("backup after the release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, engine, "contain", d.Name, "--case", "IR-CUT"); r.code != exitOK {
		t.Fatalf("contain again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, flags, "recover", d.Name, "--case", "IR-CUT", "--dry-run")
	if got := planSnapshot(t, r.stdout); r.code != exitOK || got != clean {
		t.Fatalf("recover --dry-run after a release and a second contain: snapshot %s (exit %d), want the clean %s\n%s%s", got, r.code, clean, r.stdout, r.stderr)
	}
	// forget keeps the one a recover would use, not only the newest
	// before the current hold
	if r := cli(t, flags, "backup", "forget", d.Name, "--keep-last", "1"); r.code != exitOK {
		t.Fatalf("backup forget: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, []string{"--store", "file://" + store}, "backup", "ls", d.Name); !strings.Contains(r.stdout, clean) {
		t.Fatalf("forget removed the clean snapshot %s a recover would use:\n%s%s", clean, r.stdout, r.stderr)
	}

	// the suspect renamed by hand: no container holds the name any more
	if out, err := exec.Command("docker", "rename", d.ID, d.Name+"-evidence").CombinedOutput(); err != nil {
		t.Fatalf("docker rename: %v\n%s", err, out)
	}
	h.RemoveByLabel(t, "io.firebreak.case", "IR-CUT")
	r = cli(t, flags, "recover", d.Name, "--case", "IR-CUT", "--dry-run")
	if got := planSnapshot(t, r.stdout); r.code != exitOK || got != clean {
		t.Fatalf("recover --dry-run with the suspect renamed: snapshot %s (exit %d), want the clean %s\n%s%s", got, r.code, clean, r.stdout, r.stderr)
	}
}

// TestRecoverRefusesASuspectPausedByHand: a suspect paused with `docker
// pause` but not contained keeps its networks and aliases: recover refuses
// it (exit 3), naming what to do, before anything changes; contained, the
// plan goes ahead.
func TestRecoverRefusesASuspectPausedByHand(t *testing.T) {
	store, state := t.TempDir(), t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", state, "--runtime", "docker"}
	h, d, dir := recoverService(t, flags)
	if out, err := exec.Command("docker", "pause", d.ID).CombinedOutput(); err != nil {
		t.Fatalf("docker pause: %v\n%s", err, out)
	}
	for _, dry := range []bool{true, false} {
		args := []string{"recover", d.Name, "--case", "IR-PAUSED", "--yes"}
		if dry {
			args = append(args, "--dry-run")
		}
		r := cli(t, flags, args...)
		if r.code != exitRefused || !strings.Contains(r.stderr, "not held by Firebreak") || !strings.Contains(r.stderr, "firebreak contain "+d.Name) {
			t.Errorf("recover (dry run %v) of a suspect paused by hand: exit %d, want %d and the fix named\n%s%s", dry, r.code, exitRefused, r.stdout, r.stderr)
		}
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name {
		t.Errorf("the suspect was renamed to %s by a refused recover", got.Name)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ok")); string(b) != "ransom" {
		t.Errorf("the suspect's volume changed: %q", b)
	}
	if r := cli(t, []string{"--state-dir", state, "--runtime", "docker"}, "contain", d.Name, "--case", "IR-PAUSED"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, flags, "recover", d.Name, "--case", "IR-PAUSED", "--dry-run"); r.code != exitOK {
		t.Errorf("recover --dry-run once contained: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
