package recover

import (
	"bytes"
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

	"github.com/klauspost/compress/zstd"

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
// checking each chunk and the list's digest (which the signed manifest
// names).
func (r *Repo) LoadFiles(ctx context.Context, s *Snapshot) error {
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.List == nil {
			return &VerifyError{ID: s.ID, Problems: []string{"volume " + v.Name + " has no file list"}}
		}
		var b bytes.Buffer
		for _, c := range v.List.Chunks {
			data, err := r.chunk(ctx, c)
			if err != nil {
				return &VerifyError{ID: s.ID, Problems: []string{fmt.Sprintf("file list of %s: chunk %.12s: %v", v.Name, c, err)}}
			}
			b.Write(data)
			if b.Len() > maxManifest {
				return &VerifyError{ID: s.ID, Problems: []string{"file list of " + v.Name + " is too large"}}
			}
		}
		sum := sha256.Sum256(b.Bytes())
		if hex.EncodeToString(sum[:]) != v.List.SHA256 {
			return &VerifyError{ID: s.ID, Problems: []string{"file list of " + v.Name + ": its digest is not the manifest's (altered)"}}
		}
		if err := json.Unmarshal(b.Bytes(), &v.Files); err != nil || len(v.Files) != v.List.Entries {
			return &VerifyError{ID: s.ID, Problems: []string{"file list of " + v.Name + " is damaged"}}
		}
	}
	return nil
}

// List returns the snapshots of the store, oldest first, without their
// file lists (signatures are not checked: see Verify).
func (r *Repo) List(ctx context.Context) ([]Snapshot, error) {
	objs, err := r.store.List(ctx, backupsPrefix)
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, o := range objs {
		id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, backupsPrefix), "/manifest.json")
		if !ok || strings.Contains(id, "/") {
			continue
		}
		s, _, err := r.Load(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// VerifyError says a snapshot does not verify, with every difference.
type VerifyError struct {
	ID       string
	Problems []string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("snapshot %s does not verify: %s", e.ID, strings.Join(e.Problems, "; "))
}

// Verify re-reads every chunk of a snapshot: each decompresses to bytes
// with its own digest, each file's chunks make its size and digest, and the
// manifest's signature holds under the trusted key. It returns the files
// and bytes checked, and a *VerifyError naming every difference.
func (r *Repo) Verify(ctx context.Context, id string, trusted ed25519.PublicKey) (files int, bytesRead int64, err error) {
	s, _, err := r.Load(ctx, id, trusted)
	if err != nil {
		return 0, 0, err
	}
	if err := r.LoadFiles(ctx, s); err != nil {
		return 0, 0, err
	}
	var problems []string
	for _, v := range s.Volumes {
		for _, e := range v.Files {
			if e.Type != "file" {
				continue
			}
			files++
			h := sha256.New()
			var size int64
			bad := false
			for _, c := range e.Chunks {
				data, err := r.chunk(ctx, c)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s/%s: chunk %.12s: %v", v.Name, e.Path, c, err))
					bad = true
					break
				}
				h.Write(data)
				size += int64(len(data))
				bytesRead += int64(len(data))
			}
			switch {
			case bad:
			case size != e.Size:
				problems = append(problems, fmt.Sprintf("%s/%s: %d bytes in its chunks, the manifest says %d", v.Name, e.Path, size, e.Size))
			case hex.EncodeToString(h.Sum(nil)) != e.SHA256:
				problems = append(problems, fmt.Sprintf("%s/%s: the content's sha256 is not the manifest's", v.Name, e.Path))
			}
		}
	}
	if len(problems) > 0 {
		return files, bytesRead, &VerifyError{ID: id, Problems: problems}
	}
	return files, bytesRead, nil
}

var decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))

// chunk reads one chunk and checks that its bytes have its digest.
func (r *Repo) chunk(ctx context.Context, sum string) ([]byte, error) {
	if len(sum) != 64 {
		return nil, errors.New("not a chunk digest")
	}
	z, err := readAll(ctx, r.store, chunkKey(sum), 2*chunkMax)
	if err != nil {
		return nil, err
	}
	data, err := decoder.DecodeAll(z, nil)
	if err != nil {
		return nil, fmt.Errorf("does not decompress: %w", err)
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != sum {
		return nil, errors.New("its bytes do not have its digest (altered)")
	}
	return data, nil
}

// chunkMax is the chunker's largest chunk.
const chunkMax = 8 << 20

func readAll(ctx context.Context, st evidence.Store, key string, limit int64) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", key, limit)
	}
	return b.Bytes(), nil
}

var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("snapshot ID %q: give an ID from `firebreak backup ls`", id)
	}
	return nil
}
