package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"firebreak/internal/flock"
)

// CaseInfo is case.json: who opened the case, when, where (Host: this
// host's name when not given), with which tool, for which targets. It is
// written once, by the case's first run; each run's own targets are in its
// manifest.
type CaseInfo struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Host     string    `json:"host"`
	Actor    string    `json:"actor"`
	Tool     string    `json:"tool"`
	Playbook string    `json:"playbook,omitempty"`
	Targets  []string  `json:"targets,omitempty"`
}

// Artifact is one manifest entry.
type Artifact struct {
	Key       string    `json:"key"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Collector string    `json:"collector"`
	Container string    `json:"container,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
}

// CustodyEntry is one line of a custody log. Hash covers every other field
// (as JSON with Hash empty), and Prev is the Hash of the line before, across
// runs of the same case: changing, removing or reordering a line breaks the
// chain.
type CustodyEntry struct {
	Seq       int           `json:"seq"`
	Time      time.Time     `json:"time"`
	Actor     string        `json:"actor"`
	Action    string        `json:"action"`
	Target    string        `json:"target,omitempty"`
	Result    string        `json:"result"`
	Artifacts []ArtifactRef `json:"artifacts,omitempty"`
	Prev      string        `json:"prev"`
	Hash      string        `json:"hash"`
}

// ArtifactRef names an artifact by key and digest.
type ArtifactRef struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// Manifest lists every artifact of one run and the digests of its custody log
// and of case.json; it is what the signature covers.
type Manifest struct {
	Version     int         `json:"version"`
	Case        string      `json:"case"`
	Run         string      `json:"run"`
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished"`
	Host        string      `json:"host"`
	Actor       string      `json:"actor"`
	Tool        string      `json:"tool"`
	PublicKey   string      `json:"public_key"`
	CaseInfo    ArtifactRef `json:"case_info"`
	Custody     ArtifactRef `json:"custody"`
	CustodyHead string      `json:"custody_head"`
	CustodyPrev string      `json:"custody_prev"`      // head of the run before, "" for the first
	Targets     []string    `json:"targets,omitempty"` // what this run was given to act on
	Artifacts   []Artifact  `json:"artifacts"`
	Incomplete  []string    `json:"incomplete,omitempty"` // what was asked for and not captured, with why
	// Interrupted says why the run was stopped before it finished (Ctrl-C,
	// SIGTERM): its manifest was written then, listing what was stored
	// until that moment, so that the case still verifies.
	Interrupted string `json:"interrupted,omitempty"`
}

var caseIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckCaseID refuses case IDs that are not safe as one key segment.
func CheckCaseID(id string) error {
	if !caseIDPattern.MatchString(id) {
		return fmt.Errorf("case ID %q: use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)", id)
	}
	return nil
}

// NewCaseID makes a case ID from the time and a random suffix.
func NewCaseID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "case-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// CasePrefix is where a case's objects live in a store.
func CasePrefix(caseID string) string { return "cases/" + caseID + "/" }

func runPrefix(caseID, run string) string { return CasePrefix(caseID) + "runs/" + run + "/" }

// Run records one collection into a case: every artifact stored through it
// and every act logged get a custody entry; Finish writes the custody log,
// the manifest and its signature. From OpenRun to Finish the run holds the
// case's lock on this host, so two runs of one case on one host never
// extend the same head (which would fork the chain).
type Run struct {
	store   Store
	signer  *Signer
	info    CaseInfo
	caseRef ArtifactRef
	id      string
	host    string
	started time.Time
	now     func() time.Time

	mu         sync.Mutex
	lock       *flock.Lock // released by Finish
	prev       string
	entries    []CustodyEntry
	artifacts  []Artifact
	incomplete []string
}

// sealTimeout bounds how long Finish writes a run's custody log and
// manifest after its context was cancelled.
const sealTimeout = 30 * time.Second

// ManifestVersion is the version of the manifests written now. Version 2
// chains each host's runs of a case on their own (a run follows the last
// run of its host); version 1 chained every run of the case in one line.
const ManifestVersion = 2

// OpenRun is OpenRunWith with the zero RunOptions: this host's name, the
// store's lock directory.
func OpenRun(ctx context.Context, store Store, signer *Signer, info CaseInfo) (*Run, error) {
	return OpenRunWith(ctx, store, signer, info, RunOptions{})
}

