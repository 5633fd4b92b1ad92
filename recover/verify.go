package recover

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"firebreak/evidence"
)

// maxManifest bounds what is read of a manifest (a million entries of a few
// hundred bytes each).
const maxManifest = 1 << 30

// Load reads a snapshot's manifest and checks its signature against the
// trusted key (nil: not checked). A manifest that does not verify is an
// error naming it.
func (r *Repo) Load(ctx context.Context, id string, trusted ed25519.PublicKey) (*Snapshot, []byte, error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	b, err := readAll(ctx, r.store, manifestKey(id), maxManifest)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil, nil, fmt.Errorf("no snapshot %s in %s (`firebreak backup ls` lists them): %w", id, r.store, evidence.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	if b, err = r.seal.open(nil, b, manifestAD(id)); err != nil {
		return nil, nil, &VerifyError{ID: id, Problems: []string{"manifest.json " + err.Error()}}
	}
	if trusted != nil {
		sig, err := readAll(ctx, r.store, manifestKey(id)+".sig", 1024)
		if err != nil {
			return nil, nil, &VerifyError{ID: id, Problems: []string{"signature: " + err.Error()}}
		}
		raw, err := hex.DecodeString(strings.TrimSpace(string(sig)))
		if err != nil || !ed25519.Verify(trusted, b, raw) {
			return nil, nil, &VerifyError{ID: id, Problems: []string{"manifest.json: the signature does not verify under the trusted key (altered, or signed by another key)"}}
		}
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, &VerifyError{ID: id, Problems: []string{"manifest.json is damaged: " + err.Error()}}
	}
	if s.ID != id {
		return nil, nil, &VerifyError{ID: id, Problems: []string{fmt.Sprintf("manifest.json names snapshot %q, stored as %s", s.ID, id)}}
	}
	return &s, b, nil
}

// LoadFiles reads the file list of every volume of a loaded snapshot,
// checking the list's digest (which the signed manifest names). The list
// is decoded as its chunks arrive, never whole in memory as JSON.
func (r *Repo) LoadFiles(ctx context.Context, s *Snapshot) error {
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.List == nil {
			return &VerifyError{ID: s.ID, Problems: []string{"volume " + v.Name + " has no file list"}}
		}
		files, err := r.loadList(ctx, v.List)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &VerifyError{ID: s.ID, Problems: []string{"file list of " + v.Name + ": " + err.Error()}}
		}
		v.Files = files
	}
	return nil
}

func (r *Repo) loadList(ctx context.Context, ref *ListRef) ([]Entry, error) {
	files := make([]Entry, 0, min(max(ref.Entries, 0), 1<<20))
	err := r.streamList(ctx, ref, func(e *Entry) { files = append(files, *e) })
	if err != nil {
		return nil, err
	}
	return files, nil
}

// streamList decodes a stored file list entry by entry, giving each to
// each (not to be kept: the next is decoded into it). The entries are
// trusted only once it returns nil: the list's digest is known at its end.
func (r *Repo) streamList(ctx context.Context, ref *ListRef, each func(*Entry)) error {
	b, err := r.newFeed(ctx, false)
	if err != nil {
		return err
	}
	for _, c := range ref.Chunks {
		b.add(c)
	}
	f := b.start(ctx)
	defer f.close()
	h := sha256.New()
	lim := &io.LimitedReader{R: &feedReader{f: f, sums: ref.Chunks}, N: maxManifest + 1}
	rd := io.TeeReader(lim, h)
	n, derr := decodeList(rd, each)
	// The rest is hashed too: a list whose digest is not the manifest's is
	// named altered, whatever its JSON.
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return err
	}
	if lim.N <= 0 {
		return errors.New("too large")
	}
	if hex.EncodeToString(h.Sum(nil)) != ref.SHA256 {
		return errors.New("its digest is not the manifest's (altered)")
	}
	if derr != nil || n != ref.Entries {
		return errors.New("damaged")
	}
	return nil
}

