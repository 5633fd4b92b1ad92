package app

import (
	"context"
	"fmt"
	"time"

	"firebreak/collect"
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
// A pod's sandbox stands for its pod: the whole pod is contained
// (ContainPod, capturing first where a liveness probe asks for it) and the
// result is reported on the sandbox.
func (s *Session) Contain(ctx context.Context, t runtime.Container, o contain.Options) (*contain.Result, error) {
	if p, ok, err := s.podOfSandbox(ctx, t); err != nil {
		return nil, err
	} else if ok {
		pr, err := s.ContainPod(ctx, p, o, PodOptions{CaptureFirst: true, Collect: collect.DefaultOptions()})
		return s.mergePod(t, pr, o.DryRun), err
	}
	return s.containOne(ctx, t, o)
}

func (s *Session) containOne(ctx context.Context, t runtime.Container, o contain.Options) (*contain.Result, error) {
	if o.Actor == "" {
		o.Actor = s.opts.Actor
	}
	return s.act(t, "firebreak contain", o.DryRun, func(c *contain.Containment) (*contain.Result, error) {
		return c.Contain(ctx, t, o)
	})
}

// Release undoes a containment (see contain.Containment.Release). Releasing
// a pod's sandbox releases the whole pod: its drop rules cut every member,
// and lifting them alone would leave frozen containers that read as held
// behind a cut that is gone.
func (s *Session) Release(ctx context.Context, t runtime.Container, dryRun bool) (*contain.Result, error) {
	c, err := s.Containment()
	if err != nil {
		return nil, err
	}
	if rec, err := c.Status(t.ID); err == nil && rec != nil && rec.Pod != nil && rec.Pod.SandboxID == t.ID {
		pr, err := s.releaseHeldPod(ctx, t.ID, dryRun)
		return s.mergePod(t, pr, dryRun), err
	}
	return s.releaseOne(ctx, t, dryRun)
}

func (s *Session) releaseOne(ctx context.Context, t runtime.Container, dryRun bool) (*contain.Result, error) {
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
