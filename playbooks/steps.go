package playbooks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"firebreak/internal/progress"
	"firebreak/runtime"
)

type runner struct {
	e       *Engine
	pb      *Playbook
	opts    RunOptions
	params  map[string]any
	prep    *prepared
	journal *Journal
}

// order is the steps in an order that respects needs (file order otherwise).
// A step whose needs can never be met (a cycle Validate would have refused)
// ends the order instead of looping.
func (r *runner) order() []*Step {
	var out []*Step
	done := map[string]bool{}
	for len(out) < len(r.pb.Steps) {
		progress := false
		for _, s := range r.pb.Steps {
			if done[s.ID] {
				continue
			}
			ready := true
			for _, n := range s.Needs {
				ready = ready && done[n]
			}
			if ready {
				done[s.ID], progress = true, true
				out = append(out, s)
			}
		}
		if !progress {
			break
		}
	}
	return out
}

// plan describes, without acting, what each step would do to a target.
func (r *runner) plan(t runtime.Container) TargetReport {
	tr := TargetReport{Container: t, Status: StatusPlanned}
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
		tr.Steps = append(tr.Steps, StepReport{ID: s.ID, Action: s.Action, Status: StatusPlanned, Outputs: with})
		ev := r.event(EventPlan, t, s)
		ev.Detail, ev.Outputs = strings.Join(parts, "; "), with
		r.e.emit(ev)
	}
	return tr
}

type stepResult struct {
	step    *Step
	status  Status
	outputs map[string]any
	err     error
	tries   int
	resumed bool
}

// recordFailed reports whether the step failed because a record of it
// could not be written: then nothing more may run on the target.
func (res *stepResult) recordFailed() bool {
	var re *RecordError
	return res.err != nil && errors.As(res.err, &re)
}

