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
	"firebreak/runtime"
)

// FileChange is one entry of changes.json: a path the container added,
// changed or deleted, as its writable layer holds it.
type FileChange struct {
	Path      string    `json:"path"`               // as seen inside the container, e.g. /etc/passwd
	PathB64   string    `json:"path_b64,omitempty"` // the raw bytes, when the name is not valid UTF-8
	Kind      string    `json:"kind"`               // "A" added, "C" changed, "D" deleted
	Type      string    `json:"type"`               // file, dir, symlink, hardlink, fifo, socket, char, block, whiteout
	Mode      string    `json:"mode,omitempty"`     // octal permission and special bits
	UID       int       `json:"uid"`
	GID       int       `json:"gid"`
	Size      int64     `json:"size"`
	MTime     time.Time `json:"mtime"`
	Link      string    `json:"link,omitempty"` // symlink target, or the path a hardlink shares content with
	Device    string    `json:"device,omitempty"`
	Opaque    bool      `json:"opaque,omitempty"` // a directory that hides everything below it in the image
	SHA256    string    `json:"sha256,omitempty"` // of the captured content
	Captured  int64     `json:"captured"`         // bytes of content in layer.tar.zst
	Truncated bool      `json:"truncated,omitempty"`
	Note      string    `json:"note,omitempty"` // why content was not captured or differs
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
}

// Progress is called as a capture advances; it must be cheap.
type Progress func(files int, bytes int64)

// walker reads a writable layer from the host. Every open is confined to the
// layer's root (os.Root refuses any path or link that leads out of it), the
// final component is never followed, only regular files are opened for
// content (non-blocking, then checked again by fstat), and nothing is run.
type walker struct {
	upper    *os.Root
	lowers   []*os.Root
	limits   Limits
	tw       *tar.Writer
	changes  func(FileChange) error
	progress Progress
	stats    FSStats
	links    map[uint64]string // inode -> first path seen, for hardlinks
	buf      []byte
	zw       *layerWriter
}

// captureLayer walks layer, writes its changes as an OCI layer tar (zstd) to
// layerOut, and calls changes for every entry, in path order.
func captureLayer(ctx context.Context, layer runtime.Layer, limits Limits, layerOut io.Writer, changes func(FileChange) error, progress Progress) (FSStats, error) {
	upper, err := os.OpenRoot(layer.Upper)
	if err != nil {
		return FSStats{}, fmt.Errorf("opening writable layer %s: %w", layer.Upper, err)
	}
	defer upper.Close()
	w := &walker{upper: upper, limits: limits, changes: changes, progress: progress, links: map[uint64]string{}, buf: make([]byte, 1<<20)}
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
		return false, false, nil // removed while walking
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
	if !utf8.ValidString(rel) {
		c.PathB64 = base64.StdEncoding.EncodeToString([]byte("/" + rel))
	}
	if st != nil {
		c.UID, c.GID = int(st.Uid), int(st.Gid)
	}
	hdr := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()) | int64(fsutil.SpecialBits(fi.Mode())), ModTime: c.MTime, Uid: c.UID, Gid: c.GID, Format: tar.FormatPAX}
	w.stats.Entries++
	kind := func() string {
		if !inImage {
			return "A"
		}
		return w.kind(rel)
	}
	switch m := fi.Mode(); {
	case m&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0:
		// An overlay whiteout: the path is deleted. OCI spells it .wh.NAME.
		c.Kind, c.Type, c.Size = "D", "whiteout", 0
		d, base := path.Split(rel)
		hdr = &tar.Header{Name: d + ".wh." + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: c.MTime, Format: tar.FormatPAX}
	case m.IsDir():
		isDir = true
		c.Type, c.Size = "dir", 0
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
		c.Opaque = opaque(dir, name)
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
	// An opaque directory hides the image's: below it, look up as before.
	return isDir, c.Kind == "C" || c.Opaque, w.changes(c)
}

// file captures one regular file's content, within the caps.
func (w *walker) file(dir *os.Root, name, rel string, st *syscall.Stat_t, c *FileChange, hdr *tar.Header) (err error) {
	w.stats.Files++
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
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
		hdr.PAXRecords = map[string]string{"FIREBREAK.truncated": strconv.FormatInt(size, 10)}
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
	n, err := io.CopyBuffer(io.MultiWriter(w.tw, h), src, w.buf)
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
	if w.progress != nil {
		w.progress(w.stats.Files, w.stats.Bytes)
	}
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

// opaque reads the overlay opaque mark of a directory through a descriptor
// opened inside its parent.
func opaque(dir *os.Root, name string) bool {
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Fgetxattr(int(f.Fd()), attr, buf); err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	return false
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
