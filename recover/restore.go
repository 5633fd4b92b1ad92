package recover

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// RestoreLimits bound what a restore will do, so that a hostile or damaged
// manifest cannot make it use unbounded time or space.
type RestoreLimits struct {
	MaxEntries int   // files, directories and links in one volume
	MaxBytes   int64 // content in all
	Devices    bool  // create device nodes (skipped unless asked: see Skipped)
}

// DefaultRestoreLimits are generous for real volumes.
func DefaultRestoreLimits() RestoreLimits {
	return RestoreLimits{MaxEntries: 5_000_000, MaxBytes: 1 << 40}
}

// RestoreError says a restore was refused: what, and why. Nothing was
// written outside the target, and a refusal found before writing leaves
// the target untouched.
type RestoreError struct {
	Path, Why string
}

func (e *RestoreError) Error() string {
	return fmt.Sprintf("restore refused at %q: %s", e.Path, e.Why)
}

// RestoreVolume writes a volume of a snapshot into dst (an empty
// directory). Every entry is checked before anything is written (paths that
// are absolute, hold "..", repeat, or hang below a non-directory; hard
// links to what is not an earlier file; more than the limits), and every
// write goes through a root confined to dst, never
// following a link (a symlink in the volume stays a symlink; nothing is
// written through it). Each file's content is checked against its digest
// as it is written. Device nodes are made only when lim.Devices asks, and
// sockets never: Skipped names what a restore leaves out.
func (r *Repo) RestoreVolume(ctx context.Context, s *Snapshot, volume string, dst string, lim RestoreLimits) error {
	return r.restoreVolume(ctx, s, volume, dst, lim, nil)
}

// restoreVolume is RestoreVolume telling m (nil: no one) what it wrote.
func (r *Repo) restoreVolume(ctx context.Context, s *Snapshot, volume string, dst string, lim RestoreLimits, m *meter) error {
	var v *Volume
	for i := range s.Volumes {
		if s.Volumes[i].Name == volume || s.Volumes[i].Destination == volume {
			v = &s.Volumes[i]
		}
	}
	if v == nil {
		return fmt.Errorf("snapshot %s has no volume %q", s.ID, volume)
	}
	if err := checkEntries(v.Files, lim); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	if ents, err := fs.ReadDir(root.FS(), "."); err != nil || len(ents) > 0 {
		return fmt.Errorf("restore target %s must be an empty directory", dst)
	}
	if err := r.restoreInto(ctx, root, v, lim, m); err != nil {
		// A refused or failed restore leaves the target as it was: empty.
		if ents, rerr := fs.ReadDir(root.FS(), "."); rerr == nil {
			for _, e := range ents {
				_ = root.RemoveAll(e.Name())
			}
		}
		return err
	}
	return nil
}

func (r *Repo) restoreInto(ctx context.Context, root *os.Root, v *Volume, lim RestoreLimits, m *meter) error {
	// The files' chunks are read ahead, a few objects at once, in the
	// order they are written.
	b, err := r.newFeed(ctx, false)
	if err != nil {
		return err
	}
	for _, e := range v.Files {
		if e.Type == "file" {
			for _, c := range e.Chunks {
				b.add(c)
			}
		}
	}
	f := b.start(ctx)
	defer f.close()
	fw := newFileWriter(root)
	defer fw.close()
	var dirs []Entry // their modes and times are set last, deepest first
	for _, e := range v.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fw.failed(); err != nil {
			return err
		}
		p := entryPath(e)
		switch e.Type {
		case "dir":
			if err := root.Mkdir(p, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, e)
			continue
		case "file":
			if err := fw.restoreFile(f, p, e, m); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			continue // its attributes are set through the file it wrote
		case "symlink":
			if err := root.Symlink(e.Link, p); err != nil {
				return err
			}
		case "hardlink":
			if err := fw.made(); err != nil { // the file it links to
				return err
			}
			if err := root.Link(e.Link, p); err != nil {
				return err
			}
			continue // it shares the first one's inode and attributes
		case "fifo", "char", "block":
			if skipped(e, lim) {
				continue
			}
			if err := mknodAt(root, p, e); err != nil {
				return err
			}
		default: // sockets are not restored: a process makes its own
			continue
		}
		if err := attributes(root, p, e); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := fw.close(); err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := attributes(root, entryPath(dirs[i]), dirs[i]); err != nil {
			return fmt.Errorf("%s: %w", entryPath(dirs[i]), err)
		}
	}
	return nil
}

