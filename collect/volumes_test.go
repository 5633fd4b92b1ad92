package collect_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/collect"
	"firebreak/runtime/runtimetest"
)

// TestCollectVolumes: --what volumes takes each named volume like the fs
// diff (every file with its digest, a link kept as a link, never followed
// out of the volume, the per-file cap recorded); bind mounts are not taken.
func TestCollectVolumes(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	name := runtimetest.Name(t)
	dir := h.Volume(t, name+"-data")
	secret := filepath.Join(t.TempDir(), "host-secret")
	for p, body := range map[string]string{"db/table": "rows of the table", "big": strings.Repeat("x", 4096), host(secret): "host only"} {
		if p == host(secret) {
			if err := os.WriteFile(secret, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(secret, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/var/lib/db", t.TempDir() + ":/hostdir"}})
	store := fileStore(t)
	run, _ := newRun(t, store, "VOL-1")
	o := collect.DefaultOptions()
	o.What = []collect.Collector{collect.WhatVolumes}
	o.Limits.MaxFile = 1024
	res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, o)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if _, err := run.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	var files []collect.FileChange
	getJSON(t, store, res.Prefix+"volumes/"+name+"-data/files.json", &files)
	by := map[string]collect.FileChange{}
	for _, f := range files {
		by[f.Path] = f
	}
	sum := sha256.Sum256([]byte("rows of the table"))
	if f := by["/db/table"]; f.Type != "file" || f.SHA256 != hex.EncodeToString(sum[:]) || f.Kind != "A" {
		t.Errorf("/db/table recorded as %+v", f)
	}
	if f := by["/escape"]; f.Type != "symlink" || f.Link != secret || f.SHA256 != "" {
		t.Errorf("/escape recorded as %+v (a link out of the volume must be kept as a link, not read)", f)
	}
	if f := by["/big"]; !f.Truncated || f.Captured != 1024 {
		t.Errorf("/big recorded as %+v, want capped at 1024", f)
	}
	if !strings.Contains(strings.Join(res.Incomplete, "\n"), "capped") {
		t.Errorf("the cap is not recorded as incomplete: %v", res.Incomplete)
	}
	entries := layerEntries(t, store, res.Prefix+"volumes/"+name+"-data/files.tar.zst")
	if string(entries["db/table"]) != "rows of the table" {
		t.Errorf("files.tar.zst db/table = %q", entries["db/table"])
	}
	for k := range entries {
		if strings.Contains(k, "hostdir") || strings.Contains(string(entries[k]), "host only") {
			t.Errorf("something outside the volume was taken: %s", k)
		}
	}
}

func host(p string) string { return "host:" + p }