// OpenRunWith starts a run in the case (creating case.json on first use)
// and links its custody log to the last finished run of the case on this
// host. It first takes the case's lock on this host, waiting (until ctx
// ends) while another run of the case holds it; Finish releases it.
func OpenRunWith(ctx context.Context, store Store, signer *Signer, info CaseInfo, o RunOptions) (*Run, error) {
	if err := CheckCaseID(info.ID); err != nil {
		return nil, err
	}
	if r, ok := store.(Retainer); ok {
		if err := r.CheckRetention(ctx); err != nil {
			return nil, err
		}
	}
	host := o.Host
	if host == "" {
		host = thisHost()
	}
	now := time.Now
	rnd := make([]byte, 3)
	_, _ = rand.Read(rnd)
	lock, err := lockCase(ctx, caseLockDir(store, o), info.ID,
		fmt.Sprintf("firebreak pid %d on %s, a run of case %s since %s", os.Getpid(), host, info.ID, now().UTC().Format(time.RFC3339)), o.Waiting)
	if err != nil {
		return nil, err
	}
	r, err := openLocked(ctx, store, signer, info, host, now, rnd)
	if err != nil {
		return nil, errors.Join(err, lock.Unlock())
	}
	r.lock = lock
	return r, nil
}

func openLocked(ctx context.Context, store Store, signer *Signer, info CaseInfo, host string, now func() time.Time, rnd []byte) (*Run, error) {
	r := &Run{store: store, signer: signer, host: host, now: now}
	caseKey := CasePrefix(info.ID) + "case.json"
	if info.Created.IsZero() {
		info.Created = now().UTC()
	}
	if info.Host == "" {
		info.Host = host
	}
	r.info = info
	b, _ := json.MarshalIndent(info, "", "  ")
	obj, err := store.Put(ctx, caseKey, bytes.NewReader(append(b, '\n')), nil)
	switch {
	case err == nil:
		r.caseRef = ArtifactRef{Key: caseKey, SHA256: obj.SHA256}
	case errors.Is(err, ErrExists):
		digest, err := digestOf(ctx, store, caseKey)
		if err != nil {
			return nil, err
		}
		r.caseRef = ArtifactRef{Key: caseKey, SHA256: digest}
	default:
		return nil, err
	}
	manifests, err := listManifests(ctx, store, info.ID)
	if err != nil {
		return nil, err
	}
	r.started = now().UTC()
	idTime := r.started
	// The newest run of this host is the one to follow; runs of other
	// hosts form their own chains.
	for i := len(manifests) - 1; i >= 0; i-- {
		m, _, err := readManifest(ctx, store, manifests[i])
		if err != nil {
			return nil, fmt.Errorf("reading the case's manifest %s to chain custody: %w", manifests[i], err)
		}
		if m.Host != host {
			continue
		}
		r.prev = m.CustodyHead
		// Runs are read in the order of their IDs: one that follows
		// another sorts after it, even when the clock was set back.
		if t, ok := runIDTime(m.Run); ok && !idTime.After(t) {
			idTime = t.Add(time.Nanosecond)
		}
		break
	}
	r.id = idTime.Format(runIDLayout) + "-" + hex.EncodeToString(rnd)
	return r, nil
}

// runIDLayout is the time at the start of a run ID; IDs sort as they start.
const runIDLayout = "20060102T150405.000000000Z"

func runIDTime(id string) (time.Time, bool) {
	if len(id) < len(runIDLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(runIDLayout, id[:len(runIDLayout)])
	return t, err == nil
}

// ID is the run's identifier.
func (r *Run) ID() string { return r.id }

// Case is the case ID.
func (r *Run) Case() string { return r.info.ID }

// Store is where the run writes.
func (r *Run) Store() Store { return r.store }

// Host is the host whose custody chain the run extends.
func (r *Run) Host() string { return r.host }

// Head is the hash of the run's newest custody entry (before any, the head
// the run follows). Once the run is finished it is in the case's chain, and
// `evidence verify --head` finds it there.
func (r *Run) Head() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prev
}

