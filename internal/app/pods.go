package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/runtime"
)

// Pods lists the node's Kubernetes pods (containerd's CRI plugin, namespace
// k8s.io); an engine without pods says so.
func (s *Session) Pods(ctx context.Context) ([]runtime.Pod, error) {
	pl, ok := s.rt.(runtime.PodLister)
	if !ok {
		return nil, inputf("pods are read through containerd's CRI plugin: give --runtime containerd --namespace k8s.io (this session talks to %s)", s.rt.Name())
	}
	pods, err := pl.Pods(ctx)
	if err != nil {
		if strings.Contains(err.Error(), "give --namespace") {
			return nil, inputf("%v", err)
		}
		return nil, err
	}
	return pods, nil
}

// ResolvePods turns pod targets (pod/NAMESPACE/NAME or a unique prefix) and
// selectors on pod labels into pods, each once, in the order named.
func (s *Session) ResolvePods(ctx context.Context, refs, selectors []string) ([]runtime.Pod, error) {
	for _, r := range refs {
		if !runtime.IsPodRef(r) {
			return nil, inputf("%q is not a pod: name pods as pod/NAMESPACE/NAME", r)
		}
	}
	pods, err := s.Pods(ctx)
	if err != nil {
		return nil, err
	}
	var out []runtime.Pod
	seen := map[string]bool{}
	for _, r := range refs {
		p, err := runtime.ResolvePod(pods, r)
		if err != nil {
			return nil, inputf("%v", err)
		}
		if !seen[p.SandboxID] {
			seen[p.SandboxID] = true
			out = append(out, p)
		}
	}
	if len(selectors) > 0 {
		matched := 0
		for _, p := range pods {
			if !p.Ready || !MatchLabels(p.Labels, selectors) {
				continue
			}
			matched++
			if !seen[p.SandboxID] {
				seen[p.SandboxID] = true
				out = append(out, p)
			}
		}
		if matched == 0 {
			return nil, inputf("no ready pod matches --selector %s", strings.Join(selectors, ","))
		}
	}
	return out, nil
}

// PodOptions say how a pod is contained beyond contain.Options.
type PodOptions struct {
	// CaptureFirst captures the pod's evidence between the cut and the
	// freeze when a liveness probe would make the kubelet restart a frozen
	// (or cut) container and so destroy its writable layer and memory.
	CaptureFirst bool
	// Collect configures that capture (its case is contain.Options.Case,
	// or a new one).
	Collect collect.Options
}

// PodPlan is what containing a pod will do, in order, and why.
type PodPlan struct {
	Pod      runtime.Pod `json:"pod"`
	Steps    []string    `json:"steps"`
	Warnings []string    `json:"warnings,omitempty"`
	Capture  bool        `json:"capture_first"`
	// Deadline is the shortest liveness deadline (period x failures): how
	// long after the cut the kubelet may restart a container.
	Deadline time.Duration `json:"deadline_ns,omitempty"`
}

// PlanPod works out a pod's containment: the cut in the sandbox's network
// namespace, then (with a liveness probe) the capture, then the freeze of
// every container and the sandbox.
func PlanPod(p runtime.Pod, o contain.Options, po PodOptions) PodPlan {
	plan := PodPlan{Pod: p}
	if o.Network {
		n := len(p.Current())
		plan.Steps = append(plan.Steps, fmt.Sprintf("cut: drop rules in the pod's network namespace (%s), cutting its %d container%s", orNone(p.NetNSPath), n, map[bool]string{true: "s"}[n != 1]))
	}
	live := p.Liveness()
	for _, pr := range live {
		if plan.Deadline == 0 || pr.Deadline() < plan.Deadline {
			plan.Deadline = pr.Deadline()
		}
	}
	if len(live) > 0 {
		var names []string
		for _, pr := range live {
			names = append(names, fmt.Sprintf("%s (%s, restart after %s)", pr.Container, pr.Handler, pr.Deadline()))
		}
		plan.Warnings = append(plan.Warnings, fmt.Sprintf(
			"liveness probes on %s: once cut or frozen they fail, and the kubelet kills and restarts the container about %s later, destroying its writable layer and memory. On the cluster side, now: take the pod out of its controller and remove the probe (docs/KUBERNETES.md gives the kubectl commands)",
			strings.Join(names, ", "), plan.Deadline))
		if po.CaptureFirst {
			plan.Capture = true
			plan.Steps = append(plan.Steps, "capture: evidence of every container and the sandbox before the freeze (--capture-first=false skips it)")
		}
	} else if p.ProbeSource == "" {
		plan.Warnings = append(plan.Warnings, "no probe known: the CRI does not carry probes and this pod has no kubectl last-applied annotation; if it has a liveness probe, the kubelet restarts a frozen container (check with `kubectl get pod -o jsonpath='{.spec.containers[*].livenessProbe}'`)")
	} else {
		plan.Warnings = append(plan.Warnings, "no liveness probe in the "+p.ProbeSource+", which the pod's author writes and the API server does not check against the running spec: confirm with `kubectl get pod -o jsonpath='{.spec.containers[*].livenessProbe}'`")
	}
	if o.Pause {
		var names []string
		for _, c := range p.Current() {
			names = append(names, c.ContainerName)
		}
		plan.Steps = append(plan.Steps, fmt.Sprintf("freeze: %s and the sandbox", strings.Join(names, ", ")))
	}
	if p.HostNetwork && o.Network {
		plan.Warnings = append(plan.Warnings, "the pod runs on the node's network (hostNetwork): its network cannot be cut without cutting the node")
	}
	return plan
}

