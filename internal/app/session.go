package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/playbooks"
	"firebreak/runtime"
)

// StoreOptions choose and configure the evidence store.
type StoreOptions struct {
	URL             string        // file:///path or s3://BUCKET/PREFIX?endpoint=HOST:PORT
	KeyDir          string        // the ed25519 signing key, made on first use
	Retain          time.Duration // S3 Object Lock retention; 0 for none
	LockMode        string        // governance or compliance
	SpoolDir        string        // where evidence waits when the remote store fails
	CredentialsFile string        // AWS shared credentials file
	Profile         string        // its profile
	ReadOnly        bool          // only to read: a local store must exist, nothing is created
	BackupKeyFile   string        // the key of encrypted backups ("" for none)
}

// Options are what every front end maps its settings to.
type Options struct {
	Engine       EngineOptions
	StateDir     string // containment records and run journals
	Store        StoreOptions
	PlaybookDirs []string // the user's own playbooks
	Actor        string   // who acts: user@host
	Tool         string   // the tool and version stamped into evidence
	// OpenRuntime connects to the engine; nil means OpenRuntime. Tests of
	// pure logic put the in-process fake here.
	OpenRuntime func(ctx context.Context, o EngineOptions) (runtime.Runtime, error)
	// Notice receives what the session has to tell the user (a signing key
	// made); nil drops it.
	Notice func(string)
}

// Session is one front end's connection to everything a response uses. Open
// it once; its parts are made when first asked for and kept.
type Session struct {
	opts       Options
	rt         runtime.Runtime
	contain    *contain.Containment
	recordsErr error // the records directory could not be opened
	registry   *playbooks.Registry
	namespace  string // records' namespace: containerd's, "" for Docker

	evMu sync.Mutex
	ev   *Evidence
}

// Open connects to the engine and opens the records directory. A records
// directory that cannot be opened is an error only for what needs it
// (Containment): reading the engine (ps, triage) works without one.
func Open(ctx context.Context, o Options) (*Session, error) {
	open := o.OpenRuntime
	if open == nil {
		open = OpenRuntime
	}
	rt, err := open(ctx, o.Engine)
	if err != nil {
		return nil, err
	}
	s := &Session{opts: o, rt: rt, registry: NewRegistry()}
	if rt.Name() == "containerd" {
		s.namespace = o.Engine.Namespace
	}
	if recs, err := contain.OpenRecords(o.StateDir); err != nil {
		s.recordsErr = err
	} else {
		s.contain = contain.New(rt, recs, s.namespace)
	}
	return s, nil
}

// NewRegistry is the action registry with Firebreak's own actions: the one
// a session uses, for front ends that read playbooks without an engine.
func NewRegistry() *playbooks.Registry {
	r := playbooks.NewRegistry()
	playbooks.RegisterBuiltins(r)
	return r
}

// Close releases the engine connection.
func (s *Session) Close() error { return s.rt.Close() }

// Runtime is the engine.
func (s *Session) Runtime() runtime.Runtime { return s.rt }

// Containment acts on containers and keeps their records; the error says
// why the records directory could not be opened.
func (s *Session) Containment() (*contain.Containment, error) {
	if s.contain == nil {
		return nil, s.recordsErr
	}
	return s.contain, nil
}

// Registry is the action registry, built once.
func (s *Session) Registry() *playbooks.Registry { return s.registry }

// Options are the options the session was opened with.
func (s *Session) Options() Options { return s.opts }

func (s *Session) notice(msg string) {
	if s.opts.Notice != nil {
		s.opts.Notice(msg)
	}
}

// Evidence is the case store as a session writes it: the store named, what
// to write through (the spool in front of a remote store), and the signer.
type Evidence struct {
	Store  evidence.Store  // as named by the options
	Sink   evidence.Store  // write here: Store, or the spool in front of it
	Spool  *evidence.Spool // nil for a local store
	Signer *evidence.Signer
}

// Pending reports evidence kept in the spool but not yet in the remote
// store, as a *NotReplicatedError; nil when everything arrived.
func (e *Evidence) Pending() error {
	if e.Spool == nil {
		return nil
	}
	if n := e.Spool.Pending(); n > 0 {
		return &NotReplicatedError{N: n, Dir: e.Spool.Dir(), Store: e.Store.String(), Cause: e.Spool.Down()}
	}
	return nil
}

// NotReplicatedError says evidence is safe in the local spool but not yet in
// the remote store.
type NotReplicatedError struct {
	N          int
	Dir, Store string
	Cause      error
}

func (e *NotReplicatedError) Error() string {
	objects := fmt.Sprintf("%d objects are", e.N)
	if e.N == 1 {
		objects = "1 object is"
	}
	return fmt.Sprintf("%s NOT yet replicated to %s (%v): kept whole in the spool %s; when the store is back run `firebreak evidence sync --store '%s'`", objects, e.Store, e.Cause, e.Dir, e.Store)
}

// OpenStore opens the named store alone, for reading (no spool, no key).
func OpenStore(o StoreOptions) (evidence.Store, error) {
	st, err := evidence.OpenURL(o.URL, evidence.StoreOptions{Retain: o.Retain, LockMode: o.LockMode, CredentialsFile: o.CredentialsFile, Profile: o.Profile, ReadOnly: o.ReadOnly})
	if err != nil {
		return nil, &InputError{err}
	}
	return st, nil
}

// WithSpool puts a local spool in front of a remote store, so that a remote
// failure loses nothing. A local store needs none.
func WithSpool(st evidence.Store, spoolDir string) (evidence.Store, *evidence.Spool, error) {
	if _, local := st.(*evidence.FileStore); local {
		return st, nil, nil
	}
	sp, err := evidence.NewSpool(st, spoolDir)
	if err != nil {
		return nil, nil, err
	}
	return sp, sp, nil
}