// entryPath is the entry's path as the bytes it had.
func entryPath(e Entry) string {
	if e.PathB64 != "" {
		b, err := base64.StdEncoding.DecodeString(e.PathB64)
		if err != nil {
			return "" // refused by checkEntries: not a plain path
		}
		return string(b)
	}
	return e.Path
}

// checkEntries refuses a volume's list before anything is written.
func checkEntries(files []Entry, lim RestoreLimits) error {
	if len(files) > lim.MaxEntries {
		return &RestoreError{Path: ".", Why: fmt.Sprintf("%d entries, more than the %d a restore takes", len(files), lim.MaxEntries)}
	}
	// What each path listed before is (0: not listed).
	const listed, dir, file = 1, 2, 3
	kind := make(map[string]uint8, len(files))
	var total int64
	for _, e := range files {
		p := entryPath(e)
		if !plainPath(p) {
			return &RestoreError{Path: p, Why: "not a plain relative path (absolute, empty, or with . or .. parts)"}
		}
		if _, dup := kind[p]; dup {
			return &RestoreError{Path: p, Why: "listed twice"}
		}
		if parent := path.Dir(p); parent != "." && kind[parent] != dir {
			return &RestoreError{Path: p, Why: "its parent " + parent + " is not a directory listed before it"}
		}
		switch e.Type {
		case "file":
			if e.Size < 0 || len(e.SHA256) != 64 {
				return &RestoreError{Path: p, Why: "a file without a size and digest"}
			}
			// Each chunk but the last holds at least the chunker's least
			// (512 KiB), so a size bounds the count of its chunks.
			if e.Size == 0 && len(e.Chunks) > 0 || int64(len(e.Chunks)) > e.Size/chunkMin+1 {
				return &RestoreError{Path: p, Why: fmt.Sprintf("%d chunks for %d bytes", len(e.Chunks), e.Size)}
			}
			total += e.Size
			if total > lim.MaxBytes {
				return &RestoreError{Path: p, Why: fmt.Sprintf("more than the %d bytes a restore takes", lim.MaxBytes)}
			}
			for _, c := range e.Chunks {
				if _, err := hex.DecodeString(c); err != nil || len(c) != 64 {
					return &RestoreError{Path: p, Why: "a chunk that is not a digest"}
				}
			}
		case "hardlink":
			if kind[e.Link] != file {
				return &RestoreError{Path: p, Why: "a hard link to " + e.Link + ", which is not a file restored before it"}
			}
		case "symlink":
			if e.Link == "" || strings.Contains(e.Link, "\x00") {
				return &RestoreError{Path: p, Why: "an empty symlink target"}
			}
		case "dir", "fifo", "socket", "char", "block":
		default:
			return &RestoreError{Path: p, Why: fmt.Sprintf("unknown entry type %q", e.Type)}
		}
		if e.Mode&^0o7777 != 0 {
			return &RestoreError{Path: p, Why: "mode bits beyond permissions, setuid, setgid and sticky"}
		}
		switch e.Type {
		case "dir":
			kind[p] = dir
		case "file":
			kind[p] = file
		default:
			kind[p] = listed
		}
	}
	return nil
}

