package collect

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"firebreak/internal/fsutil"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

// FileChange is one entry of changes.json: a path the container added,
// changed or deleted, as its writable layer holds it.
type FileChange struct {
	Path      string            `json:"path"`               // as seen inside the container, e.g. /etc/passwd
	PathB64   string            `json:"path_b64,omitempty"` // the raw bytes, when the name is not valid UTF-8
	Kind      string            `json:"kind"`               // "A" added, "C" changed, "D" deleted
	Type      string            `json:"type"`               // file, dir, symlink, hardlink, fifo, socket, char, block, whiteout
	Mode      string            `json:"mode,omitempty"`     // octal permission and special bits
	UID       int               `json:"uid"`
	GID       int               `json:"gid"`
	Size      int64             `json:"size"`
	MTime     time.Time         `json:"mtime,omitzero"` // content modification; a deletion: when the host recorded it
	CTime     time.Time         `json:"ctime,omitzero"` // metadata change (an mtime set back shows against it)
	ATime     time.Time         `json:"atime,omitzero"`
	BTime     time.Time         `json:"btime,omitzero"` // birth, where the filesystem keeps it
	Link      string            `json:"link,omitempty"` // symlink target, or the path a hardlink shares content with
	Device    string            `json:"device,omitempty"`
	Opaque    bool              `json:"opaque,omitempty"` // a directory that hides everything below it in the image
	Xattrs    map[string]string `json:"xattrs,omitempty"` // kept extended attributes, values base64
	SHA256    string            `json:"sha256,omitempty"` // of the captured content
	Captured  int64             `json:"captured"`         // bytes of content in layer.tar.zst
	Truncated bool              `json:"truncated,omitempty"`
	Note      string            `json:"note,omitempty"` // why content was not captured or differs
}

// Limits bound a filesystem capture. A cap reached is recorded per file, never
// silent.
type Limits struct {
	MaxFile  int64 // content bytes captured per file
	MaxTotal int64 // content bytes captured in all
}

// DefaultLimits are the CLI's defaults.
func DefaultLimits() Limits { return Limits{MaxFile: 1 << 30, MaxTotal: 16 << 30} }

// FSStats sum up a capture.
type FSStats struct {
	Entries   int   `json:"entries"`
	Files     int   `json:"files"`
	Bytes     int64 `json:"bytes"` // content captured
	Truncated int   `json:"truncated"`
	// Vanished counts the paths a directory listed that were gone before
	// they could be read (content or a directory below left out).
	Vanished int `json:"vanished,omitempty"`
}

// Progress is called as a capture advances (after each file, and within a
// large one about every MiB); it must be cheap. The count's totals come
// from a pre-count of the tree (see countTree) and are 0 when that was
// cut short.
type Progress func(progress.Count)

// walker reads a writable layer from the host. Every open is confined to the
// layer's root (os.Root refuses any path or link that leads out of it), the
// final component is never followed, only regular files are opened for
// content (non-blocking, then checked again by fstat), and nothing is run.
type walker struct {
	upper    *os.Root
	plain    bool // a tree of its own (a volume), not an overlay layer
	lowers   []*os.Root
	limits   Limits
	tw       *tar.Writer
	changes  func(FileChange) error
	progress Progress
	total    progress.Count // the pre-count's totals (0: not known)
	stats    FSStats
	links    map[uint64]string // inode -> first path seen, for hardlinks
	buf      []byte
	zw       *layerWriter
}

// captureTree walks a writable layer, writes its changes as an OCI layer
// tar (zstd) to layerOut, and calls changes for every entry, in path order.
// With plain set it captures a directory tree that is no overlay layer (a
// volume): every entry is added, a character device 0:0 is a device, not a
// deletion, and no overlay mark is read.
func captureTree(ctx context.Context, layer runtime.Layer, plain bool, limits Limits, layerOut io.Writer, changes func(FileChange) error, report Progress) (FSStats, error) {
	upper, err := os.OpenRoot(layer.Upper)
	if err != nil {
		return FSStats{}, fmt.Errorf("opening %s: %w", layer.Upper, err)
	}
	defer upper.Close()
	w := &walker{upper: upper, plain: plain, limits: limits, changes: changes, progress: report, links: map[uint64]string{}, buf: make([]byte, 1<<20)}
	for _, l := range layer.Lowers {
		r, err := os.OpenRoot(l)
		if err != nil {
			return FSStats{}, fmt.Errorf("opening image layer %s: %w", l, err)
		}
		defer r.Close()
		w.lowers = append(w.lowers, r)
	}
	zw, err := newLayerWriter(layerOut)
	if err != nil {
		return FSStats{}, err
	}
	w.zw = zw
	w.tw = tar.NewWriter(zw)
	if report != nil {
		w.total = countTree(ctx, upper, limits, maxCountEntries)
	}
	if err := w.walkDir(ctx, upper, ".", true); err != nil {
		zw.Close()
		return w.stats, err
	}
	if err := w.tw.Close(); err != nil {
		return w.stats, err
	}
	if err := zw.Close(); err != nil {
		return w.stats, err
	}
	return w.stats, nil
}

