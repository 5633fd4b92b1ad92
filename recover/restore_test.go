package recover

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"firebreak/evidence"
)

func testRepo(t *testing.T) *Repo {
	t.Helper()
	st, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenRepo(context.Background(), st, sg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// file makes a file entry whose chunk is stored.
func file(t *testing.T, r *Repo, p, content string) Entry {
	t.Helper()
	key := storeChunk(t, r, []byte(content))
	return Entry{Path: p, Type: "file", Mode: 0o644, Size: int64(len(content)), SHA256: key, Chunks: []string{key}, MTime: time.Unix(1e9, 0)}
}

// storeChunk stores data as one chunk, in a pack of its own, and indexes it.
func storeChunk(t *testing.T, r *Repo, data []byte) string {
	t.Helper()
	ctx := context.Background()
	if err := r.loadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	w := r.newPackWriter(ctx)
	p := w.packer()
	sum := sha256.Sum256(data)
	if r.idx.claim(sum) {
		if _, err := p.add(sum, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.writeIndex(ctx); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sum[:])
}

func dir(p string) Entry { return Entry{Path: p, Type: "dir", Mode: 0o755, MTime: time.Unix(1e9, 0)} }
func link(p, to string) Entry {
	return Entry{Path: p, Type: "symlink", Link: to, MTime: time.Unix(1e9, 0)}
}

// listing is every path under dir, with its type, for before/after checks.
func listing(t *testing.T, d string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
		if err == nil {
			b.WriteString(p + " " + de.Type().String() + "\n")
		}
		return nil
	})
	return b.String()
}

// TestRestoreRefusesHostileArchives: each hostile manifest is refused (or
// confined), nothing is created outside the target, and a refused restore
// leaves the target empty.
func TestRestoreRefusesHostileArchives(t *testing.T) {
	r := testRepo(t)
	outside := t.TempDir()
	marker := filepath.Join(outside, "host-file")
	if err := os.WriteFile(marker, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := listing(t, outside)
	good := file(t, r, "ok", "fine")
	bad := file(t, r, "bad", "real content")
	bad.SHA256 = strings.Repeat("0", 64) // chunks that do not make the listed content
	many := make([]Entry, 0, 1_000_001)
	for i := 0; i < 1_000_001; i++ {
		many = append(many, Entry{Path: "f" + string(rune('a'+i%26)) + hex.EncodeToString([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), Type: "fifo"})
	}
	huge := file(t, r, "huge", "x")
	huge.Size = 1 << 50
	// The same stored chunk listed many times: a small store that would
	// fill the disk.
	repeated := file(t, r, "rep", strings.Repeat("r", 1000))
	repeated.Size = 1
	repeated.Chunks = []string{repeated.Chunks[0], repeated.Chunks[0], repeated.Chunks[0]}
	overlong := file(t, r, "over", strings.Repeat("o", 1000))
	overlong.Size = 10 // one chunk of 1000 bytes for a 10-byte file
	cases := map[string][]Entry{
		"absolute path":              {file(t, r, "/etc/evil", "x")},
		"dot-dot":                    {file(t, r, "../evil", "x")},
		"dot-dot inside":             {dir("a"), file(t, r, "a/../../evil", "x")},
		"dot part":                   {file(t, r, "./evil", "x")},
		"listed twice":               {good, good},
		"parent not listed":          {file(t, r, "nodir/x", "x")},
		"write through a symlink":    {link("l", outside), file(t, r, "l/evil", "x")},
		"chain of two links":         {link("a", "b"), link("b", outside), file(t, r, "a/evil", "x")},
		"hardlink outside":           {Entry{Path: "h", Type: "hardlink", Link: "../" + filepath.Base(outside) + "/host-file"}},
		"hardlink to absolute":       {Entry{Path: "h", Type: "hardlink", Link: marker}},
		"hardlink to a symlink":      {link("s", marker), Entry{Path: "h", Type: "hardlink", Link: "s"}},
		"hardlink before its file":   {Entry{Path: "h", Type: "hardlink", Link: "ok"}, good},
		"a million tiny entries":     many,
		"huge size":                  {huge},
		"chunks beyond its size":     {repeated},
		"a chunk longer than it":     {overlong},
		"chunk that is no digest":    {{Path: "c", Type: "file", Size: 1, SHA256: strings.Repeat("a", 64), Chunks: []string{"../../../etc/passwd"}}},
		"mode beyond permissions":    {{Path: "m", Type: "fifo", Mode: 0o170000}},
		"unknown type":               {{Path: "u", Type: "whiteout"}},
		"content not the listed one": {good, bad},
		"NUL in a name":              {file(t, r, "a\x00b", "x")},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			s := &Snapshot{ID: "20261128T000000Z-000000", Volumes: []Volume{{Name: "v", Files: files}}}
			lim := DefaultRestoreLimits()
			lim.MaxEntries = 1_000_000
			lim.MaxBytes = 1 << 30
			err := r.RestoreVolume(context.Background(), s, "v", dst, lim)
			if err == nil {
				t.Fatal("restored")
			}
			if ents, _ := os.ReadDir(dst); len(ents) != 0 {
				t.Errorf("a refused restore left %d entries in the target", len(ents))
			}
			if after := listing(t, outside); after != before {
				t.Errorf("something changed outside the target:\n%s", after)
			}
			if b, _ := os.ReadFile(marker); string(b) != "host" {
				t.Error("the host file was changed")
			}
		})
	}
}

// TestRestoreConfinesLinks: a symlink pointing outside is restored as a
// link (data of the volume), and nothing is written through it.
func TestRestoreConfinesLinks(t *testing.T) {
	r := testRepo(t)
	outside := t.TempDir()
	dst := t.TempDir()
	s := &Snapshot{ID: "20261128T000000Z-000001", Volumes: []Volume{{Name: "v", Files: []Entry{link("out", outside), file(t, r, "in", "data"), dir("d"), link("d/in", "../in")}}}}
	if err := r.RestoreVolume(context.Background(), s, "v", dst, DefaultRestoreLimits()); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "out")); err != nil || l != outside {
		t.Errorf("link restored as %q, %v", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "in")); err != nil || !bytes.Equal(b, []byte("data")) {
		t.Errorf("file restored as %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Error("something was written through the link")
	}
	for _, l := range []string{"out", "d/in"} {
		if li, err := os.Lstat(filepath.Join(dst, l)); err != nil || !li.ModTime().Equal(time.Unix(1e9, 0)) {
			t.Errorf("the link %s's own time is %v (%v), want its listed %v", l, li.ModTime(), err, time.Unix(1e9, 0))
		}
	}
	if oi, err := os.Stat(outside); err != nil || oi.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Errorf("the time was set through the link on its target outside: %v", err)
	}
	var re *RestoreError
	if err := r.RestoreVolume(context.Background(), s, "v", dst, DefaultRestoreLimits()); err == nil || errors.As(err, &re) {
		// a target that is not empty is refused before anything is checked
		if err == nil {
			t.Error("restore into a non-empty target succeeded")
		}
	}
}

