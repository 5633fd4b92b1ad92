package flock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Lock is a lock taken by TryLock. It is not safe for concurrent use.
type Lock struct {
	path string
	f    *os.File // nil once unlocked
}

// HeldError says the lock is taken: by another process, or through another
// TryLock in this one (flock belongs to an open file, not to a process).
type HeldError struct {
	Path   string
	Holder string // the holder's line; "" when it has not written one (yet)
}

func (e *HeldError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another process"
	}
	return fmt.Sprintf("lock %s is held by %s", e.Path, h)
}

// maxAttempts bounds how often TryLock starts again because the file it
// opened was removed or replaced meanwhile (a holder unlocking).
const maxAttempts = 100

// maxHolder bounds how much of a holder's line is read.
const maxHolder = 4096

var errReplaced = errors.New("lock file replaced")

// TryLock takes the exclusive lock at path without waiting, creating the
// file and its directory (0700) if needed, and writes holder into the file
// as one line. When the lock is taken it returns a *HeldError with the
// holder's line. The lock dies with the process, so a file left behind by a
// process that died does not block. The holder line is not fsynced: it is
// for a process that finds the lock taken while this one lives, and the
// lock does not outlive a crash.
func TryLock(path, holder string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating lock directory: %w", err)
	}
	for range maxAttempts {
		l, err := try(path)
		if errors.Is(err, errReplaced) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := l.write(holder); err != nil {
			_ = l.Unlock() // the write error is the one to report
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("locking %s: the lock file kept being replaced", path)
}

// try opens path and takes its lock once. It returns errReplaced when the
// file it opened is no longer the one at path: a holder removed it while
// unlocking, so whoever locks the new file at path holds the lock.
func try(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	err = flock(f, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil && !errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	same, serr := samePath(f, path)
	switch {
	case serr != nil:
		f.Close()
		return nil, serr
	case !same:
		f.Close()
		return nil, errReplaced
	case err != nil: // EWOULDBLOCK on the file at path: held
		holder := readHolder(f)
		f.Close()
		return nil, &HeldError{Path: path, Holder: holder}
	}
	return &Lock{path: path, f: f}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// samePath reports whether path still names the open file f.
func samePath(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat of lock %s: %w", path, err)
	}
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat of lock %s: %w", path, err)
	}
	return os.SameFile(fi, pi), nil
}

func readHolder(f *os.File) string {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxHolder))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// write puts the holder line into the file: written over the old content
// and then cut to length, so a reader never sees an empty file where a
// stale line was.
func (l *Lock) write(holder string) error {
	b := []byte(strings.TrimSpace(holder) + "\n")
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("writing lock holder to %s: %w", l.path, err)
	}
	if err := l.f.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("writing lock holder to %s: %w", l.path, err)
	}
	return nil
}

// Unlock empties the lock file, removes it while the lock is still held (so
// no other holder's file is removed), then releases the lock and closes the
// file. A process that opened the file before it was removed finds, once it
// has the lock, that the path no longer names that file, and starts again
// with a new one. Unlock is idempotent. An error says the file could not be
// emptied or removed; the lock is released all the same.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	var errs []error
	if err := f.Truncate(0); err != nil {
		errs = append(errs, fmt.Errorf("emptying lock %s: %w", l.path, err))
	}
	// Only the file this lock holds: a path that names another file (the
	// lock file removed by hand and taken anew) belongs to its holder.
	if same, err := samePath(f, l.path); err != nil {
		errs = append(errs, err)
	} else if same {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing lock %s: %w", l.path, err))
		}
	}
	if err := flock(f, unix.LOCK_UN); err != nil {
		errs = append(errs, fmt.Errorf("unlocking %s: %w", l.path, err))
	}
	if err := f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing lock %s: %w", l.path, err))
	}
	return errors.Join(errs...)
}
