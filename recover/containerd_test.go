package recover_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"firebreak/recover"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// TestRecoverOnContainerd: the round trip on containerd. A container with a
// bind mount full of data is backed up with its bind, damaged and frozen;
// recover makes a new container from the same image and OCI spec (only its
// cgroup path, named after the new ID, and the bind's source differ), binds
// a new directory holding the data as backed up, starts it; the suspect is
// renamed, still frozen, its directory untouched.
func TestRecoverOnContainerd(t *testing.T) {
	h := runtimetest.Containerd(t)
	ctx := runtimetest.Context(t)
	rt := h.Containerd()
	rt.DataDir = t.TempDir()
	name := runtimetest.Name(t)
	dir := t.TempDir()
	fill(t, dir, 200)
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{dir + ":/data"}})
	repo, sg, _ := testRepo(t)
	snap := backupNow(t, repo, rt, d.Container, recover.BackupOptions{IncludeBinds: true, Pause: true})
	want := tree(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "d01", "f00001"), []byte("ransom"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rt.Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := repo.Recover(ctx, rt, snap.ID, sg.Pub, recover.RecoverOptions{Case: "IR-30", HealthTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Recover: %v\n%+v", err, rec)
	}
	t.Cleanup(func() { h.Remove(t, rec.Container.ID) })
	suspect := runtimetest.Inspect(t, h, d.ID)
	if suspect.Name != name+".suspect-IR-30" || suspect.State != runtime.StatePaused {
		t.Errorf("suspect is %s %s, want renamed and still paused", suspect.Name, suspect.State)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d01", "f00001")); string(b) != "ransom" {
		t.Errorf("the suspect's bind directory was changed: %q", b)
	}
	nc := runtimetest.Inspect(t, h, rec.Container.ID)
	if nc.Name != name || nc.State != runtime.StateRunning || nc.Labels["io.firebreak.case"] != "IR-30" || nc.ID == d.ID {
		t.Errorf("new container %s %s %s labels %v", nc.ID, nc.Name, nc.State, nc.Labels)
	}
	var before, after struct {
		Container struct{ Image, Snapshotter string }
		Spec      specs.Spec
	}
	if err := json.Unmarshal(d.Raw, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(nc.Raw, &after); err != nil {
		t.Fatal(err)
	}
	if after.Container.Image != before.Container.Image || after.Container.Snapshotter != before.Container.Snapshotter {
		t.Errorf("image/snapshotter %+v, want %+v", after.Container, before.Container)
	}
	var src string
	for i, m := range after.Spec.Mounts {
		if m.Destination == "/data" {
			src = m.Source
			after.Spec.Mounts[i].Source = dir // the one difference allowed in mounts
		}
	}
	if src == "" || src == dir {
		t.Fatalf("the new container binds %q at /data, want a new directory", src)
	}
	if got := tree(t, src); !reflect.DeepEqual(got, want) {
		t.Errorf("restored bind differs from the backup: %d entries, want %d", len(got), len(want))
	}
	if before.Spec.Linux != nil && after.Spec.Linux != nil {
		after.Spec.Linux.CgroupsPath = strings.ReplaceAll(after.Spec.Linux.CgroupsPath, nc.ID, d.ID)
	}
	b1, _ := json.Marshal(before.Spec)
	b2, _ := json.Marshal(after.Spec)
	if string(b1) != string(b2) {
		t.Errorf("the OCI spec differs beyond the bind source and cgroup path:\nbefore %s\nafter  %s", b1, b2)
	}
}