// skipped says whether a restore under lim leaves the entry out: a socket
// (the process that serves it makes its own) or, unless asked, a device
// node (a volume's device gives the container a way to the host's
// hardware, which the responder grants, not a backup).
func skipped(e Entry, lim RestoreLimits) bool {
	return e.Type == "socket" || (e.Type == "char" || e.Type == "block") && !lim.Devices
}

// Skipped names each entry of files a restore under lim leaves out, with
// what it is ("dev/null (char device 1:3)"), in the list's order.
func Skipped(files []Entry, lim RestoreLimits) []string {
	var out []string
	for _, e := range files {
		if !skipped(e, lim) {
			continue
		}
		what := "socket"
		if e.Type != "socket" {
			what = fmt.Sprintf("%s device %d:%d", e.Type, unix.Major(e.Rdev), unix.Minor(e.Rdev))
		}
		out = append(out, fmt.Sprintf("%s (%s)", entryPath(e), what))
	}
	return out
}

// plainPath reports a relative path of plain names: no empty, . or ..
// element, not absolute, no NUL (any other byte is a name's own).
func plainPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\x00") {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return true
}

// restorable says which extended attributes a restore writes: the user's
// and ACLs, and file capabilities (set after the owner, which clears
// them). trusted.* (overlay's own among them) and security.* labels are
// the host's to set, not a backup's.
func restorable(name string) bool {
	return strings.HasPrefix(name, "user.") || name == "system.posix_acl_access" || name == "system.posix_acl_default" || name == "security.capability"
}

// setXattrs writes an entry's restorable extended attributes on an open
// file or directory.
func setXattrs(fd int, e Entry) error {
	for k, v := range e.Xattrs {
		if !restorable(k) {
			continue
		}
		if err := unix.Fsetxattr(fd, k, v, 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("xattr %s: %w", k, err)
		}
	}
	return nil
}

// linkTime sets a symlink's own modification time, not its target's: at
// the link's directory, opened within root, without following it.
func linkTime(root *os.Root, p string, e Entry) error {
	dir, base := path.Split(p)
	if dir = strings.TrimSuffix(dir, "/"); dir == "" {
		dir = "."
	}
	d, err := root.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	ts := []unix.Timespec{unix.NsecToTimespec(e.MTime.UnixNano()), unix.NsecToTimespec(e.MTime.UnixNano())}
	if err := unix.UtimesNanoAt(int(d.Fd()), base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting the link's time: %w", err)
	}
	return nil
}

// attributes sets owner, mode and modification time, never through a link.
func attributes(root *os.Root, p string, e Entry) error {
	if err := root.Lchown(p, e.UID, e.GID); err != nil {
		return err
	}
	if e.Type == "symlink" {
		return linkTime(root, p, e) // a link has no mode of its own
	}
	if err := root.Chmod(p, fs.FileMode(e.Mode&0o777)|modeBits(e.Mode)); err != nil {
		return err
	}
	if len(e.Xattrs) > 0 && (e.Type == "dir" || e.Type == "file") {
		flags := os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
		if e.Type == "dir" {
			flags |= syscall.O_DIRECTORY
		}
		f, err := root.OpenFile(p, flags, 0)
		if err != nil {
			return err
		}
		err = setXattrs(int(f.Fd()), e)
		f.Close()
		if err != nil {
			return err
		}
	}
	return root.Chtimes(p, e.MTime, e.MTime)
}

func modeBits(m uint32) fs.FileMode {
	var b fs.FileMode
	if m&0o4000 != 0 {
		b |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	return b
}

// mknodAt makes a FIFO or (asked for) device node inside the root: in its
// parent, opened through the root, by name.
func mknodAt(root *os.Root, p string, e Entry) error {
	dir, err := root.OpenFile(path.Dir(p), os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	mode := uint32(unix.S_IFIFO)
	switch e.Type {
	case "char":
		mode = unix.S_IFCHR
	case "block":
		mode = unix.S_IFBLK
	}
	return unix.Mknodat(int(dir.Fd()), path.Base(p), mode|0o600, int(e.Rdev))
}
