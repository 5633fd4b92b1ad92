package app

import (
	"context"
	"fmt"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/runtime"
)

// CollectSpec is one capture: resolved targets into one case.
type CollectSpec struct {
	Case    string
	Targets []runtime.Container
	Options collect.Options
	// Waiting is told when the case is in use on this host by another run
	// and the capture waits for it (nil: nothing is said).
	Waiting func(holder string)
}

// Collected is what a capture left in the case.
type Collected struct {
	Case     string
	Results  []*collect.Result  // one per target; nil where it failed
	Failures []error            // one per target; nil where it succeeded
	Manifest evidence.Manifest  // the run's, when FinishErr is nil
	Pod      *collect.PodResult // a pod's capture (CollectPod): its members are in Results
	// FinishErr says the run's manifest could not be written: what was
	// captured is in the store, unsigned.
	FinishErr error
}

// Collect captures each target into the case in one signed run, one after
// the other (the case is one run at a time). A failed target does not stop
// the others; the evidence of each that succeeded stays.
func (s *Session) Collect(ctx context.Context, spec CollectSpec) (*Collected, error) {
	if err := evidence.CheckCaseID(spec.Case); err != nil {
		return nil, inputf("case: %v", err)
	}
	ev, err := s.Evidence()
	if err != nil {
		return nil, err
	}
	if err := s.Preflight(ctx); err != nil {
		return nil, err
	}
	names := make([]string, len(spec.Targets))
	for i, t := range spec.Targets {
		names[i] = t.Name
		if names[i] == "" {
			names[i] = t.ID
		}
	}
	run, err := evidence.OpenRunWith(ctx, ev.Sink, ev.Signer, s.CaseInfo(spec.Case, "", names), evidence.RunOptions{Waiting: spec.Waiting})
	if err != nil {
		return nil, err
	}
	out := &Collected{Case: spec.Case, Results: make([]*collect.Result, len(spec.Targets)), Failures: make([]error, len(spec.Targets))}
	for i, t := range spec.Targets {
		out.Results[i], out.Failures[i] = collect.Collect(ctx, s.rt, run, t, spec.Options)
	}
	m, err := run.Finish(ctx)
	if err != nil {
		out.FinishErr = fmt.Errorf("finishing case %s: %w", spec.Case, err)
	} else {
		out.Manifest = m
	}
	return out, nil
}
