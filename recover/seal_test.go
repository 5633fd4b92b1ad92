package recover_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/evidence"
	"firebreak/recover"
	"firebreak/runtime/runtimetest"
)

// An encrypted repository: the backup verifies and restores with its key;
// nothing in the store holds a file's plain bytes, a file name or the
// container's ID; without the key, with another key, or with a key for a
// repository made without one, opening is refused; a changed byte in a
// pack is named by verify; prune works on it.
func TestEncryptedBackups(t *testing.T) {
	runtimetest.RequireRoot(t)
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	name := runtimetest.Name(t)
	dir := volume(t, h, name+"-data")
	marker := "FIREBREAK-PLAIN-MARKER-7f3a"
	if err := os.WriteFile(filepath.Join(dir, "secret-name-9c1d.txt"), []byte(strings.Repeat(marker+"\n", 2000)), 0o600); err != nil {
		t.Fatal(err)
	}
	fill(t, dir, 50)
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}})
	storeDir := t.TempDir()
	st, err := evidence.NewFileStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	if err := recover.WriteKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := recover.WriteKeyFile(keyFile); err == nil {
		t.Error("keygen overwrote an existing key file")
	}
	key, err := recover.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := recover.OpenRepoWith(ctx, st, sg, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := repo.Backup(ctx, h.Runtime(), d.Container, recover.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Commit(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Nothing plain in the store but config.json.
	err = filepath.Walk(storeDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, plain := range []string{marker, "secret-name-9c1d", d.ID[:12], `"chunks"`} {
			if bytes.Contains(b, []byte(plain)) {
				t.Errorf("%s holds %q in the clear", strings.TrimPrefix(p, storeDir), plain)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh repository with the key reads it all back.
	again, err := recover.OpenRepoWith(ctx, st, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := again.Verify(ctx, s.ID, sg.Pub); err != nil {
		t.Fatalf("verify: %v", err)
	}
	loaded, _, err := again.Load(ctx, s.ID, sg.Pub)
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
	if b, err := os.ReadFile(filepath.Join(out, "secret-name-9c1d.txt")); err != nil || !strings.HasPrefix(string(b), marker) {
		t.Errorf("restored file: %v %.40q", err, b)
	}
	// Without the key, another key, or a key for an unencrypted repository.
	if _, err := recover.OpenRepoWith(ctx, st, nil, nil); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("open without the key: %v", err)
	}
	other := bytes.Repeat([]byte{7}, recover.KeySize)
	if _, err := recover.OpenRepoWith(ctx, st, nil, other); err == nil || !strings.Contains(err.Error(), recover.KeyID(key)) {
		t.Errorf("open with another key: %v", err)
	}
	plainStore, _ := evidence.NewFileStore(t.TempDir())
	if _, err := recover.OpenRepoWith(ctx, plainStore, sg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := recover.OpenRepoWith(ctx, plainStore, sg, key); err == nil || !strings.Contains(err.Error(), "not encrypted") {
		t.Errorf("a key for a repository made without one: %v", err)
	}
	// Prune reads the encrypted lists and index.
	withKey, _ := recover.OpenRepoWith(ctx, st, sg, key)
	if ps, err := withKey.Prune(ctx, true); err != nil || ps.Snapshots != 1 || ps.PacksRemoved != 0 {
		t.Errorf("prune --dry-run on the encrypted repository: %+v, %v", ps, err)
	}
	// A changed byte in any pack (of the files or of the file list) is
	// named: the sealed chunk it falls in does not open.
	packs, _ := filepath.Glob(filepath.Join(storeDir, "packs", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	for _, p := range packs {
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fresh, _ := recover.OpenRepoWith(ctx, st, nil, key)
	if _, _, err := fresh.Verify(ctx, s.ID, sg.Pub); err == nil || !strings.Contains(err.Error(), "does not open under the backup key") {
		t.Errorf("verify after a changed byte: %v", err)
	}
}
