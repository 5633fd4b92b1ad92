package alerts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/playbooks"
	"firebreak/runtime"
)

// SessionResponder acts through the case session: targets resolve as every
// front end resolves them, and runs are the playbook engine's, with its
// journal, run lock, approvals and resume.
type SessionResponder struct {
	S *app.Session
}

var hexID = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// errEngine marks a resolution that failed because the engine did not
// answer: it may pass, so the dispatcher tries again and does not keep it.
var errEngine = errors.New("the engine did not answer")

// Resolve finds the alert's container: a pod target where the alert names
// a pod and the engine runs pods, else the container ID it gives, at least
// the 12-character short ID; a short ID that matches two containers is
// refused, never guessed.
func (r SessionResponder) Resolve(ctx context.Context, a Alert) (Target, error) {
	if a.Pod != "" {
		if _, ok := r.S.Runtime().(runtime.PodLister); ok {
			c, err := r.S.ResolveOne(ctx, runtime.PodPrefix+a.Pod)
			if err != nil {
				return Target{}, err
			}
			return Target{ID: c.ID, Name: runtime.PodPrefix + a.Pod}, nil
		}
	}
	switch {
	case a.Container == "":
		return Target{}, errors.New("the alert names no container")
	case !hexID.MatchString(a.Container):
		return Target{}, fmt.Errorf("container %q: not a container ID (12 to 64 hex digits)", a.Container)
	}
	all, err := r.S.Runtime().List(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("%w: listing containers: %v", errEngine, err)
	}
	// By ID only: a container may be named after another's short ID (its
	// hostname is its own short ID, so a process inside knows it), and a
	// name must never stand in for the ID an alert gives.
	var found []runtime.Container
	for _, o := range all {
		if strings.HasPrefix(o.ID, a.Container) {
			found = append(found, o)
		}
	}
	switch len(found) {
	case 0:
		return Target{}, fmt.Errorf("container %s: %w: no container has that ID", a.Container, runtime.ErrNotFound)
	case 1:
	default:
		return Target{}, fmt.Errorf("container %s matches %d containers by ID: refused, never guessed", a.Container, len(found))
	}
	c := found[0]
	d, err := runtime.Resolve(ctx, r.S.Runtime(), c.ID)
	if runtime.IsNotFound(err) {
		return Target{}, fmt.Errorf("container %s: %w: removed since the list", a.Container, runtime.ErrNotFound)
	}
	if err != nil {
		return Target{}, fmt.Errorf("%w: %v", errEngine, err)
	}
	return Target{ID: d.ID, Name: d.Name}, nil
}

// Run runs the playbook on the target. A run that stops at a step that
// needs an approval no rule gave ends "needs-approval": `firebreak run
// --resume CASE --approve STEP` answers it.
func (r SessionResponder) Run(ctx context.Context, req RunRequest) (string, error) {
	pb, err := r.S.LoadPlaybook(req.Playbook)
	if err != nil {
		return "failed", err
	}
	spec := app.RunSpec{Case: req.Case, Playbook: pb, Params: req.Params, Approve: req.Approve, Yes: req.Yes}
	if req.Resume {
		spec.Resume, spec.Params = true, nil
		rep, err := r.S.Run(ctx, spec)
		var norun *playbooks.NoRunError
		if !errors.As(err, &norun) {
			return status(rep, err)
		}
		// Stopped before the run's journal began: start it under its case.
		spec.Resume, spec.Params = false, req.Params
	}
	t, err := runtime.Resolve(ctx, r.S.Runtime(), req.Target.ID)
	if err != nil {
		return "failed", err
	}
	spec.Targets = []runtime.Container{t}
	rep, err := r.S.Run(ctx, spec)
	return status(rep, err)
}

func status(rep *playbooks.Report, err error) (string, error) {
	var busy *contain.BusyError
	var locked *playbooks.LockedError
	var approval *playbooks.ApprovalMissingError
	switch {
	case errors.As(err, &busy), errors.As(err, &locked):
		return "held", fmt.Errorf("%w: %v", ErrHeld, err)
	case errors.As(err, &approval):
		return "needs-approval", err
	case err != nil:
		return "failed", err
	}
	if rep != nil {
		for _, t := range rep.Targets {
			if !t.Status.Succeeded() {
				return string(t.Status), nil
			}
		}
	}
	return "succeeded", nil
}
