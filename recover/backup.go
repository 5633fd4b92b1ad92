package recover

import (
	"bufio"
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

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"firebreak/internal/fsutil"
	"firebreak/runtime"
)

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
	// A prune must not remove packs this backup finds its chunks in: the
	// repository's backup lock is held from here to Commit.
	unlock, err := r.lock(ctx, "backup")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	host, _ := os.Hostname()
	s := &Snapshot{unlock: unlock, ID: newID(time.Now()), Time: time.Now().UTC(), Container: d.Container, Runtime: rt.Name(), Host: host,
		Actor: o.Actor, Tool: o.Tool, Image: d.Image, Config: json.RawMessage(d.Raw), Live: !o.Pause && d.State == runtime.StateRunning}
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

// Commit stores each volume's file list as chunks, then the index of the
// packs this backup stored, then the snapshot's manifest and its signature
// (so that a manifest never names a chunk the index does not locate). It is
// apart from Backup so that a paused container is thawed before.
func (r *Repo) Commit(ctx context.Context, s *Snapshot) error {
	if s.unlock != nil {
		defer s.unlock()
	}
	if err := r.loadIndex(ctx); err != nil {
		return err
	}
	w := r.newPackWriter(ctx)
	cw := r.newChunkWorker(w)
	var err error
	for i := range s.Volumes {
		var ref *ListRef
		var stored int64
		if ref, stored, err = r.putList(w.ctx, cw, s.Volumes[i].Files); err != nil {
			err = fmt.Errorf("storing the file list of volume %s: %w", s.Volumes[i].Name, err)
			break
		}
		s.Volumes[i].List = ref
		s.Totals.StoredBytes += stored
	}
	if err != nil {
		cw.p.discard()
	} else {
		err = cw.p.flush()
	}
	if err = firstCause(ctx, err, w.wait()); err != nil {
		return err
	}
	n, err := r.writeIndex(ctx)
	if err != nil {
		return err
	}
	s.Totals.StoredBytes += n
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	s.Totals.ManifestSize = int64(len(b))
	if b, err = json.MarshalIndent(s, "", " "); err != nil {
		return err
	}
	// The signature is over the plain manifest; an encrypted repository
	// stores it sealed, and names no container in the object's metadata.
	meta := map[string]string{"container": s.Container.ID}
	stored := b
	if r.seal != nil {
		meta, stored = nil, r.seal.seal(nil, b, manifestAD(s.ID))
	}
	if _, err := r.store.Put(ctx, manifestKey(s.ID), bytes.NewReader(stored), meta); err != nil {
		return fmt.Errorf("storing snapshot %s: %w", s.ID, err)
	}
	sig := hex.EncodeToString(r.signer.Sign(b))
	if _, err := r.store.Put(ctx, manifestKey(s.ID)+".sig", bytes.NewReader([]byte(sig+"\n")), nil); err != nil {
		return fmt.Errorf("storing the signature of snapshot %s: %w", s.ID, err)
	}
	return nil
}

// putList stores a file list's JSON as chunks (the same list makes the
// same chunks, so an unchanged volume adds nothing). The JSON is made
// entry by entry while it is chunked (the same bytes as json.Marshal of the
// list), never whole in memory.
func (r *Repo) putList(ctx context.Context, cw *chunkWorker, files []Entry) (*ListRef, int64, error) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := writeList(bw, files)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	h := sha256.New()
	ref := &ListRef{Entries: len(files)}
	stored, err := cw.store(ctx, io.TeeReader(pr, h), func(key string, _ []byte, _ int64) {
		ref.Chunks = append(ref.Chunks, key)
	})
	pr.CloseWithError(errors.New("file list not stored"))
	<-done
	if err != nil {
		return nil, 0, err
	}
	ref.SHA256 = hex.EncodeToString(h.Sum(nil))
	return ref, stored, nil
}

// writeList writes the JSON of a file list, one entry at a time.
func writeList(w io.Writer, files []Entry) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i := range files {
		b, err := json.Marshal(&files[i])
		if err != nil {
			return err
		}
		if i > 0 {
			b = append([]byte{','}, b...)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]")
	return err
}

// previous is what the container's last snapshot holds of each volume's
// regular files, by volume and path: a file whose size and modification
// time are unchanged is taken from it without being read again (as restic
// does). The lists are decoded entry by entry into only what that takes.
// A snapshot that cannot be read is no previous one.
func (r *Repo) previous(ctx context.Context, containerID string) map[string]*previousVolume {
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
	if err != nil {
		return nil
	}
	out := map[string]*previousVolume{}
	for _, v := range full.Volumes {
		if v.List == nil {
			return nil
		}
		pv := &previousVolume{entries: v.List.Entries, files: map[string]previousFile{}}
		err := r.streamList(ctx, v.List, func(e *Entry) {
			if e.Type == "file" {
				pv.files[entryPath(*e)] = previousFile{size: e.Size, mtime: e.MTime.UnixNano(), sha: e.SHA256, chunks: e.Chunks}
			}
		})
		if err != nil {
			return nil
		}
		out[v.Name] = pv
	}
	return out
}

