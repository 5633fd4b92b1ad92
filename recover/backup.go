package recover

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"firebreak/evidence"
	"firebreak/internal/fsutil"
	"firebreak/runtime"
)

// Repo is where snapshots and chunks live: an evidence store (the same
// local directory or S3 bucket as the cases), with the signing key.
type Repo struct {
	store  evidence.Store
	signer *evidence.Signer
	pol    chunker.Pol

	mu   sync.Mutex
	have map[string]bool // chunks known to be in the store
}

type repoConfig struct {
	Version    int         `json:"version"`
	Polynomial chunker.Pol `json:"polynomial"` // of the content-defined chunker: same data, same chunks
}

// OpenRepo opens the backups of a store, making its configuration (the
// chunker's polynomial) on first use. Without a signer it only reads: a
// store with no backups yet is then empty, and nothing is written.
func OpenRepo(ctx context.Context, store evidence.Store, signer *evidence.Signer) (*Repo, error) {
	r := &Repo{store: store, signer: signer, have: map[string]bool{}}
	cfg, err := readConfig(ctx, store)
	if errors.Is(err, evidence.ErrNotFound) && signer == nil {
		return r, nil
	}
	if errors.Is(err, evidence.ErrNotFound) {
		pol, perr := chunker.RandomPolynomial()
		if perr != nil {
			return nil, perr
		}
		b, _ := json.Marshal(repoConfig{Version: 1, Polynomial: pol})
		_, err = store.Put(ctx, configKey, bytes.NewReader(b), nil)
		if errors.Is(err, evidence.ErrExists) { // another backup made it first
			cfg, err = readConfig(ctx, store)
		} else if err == nil {
			cfg = repoConfig{Version: 1, Polynomial: pol}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup configuration in %s: %w", store, err)
	}
	r.pol = cfg.Polynomial
	return r, nil
}

func readConfig(ctx context.Context, store evidence.Store) (repoConfig, error) {
	var cfg repoConfig
	rc, err := store.Get(ctx, configKey)
	if err != nil {
		return cfg, err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s is damaged: %w", configKey, err)
	}
	if !cfg.Polynomial.Irreducible() {
		return cfg, fmt.Errorf("%s names a polynomial the chunker cannot use", configKey)
	}
	return cfg, nil
}

// BackupOptions say what a backup takes.
type BackupOptions struct {
	Volumes      []string // names (or destinations) of the volumes to take; none means all
	IncludeBinds bool     // bind mounts too (host directories)
	Pause        bool     // freeze the container while its files are read
	Actor, Tool  string
}

// Backup takes one container: its configuration and the files of its
// volumes. Every file is read through a root confined to its volume, never
// following a link; each chunk is stored once.
func (r *Repo) Backup(ctx context.Context, rt runtime.Runtime, target runtime.Container, o BackupOptions) (snap *Snapshot, err error) {
	if r.signer == nil {
		return nil, errors.New("this store was opened only to read: no backup can be taken")
	}
	d, err := runtime.CheckSame(ctx, rt, target)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	s := &Snapshot{ID: newID(time.Now()), Time: time.Now().UTC(), Container: d.Container, Runtime: rt.Name(), Host: host,
		Actor: o.Actor, Tool: o.Tool, Image: d.Image, Config: json.RawMessage(d.Raw), Live: !o.Pause}
	if len(s.Config) == 0 {
		s.Config = json.RawMessage("null")
	}
	var mounts []runtime.Mount
	for _, m := range d.Security.Mounts {
		if m.Type != "volume" && !(m.Type == "bind" && o.IncludeBinds) {
			continue
		}
		if len(o.Volumes) > 0 && !contains(o.Volumes, volumeName(m)) && !contains(o.Volumes, m.Destination) {
			continue
		}
		mounts = append(mounts, m)
	}
	for _, want := range o.Volumes {
		found := false
		for _, m := range mounts {
			found = found || volumeName(m) == want || m.Destination == want
		}
		if !found {
			return nil, fmt.Errorf("%s has no volume %q (volumes: %s)", d.ShortID(), want, volumeList(d.Security.Mounts))
		}
	}
	if o.Pause && d.State == runtime.StateRunning {
		start := time.Now()
		if err := rt.Pause(ctx, d.ID); err != nil {
			return nil, fmt.Errorf("freezing %s for the backup: %w", d.ShortID(), err)
		}
		defer func() {
			// It was running: it runs again, or the error says it does not.
			if uerr := rt.Unpause(context.WithoutCancel(ctx), d.ID); uerr != nil {
				err = errors.Join(err, fmt.Errorf("thawing %s after the backup: %w (it is still frozen: docker unpause %s)", d.ShortID(), uerr, d.ShortID()))
			}
			s.FreezeMS = time.Since(start).Milliseconds()
		}()
	}
	prev := r.previous(ctx, d.ID)
	for _, m := range mounts {
		v, err := r.backupVolume(ctx, m, prev[volumeName(m)], &s.Totals)
		if err != nil {
			return nil, fmt.Errorf("volume %s of %s: %w", volumeName(m), d.ShortID(), err)
		}
		s.Volumes = append(s.Volumes, v)
	}
	return s, nil
}

// Commit stores each volume's file list as chunks, then the snapshot's
// manifest and its signature. It is apart from Backup so that a paused
// container is thawed before.
func (r *Repo) Commit(ctx context.Context, s *Snapshot) error {
	for i := range s.Volumes {
		ref, stored, err := r.putList(ctx, s.Volumes[i].Files)
		if err != nil {
			return fmt.Errorf("storing the file list of volume %s: %w", s.Volumes[i].Name, err)
		}
		s.Volumes[i].List = ref
		s.Totals.StoredBytes += stored
	}
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	s.Totals.ManifestSize = int64(len(b))
	if b, err = json.MarshalIndent(s, "", " "); err != nil {
		return err
	}
	if _, err := r.store.Put(ctx, manifestKey(s.ID), bytes.NewReader(b), map[string]string{"container": s.Container.ID}); err != nil {
		return fmt.Errorf("storing snapshot %s: %w", s.ID, err)
	}
	sig := hex.EncodeToString(r.signer.Sign(b))
	if _, err := r.store.Put(ctx, manifestKey(s.ID)+".sig", bytes.NewReader([]byte(sig+"\n")), nil); err != nil {
		return fmt.Errorf("storing the signature of snapshot %s: %w", s.ID, err)
	}
	return nil
}

// putList stores a file list's JSON as chunks (the same list makes the
// same chunks, so an unchanged volume adds nothing).
func (r *Repo) putList(ctx context.Context, files []Entry) (*ListRef, int64, error) {
	if files == nil {
		files = []Entry{}
	}
	b, err := json.Marshal(files)
	if err != nil {
		return nil, 0, err
	}
	sum := sha256.Sum256(b)
	ref := &ListRef{Entries: len(files), SHA256: hex.EncodeToString(sum[:])}
	stored, err := r.storeChunks(ctx, bytes.NewReader(b), func(key string, _ int, _ int64) {
		ref.Chunks = append(ref.Chunks, key)
	})
	if err != nil {
		return nil, 0, err
	}
	return ref, stored, nil
}

// previous is the file lists of the container's last snapshot, by volume
// and path: a file whose size and modification time are unchanged is taken
// from it without being read again (as restic does). A snapshot that cannot
// be read is no previous one.
func (r *Repo) previous(ctx context.Context, containerID string) map[string]map[string]Entry {
	snaps, err := r.List(ctx)
	if err != nil {
		return nil
	}
	var last *Snapshot
	for i := range snaps {
		if snaps[i].Container.ID == containerID {
			last = &snaps[i]
		}
	}
	if last == nil {
		return nil
	}
	full, _, err := r.Load(ctx, last.ID, r.signer.Pub)
	if err != nil || r.LoadFiles(ctx, full) != nil {
		return nil
	}
	out := map[string]map[string]Entry{}
	for _, v := range full.Volumes {
		m := map[string]Entry{}
		for _, e := range v.Files {
			if e.Type == "file" {
				m[entryPath(e)] = e
			}
		}
		out[v.Name] = m
	}
	return out
}

func (r *Repo) backupVolume(ctx context.Context, m runtime.Mount, prev map[string]Entry, t *Totals) (Volume, error) {
	v := Volume{Name: volumeName(m), Type: m.Type, Source: m.Source, Destination: m.Destination, Files: []Entry{}}
	root, err := os.OpenRoot(m.Source)
	if err != nil {
		return v, err
	}
	defer root.Close()
	links := map[[2]uint64]string{} // (dev, ino) of files with more than one link -> first path
	// Files are read and stored by a few workers while the walk goes on;
	// each fills its own entry, so the list keeps the walk's order.
	type job struct {
		i  int
		p  string
		st *syscall.Stat_t
	}
	var (
		jobs []job
		tmu  sync.Mutex
	)
	err = fs.WalkDir(root.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := root.Lstat(p)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		e := Entry{Path: p, Mode: uint32(fi.Mode().Perm()) | fsutil.SpecialBits(fi.Mode()), MTime: fi.ModTime().UTC()}
		if !utf8.ValidString(p) {
			e.PathB64 = base64.StdEncoding.EncodeToString([]byte(p))
		}
		if st != nil {
			e.UID, e.GID = int(st.Uid), int(st.Gid)
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			e.Type = "dir"
			e.Xattrs = xattrsAt(root, p)
		case mode&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = root.Readlink(p); err != nil {
				return err
			}
		case mode.IsRegular():
			if st != nil && st.Nlink > 1 {
				k := [2]uint64{uint64(st.Dev), st.Ino}
				if first, ok := links[k]; ok {
					e.Type, e.Link = "hardlink", first
					break
				}
				links[k] = p
			}
			e.Type = "file"
			if was, ok := prev[p]; ok && was.Size == fi.Size() && was.MTime.Equal(e.MTime) && fi.Size() > 0 {
				// Unchanged since the last snapshot: its chunks are there.
				e.Size, e.SHA256, e.Chunks, e.Xattrs = was.Size, was.SHA256, was.Chunks, pathXattrs(root, p)
				t.Chunks += len(e.Chunks)
				t.Bytes += e.Size
				t.Unchanged++
				break
			}
			jobs = append(jobs, job{i: len(v.Files), p: p, st: st})
		case mode&fs.ModeNamedPipe != 0:
			e.Type = "fifo"
		case mode&fs.ModeSocket != 0:
			e.Type = "socket"
		case mode&fs.ModeCharDevice != 0:
			e.Type = "char"
			if st != nil {
				e.Rdev = uint64(st.Rdev)
			}
		case mode&fs.ModeDevice != 0:
			e.Type = "block"
			if st != nil {
				e.Rdev = uint64(st.Rdev)
			}
		default:
			e.Type = "other"
		}
		t.Files++
		v.Files = append(v.Files, e)
		return nil
	})
	if err != nil {
		return v, err
	}
	var g errgroup.Group
	g.SetLimit(backupWorkers)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, j := range jobs {
		g.Go(func() error {
			var own Totals
			e := &v.Files[j.i]
			if err := r.backupFile(gctx, root, j.p, j.st, e, &own); err != nil {
				cancel()
				return fmt.Errorf("%s: %w", j.p, err)
			}
			tmu.Lock()
			t.Chunks += own.Chunks
			t.NewChunks += own.NewChunks
			t.StoredBytes += own.StoredBytes
			t.Bytes += own.Bytes
			tmu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	return v, err
}

// backupFile chunks one regular file. It is opened without following a
// link and checked to be the file the walk saw (a swap is refused).
func (r *Repo) backupFile(ctx context.Context, root *os.Root, p string, want *syscall.Stat_t, e *Entry, t *Totals) error {
	// O_PATH first: nothing of the file (a device swapped in runs its
	// driver on open) is touched before it is known to be the regular file
	// the walk saw; then it is opened for reading through that handle.
	ph, err := root.OpenFile(p, unix.O_PATH|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	var st syscall.Stat_t
	err = syscall.Fstat(int(ph.Fd()), &st)
	if err == nil && (st.Mode&syscall.S_IFMT != syscall.S_IFREG || want != nil && (st.Ino != want.Ino || st.Dev != want.Dev)) {
		err = errors.New("replaced while it was read (a link, device or file swapped in): refused")
	}
	if err != nil {
		ph.Close()
		return err
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", ph.Fd()), os.O_RDONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	ph.Close()
	if err != nil {
		return err
	}
	defer f.Close()
	e.Xattrs = xattrsOf(int(f.Fd()))
	whole := sha256.New()
	// Read no more than its size at open: a file the container keeps
	// writing does not keep the backup (and a paused service) waiting.
	_, err = r.storeChunks(ctx, io.TeeReader(io.LimitReader(f, st.Size), whole), func(key string, n int, stored int64) {
		e.Chunks = append(e.Chunks, key)
		e.Size += int64(n)
		t.Chunks++
		if stored > 0 {
			t.NewChunks++
			t.StoredBytes += stored
		}
	})
	if err != nil {
		return err
	}
	t.Bytes += e.Size
	e.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return nil
}

// storeChunks splits rd by content and stores each chunk once, telling
// each chunk's digest, plain size and the bytes it took in the store (0
// when it was there already). It returns the bytes stored.
func (r *Repo) storeChunks(ctx context.Context, rd io.Reader, each func(key string, n int, stored int64)) (int64, error) {
	var total int64
	ch := chunker.New(rd, r.pol)
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		c, err := ch.Next(buf)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		sum := sha256.Sum256(c.Data)
		key := hex.EncodeToString(sum[:])
		stored, err := r.putChunk(ctx, key, c.Data)
		if err != nil {
			return total, err
		}
		total += stored
		each(key, int(c.Length), stored)
	}
}

// chunkBufs are the chunker's buffers (8 MiB each), reused across files.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunker.MaxSize); return &b }}

// backupWorkers read and store files at once: a chunk buffer of 8 MiB
// each, and the store's round trips overlap.
const backupWorkers = 2

// chunkMin is the chunker's least chunk (all but a file's last are at least
// this long).
const chunkMin = chunker.MinSize

var encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))

// putChunk stores a chunk once: known ones (from this run, or found in the
// store) are not sent again. It returns the bytes stored, 0 when it was
// there already.
func (r *Repo) putChunk(ctx context.Context, key string, data []byte) (int64, error) {
	r.mu.Lock()
	known := r.have[key]
	r.mu.Unlock()
	if known {
		return 0, nil
	}
	if _, err := r.store.Stat(ctx, chunkKey(key)); err == nil {
		r.remember(key)
		return 0, nil
	} else if !errors.Is(err, evidence.ErrNotFound) {
		return 0, err
	}
	z := encoder.EncodeAll(data, nil)
	_, err := r.store.Put(ctx, chunkKey(key), bytes.NewReader(z), nil)
	if errors.Is(err, evidence.ErrExists) {
		r.remember(key)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storing chunk %.12s: %w", key, err)
	}
	r.remember(key)
	return int64(len(z)), nil
}

func (r *Repo) remember(key string) {
	r.mu.Lock()
	r.have[key] = true
	r.mu.Unlock()
}

func xattrsAt(root *os.Root, p string) map[string][]byte {
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	return xattrsOf(int(f.Fd()))
}

// pathXattrs reads a file's extended attributes without opening it for
// reading (an O_PATH handle, read through its /proc/self/fd link).
func pathXattrs(root *os.Root, p string) map[string][]byte {
	f, err := root.OpenFile(p, unix.O_PATH|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	link := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	return readXattrs(func(b []byte) (int, error) { return unix.Listxattr(link, b) },
		func(name string, b []byte) (int, error) { return unix.Getxattr(link, name, b) })
}

// xattrsOf reads every extended attribute of an open file.
func xattrsOf(fd int) map[string][]byte {
	return readXattrs(func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(name string, b []byte) (int, error) { return unix.Fgetxattr(fd, name, b) })
}

// readXattrs lists the attribute names and reads each value (sized first)
// through list and get; nil when there are none or they cannot be read.
func readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) map[string][]byte {
	size, err := list(nil)
	if err != nil || size <= 0 {
		return nil
	}
	buf := make([]byte, size)
	n, err := list(buf)
	if err != nil {
		return nil
	}
	out := map[string][]byte{}
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		vs, err := get(string(name), nil)
		if err != nil || vs < 0 {
			continue
		}
		val := make([]byte, vs)
		if vs > 0 {
			if vs, err = get(string(name), val); err != nil {
				continue
			}
		}
		out[string(name)] = val[:vs]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func volumeName(m runtime.Mount) string {
	if m.Name != "" {
		return m.Name
	}
	return m.Source
}

func volumeList(ms []runtime.Mount) string {
	var out []string
	for _, m := range ms {
		if m.Type == "volume" {
			out = append(out, volumeName(m))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return fmt.Sprint(out)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func newID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
