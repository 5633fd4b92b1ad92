package recover_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dnetwork "github.com/docker/docker/api/types/network"
	"golang.org/x/sys/unix"

	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/recover"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// testRepo is a snapshot repository in a file store of the test's own,
// signed by a key of its own.
func testRepo(t *testing.T) (*recover.Repo, *evidence.Signer, evidence.Store) {
	t.Helper()
	st, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo, err := recover.OpenRepo(context.Background(), st, sg)
	if err != nil {
		t.Fatal(err)
	}
	return repo, sg, st
}

// backupNow takes and commits a snapshot of c.
func backupNow(t *testing.T, repo *recover.Repo, rt runtime.Runtime, c runtime.Container, o recover.BackupOptions) *recover.Snapshot {
	t.Helper()
	s, err := repo.Backup(runtimetest.Context(t), rt, c, o)
	if err == nil {
		err = repo.Commit(runtimetest.Context(t), s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recoverFixture is a service with a named volume, on a user network with
// an alias, backed up; then the attacker damages its data.
func recoverFixture(t *testing.T, health []string) (*runtimetest.DockerHarness, *recover.Repo, *evidence.Signer, runtime.Details, string, string) {
	t.Helper()
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	name := runtimetest.Name(t)
	dir := volume(t, h, name+"-data")
	fill(t, dir, 300)
	if err := os.WriteFile(filepath.Join(dir, "ok"), []byte("healthy"), 0o644); err != nil {
		t.Fatal(err)
	}
	net := h.UserNetwork(t, name+"-net", false)
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}, Network: net, Aliases: []string{"db"},
		Labels: map[string]string{"app": "shop"}, Healthcheck: health, HealthInterval: 300 * time.Millisecond})
	repo, sg, _ := testRepo(t)
	s := backupNow(t, repo, h.Runtime(), d.Container, recover.BackupOptions{Pause: true})
	// The compromise: data damaged, then the responder froze it.
	if err := os.WriteFile(filepath.Join(dir, "ok"), []byte("ransom"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "big.bin")); err != nil {
		t.Fatal(err)
	}
	if err := h.Runtime().Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeRestored(t, h, name+"-data.restored-") })
	return h, repo, sg, d, s.ID, dir
}

