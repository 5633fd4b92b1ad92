package evidence_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/evidence"
)

// TestOpenURLRefusesRelativeStores: a store that is not an absolute path or
// an s3:// URL is refused, and nothing is created where the command runs.
func TestOpenURLRefusesRelativeStores(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, raw := range []string{"nonsense", "file:relative", "file:/abs/but/opaque", "relative/dir", "./ev", "file://", "file:///x?y=1", "s3:bucket", "s3://?endpoint=h:1"} {
		t.Run(raw, func(t *testing.T) {
			st, err := evidence.OpenURL(raw, evidence.StoreOptions{Getenv: func(string) string { return "" }})
			if err == nil {
				t.Fatalf("OpenURL(%q) = %v, want an error", raw, st)
			}
			if !strings.Contains(err.Error(), "file:///") && !strings.Contains(err.Error(), "s3://") {
				t.Errorf("OpenURL(%q) = %q: does not say what to give", raw, err)
			}
		})
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Errorf("refused stores left %v in the working directory", ents)
	}
}

func TestCanonicalURL(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	tests := []struct{ in, want string }{
		{"/var/ev/", "file:///var/ev"},
		{"file:///var/ev", "file:///var/ev"},
		{"s3://bkt/p?insecure=true&endpoint=h:9000", "s3://bkt/p/?endpoint=h%3A9000&insecure=true"},
		{"s3://bkt/p/?endpoint=http://h:9000/", "s3://bkt/p/?endpoint=h%3A9000&insecure=true"},
	}
	for _, tt := range tests {
		got, err := evidence.CanonicalURL(tt.in, getenv)
		if err != nil || got != tt.want {
			t.Errorf("CanonicalURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestReadOnlyOpenCreatesNothing: reading a store that is not there is an
// error saying so (permanent: the user fixes the path), and no directory
// appears.
func TestReadOnlyOpenCreatesNothing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	_, err := evidence.OpenURL("file://"+missing, evidence.StoreOptions{ReadOnly: true})
	var se *evidence.StoreError
	if !errors.As(err, &se) || !se.Permanent || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("read-only open of a missing store = %v, want a permanent StoreError saying it does not exist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open created %s", missing)
	}
}

// TestFileStoreThatCannotBeWritten: a store path that is a file, or a
// directory that cannot be written, is refused when the store is opened,
// with a hint, before any evidence is captured.
func TestFileStoreThatCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(string) (*evidence.FileStore, error){evidence.NewFileStore, evidence.OpenFileStore} {
		_, err := open(file)
		var se *evidence.StoreError
		if !errors.As(err, &se) || !se.Permanent || !strings.Contains(err.Error(), "is a file") || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("store on a file = %v, want a permanent StoreError with a hint", err)
		}
	}
	ro := readOnlyDir(t)
	_, err := evidence.NewFileStore(ro)
	var se *evidence.StoreError
	if !errors.As(err, &se) || !se.Permanent || !strings.Contains(err.Error(), "cannot be written") {
		t.Errorf("store on a read-only directory = %v, want a permanent StoreError", err)
	}
	if _, err := evidence.OpenFileStore(ro); err != nil {
		t.Errorf("reading a read-only store = %v, want it readable", err)
	}
}

// readOnlyDir is a directory nobody may write in, root included (root
// passes permission bits, not the immutable attribute).
func readOnlyDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(d, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", d).CombinedOutput(); err != nil {
			t.Skipf("cannot make a read-only directory as root: chattr: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", d).Run() })
	}
	return d
}

