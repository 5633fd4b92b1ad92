package app

import (
	"context"
	"fmt"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
)

// The acts a front end takes on one container outside a playbook run. Each
// holds the target's run lock for its duration (a dry run takes none), so an
// act never lands on a container a run is working on: it is refused with a
// *contain.BusyError naming the run.

func (s *Session) act(t runtime.Container, what string, dryRun bool, fn func(c *contain.Containment) (*contain.Result, error)) (*contain.Result, error) {
	c, err := s.Containment()
	if err != nil {
		return nil, err
	}
	if !dryRun {
		unlock, err := c.LockTarget(t.ID, what+" by "+s.opts.Actor)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	return fn(c)
}

// Contain isolates one resolved container (see contain.Containment.Contain).
func (s *Session) Contain(ctx context.Context, t runtime.Container, o contain.Options) (*contain.Result, error) {
	if o.Actor == "" {
		o.Actor = s.opts.Actor
	}
	return s.act(t, "firebreak contain", o.DryRun, func(c *contain.Containment) (*contain.Result, error) {
		return c.Contain(ctx, t, o)
	})
}

// Release undoes a containment (see contain.Containment.Release).
func (s *Session) Release(ctx context.Context, t runtime.Container, dryRun bool) (*contain.Result, error) {
	return s.act(t, "firebreak release", dryRun, func(c *contain.Containment) (*contain.Result, error) {
		return c.Release(ctx, t, dryRun)
	})
}

// Stop ends the container's processes, recorded (see contain.Containment.Stop).
func (s *Session) Stop(ctx context.Context, t runtime.Container, grace time.Duration, caseID string) (*contain.Result, error) {
	return s.act(t, fmt.Sprintf("firebreak stop (grace %s)", grace), false, func(c *contain.Containment) (*contain.Result, error) {
		return c.Stop(ctx, t, grace, s.opts.Actor, caseID)
	})
}

// Kill signals the container's init, recorded (see contain.Containment.Kill).
func (s *Session) Kill(ctx context.Context, t runtime.Container, signal, caseID string) (*contain.Result, error) {
	return s.act(t, "firebreak kill", false, func(c *contain.Containment) (*contain.Result, error) {
		return c.Kill(ctx, t, signal, s.opts.Actor, caseID)
	})
}