// PodResult is one pod's containment or release: each member's result, the
// sandbox's last.
type PodResult struct {
	Plan     PodPlan           `json:"plan"`
	Members  []*contain.Result `json:"members"`
	Captured *Collected        `json:"-"`
	Case     string            `json:"case,omitempty"`
	Notes    []string          `json:"notes,omitempty"`
}

// ContainPod holds a pod as one: drop rules in the sandbox's network
// namespace (verified from it), the capture where the plan asks for it,
// then every current container frozen and the sandbox last. Each member's
// record names the pod; what is done stays recorded when a step fails, and
// containing again finishes it.
func (s *Session) ContainPod(ctx context.Context, p runtime.Pod, o contain.Options, po PodOptions) (*PodResult, error) {
	if o.Actor == "" {
		o.Actor = s.opts.Actor
	}
	plan := PlanPod(p, o, po)
	res := &PodResult{Plan: plan}
	if p.HostNetwork && o.Network {
		return res, &runtime.RefusedError{Container: p.Sandbox, Reason: fmt.Sprintf("pod %s runs on the node's network (hostNetwork): cutting it would cut the node. Nothing was changed. Freeze it with `firebreak contain --network=false %s`, and quarantine it on the cluster side (docs/KUBERNETES.md)", p.Ref(), p.Ref())}
	}
	if !p.Ready {
		return res, &runtime.RefusedError{Container: p.Sandbox, Reason: fmt.Sprintf("pod %s is not ready (its sandbox is stopped): nothing runs to cut or freeze. Nothing was changed", p.Ref())}
	}
	ref := &contain.PodRef{Ref: p.Ref(), UID: p.UID, SandboxID: p.SandboxID}
	if plan.Capture && !o.DryRun {
		// The store must take the capture before the cut starts the
		// kubelet's clock: a cut pod that cannot be captured is what the
		// capture-first order exists to avoid.
		if _, err := s.Evidence(); err != nil {
			return res, fmt.Errorf("pod %s has a liveness probe and is captured before the freeze, but the evidence store cannot be opened: %w. Nothing was changed. Fix the store, or contain with --capture-first=false", p.Ref(), err)
		}
		if err := s.Preflight(ctx); err != nil {
			return res, fmt.Errorf("pod %s has a liveness probe and is captured before the freeze, but the evidence store does not answer: %w. Nothing was changed. Fix the store, or contain with --capture-first=false", p.Ref(), err)
		}
	}
	if plan.Capture && o.Case == "" && !o.DryRun {
		o.Case = "pod-" + time.Now().UTC().Format("20060102T150405Z")
		res.Notes = append(res.Notes, "the capture and the containment are recorded under case "+o.Case)
	}
	res.Case = o.Case
	if o.Network {
		cut := o
		cut.Pause, cut.Pod = false, ref
		r, err := s.containOne(ctx, p.Sandbox, cut)
		res.Members = append(res.Members, r)
		if err != nil {
			return res, err
		}
	}
	if plan.Capture && !o.DryRun {
		spec := CollectSpec{Case: o.Case, Options: po.Collect}
		got, err := s.CollectPod(ctx, spec, p)
		res.Captured = got
		if err != nil {
			// %v, not %w: the cut is done, so this is no input error (exit 1).
			return res, fmt.Errorf("capturing pod %s before the freeze: %v (the cut stays; `firebreak contain --capture-first=false %s` freezes it now)", p.Ref(), err, p.Ref())
		}
	}
	if !o.Pause {
		return res, nil
	}
	freeze := o
	freeze.Network, freeze.Verify, freeze.Pod = false, false, ref
	members, skipped := contain.PodFreezeOrder(p)
	res.Notes = append(res.Notes, skipped...)
	var errs []error
	for _, m := range members {
		r, err := s.containOne(ctx, m, freeze)
		res.Members = append(res.Members, r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// HeldPods groups the held records by pod: sandbox ID -> records.
func (s *Session) HeldPods() (map[string][]*contain.Record, error) {
	c, err := s.Containment()
	if err != nil {
		return nil, err
	}
	recs, err := c.Held()
	if err != nil {
		return nil, err
	}
	out := map[string][]*contain.Record{}
	for _, r := range recs {
		if r.Pod != nil {
			out[r.Pod.SandboxID] = append(out[r.Pod.SandboxID], r)
		}
	}
	return out, nil
}

// FindHeldPod finds the held pod ref names: among the held records and the
// node's pods together, NAMESPACE/NAME exactly first, then NAME exactly,
// then a prefix that fits one pod only, held or live. A pod the kubelet
// removed is still found by its records; a live pod of another name never
// stands in for it. It returns the sandbox ID and the records, or "" when
// the pod named is not held.
func (s *Session) FindHeldPod(ctx context.Context, ref string) (string, []*contain.Record, error) {
	held, err := s.HeldPods()
	if err != nil {
		return "", nil, err
	}
	pods, perr := s.Pods(ctx)
	for _, level := range []runtime.PodMatch{runtime.PodExact, runtime.PodNameExact, runtime.PodPrefixMatch} {
		found := map[string]string{} // sandbox ID -> pod target
		for id, recs := range held {
			if runtime.MatchPod(ref, recs[0].Pod.Ref) == level {
				found[id] = recs[0].Pod.Ref
			}
		}
		for _, p := range pods {
			if runtime.MatchPod(ref, p.Ref()) == level {
				if _, isHeld := held[p.SandboxID]; isHeld || level == runtime.PodPrefixMatch || len(found) == 0 {
					found[p.SandboxID] = p.Ref()
				}
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			for id := range found {
				return id, held[id], nil
			}
		}
		var names []string
		for id, name := range found {
			mark := ""
			if _, ok := held[id]; ok {
				mark = ", held"
			}
			names = append(names, name+" ("+runtime.ShortID(id)+mark+")")
		}
		slices.Sort(names)
		return "", nil, inputf("%q matches %d pods: %s; name one as pod/NAMESPACE/NAME", ref, len(found), strings.Join(names, ", "))
	}
	if perr != nil && len(held) == 0 {
		return "", nil, perr
	}
	return "", nil, nil
}

// ReleasePod releases every record held for the pod named by ref (see
// FindHeldPod): the containers thawed first, then the sandbox thawed and
// its drop rules removed.
func (s *Session) ReleasePod(ctx context.Context, ref string, dryRun bool) (*PodResult, error) {
	sandboxID, recs, err := s.FindHeldPod(ctx, ref)
	if err != nil {
		return nil, err
	}
	if sandboxID == "" || len(recs) == 0 {
		return &PodResult{Notes: []string{ref + " is not held by Firebreak: nothing to release"}}, nil
	}
	return s.releaseHeldPod(ctx, sandboxID, dryRun)
}

// releaseHeldPod releases the records held for one pod in
// contain.PodHeld's order: the containers thawed, then the sandbox thawed
// and its drop rules removed.
func (s *Session) releaseHeldPod(ctx context.Context, sandboxID string, dryRun bool) (*PodResult, error) {
	c, err := s.Containment()
	if err != nil {
		return nil, err
	}
	recs, err := c.PodHeld(sandboxID)
	if err != nil {
		return nil, err
	}
	res := &PodResult{}
	var errs []error
	for _, r := range recs {
		m, err := s.releaseOne(ctx, r.Container, dryRun)
		res.Members = append(res.Members, m)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// CollectPod captures a pod as a unit into the case in one signed run
// (see collect.CollectPod).
func (s *Session) CollectPod(ctx context.Context, spec CollectSpec, p runtime.Pod) (*Collected, error) {
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
	run, err := evidence.OpenRunWith(ctx, ev.Sink, ev.Signer, s.CaseInfo(spec.Case, "", []string{p.Ref()}), evidence.RunOptions{Waiting: spec.Waiting})
	if err != nil {
		return nil, err
	}
	out := &Collected{Case: spec.Case}
	pr, cerr := collect.CollectPod(ctx, s.rt, run, p, spec.Options)
	if pr != nil {
		out.Pod = pr
		for _, m := range pr.Members {
			out.Results = append(out.Results, m)
			out.Failures = append(out.Failures, nil)
		}
	}
	m, err := run.Finish(ctx)
	if err != nil {
		out.FinishErr = fmt.Errorf("finishing case %s: %w", spec.Case, err)
	} else {
		out.Manifest = m
	}
	return out, cerr
}

// podOfSandbox returns the pod whose sandbox t is, when t is one and the
// engine runs pods.
func (s *Session) podOfSandbox(ctx context.Context, t runtime.Container) (runtime.Pod, bool, error) {
	if t.Labels["io.cri-containerd.kind"] != "sandbox" {
		return runtime.Pod{}, false, nil
	}
	if _, ok := s.rt.(runtime.PodLister); !ok {
		return runtime.Pod{}, false, nil
	}
	pods, err := s.Pods(ctx)
	if err != nil {
		return runtime.Pod{}, true, err
	}
	for _, p := range pods {
		if p.SandboxID == t.ID {
			return p, true, nil
		}
	}
	return runtime.Pod{}, true, fmt.Errorf("pod sandbox %s: %w: no pod of the node has it now", t.ShortID(), runtime.ErrNotFound)
}

// mergePod reports a pod's containment or release as one result on its
// sandbox, for front ends that show one result per row (the console): each
// member's acts, named, and the plan's warnings as notes.
func (s *Session) mergePod(t runtime.Container, pr *PodResult, dryRun bool) *contain.Result {
	res := &contain.Result{Container: t, Runtime: s.rt.Name(), DryRun: dryRun, Unchanged: true}
	if pr == nil {
		return res
	}
	res.Notes = append(append(res.Notes, pr.Plan.Warnings...), pr.Notes...)
	for _, m := range pr.Members {
		if m == nil {
			continue
		}
		for _, ch := range m.Changes {
			ch.Detail = m.Container.Name + ": " + ch.Detail
			res.Changes = append(res.Changes, ch)
		}
		res.Notes = append(res.Notes, m.Notes...)
		if !m.Unchanged {
			res.Unchanged = false
		}
		if m.Verification != nil {
			res.Verification = m.Verification
		}
		if m.Container.ID == t.ID {
			res.Record, res.Timings = m.Record, m.Timings
		}
	}
	return res
}

// PodRestarts says which containers of a held pod the kubelet replaced
// since Firebreak froze them (a newer attempt than the one held, or the
// held one gone): the evidence in the old one's writable layer and memory
// may be lost, and the new one runs unfrozen. `ps --pods`, `status` and
// the console word it so.
func PodRestarts(p runtime.Pod, recs []*contain.Record) []string {
	heldIDs := map[string]bool{}
	for _, r := range recs {
		heldIDs[r.Container.ID] = true
	}
	var out []string
	for _, c := range p.Current() {
		if heldIDs[c.ID] {
			if c.State != runtime.StatePaused && c.State != runtime.StateRunning {
				out = append(out, fmt.Sprintf("STOPPED: %s (%s) is %s, no longer frozen: the kubelet stopped or killed it", c.ContainerName, c.ShortID(), c.State))
			}
			continue
		}
		for _, r := range recs {
			if r.Container.Labels["io.kubernetes.container.name"] == c.ContainerName {
				out = append(out, fmt.Sprintf("RESTARTED: %s restarted by the kubelet: attempt %d (%s, %s, not held) replaced %s", c.ContainerName, c.Attempt, c.ShortID(), c.State, r.Container.ShortID()))
				break
			}
		}
	}
	return out
}
