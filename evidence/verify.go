package evidence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
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
	// Keys are the trusted keys, each with how many runs it signed.
	Keys []KeyUse `json:"keys"`
	// Pinned is true when every run verified under a pinned key.
	Pinned bool `json:"pinned"`
	// Heads are the heads of the case's custody chains, one per host.
	Heads []Head `json:"heads"`
	// Anchors say where each head given to verify was found.
	Anchors []Anchor `json:"anchors,omitempty"`
	// Interrupted are the runs stopped before they finished, each with
	// why: sealed then, they hold what was stored until that moment.
	Interrupted []InterruptedRun `json:"interrupted,omitempty"`
	// Spooled are the case's objects that wait in the local spool
	// (VerifyOptions.Spool), each with what the store holds under its key.
	Spooled []SpooledObject `json:"spooled,omitempty"`

	storeErr error // the store stopped answering: nothing can be judged
}

// InterruptedRun is a run whose manifest says it was interrupted.
type InterruptedRun struct {
	Run string `json:"run"`
	Why string `json:"why"`
}

// Where the store stands against a spooled copy.
const (
	StoreLacks   = "missing" // the store lacks it: verify read the spooled copy
	StoreDiffers = "differs" // the store holds other bytes: verify read the store's
	StoreSame    = "same"    // the store holds the same bytes (sync drops the spooled copy)
)

// SpooledObject is one object of a case waiting in the local spool.
type SpooledObject struct {
	Key         string `json:"key"`
	SHA256      string `json:"sha256"` // of the spooled copy
	Store       string `json:"store"`  // StoreLacks, StoreDiffers or StoreSame
	StoreSHA256 string `json:"store_sha256,omitempty"`
}

// Replicated reports whether the store holds, byte for byte, every object
// of the case that waits in the spool: what verified was the store's.
func (r *Report) Replicated() bool {
	for _, o := range r.Spooled {
		if o.Store != StoreSame {
			return false
		}
	}
	return true
}

// KeyUse is one trusted key and the runs whose signature it verified.
type KeyUse struct {
	Key    string `json:"key"` // base64, as manifests name it
	Source string `json:"source"`
	Pinned bool   `json:"pinned"`
	Runs   int    `json:"runs"`
}

// OK reports whether nothing differs.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(key, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Key: key, What: fmt.Sprintf(format, args...)})
}

// unreadable records that key could not be read: a difference when the
// store answered, but the store not answering (an outage) is no finding
// about the evidence: it is kept in r.storeErr and ends the verify.
func (r *Report) unreadable(key string, err error, format string, args ...any) {
	if isOutage(err) || errors.Is(err, context.Canceled) {
		if r.storeErr == nil {
			r.storeErr = fmt.Errorf("reading %s: %w", key, err)
		}
		return
	}
	r.add(key, format, args...)
}

// TrustedKey is a key a manifest may be signed with, and where it came from.
type TrustedKey struct {
	Key ed25519.PublicKey
	// Source says where the key was found, for the report: "--pubkey",
	// "trusted keys /etc/firebreak/trusted.pub", "signing.pub in /keys".
	Source string
	// Pinned is true for a key given by whoever verifies (an option, a
	// list kept apart from the evidence), false for one merely found
	// beside the evidence (the key directory of the host that wrote it).
	Pinned bool
}

// VerifyOptions say what to trust and what to expect.
type VerifyOptions struct {
	// Keys are the trusted keys (at least one); never the key a manifest
	// names.
	Keys []TrustedKey
	// Heads are custody heads kept outside the store (printed when a
	// command extended the case, posted by a playbook): each must be in
	// the case's chain. A head that is not there means runs were removed
	// or replaced.
	Heads []string
	// Spool, when set, is the local spool in front of the store verified
	// (its remote): each of the case's objects waiting there is compared
	// with the store's copy and reported in Report.Spooled. One the store
	// lacks is read from the spool, so that the rest of the case verifies;
	// one the store holds is read from the store, which is what verify
	// checks.
	Spool *Spool
}

// Verify is VerifyCase with one trusted key.
func Verify(ctx context.Context, s Store, caseID string, trusted ed25519.PublicKey) (*Report, error) {
	return VerifyCase(ctx, s, caseID, VerifyOptions{Keys: []TrustedKey{{Key: trusted, Source: "the key given"}}})
}

