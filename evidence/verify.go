package evidence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Problem is one thing verification found wrong, named by the object.
type Problem struct {
	Key  string `json:"key"`
	What string `json:"what"`
}

// Report is the result of verifying a case.
type Report struct {
	Case      string    `json:"case"`
	Runs      int       `json:"runs"`
	Artifacts int       `json:"artifacts"`
	Bytes     int64     `json:"bytes"`
	Problems  []Problem `json:"problems"`
}

// OK reports whether nothing differs.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(key, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Key: key, What: fmt.Sprintf(format, args...)})
}

// Verify re-reads every object of a case from the store and checks sizes and
// digests against the signed manifests, the signature of each manifest with
// the trusted key, the custody hash chain within and across runs, and that no
// object sits in the case unlisted. It names every difference; an error is
// returned only when the case cannot be read at all.
func Verify(ctx context.Context, s Store, caseID string, trusted ed25519.PublicKey) (*Report, error) {
	if err := CheckCaseID(caseID); err != nil {
		return nil, err
	}
	rep := &Report{Case: caseID, Problems: []Problem{}}
	manifests, err := listManifests(ctx, s, caseID)
	if err != nil {
		return nil, err
	}
	if len(manifests) == 0 {
		return nil, fmt.Errorf("case %s has no finished run in %s (an interrupted collection writes no manifest; `firebreak evidence ls` lists what is there)", caseID, s)
	}
	listed := map[string]bool{CasePrefix(caseID) + "case.json": true}
	prevHead := ""
	for _, mk := range manifests {
		rep.Runs++
		listed[mk], listed[mk+".sig"] = true, true
		m, mb, err := readManifest(ctx, s, mk)
		if err != nil {
			rep.add(mk, "unreadable manifest: %v", err)
			continue
		}
		checkSignature(ctx, s, rep, mk, mb, m, trusted)
		if m.CustodyPrev != prevHead {
			rep.add(mk, "custody chain broken between runs: this run follows %.16s, the run before ended at %.16s", m.CustodyPrev, prevHead)
		}
		prevHead = m.CustodyHead
		if m.CaseInfo.Key != "" {
			checkDigest(ctx, s, rep, m.CaseInfo.Key, -1, m.CaseInfo.SHA256)
		}
		listed[m.Custody.Key] = true
		stored := checkCustody(ctx, s, rep, m)
		for _, a := range m.Artifacts {
			listed[a.Key] = true
			rep.Artifacts++
			rep.Bytes += a.Size
			checkDigest(ctx, s, rep, a.Key, a.Size, a.SHA256)
			if sha, ok := stored[a.Key]; !ok {
				rep.add(a.Key, "listed in the manifest but not in the custody log")
			} else if sha != a.SHA256 {
				rep.add(a.Key, "custody log records sha256 %s, manifest %s", sha, a.SHA256)
			}
		}
	}
	all, err := s.List(ctx, CasePrefix(caseID))
	if err != nil {
		return nil, err
	}
	for _, o := range all {
		if !listed[o.Key] {
			rep.add(o.Key, "object in the case that no manifest lists")
		}
	}
	return rep, nil
}

func checkSignature(ctx context.Context, s Store, rep *Report, mk string, mb []byte, m Manifest, trusted ed25519.PublicKey) {
	rc, err := s.Get(ctx, mk+".sig")
	if err != nil {
		rep.add(mk+".sig", "signature missing: %v", err)
		return
	}
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	rc.Close()
	if err != nil {
		rep.add(mk+".sig", "unreadable: %v", err)
		return
	}
	sig, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		rep.add(mk+".sig", "not an ed25519 signature")
		return
	}
	if !ed25519.Verify(trusted, mb, sig) {
		why := "signature does not match the manifest under the trusted key"
		if pk, err := ParsePublicKey(m.PublicKey); err == nil && !pk.Equal(trusted) {
			why += fmt.Sprintf(" (the manifest names another key, %s)", m.PublicKey)
		}
		rep.add(mk, "%s", why)
	}
}

func checkDigest(ctx context.Context, s Store, rep *Report, key string, size int64, sha string) {
	rc, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		rep.add(key, "missing from the store")
		return
	}
	if err != nil {
		rep.add(key, "unreadable: %v", err)
		return
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		rep.add(key, "read failed after %d bytes: %v", n, err)
		return
	}
	if size >= 0 && n != size {
		rep.add(key, "size %d, manifest says %d", n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		rep.add(key, "sha256 %s, manifest says %s", got, sha)
	}
}

// checkCustody verifies the custody log of one run and returns the artifacts
// it records as stored, key to digest.
func checkCustody(ctx context.Context, s Store, rep *Report, m Manifest) map[string]string {
	stored := map[string]string{}
	rc, err := s.Get(ctx, m.Custody.Key)
	if err != nil {
		rep.add(m.Custody.Key, "custody log unreadable: %v", err)
		return stored
	}
	defer rc.Close()
	var buf bytes.Buffer
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(rc, maxManifest)); err != nil {
		rep.add(m.Custody.Key, "custody log unreadable: %v", err)
		return stored
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Custody.SHA256 {
		rep.add(m.Custody.Key, "sha256 %s, manifest says %s", got, m.Custody.SHA256)
	}
	prev := m.CustodyPrev
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		var e CustodyEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			rep.add(m.Custody.Key, "line %d: not a custody entry: %v", line, err)
			return stored
		}
		if e.Prev != prev {
			rep.add(m.Custody.Key, "line %d (seq %d, %s): chain broken: prev %.16s, the line before hashes to %.16s", line, e.Seq, e.Action, e.Prev, prev)
		}
		if got := entryHash(e); got != e.Hash {
			rep.add(m.Custody.Key, "line %d (seq %d, %s): altered: hashes to %.16s, records %.16s", line, e.Seq, e.Action, got, e.Hash)
		}
		prev = e.Hash
		if e.Action == "store" {
			for _, a := range e.Artifacts {
				stored[a.Key] = a.SHA256
			}
		}
	}
	if prev != m.CustodyHead {
		rep.add(m.Custody.Key, "custody log ends at %.16s, manifest says %.16s (lines removed or added)", prev, m.CustodyHead)
	}
	return stored
}

// NoRunError says a case has no finished run in a store (none, or only
// interrupted ones); it matches ErrNotFound.
type NoRunError struct{ Case, Store string }

func (e *NoRunError) Error() string {
	return fmt.Sprintf("case %s has no finished run in %s", e.Case, e.Store)
}

func (e *NoRunError) Is(target error) bool { return target == ErrNotFound }

// Manifests returns the manifests of a case, oldest run first (a
// *NoRunError when it has none).
func Manifests(ctx context.Context, s Store, caseID string) ([]Manifest, error) {
	if err := CheckCaseID(caseID); err != nil {
		return nil, err
	}
	keys, err := listManifests(ctx, s, caseID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, &NoRunError{Case: caseID, Store: s.String()}
	}
	out := make([]Manifest, 0, len(keys))
	for _, k := range keys {
		m, _, err := readManifest(ctx, s, k)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