// decodeList decodes a list's JSON array entry by entry, returning how
// many it held.
func decodeList(rd io.Reader, each func(*Entry)) (int, error) {
	dec := json.NewDecoder(rd)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return 0, errors.New("not a list")
	}
	n := 0
	for dec.More() {
		var e Entry
		if err := dec.Decode(&e); err != nil {
			return n, err
		}
		intern(&e)
		each(&e)
		n++
	}
	if _, err := dec.Token(); err != nil {
		return n, err
	}
	return n, nil
}

// intern shares the strings an entry repeats: its type's name, and the
// digest of a file of one chunk (the chunk's).
func intern(e *Entry) {
	for _, t := range entryTypes {
		if e.Type == t {
			e.Type = t
			break
		}
	}
	if len(e.Chunks) == 1 && e.Chunks[0] == e.SHA256 {
		e.Chunks[0] = e.SHA256
	}
}

var entryTypes = []string{"file", "dir", "symlink", "hardlink", "fifo", "socket", "char", "block", "other"}

// List returns the snapshots of the store, oldest first, without their
// file lists (signatures are not checked: see Verify). A snapshot whose
// manifest cannot be read as one (damaged, sealed for another place,
// naming another ID) is left out, so that one damaged snapshot does not
// hide the others: ListAll names those. A store that cannot be read is an
// error.
func (r *Repo) List(ctx context.Context) ([]Snapshot, error) {
	snaps, _, err := r.ListAll(ctx)
	return snaps, err
}

// ListAll is List with the snapshots it leaves out, each a *VerifyError
// saying what is wrong with its manifest, in the store's order.
func (r *Repo) ListAll(ctx context.Context) ([]Snapshot, []*VerifyError, error) {
	objs, err := r.store.List(ctx, backupsPrefix)
	if err != nil {
		return nil, nil, err
	}
	var out []Snapshot
	var damaged []*VerifyError
	for _, o := range objs {
		id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, backupsPrefix), "/manifest.json")
		if !ok || strings.Contains(id, "/") {
			continue
		}
		s, _, err := r.Load(ctx, id, nil)
		var ve *VerifyError
		if errors.As(err, &ve) {
			damaged = append(damaged, ve)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, damaged, nil
}

// VerifyError says a snapshot does not verify, with every difference.
type VerifyError struct {
	ID       string
	Problems []string
}

// Error names the first problems (Problems has them all).
func (e *VerifyError) Error() string {
	const shown = 20
	if len(e.Problems) <= shown {
		return fmt.Sprintf("snapshot %s does not verify: %s", e.ID, strings.Join(e.Problems, "; "))
	}
	return fmt.Sprintf("snapshot %s does not verify: %s; and %d more", e.ID, strings.Join(e.Problems[:shown], "; "), len(e.Problems)-shown)
}

// Verify re-reads every chunk of a snapshot: each decompresses to bytes
// with its own digest, each file's chunks make its size and digest, and the
// manifest's signature holds under the trusted key. It returns the files
// and bytes checked, and a *VerifyError naming every difference. The
// objects that hold the chunks are read a few at once, each once; each
// file list is read twice (to plan the reading, then to check the files as
// their chunks come), never held whole.
func (r *Repo) Verify(ctx context.Context, id string, trusted ed25519.PublicKey) (files int, bytesRead int64, err error) {
	s, _, err := r.Load(ctx, id, trusted)
	if err != nil {
		return 0, 0, err
	}
	var problems []string
	for _, v := range s.Volumes {
		if v.List == nil {
			return files, bytesRead, &VerifyError{ID: s.ID, Problems: []string{"volume " + v.Name + " has no file list"}}
		}
		list := func(each func(*Entry)) error {
			if err := r.streamList(ctx, v.List, each); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return &VerifyError{ID: s.ID, Problems: []string{"file list of " + v.Name + ": " + err.Error()}}
			}
			return nil
		}
		n, b, p, err := r.verifyVolume(ctx, v.Name, list)
		files, bytesRead, problems = files+n, bytesRead+b, append(problems, p...)
		var ve *VerifyError
		if errors.As(err, &ve) { // its list unread: the other volumes are checked still
			problems = append(problems, ve.Problems...)
		} else if err != nil {
			return files, bytesRead, err
		}
	}
	if d := r.idx.damagedIndex(); len(problems) > 0 && len(d) > 0 {
		problems = append([]string{"index objects that could not be read: " + strings.Join(d, "; ")}, problems...)
	}
	if len(problems) > maxProblems {
		problems = append(problems[:maxProblems], fmt.Sprintf("and %d more differences", len(problems)-maxProblems))
	}
	if len(problems) > 0 {
		return files, bytesRead, &VerifyError{ID: id, Problems: problems}
	}
	return files, bytesRead, nil
}

