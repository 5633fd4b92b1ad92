package collect_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"firebreak/collect"
	"firebreak/evidence/storetest"
	"firebreak/runtime/runtimetest"
)

// interopScript makes every kind of change a layer must carry: files added,
// changed, deleted and renamed; an image directory deleted and made again
// (opaque); setuid and sticky modes; owners; absolute and relative
// symlinks; a hard link; names with a space, a newline and a byte that is
// not UTF-8. /bin goes, so the script runs its own copy of busybox.
const interopScript = `set -e
mkdir -p /tmp/t && cp /bin/busybox /tmp/t/busybox
B=/tmp/t/busybox
mkdir -p /srv/app/lib && echo hello > /srv/app/lib/new.txt
echo "extra:x:1000:1000::/home/extra:/bin/sh" >> /etc/passwd
rm /etc/group
$B rm -rf /bin && $B mkdir -p /bin/lib && $B cp $B /bin/busybox && $B ln -s busybox /bin/sh
$B mv /srv/app/lib/new.txt /srv/app/lib/renamed.txt
$B mkdir /srv/sticky && $B chmod 1777 /srv/sticky
$B cp $B /srv/suid && $B chmod 4755 /srv/suid
$B touch /srv/owned && $B chown 1234:5678 /srv/owned && $B ln /srv/owned /srv/hard
$B ln -s /etc/passwd /srv/abs-link && $B ln -s ../etc/hostname /srv/rel-link
$B touch "/srv/with space" "/srv/$($B printf 'new\nline')" "/srv/$($B printf 'bad\377name')"
$B touch /tmp/interop-done
exec $B sleep 3600`

// entryInfo is what the comparison holds of one path.
type entryInfo struct {
	Type, Mode, Link, SHA256, Cap string
	UID, GID                      int
	Size                          int64
}

