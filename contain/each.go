package contain

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
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
	var g errgroup.Group
	g.SetLimit(parallel)
	for i, ref := range refs {
		g.Go(func() error {
			// A target not yet started when ctx ends is not started.
			if err := ctx.Err(); err != nil {
				out[i] = Outcome{Ref: ref, Err: err}
				return nil
			}
			r, err := fn(ctx, ref)
			out[i] = Outcome{Ref: ref, Result: r, Err: err}
			return nil // kept in out: one failure does not stop the others
		})
	}
	_ = g.Wait() // every func returns nil
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
