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
	_ Store       = (*Spool)(nil)
	_ Retainer    = (*Spool)(nil)
	_ Preflighter = (*Spool)(nil)
)

// CheckRetention asks the remote. A remote that cannot be reached is not a
// refusal: evidence goes to the spool, and retention applies when it is
// synced with the same settings.
func (s *Spool) CheckRetention(ctx context.Context) error {
	r, ok := s.remote.(Retainer)
	if !ok || s.Down() != nil {
		return nil
	}
	err := r.CheckRetention(ctx)
	if errors.Is(err, ErrUnreachable) {
		s.markDown(err)
		return nil
	}
	return err
}

// Preflight checks the remote. What the user must fix is returned as it is;
// a remote that cannot be reached is marked down, so that what follows goes
// straight to the spool, and its error (not permanent) is returned for the
// caller to tell.
func (s *Spool) Preflight(ctx context.Context) error {
	err := Preflight(ctx, s.remote)
	var se *StoreError
	if errors.As(err, &se) && !se.Permanent {
		s.markDown(err)
	}
	return err
}

// spoolSubdir is where the spool of one remote lives under dir.
func spoolSubdir(dir, remote string) string {
	sum := sha256.Sum256([]byte(remote))
	return filepath.Join(dir, hex.EncodeToString(sum[:8]))
}

// NewSpool wraps remote with a spool under dir (one subdirectory per remote,
// which records the remote's name in its file "remote").
func NewSpool(remote Store, dir string) (*Spool, error) {
	d := spoolSubdir(dir, remote.String())
	local, err := newSpoolStore(d)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d, "remote"), []byte(remote.String()+"\n"), 0o600); err != nil {
		return nil, spoolError(d, err)
	}
	return &Spool{remote: remote, local: local, dir: d}, nil
}

func newSpoolStore(d string) (*FileStore, error) {
	local, err := NewFileStore(filepath.Join(d, "objects"))
	var se *StoreError
	if errors.As(err, &se) {
		return nil, spoolError(d, se.Err)
	}
	return local, err
}

func spoolError(dir string, err error) error {
	return &StoreError{Store: "spool " + dir, Problem: "cannot be written", Err: err, Permanent: true,
		Hint: "give a writable directory with --spool-dir"}
}

// ExistingSpool is the spool kept for remote under dir, opened to read what
// waits in it, or nil when nothing was ever spooled for it; nothing is
// created.
func ExistingSpool(remote Store, dir string) (*Spool, error) {
	d := spoolSubdir(dir, remote.String())
	objects := filepath.Join(d, "objects")
	if _, err := os.Stat(objects); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	local, err := OpenFileStore(objects)
	if err != nil {
		return nil, err
	}
	return &Spool{remote: remote, local: local, dir: d}, nil
}

// Waiting is how many objects wait in the spool, and their bytes.
func (s *Spool) Waiting(ctx context.Context) (int, int64, error) {
	objs, err := s.local.List(ctx, "")
	if err != nil {
		return 0, 0, err
	}
	var n int64
	for _, o := range objs {
		n += o.Size
	}
	return len(objs), n, nil
}

// NewSpoolFrom is the spool kept for the remote named from (a store URL, or
// the name ListSpool shows), in front of another remote: Sync then sends
// evidence spooled for one store to another, as when the first was
// misconfigured. The spool keeps its record of the store it was made for.
func NewSpoolFrom(remote Store, dir, from string) (*Spool, error) {
	kept, err := spoolDirs(dir)
	if err != nil {
		return nil, err
	}
	want := from
	if canon, err := CanonicalURL(from, nil); err == nil {
		want = canon
	}
	var names []string
	for _, k := range kept {
		if k.remote == want || k.remote == from {
			local, err := newSpoolStore(k.dir)
			if err != nil {
				return nil, err
			}
			return &Spool{remote: remote, local: local, dir: k.dir}, nil
		}
		names = append(names, k.remote)
	}
	problem := "holds nothing for " + from
	if len(names) > 0 {
		problem += " (it holds evidence for: " + strings.Join(names, ", ") + ")"
	}
	return nil, &StoreError{Store: "spool " + dir, Problem: problem, Permanent: true,
		Hint: "give --from as firebreak evidence spool ls shows the store, and the --spool-dir it was spooled to"}
}

type keptSpool struct{ remote, dir string }

// spoolDirs are the spools of remotes under dir, by the remote each records.
func spoolDirs(dir string) ([]keptSpool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading spool %s: %w", dir, err)
	}
	var out []keptSpool
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(filepath.Join(d, "remote"))
		if err != nil {
			continue // not the spool of a remote
		}
		out = append(out, keptSpool{remote: strings.TrimSpace(string(b)), dir: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].remote < out[j].remote })
	return out, nil
}

// SpoolInfo is what waits in the spool for one remote store.
type SpoolInfo struct {
	Remote string      `json:"store"` // the store the evidence was meant for
	Dir    string      `json:"dir"`
	Cases  []SpoolCase `json:"cases"`
}

// SpoolCase is what waits in a spool for one case ("" for objects outside
// any case).
type SpoolCase struct {
	Case    string `json:"case"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// ListSpool says what waits under a spool directory, per remote store and
// case; a store for which nothing waits is left out. A spool directory that
// does not exist holds nothing; nothing is created.
func ListSpool(ctx context.Context, dir string) ([]SpoolInfo, error) {
	kept, err := spoolDirs(dir)
	if err != nil {
		return nil, err
	}
	out := []SpoolInfo{}
	for _, k := range kept {
		local, err := OpenFileStore(filepath.Join(k.dir, "objects"))
		if err != nil {
			continue // nothing was ever spooled there
		}
		objs, err := local.List(ctx, "")
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			continue
		}
		byCase := map[string]*SpoolCase{}
		for _, o := range objs {
			id := ""
			if rest, ok := strings.CutPrefix(o.Key, "cases/"); ok {
				id, _, _ = strings.Cut(rest, "/")
			}
			c := byCase[id]
			if c == nil {
				c = &SpoolCase{Case: id}
				byCase[id] = c
			}
			c.Objects++
			c.Bytes += o.Size
		}
		info := SpoolInfo{Remote: k.remote, Dir: k.dir, Cases: []SpoolCase{}}
		for _, c := range byCase {
			info.Cases = append(info.Cases, *c)
		}
		sort.Slice(info.Cases, func(i, j int) bool { return info.Cases[i].Case < info.Cases[j].Case })
		out = append(out, info)
	}
	return out, nil
}

// Remote is the store the spool is in front of.
func (s *Spool) Remote() Store { return s.remote }

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