// walkDir walks one directory, opened as a root of its own so that every
// operation on an entry is a single name relative to it (fewer syscalls than
// resolving the whole path each time, and confined to the directory).
// inImage says whether the directory exists in the image's layers: below a
// directory that does not, everything is new and nothing needs looking up.
func (w *walker) walkDir(ctx context.Context, dir *os.Root, rel string, inImage bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := dir.Open(".")
	if err != nil {
		return fmt.Errorf("opening directory %q of the writable layer: %w", rel, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading directory %q of the writable layer: %w", rel, err)
	}
	slices.Sort(names)
	// Whiteouts first: the layer spec asks that a deletion come before its
	// siblings, so that an extractor never removes what the layer added.
	whiteout := map[string]bool{}
	for _, name := range names {
		if fi, err := dir.Lstat(name); err == nil && isWhiteout(fi) && !w.plain {
			whiteout[name] = true
		}
	}
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case whiteout[a] == whiteout[b]:
			return 0
		case whiteout[a]:
			return -1
		}
		return 1
	})
	for _, name := range names {
		childRel := name
		if rel != "." {
			childRel = rel + "/" + name
		}
		isDir, exists, err := w.entry(dir, name, childRel, inImage)
		if err != nil {
			return err
		}
		if !isDir {
			continue
		}
		sub, err := dir.OpenRoot(name)
		if err != nil {
			// Swapped for something else since the lstat: recorded as it
			// was seen, not entered.
			if errors.Is(err, fs.ErrNotExist) {
				w.stats.Vanished++
			}
			continue
		}
		err = w.walkDir(ctx, sub, childRel, exists)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// entry records one path (name in dir, rel from the layer's root) and
// reports whether it is a directory to descend and whether that directory
// exists in the image.
func (w *walker) entry(dir *os.Root, name, rel string, inImage bool) (isDir, exists bool, err error) {
	fi, err := dir.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		w.stats.Vanished++ // removed while walking: counted, the caller says why
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("lstat %q: %w", rel, err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	c := FileChange{
		Path:  "/" + rel,
		Mode:  fmt.Sprintf("%04o", uint32(fi.Mode().Perm())|fsutil.SpecialBits(fi.Mode())),
		Size:  fi.Size(),
		MTime: fi.ModTime().UTC(),
	}
	pax := map[string]string{}
	if !utf8.ValidString(rel) {
		c.PathB64 = base64.StdEncoding.EncodeToString([]byte("/" + rel))
		pax["hdrcharset"] = "BINARY" // the name's bytes are not UTF-8: tar tools must not decode them
	}
	if st != nil {
		c.UID, c.GID = int(st.Uid), int(st.Gid)
		c.ATime = time.Unix(st.Atim.Unix()).UTC()
		c.CTime = time.Unix(st.Ctim.Unix()).UTC()
	}
	hdr := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()) | int64(fsutil.SpecialBits(fi.Mode())), ModTime: c.MTime, Uid: c.UID, Gid: c.GID, Format: tar.FormatPAX, PAXRecords: pax}
	w.stats.Entries++
	kind := func() string {
		if !inImage {
			return "A"
		}
		return w.kind(rel)
	}
	switch m := fi.Mode(); {
	case isWhiteout(fi) && !w.plain:
		// An overlay whiteout: the path is deleted. OCI spells it .wh.NAME.
		c.Kind, c.Type, c.Size = "D", "whiteout", 0
		c.Mode, c.UID, c.GID, c.ATime, c.CTime = "", 0, 0, time.Time{}, time.Time{}
		if st != nil && st.Nlink > 1 {
			// Overlay makes each whiteout a link to one shared inode: its
			// times are the first deletion's, not this one's.
			c.Note = "deleted; the host kept no time of this deletion (overlay's whiteouts share one inode)"
			c.MTime = time.Time{}
		}
		d, base := path.Split(rel)
		at := c.MTime
		if at.IsZero() {
			at = time.Unix(0, 0) // the layer needs a time; changes.json says there was none
		}
		hdr = &tar.Header{Name: d + ".wh." + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: at, Format: tar.FormatPAX, PAXRecords: pax}
	case m.IsDir():
		isDir = true
		c.Type, c.Size = "dir", 0
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
		if err := dirMeta(dir, name, &c, pax); err != nil {
			c.Note = "attributes unreadable: " + err.Error()
		}
		if w.plain {
			c.Opaque = false // overlay's mark means nothing outside a layer
		}
	case m&fs.ModeSymlink != 0:
		c.Type = "symlink"
		target, err := dir.Readlink(name)
		if err != nil {
			c.Note = "link target unreadable: " + err.Error()
		}
		c.Link = target
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case m&fs.ModeNamedPipe != 0:
		c.Type, c.Note = "fifo", "recorded, not opened"
		hdr.Typeflag = tar.TypeFifo
	case m&fs.ModeSocket != 0:
		c.Type, c.Note = "socket", "recorded, not opened (tar cannot hold a socket)"
		hdr = nil
	case m&fs.ModeDevice != 0:
		c.Type, c.Note = "block", "recorded, not opened"
		hdr.Typeflag = tar.TypeBlock
		if m&fs.ModeCharDevice != 0 {
			c.Type, hdr.Typeflag = "char", tar.TypeChar
		}
		if st != nil {
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
			c.Device = fmt.Sprintf("%d:%d", hdr.Devmajor, hdr.Devminor)
		}
	case m.IsRegular():
		c.Type = "file"
		if st != nil && st.Nlink > 1 {
			if first, ok := w.links[st.Ino]; ok {
				c.Type, c.Link = "hardlink", first
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, strings.TrimPrefix(first, "/")
				break
			}
			w.links[st.Ino] = c.Path
		}
		if err := w.file(dir, name, rel, st, &c, hdr); err != nil {
			return false, false, err
		}
		c.Kind = kind()
		return false, false, w.changes(c)
	default:
		c.Type, c.Note = "unknown", "recorded, not opened"
		hdr = nil
	}
	if c.Kind == "" {
		c.Kind = kind()
	}
	if hdr != nil {
		if err := w.tw.WriteHeader(hdr); err != nil {
			return false, false, fmt.Errorf("writing layer tar: %w", err)
		}
	}
	if err := w.changes(c); err != nil {
		return false, false, err
	}
	if c.Opaque {
		// Deleted and made again: the marker hides the image's content
		// below it when the layer is applied, and what it hides is listed
		// as deleted, as the engine's diff does.
		if err := w.tw.WriteHeader(&tar.Header{Name: rel + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: c.MTime, Format: tar.FormatPAX}); err != nil {
			return false, false, fmt.Errorf("writing layer tar: %w", err)
		}
		if c.Kind == "C" {
			if err := w.hidden(dir, name, rel); err != nil {
				return false, false, err
			}
		}
	}
	// Below an opaque directory, what the image has is looked up as before.
	return isDir, c.Kind == "C" || c.Opaque, nil
}

