// Package containerd adapts a containerd daemon (through the containerd v2 Go
// client, with the namespace carried in the context) to runtime.Runtime.
// containerd leaves networking to CNI, so this adapter reports the task's
// network namespace and does not implement runtime.NetworkAttacher.
package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/sys/unix"

	"firebreak/runtime"
)

// DefaultNamespace is the namespace ctr and nerdctl use when none is named.
const DefaultNamespace = "default"

// DefaultAddress is containerd's default socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// NameLabel is the label nerdctl stores a container's name in; Firebreak
// reads names from it.
const NameLabel = "nerdctl/name"

// The labels Kubernetes' CRI plugin gives a pod's containers.
const (
	criPodNamespaceLabel = "io.kubernetes.pod.namespace"
	criPodNameLabel      = "io.kubernetes.pod.name"
	criContainerLabel    = "io.kubernetes.container.name"
	criKindLabel         = "io.cri-containerd.kind" // sandbox or container
)

// nameOf is a container's name: nerdctl's, or for a container of a
// Kubernetes pod NAMESPACE/POD/CONTAINER (as a responder names it from
// kubectl), for a pod's sandbox the pod's target pod/NAMESPACE/POD, or else
// its ID, which in containerd is chosen by whoever made
// it (ctr run IMAGE ID) and is how such a container is known.
func nameOf(id string, labels map[string]string) string {
	if n := labels[NameLabel]; n != "" {
		return n
	}
	ns, pod, ctr := labels[criPodNamespaceLabel], labels[criPodNameLabel], labels[criContainerLabel]
	if pod != "" && labels[criKindLabel] == "sandbox" {
		return runtime.PodPrefix + ns + "/" + pod // a pod's sandbox stands for the pod
	}
	if pod == "" || ctr == "" {
		return id // no name label
	}
	return ns + "/" + pod + "/" + ctr
}

// Containerd talks to one containerd daemon, in one namespace.
type Containerd struct {
	api       *client.Client
	namespace string
	// DataDir holds what a recover makes for containerd: restored data
	// and the logs of recreated containers ("" is DefaultDataDir).
	DataDir string
}

var (
	_ runtime.Runtime     = (*Containerd)(nil)
	_ runtime.LayerReader = (*Containerd)(nil)
	_ runtime.Stopper     = (*Containerd)(nil)
)

// New connects to the daemon at address and works in namespace.
func New(address, namespace string) (*Containerd, error) {
	if address == "" {
		address = DefaultAddress
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	api, err := client.New(address, client.WithDefaultNamespace(namespace))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w (hint: is containerd running? set --address or CONTAINERD_ADDRESS)", address, err)
	}
	return &Containerd{api: api, namespace: namespace}, nil
}

// HostVersions reads containerd's version; runc's is not reported by
// containerd, and the kernel's is the host's own (uname).
func (c *Containerd) HostVersions(ctx context.Context) (runtime.HostVersions, error) {
	v, err := c.api.Version(c.ctx(ctx))
	if err != nil {
		return runtime.HostVersions{}, fmt.Errorf("containerd Version: %w", err)
	}
	out := runtime.HostVersions{Engine: "containerd " + v.Version, Containerd: v.Version}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		out.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return out, nil
}

// Client returns the containerd client, for tests that set up fixtures.
func (c *Containerd) Client() *client.Client { return c.api }

// Namespace is the containerd namespace this adapter works in.
func (c *Containerd) Namespace() string { return c.namespace }

// Namespaces lists every namespace containerd holds (Kubernetes' k8s.io,
// Docker's moby, nerdctl's default, ...), sorted.
func (c *Containerd) Namespaces(ctx context.Context) ([]string, error) {
	ns, err := c.api.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd: listing namespaces: %w", err)
	}
	slices.Sort(ns)
	return ns, nil
}

func (c *Containerd) Name() string { return "containerd" }
func (c *Containerd) Close() error { return c.api.Close() }

func (c *Containerd) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.namespace)
}

