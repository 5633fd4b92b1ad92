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
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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

// Client returns the containerd client, for tests that set up fixtures.
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

// task loads the container's task and its status. A container without a
// task yields an error for which IsNotRunning is true.
func (c *Containerd) task(ctx context.Context, id string) (client.Task, client.ProcessStatus, error) {
	ctr, err := c.load(ctx, id)
	if err != nil {
		return nil, "", err
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil, "", fmt.Errorf("container %s has no task: %w", short(id), runtime.ErrNotRunning)
	}
	if err != nil {
		return nil, "", wrap("Container.Task", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, "", wrap("Task.Status", id, err)
	}
	return task, st.Status, nil
}

func (c *Containerd) Pause(ctx context.Context, id string) error {
	ctx = c.ctx(ctx)
	task, status, err := c.task(ctx, id)
	if err != nil {
		return err
	}
	switch status {
	case client.Paused, client.Pausing:
		return nil
	case client.Running:
	default:
		return fmt.Errorf("pausing %s (task %s): %w", short(id), status, runtime.ErrNotRunning)
	}
	if err := task.Pause(ctx); err != nil {
		return wrap("Task.Pause", id, err)
	}
	return nil
}

func (c *Containerd) Unpause(ctx context.Context, id string) error {
	ctx = c.ctx(ctx)
	task, status, err := c.task(ctx, id)
	if errors.Is(err, runtime.ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	if status != client.Paused && status != client.Pausing {
		return nil
	}
	if err := task.Resume(ctx); err != nil {
		return wrap("Task.Resume", id, err)
	}
	return nil
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

// Stop sends SIGTERM to the task, waits up to grace for it to exit, then
// SIGKILL. The task stays (stopped) for inspection; a paused task is thawed
// first so it can receive the signal.
func (c *Containerd) Stop(ctx context.Context, id string, grace time.Duration) error {
	ctx = c.ctx(ctx)
	task, status, err := c.task(ctx, id)
	if errors.Is(err, runtime.ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	if status == client.Stopped {
		return nil
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return wrap("Task.Wait", id, err)
	}
	if status == client.Paused {
		_ = task.Resume(ctx)
	}
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !cerrdefs.IsNotFound(err) {
		return wrap("Task.Kill", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !cerrdefs.IsNotFound(err) {
		return wrap("Task.Kill", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Containerd) Kill(ctx context.Context, id, signal string) error {
	ctx = c.ctx(ctx)
	sig, err := signalOf(signal)
	if err != nil {
		return err
	}
	task, _, err := c.task(ctx, id)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, sig); err != nil {
		return wrap("Task.Kill", id, err)
	}
	return nil
}

// CheckSignal says whether Kill takes the signal (runtime.SignalChecker).
func (c *Containerd) CheckSignal(signal string) error {
	_, err := signalOf(signal)
	return err
}

func signalOf(s string) (syscall.Signal, error) {
	switch strings.TrimPrefix(strings.ToUpper(s), "SIG") {
	case "", "KILL", "9":
		return syscall.SIGKILL, nil
	case "TERM", "15":
		return syscall.SIGTERM, nil
	case "INT", "2":
		return syscall.SIGINT, nil
	case "HUP", "1":
		return syscall.SIGHUP, nil
	case "STOP", "19":
		return syscall.SIGSTOP, nil
	}
	return 0, fmt.Errorf("signal %q: use KILL, TERM, INT, HUP or STOP", s)
}

// securityOf reads isolation settings from the OCI spec and, for what the
// spec does not hold, the labels nerdctl and containerd's restart monitor
// write. containerd has no "privileged" flag; a spec with every capability
// and no seccomp filter is what nerdctl and ctr make of --privileged.
//
// Left empty because containerd cannot tell: a health check (containerd
// has none; Kubernetes probes live in the kubelet), an explicit host user
// namespace as opposed to the default (HostUserns), engine-wide user
// namespace remapping (there is none), the cgroup parent (clients always
// write a full cgroups path, so a non-default parent cannot be told), and
// published ports, the network and the restart policy of containers not
// made by nerdctl (CNI and the kubelet keep those).
func securityOf(spec *specs.Spec, labels map[string]string) runtime.Security {
	s := runtime.Security{Seccomp: "unconfined", CgroupVersion: hostCgroupVersion()}
	s.RestartPolicy, s.RestartRetries = restartOf(labels)
	s.Ports = portsOf(labels)
	var nets []string
	if json.Unmarshal([]byte(labels[nerdctlNetworksLabel]), &nets) == nil {
		s.DefaultBridge = slices.Contains(nets, "bridge")
	}
	if spec == nil {
		return s
	}
	if p := spec.Process; p != nil {
		if p.Capabilities != nil {
			for _, c := range p.Capabilities.Effective {
				s.Capabilities = append(s.Capabilities, strings.TrimPrefix(c, "CAP_"))
			}
			sort.Strings(s.Capabilities)
		}
		s.AppArmor = p.ApparmorProfile
		s.SELinux = p.SelinuxLabel
		s.NoNewPrivileges = p.NoNewPrivileges
		s.User = strconv.FormatUint(uint64(p.User.UID), 10)
		s.Command = slices.Clone(p.Args)
		for _, r := range p.Rlimits {
			if r.Type == "RLIMIT_NOFILE" && r.Soft == 1024 && r.Hard == 1024 {
				continue // containerd's default spec
			}
			s.Ulimits = append(s.Ulimits, fmt.Sprintf("%s=%d:%d", strings.ToLower(strings.TrimPrefix(r.Type, "RLIMIT_")), r.Soft, r.Hard))
		}
	}
	if spec.Root != nil {
		s.ReadonlyRootfs = spec.Root.Readonly
	}
	if l := spec.Linux; l != nil {
		present := map[specs.LinuxNamespaceType]bool{}
		for _, ns := range l.Namespaces {
			present[ns.Type] = true
		}
		for _, n := range []struct {
			t    specs.LinuxNamespaceType
			name string
		}{{specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "network"}, {specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.CgroupNamespace, "cgroup"}} {
			if !present[n.t] {
				s.HostNamespaces = append(s.HostNamespaces, n.name)
			}
		}
		s.UserNamespace = present[specs.UserNamespace]
		if l.Seccomp != nil {
			s.Seccomp = "custom"
			if l.Seccomp.DefaultAction == specs.ActErrno && len(l.Seccomp.Syscalls) > 100 {
				s.Seccomp = "default"
			}
		}
		if r := l.Resources; r != nil {
			if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
				s.MemoryLimit = *r.Memory.Limit
			}
			if r.CPU != nil && r.CPU.Quota != nil && *r.CPU.Quota > 0 {
				s.CPULimited = true
			}
			if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
				s.PidsLimit = *r.Pids.Limit
			}
			s.DeviceCgroupRules = deviceRulesOf(r.Devices)
		}
		for _, dv := range l.Devices {
			s.Devices = append(s.Devices, dv.Path)
		}
		s.SystemPathsUnconfined = !slices.Contains(l.ReadonlyPaths, "/proc/sys")
	}
	s.Privileged = len(s.Capabilities) >= 38 && s.Seccomp == "unconfined"
	if s.Privileged {
		s.SystemPathsUnconfined = false // said by privileged
	}
	for _, m := range spec.Mounts {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if !bind {
			continue
		}
		mt := runtime.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, RW: !slices.Contains(m.Options, "ro")}
		for _, o := range m.Options {
			switch o {
			case "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
				mt.Propagation = o
			}
		}
		s.Mounts = append(s.Mounts, mt)
	}
	return s
}

// The labels nerdctl and containerd's restart monitor keep on a container.
const (
	nerdctlPortsLabel    = "nerdctl/ports"    // JSON []gocni.PortMapping
	nerdctlNetworksLabel = "nerdctl/networks" // JSON []string, "bridge" the default network
	restartStatusLabel   = "containerd.io/restart.status"
	restartPolicyLabel   = "containerd.io/restart.policy" // "always", "on-failure:3", "unless-stopped", "no"
)

// restartOf reads the restart monitor's policy ("" when the container is
// not under it): a status label without a policy means always.
func restartOf(labels map[string]string) (string, int) {
	p := labels[restartPolicyLabel]
	if p == "" {
		if labels[restartStatusLabel] == "" {
			return "", 0
		}
		p = "always"
	}
	name, n, _ := strings.Cut(p, ":")
	retries, _ := strconv.Atoi(n)
	return name, retries
}

// portsOf reads the ports nerdctl published.
func portsOf(labels map[string]string) []runtime.PublishedPort {
	var pm []struct {
		HostPort      int
		ContainerPort int
		Protocol      string
		HostIP        string
	}
	if json.Unmarshal([]byte(labels[nerdctlPortsLabel]), &pm) != nil {
		return nil
	}
	var out []runtime.PublishedPort
	for _, p := range pm {
		out = append(out, runtime.PublishedPort{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: strings.ToLower(p.Protocol)})
	}
	return out
}

// deviceRulesOf returns, in Docker's form, the device cgroup rules that
// allow reading or writing block devices, or character devices of every
// major number. The spec mixes the default character devices (null, zero,
// tty, ...) with added ones; a specific added device shows in Devices.
func deviceRulesOf(rules []specs.LinuxDeviceCgroup) []string {
	var out []string
	for _, r := range rules {
		if !r.Allow || !strings.ContainsAny(r.Access, "rw") {
			continue
		}
		typ := r.Type
		if typ == "" {
			typ = "a"
		}
		if typ == "c" && r.Major != nil {
			continue
		}
		num := func(p *int64) string {
			if p == nil {
				return "*"
			}
			return strconv.FormatInt(*p, 10)
		}
		out = append(out, fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), r.Access))
	}
	return out
}

// hostCgroupVersion is the cgroup version of the host containerd runs on
// (containerd is local: its socket is a file here): 2 when /sys/fs/cgroup
// is cgroup2, 1 when it is another filesystem, 0 when it cannot be read.
var hostCgroupVersion = sync.OnceValue(func() int {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return 0
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
})
