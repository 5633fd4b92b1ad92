package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/runtime"
)

// testCollection is a collection into a file store, of a "container" whose
// init is pid (a process of this host).
func testCollection(t *testing.T, pid int) (*collection, *evidence.FileStore) {
	t.Helper()
	store, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := evidence.OpenRun(ctx, store, sg, evidence.CaseInfo{ID: "HELD-1", Actor: "test", Tool: "firebreak test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Finish(ctx) })
	c := &collection{ctx: ctx, run: run, opts: DefaultOptions(), timeln: newTimeline(),
		d:   runtime.Details{Container: runtime.Container{ID: "0123456789ab0123456789ab", State: runtime.StatePaused}, Pid: pid},
		res: &Result{Prefix: evidence.CasePrefix("HELD-1") + "0123456789ab0123456789ab/t/"}}
	t.Cleanup(c.timeln.Close)
	return c, store
}

// deletedFile makes a file with content, opens it with flags, and removes
// its name; the descriptor is closed at the end of the test.
func deletedFile(t *testing.T, content []byte, flags int) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "held")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fdOf(t *testing.T, ofs []OpenFile, f *os.File) OpenFile {
	t.Helper()
	i := slices.IndexFunc(ofs, func(o OpenFile) bool { return o.FD == int(f.Fd()) })
	if i < 0 {
		t.Fatalf("fd %d not listed in %+v", f.Fd(), ofs)
	}
	return ofs[i]
}

func TestReadOpenFilesOfThisProcess(t *testing.T) {
	f := deletedFile(t, []byte("held content\n"), os.O_RDWR|os.O_APPEND)
	if _, err := f.Seek(5, 0); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	ofs, err := readOpenFiles("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(ofs, func(a, b OpenFile) int { return a.FD - b.FD }) {
		t.Error("descriptors not in FD order")
	}
	of := fdOf(t, ofs, f)
	if of.Type != "file" || !of.Deleted || of.Memfd || of.Size != 13 || of.Pos != 5 || of.Inode == 0 || of.Dev == "" ||
		!strings.HasSuffix(of.Path, " (deleted)") || !slices.Contains(of.FlagNames, "O_RDWR") || !slices.Contains(of.FlagNames, "O_APPEND") {
		t.Errorf("deleted file listed as %+v", of)
	}
	if of := fdOf(t, ofs, r); of.Type != "pipe" || of.Deleted || !slices.Contains(of.FlagNames, "O_RDONLY") {
		t.Errorf("pipe listed as %+v", of)
	}
	if of := fdOf(t, ofs, dir); of.Type != "dir" || of.Deleted {
		t.Errorf("directory listed as %+v", of)
	}
	if _, err := readOpenFiles("/proc", 1<<30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// TestHeldStoresDeletedFiles: the content of a deleted-but-open file is
// stored once for two descriptors, with its digest; a file over the cap is
// stored up to it and recorded as truncated, and so is a file past the
// total; the environment is stored raw and shown escaped.
func TestHeldStoresDeletedFiles(t *testing.T) {
	small := []byte("the only copy\n")
	a := deletedFile(t, small, os.O_RDONLY)
	b, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(a.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB
	c1 := deletedFile(t, big, os.O_RDONLY)
	c2 := deletedFile(t, big[1:], os.O_RDONLY) // past the total
	c, store := testCollection(t, os.Getpid())
	c.opts.Held = Limits{MaxFile: 16 << 10, MaxTotal: 16<<10 + 100}
	self := &Process{PID: os.Getpid(), Comm: "test", UIDs: []int{0, 0, 0, 0}, GIDs: []int{0, 0, 0, 0},
		environ: []byte("SECRET=hunter2\x00ESC=\x1b[2J\x00"), Environ: []string{"SECRET=hunter2", `ESC=\x1b[2J`}}
	if err := c.held([]*Process{self}); err != nil {
		t.Fatal(err)
	}
	var files []ProcessFiles
	if err := json.Unmarshal(storetest.Read(t, store, c.res.Prefix+"openfiles.json"), &files); err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].PID != os.Getpid() {
		t.Fatalf("openfiles.json: %+v", files)
	}
	ofA, ofB, ofC, ofD := fdOf(t, files[0].Files, a), fdOf(t, files[0].Files, b), fdOf(t, files[0].Files, c1), fdOf(t, files[0].Files, c2)
	sum := sha256.Sum256(small)
	if ofA.Content == nil || ofA.Content.SHA256 != hex.EncodeToString(sum[:]) || ofA.Content.Captured != int64(len(small)) || ofA.Content.Truncated {
		t.Fatalf("deleted file stored as %+v", ofA.Content)
	}
	if got := storetest.Read(t, store, c.res.Prefix+ofA.Content.Key); !bytes.Equal(got, small) {
		t.Errorf("stored content %q", got)
	}
	if ofB.Content == nil || ofB.Content.Key != ofA.Content.Key || !strings.Contains(ofB.Content.Note, "the same file") {
		t.Errorf("the second descriptor of the same file: %+v", ofB.Content)
	}
	// In FD order: the small file, the first big one up to the per-file
	// cap, the second up to what the total leaves.
	for _, tc := range []struct {
		of   OpenFile
		want []byte
	}{{ofC, big[:16<<10]}, {ofD, big[1 : 1+100-len(small)]}} {
		h := tc.of.Content
		if h == nil || !h.Truncated || h.Captured != int64(len(tc.want)) || !strings.Contains(h.Note, "capped") {
			t.Errorf("fd %d (%d bytes) stored as %+v, want its first %d bytes", tc.of.FD, tc.of.Size, h, len(tc.want))
			continue
		}
		if got := storetest.Read(t, store, c.res.Prefix+h.Key); !bytes.Equal(got, tc.want) {
			t.Errorf("fd %d: stored %d bytes that are not the file's first", tc.of.FD, len(got))
		}
	}
	if !slices.ContainsFunc(c.res.Incomplete, func(s string) bool { return strings.Contains(s, "capped") }) {
		t.Errorf("the cap is not recorded as incomplete: %v", c.res.Incomplete)
	}
	if got := storetest.Read(t, store, c.res.Prefix+self.EnvironKey); string(got) != string(self.environ) {
		t.Errorf("environ stored as %q", got)
	}
	if sum := sha256.Sum256(self.environ); self.EnvironSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("environ digest %s", self.EnvironSHA256)
	}
	if len(self.UserNames) != 4 || self.UserNames[0] != "root" {
		t.Errorf("uid 0 named %v from this host's /etc/passwd", self.UserNames)
	}
}

// TestContainerNamesStayInTheRoot: a FIFO is never waited on, and links
// out of the container's root (absolute, or climbing out) are refused, so
// no host file is read for names.
func TestContainerNamesStayInTheRoot(t *testing.T) {
	hostFile := filepath.Join(t.TempDir(), "host-passwd")
	if err := os.WriteFile(hostFile, []byte("hostsecret:x:0:0::/:/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, setup := range map[string]func(root string) error{
		"FIFO":     func(root string) error { return syscall.Mkfifo(filepath.Join(root, "etc/passwd"), 0o644) },
		"Absolute": func(root string) error { return os.Symlink(hostFile, filepath.Join(root, "etc/passwd")) },
		"Climbing": func(root string) error {
			return os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(hostFile, "/"), filepath.Join(root, "etc/passwd"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := setup(root); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "etc/group"), []byte("wheel:x:10:\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var users, groups map[int]string
			var notes []string
			go func() {
				users, groups, notes = containerNames(root)
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("reading the container's /etc/passwd hangs")
			}
			if users != nil || len(notes) != 1 || !strings.Contains(notes[0], "/etc/passwd") {
				t.Errorf("users %v, notes %v: want none and the passwd file named", users, notes)
			}
			if groups[10] != "wheel" {
				t.Errorf("groups %v", groups)
			}
		})
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd.real"), []byte("app:x:1000:1000::/:/bin/sh\n"), 0o644)
	os.Symlink("passwd.real", filepath.Join(root, "etc/passwd"))
	// No /etc/group: no names, and nothing to note.
	users, groups, notes := containerNames(root)
	if users[1000] != "app" || groups != nil || len(notes) != 0 {
		t.Errorf("a link inside the root: users %v, groups %v, notes %v", users, groups, notes)
	}
}
