package tui

import (
	"context"
	"strings"

	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

// PodItem is one Kubernetes pod as the console lists it: as `firebreak ps
// --pods` lists it, with what Firebreak holds of it.
type PodItem struct {
	Engine string // "containerd/k8s.io"
	runtime.Pod
	Held []*contain.Record // the records held for the pod, members and sandbox
	// Restarts are what the kubelet did beside the held pod (app.PodRestarts:
	// "RESTARTED: ...", "STOPPED: ..."), as `ps --pods` and `status` say it.
	Restarts []string
}

// Key identifies a pod across engines: its engine and sandbox ID.
func (p PodItem) Key() string { return p.Engine + "/" + p.SandboxID }

// PodBackend is what the console asks of engines that run Kubernetes pods.
// A Backend without it lists no pods (the console says so).
type PodBackend interface {
	// Pods lists an engine's pods as `firebreak ps --pods` does: the ready
	// ones and those Firebreak holds. An engine without pods is an error
	// that says how to reach them.
	Pods(ctx context.Context, engine string) ([]PodItem, error)
	// ContainPod and ReleasePod act on the whole pod as `firebreak contain
	// pod/NS/NAME` and `release pod/NS/NAME` do; dryRun plans without
	// acting (the result's Plan and each member's planned changes). A pod
	// replaced since it was listed is an error, never another pod acted on.
	ContainPod(ctx context.Context, p PodItem, dryRun bool) (*app.PodResult, error)
	ReleasePod(ctx context.Context, p PodItem, dryRun bool) (*app.PodResult, error)
	// CollectPod captures the pod as one signed run into the case, as
	// `firebreak collect pod/NS/NAME` does, without changing it.
	CollectPod(ctx context.Context, p PodItem, caseID string, report func(progress.Count)) (*Captured, error)
}

// The labels the kubelet gives every container of a pod, its sandbox too.
const (
	podNamespaceLabel = "io.kubernetes.pod.namespace"
	podNameLabel      = "io.kubernetes.pod.name"
)

// PodName is the pod the container belongs to as NAMESPACE/NAME, from the
// labels the kubelet puts on each of its containers; "" for a container
// outside pods.
func (i Item) PodName() string {
	ns, name := i.Labels[podNamespaceLabel], i.Labels[podNameLabel]
	if ns == "" || name == "" {
		return ""
	}
	return ns + "/" + name
}

// nameInPod is the container's name within its pod, for a fleet that shows
// the pod in its own column: the kubelet's container name, or "(sandbox)"
// for the pod's sandbox; its Ref for a container outside pods.
func (i Item) nameInPod() string {
	if i.PodName() == "" {
		return i.Ref()
	}
	if i.Labels["io.cri-containerd.kind"] == "sandbox" {
		return "(sandbox)"
	}
	if n := i.Labels["io.kubernetes.container.name"]; n != "" {
		return n
	}
	return i.Ref()
}

// podRef is the pod's target on a command line, pod/NAMESPACE/NAME.
func podRef(nsName string) string { return runtime.PodPrefix + nsName }

// memberRole names a pod's member as the dialogs list it.
func memberRole(p runtime.Pod, c runtime.Container) string {
	if c.ID == p.SandboxID {
		return "sandbox"
	}
	for _, pc := range p.Containers {
		if pc.ID == c.ID && pc.ContainerName != "" {
			return pc.ContainerName
		}
	}
	return strings.TrimPrefix(c.Name, p.Namespace+"/"+p.Name+"/")
}