// maxProblems bounds the differences a verify names (the rest are
// counted), and maxChunkProblems those of one file's chunks.
const (
	maxProblems      = 1000
	maxChunkProblems = 10
)

// entriesOf lists a volume's entries held in memory, as list does a
// stored list.
func entriesOf(files []Entry) func(func(*Entry)) error {
	return func(each func(*Entry)) error {
		for i := range files {
			each(&files[i])
		}
		return nil
	}
}

// verifyVolume checks a volume's files, listed by list (called twice: to
// plan the reading of their chunks, then to check them as they come).
func (r *Repo) verifyVolume(ctx context.Context, name string, list func(func(*Entry)) error) (files int, bytesRead int64, problems []string, err error) {
	b, err := r.newFeed(ctx, true)
	if err != nil {
		return 0, 0, nil, err
	}
	if err := list(func(e *Entry) {
		if e.Type == "file" {
			for _, c := range e.Chunks {
				b.add(c)
			}
		}
	}); err != nil {
		return 0, 0, nil, err
	}
	f := b.start(ctx)
	defer f.close()
	var stop error
	err = list(func(e *Entry) {
		if e.Type != "file" || stop != nil {
			return
		}
		files++
		// A file of one chunk has that chunk's digest: checked as it was
		// read. Others are hashed whole.
		single := len(e.Chunks) == 1
		h := sha256.New()
		var size int64
		var bad []string // each bad chunk, with the object that holds it
		nbad := 0
		for _, c := range e.Chunks {
			data, n, err := f.next(c, !single)
			if ctx.Err() != nil {
				stop = ctx.Err()
				return
			}
			if err != nil {
				if nbad++; len(bad) < maxChunkProblems {
					bad = append(bad, fmt.Sprintf("%s/%s: chunk %.12s in %s: %v", name, e.Path, c, f.lastKey(), err))
				}
			}
			if nbad > 0 {
				continue
			}
			h.Write(data)
			size += int64(n)
			bytesRead += int64(n)
		}
		switch {
		case nbad > 0:
			problems = append(problems, bad...)
			if nbad > len(bad) {
				problems = append(problems, fmt.Sprintf("%s/%s: and %d more bad chunks", name, e.Path, nbad-len(bad)))
			}
		case size != e.Size:
			problems = append(problems, fmt.Sprintf("%s/%s: %d bytes in its chunks, the manifest says %d", name, e.Path, size, e.Size))
		case single && e.Chunks[0] != e.SHA256, !single && hex.EncodeToString(h.Sum(nil)) != e.SHA256:
			problems = append(problems, fmt.Sprintf("%s/%s: the content's sha256 is not the manifest's", name, e.Path))
		}
	})
	if stop != nil {
		return files, bytesRead, problems, stop
	}
	return files, bytesRead, problems, err
}

var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("snapshot ID %q: give an ID from `firebreak backup ls`", id)
	}
	return nil
}