// previousVolume is a volume's regular files in the last snapshot, and how
// many entries its list had.
type previousVolume struct {
	entries int
	files   map[string]previousFile
}

type previousFile struct {
	size   int64
	mtime  int64 // ns
	sha    string
	chunks []string
}

func (r *Repo) backupVolume(ctx context.Context, m runtime.Mount, prev *previousVolume, t *Totals) (Volume, error) {
	v := Volume{Name: volumeName(m), Type: m.Type, Source: m.Source, Destination: m.Destination, Files: []Entry{}}
	if prev == nil {
		prev = &previousVolume{}
	} else {
		v.Files = make([]Entry, 0, prev.entries+prev.entries/16+16) // about as many as last time
	}
	root, err := os.OpenRoot(m.Source)
	if err != nil {
		return v, err
	}
	defer root.Close()
	links := map[[2]uint64]string{} // (dev, ino) of files with more than one link -> first path
	// Files are read and stored by a few workers while the walk goes on,
	// each into a pack of its own (a file's chunks stay together), while
	// full packs upload. A worker fills the entry the walk listed, so the
	// list keeps the walk's order; mu guards the list and the totals.
	type job struct {
		i  int
		p  string
		id fileID // the file the walk saw
	}
	var mu sync.Mutex
	// note says an entry changed while the volume was read (mu held);
	// notes are kept up to maxNotes, the rest counted.
	note := func(p, why string) {
		v.Changed++
		if len(v.Notes) < maxNotes {
			v.Notes = append(v.Notes, p+": changed while read ("+why+"): left out")
		}
	}
	w := r.newPackWriter(ctx)
	wg, wctx := errgroup.WithContext(w.ctx)
	next := make(chan job)
	workers := make([]*chunkWorker, backupWorkers)
	for i := range workers {
		cw := r.newChunkWorker(w)
		workers[i] = cw
		wg.Go(func() error {
			for j := range next {
				var own Totals
				var got Entry
				if err := r.backupFile(wctx, cw, root, j.p, j.id, &got, &own); err != nil {
					var ch *changedError
					if !errors.As(err, &ch) {
						return fmt.Errorf("%s: %w", j.p, err)
					}
					// Gone or replaced since the walk listed it: left
					// out (its chunks stored so far are only unused).
					mu.Lock()
					v.Files[j.i].Type = ""
					note(j.p, ch.why)
					mu.Unlock()
					continue
				}
				mu.Lock()
				e := &v.Files[j.i]
				e.Size, e.SHA256, e.Chunks, e.Xattrs = got.Size, got.SHA256, got.Chunks, got.Xattrs
				t.Chunks += own.Chunks
				t.NewChunks += own.NewChunks
				t.StoredBytes += own.StoredBytes
				t.Bytes += own.Bytes
				mu.Unlock()
			}
			return cw.p.flush()
		})
	}
	walkErr := fs.WalkDir(root.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil && p != "." && errors.Is(err, fs.ErrNotExist) {
			// Gone between its parent's listing and its own: a live
			// volume's churn, not a failure (a directory read that failed
			// so leaves it listed, empty).
			mu.Lock()
			note(p, "removed before it was read")
			mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		if err := wctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			mu.Lock()
			note(p, "removed before it was read")
			mu.Unlock()
			return nil
		}
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
		read := false
		switch mode := fi.Mode(); {
		case mode.IsDir():
			e.Type = "dir"
			e.Xattrs = xattrsAt(root, p)
		case mode&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = root.Readlink(p); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EINVAL) {
				mu.Lock()
				note(p, "removed or replaced before it was read")
				mu.Unlock()
				return nil
			} else if err != nil {
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
			if was, ok := prev.files[p]; ok && was.size == fi.Size() && was.mtime == e.MTime.UnixNano() && fi.Size() > 0 {
				// Unchanged since the last snapshot: its chunks are there.
				e.Size, e.SHA256, e.Chunks, e.Xattrs = was.size, was.sha, was.chunks, pathXattrs(root, p)
				mu.Lock()
				t.Chunks += len(e.Chunks)
				t.Bytes += e.Size
				t.Unchanged++
				mu.Unlock()
				break
			}
			read = true
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
		mu.Lock()
		t.Files++
		v.Files = append(v.Files, e)
		i := len(v.Files) - 1
		mu.Unlock()
		if !read {
			return nil
		}
		j := job{i: i, p: p}
		if st != nil {
			j.id = fileID{dev: uint64(st.Dev), ino: st.Ino}
		}
		select {
		case next <- j:
			return nil
		case <-wctx.Done():
			return wctx.Err()
		}
	})
	if walkErr != nil {
		w.cancel()
	}
	close(next)
	// A worker's error caused the walk's cancel, and a failed upload the
	// workers': the first that is not a cancel another caused is the cause.
	err = wg.Wait()
	if err != nil || walkErr != nil {
		w.cancel()
	}
	err = firstCause(ctx, err, walkErr, w.wait())
	if err == nil {
		var dropped int
		v.Files, dropped = dropChanged(v.Files, note)
		t.Files -= dropped
	}
	if err != nil {
		for _, cw := range workers {
			cw.p.discard() // what was not sent gives its chunks back
		}
	}
	return v, err
}