// VerifyCase re-reads every object of a case from the store and checks
// sizes and digests against the signed manifests, the signature of each
// manifest with the trusted keys, that each manifest is of this case and
// run and lists only this case's objects, the custody hash chain within
// each run and across the runs of each host, the anchored heads, and that
// no object sits in the case unlisted. It names every difference; an error
// is returned only when the case cannot be read at all.
func VerifyCase(ctx context.Context, s Store, caseID string, o VerifyOptions) (*Report, error) {
	if err := CheckCaseID(caseID); err != nil {
		return nil, err
	}
	if len(o.Keys) == 0 {
		return nil, errors.New("verifying needs a trusted key")
	}
	for _, h := range o.Heads {
		if err := CheckHead(h); err != nil {
			return nil, err
		}
	}
	rep := &Report{Case: caseID, Problems: []Problem{}, Heads: []Head{}}
	for _, k := range o.Keys {
		rep.Keys = append(rep.Keys, KeyUse{Key: base64.StdEncoding.EncodeToString(k.Key), Source: k.Source, Pinned: k.Pinned})
	}
	if o.Spool != nil {
		view, err := spoolFallback(ctx, s, o.Spool, caseID, rep)
		if err != nil {
			return nil, err
		}
		s = view
	}
	manifests, err := listManifests(ctx, s, caseID)
	if err != nil {
		return nil, &StoreReadError{Store: s.String(), Err: err}
	}
	if len(manifests) == 0 {
		return nil, fmt.Errorf("%w (a collection killed before it finished writes no manifest; `firebreak evidence ls` lists what is there)", &NoRunError{Case: caseID, Store: s.String()})
	}
	caseKey := CasePrefix(caseID) + "case.json"
	listed := map[string]bool{caseKey: true}
	checkCaseInfo(ctx, s, rep, caseID)
	chains := newChains(caseID)
	pinned := true
	for _, mk := range manifests {
		if rep.storeErr != nil {
			return nil, &StoreReadError{Store: s.String(), Err: rep.storeErr}
		}
		rep.Runs++
		listed[mk], listed[mk+".sig"] = true, true
		m, mb, err := readManifest(ctx, s, mk)
		if err != nil {
			rep.unreadable(mk, err, "unreadable manifest: %v", err)
			pinned = false
			continue
		}
		k := checkSignature(ctx, s, rep, mk, mb, m, o.Keys)
		if k >= 0 {
			rep.Keys[k].Runs++
		}
		pinned = pinned && k >= 0 && o.Keys[k].Pinned
		checkPlacement(rep, caseID, mk, m)
		if m.Interrupted != "" {
			rep.Interrupted = append(rep.Interrupted, InterruptedRun{Run: m.Run, Why: m.Interrupted})
		}
		if m.CaseInfo.Key != "" && m.CaseInfo.Key == caseKey {
			checkDigest(ctx, s, rep, m.CaseInfo.Key, -1, m.CaseInfo.SHA256)
		}
		var log custodyLog
		if m.Custody.Key == runPrefix(caseID, runOfKey(caseID, mk))+"custody.jsonl" {
			listed[m.Custody.Key] = true
			log = checkCustody(ctx, s, rep, m)
		}
		chains.add(rep, mk, m, log.hashes)
		for _, a := range m.Artifacts {
			if !inCase(caseID, a.Key) {
				continue // named by checkPlacement; not read
			}
			listed[a.Key] = true
			rep.Artifacts++
			rep.Bytes += a.Size
			checkDigest(ctx, s, rep, a.Key, a.Size, a.SHA256)
			if sha, ok := log.stored[a.Key]; !ok {
				rep.add(a.Key, "listed in the manifest but not in the custody log")
			} else if sha != a.SHA256 {
				rep.add(a.Key, "custody log records sha256 %s, manifest %s", sha, a.SHA256)
			}
		}
	}
	rep.Pinned = pinned
	rep.Heads = chains.heads()
	rep.Anchors = chains.anchor(rep, o.Heads)
	if rep.storeErr != nil {
		return nil, &StoreReadError{Store: s.String(), Err: rep.storeErr}
	}
	all, err := s.List(ctx, CasePrefix(caseID))
	if err != nil {
		return nil, &StoreReadError{Store: s.String(), Err: err}
	}
	for _, o := range all {
		if !listed[o.Key] {
			rep.add(o.Key, "object in the case that no manifest lists")
		}
	}
	return rep, nil
}

// checkSignature checks the manifest's signature under each trusted key and
// returns the index of the one it verified under, or -1.
func checkSignature(ctx context.Context, s Store, rep *Report, mk string, mb []byte, m Manifest, keys []TrustedKey) int {
	rc, err := s.Get(ctx, mk+".sig")
	if err != nil {
		rep.unreadable(mk+".sig", err, "signature missing: %v", err)
		return -1
	}
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	rc.Close()
	if err != nil {
		rep.unreadable(mk+".sig", err, "unreadable: %v", err)
		return -1
	}
	sig, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		rep.add(mk+".sig", "not an ed25519 signature")
		return -1
	}
	for i, k := range keys {
		if ed25519.Verify(k.Key, mb, sig) {
			return i
		}
	}
	why := "signature does not match the manifest under the trusted key"
	if len(keys) > 1 {
		why += "s"
	}
	named, err := ParsePublicKey(m.PublicKey)
	trusted := false
	for _, k := range keys {
		trusted = trusted || (err == nil && k.Key.Equal(named))
	}
	switch {
	case err == nil && !trusted && ed25519.Verify(named, mb, sig):
		why += fmt.Sprintf(": it was signed by another key, %s, which is not trusted (a replaced signing key? "+
			"if that key is yours, pin it with --pubkey or --trusted-keys)", m.PublicKey)
	case err == nil && !trusted:
		why += fmt.Sprintf(" (the manifest names another key, %s)", m.PublicKey)
	default:
		why += " (the manifest or its signature was changed)"
	}
	rep.add(mk, "%s", why)
	return -1
}

