package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/runtime"
)

// Kubernetes pods as targets (pod/NAMESPACE/NAME, or --pod-selector on the
// pods' labels) for contain, release, collect, status and ps --pods: the
// same session calls every front end makes.

// targetsOr accepts at least one target, or none when the pod selector is
// given.
func targetsOr(podSelector *[]string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 && len(*podSelector) == 0 {
			return errors.New("name a target: a container (ID, name or ID prefix), pod/NAMESPACE/NAME, or --pod-selector")
		}
		return nil
	}
}

// splitPodRefs separates pod targets from container targets.
func splitPodRefs(refs []string) (pods, containers []string) {
	for _, r := range refs {
		if runtime.IsPodRef(r) {
			pods = append(pods, r)
		} else {
			containers = append(containers, r)
		}
	}
	return pods, containers
}

// podOutcome is one pod's contain or release, as printed.
type podOutcome struct {
	Ref string `json:"ref"`
	OK  bool   `json:"ok"`
	*app.PodResult
	Error string `json:"error,omitempty"`
	err   error
}

func runContainPods(ctx context.Context, s *app.Session, opts contain.Options, o *containOptions, refs []string, d *deps, output string) ([]podOutcome, error) {
	if o.WithSharers {
		return nil, usagef("--with-sharers is for containers outside pods: a pod target cuts its sandbox's namespace and freezes every member already")
	}
	pods, err := s.ResolvePods(ctx, refs, o.PodSelector)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		for _, ref := range refs {
			one, err := s.ResolvePods(ctx, []string{ref}, nil)
			if err != nil {
				return nil, err
			}
			if err := app.CheckPodPrefix(ref, one[0].Ref()); err != nil {
				return nil, err
			}
		}
	}
	copts := collect.DefaultOptions()
	var outs []podOutcome
	for _, p := range pods {
		res, err := s.ContainPod(ctx, p, opts, app.PodOptions{CaptureFirst: o.CaptureFirst, Collect: copts})
		outs = append(outs, podOutcome{Ref: p.Ref(), OK: err == nil, PodResult: res, err: err})
	}
	return outs, printPodOutcomes(d, output, "contain", outs)
}

func runReleasePods(ctx context.Context, s *app.Session, refs []string, dryRun bool, d *deps, output string) ([]podOutcome, error) {
	var outs []podOutcome
	for _, ref := range refs {
		res, err := s.ReleasePod(ctx, ref, dryRun)
		outs = append(outs, podOutcome{Ref: ref, OK: err == nil, PodResult: res, err: err})
	}
	return outs, printPodOutcomes(d, output, "release", outs)
}

func printPodOutcomes(d *deps, output, verb string, outs []podOutcome) error {
	for i := range outs {
		o := &outs[i]
		if o.err != nil {
			o.Error = o.err.Error()
		}
		if output == "json" {
			if err := jsonLine(d.stdout, verb+"-pod", o); err != nil {
				return err
			}
			continue
		}
		printPodText(d.stdout, verb, o)
	}
	return nil
}

func printPodText(w io.Writer, verb string, o *podOutcome) {
	r := o.PodResult
	status := "done"
	if o.err != nil {
		status = "FAILED"
	}
	if r == nil {
		fmt.Fprintf(w, "%s %s: %s\n  error: %s\n", verb, safe(o.Ref), status, safe(o.Error))
		return
	}
	var refused *runtime.RefusedError
	if p := r.Plan.Pod; p.SandboxID != "" {
		fmt.Fprintf(w, "%s %s (sandbox %s): %s\n", verb, safe(p.Ref()), runtime.ShortID(p.SandboxID), status)
		if errors.As(o.err, &refused) {
			fmt.Fprintf(w, "  refused: %s\n", safe(refused.Reason))
			return
		}
		for i, st := range r.Plan.Steps {
			fmt.Fprintf(w, "  %d. %s\n", i+1, safe(st))
		}
		for _, wn := range r.Plan.Warnings {
			fmt.Fprintf(w, "  WARNING: %s\n", safe(wn))
		}
	} else {
		fmt.Fprintf(w, "%s %s: %s\n", verb, safe(o.Ref), status)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", safe(n))
	}
	if c := r.Captured; c != nil && c.Pod != nil {
		fmt.Fprintf(w, "  captured before the freeze: case %s, %s of %d members and the pod (%s)\n", safe(c.Case), plural(len(c.Manifest.Artifacts), "artifact"), len(c.Pod.Members), runtime.ShortID(c.Pod.Pod.SandboxID))
	}
	for _, m := range r.Members {
		if m == nil {
			continue
		}
		var b strings.Builder
		printOutcomeText(&b, "  "+verb, contain.Outcome{Ref: m.Container.ID, Result: m})
		fmt.Fprint(w, b.String())
	}
	if o.err != nil {
		fmt.Fprintf(w, "  error: %s\n", safe(o.Error))
	}
}

