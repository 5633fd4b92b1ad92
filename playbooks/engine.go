package playbooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"firebreak/runtime"
)

// Step and run statuses.
const (
	StatusOK              = "ok"
	StatusFailed          = "failed"
	StatusSkipped         = "skipped"
	StatusApprovalMissing = "approval-missing"
	StatusUndone          = "undone"
	StatusRefused         = "refused"
)

// Event is one progress event of a run; the CLI prints it as text or as a
// JSON line, the TUI renders it.
type Event struct {
	Type       string         `json:"type"` // plan, run_started, run_resumed, step_started, step_progress, step_finished, step_undone, needs_approval, target_finished, evidence_adopted, run_finished
	Time       time.Time      `json:"time"`
	Case       string         `json:"case"`
	Playbook   string         `json:"playbook"`
	Target     string         `json:"target,omitempty"`
	TargetName string         `json:"target_name,omitempty"`
	Step       string         `json:"step,omitempty"`
	Action     string         `json:"action,omitempty"`
	Status     string         `json:"status,omitempty"`
	Attempt    int            `json:"attempt,omitempty"`
	Detail     string         `json:"detail,omitempty"`
	Error      string         `json:"error,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
}

// ApprovalRequest asks whether a step may act on a target.
type ApprovalRequest struct {
	Step, Action, Prompt string
	Target               runtime.Container
}

// Approver answers approval requests (a TTY prompt, the TUI's dialog).
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

// StepReport is one step's outcome for one target.
type StepReport struct {
	ID       string         `json:"id"`
	Action   string         `json:"action"`
	Status   string         `json:"status"`
	Attempts int            `json:"attempts,omitempty"`
	Error    string         `json:"error,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Resumed  bool           `json:"resumed,omitempty"` // finished in an earlier, interrupted run
}

