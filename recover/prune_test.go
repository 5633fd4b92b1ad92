package recover_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/evidence"
	"firebreak/recover"
	"firebreak/runtime/runtimetest"
)

// Forget then prune: the packs only the forgotten snapshot used are
// removed, the kept snapshot still verifies and restores whole; a dry run
// removes nothing; a prune refuses while a backup holds the repository.
func TestPruneRemovesOnlyWhatNoSnapshotUses(t *testing.T) {
	runtimetest.RequireRoot(t)
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	name := runtimetest.Name(t)
	dir := volume(t, h, name+"-data")
	fill(t, dir, 300)
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}})
	st, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo, err := recover.OpenRepo(ctx, st, sg)
	if err != nil {
		t.Fatal(err)
	}
	backup := func() *recover.Snapshot {
		t.Helper()
		s, err := repo.Backup(ctx, h.Runtime(), d.Container, recover.BackupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Commit(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := backup()
	// Replace the data: the second snapshot shares nothing of the files.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "new"), 50)
	second := backup()
	packsBefore := count(t, st, "packs/")

	if _, _, err := repo.Forget(ctx, []string{first.ID}); err != nil {
		t.Fatal(err)
	}
	dry, err := repo.Prune(ctx, true)
	if err != nil || dry.PacksRemoved == 0 || count(t, st, "packs/") != packsBefore {
		t.Fatalf("dry run: %+v, %v; packs %d (before %d)", dry, err, count(t, st, "packs/"), packsBefore)
	}
	// A backup under way holds the repository: prune refuses.
	held, err := repo.Backup(ctx, h.Runtime(), d.Container, recover.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Prune(ctx, false); err == nil || !strings.Contains(err.Error(), "locked for a backup") {
		t.Errorf("prune during a backup: %v, want refused", err)
	}
	if err := repo.Commit(ctx, held); err != nil {
		t.Fatal(err)
	}
	if _, _, err := repo.Forget(ctx, []string{held.ID}); err != nil {
		t.Fatal(err)
	}

	stats, err := repo.Prune(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if stats.PacksRemoved == 0 || stats.PacksRemoved != dry.PacksRemoved || stats.Snapshots != 1 || count(t, st, "packs/") != packsBefore-stats.PacksRemoved {
		t.Errorf("prune %+v (dry run %+v); packs %d, before %d", stats, dry, count(t, st, "packs/"), packsBefore)
	}
	if count(t, st, "locks/") != 0 {
		t.Errorf("locks left behind: %d", count(t, st, "locks/"))
	}
	t.Logf("prune: %+v", stats)
	// A fresh repository (its own index read) verifies and restores what is kept.
	again, err := recover.OpenRepo(ctx, st, sg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := again.Verify(ctx, second.ID, sg.Pub); err != nil {
		t.Fatalf("the kept snapshot after prune: %v", err)
	}
	loaded, _, err := again.Load(ctx, second.ID, sg.Pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.LoadFiles(ctx, loaded); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := again.RestoreVolume(ctx, loaded, name+"-data", out, recover.DefaultRestoreLimits()); err != nil {
		t.Fatal(err)
	}
	if want, got := tree(t, dir), tree(t, out); len(want) != len(got) || len(want) < 50 {
		t.Errorf("restored %d paths, want %d", len(got), len(want))
	}
	// Nothing more to remove.
	if s, err := again.Prune(ctx, false); err != nil || s.PacksRemoved != 0 {
		t.Errorf("a second prune: %+v, %v", s, err)
	}
}

func count(t *testing.T, st evidence.Store, prefix string) int {
	t.Helper()
	objs, err := st.List(runtimetest.Context(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}

// TestPruneRemovesAFailedBackupsPacks: packs no index names (a backup that
// failed before its index, e.g. on a full disk) are removed by prune and
// counted as such; the lock a process on this host left when it died
// does not block the prune, while one of a live process still does.
func TestPruneRemovesAFailedBackupsPacks(t *testing.T) {
	ctx := runtimetest.Context(t)
	storeDir := t.TempDir()
	st, err := evidence.NewFileStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo, err := recover.OpenRepo(ctx, st, sg)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	if _, err := st.Put(ctx, "packs/ab/"+id, strings.NewReader(strings.Repeat("x", 4096)), nil); err != nil {
		t.Fatal(err)
	}
	young := strings.Repeat("ef", 32) // a pack a backup is writing now: not taken
	if _, err := st.Put(ctx, "packs/ef/"+young, strings.NewReader("y"), nil); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(storeDir, "packs", "ab", id), old, old); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	putLock := func(name string, pid int) {
		t.Helper()
		lock := fmt.Sprintf(`{"kind":"backup","host":%q,"pid":%d,"time":%q}`, host, pid, time.Now().UTC().Format(time.RFC3339Nano))
		if _, err := st.Put(ctx, "locks/"+name, strings.NewReader(lock), nil); err != nil {
			t.Fatal(err)
		}
	}
	// a live process's lock: refused
	putLock("backup-live", os.Getppid())
	if _, err := repo.Prune(ctx, false); err == nil || !strings.Contains(err.Error(), "locked for a backup") {
		t.Fatalf("prune beside a live backup's lock: %v, want refused", err)
	}
	if err := st.Delete(ctx, "locks/backup-live"); err != nil {
		t.Fatal(err)
	}
	// a dead process's lock, on this host: not in the way
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	putLock("backup-dead", dead.Process.Pid)
	dry, err := repo.Prune(ctx, true)
	if err != nil || dry.PacksOrphaned != 1 || dry.PacksRemoved != 1 || count(t, st, "packs/") != 2 {
		t.Fatalf("dry run: %+v, %v; %d packs stored", dry, err, count(t, st, "packs/"))
	}
	got, err := repo.Prune(ctx, false)
	if err != nil || got.PacksOrphaned != 1 || got.PacksRemoved != 1 || got.BytesRemoved != 4096 {
		t.Fatalf("prune: %+v, %v; want the orphan pack removed", got, err)
	}
	if n := count(t, st, "packs/"); n != 1 {
		t.Errorf("%d packs left, want the young one alone", n)
	}
}

// TestRepoRefusesToStartOverLostConfig: a store whose backups/config.json
// is gone while its backup data is there is not taken for a new one (which
// would start an unencrypted repository over encrypted data): opening it,
// to write or to read, says what is missing and writes nothing. A store
// with no backups at all still starts one.
func TestRepoRefusesToStartOverLostConfig(t *testing.T) {
	ctx := runtimetest.Context(t)
	dir := t.TempDir()
	st, err := evidence.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recover.OpenRepo(ctx, st, sg); err != nil {
		t.Fatalf("a store's first repository: %v", err)
	}
	if _, err := st.Put(ctx, "packs/cd/"+strings.Repeat("cd", 32), strings.NewReader("sealed"), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "backups/config.json"); err != nil {
		t.Fatal(err)
	}
	for _, signer := range []*evidence.Signer{sg, nil} {
		_, err := recover.OpenRepo(ctx, st, signer)
		if err == nil || !strings.Contains(err.Error(), "config.json is missing") || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("open (signer %v) with the configuration lost: %v, want refused", signer != nil, err)
		}
	}
	if n := count(t, st, "backups/"); n != 0 {
		t.Errorf("%d objects written under backups/ by a refused open", n)
	}
}
