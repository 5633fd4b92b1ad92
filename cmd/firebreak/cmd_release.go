package main

import (
	"context"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/runtime"
)

type releaseOptions struct {
	DryRun   bool
	Parallel int
}

func (o *releaseOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print what would change and change nothing")
	cmd.Flags().IntVar(&o.Parallel, "parallel", contain.DefaultParallel, "containers acted on at once")
}

func newReleaseCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &releaseOptions{}
	cmd := &cobra.Command{
		Use:   "release TARGET...",
		Short: "Undo a containment: restore the recorded networks, thaw, remove drop rules",
		Long: `Release restores exactly what 'firebreak contain' recorded: the quarantine
network is detached, the original networks come back with the same aliases,
links and (where the engine allows) addresses, the container is thawed unless
it was paused before, and the drop rules are removed. Releasing a container
that is not held is not an error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelease(cmd.Context(), g, o, args, d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func runRelease(ctx context.Context, g *globalOptions, o *releaseOptions, refs []string, d *deps) error {
	if o.Parallel < 1 {
		return usagef("--parallel %d: give at least 1", o.Parallel)
	}
	c, rt, closeRT, err := openContainment(ctx, g, d)
	if err != nil {
		return err
	}
	defer closeRT()
	outs := contain.Each(ctx, refs, o.Parallel, func(ctx context.Context, ref string) (*contain.Result, error) {
		target, err := resolveHeld(ctx, rt, c, ref)
		if err != nil {
			return nil, err
		}
		return c.Release(ctx, target, o.DryRun)
	})
	if err := printOutcomes(d.stdout, g.Output, "release", outs); err != nil {
		return err
	}
	return contain.Errors(outs)
}

// resolveHeld resolves a reference against the engine, and failing that
// against the records, so a container that is gone can still be released
// (its record retired).
func resolveHeld(ctx context.Context, rt runtime.Runtime, c *contain.Containment, ref string) (runtime.Container, error) {
	target, err := runtime.Resolve(ctx, rt, ref)
	if err == nil || !runtime.IsNotFound(err) {
		return target, err
	}
	recs, lerr := c.Held()
	if lerr != nil {
		return target, err
	}
	for _, r := range recs {
		if r.Container.ID == ref || r.Container.Name == ref || (len(ref) >= 4 && len(r.Container.ID) > len(ref) && r.Container.ID[:len(ref)] == ref) {
			return r.Container, nil
		}
	}
	return target, err
}