func (c *Containerd) List(ctx context.Context) ([]runtime.Container, error) {
	ctx = c.ctx(ctx)
	list, err := c.api.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd Containers (namespace %s): %w", c.namespace, err)
	}
	out := make([]runtime.Container, 0, len(list))
	for _, ctr := range list {
		info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
		if cerrdefs.IsNotFound(err) {
			continue // removed while listing
		}
		if err != nil {
			return nil, fmt.Errorf("containerd Container.Info %s: %w", ctr.ID(), err)
		}
		state, _, err := taskState(ctx, ctr)
		if err != nil {
			return nil, err
		}
		out = append(out, runtime.Container{
			ID:      info.ID,
			Name:    nameOf(info.ID, info.Labels),
			Image:   info.Image,
			Created: info.CreatedAt.UTC(),
			State:   state,
			Labels:  info.Labels,
		})
	}
	return out, nil
}

func taskState(ctx context.Context, ctr client.Container) (runtime.State, int, error) {
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return runtime.StateCreated, 0, nil
	}
	if err != nil {
		return runtime.StateUnknown, 0, fmt.Errorf("containerd Container.Task %s: %w", ctr.ID(), err)
	}
	st, err := task.Status(ctx)
	if cerrdefs.IsNotFound(err) {
		return runtime.StateCreated, 0, nil
	}
	if err != nil {
		return runtime.StateUnknown, 0, fmt.Errorf("containerd Task.Status %s: %w", ctr.ID(), err)
	}
	pid := int(task.Pid())
	switch st.Status {
	case client.Running:
		return runtime.StateRunning, pid, nil
	case client.Paused, client.Pausing:
		return runtime.StatePaused, pid, nil
	case client.Created:
		return runtime.StateCreated, pid, nil
	case client.Stopped:
		return runtime.StateStopped, 0, nil
	}
	return runtime.StateUnknown, pid, nil
}

func (c *Containerd) load(ctx context.Context, id string) (client.Container, error) {
	ctr, err := c.api.LoadContainer(ctx, id)
	if err != nil {
		return nil, wrap("LoadContainer", id, err)
	}
	return ctr, nil
}

// info loads a container and its record (labels, extensions, snapshot),
// ctx already in the namespace.
func (c *Containerd) info(ctx context.Context, id string) (client.Container, containers.Container, error) {
	ctr, err := c.load(ctx, id)
	if err != nil {
		return nil, containers.Container{}, err
	}
	info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return nil, containers.Container{}, wrap("Container.Info", id, err)
	}
	return ctr, info, nil
}

func (c *Containerd) Inspect(ctx context.Context, id string) (runtime.Details, error) {
	ctx = c.ctx(ctx)
	ctr, info, err := c.info(ctx, id)
	if err != nil {
		return runtime.Details{}, err
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return runtime.Details{}, wrap("Container.Spec", id, err)
	}
	state, pid, err := taskState(ctx, ctr)
	if err != nil {
		return runtime.Details{}, err
	}
	d := runtime.Details{
		Container: runtime.Container{
			ID:      info.ID,
			Name:    nameOf(info.ID, info.Labels),
			Image:   info.Image,
			Created: info.CreatedAt.UTC(),
			State:   state,
			Labels:  info.Labels,
		},
		Pid: pid,
	}
	d.Security = securityOf(spec, info.Labels)
	nsPath, hasNetNS := netnsOf(spec)
	switch {
	case !hasNetNS:
		d.NetworkMode.Kind = "host"
	case nsPath == "":
		d.NetworkMode.Kind = "private"
		if pid > 0 {
			d.NetNSPath = fmt.Sprintf("/proc/%d/ns/net", pid)
		}
	default:
		// A namespace made beforehand (CNI, a pod sandbox, a test's
		// `ip netns add`): private unless another container joins it too.
		d.NetworkMode.Kind = "private"
		d.NetNSPath = nsPath
		others, err := c.sharing(ctx, id, nsPath)
		if err != nil {
			return runtime.Details{}, err
		}
		if len(others) > 0 {
			d.NetworkMode = runtime.NetworkMode{Kind: "container", SharedWith: others}
		}
	}
	d.Raw, err = json.Marshal(struct {
		Container any    `json:"container"`
		Spec      any    `json:"spec"`
		State     string `json:"state"`
		Pid       int    `json:"pid,omitempty"`
		Namespace string `json:"namespace"`
	}{info, spec, string(state), pid, c.namespace})
	if err != nil {
		return runtime.Details{}, fmt.Errorf("encoding containerd view of %s: %w", id, err)
	}
	return d, nil
}