// TargetReport is one target's outcome.
type TargetReport struct {
	Container runtime.Container `json:"container"`
	Status    string            `json:"status"`
	Steps     []StepReport      `json:"steps"`
	Error     string            `json:"error,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Case     string         `json:"case"`
	Playbook string         `json:"playbook"`
	DryRun   bool           `json:"dry_run"`
	Targets  []TargetReport `json:"targets"`
	Journal  string         `json:"journal,omitempty"`
}

// StepFailedError says a step failed on a target.
type StepFailedError struct{ Target, Step, Err string }

func (e *StepFailedError) Error() string {
	return fmt.Sprintf("%s: step %s failed: %s", e.Target, e.Step, e.Err)
}

// ApprovalMissingError says a step needed an approval no one gave; the run
// stopped there (fail closed).
type ApprovalMissingError struct{ Target, Step, Prompt string }

func (e *ApprovalMissingError) Error() string {
	return fmt.Sprintf("%s: step %s needs approval (%q) and none was given: the run stopped there; answer on a terminal, or pass --approve %s (or --yes), and --resume", e.Target, e.Step, e.Prompt, e.Step)
}

// LockedError says another run holds a target.
type LockedError struct{ Target, Holder string }

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is held by another run: %s; wait for it, or resume that case", e.Target, e.Holder)
}

// RefusedError says a run was refused before it started.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// Run executes a validated playbook. Errors from individual targets are
// joined; the report holds every step's outcome.
func (e *Engine) Run(ctx context.Context, pb *Playbook, opts RunOptions) (*Report, error) {
	rep := &Report{Case: opts.Case, Playbook: pb.Name, DryRun: opts.DryRun}
	sum := sha256.Sum256(pb.Source)
	pbSHA := hex.EncodeToString(sum[:])
	done := map[string]map[string]Record{} // target -> step -> finished record
	if opts.Resume {
		recs, err := LoadJournal(e.StateDir, opts.Case)
		if err != nil {
			return rep, &RefusedError{fmt.Sprintf("cannot resume case %s: %v", opts.Case, err)}
		}
		var started *Record
		for i := range recs {
			r := recs[i]
			switch r.Type {
			case "run_started":
				started = &recs[i]
			case "step_finished":
				if r.Status == StatusOK || r.Status == StatusSkipped {
					if done[r.Target] == nil {
						done[r.Target] = map[string]Record{}
					}
					done[r.Target][r.Step] = r
				}
			}
		}
		if started == nil {
			return rep, &RefusedError{fmt.Sprintf("case %s has no run to resume", opts.Case)}
		}
		if started.PlaybookSHA != pbSHA {
			return rep, &RefusedError{fmt.Sprintf("playbook %s changed since case %s started (sha256 %.12s, now %.12s): resume with the same playbook", pb.Name, opts.Case, started.PlaybookSHA, pbSHA)}
		}
		if len(opts.Targets) == 0 {
			opts.Targets = started.Targets
		}
		if opts.Params == nil {
			opts.Params = started.Params
		}
	} else if !opts.DryRun && JournalExists(e.StateDir, opts.Case) {
		return rep, &RefusedError{fmt.Sprintf("case %s already has a run journal: resume it with --resume %s, or give a new --case", opts.Case, opts.Case)}
	}
	params, err := resolveParams(pb, opts.Params)
	if err != nil {
		return rep, err
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
	j, err := OpenJournal(e.StateDir, opts.Case)
	if err != nil {
		return rep, err
	}
	defer j.Close()
	r.journal = j
	rep.Journal = j.Path()
	typ := "run_started"
	if opts.Resume {
		typ = "run_resumed"
	}
	if err := j.Append(Record{Type: typ, Case: opts.Case, Playbook: pb.Name, PlaybookSHA: pbSHA, Targets: opts.Targets, Params: opts.Params, PID: os.Getpid()}); err != nil {
		return rep, err
	}
	e.emit(Event{Type: typ, Case: opts.Case, Playbook: pb.Name})
	if ev := e.Env.Evidence; ev != nil {
		if opts.Resume {
			n, err := ev.AdoptOrphans(ctx)
			if err != nil {
				return rep, fmt.Errorf("adopting evidence of the interrupted run: %w", err)
			}
			if n > 0 {
				e.emit(Event{Type: "evidence_adopted", Case: opts.Case, Playbook: pb.Name, Detail: strconv.Itoa(n) + " objects stored before the interruption"})
			}
		}
		ev.Log(ctx, "playbook", pb.Name, typ)
	}
	parallel := max(opts.Parallel, 1)
	fleetCtx, cancelFleet := context.WithCancel(ctx)
	defer cancelFleet()
	reports := make([]TargetReport, len(opts.Targets))
	errs := make([]error, len(opts.Targets))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, t := range opts.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if fleetCtx.Err() != nil {
				reports[i] = TargetReport{Container: t, Status: StatusFailed, Error: "not started: another target failed and the playbook says on_target_failure: abort"}
				errs[i] = fmt.Errorf("%s: %s", t.Name, reports[i].Error)
				return
			}
			onFail := func() {}
			if pb.OnTargetFailure == "abort" {
				onFail = cancelFleet // at the first failure, not when the target ends
			}
			reports[i], errs[i] = r.runTarget(fleetCtx, t, done[t.ID], onFail)
			if errs[i] != nil {
				onFail()
			}
		}()
	}
	wg.Wait()
	rep.Targets = reports
	err = errors.Join(errs...)
	if ev := e.Env.Evidence; ev != nil {
		ev.Log(ctx, "playbook", pb.Name, "finished")
		if serr := ev.Seal(ctx); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	status := StatusOK
	if err != nil {
		status = StatusFailed
	}
	_ = j.Append(Record{Type: "run_finished", Case: opts.Case, Status: status})
	e.emit(Event{Type: "run_finished", Case: opts.Case, Playbook: pb.Name, Status: status})
	return rep, err
}

func (e *Engine) emit(ev Event) {
	if e.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	e.Events(ev)
}

func resolveParams(pb *Playbook, given map[string]string) (map[string]any, error) {
	out := map[string]any{}
	declared := map[string]*ParamDecl{}
	for _, d := range pb.Params {
		declared[d.Name] = d
	}
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := declared[k]
		if !ok {
			return nil, fmt.Errorf("--param %s: playbook %s has no such parameter (it has: %s)", k, pb.Name, declNames(pb))
		}
		v, err := d.Type.FromString(given[k])
		if err != nil {
			return nil, fmt.Errorf("--param %s: %v", k, err)
		}
		out[k] = v
	}
	for _, d := range pb.Params {
		if _, ok := out[d.Name]; ok {
			continue
		}
		if d.Required {
			return nil, fmt.Errorf("playbook %s needs --param %s=<%s> (%s)", pb.Name, d.Name, d.Type, d.Description)
		}
		if d.Default != nil {
			out[d.Name] = d.Default
		} else {
			out[d.Name] = zeroOf(d.Type)
		}
	}
	return out, nil
}

func declNames(pb *Playbook) string {
	if len(pb.Params) == 0 {
		return "none"
	}
	var out []string
	for _, d := range pb.Params {
		out = append(out, d.Name)
	}
	return strings.Join(out, ", ")
}

func zeroOf(t Type) any {
	switch t {
	case TypeInt:
		return int64(0)
	case TypeBool:
		return false
	case TypeDuration:
		return time.Duration(0)
	case TypeList:
		return []string{}
	}
	return ""
}
