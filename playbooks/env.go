package playbooks

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"sync"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/recover"
	"firebreak/runtime"
)

// Env is what actions reach: the engine, containment, the case's evidence.
type Env struct {
	Runtime  runtime.Runtime
	Contain  *contain.Containment
	Evidence *EvidenceSession // nil when the run writes no evidence
	// Backups opens the snapshot repository (recover.backup,
	// recover.restore); nil when the run has none.
	Backups  func(context.Context) (*recover.Repo, error)
	HTTP     *http.Client
	Case     string
	Playbook string
	Actor    string
}

// EvidenceSession is the case's evidence for one engine run. Collectors write
// through the current evidence.Run while holding a read lock; Seal finishes
// that run (manifest, signature) under the write lock and opens the next, so
// a verify step sees everything written before it as sealed.
type EvidenceSession struct {
	Store   evidence.Store
	Signer  *evidence.Signer
	Trusted ed25519.PublicKey
	Info    evidence.CaseInfo

	mu  sync.RWMutex
	run *evidence.Run
}

// With runs fn with the current evidence run, opening one if needed.
func (s *EvidenceSession) With(ctx context.Context, fn func(*evidence.Run) error) error {
	s.mu.Lock()
	if s.run == nil {
		r, err := evidence.OpenRun(ctx, s.Store, s.Signer, s.Info)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.run = r
	}
	s.mu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(s.run)
}

// Log adds a custody entry to the current run. An error (the case's run
// could not be opened in the store) names the entry that was not written;
// the engine fails the step and the run on it.
func (s *EvidenceSession) Log(ctx context.Context, action, target, result string) error {
	err := s.With(ctx, func(r *evidence.Run) error {
		r.Log(action, target, result)
		return nil
	})
	if err != nil {
		what := "custody log entry " + action
		if target != "" {
			what += " for " + target
		}
		return &RecordError{What: what + " (" + result + ") of case " + s.Info.ID, Err: err}
	}
	return nil
}

// Seal finishes the current run, if any.
func (s *EvidenceSession) Seal(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return nil
	}
	if _, err := s.run.Finish(ctx); err != nil {
		return &RecordError{What: "custody log and manifest of case " + s.Info.ID, Err: err}
	}
	s.run = nil
	return nil
}

// AdoptOrphans takes into the current run every object of the case that no
// manifest lists: artifacts an interrupted run stored before it could write
// its manifest. Each is read back for its digest and logged as adopted.
func (s *EvidenceSession) AdoptOrphans(ctx context.Context) (int, error) {
	n := 0
	err := s.With(ctx, func(r *evidence.Run) error {
		var err error
		n, err = r.AdoptOrphans(ctx)
		return err
	})
	return n, err
}

type progressKey struct{}

// ProgressFunc reports how a long step advances: detail in words (e.g.
// "fsdiff: 1200 files, 310.0 MiB"), and n the numbers when it has them
// (zero when it has not; with totals when they are known), which the step
// progress event carries for the front ends' bars.
type ProgressFunc func(detail string, n progress.Count)

// withProgress gives an action's context a way to report progress.
func withProgress(ctx context.Context, fn ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Progress returns the context's progress reporter; a no-op when none.
func Progress(ctx context.Context) ProgressFunc {
	if fn, ok := ctx.Value(progressKey{}).(ProgressFunc); ok {
		return fn
	}
	return func(string, progress.Count) {}
}