func checkDigest(ctx context.Context, s Store, rep *Report, key string, size int64, sha string) {
	rc, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		rep.add(key, "missing from the store")
		return
	}
	if err != nil {
		rep.unreadable(key, err, "unreadable: %v", err)
		return
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		rep.unreadable(key, err, "read failed after %d bytes: %v", n, err)
		return
	}
	if size >= 0 && n != size {
		rep.add(key, "size %d, manifest says %d", n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		rep.add(key, "sha256 %s, manifest says %s", got, sha)
	}
}

// custodyLog is what verify keeps of one run's custody log: the artifacts
// it records as stored (key to digest) and the hash of every entry.
type custodyLog struct {
	stored map[string]string
	hashes []string
}

// checkCustody verifies the custody log of one run.
func checkCustody(ctx context.Context, s Store, rep *Report, m Manifest) custodyLog {
	log := custodyLog{stored: map[string]string{}}
	rc, err := s.Get(ctx, m.Custody.Key)
	if err != nil {
		rep.unreadable(m.Custody.Key, err, "custody log unreadable: %v", err)
		return log
	}
	defer rc.Close()
	var buf bytes.Buffer
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(rc, maxManifest)); err != nil {
		rep.unreadable(m.Custody.Key, err, "custody log unreadable: %v", err)
		return log
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
			return log
		}
		if e.Prev != prev {
			rep.add(m.Custody.Key, "line %d (seq %d, %s): chain broken: prev %.16s, the line before hashes to %.16s", line, e.Seq, e.Action, e.Prev, prev)
		}
		if got := entryHash(e); got != e.Hash {
			rep.add(m.Custody.Key, "line %d (seq %d, %s): altered: hashes to %.16s, records %.16s", line, e.Seq, e.Action, got, e.Hash)
		}
		prev = e.Hash
		log.hashes = append(log.hashes, e.Hash)
		if e.Action == "store" {
			for _, a := range e.Artifacts {
				log.stored[a.Key] = a.SHA256
			}
		}
	}
	if prev != m.CustodyHead {
		rep.add(m.Custody.Key, "custody log ends at %.16s, manifest says %.16s (lines removed or added)", prev, m.CustodyHead)
	}
	return log
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

// spoolFallback compares each of the case's spooled objects with the
// store's copy (into rep.Spooled) and returns the store as verify reads it:
// the store's own objects, and the spooled copies of those it lacks.
func spoolFallback(ctx context.Context, remote Store, sp *Spool, caseID string, rep *Report) (Store, error) {
	objs, err := sp.local.List(ctx, CasePrefix(caseID))
	if err != nil {
		return nil, fmt.Errorf("reading the spool %s: %w", sp.Dir(), err)
	}
	v := &fallback{Store: remote, local: sp.local, lacks: map[string]bool{}}
	for _, o := range objs {
		local, err := digestOf(ctx, sp.local, o.Key)
		if err != nil {
			return nil, fmt.Errorf("reading the spool %s: %w", sp.Dir(), err)
		}
		so := SpooledObject{Key: o.Key, SHA256: local, Store: StoreSame}
		theirs, err := digestOf(ctx, remote, o.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			so.Store = StoreLacks
			v.lacks[o.Key] = true
		case err != nil:
			return nil, &StoreReadError{Store: remote.String(), Err: err}
		case theirs != local:
			so.Store, so.StoreSHA256 = StoreDiffers, theirs
		}
		rep.Spooled = append(rep.Spooled, so)
	}
	return v, nil
}

// fallback reads a store, and the spooled copies of the keys it lacks.
type fallback struct {
	Store
	local *FileStore
	lacks map[string]bool
}

func (f *fallback) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.lacks[key] {
		return f.local.Get(ctx, key)
	}
	return f.Store.Get(ctx, key)
}

func (f *fallback) Stat(ctx context.Context, key string) (Object, error) {
	if f.lacks[key] {
		return f.local.Stat(ctx, key)
	}
	return f.Store.Stat(ctx, key)
}

func (f *fallback) List(ctx context.Context, prefix string) ([]Object, error) {
	out, err := f.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	local, err := f.local.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, o := range local {
		if f.lacks[o.Key] {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// StoreReadError says the store could not be read at all (it does not
// answer, or refuses): an error of the verify, not a finding about the
// evidence.
type StoreReadError struct {
	Store string
	Err   error
}

func (e *StoreReadError) Error() string {
	return fmt.Sprintf("cannot read the store %s: %v (nothing was judged: verify again when it answers)", e.Store, e.Err)
}

func (e *StoreReadError) Unwrap() error { return e.Err }
