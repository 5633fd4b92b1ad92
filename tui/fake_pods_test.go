package tui

import (
	"context"
	"fmt"
	"time"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

const k8sEngine = "containerd/k8s.io"

var _ PodBackend = (*fakeBackend)(nil)

// podFleet is fleetOf(n) and, on containerd/k8s.io, three pods: shop/cart
// (web with a high finding, and a sidecar), shop/db (one container) and
// kube-system/coredns, each with its sandbox, every member an item labelled
// as the kubelet labels it.
func podFleet(n int) *fakeBackend {
	f := fleetOf(n)
	base := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	seq := 0
	add := func(ns, pod, name, kind string) runtime.Container {
		seq++
		c := runtime.Container{
			ID: fmt.Sprintf("%012x%052x", 0xabc000+seq, seq), Name: ns + "/" + pod + "/" + name, Image: "busybox:test",
			Created: base.Add(time.Duration(seq) * time.Second), State: runtime.StateRunning,
			Labels: map[string]string{podNamespaceLabel: ns, podNameLabel: pod, "io.cri-containerd.kind": kind, "io.kubernetes.container.name": name},
		}
		if kind == "sandbox" {
			c.Image = "pause:test"
			delete(c.Labels, "io.kubernetes.container.name")
		}
		it := Item{Engine: k8sEngine, Container: c}
		f.items = append(f.items, it)
		f.assess[it.Key()] = collect.Assessment{Container: c, Runtime: k8sEngine}
		return c
	}
	for _, spec := range []struct {
		ns, name string
		members  []string
	}{{"shop", "cart-7d9f", []string{"web", "sidecar"}}, {"shop", "db-0", []string{"db"}}, {"kube-system", "coredns-5d78", []string{"coredns"}}} {
		sb := add(spec.ns, spec.name, "POD", "sandbox")
		p := runtime.Pod{SandboxID: sb.ID, Namespace: spec.ns, Name: spec.name, UID: spec.name + "-uid", Ready: true, Sandbox: sb, NetNSPath: "/var/run/netns/cni-" + spec.name}
		for _, name := range spec.members {
			p.Containers = append(p.Containers, runtime.PodContainer{Container: add(spec.ns, spec.name, name, "container"), ContainerName: name})
		}
		f.pods = append(f.pods, p)
	}
	web := f.pods[0].Containers[0].Container
	f.assess[k8sEngine+"/"+web.ID] = collect.Assessment{Container: web, Runtime: k8sEngine, Score: 42,
		Findings: []collect.Finding{{ID: "host-path", Severity: collect.High, Title: "hostPath / mounted"}}}
	return f
}

// item finds an item by engine and ID; the lock is held.
func (f *fakeBackend) itemOf(engine, id string) *Item {
	for i := range f.items {
		if f.items[i].Engine == engine && f.items[i].ID == id {
			return &f.items[i]
		}
	}
	return nil
}

// Pods lists the fake's pods with their members as the items hold them now.
func (f *fakeBackend) Pods(ctx context.Context, engine string) ([]PodItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.podLists++
	if engine != k8sEngine {
		return nil, fmt.Errorf("pods live in containerd namespace k8s.io: give --namespace k8s.io")
	}
	var out []PodItem
	for _, p := range f.pods {
		p.Containers = append([]runtime.PodContainer(nil), p.Containers...)
		var held []*contain.Record
		if it := f.itemOf(engine, p.SandboxID); it != nil {
			p.Sandbox = it.Container
			if it.Held != nil {
				held = append(held, it.Held)
			}
		}
		for i, c := range p.Containers {
			if it := f.itemOf(engine, c.ID); it != nil {
				p.Containers[i].Container = it.Container
				if it.Held != nil {
					held = append(held, it.Held)
				}
			}
		}
		if !p.Ready && len(held) == 0 {
			continue // as ps --pods lists them
		}
		out = append(out, PodItem{Engine: engine, Pod: p, Held: held, Restarts: app.PodRestarts(p, held)})
	}
	return out, nil
}

// ContainPod plans as PlanPod does and holds every member.
func (f *fakeBackend) ContainPod(ctx context.Context, p PodItem, dryRun bool) (*app.PodResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := contain.DefaultOptions()
	o.DryRun = dryRun
	res := &app.PodResult{Plan: app.PlanPod(p.Pod, o, app.PodOptions{CaptureFirst: true})}
	if !dryRun {
		f.podContains = append(f.podContains, p.Key())
	}
	for _, c := range p.Members() {
		r := &contain.Result{Container: c, DryRun: dryRun, Changes: []contain.Change{{Action: "pause", Detail: "freeze every process"}}}
		res.Members = append(res.Members, r)
		if !dryRun {
			f.setHeld(k8sEngine+"/"+c.ID, &contain.Record{Container: c, Phase: "contained", Pod: &contain.PodRef{Ref: p.Ref(), SandboxID: p.SandboxID}, Pause: &contain.PauseHold{Paused: true}})
		}
	}
	return res, nil
}

// ReleasePod releases every held member.
func (f *fakeBackend) ReleasePod(ctx context.Context, p PodItem, dryRun bool) (*app.PodResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &app.PodResult{}
	for _, c := range p.Members() {
		it := f.itemOf(p.Engine, c.ID)
		if it == nil || it.Held == nil {
			continue
		}
		res.Members = append(res.Members, &contain.Result{Container: c, DryRun: dryRun, Changes: []contain.Change{{Action: "unpause", Detail: "thaw"}}})
		if !dryRun {
			f.setHeld(it.Key(), nil)
		}
	}
	if !dryRun {
		f.podReleases = append(f.podReleases, p.Key())
	}
	return res, nil
}

func (f *fakeBackend) CollectPod(ctx context.Context, p PodItem, caseID string, report func(progress.Count)) (*Captured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.podCols = append(f.podCols, p.Key()+" "+caseID)
	return &Captured{Case: caseID, Artifacts: 9}, nil
}