// podErrors is the error of a pod run: nil when every pod succeeded.
func podErrors(outs []podOutcome) error {
	var errs []error
	for _, o := range outs {
		if o.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Ref, o.err))
		}
	}
	return errors.Join(errs...)
}

// runCollectPods captures each pod named into the case, one run per pod.
func runCollectPods(ctx context.Context, s *app.Session, caseID string, opts collect.Options, refs, selectors []string, g *globalOptions, d *deps) ([]error, string) {
	pods, err := s.ResolvePods(ctx, refs, selectors)
	if err != nil {
		return []error{err}, ""
	}
	var errs []error
	head := ""
	for _, p := range pods {
		got, err := s.CollectPod(ctx, app.CollectSpec{Case: caseID, Options: opts}, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Ref(), err))
		}
		if got == nil {
			continue
		}
		if got.FinishErr != nil {
			errs = append(errs, got.FinishErr)
		} else {
			head = got.Manifest.CustodyHead
		}
		if g.Output == "json" {
			if err := jsonLine(d.stdout, "collect-pod", struct {
				Ref         string             `json:"ref"`
				Case        string             `json:"case"`
				CustodyHead string             `json:"custody_head,omitempty"`
				Pod         *collect.PodResult `json:"result,omitempty"`
			}{p.Ref(), caseID, head, got.Pod}); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		fmt.Fprintf(d.stdout, "collect %s (sandbox %s): %s of %d members and the pod\n", safe(p.Ref()), runtime.ShortID(p.SandboxID), plural(len(got.Manifest.Artifacts), "artifact"), len(got.Results))
		if got.Pod != nil {
			for _, m := range got.Pod.Members {
				fmt.Fprintf(d.stdout, "  %s%s: %s\n", m.Container.ShortID(), nameSuffix(m.Container), plural(len(m.Artifacts), "artifact"))
			}
			fmt.Fprintf(d.stdout, "  pod record and logs: %s under %s\n", plural(len(got.Pod.Artifacts), "artifact"), got.Pod.Prefix)
			for _, f := range got.Pod.Failures {
				fmt.Fprintf(d.stdout, "  FAILED: %s\n", safe(f))
			}
			for _, inc := range got.Pod.Incomplete {
				fmt.Fprintf(d.stdout, "  incomplete: %s\n", safe(inc))
			}
		}
	}
	return errs, head
}

// podRow is one pod in `firebreak ps --pods`.
type podRow struct {
	runtime.Pod
	Held    int    `json:"members_held"`
	Phase   string `json:"phase,omitempty"`
	Restart string `json:"restarted,omitempty"`
}