// runTarget runs the steps on one target: every step whose needs are done
// starts, in parallel with the others that are ready.
func (r *runner) runTarget(ctx context.Context, t runtime.Container, finished map[string]Record, onFail func()) (TargetReport, error) {
	tr := TargetReport{Container: t, Status: StatusOK}
	unlock, err := r.lock(t)
	if err != nil {
		tr.Status, tr.Error = StatusRefused, err.Error()
		ev := r.event(EventTargetFinished, t, nil)
		ev.Status, ev.Error = StatusRefused, err.Error()
		r.e.emit(ev)
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
	sort.Strings(order) // deterministic
	running := map[string]bool{}
	ch := make(chan *stepResult)
	stop, undoNeeded := false, false
	var firstErr error
	// The target's error is its first failure, plus every record that could
	// not be written (those are never left out).
	fail := func(err error) {
		var re *RecordError
		switch {
		case firstErr == nil:
			firstErr = err
		case errors.As(err, &re):
			firstErr = errors.Join(firstErr, err)
		}
	}
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
					case !nr.status.Succeeded():
						blocked = n
					}
				}
				if blocked != "" {
					res := &stepResult{step: s, status: StatusBlocked, err: fmt.Errorf("needs %s, which did not succeed", blocked)}
					results[s.ID] = res
					if r.finish(t, res) {
						fail(&StepFailedError{Target: targetLabel(t), Step: s.ID, Err: res.err})
						stop = true
						onFail()
						break // nothing more starts on this target
					}
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
			fail(&StepFailedError{Target: targetLabel(t), Step: res.step.ID, Err: res.err})
			if res.step.OnFailure != OnFailureContinue || res.recordFailed() {
				stop = true
				onFail()
			}
			if res.step.OnFailure == OnFailureUndo {
				undoNeeded = true
			}
		case StatusApprovalMissing:
			stop = true
			onFail()
			fail(&ApprovalMissingError{Target: targetLabel(t), Step: res.step.ID, Prompt: res.step.Approval, Why: res.err.Error()})
		}
		if ctx.Err() != nil {
			stop = true
		}
	}
	if undoNeeded {
		// Undo runs even when the run was interrupted: it only restores.
		if err := r.undo(context.WithoutCancel(ctx), t, results, order); err != nil {
			fail(err)
		}
	}
	for _, s := range r.order() {
		res := results[s.ID]
		if res == nil {
			tr.Steps = append(tr.Steps, StepReport{ID: s.ID, Action: s.Action, Status: StatusNotRun})
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
	ev := r.event(EventTargetFinished, t, nil)
	ev.Status, ev.Error = tr.Status, tr.Error
	r.e.emit(ev)
	return tr, firstErr
}

func (r *runner) vars(t runtime.Container, results map[string]*stepResult) map[string]any {
	steps := map[string]any{}
	for id, res := range results {
		m := map[string]any{"status": string(res.status)}
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
	done := func() *stepResult { r.finish(t, res); return res }
	a, _ := r.e.Registry.Get(s.Action)
	desc := a.Describe()
	if prg := r.prep.when[s.ID]; prg != nil {
		v, err := evalExpr(prg, vars)
		if err != nil {
			res.status, res.err = StatusFailed, fmt.Errorf("when: %v", err)
			return done()
		}
		if ok, _ := v.(bool); !ok {
			res.status, res.err = StatusSkipped, fmt.Errorf("when %q is false", s.When)
			return done()
		}
	}
	params, err := r.stepParams(s, desc, vars)
	if err != nil {
		res.status, res.err = StatusFailed, err
		return done()
	}
	if s.Approval != "" {
		ok, why := r.approve(ctx, t, s)
		if !ok {
			res.status, res.err = StatusApprovalMissing, errors.New(why)
			return done()
		}
	}
	for attempt := 1; attempt <= s.Retries+1; attempt++ {
		res.tries = attempt
		if err := r.journal.Append(Record{Type: EventStepStarted, Case: r.opts.Case, Target: t.ID, Step: s.ID, Attempt: attempt, Changes: desc.Changes != ""}); err != nil {
			res.status, res.err = StatusFailed, err
			return done() // the action did not run: nothing happened unrecorded
		}
		ev := r.event(EventStepStarted, t, s)
		ev.Attempt = attempt
		r.e.emit(ev)
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if s.Timeout > 0 {
			sctx, cancel = context.WithTimeout(ctx, s.Timeout)
		}
		var (
			last     time.Time
			complete bool
		)
		sctx = withProgress(sctx, func(detail string, n progress.Count) {
			// The first report, the first that reaches its total (so a
			// bar ends full), and otherwise at most one every quarter
			// second.
			now := time.Now()
			reached := n.Complete() && !complete
			if !last.IsZero() && !reached && now.Sub(last) < 250*time.Millisecond {
				return
			}
			last, complete = now, complete || reached
			ev := r.event(EventStepProgress, t, s)
			ev.Attempt, ev.Detail = attempt, detail
			if n != (progress.Count{}) {
				ev.Progress = &n
			}
			r.e.emit(ev)
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
	return done()
}

func (r *runner) approve(ctx context.Context, t runtime.Container, s *Step) (bool, string) {
	if r.opts.Yes || slices.Contains(r.opts.Approve, s.ID) {
		return true, ""
	}
	ev := r.event(EventNeedsApproval, t, s)
	ev.Detail = s.Approval
	r.e.emit(ev)
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

// finish records a step's end in the journal and the custody log, then
// reports it. When a record cannot be written the step counts as failed,
// with the error naming the record; finish reports whether that happened.
func (r *runner) finish(t runtime.Container, res *stepResult) (recordFailed bool) {
	rec := Record{Type: EventStepFinished, Case: r.opts.Case, Target: t.ID, Step: res.step.ID, Attempt: res.tries, Status: res.status, Outputs: res.outputs}
	if res.err != nil {
		rec.Error = res.err.Error()
	}
	werr := r.journal.Append(rec)
	if ev := r.e.Env.Evidence; ev != nil {
		// The custody entry is written even when the run was interrupted.
		werr = errors.Join(werr, ev.Log(context.Background(), "step "+res.step.ID, t.ID, string(res.status)))
	}
	if werr != nil {
		res.status, res.err = StatusFailed, errors.Join(res.err, werr)
	}
	ev := r.event(EventStepFinished, t, res.step)
	ev.Status, ev.Attempt, ev.Outputs = res.status, res.tries, res.outputs
	if res.err != nil {
		ev.Error = res.err.Error()
	}
	r.e.emit(ev)
	return werr != nil
}

// undo undoes, newest first, every finished step that changed state and can
// be undone. It returns the failures, undo and record alike.
func (r *runner) undo(ctx context.Context, t runtime.Container, results map[string]*stepResult, order []string) error {
	var errs []error
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
		rec := Record{Type: EventStepUndone, Case: r.opts.Case, Target: t.ID, Step: res.step.ID, Status: StatusUndone}
		if err != nil {
			rec.Status, rec.Error = StatusFailed, err.Error()
			errs = append(errs, fmt.Errorf("%s: undoing step %s: %w", targetLabel(t), res.step.ID, err))
		}
		if jerr := r.journal.Append(rec); jerr != nil {
			errs = append(errs, jerr)
		}
		ev := r.event(EventStepUndone, t, res.step)
		ev.Status, ev.Error = rec.Status, rec.Error
		r.e.emit(ev)
		res.status = rec.Status
	}
	return errors.Join(errs...)
}
