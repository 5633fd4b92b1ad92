package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/evidence"
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
	WithSharers       bool
	CaptureFirst      bool
	PodSelector       []string
	store             storeOptions // where a pod's capture-first evidence goes
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
	o.store.AddFlags(cmd)
	f.BoolVar(&o.CaptureFirst, "capture-first", true, "pods with a liveness probe: capture their evidence between the cut and the freeze, before the kubelet can restart a frozen container")
	f.StringSliceVar(&o.PodSelector, "pod-selector", nil, "contain every ready Kubernetes pod whose labels match (key=value or key; repeatable)")
	f.BoolVar(&o.WithSharers, "with-sharers", false, "when its network namespace is shared (a named namespace several containers joined), cut it anyway and contain every container that shares it, listed in the plan")
}

func (o *containOptions) toOptions() (contain.Options, error) {
	opts := contain.Options{
		Network: o.Network, Pause: o.Pause, QuarantineNetwork: o.QuarantineNetwork,
		DryRun: o.DryRun, Case: o.Case, Actor: actor(),
		Verify: o.Verify, Probe: o.Probe, ProbePort: o.ProbePort, ProbeTimeout: o.ProbeTimeout,
		WithSharers: o.WithSharers,
	}
	if o.Case != "" {
		if err := evidence.CheckCaseID(o.Case); err != nil {
			return opts, usagef("--case: %v", err)
		}
	}
	if o.ProbeTimeout <= 0 {
		return opts, usagef("--probe-timeout %s: give a positive duration such as 250ms", o.ProbeTimeout)
	}
	for _, p := range o.Probe {
		if err := checkProbe(p); err != nil {
			return opts, usagef("--probe %q: %v", p, err)
		}
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
		if err := contain.CheckAllow(p); err != nil {
			return opts, usagef("--allow %s", err)
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
Containing twice changes nothing the second time.

A Kubernetes pod (pod/NAMESPACE/NAME or a unique prefix, or --pod-selector;
containerd's CRI plugin: --runtime containerd --namespace k8s.io) is held as
a unit: drop rules in its sandbox's network namespace cut every container,
then each container and the sandbox are frozen. When a liveness probe would
make the kubelet restart a frozen container, its evidence is captured between
the cut and the freeze (--capture-first, into --case or a new case).`,
		Example: `  firebreak contain web-1
  firebreak --runtime containerd --namespace k8s.io contain pod/shop/cart-7d9f
  firebreak contain --quarantine-network fb-quarantine --allow 10.9.0.5 web-1
  firebreak contain --dry-run --output json 3f2a`,
		Args: targetsOr(&o.PodSelector),
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
	s, err := openSession(ctx, g, d, &o.store)
	if err != nil {
		return err
	}
	defer s.Close()
	podRefs, refs := splitPodRefs(refs)
	var podOuts []podOutcome
	if len(podRefs) > 0 || len(o.PodSelector) > 0 {
		if podOuts, err = runContainPods(ctx, s, opts, o, podRefs, d, g.Output); err != nil {
			return err
		}
		if len(refs) == 0 {
			return podErrors(podOuts)
		}
	}
	parallel := o.Parallel
	if o.WithSharers {
		// Every sharer is contained too, one after the other: they share
		// one set of drop rules.
		if refs, err = withSharers(ctx, s, refs); err != nil {
			return err
		}
		parallel = 1
	}
	outs := contain.Each(ctx, refs, parallel, func(ctx context.Context, ref string) (*contain.Result, error) {
		targets, err := s.Resolve(ctx, app.Selection{Refs: []string{ref}, Act: !opts.DryRun})
		if err != nil {
			return nil, err
		}
		return s.Contain(ctx, targets[0], opts)
	})
	if err := printOutcomes(d.stdout, g.Output, "contain", outs); err != nil {
		return err
	}
	return errors.Join(podErrors(podOuts), outcomesError("contain", g.Output, outs))
}

// withSharers adds to refs the full ID of every container that shares a
// named target's network namespace.
func withSharers(ctx context.Context, s *app.Session, refs []string) ([]string, error) {
	out := slices.Clone(refs)
	for _, ref := range refs {
		targets, err := s.Resolve(ctx, app.Selection{Refs: []string{ref}, Act: true})
		if err != nil {
			return nil, err
		}
		d, err := s.Runtime().Inspect(ctx, targets[0].ID)
		if err != nil {
			return nil, err
		}
		for _, o := range d.NetworkMode.SharedWith {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// checkProbe checks a --probe peer: an address or host, with an optional
// port from 1 to 65535.
func checkProbe(p string) error {
	host, port := p, ""
	if h, pt, err := net.SplitHostPort(p); err == nil {
		host, port = h, pt
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return errors.New("give an address or host, with :port if not the probe port")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: give 1 to 65535", port)
		}
	}
	return nil
}