// Evidence opens the store, its spool and the signing key (made on first
// use, which the session tells through Notice), and keeps them. A failure is
// not kept: the next call tries again (a store that was down may be back).
// Safe for concurrent use.
func (s *Session) Evidence() (*Evidence, error) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.ev != nil {
		return s.ev, nil
	}
	st, err := OpenStore(s.opts.Store)
	if err != nil {
		return nil, err
	}
	sink, spool, err := WithSpool(st, s.opts.Store.SpoolDir)
	if err != nil {
		return nil, err
	}
	signer, created, err := evidence.LoadOrCreateSigner(s.opts.Store.KeyDir)
	if err != nil {
		return nil, err
	}
	if created {
		s.notice(fmt.Sprintf("created a signing key in %s; its public half (keep it to verify evidence): %s", s.opts.Store.KeyDir, signer.PublicKeyString()))
	}
	s.ev = &Evidence{Store: st, Sink: sink, Spool: spool, Signer: signer}
	return s.ev, nil
}

// Preflight checks the store before anything is captured into it. What the
// user must fix (credentials, no such bucket, TLS mismatch) is an error; a
// remote store that cannot be reached is not: evidence goes to the spool,
// which Notice says.
func (s *Session) Preflight(ctx context.Context) error {
	ev, err := s.Evidence()
	if err != nil {
		return err
	}
	if err := evidence.Preflight(ctx, ev.Sink); err != nil {
		var se *evidence.StoreError
		if !errors.As(err, &se) || se.Permanent || ev.Spool == nil {
			return err
		}
		s.notice(fmt.Sprintf("%v; evidence goes to the local spool %s until it is back (then: firebreak evidence sync)", err, ev.Spool.Dir()))
	}
	return nil
}

// CaseInfo is what a case records of who opened it, with what.
func (s *Session) CaseInfo(caseID, playbook string, targets []string) evidence.CaseInfo {
	return evidence.CaseInfo{ID: caseID, Actor: s.opts.Actor, Tool: s.opts.Tool, Playbook: playbook, Targets: targets}
}

// LoadPlaybook finds a playbook (a file, the user's directories, the built
// ones) and validates it against the registry. Problems are *InputError,
// wrapping playbooks.Errors where the file has them.
func (s *Session) LoadPlaybook(ref string) (*playbooks.Playbook, error) {
	return LoadPlaybook(s.opts.PlaybookDirs, ref, s.registry)
}

// LoadPlaybook is Session.LoadPlaybook for a front end that checks its input
// before it opens a session (no engine is needed to read a playbook).
func LoadPlaybook(dirs []string, ref string, reg *playbooks.Registry) (*playbooks.Playbook, error) {
	pb, err := playbooks.Library{Dirs: dirs}.Check(ref, reg)
	var es playbooks.Errors
	if errors.As(err, &es) {
		return nil, &InputError{fmt.Errorf("playbook %s is not valid:\n%w", ref, err)}
	}
	if err != nil {
		return nil, &InputError{err}
	}
	return pb, nil
}

// RunSpec is one playbook run: what, on which targets, how.
type RunSpec struct {
	Case     string
	Playbook *playbooks.Playbook
	Targets  []runtime.Container // on resume, none: the journal's
	Params   map[string]string   // as given; nil on resume: the journal's
	DryRun   bool                // plan only; no evidence is opened
	Approve  []string            // step IDs approved in advance
	Yes      bool                // approve every step
	Resume   bool
	Parallel int
	// Events receives the run's events. It is called from the engine's
	// goroutines, concurrently: a console forwards them to its own loop
	// (bubbletea's Program.Send) instead of touching its model there.
	Events func(playbooks.Event)
	// Approver answers approval prompts; nil means no one to ask (the run
	// stops at a step that needs one). It must return when ctx ends.
	Approver playbooks.Approver
}

// Run runs a playbook with the case's evidence session (store, spool,
// signer) unless it is a dry run. The report holds every step's outcome;
// evidence left in the spool is not an error here (see Pending).
func (s *Session) Run(ctx context.Context, spec RunSpec) (*playbooks.Report, error) {
	if spec.Playbook == nil {
		return nil, inputf("no playbook to run")
	}
	c, err := s.Containment()
	if err != nil {
		return nil, err
	}
	env := &playbooks.Env{Runtime: s.rt, Contain: c, Case: spec.Case, Playbook: spec.Playbook.Name, Actor: s.opts.Actor}
	if !spec.DryRun {
		if err := s.Preflight(ctx); err != nil {
			return nil, err
		}
		ev, err := s.Evidence()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, t := range spec.Targets {
			names = append(names, t.Name)
		}
		env.Backups = s.Backups
		env.Evidence = &playbooks.EvidenceSession{Store: ev.Sink, Signer: ev.Signer, Trusted: ev.Signer.Pub,
			Info: s.CaseInfo(spec.Case, spec.Playbook.Name, names)}
	}
	eng := &playbooks.Engine{Registry: s.registry, Env: env, StateDir: s.opts.StateDir, Events: spec.Events, Approver: spec.Approver}
	return eng.Run(ctx, spec.Playbook, playbooks.RunOptions{
		Case: spec.Case, Targets: spec.Targets, Params: spec.Params, DryRun: spec.DryRun,
		Approve: spec.Approve, Yes: spec.Yes, Resume: spec.Resume, Parallel: spec.Parallel,
	})
}

// Pending is the evidence waiting in the spool, as *NotReplicatedError, or
// nil; nil too when no evidence was opened.
func (s *Session) Pending() error {
	s.evMu.Lock()
	ev := s.ev
	s.evMu.Unlock()
	if ev == nil {
		return nil
	}
	return ev.Pending()
}