// TestSpoolListAndSyncToAnotherStore: the spool says what waits for which
// store; evidence spooled for one store (a misconfigured one) is sent to
// another with NewSpoolFrom, and leaves the spool once there.
func TestSpoolListAndSyncToAnotherStore(t *testing.T) {
	ctx := context.Background()
	spoolDir := t.TempDir()
	wrong, _ := evidence.NewFileStore(t.TempDir())
	bad := &flaky{FileStore: wrong, failAfter: 0}
	sp, err := evidence.NewSpool(bad, spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cases/A/x", "cases/A/y", "cases/B/z"} {
		if _, err := sp.Put(ctx, k, strings.NewReader(k), nil); err != nil {
			t.Fatal(err)
		}
	}
	list, err := evidence.ListSpool(ctx, spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []evidence.SpoolCase{{Case: "A", Objects: 2, Bytes: 18}, {Case: "B", Objects: 1, Bytes: 9}}
	if len(list) != 1 || list[0].Remote != "flaky://test" || len(list[0].Cases) != 2 || list[0].Cases[0] != want[0] || list[0].Cases[1] != want[1] {
		t.Fatalf("ListSpool = %+v, want flaky://test with %+v", list, want)
	}

	right, _ := evidence.NewFileStore(t.TempDir())
	if _, err := evidence.NewSpoolFrom(right, spoolDir, "s3://other?endpoint=h:1"); err == nil || !strings.Contains(err.Error(), "flaky://test") {
		t.Errorf("NewSpoolFrom of a store nothing was spooled for = %v, want an error naming what is there", err)
	}
	redirect, err := evidence.NewSpoolFrom(right, spoolDir, "flaky://test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := redirect.Sync(ctx)
	if err != nil || len(res) != 3 {
		t.Fatalf("Sync = %v, %v", res, err)
	}
	for _, k := range []string{"cases/A/x", "cases/A/y", "cases/B/z"} {
		rc, err := right.Get(ctx, k)
		if err != nil {
			t.Fatalf("%s not in the other store: %v", k, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != k {
			t.Errorf("%s = %q", k, b)
		}
	}
	if list, _ := evidence.ListSpool(ctx, spoolDir); len(list) != 0 {
		t.Errorf("spool after the sync = %+v, want nothing waiting", list)
	}
	// Listing a spool directory that is not there creates nothing.
	none := filepath.Join(t.TempDir(), "none")
	if list, err := evidence.ListSpool(ctx, none); err != nil || len(list) != 0 {
		t.Errorf("ListSpool of nothing = %v, %v", list, err)
	}
	if _, err := os.Stat(none); err == nil {
		t.Error("ListSpool created the spool directory")
	}
}

// TestCaseRecordsHostAndEveryRunsTargets: case.json names the host, and a
// later run into the case (case.json is written once) records its own
// targets in its signed manifest.
func TestCaseRecordsHostAndEveryRunsTargets(t *testing.T) {
	ctx := context.Background()
	s, _ := evidence.NewFileStore(t.TempDir())
	sg := signer(t)
	for _, target := range []string{"web-1", "web-2"} {
		r, err := evidence.OpenRun(ctx, s, sg, evidence.CaseInfo{ID: "IR-T", Actor: "tester", Tool: "firebreak test", Targets: []string{target}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := s.Get(ctx, "cases/IR-T/case.json")
	if err != nil {
		t.Fatal(err)
	}
	var info evidence.CaseInfo
	err = json.NewDecoder(rc).Decode(&info)
	rc.Close()
	host, _ := os.Hostname()
	if err != nil || info.Host == "" || info.Host != host {
		t.Errorf("case.json host = %q (%v), want %q", info.Host, err, host)
	}
	ms, err := evidence.Manifests(ctx, s, "IR-T")
	if err != nil || len(ms) != 2 {
		t.Fatalf("manifests = %v, %v", ms, err)
	}
	if len(ms[0].Targets) != 1 || ms[0].Targets[0] != "web-1" || len(ms[1].Targets) != 1 || ms[1].Targets[0] != "web-2" {
		t.Errorf("runs' targets = %v, %v; want web-1 then web-2", ms[0].Targets, ms[1].Targets)
	}
	if rep, err := evidence.Verify(ctx, s, "IR-T", sg.Pub); err != nil || !rep.OK() {
		t.Errorf("verify = %+v, %v", rep, err)
	}
}
