package recover

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A restore reads and hashes the chunks in order, in one goroutine, and
// hands the making of files and the writing to a few: making inodes and
// copying into new pages of the page cache are most of a restore's work,
// and the kernel does them on any core.
const (
	restoreWriters = 3
	restoreBufs    = 8 // chunks read and not yet written, at most
)

// fileWriter makes restored files, writes their chunks at their offsets,
// then sets each file's attributes through it and closes it.
type fileWriter struct {
	root    *os.Root
	jobs    chan writeJob
	bufs    chan []byte
	wg      sync.WaitGroup
	creates sync.WaitGroup // files asked for and not yet made

	mu     sync.Mutex
	err    error
	closed bool
}

type jobKind int

const (
	jobCreate  jobKind = iota // make the file
	jobWrite                  // write a chunk at its offset
	jobFinish                 // the last job of a file: its attributes, and close
	jobAbandon                // the last job of a refused file: close
)

type writeJob struct {
	kind jobKind
	file *openFile
	off  int64
	data []byte
}

type openFile struct {
	path    string
	e       *Entry
	made    chan struct{} // closed once the create job ran
	fh      *os.File      // nil when it could not be made
	pending sync.WaitGroup
	holes   atomic.Bool // a chunk of zeros was left a hole: the size is set at the end
}

func newFileWriter(root *os.Root) *fileWriter {
	fw := &fileWriter{root: root, jobs: make(chan writeJob, restoreBufs), bufs: make(chan []byte, restoreBufs)}
	for range restoreBufs {
		fw.bufs <- nil
	}
	for range restoreWriters {
		fw.wg.Add(1)
		go fw.run()
	}
	return fw
}

// run takes jobs in the order they were sent: what a job waits for (its
// file made, its chunks written) was taken before it, by this writer or
// one that is running.
func (fw *fileWriter) run() {
	defer fw.wg.Done()
	for j := range fw.jobs {
		of := j.file
		switch j.kind {
		case jobCreate:
			// Made new: never an existing file, never through a link.
			fh, err := fw.root.OpenFile(of.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
			if err == nil {
				of.fh = fh
			}
			fw.fail(err, of.path)
			close(of.made)
			fw.creates.Done()
		case jobWrite:
			<-of.made
			// A chunk of zeros is left a hole (finishFile sets the size):
			// a sparse file comes back sparse, not as its whole size on
			// the host's disk.
			if of.fh != nil && fw.failed() == nil {
				if allZero(j.data) {
					of.holes.Store(true)
				} else {
					_, err := of.fh.WriteAt(j.data, j.off)
					fw.fail(err, of.path)
				}
			}
			fw.bufs <- j.data[:0]
			of.pending.Done()
		case jobFinish, jobAbandon:
			<-of.made
			of.pending.Wait()
			if of.fh == nil {
				continue
			}
			var err error
			if j.kind == jobFinish && fw.failed() == nil {
				err = finishFile(of.fh, *of.e, of.holes.Load())
			}
			if cerr := of.fh.Close(); err == nil {
				err = cerr
			}
			fw.fail(err, of.path)
		}
	}
}

func (fw *fileWriter) fail(err error, p string) {
	if err == nil {
		return
	}
	fw.mu.Lock()
	if fw.err == nil {
		fw.err = fmt.Errorf("%s: %w", p, err)
	}
	fw.mu.Unlock()
}

// failed is the first error of a writer.
func (fw *fileWriter) failed() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.err
}

// made waits until every file asked for is made (a hard link is made to
// one only after).
func (fw *fileWriter) made() error {
	fw.creates.Wait()
	return fw.failed()
}

// close waits for every job and returns the first error. It may be
// called more than once.
func (fw *fileWriter) close() error {
	fw.mu.Lock()
	closed := fw.closed
	fw.closed = true
	fw.mu.Unlock()
	if !closed {
		close(fw.jobs)
		fw.wg.Wait()
	}
	return fw.failed()
}

// restoreFile reads one file's chunks, in order, checking the whole
// digest, and has the file made and its chunks written by the writers; its
// owner, mode, extended attributes and time are set once they are. A file
// whose chunks are refused is closed as it is (the restore fails, and the
// target is emptied).
func (fw *fileWriter) restoreFile(f *feed, p string, e Entry, m *meter) error {
	of := &openFile{path: p, e: &e, made: make(chan struct{})}
	fw.creates.Add(1)
	fw.jobs <- writeJob{kind: jobCreate, file: of}
	abandon := func(err error) error {
		fw.jobs <- writeJob{kind: jobAbandon, file: of}
		return err
	}
	h := sha256.New()
	var n int64
	for _, c := range e.Chunks {
		data, _, err := f.nextInto(c, <-fw.bufs)
		if err != nil {
			fw.bufs <- data[:0]
			return abandon(fmt.Errorf("chunk %.12s: %w", c, err))
		}
		if n+int64(len(data)) > e.Size {
			fw.bufs <- data[:0]
			return abandon(errors.New("its chunks hold more than its listed size (refused before writing past it)"))
		}
		h.Write(data)
		of.pending.Add(1)
		fw.jobs <- writeJob{kind: jobWrite, file: of, off: n, data: data}
		n += int64(len(data))
		if len(e.Chunks) > 1 {
			m.add(0, int64(len(data)))
		}
	}
	if n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return abandon(errors.New("its chunks do not make the content the manifest lists (refused)"))
	}
	fw.jobs <- writeJob{kind: jobFinish, file: of}
	if len(e.Chunks) > 1 {
		m.add(1, 0)
	} else {
		m.add(1, n)
	}
	return nil
}

// finishFile sets a restored file's owner first (it clears setuid bits
// and capabilities), then its mode, extended attributes, and its time
// last, all through the open file.
func finishFile(fh *os.File, e Entry, holes bool) error {
	if holes { // a hole at the end leaves the file short of its size
		if err := fh.Truncate(e.Size); err != nil {
			return err
		}
	}
	if err := fh.Chown(e.UID, e.GID); err != nil {
		return err
	}
	if err := fh.Chmod(fs.FileMode(e.Mode&0o777) | modeBits(e.Mode)); err != nil {
		return err
	}
	if err := setXattrs(int(fh.Fd()), e); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(e.MTime.UnixNano()), unix.NsecToTimespec(e.MTime.UnixNano())}
	if err := unix.UtimesNano(fmt.Sprintf("/proc/self/fd/%d", fh.Fd()), ts); err != nil {
		return fmt.Errorf("setting its time: %w", err)
	}
	return nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
