package playbooks

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"firebreak/contain"
	"firebreak/runtime"
)

// runFleet runs the playbook on every target, at most opts.Parallel at once.
// With on_target_failure: abort the first failure cancels the targets still
// running and keeps the rest from starting.
func (r *runner) runFleet(ctx context.Context, done finishedSteps) ([]TargetReport, error) {
	fleetCtx, cancelFleet := context.WithCancel(ctx)
	defer cancelFleet()
	onFail := func() {}
	if r.pb.OnTargetFailure == TargetFailureAbort {
		onFail = cancelFleet // at the first failure, not when the target ends
	}
	targets := r.opts.Targets
	reports := make([]TargetReport, len(targets))
	errs := make([]error, len(targets))
	var g errgroup.Group
	g.SetLimit(max(r.opts.Parallel, 1))
	for i, t := range targets {
		g.Go(func() error {
			switch {
			case ctx.Err() != nil:
				reports[i] = TargetReport{Container: t, Status: StatusNotRun, Error: "not started: the run was interrupted"}
				errs[i] = fmt.Errorf("%s: not started: %w", targetLabel(t), ctx.Err())
				return nil
			case fleetCtx.Err() != nil:
				reports[i] = TargetReport{Container: t, Status: StatusNotRun, Error: "not started: another target failed and the playbook says on_target_failure: abort"}
				errs[i] = fmt.Errorf("%s: %s", targetLabel(t), reports[i].Error)
				return nil
			}
			reports[i], errs[i] = r.runTarget(fleetCtx, t, done[t.ID], onFail)
			if errs[i] != nil {
				onFail()
			}
			return nil // every target reports; one failing never cancels the group
		})
	}
	_ = g.Wait() // the goroutines return nil; their errors are in errs
	return reports, errors.Join(errs...)
}

// lock takes the target's run lock for the life of the run (the one
// contain and release from outside a run take too). It survives nothing
// but the process: a crashed run's lock is free again, and its file names
// who held it.
func (r *runner) lock(t runtime.Container) (func(), error) {
	unlock, err := r.e.Env.Contain.LockTarget(t.ID, fmt.Sprintf("case %s, playbook %s", r.opts.Case, r.pb.Name))
	var busy *contain.BusyError
	if errors.As(err, &busy) {
		return nil, &LockedError{Target: targetLabel(t), Holder: busy.Holder}
	}
	if err != nil {
		return nil, fmt.Errorf("taking the run lock of %s: %w", targetLabel(t), err)
	}
	return unlock, nil
}