func runPsPods(ctx context.Context, s *app.Session, o *psOptions, g *globalOptions, d *deps) error {
	pods, err := s.Pods(ctx)
	if err != nil {
		return err
	}
	held, _ := s.HeldPods()
	var rows []podRow
	for _, p := range pods {
		if !o.All && !p.Ready && len(held[p.SandboxID]) == 0 {
			continue
		}
		if len(o.Selector) > 0 && !app.MatchLabels(p.Labels, o.Selector) {
			continue
		}
		row := podRow{Pod: p, Held: len(held[p.SandboxID])}
		if row.Held > 0 {
			row.Phase = held[p.SandboxID][0].Phase
			row.Restart = strings.Join(app.PodRestarts(p, held[p.SandboxID]), "; ")
		}
		rows = append(rows, row)
	}
	if g.Output == "json" {
		if rows == nil {
			rows = []podRow{}
		}
		return writeJSON(d, rows)
	}
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tSANDBOX\tIP\tCONTAINERS\tSTATE\tCONTAINED")
	for _, r := range rows {
		var cs []string
		for _, c := range r.Current() {
			cs = append(cs, fmt.Sprintf("%s:%s", c.ContainerName, c.State))
		}
		state := "ready"
		if !r.Ready {
			state = "notready"
		}
		heldText := "-"
		if r.Held > 0 {
			heldText = fmt.Sprintf("%s (%d members)", r.Phase, r.Held)
			if r.Restart != "" {
				heldText += " " + strings.SplitN(r.Restart, ":", 2)[0]
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safeCell(r.Ref()), runtime.ShortID(r.SandboxID), r.IP, safeCell(strings.Join(cs, " ")), state, safeCell(heldText))
	}
	return tw.Flush()
}

// printPodStatus prints held records grouped by pod, one entry per pod,
// with what the kubelet did since.
func printPodStatus(ctx context.Context, s *app.Session, d *deps, rows []statusJSON) []statusJSON {
	groups := map[string][]statusJSON{}
	var order []string
	var rest []statusJSON
	for _, r := range rows {
		if r.Record == nil || r.Record.Pod == nil || !r.Held {
			rest = append(rest, r)
			continue
		}
		id := r.Record.Pod.SandboxID
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], r)
	}
	if len(order) == 0 {
		return rest
	}
	pods, _ := s.Pods(ctx)
	for _, id := range order {
		g := groups[id]
		first := g[0].Record
		cut := false
		for _, r := range g {
			cut = cut || (r.Record.Container.ID == id && r.Record.Network != nil && r.Record.Network.Firewall)
		}
		if !cut {
			first.Phase += " (its network is NOT cut: the sandbox's drop rules are not held)"
		}
		fmt.Fprintf(d.stdout, "%s (sandbox %s): %s since %s (%s ago), %s held", safe(first.Pod.Ref), runtime.ShortID(id), first.Phase, first.Since.UTC().Format(time.RFC3339), time.Since(first.Since).Round(time.Second), plural(len(g), "member"))
		if first.Case != "" {
			fmt.Fprintf(d.stdout, ", case %s", safe(first.Case))
		}
		fmt.Fprintln(d.stdout)
		var recs []*contain.Record
		for _, r := range g {
			recs = append(recs, r.Record)
			c := r.Record.Container
			what := []string{}
			if n := r.Record.Network; n != nil && n.Firewall {
				what = append(what, "drop rules in "+n.NetNSPath)
			}
			if p := r.Record.Pause; p != nil && p.Paused {
				what = append(what, "paused")
			}
			now := ""
			if l := r.Live; l != nil {
				now = fmt.Sprintf("; now %s", l.State)
				if l.Gone {
					now = "; now gone"
				} else if l.Drift != "" {
					now += " -- DRIFT: " + l.Drift
				}
			}
			role, name := "container", nameSuffix(c)
			if c.ID == id {
				role, name = "sandbox", ""
			}
			fmt.Fprintf(d.stdout, "  %s %s%s: %s%s\n", role, c.ShortID(), name, strings.Join(what, ", "), now)
		}
		for _, p := range pods {
			if p.SandboxID == id {
				for _, r := range app.PodRestarts(p, recs) {
					fmt.Fprintf(d.stdout, "  %s; capture it now (`firebreak collect %s`) and contain the pod again\n", safe(r), safe(p.Ref()))
				}
			}
		}
	}
	return rest
}
