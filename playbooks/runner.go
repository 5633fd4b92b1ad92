package playbooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/cel-go/cel"

	"firebreak/runtime"
)

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
		var last time.Time
		sctx = withProgress(sctx, func(detail string) {
			// The first report, then at most one every quarter second.
			if now := time.Now(); last.IsZero() || now.Sub(last) >= 250*time.Millisecond {
				last = now
				r.e.emit(Event{Type: "step_progress", Case: r.opts.Case, Playbook: r.pb.Name, Target: t.ID, TargetName: t.Name, Step: s.ID, Action: s.Action, Attempt: attempt, Detail: detail})
			}
		})
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
