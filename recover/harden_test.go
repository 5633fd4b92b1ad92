package recover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"firebreak/evidence"
	"firebreak/recover"
	"firebreak/runtime"
)

// TestTmpfsForReadsTheFSDiff: the tmpfs paths of a hardened recreate are
// where the suspect wrote, by the newest fs diff of it in the case: one per
// service directory, none over a mount, the system's own directories and
// deletions left out; without a diff, /run and /tmp.
func TestTmpfsForReadsTheFSDiff(t *testing.T) {
	ctx := context.Background()
	_, sg, st := testRepo(t)
	suspect := &runtime.Details{Container: runtime.Container{ID: "c0ffee"}, Security: runtime.Security{Mounts: []runtime.Mount{{Destination: "/data"}}}}
	got, from, err := recover.TmpfsFor(ctx, st, "IR-5", suspect)
	if err != nil || !reflect.DeepEqual(got, []string{"/run", "/tmp"}) {
		t.Errorf("without a diff: %v (%s), %v", got, from, err)
	}
	n := 0
	put := func(id string, changes []map[string]string) {
		t.Helper()
		run, err := evidence.OpenRun(ctx, st, sg, evidence.CaseInfo{ID: "IR-5"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(changes)
		n++
		if _, err := run.Put(ctx, evidence.CasePrefix("IR-5")+id+fmt.Sprintf("/20261128T10000%d.000000000Z/fsdiff/changes.json", n), bytes.NewReader(b), "fsdiff", id); err != nil {
			t.Fatal(err)
		}
		if _, err := run.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	put("c0ffee", []map[string]string{{"path": "/tmp/old", "kind": "A"}})
	put("beef", []map[string]string{{"path": "/srv/other", "kind": "A"}}) // another container's
	put("c0ffee", []map[string]string{
		{"path": "/tmp/x", "kind": "A"}, {"path": "/tmp/y/z", "kind": "C"},
		{"path": "/var/cache/app/a", "kind": "A"}, {"path": "/var/cache/app/b/c", "kind": "A"},
		{"path": "/var/log/app.log", "kind": "C"}, {"path": "/usr/local/share/x/y", "kind": "A"},
		{"path": "/etc/passwd", "kind": "C"}, {"path": "/usr/bin/miner", "kind": "A"},
		{"path": "/data/inside-a-volume", "kind": "A"}, {"path": "/home/app/.cache/z", "kind": "A"},
		{"path": "/srv/gone", "kind": "D"}, {"path": "/toplevel-file", "kind": "A"}, {"path": "/opt/empty", "kind": "A", "type": "dir"},
	})
	got, from, err = recover.TmpfsFor(ctx, st, "IR-5", suspect)
	want := []string{"/home/app", "/tmp", "/usr/local/share", "/var/cache", "/var/log"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("TmpfsFor = %v (%s), %v; want %v", got, from, err, want)
	}
}