// TestRestoreSkipsDevicesUnlessAsked: a volume holding a device node (and
// a socket) restores whole but for them, each named by Skipped; asked
// for, the device is made with its number.
func TestRestoreSkipsDevicesUnlessAsked(t *testing.T) {
	r := testRepo(t)
	files := []Entry{dir("d"), file(t, r, "d/ok", "fine"),
		{Path: "d/null", Type: "char", Mode: 0o666, Rdev: unix.Mkdev(1, 3), MTime: time.Unix(1e9, 0)},
		{Path: "sda", Type: "block", Mode: 0o600, Rdev: unix.Mkdev(8, 0), MTime: time.Unix(1e9, 0)},
		{Path: "sock", Type: "socket", Mode: 0o755, MTime: time.Unix(1e9, 0)}}
	s := &Snapshot{ID: "20261128T000000Z-000002", Volumes: []Volume{{Name: "v", Files: files}}}
	lim := DefaultRestoreLimits()
	dst := t.TempDir()
	if err := r.RestoreVolume(context.Background(), s, "v", dst, lim); err != nil {
		t.Fatalf("restore of a volume with a device node: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "d/ok")); err != nil || string(b) != "fine" {
		t.Errorf("d/ok restored as %q, %v", b, err)
	}
	for _, p := range []string{"d/null", "sda", "sock"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want left out", p, err)
		}
	}
	want := "d/null (char device 1:3), sda (block device 8:0), sock (socket)"
	if got := strings.Join(Skipped(files, lim), ", "); got != want {
		t.Errorf("Skipped = %q, want %q", got, want)
	}
	lim.Devices = true
	dst = t.TempDir()
	if err := r.RestoreVolume(context.Background(), s, "v", dst, lim); err != nil {
		t.Fatalf("restore asked for devices: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(dst, "d/null"), &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("d/null asked for: mode %o rdev %x, %v; want the char device 1:3", st.Mode, st.Rdev, err)
	}
	if got := strings.Join(Skipped(files, lim), ", "); got != "sock (socket)" {
		t.Errorf("Skipped asked for devices = %q", got)
	}
}

// TestNewVolumeNameDoesNotGrow: the volume of a recover of a recovered
// container is named after the original volume, not after the restored
// one, and a name this plan gives already is passed over.
func TestNewVolumeNameDoesNotGrow(t *testing.T) {
	ctx := context.Background()
	got, err := newVolumeName(ctx, nil, "data.restored-1e6a2d-IR-1", "5610f1", "IR-2", map[string]bool{})
	if err != nil || got != "data.restored-5610f1-IR-2" {
		t.Errorf("newVolumeName of a restored volume = %q, %v", got, err)
	}
	got, err = newVolumeName(ctx, nil, "data", "5610f1", "IR-2", map[string]bool{"data.restored-5610f1-IR-2": true})
	if err != nil || got != "data.restored-5610f1-IR-2-2" {
		t.Errorf("newVolumeName beside one this plan gives = %q, %v", got, err)
	}
}

// TestRestoreKeepsHoles: a file whose chunks are zeros (a sparse file, read
// as zeros at backup) comes back with the same content and size but with
// its zero chunks left as holes, not written out on the host's disk.
func TestRestoreKeepsHoles(t *testing.T) {
	r := testRepo(t)
	const mib = 1 << 20
	zeros := make([]byte, 4*mib)
	data := []byte("the end of a sparse file")
	zkey, dkey := storeChunk(t, r, zeros), storeChunk(t, r, data)
	whole := sha256.New()
	for range 8 {
		whole.Write(zeros)
	}
	whole.Write(data)
	size := int64(8*len(zeros) + len(data))
	e := Entry{Path: "sparse", Type: "file", Mode: 0o644, Size: size, SHA256: hex.EncodeToString(whole.Sum(nil)),
		Chunks: []string{zkey, zkey, zkey, zkey, zkey, zkey, zkey, zkey, dkey}, MTime: time.Unix(1e9, 0)}
	tail := Entry{Path: "zeros-at-end", Type: "file", Mode: 0o644, Size: int64(len(zeros)), SHA256: zkey, Chunks: []string{zkey}, MTime: time.Unix(1e9, 0)}
	s := &Snapshot{ID: "20261128T000000Z-000003", Volumes: []Volume{{Name: "v", Files: []Entry{e, tail}}}}
	dst := t.TempDir()
	if err := r.RestoreVolume(context.Background(), s, "v", dst, DefaultRestoreLimits()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e    Entry
		last []byte
	}{{e, data}, {tail, zeros[:len(data)]}} {
		p := filepath.Join(dst, c.e.Path)
		b, err := os.ReadFile(p)
		if err != nil || int64(len(b)) != c.e.Size || !bytes.Equal(b[len(b)-len(c.last):], c.last) {
			t.Fatalf("%s restored as %d bytes (%v), want %d", c.e.Path, len(b), err, c.e.Size)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if used := st.Blocks * 512; used > 1*mib {
			t.Errorf("%s takes %d bytes on disk for %d of content, most of it zeros: its holes were written out", c.e.Path, used, c.e.Size)
		}
	}
}

// TestLockIsRenewed: a held lock is written again with a fresh time (one
// object at a time), so a backup longer than lockTTL still holds the
// repository; unlocked, none is left.
func TestLockIsRenewed(t *testing.T) {
	r := testRepo(t)
	defer func(d time.Duration) { lockRenew = d }(lockRenew)
	lockRenew = 30 * time.Millisecond
	ctx := context.Background()
	unlock, err := r.lock(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.store.List(ctx, locksPrefix)
	if err != nil || len(first) != 1 {
		t.Fatalf("locks after taking one: %v, %v", first, err)
	}
	time.Sleep(200 * time.Millisecond)
	now, err := r.store.List(ctx, locksPrefix)
	if err != nil || len(now) != 1 || now[0].Key == first[0].Key {
		t.Fatalf("locks after a few renewals: %v (first %s), %v; want one, renewed", now, first[0].Key, err)
	}
	raw, err := readAll(ctx, r.store, now[0].Key, 4096)
	var l repoLock
	if err != nil || json.Unmarshal(raw, &l) != nil || time.Since(l.Time) > 150*time.Millisecond {
		t.Errorf("the renewed lock says %+v (%v): not fresh", l, err)
	}
	unlock()
	unlock() // twice is once
	if left, _ := r.store.List(ctx, locksPrefix); len(left) != 0 {
		t.Errorf("locks left after unlock: %v", left)
	}
}
