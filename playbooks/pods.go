package playbooks

import (
	"context"
	"errors"
	"fmt"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

// A Kubernetes pod is a playbook target through its sandbox container (the
// case session resolves pod/NAMESPACE/NAME to it): the contain, collect and
// triage actions act on the whole pod when their target is a sandbox, as
// `firebreak contain pod/...` does.

// sandboxKind is the label the CRI plugin gives a pod's sandbox container.
const sandboxKind = "io.cri-containerd.kind"

// podTarget returns the pod whose sandbox t is, if t is one.
func podTarget(ctx context.Context, env *Env, t runtime.Container) (runtime.Pod, bool, error) {
	if t.Labels[sandboxKind] != "sandbox" {
		return runtime.Pod{}, false, nil
	}
	pl, ok := env.Runtime.(runtime.PodLister)
	if !ok {
		return runtime.Pod{}, false, nil
	}
	pods, err := pl.Pods(ctx)
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

func podRef(p runtime.Pod) *contain.PodRef {
	return &contain.PodRef{Ref: p.Ref(), UID: p.UID, SandboxID: p.SandboxID}
}

// containPodNetwork cuts the pod's sandbox namespace.
func containPodNetwork(ctx context.Context, env *Env, p runtime.Pod, o contain.Options) (*contain.Result, error) {
	if p.HostNetwork {
		return nil, &runtime.RefusedError{Container: p.Sandbox, Reason: "pod " + p.Ref() + " runs on the node's network (hostNetwork): cutting it would cut the node. Nothing was changed"}
	}
	o.Pause, o.Pod = false, podRef(p)
	return env.Contain.Contain(ctx, p.Sandbox, o)
}

// containPodPause freezes every current container of the pod, then its
// sandbox. With captureFirst and a liveness probe, the pod's evidence is
// captured into the case first: frozen, its containers fail the probe and
// the kubelet kills them.
func containPodPause(ctx context.Context, env *Env, p runtime.Pod, captureFirst bool) (map[string]any, error) {
	out := map[string]any{"captured_first": false, "liveness_deadline_s": int64(0)}
	if live := p.Liveness(); len(live) > 0 {
		d := live[0].Deadline()
		for _, pr := range live[1:] {
			d = min(d, pr.Deadline())
		}
		out["liveness_deadline_s"] = int64(d.Seconds())
		report := Progress(ctx)
		report(fmt.Sprintf("pod %s has a liveness probe: the kubelet restarts a frozen container after about %s", p.Ref(), d), progress.Count{})
		if captureFirst {
			if env.Evidence == nil {
				return nil, errors.New("pod " + p.Ref() + " has a liveness probe and the run keeps no evidence to capture it into before the freeze (capture_first: false freezes anyway)")
			}
			if _, err := collectPod(ctx, env, p, collect.DefaultOptions()); err != nil {
				return nil, fmt.Errorf("capturing pod %s before the freeze: %w", p.Ref(), err)
			}
			out["captured_first"] = true
		}
	}
	o, _ := containOptions(nil, env)
	o.Network, o.Verify, o.Pod = false, false, podRef(p)
	changed := false
	var errs []error
	members, _ := contain.PodFreezeOrder(p)
	for _, m := range members {
		r, err := env.Contain.Contain(ctx, m, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		changed = changed || !r.Unchanged
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out["changed"] = changed
	return out, nil
}

// releasePod releases every record held for the pod whose sandbox is
// sandboxID: its containers first, then the sandbox and its rules.
func releasePod(ctx context.Context, env *Env, sandboxID string) (bool, error) {
	recs, err := env.Contain.PodHeld(sandboxID)
	if err != nil {
		return false, err
	}
	changed := false
	var errs []error
	for _, r := range recs {
		res, err := env.Contain.Release(ctx, r.Container, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		changed = changed || !res.Unchanged
	}
	return changed, errors.Join(errs...)
}

// collectPod captures the pod into the run's evidence.
func collectPod(ctx context.Context, env *Env, p runtime.Pod, o collect.Options) (*collect.PodResult, error) {
	var res *collect.PodResult
	err := env.Evidence.With(ctx, func(run *evidence.Run) error {
		var err error
		res, err = collect.CollectPod(ctx, env.Runtime, run, p, o)
		return err
	})
	return res, err
}