// maxNotes bounds the notes a volume keeps of entries that changed while it
// was read (Volume.Changed counts them all).
const maxNotes = 100

// changedError says a file listed by the walk was gone or replaced by
// another file when it was read: a live volume's churn, left out of the
// snapshot with a note, not a failure.
type changedError struct{ why string }

func (e *changedError) Error() string { return "changed while read (" + e.why + ")" }

// dropChanged takes out of a volume's list the entries a worker found
// changed (their Type emptied), and the hard links to them (noted), and
// returns how many it took out.
func dropChanged(files []Entry, note func(p, why string)) ([]Entry, int) {
	gone := map[string]bool{}
	out := files[:0]
	for _, e := range files {
		switch {
		case e.Type == "":
			gone[e.Path] = true
			continue
		case e.Type == "hardlink" && gone[e.Link]: // links name the first path
			note(e.Path, "a hard link to "+e.Link+", which was left out")
			continue
		}
		out = append(out, e)
	}
	return out, len(files) - len(out)
}

// firstCause is the error that caused the others: the first of errs that
// is not a cancel (a failed upload cancels the readers, a failed reader
// the walk), or ctx's cause when ctx itself ended; nil when all are nil.
func firstCause(ctx context.Context, errs ...error) error {
	var canceled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			if canceled == nil {
				canceled = err
			}
		default:
			return err
		}
	}
	if canceled != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return canceled
}

// fileID is a file's device and inode.
type fileID struct{ dev, ino uint64 }

// backupFile chunks one regular file. It is opened without following a
// link and checked to be the file the walk saw (a swap is refused).

func (r *Repo) backupFile(ctx context.Context, cw *chunkWorker, root *os.Root, p string, want fileID, e *Entry, t *Totals) error {
	// O_PATH first: nothing of the file (a device swapped in runs its
	// driver on open) is touched before it is known to be the regular file
	// the walk saw; then it is opened for reading through that handle.
	ph, err := root.OpenFile(p, unix.O_PATH|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &changedError{why: "removed before it was read"}
	}
	if err != nil {
		return err
	}
	var st syscall.Stat_t
	err = syscall.Fstat(int(ph.Fd()), &st)
	switch {
	case err != nil:
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		err = errors.New("replaced while it was read (a link or device swapped in): refused")
	case want != (fileID{}) && (st.Ino != want.ino || uint64(st.Dev) != want.dev):
		// Another regular file under the name (a rename over it): the
		// churn of a live volume; what the walk saw of it is not this.
		err = &changedError{why: "replaced by another file before it was read"}
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
	// The whole file's digest is its chunk's when it is one chunk (a file
	// no longer than the least chunk is), else it is hashed as it is read.
	whole := sha256.New()
	hashed := st.Size > chunkMinSize
	// Read no more than its size at open: a file the container keeps
	// writing does not keep the backup (and a paused service) waiting.
	_, err = cw.store(ctx, io.LimitReader(f, st.Size), func(key string, data []byte, stored int64) {
		if hashed {
			whole.Write(data)
		}
		e.Chunks = append(e.Chunks, key)
		e.Size += int64(len(data))
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
	switch {
	case len(e.Chunks) == 1:
		e.SHA256 = e.Chunks[0]
	case hashed || len(e.Chunks) == 0:
		e.SHA256 = hex.EncodeToString(whole.Sum(nil))
	default:
		return errors.New("grew past its size while it was read: refused") // not reached: LimitReader
	}
	return nil
}

// backupWorkers read and store files at once (the chunking, hashing and
// compression use a core each).
const backupWorkers = 2

// chunkMin is the least chunk a restore allows for all but a file's last:
// the chunker's least (version 1 repositories cut at 512 KiB, more).
const chunkMin = chunkMinSize

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
