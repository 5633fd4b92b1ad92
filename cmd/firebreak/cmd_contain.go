package main

import (
	"context"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/internal/app"
)

type containOptions struct {
	Network           bool
	Pause             bool
	QuarantineNetwork string
	Allow             []string
	DryRun            bool
	Case              string
	Verify            bool
	Probe             []string
	ProbePort         int
	ProbeTimeout      time.Duration
	Parallel          int
}

func (o *containOptions) AddFlags(cmd *cobra.Command) {
	def := contain.DefaultOptions()
	f := cmd.Flags()
	f.BoolVar(&o.Network, "network", def.Network, "cut the network: drop rules in its network namespace, then detach engine networks")
	f.BoolVar(&o.Pause, "pause", def.Pause, "freeze every process of the container")
	f.StringVar(&o.QuarantineNetwork, "quarantine-network", "", "Docker: attach to this internal network after detaching the others (created if missing), keeping forensic access")
	f.StringSliceVar(&o.Allow, "allow", nil, "CIDR kept open in the drop rules for forensic access (repeatable)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print what would change and change nothing")
	f.StringVar(&o.Case, "case", "", "case ID to record the containment under")
	f.BoolVar(&o.Verify, "verify", def.Verify, "probe peers from the container's network namespace before and after the cut")
	f.StringSliceVar(&o.Probe, "probe", nil, "extra peer (host or host:port) to probe for verification (repeatable)")
	f.IntVar(&o.ProbePort, "probe-port", def.ProbePort, "TCP port probed on peers named without one")
	f.DurationVar(&o.ProbeTimeout, "probe-timeout", def.ProbeTimeout, "how long one probe waits for an answer")
	f.IntVar(&o.Parallel, "parallel", contain.DefaultParallel, "containers acted on at once")
}

func (o *containOptions) toOptions() (contain.Options, error) {
	opts := contain.Options{
		Network: o.Network, Pause: o.Pause, QuarantineNetwork: o.QuarantineNetwork,
		DryRun: o.DryRun, Case: o.Case, Actor: actor(),
		Verify: o.Verify, Probe: o.Probe, ProbePort: o.ProbePort, ProbeTimeout: o.ProbeTimeout,
	}
	if !o.Network && !o.Pause {
		return opts, usagef("nothing to do: both --network and --pause are off")
	}
	for _, a := range o.Allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, aerr := netip.ParseAddr(a)
			if aerr != nil {
				return opts, usagef("--allow %q: give a CIDR such as 10.0.9.0/24 or a single address", a)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		opts.Allow = append(opts.Allow, p)
	}
	if o.ProbePort < 1 || o.ProbePort > 65535 {
		return opts, usagef("--probe-port %d: give a TCP port from 1 to 65535", o.ProbePort)
	}
	if o.Parallel < 1 {
		return opts, usagef("--parallel %d: give at least 1", o.Parallel)
	}
	return opts, nil
}

func newContainCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &containOptions{}
	cmd := &cobra.Command{
		Use:   "contain TARGET...",
		Short: "Cut a container's network and freeze it, recording the prior state",
		Long: `Contain isolates each target (full ID, exact name, or unique ID prefix):
network first (drop rules in its network namespace, installed from the host;
on Docker also detach from every network, optionally attaching an internal
quarantine network), then freeze. Each act is recorded before it happens, so
'firebreak release' restores exactly the prior state, even after a crash.
Containing twice changes nothing the second time.`,
		Example: `  firebreak contain web-1
  firebreak contain --quarantine-network fb-quarantine --allow 10.9.0.5 web-1
  firebreak contain --dry-run --output json 3f2a`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContain(cmd.Context(), g, o, args, d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func runContain(ctx context.Context, g *globalOptions, o *containOptions, refs []string, d *deps) error {
	opts, err := o.toOptions()
	if err != nil {
		return err
	}
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	outs := contain.Each(ctx, refs, o.Parallel, func(ctx context.Context, ref string) (*contain.Result, error) {
		targets, err := s.Resolve(ctx, app.Selection{Refs: []string{ref}, Act: !opts.DryRun})
		if err != nil {
			return nil, err
		}
		return s.Contain(ctx, targets[0], opts)
	})
	if err := printOutcomes(d.stdout, g.Output, "contain", outs); err != nil {
		return err
	}
	return contain.Errors(outs)
}
