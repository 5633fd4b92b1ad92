package playbooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/cel-go/cel"

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
	Type       string         `json:"type"` // plan, run_started, step_started, step_finished, needs_approval, target_finished, run_finished
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

// prepared holds compiled expressions.
type prepared struct {
	when  map[string]cel.Program
	exprs map[string]map[string]cel.Program
}

func prepare(pb *Playbook) (*prepared, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, err
	}
	p := &prepared{when: map[string]cel.Program{}, exprs: map[string]map[string]cel.Program{}}
	for _, s := range pb.Steps {
		if s.When != "" {
			if p.when[s.ID], err = compileExpr(env, s.When, true); err != nil {
				return nil, err
			}
		}
		for k, v := range s.With {
			if v.Expr == "" {
				continue
			}
			if p.exprs[s.ID] == nil {
				p.exprs[s.ID] = map[string]cel.Program{}
			}
			if p.exprs[s.ID][k], err = compileExpr(env, v.Expr, false); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

type runner struct {
	e       *Engine
	pb      *Playbook
	opts    RunOptions
	params  map[string]any
	prep    *prepared
	journal *Journal
}

// order is the steps in an order that respects needs (file order otherwise).
func (r *runner) order() []*Step {
	var out []*Step
	done := map[string]bool{}
	for len(out) < len(r.pb.Steps) {
		for _, s := range r.pb.Steps {
			if done[s.ID] {
				continue
			}
			ready := true
			for _, n := range s.Needs {
				ready = ready && done[n]
			}
			if ready {
				done[s.ID] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// plan describes, without acting, what each step would do to a target.
func (r *runner) plan(t runtime.Container) TargetReport {
	tr := TargetReport{Container: t, Status: "planned"}
	for _, s := range r.order() {
		a, _ := r.e.Registry.Get(s.Action)
		d := a.Describe()
		var parts []string
		if d.Changes != "" {
			parts = append(parts, "changes "+d.Changes)
		} else {
			parts = append(parts, "changes nothing in the container")
		}
		if s.When != "" {
			parts = append(parts, "when "+s.When)
		}
		if s.Approval != "" {
			parts = append(parts, "asks: "+s.Approval)
		}
		if len(s.Needs) > 0 {
			parts = append(parts, "after "+strings.Join(s.Needs, ", "))
		}
		with := map[string]any{}
		for k, v := range s.With {
			if v.Expr != "" {
				with[k] = "${{ " + v.Expr + " }}"
			} else {
				with[k] = v.Literal
			}
		}
		detail := strings.Join(parts, "; ")
		tr.Steps = append(tr.Steps, StepReport{ID: s.ID, Action: s.Action, Status: "planned", Outputs: with, Error: ""})
		r.e.emit(Event{Type: "plan", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Step: s.ID, Action: s.Action, Detail: detail, Outputs: with})
	}
	return tr
}

type stepResult struct {
	step    *Step
	status  string
	outputs map[string]any
	err     error
	tries   int
	resumed bool
}

// runTarget runs the steps on one target: every step whose needs are done
// starts, in parallel with the others that are ready.
func (r *runner) runTarget(ctx context.Context, t runtime.Container, finished map[string]Record, onFail func()) (TargetReport, error) {
	tr := TargetReport{Container: t, Status: StatusOK}
	unlock, err := r.lock(t)
	if err != nil {
		tr.Status, tr.Error = StatusRefused, err.Error()
		r.e.emit(Event{Type: "target_finished", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Status: StatusRefused, Error: err.Error()})
		return tr, err
	}
	defer unlock()
	results := map[string]*stepResult{}
	var order []string // finish order, for undo
	for id, rec := range finished {
		for _, s := range r.pb.Steps {
			if s.ID == id {
				results[id] = &stepResult{step: s, status: rec.Status, outputs: rec.Outputs, resumed: true}
				order = append(order, id)
			}
		}
	}
	sort.Strings(order) // deterministic; a resumed run's undo order is by journal below
	running := map[string]bool{}
	ch := make(chan *stepResult)
	stop, undoNeeded := false, false
	var firstErr error
	for {
		if !stop {
			for _, s := range r.pb.Steps {
				if results[s.ID] != nil || running[s.ID] {
					continue
				}
				ready, blocked := true, ""
				for _, n := range s.Needs {
					nr := results[n]
					switch {
					case nr == nil:
						ready = false
					case nr.status != StatusOK && nr.status != StatusSkipped:
						blocked = n
					}
				}
				if blocked != "" {
					results[s.ID] = &stepResult{step: s, status: StatusSkipped, err: fmt.Errorf("needs %s, which did not succeed", blocked)}
					r.finish(t, results[s.ID])
					continue
				}
				if !ready {
					continue
				}
				running[s.ID] = true
				vars := r.vars(t, results) // read here: results is the loop's alone
				go func() { ch <- r.runStep(ctx, t, s, vars) }()
			}
		}
		if len(running) == 0 {
			break
		}
		res := <-ch
		delete(running, res.step.ID)
		results[res.step.ID] = res
		order = append(order, res.step.ID)
		switch res.status {
		case StatusFailed:
			if firstErr == nil {
				firstErr = &StepFailedError{Target: t.Name + " (" + t.ShortID() + ")", Step: res.step.ID, Err: res.err.Error()}
			}
			if res.step.OnFailure != "continue" {
				onFail()
			}
			if res.step.OnFailure != "continue" {
				stop = true
			}
			if res.step.OnFailure == "undo" {
				undoNeeded = true
			}
		case StatusApprovalMissing:
			stop = true
			onFail()
			if firstErr == nil {
				firstErr = &ApprovalMissingError{Target: t.Name + " (" + t.ShortID() + ")", Step: res.step.ID, Prompt: res.step.Approval}
			}
		}
		if ctx.Err() != nil {
			stop = true
		}
	}
	if undoNeeded {
		// Undo runs even when the run was interrupted: it only restores.
		r.undo(context.WithoutCancel(ctx), t, results, order)
	}
	for _, s := range r.order() {
		res := results[s.ID]
		if res == nil {
			tr.Steps = append(tr.Steps, StepReport{ID: s.ID, Action: s.Action, Status: "not-run"})
			continue
		}
		sr := StepReport{ID: s.ID, Action: s.Action, Status: res.status, Attempts: res.tries, Outputs: res.outputs, Resumed: res.resumed}
		if res.err != nil {
			sr.Error = res.err.Error()
		}
		tr.Steps = append(tr.Steps, sr)
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		tr.Status, tr.Error = StatusFailed, firstErr.Error()
		var am *ApprovalMissingError
		if errors.As(firstErr, &am) {
			tr.Status = StatusApprovalMissing
		}
	}
	r.e.emit(Event{Type: "target_finished", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Status: tr.Status, Error: tr.Error})
	return tr, firstErr
}

func (r *runner) vars(t runtime.Container, results map[string]*stepResult) map[string]any {
	steps := map[string]any{}
	for id, res := range results {
		m := map[string]any{"status": res.status}
		for k, v := range res.outputs {
			m[k] = v
		}
		steps[id] = m
	}
	return map[string]any{
		"params": r.params,
		"steps":  steps,
		"target": map[string]any{"id": t.ID, "name": t.Name, "image": t.Image, "state": string(t.State), "labels": t.Labels},
	}
}

func (r *runner) runStep(ctx context.Context, t runtime.Container, s *Step, vars map[string]any) *stepResult {
	res := &stepResult{step: s}
	a, _ := r.e.Registry.Get(s.Action)
	desc := a.Describe()
	if prg := r.prep.when[s.ID]; prg != nil {
		v, err := evalExpr(prg, vars)
		if err != nil {
			res.status, res.err = StatusFailed, fmt.Errorf("when: %v", err)
			r.finish(t, res)
			return res
		}
		if ok, _ := v.(bool); !ok {
			res.status = StatusSkipped
			res.err = fmt.Errorf("when %q is false", s.When)
			r.finish(t, res)
			return res
		}
	}
	params, err := r.stepParams(s, desc, vars)
	if err != nil {
		res.status, res.err = StatusFailed, err
		r.finish(t, res)
		return res
	}
	if s.Approval != "" {
		ok, why := r.approve(ctx, t, s)
		if !ok {
			res.status, res.err = StatusApprovalMissing, errors.New(why)
			r.finish(t, res)
			return res
		}
	}
	for attempt := 1; attempt <= s.Retries+1; attempt++ {
		res.tries = attempt
		if err := r.journal.Append(Record{Type: "step_started", Case: r.opts.Case, Target: t.ID, Step: s.ID, Attempt: attempt, Changes: desc.Changes != ""}); err != nil {
			res.status, res.err = StatusFailed, err
			return res
		}
		r.e.emit(Event{Type: "step_started", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Step: s.ID, Action: s.Action, Attempt: attempt})
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if s.Timeout > 0 {
			sctx, cancel = context.WithTimeout(ctx, s.Timeout)
		}
		out, err := a.Run(sctx, r.e.Env, t, params)
		cancel()
		if err == nil {
			res.status, res.outputs, res.err = StatusOK, out, nil
			break
		}
		if errors.Is(err, context.DeadlineExceeded) && s.Timeout > 0 {
			err = fmt.Errorf("timed out after %s: %w", s.Timeout, err)
		}
		res.status, res.outputs, res.err = StatusFailed, out, err
		if ctx.Err() != nil || attempt > s.Retries {
			break
		}
		select {
		case <-time.After(time.Duration(attempt) * time.Second):
		case <-ctx.Done():
		}
	}
	r.finish(t, res)
	return res
}

func (r *runner) stepParams(s *Step, d Description, vars map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range d.Params {
		if p.Default != nil {
			out[p.Name] = p.Default
		}
	}
	for k, v := range s.With {
		spec, _ := d.Param(k)
		raw, tag := v.Literal, v.Tag
		if v.Expr != "" {
			val, err := evalExpr(r.prep.exprs[s.ID][k], vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			raw, tag = val, ""
		}
		val, err := spec.Type.Convert(raw, tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		out[k] = val
	}
	return out, nil
}

func (r *runner) approve(ctx context.Context, t runtime.Container, s *Step) (bool, string) {
	if r.opts.Yes || slices.Contains(r.opts.Approve, s.ID) {
		return true, ""
	}
	r.e.emit(Event{Type: "needs_approval", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Step: s.ID, Action: s.Action, Detail: s.Approval})
	if r.e.Approver == nil {
		return false, "no one to ask (not a terminal) and not approved with --approve " + s.ID + " or --yes"
	}
	ok, err := r.e.Approver.Approve(ctx, ApprovalRequest{Step: s.ID, Action: s.Action, Prompt: s.Approval, Target: t})
	if err != nil {
		return false, "approval failed: " + err.Error()
	}
	if !ok {
		return false, "declined"
	}
	return true, ""
}

func (r *runner) finish(t runtime.Container, res *stepResult) {
	rec := Record{Type: "step_finished", Case: r.opts.Case, Target: t.ID, Step: res.step.ID, Attempt: res.tries, Status: res.status, Outputs: res.outputs}
	if res.err != nil {
		rec.Error = res.err.Error()
	}
	_ = r.journal.Append(rec)
	if ev := r.e.Env.Evidence; ev != nil {
		ev.Log(context.Background(), "step "+res.step.ID, t.ID, res.status)
	}
	r.e.emit(Event{Type: "step_finished", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Step: res.step.ID, Action: res.step.Action, Status: res.status, Attempt: res.tries, Error: rec.Error, Outputs: res.outputs})
}

// undo undoes, newest first, every finished step that changed state and can
// be undone.
func (r *runner) undo(ctx context.Context, t runtime.Container, results map[string]*stepResult, order []string) {
	for i := len(order) - 1; i >= 0; i-- {
		res := results[order[i]]
		if res == nil || res.status != StatusOK {
			continue
		}
		a, _ := r.e.Registry.Get(res.step.Action)
		u, ok := a.(Undoer)
		if !ok || a.Describe().Changes == "" {
			continue
		}
		err := u.Undo(ctx, r.e.Env, t, nil)
		rec := Record{Type: "step_undone", Case: r.opts.Case, Target: t.ID, Step: res.step.ID, Status: StatusUndone}
		if err != nil {
			rec.Status, rec.Error = StatusFailed, err.Error()
		}
		_ = r.journal.Append(rec)
		r.e.emit(Event{Type: "step_undone", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Step: res.step.ID, Action: res.step.Action, Status: rec.Status, Error: rec.Error})
		res.status = rec.Status
	}
}

// lock takes the run lock of a target for the life of the run. It survives
// nothing but the process: a crashed run's lock is free again, and its
// record names who held it.
func (r *runner) lock(t runtime.Container) (func(), error) {
	dir := filepath.Join(r.e.StateDir, "runs", "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, r.e.Env.Runtime.Name()+"_"+t.ID+".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(p)
		f.Close()
		return nil, &LockedError{Target: t.Name + " (" + t.ShortID() + ")", Holder: strings.TrimSpace(string(holder))}
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d on %s, case %s, playbook %s, since %s\n", os.Getpid(), host, r.opts.Case, r.pb.Name, time.Now().UTC().Format(time.RFC3339))), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
