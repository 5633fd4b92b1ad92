package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"firebreak/contain"
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
that is not held is not an error. A Kubernetes pod (pod/NAMESPACE/NAME) is
released as a unit, found by its records even after the kubelet removed it:
its containers thawed, then its sandbox thawed and its drop rules removed.
Releasing a pod's sandbox releases the whole pod.`,
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
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	podRefs, refs := splitPodRefs(refs)
	var podOuts []podOutcome
	if len(podRefs) > 0 {
		if podOuts, err = runReleasePods(ctx, s, podRefs, o.DryRun, d, g.Output); err != nil {
			return err
		}
		if len(refs) == 0 {
			return podErrors(podOuts)
		}
	}
	outs := contain.Each(ctx, refs, o.Parallel, func(ctx context.Context, ref string) (*contain.Result, error) {
		target, err := s.ResolveHeld(ctx, ref)
		if err != nil {
			return nil, err
		}
		return s.Release(ctx, target, o.DryRun)
	})
	if err := printOutcomes(d.stdout, g.Output, "release", outs); err != nil {
		return err
	}
	return errors.Join(podErrors(podOuts), outcomesError("release", g.Output, outs))
}