func TestRecoverOnDocker(t *testing.T) {
	h, repo, sg, d, id, dir := recoverFixture(t, []string{"CMD", "grep", "-q", "healthy", "/data/ok"})
	ctx := runtimetest.Context(t)
	// A dry run plans and changes nothing.
	var reports []progress.Count // one at a time, from Recover's goroutine
	report := func(n progress.Count) { reports = append(reports, n) }
	plan, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-7", DryRun: true, Progress: report})
	if err != nil || len(plan.Steps) < 6 || len(reports) != 0 {
		t.Fatalf("dry run = %+v, %v", plan, err)
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name || got.State != runtime.StatePaused {
		t.Fatalf("the dry run changed the suspect: %s %s", got.Name, got.State)
	}
	rec, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-7", HealthTimeout: 30 * time.Second, Progress: report})
	if err != nil {
		t.Fatalf("Recover: %v (%+v)", err, rec)
	}
	// The restore told its progress against the snapshot's totals, known
	// before the first chunk, and ended at them.
	if len(reports) < 2 || reports[0].Bytes != 0 || !reports[0].Known() {
		t.Fatalf("restore reports %+v, want the totals first", reports)
	}
	for i, r := range reports {
		if r.BytesTotal != reports[0].BytesTotal || r.FilesTotal != reports[0].FilesTotal || (i > 0 && r.Bytes < reports[i-1].Bytes) {
			t.Fatalf("report %d: %+v after %+v", i, r, reports[max(i-1, 0)])
		}
	}
	if last := reports[len(reports)-1]; last.Bytes != last.BytesTotal || last.Files != last.FilesTotal {
		t.Errorf("last report %+v, want its totals reached", last)
	}
	t.Cleanup(func() { h.Remove(t, rec.Container.ID) })
	suspect := runtimetest.Inspect(t, h, d.ID)
	if suspect.Name != d.Name+".suspect-IR-7" || suspect.State != runtime.StatePaused {
		t.Errorf("suspect is %s %s, want renamed and still paused", suspect.Name, suspect.State)
	}
	nc := runtimetest.Inspect(t, h, rec.Container.ID)
	if nc.Name != d.Name || nc.State != runtime.StateRunning || nc.Labels["app"] != "shop" || nc.Labels["io.firebreak.case"] != "IR-7" {
		t.Errorf("new container %s %s labels %v", nc.Name, nc.State, nc.Labels)
	}
	if len(nc.Networks) != 1 || nc.Networks[0].Network != d.Networks[0].Network || !strings.Contains(strings.Join(nc.Networks[0].Aliases, ","), "db") {
		t.Errorf("new container networks %+v, want %s with alias db", nc.Networks, d.Networks[0].Network)
	}
	// The suspect's damaged volume is untouched; the new one holds the data
	// as backed up.
	if b, _ := os.ReadFile(filepath.Join(dir, "ok")); string(b) != "ransom" {
		t.Errorf("the suspect's volume was changed: %q", b)
	}
	for _, m := range nc.Security.Mounts {
		if m.Destination == "/data" {
			if b, err := os.ReadFile(filepath.Join(m.Source, "ok")); err != nil || string(b) != "healthy" {
				t.Errorf("restored ok = %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(m.Source, "big.bin")); err != nil {
				t.Errorf("restored big.bin: %v", err)
			}
			// The total is what was written: the restored volume's files,
			// a hard link's inode once.
			var files int
			var size int64
			seen := map[uint64]bool{}
			_ = filepath.WalkDir(m.Source, func(_ string, e fs.DirEntry, err error) error {
				if err != nil || !e.Type().IsRegular() {
					return nil
				}
				fi, err := e.Info()
				if st, ok := fi.Sys().(*syscall.Stat_t); err == nil && ok && !seen[st.Ino] {
					seen[st.Ino] = true
					files, size = files+1, size+fi.Size()
				}
				return nil
			})
			if tot := reports[0]; tot.BytesTotal != size || tot.FilesTotal != files {
				t.Errorf("restore totals %d bytes, %d files; the volume holds %d bytes, %d files", tot.BytesTotal, tot.FilesTotal, size, files)
			}
		}
	}
}

// TestRecoverRollsBack: a new container that never gets healthy is removed
// with its volumes, and the suspect gets its name back, as it was.
func TestRecoverRollsBack(t *testing.T) {
	h, repo, sg, d, id, _ := recoverFixture(t, []string{"CMD", "false"})
	ctx := runtimetest.Context(t)
	before := engineState(t, h, d.Name)
	rec, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-8", HealthTimeout: 5 * time.Second})
	if err == nil || !rec.RolledBack || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "not healthy") {
		t.Fatalf("Recover with a failing health check = %v (%+v), want rolled back", err, rec)
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name || got.State != runtime.StatePaused {
		t.Errorf("suspect after the rollback: %s %s", got.Name, got.State)
	}
	if after := engineState(t, h, d.Name); after != before {
		t.Errorf("the engine after the rollback differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	vols, err := h.Docker().API().VolumeList(ctx, volumeListOptions())
	if err == nil {
		for _, v := range vols.Volumes {
			if v.Labels["io.firebreak.case"] == "IR-8" {
				t.Errorf("volume %s left after the rollback", v.Name)
			}
		}
	}
	if _, err := repo.Recover(ctx, h.Runtime(), "20990101T000000Z-000000", sg.Pub, recover.RecoverOptions{Case: "IR-9"}); err == nil || !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Recover of a missing snapshot = %v", err)
	}
}

// engineState is what a rollback must give back exactly: every container
// (name and state), network and volume of the engine whose name starts with
// prefix (the test's own: other packages' tests run at the same time).
func engineState(t *testing.T, h *runtimetest.DockerHarness, prefix string) string {
	t.Helper()
	ctx := runtimetest.Context(t)
	var lines []string
	cs, err := h.Runtime().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if !strings.HasPrefix(c.Name, prefix) {
			continue
		}
		d := runtimetest.Inspect(t, h, c.ID)
		var nets []string
		for _, n := range d.Networks {
			nets = append(nets, n.Network+"="+n.IPv4Address+"/"+n.MacAddress+"/"+strings.Join(n.Aliases, ","))
		}
		lines = append(lines, "container "+c.ID+" "+d.Name+" "+string(d.State)+" "+strings.Join(nets, " "))
	}
	ns, err := h.Docker().API().NetworkList(ctx, networkListOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if strings.HasPrefix(n.Name, prefix) {
			lines = append(lines, "network "+n.ID+" "+n.Name)
		}
	}
	vs, err := h.Docker().API().VolumeList(ctx, volumeListOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		if strings.HasPrefix(v.Name, prefix) {
			lines = append(lines, "volume "+v.Name)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestRecoverCancelRollsBack: a Ctrl-C while the volume is restored (the
// context ends right after the new volume is made) rolls the engine back to
// exactly its prior state: containers with their names, states and
// networks, networks, volumes.
func TestRecoverCancelRollsBack(t *testing.T) {
	h, repo, sg, d, id, _ := recoverFixture(t, []string{"CMD", "grep", "-q", "healthy", "/data/ok"})
	before := engineState(t, h, d.Name)
	ctx, cancel := context.WithCancel(runtimetest.Context(t))
	defer cancel()
	var acts []string
	rec, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-10", HealthTimeout: 30 * time.Second,
		Log: func(action, _, _ string) {
			acts = append(acts, action)
			if action == "recover.volume" {
				cancel() // the responder's Ctrl-C, mid-restore
			}
		}})
	if err == nil || !errors.Is(err, context.Canceled) || !rec.RolledBack {
		t.Fatalf("Recover cancelled mid-restore = %v (%+v), want cancelled and rolled back", err, rec)
	}
	if after := engineState(t, h, d.Name); after != before {
		t.Errorf("the engine after the rollback differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name || got.State != runtime.StatePaused {
		t.Errorf("suspect after the rollback: %s %s", got.Name, got.State)
	}
	if !slices.Contains(acts, "recover.rollback") || slices.Contains(acts, "recover.create") {
		t.Errorf("acts logged: %v, want a rollback and no create", acts)
	}
}

func networkListOptions() dnetwork.ListOptions { return dnetwork.ListOptions{} }

// TestRecoverBindOnDocker: a bind mount taken with its data (backup
// --include-binds) comes back in a new volume mounted instead of the host
// directory, which stays as the suspect left it.
func TestRecoverBindOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	dir := t.TempDir()
	fill(t, dir, 100)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Binds: []string{dir + ":/data"}})
	repo, sg, _ := testRepo(t)
	s := backupNow(t, repo, h.Runtime(), d.Container, recover.BackupOptions{IncludeBinds: true, Pause: true})
	want := tree(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "d01", "f00001"), []byte("ransom"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Runtime().Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := repo.Recover(ctx, h.Runtime(), s.ID, sg.Pub, recover.RecoverOptions{Case: "IR-11", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Recover: %v\n%+v", err, rec)
	}
	t.Cleanup(func() {
		h.Remove(t, rec.Container.ID)
		for _, st := range rec.Steps {
			if st.Action == "volume" {
				_ = h.Docker().API().VolumeRemove(context.Background(), strings.Fields(st.Detail)[2], true)
			}
		}
	})
	if b, _ := os.ReadFile(filepath.Join(dir, "d01", "f00001")); string(b) != "ransom" {
		t.Errorf("the host directory was changed: %q", b)
	}
	nc := runtimetest.Inspect(t, h, rec.Container.ID)
	found := false
	for _, m := range nc.Security.Mounts {
		if m.Destination != "/data" {
			continue
		}
		found = true
		if m.Type != "volume" || m.Source == dir {
			t.Errorf("/data is %s from %s, want a restored volume", m.Type, m.Source)
		}
		if got := tree(t, m.Source); len(got) != len(want) {
			t.Errorf("the restored volume holds %d entries, the backup %d", len(got), len(want))
		} else {
			for p, v := range want {
				if got[p] != v {
					t.Errorf("%q: %s, backed up %s", p, got[p], v)
				}
			}
		}
	}
	if !found {
		t.Errorf("the new container has no /data: %+v", nc.Security.Mounts)
	}
}

// TestRecoverLeavesDevicesOutOnDocker: a device node in a volume does not
// make its backup unrestorable: the plan names it as left out up front,
// the recover brings the service back without it.
func TestRecoverLeavesDevicesOutOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	name := runtimetest.Name(t)
	dir := volume(t, h, name+"-data")
	if err := os.WriteFile(filepath.Join(dir, "ok"), []byte("healthy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dir, "n"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}})
	repo, sg, _ := testRepo(t)
	s := backupNow(t, repo, h.Runtime(), d.Container, recover.BackupOptions{Pause: true})
	if err := h.Runtime().Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	plan, err := repo.Recover(ctx, h.Runtime(), s.ID, sg.Pub, recover.RecoverOptions{Case: "IR-12", DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if pt := plan.PlanText(); !strings.Contains(pt, "leaves out 1 special files: n (char device 1:3)") || !strings.Contains(pt, "--restore-devices") {
		t.Errorf("the plan does not say the device is left out: %s", pt)
	}
	rec, err := repo.Recover(ctx, h.Runtime(), s.ID, sg.Pub, recover.RecoverOptions{Case: "IR-12", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Recover of a volume with a device node: %v\n%+v", err, rec)
	}
	t.Cleanup(func() {
		h.Remove(t, rec.Container.ID)
		for _, st := range rec.Steps {
			if st.Action == "volume" {
				_ = h.Docker().API().VolumeRemove(context.Background(), strings.Fields(st.Detail)[2], true)
			}
		}
	})
	nc := runtimetest.Inspect(t, h, rec.Container.ID)
	for _, m := range nc.Security.Mounts {
		if m.Destination != "/data" {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(m.Source, "ok")); err != nil || string(b) != "healthy" {
			t.Errorf("restored ok = %q, %v", b, err)
		}
		if _, err := os.Lstat(filepath.Join(m.Source, "n")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("restored n: %v, want left out", err)
		}
	}
}

// removeRestored removes the volumes whose names start with prefix (those
// the test's recovers made).
func removeRestored(t *testing.T, h *runtimetest.DockerHarness, prefix string) {
	api := h.Docker().API()
	vs, err := api.VolumeList(context.Background(), volumeListOptions())
	if err != nil {
		t.Error(err)
		return
	}
	for _, v := range vs.Volumes {
		if strings.HasPrefix(v.Name, prefix) {
			_ = api.VolumeRemove(context.Background(), v.Name, true)
		}
	}
}

// TestRecoverTwiceFromOneSnapshot: a second recover from the snapshot the
// first used (the service compromised again) makes a volume of a new name,
// not the one the first made (the current suspect's, evidence now), and
// names do not grow; a name taken on the engine is seen by the dry run.
func TestRecoverTwiceFromOneSnapshot(t *testing.T) {
	h, repo, sg, d, id, _ := recoverFixture(t, nil)
	ctx := runtimetest.Context(t)
	tag := strings.SplitN(id, "-", 2)[1]
	volumeOf := func(rec *recover.Recovery) string {
		for _, st := range rec.Steps {
			if st.Action == "volume" {
				return strings.Fields(st.Detail)[2]
			}
		}
		t.Fatalf("no volume step: %+v", rec.Steps)
		return ""
	}
	first, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-TWICE-A", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("first recover: %v", err)
	}
	t.Cleanup(func() { h.Remove(t, first.Container.ID) })
	if got, want := volumeOf(first), d.Name+"-data.restored-"+tag+"-IR-TWICE-A"; got != want {
		t.Errorf("first volume %s, want %s", got, want)
	}
	// Compromised again: the recovered container is the suspect now.
	if err := h.Runtime().Pause(ctx, first.Container.ID); err != nil {
		t.Fatal(err)
	}
	// A volume of the name the second would take exists already (another
	// recover's): the plan passes it over, and it is left as it is.
	squatter := d.Name + "-data.restored-" + tag + "-IR-TWICE-B"
	volume(t, h, squatter)
	plan, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-TWICE-B", DryRun: true})
	if err != nil {
		t.Fatalf("dry run of the second recover: %v", err)
	}
	want := squatter + "-2"
	if got := volumeOf(plan); got != want {
		t.Errorf("the second plan names volume %s, want %s", got, want)
	}
	second, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-TWICE-B", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("second recover from the same snapshot: %v\n%+v", err, second)
	}
	t.Cleanup(func() { h.Remove(t, second.Container.ID) })
	if got := volumeOf(second); got != want {
		t.Errorf("the second recover made volume %s, its plan said %s", got, want)
	}
	// The first suspect's evidence volume is still mounted in it.
	sus := runtimetest.Inspect(t, h, first.Container.ID)
	found := false
	for _, m := range sus.Security.Mounts {
		found = found || m.Name == volumeOf(first)
	}
	if !found || sus.State != runtime.StatePaused {
		t.Errorf("the first recovered container (the suspect now) lost its volume %s or its freeze: %+v %s", volumeOf(first), sus.Security.Mounts, sus.State)
	}
	// A recover of a recovered container does not grow the name.
	if strings.Count(want, ".restored-") != 1 {
		t.Errorf("volume name %s grew", want)
	}
}

// TestRecoverTwiceInOneCase: the service compromised again in the same
// case: the second recover keeps the first suspect under its name and
// renames the second NAME.suspect-CASE-2, its plan saying so.
func TestRecoverTwiceInOneCase(t *testing.T) {
	h, repo, sg, d, id, _ := recoverFixture(t, nil)
	ctx := runtimetest.Context(t)
	first, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-AGAIN", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("first recover: %v", err)
	}
	t.Cleanup(func() { h.Remove(t, first.Container.ID) })
	if want := d.Name + ".suspect-IR-AGAIN"; first.Suspect != want {
		t.Fatalf("first suspect named %s, want %s", first.Suspect, want)
	}
	if err := h.Runtime().Pause(ctx, first.Container.ID); err != nil { // compromised again, frozen
		t.Fatal(err)
	}
	plan, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-AGAIN", DryRun: true})
	if err != nil || plan.Suspect != d.Name+".suspect-IR-AGAIN-2" {
		t.Fatalf("second plan: suspect %q (%v), want %s.suspect-IR-AGAIN-2", plan.Suspect, err, d.Name)
	}
	second, err := repo.Recover(ctx, h.Runtime(), id, sg.Pub, recover.RecoverOptions{Case: "IR-AGAIN", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("second recover in the same case: %v\n%+v", err, second)
	}
	t.Cleanup(func() { h.Remove(t, second.Container.ID) })
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name+".suspect-IR-AGAIN" {
		t.Errorf("the first suspect is named %s now", got.Name)
	}
	if got := runtimetest.Inspect(t, h, first.Container.ID); got.Name != d.Name+".suspect-IR-AGAIN-2" || got.State != runtime.StatePaused {
		t.Errorf("the second suspect is %s %s, want %s.suspect-IR-AGAIN-2, paused", got.Name, got.State, d.Name)
	}
	if got := runtimetest.Inspect(t, h, second.Container.ID); got.Name != d.Name || got.State != runtime.StateRunning {
		t.Errorf("the service is %s %s", got.Name, got.State)
	}
}