func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// hidden lists, as deletions, the image's entries directly below an opaque
// directory that the writable layer does not make again.
func (w *walker) hidden(dir *os.Root, name, rel string) error {
	upper := map[string]bool{}
	if f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0); err == nil {
		names, _ := f.Readdirnames(-1)
		f.Close()
		for _, n := range names {
			upper[n] = true
		}
	}
	seen := map[string]string{} // name -> type, from the topmost layer that has it
	for _, l := range w.lowers {
		f, err := l.OpenFile(rel, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		entries, _ := f.ReadDir(-1)
		opq := false
		var buf [8]byte
		for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
			if n, err := unix.Fgetxattr(int(f.Fd()), attr, buf[:]); err == nil && n > 0 && buf[0] == 'y' {
				opq = true
			}
		}
		f.Close()
		for _, e := range entries {
			if _, ok := seen[e.Name()]; ok {
				continue
			}
			typ := "file"
			if fi, err := e.Info(); err == nil {
				switch {
				case isWhiteout(fi):
					typ = "" // deleted in that layer: not in the image
				case fi.IsDir():
					typ = "dir"
				case fi.Mode()&fs.ModeSymlink != 0:
					typ = "symlink"
				case !fi.Mode().IsRegular():
					typ = "special"
				}
			}
			seen[e.Name()] = typ
		}
		if opq {
			break // the layers below are hidden in the image itself
		}
	}
	names := make([]string, 0, len(seen))
	for n, typ := range seen {
		if typ != "" && !upper[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		c := FileChange{Path: "/" + rel + "/" + n, Kind: "D", Type: seen[n], Note: "hidden by the opaque directory /" + rel + " (deleted with it, and not made again)"}
		if !utf8.ValidString(c.Path) {
			c.PathB64 = base64.StdEncoding.EncodeToString([]byte(c.Path))
		}
		if err := w.changes(c); err != nil {
			return err
		}
	}
	return nil
}

