package playbooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"

	"firebreak/runtime"
)

// ApprovalRequest asks whether a step may act on a target.
type ApprovalRequest struct {
	Step, Action, Prompt string
	Target               runtime.Container
}

// Approver answers approval requests (a TTY prompt, the TUI's dialog). It
// must return when ctx ends.
type Approver interface {
	Approve(ctx context.Context, req ApprovalRequest) (bool, error)
}

// Engine runs playbooks.
type Engine struct {
	Registry *Registry
	Env      *Env
	StateDir string   // journals and run locks
	Approver Approver // nil: no one to ask (scripted runs)
	Events   func(Event)
	// OpenJournal opens a case's journal; nil opens
	// <StateDir>/runs/<case>/journal.jsonl. Tests put a failing writer here.
	OpenJournal func(caseID string) (*Journal, error)
}

// RunOptions say how one run goes.
type RunOptions struct {
	Case     string
	Targets  []runtime.Container
	Params   map[string]string // as given on the command line
	DryRun   bool
	Approve  []string // step IDs approved in advance
	Yes      bool     // approve every step
	Resume   bool
	Parallel int
}

// Run validates the playbook against the engine's registry (whoever the
// caller is: an invalid playbook is an error, never a hang), then runs it.
// Errors from individual targets are joined; the report holds every step's
// outcome. A record that cannot be written (journal, custody log) fails the
// step and the run, naming the record.
func (e *Engine) Run(ctx context.Context, pb *Playbook, opts RunOptions) (*Report, error) {
	rep := &Report{Case: opts.Case, Playbook: pb.Name, DryRun: opts.DryRun}
	if err := Validate(pb, e.Registry); err != nil {
		return rep, err
	}
	sum := sha256.Sum256(pb.Source)
	pbSHA := hex.EncodeToString(sum[:])
	// One run of a case at a time: the journal is read (what finished) and
	// written under the case's run lock, so two approvals of one case at
	// once (the console and the CLI) cannot both run the step.
	if !opts.DryRun && e.StateDir != "" {
		unlock, err := lockCaseRun(e.StateDir, opts.Case, pb.Name)
		if err != nil {
			return rep, err
		}
		defer unlock()
	}
	var done finishedSteps
	if opts.Resume {
		var err error
		if done, err = e.loadResume(pb, pbSHA, &opts); err != nil {
			return rep, err
		}
	} else if !opts.DryRun && JournalExists(e.StateDir, opts.Case) {
		return rep, &runtime.RefusedError{Reason: fmt.Sprintf("case %s already has a run journal: resume it with --resume %s, or give a new --case", opts.Case, opts.Case)}
	}
	params, err := resolveParams(pb, opts.Params)
	if err != nil {
		return rep, err
	}
	for _, id := range opts.Approve {
		if !slices.ContainsFunc(pb.Steps, func(s *Step) bool { return s.ID == id }) {
			return rep, &ParamError{fmt.Sprintf("--approve %s: playbook %s has no such step (steps: %s)", id, pb.Name, joinNames(stepIDs(pb)))}
		}
	}
	if len(opts.Targets) == 0 {
		return rep, errors.New("no targets: give --target or --selector")
	}
	prepared, err := prepare(pb)
	if err != nil {
		return rep, err
	}
	r := &runner{e: e, pb: pb, opts: opts, params: params, prep: prepared}
	if opts.DryRun {
		for _, t := range opts.Targets {
			rep.Targets = append(rep.Targets, r.plan(t))
		}
		return rep, nil
	}
	open := e.OpenJournal
	if open == nil {
		open = func(caseID string) (*Journal, error) { return OpenJournal(e.StateDir, caseID) }
	}
	j, err := open(opts.Case)
	if err != nil {
		return rep, err
	}
	defer j.Close()
	r.journal = j
	rep.Journal = j.Path()
	typ := EventRunStarted
	if opts.Resume {
		typ = EventRunResumed
	}
	if err := j.Append(Record{Type: typ, Case: opts.Case, Playbook: pb.Name, PlaybookSHA: pbSHA, Targets: opts.Targets, Params: opts.Params, PID: os.Getpid()}); err != nil {
		return rep, err
	}
	e.emit(r.event(typ, runtime.Container{}, nil))
	if err := r.startEvidence(ctx, typ); err != nil {
		return rep, errors.Join(err, r.finishRun(ctx, err))
	}
	rep.Targets, err = r.runFleet(ctx, done)
	return rep, errors.Join(err, r.finishRun(ctx, err))
}

// startEvidence adopts what an interrupted run stored and logs the start in
// the case's custody log.
func (r *runner) startEvidence(ctx context.Context, typ EventType) error {
	ev := r.e.Env.Evidence
	if ev == nil {
		return nil
	}
	if r.opts.Resume {
		n, err := ev.AdoptOrphans(ctx)
		if err != nil {
			return fmt.Errorf("adopting evidence of the interrupted run: %w", err)
		}
		if n > 0 {
			e := r.event(EventEvidenceAdopted, runtime.Container{}, nil)
			e.Detail = fmt.Sprintf("%d objects stored before the interruption", n)
			r.e.emit(e)
		}
	}
	return ev.Log(ctx, "playbook", r.pb.Name, string(typ))
}

// finishRun logs the end in the custody log, seals the evidence and journals
// the end; it returns what of that failed.
func (r *runner) finishRun(ctx context.Context, runErr error) error {
	var errs []error
	if ev := r.e.Env.Evidence; ev != nil {
		// Sealing runs even when the run was interrupted: it only records.
		sctx := context.WithoutCancel(ctx)
		errs = append(errs, ev.Log(sctx, "playbook", r.pb.Name, "finished"), ev.Seal(sctx))
	}
	status := StatusOK
	if runErr != nil || errors.Join(errs...) != nil {
		status = StatusFailed
	}
	errs = append(errs, r.journal.Append(Record{Type: EventRunFinished, Case: r.opts.Case, Status: status}))
	ev := r.event(EventRunFinished, runtime.Container{}, nil)
	ev.Status = status
	r.e.emit(ev)
	return errors.Join(errs...)
}

func stepIDs(pb *Playbook) []string {
	var out []string
	for _, s := range pb.Steps {
		out = append(out, s.ID)
	}
	return out
}
