package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"firebreak/runtime"
	"firebreak/runtime/fake"
	"firebreak/runtime/runtimetest"
)

// TestBackupCommands: backup, ls, show and verify through the CLI, over a
// volume directory of the test's own (the fake engine names it as the
// container's volume); one changed byte of a stored chunk fails verify with
// exit 5; an unknown snapshot is bad input.
func TestBackupCommands(t *testing.T) {
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "data.txt"), []byte(strings.Repeat("firebreak ", 1000)), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("data.txt", filepath.Join(vol, "link")); err != nil {
		t.Fatal(err)
	}
	e := fake.New()
	d := e.Create("db", fake.WithSecurity(runtime.Security{Mounts: []runtime.Mount{{Type: "volume", Name: "db-data", Source: vol, Destination: "/var/lib/db", RW: true}}}))
	e.Start(d.ID)
	store := t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", t.TempDir()}
	r := runFake(t, e, append([]string{"backup", "db", "-o", "json"}, flags...)...)
	if r.code != exitOK {
		t.Fatalf("backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var line struct {
		OK       bool
		Snapshot string
		Totals   struct {
			Files     int
			NewChunks int `json:"new_chunks"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || !line.OK || line.Totals.Files != 2 || line.Totals.NewChunks == 0 {
		t.Fatalf("backup JSON = %s (%v)", r.stdout, err)
	}
	ls := []string{"--store", "file://" + store}
	if r := runFake(t, e, append([]string{"backup", "ls", "db"}, ls...)...); r.code != exitOK || !strings.Contains(r.stdout, line.Snapshot) {
		t.Errorf("backup ls: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFake(t, e, append([]string{"backup", "show", line.Snapshot}, ls...)...); r.code != exitOK || !strings.Contains(r.stdout, "volume db-data -> /var/lib/db: 2 entries") {
		t.Errorf("backup show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	verify := append([]string{"backup", "verify", line.Snapshot, "--key-dir", flags[3]}, ls...)
	if r := runFake(t, e, verify...); r.code != exitOK || !strings.Contains(r.stdout, "OK") {
		t.Errorf("backup verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	chunks, _ := filepath.Glob(filepath.Join(store, "packs", "*", "*"))
	if len(chunks) == 0 {
		t.Fatal("no chunk stored")
	}
	for _, c := range chunks {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.Chmod(c, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := runFake(t, e, verify...); r.code != exitUnverified || !strings.Contains(r.stdout, "1 difference:\n  file list of db-data: chunk ") {
		t.Errorf("backup verify after a changed byte: exit %d, want 5 and the difference listed\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFake(t, e, append([]string{"backup", "show", "20990101T000000Z-000000"}, ls...)...); r.code != exitUsage {
		t.Errorf("backup show of an unknown snapshot: exit %d, want 2\n%s", r.code, r.stderr)
	}
}

// TestBackupOnAFullDiskSaysSo: a store that fills up mid-backup fails it
// with the store's own error (no space left), exit 1, not the cancel that
// error caused in the readers (which read as an interrupt, exit 130).
func TestBackupOnAFullDiskSaysSo(t *testing.T) {
	full := t.TempDir()
	if err := syscall.Mount("tmpfs", full, "tmpfs", 0, "size=1m"); err != nil {
		runtimetest.SkipOrFail(t, "a small tmpfs for the store: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(full, syscall.MNT_DETACH) })
	vol := t.TempDir()
	data := make([]byte, 8<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := os.WriteFile(filepath.Join(vol, fmt.Sprintf("data%d", i)), data[i<<21:(i+1)<<21], 0o640); err != nil {
			t.Fatal(err)
		}
	}
	e := fake.New()
	d := e.Create("db", fake.WithSecurity(runtime.Security{Mounts: []runtime.Mount{{Type: "volume", Name: "db-data", Source: vol, Destination: "/var/lib/db", RW: true}}}))
	e.Start(d.ID)
	r := runFake(t, e, "backup", "db", "--store", "file://"+full, "--key-dir", t.TempDir(), "--state-dir", t.TempDir())
	if r.code != exitFailed || !strings.Contains(r.stderr, "no space left on device") || strings.Contains(r.stderr, "context canceled") {
		t.Errorf("backup into a full store: exit %d, want 1 naming the full disk\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRecoverCLIPlansAndAsks: recover --dry-run verifies and prints the
// plan; without a terminal and without --yes it acts on nothing (exit 7).
func TestRecoverCLIPlansAndAsks(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := []string{"--store", "file://" + t.TempDir(), "--key-dir", t.TempDir(), "--state-dir", t.TempDir(), "--runtime", "docker"}
	if r := cli(t, flags, "backup", d.Name); r.code != exitOK {
		t.Fatalf("backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, []string{flags[4], flags[5], flags[6], flags[7]}, "contain", d.Name, "--case", "IR-1"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, flags, "recover", d.Name, "--case", "IR-1", "--dry-run")
	if r.code != exitOK || !strings.Contains(r.stdout, "signature good") || !strings.Contains(r.stdout, "rename") || !strings.Contains(r.stdout, d.Name+".suspect-IR-1") {
		t.Errorf("recover --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, flags, "recover", d.Name, "--case", "IR-1")
	if r.code != exitApproval || !strings.Contains(r.stderr, "add --yes") || strings.Contains(r.stderr, "--approve") || strings.Contains(r.stderr, "--resume") {
		t.Errorf("recover without --yes off a terminal: exit %d, want 7 and only flags recover takes named\n%s", r.code, r.stderr)
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name || got.State != runtime.StatePaused {
		t.Errorf("recover changed the suspect without approval: %s %s", got.Name, got.State)
	}
	if r := cli(t, flags, "recover", d.Name); r.code != exitUsage {
		t.Errorf("recover without --case: exit %d, want 2", r.code)
	}
}

// TestBackupLsSkipsADamagedSnapshot: one damaged manifest does not hide
// the other snapshots: backup ls lists them and names the damaged one
// (exit 5), and a recover of another container plans from its own.
func TestBackupLsSkipsADamagedSnapshot(t *testing.T) {
	h := runtimetest.Docker(t)
	a := h.Run(t, runtimetest.Name(t)+"-a", runtimetest.Spec{})
	b := h.Run(t, runtimetest.Name(t)+"-b", runtimetest.Spec{})
	store := t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", t.TempDir(), "--runtime", "docker"}
	ids := map[string]string{}
	for _, d := range []runtime.Details{a, b} {
		r := cli(t, flags, "backup", d.Name, "-o", "json")
		var line struct{ Snapshot string }
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &line) != nil || line.Snapshot == "" {
			t.Fatalf("backup %s: exit %d\n%s%s", d.Name, r.code, r.stdout, r.stderr)
		}
		ids[d.Name] = line.Snapshot
	}
	m := filepath.Join(store, "backups", ids[a.Name], "manifest.json")
	if err := os.Chmod(m, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"backup", "ls"}, {"backup", "ls", b.Name}, {"backup", "ls", "-o", "json"}} {
		r := cli(t, flags[:2], args...)
		if r.code != exitUnverified || !strings.Contains(r.stdout, ids[b.Name]) || !strings.Contains(r.stderr, ids[a.Name]) || !strings.Contains(r.stderr, "damaged") {
			t.Errorf("%s with a damaged manifest: exit %d, want 5, the other listed, the damaged named\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := cli(t, flags[4:], "contain", b.Name, "--case", "IR-2"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, flags, "recover", b.Name, "--case", "IR-2", "--dry-run")
	if r.code != exitOK || !strings.Contains(r.stdout, "plan from snapshot "+ids[b.Name]) {
		t.Errorf("recover --dry-run of the other container: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestBackupForget: forget keeps what the rules keep, removes the other
// manifests (a dry run removes nothing), and always keeps the snapshot a
// recover of a held container would use.
func TestBackupForget(t *testing.T) {
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "data.txt"), []byte("v1"), 0o640); err != nil {
		t.Fatal(err)
	}
	e := fake.New()
	d := e.Create("db", fake.WithSecurity(runtime.Security{Mounts: []runtime.Mount{{Type: "volume", Name: "db-data", Source: vol, Destination: "/var/lib/db", RW: true}}}))
	e.Start(d.ID)
	store, state := t.TempDir(), t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", state}
	var ids []string
	for i := 0; i < 4; i++ {
		if i == 2 {
			// The compromise: the responder contains it between the second
			// and third backup.
			if r := runFake(t, e, "contain", "db", "--state-dir", state, "--case", "IR-3"); r.code != exitOK {
				t.Fatalf("contain: exit %d\n%s", r.code, r.stderr)
			}
		}
		time.Sleep(1100 * time.Millisecond) // snapshot IDs name the second
		r := runFake(t, e, append([]string{"backup", "db", "-o", "json"}, flags...)...)
		var line struct{ Snapshot string }
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &line) != nil {
			t.Fatalf("backup %d: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
		ids = append(ids, line.Snapshot)
	}
	manifests := func() int {
		m, _ := filepath.Glob(filepath.Join(store, "backups", "*", "manifest.json"))
		return len(m)
	}
	r := runFake(t, e, append([]string{"backup", "forget", "--keep-last", "1", "--dry-run"}, flags...)...)
	if r.code != exitOK || manifests() != 4 || !strings.Contains(r.stdout, "would be forgotten") {
		t.Fatalf("forget --dry-run: exit %d, %d manifests\n%s%s", r.code, manifests(), r.stdout, r.stderr)
	}
	r = runFake(t, e, append([]string{"backup", "forget", "--keep-last", "1"}, flags...)...)
	if r.code != exitOK || manifests() != 2 {
		t.Fatalf("forget --keep-last 1: exit %d, %d manifests left, want 2\n%s%s", r.code, manifests(), r.stdout, r.stderr)
	}
	for _, id := range []string{ids[1], ids[3]} { // the last before containment, and the newest
		if _, err := os.Stat(filepath.Join(store, "backups", id, "manifest.json")); err != nil {
			t.Errorf("snapshot %s was forgotten: %v\n%s", id, err, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "case IR-3") {
		t.Errorf("forget does not say why the pre-containment snapshot is kept:\n%s", r.stdout)
	}
	if r := runFake(t, e, append([]string{"backup", "forget"}, flags...)...); r.code != exitUsage {
		t.Errorf("forget without a rule: exit %d, want 2", r.code)
	}
}

// TestBackupPrune: after forget, prune removes the packs only the
// forgotten snapshot used (a dry run counts them and removes nothing), and
// the kept snapshot still verifies.
func TestBackupPrune(t *testing.T) {
	vol := t.TempDir()
	e := fake.New()
	d := e.Create("db", fake.WithSecurity(runtime.Security{Mounts: []runtime.Mount{{Type: "volume", Name: "db-data", Source: vol, Destination: "/var/lib/db", RW: true}}}))
	e.Start(d.ID)
	store := t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", t.TempDir()}
	var last string
	for i := 0; i < 2; i++ {
		// Different data each time: nothing shared between the two.
		if err := os.WriteFile(filepath.Join(vol, "data.bin"), bytes.Repeat([]byte{byte('a' + i)}, 300<<10), 0o640); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		r := runFake(t, e, append([]string{"backup", "db", "-o", "json"}, flags...)...)
		var line struct{ Snapshot string }
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &line) != nil {
			t.Fatalf("backup %d: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
		last = line.Snapshot
	}
	packs := func() int {
		m, _ := filepath.Glob(filepath.Join(store, "packs", "*", "*"))
		return len(m)
	}
	before := packs()
	if r := runFake(t, e, append([]string{"backup", "forget", "--keep-last", "1"}, flags...)...); r.code != exitOK {
		t.Fatalf("forget: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := runFake(t, e, append([]string{"backup", "prune", "--dry-run", "-o", "json"}, flags...)...)
	var dry struct {
		PacksRemoved int `json:"packs_removed"`
	}
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &dry) != nil || dry.PacksRemoved == 0 || packs() != before {
		t.Fatalf("prune --dry-run: exit %d, %d packs (before %d)\n%s%s", r.code, packs(), before, r.stdout, r.stderr)
	}
	r = runFake(t, e, append([]string{"backup", "prune"}, flags...)...)
	if r.code != exitOK || packs() != before-dry.PacksRemoved || !strings.Contains(r.stdout, "removed") {
		t.Fatalf("prune: exit %d, %d packs, want %d\n%s%s", r.code, packs(), before-dry.PacksRemoved, r.stdout, r.stderr)
	}
	if r := runFake(t, e, append([]string{"backup", "verify", last}, flags...)...); r.code != exitOK {
		t.Errorf("verify of the kept snapshot after prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
