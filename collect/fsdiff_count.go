package collect

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"

	"firebreak/internal/progress"
)

// maxCountEntries bounds the pre-count of a tree: past it the capture goes
// on without a total (a bar that would take a long walk to draw is not
// worth delaying the capture for).
const maxCountEntries = 200_000

// countTree is the pre-count of a capture: the regular files a walk of the
// tree would read (a hard link's first path only) and their bytes within
// the limits, from lstat alone: no file is opened and no content read, so
// the capture's read of the data stays the only one. It stops, and says
// nothing is known (a zero Count), after limit entries, on an unreadable
// directory, or when ctx ends.
//
// Why not the engine's size of the writable layer (Docker's SizeRw, from
// inspect with size)? The daemon works it out by the same walk of the same
// directory, so it is no cheaper; it counts what the capture does not
// (symlink targets) and ignores the capture's caps, so the last report
// would not meet it; and containerd reports no such size.
func countTree(ctx context.Context, root *os.Root, limits Limits, limit int) progress.Count {
	var c progress.Count
	seen := map[uint64]bool{}
	entries := 0
	var walk func(dir *os.Root) bool
	walk = func(dir *os.Root) bool {
		if ctx.Err() != nil {
			return false
		}
		f, err := dir.Open(".")
		if err != nil {
			return false
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return false
		}
		for _, name := range names {
			if entries++; entries > limit {
				return false
			}
			fi, err := dir.Lstat(name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing: the walk will not see it either
			}
			if err != nil {
				return false
			}
			switch {
			case fi.IsDir():
				sub, err := dir.OpenRoot(name)
				if err != nil {
					continue // swapped since the lstat: the walk does not enter it either
				}
				ok := walk(sub)
				sub.Close()
				if !ok {
					return false
				}
			case fi.Mode().IsRegular():
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
					if seen[st.Ino] {
						continue // captured as a link to the first
					}
					seen[st.Ino] = true
				}
				c.Files++
				n := fi.Size()
				if limits.MaxFile > 0 {
					n = min(n, limits.MaxFile)
				}
				c.Bytes += n
			}
		}
		return true
	}
	if !walk(root) {
		return progress.Count{}
	}
	if limits.MaxTotal > 0 {
		c.Bytes = min(c.Bytes, limits.MaxTotal)
	}
	return progress.Count{FilesTotal: c.Files, BytesTotal: c.Bytes}
}

// report tells the capture's progress: what is done, with inFile bytes of
// the file being read, against the pre-counted totals.
func (w *walker) report(inFile int64) {
	if w.progress == nil {
		return
	}
	c := w.total
	c.Files, c.Bytes = w.stats.Files, w.stats.Bytes+inFile
	w.progress(c)
}

// fileProgress reports within a large file, once per buffer written.
type fileProgress struct {
	w *walker
	n int64
}

func (p *fileProgress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	p.w.report(p.n)
	return len(b), nil
}
