package tui

import (
	"context"
	"fmt"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

var _ PodBackend = (*Sessions)(nil)

// Pods lists the engine's pods with what is held of each, as `firebreak ps
// --pods` does (app.Session.Pods and HeldPods): a pod that is not ready is
// listed only while Firebreak holds some of it.
func (b *Sessions) Pods(ctx context.Context, engine string) ([]PodItem, error) {
	s, err := b.engine(engine)
	if err != nil {
		return nil, err
	}
	pods, err := s.Pods(ctx)
	if err != nil {
		return nil, err
	}
	held, _ := s.HeldPods() // no records yet is nothing held
	var out []PodItem
	for _, p := range pods {
		recs := held[p.SandboxID]
		if !p.Ready && len(recs) == 0 {
			continue
		}
		out = append(out, PodItem{Engine: engine, Pod: p, Held: recs, Restarts: app.PodRestarts(p, recs)})
	}
	return out, nil
}

// resolvePod reads the pod again by its full target, as the CLI resolves
// pod/NS/NAME before it acts (ResolvePods), and refuses one whose sandbox
// changed since it was listed: the kubelet made the pod again.
func (b *Sessions) resolvePod(ctx context.Context, p PodItem) (*app.Session, runtime.Pod, error) {
	s, err := b.engine(p.Engine)
	if err != nil {
		return nil, runtime.Pod{}, err
	}
	pods, err := s.ResolvePods(ctx, []string{p.Ref()}, nil)
	if err != nil {
		return nil, runtime.Pod{}, err
	}
	if pods[0].SandboxID != p.SandboxID {
		return nil, runtime.Pod{}, fmt.Errorf("%s has a new sandbox (%s, was %s) since it was listed: list again (ctrl+r)", p.Ref(), runtime.ShortID(pods[0].SandboxID), runtime.ShortID(p.SandboxID))
	}
	return s, pods[0], nil
}

// ContainPod contains the pod as `firebreak contain pod/NS/NAME` does with
// its defaults: cut, capture first where a liveness probe asks for it,
// freeze.
func (b *Sessions) ContainPod(ctx context.Context, p PodItem, dryRun bool) (*app.PodResult, error) {
	s, pod, err := b.resolvePod(ctx, p)
	if err != nil {
		return nil, err
	}
	o := contain.DefaultOptions()
	o.DryRun = dryRun
	return s.ContainPod(ctx, pod, o, app.PodOptions{CaptureFirst: true, Collect: collect.DefaultOptions()})
}

// ReleasePod releases the pod as `firebreak release pod/NS/NAME` does.
func (b *Sessions) ReleasePod(ctx context.Context, p PodItem, dryRun bool) (*app.PodResult, error) {
	s, err := b.engine(p.Engine)
	if err != nil {
		return nil, err
	}
	return s.ReleasePod(ctx, p.Ref(), dryRun)
}

// CollectPod captures the pod as `firebreak collect --case CASE
// pod/NS/NAME` does.
func (b *Sessions) CollectPod(ctx context.Context, p PodItem, caseID string, report func(progress.Count)) (*Captured, error) {
	s, pod, err := b.resolvePod(ctx, p)
	if err != nil {
		return nil, err
	}
	o := collect.DefaultOptions()
	if report != nil {
		o.Progress = collect.Progress(report)
	}
	got, err := s.CollectPod(ctx, app.CollectSpec{Case: caseID, Options: o}, pod)
	if got == nil {
		return nil, err
	}
	out := &Captured{Case: caseID}
	if err != nil {
		out.Failed = append(out.Failed, p.Ref()+": "+err.Error())
	}
	if got.Pod != nil {
		out.Failed = append(out.Failed, got.Pod.Failures...)
	}
	if got.FinishErr != nil {
		out.Failed = append(out.Failed, got.FinishErr.Error())
	} else {
		out.Artifacts, out.Head = len(got.Manifest.Artifacts), got.Manifest.CustodyHead
	}
	if perr := s.Pending(); perr != nil {
		out.Pending = perr.Error()
	}
	return out, nil
}
