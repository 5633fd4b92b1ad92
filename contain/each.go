package contain

import (
	"context"
	"errors"
	"fmt"
)

// Outcome is one target's result in a multi-target run.
type Outcome struct {
	Ref    string  `json:"ref"`
	Result *Result `json:"result,omitempty"`
	Err    error   `json:"-"`
}

// Each runs fn for every reference with at most parallel at once, and returns
// every outcome in the order of refs. One failure does not stop the others.
func Each(ctx context.Context, refs []string, parallel int, fn func(ctx context.Context, ref string) (*Result, error)) []Outcome {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]Outcome, len(refs))
	sem := make(chan struct{}, parallel)
	done := make(chan struct{})
	for i, ref := range refs {
		go func() {
			defer func() { done <- struct{}{} }()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = Outcome{Ref: ref, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			r, err := fn(ctx, ref)
			out[i] = Outcome{Ref: ref, Result: r, Err: err}
		}()
	}
	for range refs {
		<-done
	}
	return out
}

// Errors joins the failures of a multi-target run, each named by its target.
func Errors(outs []Outcome) error {
	var errs []error
	for _, o := range outs {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Ref, o.Err))
		}
	}
	return errors.Join(errs...)
}