func (r *Run) appendEntry(e CustodyEntry) {
	e.Seq = len(r.entries) + 1
	if e.Time.IsZero() {
		e.Time = r.now().UTC()
	}
	if e.Actor == "" {
		e.Actor = r.info.Actor
	}
	// JSON carries only valid UTF-8: a byte that is not (a file name from
	// inside a container, in an error) would come back from the stored log
	// as U+FFFD and no longer hash the same, which verify reads as
	// tampering. The entry is made of what JSON can keep.
	for _, f := range []*string{&e.Actor, &e.Action, &e.Target, &e.Result} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
	for i := range e.Artifacts {
		e.Artifacts[i].Key = strings.ToValidUTF8(e.Artifacts[i].Key, "\uFFFD")
	}
	e.Prev = r.prev
	e.Hash = entryHash(e)
	r.prev = e.Hash
	r.entries = append(r.entries, e)
}

func entryHash(e CustodyEntry) string {
	e.Hash = ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Log adds an act to the custody log.
func (r *Run) Log(action, target, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appendEntry(CustodyEntry{Action: action, Target: target, Result: result})
}

// Incomplete records something asked for that could not be captured, so the
// manifest says so instead of being silent.
func (r *Run) Incomplete(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.incomplete = append(r.incomplete, what)
	r.appendEntry(CustodyEntry{Action: "incomplete", Result: what})
}

// Put stores one artifact and records it in the manifest and the custody log.
func (r *Run) Put(ctx context.Context, key string, src io.Reader, collector, container string) (Artifact, error) {
	return r.put(ctx, key, src, collector, container, r.store.Put)
}

func (r *Run) put(ctx context.Context, key string, src io.Reader, collector, container string,
	put func(context.Context, string, io.Reader, map[string]string) (Object, error)) (Artifact, error) {
	start := r.now().UTC()
	obj, err := put(ctx, key, src, map[string]string{"collector": collector, "case": r.info.ID})
	if err != nil {
		r.mu.Lock()
		r.appendEntry(CustodyEntry{Action: "store", Target: key, Result: "failed: " + err.Error()})
		r.mu.Unlock()
		return Artifact{}, err
	}
	a := Artifact{Key: key, Size: obj.Size, SHA256: obj.SHA256, Collector: collector, Container: container, Start: start, End: r.now().UTC()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.artifacts = append(r.artifacts, a)
	r.appendEntry(CustodyEntry{Action: "store", Target: key, Result: "stored", Artifacts: []ArtifactRef{{Key: key, SHA256: obj.SHA256}}})
	return a, nil
}

// PutOnce stores an artifact whose producer can make the stream again: where
// the store offers it (the spool), no local copy is teed on the way, and a
// remote failure midway returns ErrRetryLocally for the caller to capture
// again. Elsewhere it is Put.
func (r *Run) PutOnce(ctx context.Context, key string, src io.Reader, collector, container string) (Artifact, error) {
	once, ok := r.store.(interface {
		PutOnce(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error)
	})
	if !ok {
		return r.Put(ctx, key, src, collector, container)
	}
	return r.put(ctx, key, src, collector, container, once.PutOnce)
}

// Finish writes custody.jsonl, manifest.json and manifest.json.sig, and
// releases the case lock, also when it fails: a run is finished once. A
// run whose context was cancelled (interrupted) is still sealed, within
// sealTimeout: its manifest lists what was stored until then and says it
// was interrupted, and its custody log ends with the interruption, so no
// stored object is left unlisted and unsigned in the case.
func (r *Run) Finish(ctx context.Context) (Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Unlock always releases the flock; its error says only that the empty
	// lock file could not be removed, which blocks no later run (a run
	// that cannot open it says so then). It is no failure of the evidence.
	defer func() { _ = r.lock.Unlock() }()
	interrupted := ""
	if ctx.Err() != nil {
		interrupted = fmt.Sprintf("interrupted before it finished (%v): the manifest lists what was stored until then", context.Cause(ctx))
		r.appendEntry(CustodyEntry{Action: "interrupted", Target: r.id, Result: interrupted})
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), sealTimeout)
		defer cancel()
	}
	prefix := runPrefix(r.info.ID, r.id)
	prevOfRun := ""
	if len(r.entries) > 0 {
		prevOfRun = r.entries[0].Prev
	} else {
		prevOfRun = r.prev
	}
	r.appendEntry(CustodyEntry{Action: "finish", Target: r.id, Result: fmt.Sprintf("%d artifacts", len(r.artifacts))})
	var custody bytes.Buffer
	enc := json.NewEncoder(&custody)
	for _, e := range r.entries {
		if err := enc.Encode(e); err != nil {
			return Manifest{}, err
		}
	}
	cobj, err := r.store.Put(ctx, prefix+"custody.jsonl", &custody, nil)
	if err != nil {
		return Manifest{}, fmt.Errorf("storing custody log: %w", err)
	}
	arts := append([]Artifact(nil), r.artifacts...)
	sort.Slice(arts, func(i, j int) bool { return arts[i].Key < arts[j].Key })
	m := Manifest{
		Version: ManifestVersion, Case: r.info.ID, Run: r.id, Started: r.started, Finished: r.now().UTC(),
		Host: r.host, Actor: r.info.Actor, Tool: r.info.Tool, PublicKey: r.signer.PublicKeyString(),
		CaseInfo: r.caseRef, Custody: ArtifactRef{Key: cobj.Key, SHA256: cobj.SHA256},
		CustodyHead: r.prev, CustodyPrev: prevOfRun, Artifacts: arts, Incomplete: r.incomplete,
		Targets: r.info.Targets, Interrupted: interrupted,
	}
	if m.Artifacts == nil {
		m.Artifacts = []Artifact{}
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	mb = append(mb, '\n')
	if _, err := r.store.Put(ctx, prefix+"manifest.json", bytes.NewReader(mb), nil); err != nil {
		return Manifest{}, fmt.Errorf("storing manifest: %w", err)
	}
	sig := []byte(hex.EncodeToString(r.signer.Sign(mb)) + "\n")
	if _, err := r.store.Put(ctx, prefix+"manifest.json.sig", bytes.NewReader(sig), nil); err != nil {
		return Manifest{}, fmt.Errorf("storing manifest signature: %w", err)
	}
	return m, nil
}

func digestOf(ctx context.Context, s Store, key string) (string, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// listManifests returns the manifest keys of a case, oldest run first.
func listManifests(ctx context.Context, s Store, caseID string) ([]string, error) {
	objs, err := s.List(ctx, CasePrefix(caseID)+"runs/")
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range objs {
		if strings.HasSuffix(o.Key, "/manifest.json") {
			keys = append(keys, o.Key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// maxManifest bounds what is read of a manifest before parsing.
const maxManifest = 64 << 20

func readManifest(ctx context.Context, s Store, key string) (Manifest, []byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return Manifest{}, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return Manifest{}, nil, err
	}
	if len(b) > maxManifest {
		return Manifest{}, nil, fmt.Errorf("%s is larger than %d bytes", key, maxManifest)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, b, fmt.Errorf("%s: %w", key, err)
	}
	return m, b, nil
}

// AdoptOrphans takes into this run every object of the case that no finished
// run lists (left by a run that was killed before it wrote its manifest):
// each is read back for its digest, listed in this run's manifest and logged
// as adopted in its custody log. It returns how many were adopted.
func (r *Run) AdoptOrphans(ctx context.Context) (int, error) {
	listed := map[string]bool{CasePrefix(r.info.ID) + "case.json": true}
	keys, err := listManifests(ctx, r.store, r.info.ID)
	if err != nil {
		return 0, err
	}
	for _, mk := range keys {
		m, _, err := readManifest(ctx, r.store, mk)
		if err != nil {
			return 0, err
		}
		listed[mk], listed[mk+".sig"], listed[m.Custody.Key] = true, true, true
		for _, a := range m.Artifacts {
			listed[a.Key] = true
		}
	}
	r.mu.Lock()
	for _, a := range r.artifacts {
		listed[a.Key] = true
	}
	r.mu.Unlock()
	all, err := r.store.List(ctx, CasePrefix(r.info.ID))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range all {
		if listed[o.Key] || strings.HasPrefix(o.Key, runPrefix(r.info.ID, "")) {
			continue
		}
		sha, err := digestOf(ctx, r.store, o.Key)
		if err != nil {
			return n, err
		}
		now := r.now().UTC()
		collector := o.Meta["collector"]
		if collector == "" {
			collector = "adopted"
		}
		r.mu.Lock()
		r.artifacts = append(r.artifacts, Artifact{Key: o.Key, Size: o.Size, SHA256: sha, Collector: collector, Start: o.Modified, End: now})
		r.appendEntry(CustodyEntry{Action: "store", Target: o.Key, Result: "adopted after an interrupted run (digest taken now)", Artifacts: []ArtifactRef{{Key: o.Key, SHA256: sha}}})
		r.mu.Unlock()
		n++
	}
	return n, nil
}