// file captures one regular file's content, within the caps.
func (w *walker) file(dir *os.Root, name, rel string, st *syscall.Stat_t, c *FileChange, hdr *tar.Header) (err error) {
	w.stats.Files++
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			w.stats.Vanished++
		}
		c.Note = "not opened: " + err.Error()
		return w.emptyEntry(hdr)
	}
	defer f.Close()
	var now syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &now); err != nil || now.Mode&syscall.S_IFMT != syscall.S_IFREG || (st != nil && now.Ino != st.Ino) {
		c.Note = "replaced while capturing; content not read"
		return w.emptyEntry(hdr)
	}
	size := now.Size
	c.Size = size
	c.BTime = birthTime(int(f.Fd()))
	if hdr.PAXRecords == nil {
		hdr.PAXRecords = map[string]string{}
	}
	xs, xerr := fdXattrs(int(f.Fd()))
	addXattrs(c, hdr.PAXRecords, xs)
	if xerr != nil {
		c.Note = "attributes unreadable: " + xerr.Error()
	}
	limit := size
	if w.limits.MaxFile > 0 && limit > w.limits.MaxFile {
		limit = w.limits.MaxFile
	}
	if left := w.limits.MaxTotal - w.stats.Bytes; w.limits.MaxTotal > 0 && limit > left {
		limit = max(left, 0)
	}
	if limit < size {
		c.Truncated = true
		w.stats.Truncated++
		c.Note = fmt.Sprintf("content capped at %d of %d bytes", limit, size)
		hdr.PAXRecords["FIREBREAK.truncated"] = strconv.FormatInt(size, 10)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, limit
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing layer tar: %w", err)
	}
	h := sha256.New()
	src := io.LimitReader(f, limit)
	if limit >= incompressibleAt {
		// A large file that does not compress goes out raw: probe its
		// start, then send that start and the rest through the raw frame.
		head := w.buf[:probeSize]
		k, rerr := io.ReadFull(src, head)
		if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
			return fmt.Errorf("capturing %q: %w", rel, rerr)
		}
		if w.zw.incompressible(head[:k]) {
			if err := w.zw.beginRaw(); err != nil {
				return err
			}
			defer func() {
				if eerr := w.zw.endRaw(); err == nil {
					err = eerr
				}
			}()
		}
		head = append([]byte(nil), head[:k]...)
		src = io.MultiReader(bytes.NewReader(head), src)
	}
	var dst io.Writer = io.MultiWriter(w.tw, h)
	if w.progress != nil && limit > int64(len(w.buf)) {
		dst = io.MultiWriter(w.tw, h, &fileProgress{w: w})
	}
	n, err := io.CopyBuffer(dst, src, w.buf)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		return fmt.Errorf("capturing %q: %w", rel, err)
	}
	if n < limit {
		// Shrunk while reading: pad so the tar stays whole, and say so.
		pad := make([]byte, 32<<10)
		for left := limit - n; left > 0; {
			k := min(left, int64(len(pad)))
			if _, err := w.tw.Write(pad[:k]); err != nil {
				return err
			}
			left -= k
		}
		c.Note = fmt.Sprintf("shrank while capturing: %d of %d bytes read, rest zero-filled", n, limit)
	}
	c.Captured = n
	c.SHA256 = hex.EncodeToString(h.Sum(nil))
	w.stats.Bytes += n
	w.report(0)
	return nil
}

func (w *walker) emptyEntry(hdr *tar.Header) error {
	hdr.Typeflag, hdr.Size = tar.TypeReg, 0
	return w.tw.WriteHeader(hdr)
}

// kind says whether a path of the writable layer is new ("A") or shadows one
// of the image ("C"), or is a deletion ("D").
func (w *walker) kind(rel string) string {
	for _, l := range w.lowers {
		fi, err := l.Lstat(rel)
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
			return "A" // deleted in a layer above: new again
		}
		return "C"
	}
	return "A"
}

// dirMeta reads, through a descriptor opened inside its parent, what a
// directory's lstat does not say: the overlay opaque mark, its birth time
// and the extended attributes a layer keeps.
func dirMeta(dir *os.Root, name string, c *FileChange, pax map[string]string) error {
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	var buf [8]byte
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Fgetxattr(fd, attr, buf[:]); err == nil && n > 0 && buf[0] == 'y' {
			c.Opaque = true
		}
	}
	c.BTime = birthTime(fd)
	xs, err := fdXattrs(fd)
	addXattrs(c, pax, xs)
	return err
}

// jsonArrayWriter writes a JSON array one element at a time.
type jsonArrayWriter struct {
	w   io.Writer
	n   int
	enc *json.Encoder
}

func newJSONArrayWriter(w io.Writer) *jsonArrayWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonArrayWriter{w: w, enc: enc}
}

func (a *jsonArrayWriter) Write(v any) error {
	sep := ",\n"
	if a.n == 0 {
		sep = "[\n"
	}
	if _, err := io.WriteString(a.w, sep); err != nil {
		return err
	}
	a.n++
	return a.enc.Encode(v)
}

func (a *jsonArrayWriter) Close() error {
	end := "]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(a.w, end)
	return err
}
