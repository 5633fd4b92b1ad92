package evidence_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
)

func newRun(t *testing.T, s evidence.Store, signer *evidence.Signer, caseID string) *evidence.Run {
	t.Helper()
	r, err := evidence.OpenRun(context.Background(), s, signer, evidence.CaseInfo{ID: caseID, Actor: "tester", Tool: "firebreak test"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func writeCase(t *testing.T, s evidence.Store, signer *evidence.Signer) {
	t.Helper()
	ctx := context.Background()
	for run := 0; run < 2; run++ {
		r := newRun(t, s, signer, "IR-1")
		for _, k := range []string{"a", "b"} {
			key := "cases/IR-1/c" + string(rune('0'+run)) + "/" + k + ".json"
			if _, err := r.Put(ctx, key, strings.NewReader(`{"artifact":"`+k+`"}`), "test", "c"); err != nil {
				t.Fatal(err)
			}
		}
		r.Log("contain", "c", "ok")
		if _, err := r.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func signer(t *testing.T) *evidence.Signer {
	t.Helper()
	s, created, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil || !created {
		t.Fatalf("LoadOrCreateSigner = %v, created %v", err, created)
	}
	return s
}

func TestVerifyIntactCase(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			sg := signer(t)
			writeCase(t, store, sg)
			rep, err := evidence.Verify(context.Background(), store, "IR-1", sg.Pub)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Runs != 2 || rep.Artifacts != 4 {
				t.Errorf("Verify = %+v, want 2 runs, 4 artifacts, no problems", rep)
			}
			other := signer(t)
			rep, _ = evidence.Verify(context.Background(), store, "IR-1", other.Pub)
			if rep.OK() || !strings.Contains(rep.Problems[0].What, "trusted key") {
				t.Errorf("Verify with another key = %+v, want signature problems", rep.Problems)
			}
		})
	}
}

func stores(t *testing.T) map[string]evidence.Store {
	fs, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]evidence.Store{"file": fs, "s3": storetest.MinIO(t, false, evidence.StoreOptions{})}
}

// TestVerifyNamesTampering changes the stored bytes behind the store's back
// (the local directory) and checks that verify names each change.
func TestVerifyNamesTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string // key named in a problem
		what   string
	}{
		{"OneByteOfAnArtifact", func(t *testing.T, dir string) { flipByte(t, filepath.Join(dir, "cases/IR-1/c0/a.json"), 3) }, "cases/IR-1/c0/a.json", "sha256"},
		{"ManifestEntry", func(t *testing.T, dir string) {
			replaceIn(t, firstManifest(t, dir), `"size": 16`, `"size": 15`)
		}, "manifest.json", "signature"},
		{"CustodyLine", func(t *testing.T, dir string) { replaceIn(t, firstCustody(t, dir), `"result":"ok"`, `"result":"no"`) }, "custody.jsonl", "altered"},
		{"ExtraObject", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "cases/IR-1/c0/planted"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "cases/IR-1/c0/planted", "no manifest"},
		{"MissingArtifact", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "cases/IR-1/c1/b.json")) }, "cases/IR-1/c1/b.json", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := evidence.NewFileStore(dir)
			sg := signer(t)
			writeCase(t, s, sg)
			tt.tamper(t, dir)
			rep, err := evidence.Verify(context.Background(), s, "IR-1", sg.Pub)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range rep.Problems {
				if strings.HasSuffix(p.Key, tt.want) && strings.Contains(p.What, tt.what) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %+v do not name %s (%s)", rep.Problems, tt.want, tt.what)
			}
		})
	}
}

func flipByte(t *testing.T, p string, i int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[i] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q:\n%s", p, old, b)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func firstRunDir(t *testing.T, dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "cases/IR-1/runs/*"))
	if len(m) == 0 {
		t.Fatal("no runs")
	}
	return m[0]
}

func firstManifest(t *testing.T, dir string) string {
	return filepath.Join(firstRunDir(t, dir), "manifest.json")
}
func firstCustody(t *testing.T, dir string) string {
	return filepath.Join(firstRunDir(t, dir), "custody.jsonl")
}

// TestVerifyCaseWithInvalidUTF8InCustody: custody text that is not valid
// UTF-8 (a file name from inside a container in an error) made an untouched
// case fail verify as altered; a suspect could make its own evidence look
// tampered.
func TestVerifyCaseWithInvalidUTF8InCustody(t *testing.T) {
	store, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg := signer(t)
	ctx := context.Background()
	r, err := evidence.OpenRun(ctx, store, sg, evidence.CaseInfo{ID: "IR-U", Actor: "tester\xff", Tool: "firebreak test"})
	if err != nil {
		t.Fatal(err)
	}
	r.Log("collect", "c\x9b", "failed: open /srv/\xfe\xfd: permission denied")
	r.Incomplete("fsdiff: \x80 unreadable")
	if _, err := r.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.Verify(ctx, store, "IR-U", sg.Pub)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("an untouched case with invalid UTF-8 in its custody log does not verify: %+v", rep.Problems)
	}
}

// TestFileStoreLinks: a store given as a link is its target (it listed as
// empty); a link planted inside the store is never followed by Get (it
// printed the host's file).
func TestFileStoreLinks(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "store")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	st, err := evidence.NewFileStore(link)
	if err != nil {
		t.Fatal(err)
	}
	writeCase(t, st, signer(t))
	ro, err := evidence.OpenFileStore(link)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := ro.List(context.Background(), "cases/")
	if err != nil || len(objs) == 0 {
		t.Fatalf("List through a store link = %d objects, %v", len(objs), err)
	}
	marker := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(marker, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(marker, filepath.Join(real, "cases", "IR-1", "planted")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(marker), filepath.Join(real, "cases", "IR-1", "dirlink")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"cases/IR-1/planted", "cases/IR-1/dirlink/host-secret", "cases/IR-1"} {
		rc, err := ro.Get(context.Background(), key)
		if err == nil {
			rc.Close()
			t.Errorf("Get(%s) opened something through a link or a directory", key)
		}
	}
}