// treeInfo reads a directory tree path by path (no link followed).
func treeInfo(t *testing.T, root string) map[string]entryInfo {
	t.Helper()
	out := map[string]entryInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entryInfo{Mode: fmt.Sprintf("%o", st.Mode&07777), UID: int(st.Uid), GID: int(st.Gid)}
		switch m := fi.Mode(); {
		case m.IsDir():
			e.Type = "dir"
		case m&fs.ModeSymlink != 0:
			e.Type = "symlink"
			e.Link, _ = os.Readlink(p)
		case m.IsRegular():
			e.Type, e.Size = "file", fi.Size()
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			e.SHA256 = hex.EncodeToString(sum[:])
			buf := make([]byte, 256)
			if n, err := unix.Lgetxattr(p, "security.capability", buf); err == nil {
				e.Cap = hex.EncodeToString(buf[:n])
			}
		default:
			e.Type = fi.Mode().Type().String()
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exportTree is `docker export` of a container, extracted.
func exportTree(t *testing.T, h *runtimetest.DockerHarness, id string) string {
	t.Helper()
	rc, err := h.Docker().API().ContainerExport(runtimetest.Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dir := t.TempDir()
	if _, err := archive.Apply(context.Background(), dir, rc); err != nil {
		t.Fatalf("extracting the export of %s: %v", id, err)
	}
	return dir
}

// TestLayerAppliesToTheContainer: the captured layer, applied onto the
// image's root filesystem by containerd's archive.Apply, is path by path
// what `docker export` gives of the container (type, mode, owner, size,
// sha256, link target, file capabilities): deletions, the opaque
// directory and odd names included; changes.json is `docker diff`; user
// xattrs set from the host are in the layer and in changes.json.
func TestLayerAppliesToTheContainer(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", interopScript}})
	layer := waitForFile(t, h, d.ID, "tmp/interop-done")
	// From the host: a file capability and a user attribute.
	capv2 := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // v2, effective, CAP_NET_RAW
	if err := unix.Lsetxattr(filepath.Join(layer.Upper, "srv/suid"), "security.capability", capv2, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(layer.Upper, "srv/owned"), "user.firebreak", []byte("note"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Runtime().Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	store := fileStore(t)
	run, _ := newRun(t, store, "INTEROP-1")
	o := collect.DefaultOptions()
	o.What = []collect.Collector{collect.WhatFSDiff}
	res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, o)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if _, err := run.Finish(ctx); err != nil {
		t.Fatal(err)
	}

	// The image's root filesystem: a fresh container of it, exported.
	fresh := h.Create(t, runtimetest.Name(t)+"-fresh", runtimetest.Spec{})
	applied := exportTree(t, h, fresh.ID)
	zr, err := zstd.NewReader(bytes.NewReader(storetest.Read(t, store, res.Prefix+"fsdiff/layer.tar.zst")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Apply(ctx, applied, zr.IOReadCloser()); err != nil {
		t.Fatalf("archive.Apply of the captured layer: %v", err)
	}
	checkWithBsdtar(t, storetest.Read(t, store, res.Prefix+"fsdiff/layer.tar.zst"))
	want := treeInfo(t, exportTree(t, h, d.ID))
	checkWithUmoci(t, h, fresh.ID, storetest.Read(t, store, res.Prefix+"fsdiff/layer.tar.zst"), want)
	got := treeInfo(t, applied)
	sameTrees(t, "archive.Apply", got, want)
	for _, p := range []string{"bin/vi", "etc/group", "srv/app/lib/new.txt"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s came back when the layer was applied", p)
		}
	}
	if got["srv/suid"].Cap == "" {
		t.Error("the file capability did not reach the applied tree")
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(applied, "srv/owned"), "user.firebreak", buf); err != nil || string(buf[:n]) != "note" {
		t.Errorf("user.firebreak after apply = %q, %v", buf[:max(n, 0)], err)
	}

	// changes.json is the engine's diff, and keeps the attributes.
	var changes []collect.FileChange
	getJSON(t, store, res.Prefix+"fsdiff/changes.json", &changes)
	byPath := map[string]collect.FileChange{}
	kinds := map[string]string{}
	for _, c := range changes {
		byPath[c.Path] = c
		kinds[c.Path] = c.Kind
	}
	engine := expectedChanges(t, ctx, h, d.ID)
	if !mapsEqual(kinds, engine) {
		t.Errorf("changes.json differs from the engine's diff:\n got  %v\n want %v", sortedKeys(kinds), sortedKeys(engine))
		for p, k := range engine {
			if kinds[p] != k {
				t.Errorf("  %q: changes.json %q, engine %q", p, kinds[p], k)
			}
		}
	}
	if c := byPath["/bin"]; !c.Opaque || c.Kind != "C" {
		t.Errorf("/bin recorded as %+v, want changed and opaque", c)
	}
	if c := byPath["/bin/vi"]; c.Kind != "D" {
		t.Errorf("/bin/vi (hidden by the opaque /bin) recorded as %+v", c)
	}
	// /srv/hard sorts first: it carries the shared inode's content and
	// attributes, /srv/owned is the link to it.
	if v := byPath["/srv/hard"].Xattrs["user.firebreak"]; v != base64.StdEncoding.EncodeToString([]byte("note")) || byPath["/srv/owned"].Type != "hardlink" {
		t.Errorf("changes.json of the linked pair: %+v / %+v", byPath["/srv/hard"], byPath["/srv/owned"])
	}
	if c := byPath["/srv/owned"]; c.CTime.IsZero() || c.ATime.IsZero() || c.MTime.IsZero() {
		t.Errorf("/srv/owned lacks times: %+v", c)
	}
	var odd collect.FileChange
	for _, c := range changes {
		if strings.HasPrefix(c.Path, "/srv/bad") {
			odd = c
		}
	}
	if raw, _ := base64.StdEncoding.DecodeString(odd.PathB64); string(raw) != "/srv/bad\377name" {
		t.Errorf("the non-UTF-8 name keeps no bytes: %+v", odd)
	}
	// The layer's own entries: the opaque marker, whiteouts before their
	// siblings, hdrcharset on the binary name.
	checkLayerOrder(t, storetest.Read(t, store, res.Prefix+"fsdiff/layer.tar.zst"))
	// The timeline speaks Plaso's words.
	tl := string(storetest.Read(t, store, res.Prefix+"timeline.jsonl"))
	for _, w := range []string{`"Metadata Modification Time"`, `"Content Modification Time"`, `"fs:stat"`} {
		if !strings.Contains(tl, w) {
			t.Errorf("timeline lacks %s", w)
		}
	}
}

// sameTrees fails for each path where got (the tree a reader made of the
// layer, by) differs from want (the export of the container).
func sameTrees(t *testing.T, by string, got, want map[string]entryInfo) {
	t.Helper()
	var diffs []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: missing after %s (export: %+v)", p, by, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%q: %s %+v, export %+v", p, by, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: after %s but not in the export (%+v)", p, by, g))
		}
	}
	sort.Strings(diffs)
	for _, s := range diffs {
		t.Error(s)
	}
}

// checkLayerOrder reads the layer's tar in order: the opaque marker right
// inside /bin, each whiteout before its siblings, and hdrcharset=BINARY on
// the entry whose name is not UTF-8.
func checkLayerOrder(t *testing.T, zst []byte) {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(zst))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	seenOther := map[string]string{} // directory -> first non-whiteout entry in it
	opq, binary := false, false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		dir, base := path.Split(name)
		switch {
		case base == ".wh..wh..opq":
			opq = opq || dir == "bin/"
		case strings.HasPrefix(base, ".wh."):
			if other, ok := seenOther[dir]; ok {
				t.Errorf("whiteout %s comes after its sibling %s", name, other)
			}
		default:
			if _, ok := seenOther[dir]; !ok {
				seenOther[dir] = name
			}
		}
		if strings.Contains(name, "bad\377name") {
			binary = hdr.PAXRecords["hdrcharset"] == "BINARY"
		}
	}
	if !opq {
		t.Error("no .wh..wh..opq in bin/")
	}
	if !binary {
		t.Error("the non-UTF-8 name has no hdrcharset=BINARY")
	}
}

// checkWithBsdtar has libarchive's bsdtar list and extract the layer: every
// entry Go's reader sees, by the same name bytes (a non-UTF-8 name
// included, which bsdtar refuses without the PAX hdrcharset=BINARY record).
func checkWithBsdtar(t *testing.T, zst []byte) {
	t.Helper()
	bsdtar, err := exec.LookPath("bsdtar")
	if err != nil {
		runtimetest.SkipOrFail(t, "bsdtar (Debian's libarchive-tools; scripts/testenv.sh up installs it): %v", err)
	}
	zr, err := zstd.NewReader(bytes.NewReader(zst))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "layer.tar")
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(plain))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
	out, err := exec.Command(bsdtar, "-tf", path).Output()
	if err != nil {
		t.Fatalf("bsdtar -tf the layer: %v\n%s", err, out)
	}
	// bsdtar escapes what it cannot print (the newline and the 0xff of the
	// odd names): one line per entry.
	if listed := strings.Count(string(out), "\n"); listed != len(names) {
		t.Errorf("bsdtar lists %d entries, Go's reader %d:\n%s", listed, len(names), out)
	}
	into := filepath.Join(dir, "x")
	if err := os.Mkdir(into, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bsdtar, "-xpf", path, "-C", into).CombinedOutput(); err != nil {
		t.Errorf("bsdtar -xpf the layer: %v\n%s", err, out)
	}
	for _, name := range []string{"srv/bad\377name", "srv/new\nline", "srv/with space"} {
		if _, err := os.Lstat(filepath.Join(into, name)); err != nil {
			t.Errorf("bsdtar did not extract %q with its own bytes: %v", name, err)
		}
	}
}
