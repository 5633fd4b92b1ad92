package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// DefaultSpoolDir is where evidence waits when the remote store fails.
const DefaultSpoolDir = "/var/lib/firebreak/spool"

// Spool puts evidence to a remote store and, when the remote fails before or
// during a write, keeps it in a local directory instead, whole: what the
// remote had already read is teed to a local file, and the rest of the stream
// is appended there. Sync uploads the spooled objects later and deletes each
// only after its remote copy was read back and its digest matched.
type Spool struct {
	remote Store
	local  *FileStore
	dir    string

	mu      sync.Mutex
	down    error // the remote's first failure in this process
	pending int
}

var (
	_ Store    = (*Spool)(nil)
	_ Retainer = (*Spool)(nil)
)

// CheckRetention asks the remote. A remote that cannot be reached is not a
// refusal: evidence goes to the spool, and retention applies when it is
// synced with the same settings.
func (s *Spool) CheckRetention(ctx context.Context) error {
	r, ok := s.remote.(Retainer)
	if !ok {
		return nil
	}
	err := r.CheckRetention(ctx)
	if errors.Is(err, ErrUnreachable) {
		s.markDown(err)
		return nil
	}
	return err
}

// NewSpool wraps remote with a spool under dir (one subdirectory per remote).
func NewSpool(remote Store, dir string) (*Spool, error) {
	sum := sha256.Sum256([]byte(remote.String()))
	d := filepath.Join(dir, hex.EncodeToString(sum[:8]))
	local, err := NewFileStore(filepath.Join(d, "objects"))
	if err != nil {
		return nil, fmt.Errorf("spool: %w (hint: set --spool-dir)", err)
	}
	if err := os.WriteFile(filepath.Join(d, "remote"), []byte(remote.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Spool{remote: remote, local: local, dir: d}, nil
}

// Dir is the spool directory of this remote.
func (s *Spool) Dir() string { return s.dir }

// Pending is how many objects this process spooled instead of storing
// remotely.
func (s *Spool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// markDown records the remote's first failure; later Puts go to the spool.
func (s *Spool) markDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down == nil {
		s.down = err
	}
}

// Down is the remote's first failure in this process, nil while it works.
func (s *Spool) Down() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *Spool) String() string { return s.remote.String() }

func (s *Spool) Put(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	if s.Down() != nil {
		return s.spool(ctx, key, r, meta)
	}
	tee, err := os.CreateTemp(s.dir, ".tee-*")
	if err != nil {
		return Object{}, fmt.Errorf("spool: %w", err)
	}
	defer os.Remove(tee.Name())
	defer tee.Close()
	obj, err := s.remote.Put(ctx, key, io.TeeReader(r, tee), meta)
	if err == nil || errors.Is(err, ErrExists) || ctx.Err() != nil {
		return obj, err
	}
	s.markDown(err)
	if _, err := tee.Seek(0, io.SeekStart); err != nil {
		return Object{}, fmt.Errorf("spool: %w", err)
	}
	return s.spool(ctx, key, io.MultiReader(tee, r), meta)
}

// ErrRetryLocally says a PutOnce to the remote failed after reading some of
// the stream; the remote is now taken as down, so the same Put made again
// goes to the local spool. The caller regenerates the stream and retries.
var ErrRetryLocally = errors.New("the remote store failed during the upload: capture again to store it in the local spool")

// PutOnce is Put without the tee: for a stream its producer can make again
// (a capture of a frozen container), so that the healthy path writes nothing
// to local disk. On a remote failure midway it returns ErrRetryLocally;
// nothing partial is stored anywhere.
func (s *Spool) PutOnce(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	if s.Down() != nil {
		return s.spool(ctx, key, r, meta)
	}
	obj, err := s.remote.Put(ctx, key, r, meta)
	if err == nil || errors.Is(err, ErrExists) || ctx.Err() != nil {
		return obj, err
	}
	s.markDown(err)
	return Object{}, fmt.Errorf("%w (%v)", ErrRetryLocally, err)
}

func (s *Spool) spool(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error) {
	obj, err := s.local.Put(ctx, key, r, meta)
	if err != nil {
		return Object{}, fmt.Errorf("remote store failed and so did the local spool: %w", err)
	}
	s.mu.Lock()
	s.pending++
	s.mu.Unlock()
	return obj, nil
}

// Get reads the remote copy, or the spooled one while it waits.
func (s *Spool) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if rc, err := s.local.Get(ctx, key); err == nil {
		return rc, nil
	}
	return s.remote.Get(ctx, key)
}

func (s *Spool) Stat(ctx context.Context, key string) (Object, error) {
	if o, err := s.local.Stat(ctx, key); err == nil {
		return o, nil
	}
	return s.remote.Stat(ctx, key)
}

// List merges the remote's objects with the spooled ones. A remote that
// cannot be listed yields the spooled ones and the error.
func (s *Spool) List(ctx context.Context, prefix string) ([]Object, error) {
	local, err := s.local.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var remote []Object
	if s.Down() == nil {
		remote, err = s.remote.List(ctx, prefix)
		if err != nil {
			s.markDown(err)
		}
	}
	seen := map[string]bool{}
	var out []Object
	for _, o := range append(local, remote...) {
		if !seen[o.Key] {
			seen[o.Key] = true
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// SyncResult reports one spooled object.
type SyncResult struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Status string `json:"status"` // "uploaded", "already there", "failed"
	Error  string `json:"error,omitempty"`
}

// Sync uploads every spooled object to the remote, reads each back, and
// deletes the spooled copy only when the remote copy's SHA-256 matches. An
// object already in the remote with the same digest is deleted from the spool
// too; one with another digest stays, reported.
func (s *Spool) Sync(ctx context.Context) ([]SyncResult, error) {
	objs, err := s.local.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []SyncResult
	var errs []error
	for _, o := range objs {
		res := SyncResult{Key: o.Key, Size: o.Size}
		err := s.syncOne(ctx, o.Key, &res)
		if err != nil {
			res.Status, res.Error = "failed", err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", o.Key, err))
		}
		out = append(out, res)
	}
	s.pruneDirs()
	return out, errors.Join(errs...)
}

func (s *Spool) syncOne(ctx context.Context, key string, res *SyncResult) error {
	local, err := digestOf(ctx, s.local, key)
	if err != nil {
		return err
	}
	res.SHA256 = local
	f, err := s.local.Get(ctx, key)
	if err != nil {
		return err
	}
	_, err = s.remote.Put(ctx, key, f, nil)
	f.Close()
	res.Status = "uploaded"
	if errors.Is(err, ErrExists) {
		res.Status = "already there"
	} else if err != nil {
		return err
	}
	remote, err := digestOf(ctx, s.remote, key)
	if err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	if remote != local {
		return fmt.Errorf("remote copy has sha256 %s, spooled %s: both kept", remote, local)
	}
	return os.Remove(filepath.Join(s.local.Dir(), filepath.FromSlash(key)))
}

// pruneDirs removes empty directories left in the spool.
func (s *Spool) pruneDirs() {
	var dirs []string
	_ = filepath.WalkDir(s.local.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != s.local.Dir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		_ = os.Remove(d) // fails, as wanted, when not empty
	}
}
