package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"firebreak/internal/fsutil"
)

// DefaultDir is the local store's directory unless told otherwise.
const DefaultDir = "/var/lib/firebreak/evidence"

// FileStore keeps evidence in a local directory.
type FileStore struct {
	dir string
}

var (
	_ Store       = (*FileStore)(nil)
	_ Preflighter = (*FileStore)(nil)
)

// NewFileStore opens a local store at dir to write in it, creating the
// directory if needed. A path that is not a directory, or a directory that
// cannot be written, is a permanent *StoreError saying what to change.
func NewFileStore(dir string) (*FileStore, error) {
	abs, err := storeRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &FileStore{dir: abs}
	if err := s.checkDir(false); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, s.storeError("cannot be created", err)
	}
	if err := s.checkWritable(); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenFileStore opens an existing local store only to read it: nothing is
// created, and a missing directory is a permanent *StoreError.
func OpenFileStore(dir string) (*FileStore, error) {
	abs, err := storeRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &FileStore{dir: abs}
	if err := s.checkDir(true); err != nil {
		return nil, err
	}
	return s, nil
}

// storeRoot is the store's directory as an absolute path, with a link
// given as the store itself followed (an operator's choice: the walk of
// List does not enter links, so the store is its target). Links inside the
// store are never followed.
func storeRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil // not there yet: made by the first write
}

// checkDir refuses a store path that is not a directory, and a missing one
// when it must exist.
func (s *FileStore) checkDir(mustExist bool) error {
	fi, err := os.Stat(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && mustExist:
		return &StoreError{Store: s.String(), Problem: "does not exist", Permanent: true,
			Hint: "check the path given with --store; a local store is made by the first collect into it"}
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return s.storeError("cannot be read", err)
	case !fi.IsDir():
		return &StoreError{Store: s.String(), Problem: "is a file, not a directory", Permanent: true,
			Hint: "give the directory that holds the evidence, or a new one, with --store file:///path"}
	}
	return nil
}

// checkWritable writes and removes a probe file: a read-only file system
// or a directory without write permission is found before any evidence is
// captured, not after.
func (s *FileStore) checkWritable() error {
	f, err := os.CreateTemp(s.dir, ".partial-probe-*")
	if err != nil {
		return s.storeError("cannot be written", err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return s.storeError("cannot be written", err)
	}
	return nil
}

func (s *FileStore) storeError(problem string, err error) error {
	return &StoreError{Store: s.String(), Problem: problem, Err: err, Permanent: true,
		Hint: "fix the directory's permissions or file system, or choose another with --store file:///path"}
}

// Preflight checks that the directory is there, is a directory, and can be
// written.
func (s *FileStore) Preflight(context.Context) error {
	if err := s.checkDir(false); err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return s.storeError("cannot be created", err)
	}
	return s.checkWritable()
}

// Dir is the store's directory.
func (s *FileStore) Dir() string { return s.dir }

func (s *FileStore) String() string { return "file://" + s.dir }

func (s *FileStore) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	if first, _, _ := strings.Cut(key, "/"); first == lockDirName {
		return "", fmt.Errorf("evidence key %q: %s/ holds the store's case locks, not evidence", key, lockDirName)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put writes to a temporary file beside the target, syncs it, and links it
// into place, which fails if the key exists: the object appears whole or not
// at all, and never replaces another.
func (s *FileStore) Put(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return Object{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return Object{}, fmt.Errorf("storing %s: %w", key, err)
	}
	if _, err := os.Lstat(p); err == nil {
		return Object{}, fmt.Errorf("storing %s: %w", key, ErrExists)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".partial-*")
	if err != nil {
		return Object{}, fmt.Errorf("storing %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Object{}, fmt.Errorf("storing %s: %w", key, err)
	}
	if err := os.Link(tmp.Name(), p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Object{}, fmt.Errorf("storing %s: %w", key, ErrExists)
		}
		return Object{}, fmt.Errorf("storing %s: %w", key, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(p)); err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Modified: fi.ModTime().UTC(), Meta: meta}, nil
}

func (s *FileStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	// Only a regular file of the store is read: a link planted in the
	// store is not followed (it could lead to a host file), a directory is
	// no object.
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, s.storeError("cannot be read", err)
	}
	defer root.Close()
	rel, _ := filepath.Rel(s.dir, p)
	// os.Root keeps every component inside the store; O_NOFOLLOW refuses a
	// link as the object itself.
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if errors.Is(err, syscall.ELOOP) || (err != nil && strings.Contains(err.Error(), "escapes")) {
		return nil, fmt.Errorf("%s: a link in the store, not an object: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file in the store: %w", key, ErrNotFound)
	}
	return f, nil
}

func (s *FileStore) Stat(ctx context.Context, key string) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return Object{}, err
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Object{}, err
	}
	if !fi.Mode().IsRegular() {
		return Object{}, fmt.Errorf("%s: not a regular file in the store", key)
	}
	return Object{Key: key, Size: fi.Size(), Modified: fi.ModTime().UTC()}, nil
}

func (s *FileStore) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == lockDirName {
				return filepath.SkipDir
			}
			if p != s.dir && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".partial-") || !strings.HasPrefix(key, prefix) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: fi.Size(), Modified: fi.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", s, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
