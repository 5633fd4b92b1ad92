package recover_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	dvolume "github.com/docker/docker/api/types/volume"
	"golang.org/x/sys/unix"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/recover"
	"firebreak/runtime/runtimetest"
)

// volume makes a named Docker volume removed when the test ends, and
// returns its directory on the host.
func volume(t *testing.T, h *runtimetest.DockerHarness, name string) string {
	t.Helper()
	ctx := runtimetest.Context(t)
	api := h.Docker().API()
	v, err := api.VolumeCreate(ctx, dvolume.CreateOptions{Name: name, Labels: map[string]string{runtimetest.Label: t.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.VolumeRemove(context.Background(), name, true) })
	return v.Mountpoint
}

// fill writes a tree with what a backup must keep: many files, large and
// empty ones, symlinks (one pointing outside), hard links, modes with
// setuid and sticky bits, owners, xattrs, empty directories, names with
// spaces, newlines and bytes that are not UTF-8.
func fill(t *testing.T, dir string, n int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%02d", i%20))
		must(os.MkdirAll(d, 0o755))
		must(os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), []byte(strings.Repeat(fmt.Sprint(i), i%97)), 0o644))
	}
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	must(os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600))
	must(os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	must(os.Mkdir(filepath.Join(dir, "empty dir"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "name with spaces"), []byte("s"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "new\nline"), []byte("n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "bad-\xff\xfe-utf8"), []byte("b"), 0o644))
	must(os.Symlink("d00/f00000", filepath.Join(dir, "rel-link")))
	must(os.Symlink("/etc/hostname", filepath.Join(dir, "abs-link")))
	must(os.Link(filepath.Join(dir, "big.bin"), filepath.Join(dir, "big-hardlink")))
	must(os.WriteFile(filepath.Join(dir, "setuid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(filepath.Join(dir, "setuid"), 0o4755))
	must(os.Mkdir(filepath.Join(dir, "sticky"), 0o777))
	must(os.Chmod(filepath.Join(dir, "sticky"), 0o1777))
	must(os.Chown(filepath.Join(dir, "name with spaces"), 1234, 5678))
	must(unix.Setxattr(filepath.Join(dir, "empty"), "user.firebreak", []byte("kept"), 0))
}

// tree describes every path under dir: type, mode, owner, size, link
// target, content digest and user xattrs.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		d := fmt.Sprintf("%s %o %d:%d", fi.Mode().Type(), fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			d += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			d += fmt.Sprintf(" %d %s", len(b), hex.EncodeToString(sum[:8]))
			if v := make([]byte, 64); true {
				if n, err := unix.Lgetxattr(p, "user.firebreak", v); err == nil {
					d += " xattr=" + string(v[:n])
				}
			}
		}
		out[rel] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupRoundTripOnDocker: a container with two named volumes is backed
// up into MinIO; the snapshot verifies; a second backup of unchanged data
// stores no chunk; the restored volumes equal the originals path by path;
// one changed byte of a chunk, and one changed manifest entry, are named.
func TestBackupRoundTripOnDocker(t *testing.T) {
	runtimetest.RequireRoot(t)
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	name := runtimetest.Name(t)
	v1, v2 := volume(t, h, name+"-a"), volume(t, h, name+"-b")
	fill(t, v1, 3000)
	fill(t, v2, 200)
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-a:/data", name + "-b:/conf"}})

	st := storetest.MinIO(t, false, evidence.StoreOptions{})
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo, err := recover.OpenRepo(ctx, st, sg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := repo.Backup(ctx, h.Runtime(), d.Container, recover.BackupOptions{Pause: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Commit(ctx, s); err != nil {
		t.Fatal(err)
	}
	if len(s.Volumes) != 2 || s.Totals.NewChunks == 0 || s.Live {
		t.Fatalf("snapshot volumes %d, totals %+v, live %v", len(s.Volumes), s.Totals, s.Live)
	}
	if _, _, err := repo.Verify(ctx, s.ID, sg.Pub); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	again, err := repo.Backup(ctx, h.Runtime(), d.Container, recover.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Commit(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.Totals.Unchanged < 3000 {
		t.Errorf("the second backup read %d unchanged files again", again.Totals.Files-again.Totals.Unchanged)
	}
	if again.Totals.NewChunks != 0 || again.Totals.StoredBytes+again.Totals.ManifestSize > 1<<20 {
		t.Errorf("a second backup of unchanged data stored %d chunks, %d bytes and a %d-byte manifest", again.Totals.NewChunks, again.Totals.StoredBytes, again.Totals.ManifestSize)
	}
	loaded, _, err := repo.Load(ctx, s.ID, sg.Pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.LoadFiles(ctx, loaded); err != nil {
		t.Fatal(err)
	}
	for vol, src := range map[string]string{name + "-a": v1, name + "-b": v2} {
		dst := t.TempDir()
		if err := repo.RestoreVolume(ctx, loaded, vol, dst, recover.DefaultRestoreLimits()); err != nil {
			t.Fatalf("restore %s: %v", vol, err)
		}
		want, got := tree(t, src), tree(t, dst)
		var diffs []string
		for p, w := range want {
			if got[p] != w {
				diffs = append(diffs, fmt.Sprintf("%q: %s, want %s", p, got[p], w))
			}
		}
		for p := range got {
			if _, ok := want[p]; !ok {
				diffs = append(diffs, fmt.Sprintf("%q: restored, not in the volume", p))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("volume %s restored with %d differences, e.g. %v", vol, len(diffs), diffs[:min(5, len(diffs))])
		}
		if len(want) < 200 {
			t.Errorf("volume %s: only %d paths compared", vol, len(want))
		}
	}
	// One changed byte in a stored pack is named: the chunk it falls in.
	var some string
	for _, e := range loaded.Volumes[0].Files {
		if e.Type == "file" && len(e.Chunks) > 0 {
			some = e.Chunks[0]
			break
		}
	}
	pack, err := recover.PackOf(ctx, repo, some)
	if err != nil {
		t.Fatal(err)
	}
	hit := recover.ChunkAt(repo, pack, len(storetest.Read(t, st, pack))/2) // where Corrupt flips a bit
	if hit == "" {
		t.Fatalf("no chunk of %s covers its middle", pack)
	}
	storetest.Corrupt(t, st, pack)
	var ve *recover.VerifyError
	if _, _, err := repo.Verify(ctx, s.ID, sg.Pub); !errors.As(err, &ve) || !strings.Contains(err.Error(), hit[:12]) {
		t.Errorf("Verify after one changed byte = %v, want chunk %.12s named", err, hit)
	}
	// One changed byte of the manifest is named by its signature.
	storetest.Corrupt(t, st, "backups/"+again.ID+"/manifest.json")
	if _, _, err := repo.Load(ctx, again.ID, sg.Pub); !errors.As(err, &ve) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("Load after one changed manifest byte = %v, want the signature named", err)
	}
}

func volumeListOptions() dvolume.ListOptions { return dvolume.ListOptions{} }

// TestBackupOfABusyVolume: files made and removed all the time in a live
// volume (a service's temp files) do not fail its backups: each file gone
// or replaced between the listing and the reading is left out with a
// note, and every snapshot restores.
func TestBackupOfABusyVolume(t *testing.T) {
	h := runtimetest.Docker(t)
	name := runtimetest.Name(t)
	dir := volume(t, h, name+"-data")
	fill(t, dir, 200)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}, Cmd: []string{"sh", "-c",
		`i=0; while true; do echo $i > /data/tmp/f$((i%50)); rm -f /data/tmp/f$(((i+25)%50)); i=$((i+1)); done`}})
	repo, _, _ := testRepo(t)
	ctx := runtimetest.Context(t)
	changed := 0
	for i := 0; i < 8; i++ {
		s, err := repo.Backup(ctx, h.Runtime(), d.Container, recover.BackupOptions{})
		if err == nil {
			err = repo.Commit(ctx, s)
		}
		if err != nil {
			t.Fatalf("backup %d of a busy volume: %v", i, err)
		}
		for _, v := range s.Volumes {
			changed += v.Changed
			for _, n := range v.Notes {
				if !strings.HasPrefix(n, "tmp/f") || !strings.Contains(n, "changed while read") {
					t.Errorf("note %q, want one of the churned temp files", n)
				}
			}
		}
		if err := repo.RestoreVolume(ctx, s, "/data", t.TempDir(), recover.DefaultRestoreLimits()); err != nil {
			t.Fatalf("restore of backup %d: %v", i, err)
		}
	}
	t.Logf("%d entries left out as changed while read in 8 backups", changed)
}