// netnsOf returns the network namespace entry of a spec: whether there is one
// (none means the host's), and its path ("" means a new one for the task).
func netnsOf(spec *specs.Spec) (path string, ok bool) {
	if spec == nil || spec.Linux == nil {
		return "", false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path, true
		}
	}
	return "", false
}

// sharing returns the other containers of the namespace whose network
// namespace is the one at nsPath (same path, or same inode).
func (c *Containerd) sharing(ctx context.Context, id, nsPath string) ([]string, error) {
	want, err := inode(nsPath)
	if err != nil {
		return nil, nil // not mounted (task not running): nothing to compare
	}
	list, err := c.api.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd Containers: %w", err)
	}
	var others []string
	for _, o := range list {
		if o.ID() == id {
			continue
		}
		spec, err := o.Spec(ctx)
		if err != nil {
			continue
		}
		p, ok := netnsOf(spec)
		if !ok {
			continue
		}
		if p == "" {
			_, pid, err := taskState(ctx, o)
			if err != nil || pid == 0 {
				continue
			}
			p = fmt.Sprintf("/proc/%d/ns/net", pid)
		}
		if p == nsPath {
			others = append(others, o.ID())
			continue
		}
		if ino, err := inode(p); err == nil && ino == want {
			others = append(others, o.ID())
		}
	}
	return others, nil
}

func inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no stat")
	}
	return st.Ino, nil
}

func short(id string) string { return runtime.ShortID(id) }

func wrap(call, id string, err error) error {
	return runtime.WrapEngineError("containerd", call, id, err, cerrdefs.IsNotFound(err))
}

// WritableLayer reads the overlay mount the snapshotter would give the
// container's snapshot, without mounting it.
func (c *Containerd) WritableLayer(ctx context.Context, id string) (runtime.Layer, error) {
	ctx = c.ctx(ctx)
	_, info, err := c.info(ctx, id)
	if err != nil {
		return runtime.Layer{}, err
	}
	if info.SnapshotKey == "" {
		return runtime.Layer{}, fmt.Errorf("container %s has no snapshot", short(id))
	}
	mounts, err := c.api.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return runtime.Layer{}, wrap("Snapshotter.Mounts", id, err)
	}
	if len(mounts) != 1 {
		return runtime.Layer{}, fmt.Errorf("container %s: snapshotter %s gives %d mounts; Firebreak reads a single overlay or bind mount", short(id), info.Snapshotter, len(mounts))
	}
	m := mounts[0]
	l := runtime.Layer{Driver: info.Snapshotter}
	switch m.Type {
	case "overlay":
		for _, o := range m.Options {
			switch {
			case strings.HasPrefix(o, "upperdir="):
				l.Upper = strings.TrimPrefix(o, "upperdir=")
			case strings.HasPrefix(o, "lowerdir="):
				l.Lowers = strings.Split(strings.TrimPrefix(o, "lowerdir="), ":")
			}
		}
	case "bind":
		l.Upper = m.Source // a snapshot without parents: everything in it is new
	}
	if l.Upper == "" {
		return runtime.Layer{}, fmt.Errorf("container %s: snapshotter %s gives a %s mount without a writable directory; Firebreak reads overlayfs snapshots", short(id), info.Snapshotter, m.Type)
	}
	return l, nil
}
