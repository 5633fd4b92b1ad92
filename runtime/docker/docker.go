// Package docker adapts the Docker Engine API (through the Go SDK, with the API
// version negotiated down to what the engine speaks) to runtime.Runtime and
// runtime.NetworkAttacher.
package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"firebreak/runtime"
)

// Docker talks to one Docker Engine.
type Docker struct {
	api *client.Client

	// joinList is the engine's container list as Joiners last read it: a
	// fleet containment asks once per target, and one list serves them all
	// (dockerd serialises its API; 50 lists slowed the others' freeze).
	joinMu   sync.Mutex
	joinList []container.Summary
	joinAt   time.Time

	// engineInfo is what Info said of the engine-wide settings, read once
	// (see engine).
	engineMu   sync.Mutex
	engineInfo *engineInfo
}

var (
	_ runtime.Runtime         = (*Docker)(nil)
	_ runtime.NetworkAttacher = (*Docker)(nil)
	_ runtime.LayerReader     = (*Docker)(nil)
	_ runtime.LogReader       = (*Docker)(nil)
	_ runtime.ChangeLister    = (*Docker)(nil)
	_ runtime.Stopper         = (*Docker)(nil)
)

// New connects to the engine named by host (a DOCKER_HOST-style URL), or to the
// one DOCKER_HOST and the other DOCKER_* variables name when host is empty.
// The connection is lazy: the first call negotiates the API version.
func New(host string) (*Docker, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	api, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	return &Docker{api: api}, nil
}

// Ping checks that the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.api.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine at %s does not answer: %w (hint: is dockerd running? set DOCKER_HOST or -H)", d.api.DaemonHost(), err)
	}
	return nil
}

// API returns the SDK client, for tests that set up fixtures.
func (d *Docker) API() *client.Client { return d.api }

func (d *Docker) Name() string { return "docker" }
func (d *Docker) Close() error { return d.api.Close() }

func (d *Docker) List(ctx context.Context) ([]runtime.Container, error) {
	list, err := d.api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("docker ContainerList: %w", err)
	}
	out := make([]runtime.Container, 0, len(list))
	for _, s := range list {
		name, others := primaryName(s.Names)
		out = append(out, runtime.Container{
			ID:      s.ID,
			Name:    name,
			Names:   others,
			Image:   s.Image,
			Created: time.Unix(s.Created, 0).UTC(),
			State:   stateOf(string(s.State)),
			Labels:  s.Labels,
		})
	}
	return out, nil
}

// HostVersions reads the engine's version and its components' (runc,
// containerd) and the kernel's, as dockerd reports them.
func (d *Docker) HostVersions(ctx context.Context) (runtime.HostVersions, error) {
	v, err := d.api.ServerVersion(ctx)
	if err != nil {
		return runtime.HostVersions{}, fmt.Errorf("docker ServerVersion: %w", err)
	}
	out := runtime.HostVersions{Engine: "docker " + v.Version, Kernel: v.KernelVersion}
	for _, c := range v.Components {
		switch strings.ToLower(c.Name) {
		case "runc":
			out.Runc = c.Version
		case "containerd":
			out.Containerd = c.Version
		}
	}
	return out, nil
}

// Joiners lists the containers whose network mode is container:<id> (or
// container:<name>): they run in id's network namespace.
func (d *Docker) Joiners(ctx context.Context, id string) ([]runtime.Container, error) {
	d.joinMu.Lock()
	if time.Since(d.joinAt) > 2*time.Second {
		list, err := d.api.ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			d.joinMu.Unlock()
			return nil, fmt.Errorf("docker ContainerList: %w", err)
		}
		d.joinList, d.joinAt = list, time.Now()
	}
	list := d.joinList
	d.joinMu.Unlock()
	var name string
	for _, s := range list {
		if s.ID == id {
			name, _ = primaryName(s.Names)
		}
	}
	var out []runtime.Container
	for _, s := range list {
		mode := s.HostConfig.NetworkMode
		if s.ID != id && (mode == "container:"+id || (name != "" && mode == "container:"+name)) {
			n, others := primaryName(s.Names)
			out = append(out, runtime.Container{ID: s.ID, Name: n, Names: others, Image: s.Image, State: stateOf(string(s.State))})
		}
	}
	return out, nil
}

// primaryName picks a container's own name from Docker's list of names:
// the list also holds the names other containers link to it by
// ("/web/db" for a --link db from web), and those may come first. The own
// name is the one without an inner slash; the others are returned too,
// without their leading slash, so they still resolve.
func primaryName(names []string) (string, []string) {
	primary := ""
	var others []string
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if primary == "" && !strings.Contains(n, "/") {
			primary = n
			continue
		}
		others = append(others, n)
	}
	if primary == "" && len(others) > 0 {
		primary, others = others[0], others[1:]
	}
	return primary, others
}

func stateOf(s string) runtime.State {
	switch s {
	case "created":
		return runtime.StateCreated
	case "running", "restarting":
		return runtime.StateRunning
	case "paused":
		return runtime.StatePaused
	case "exited", "dead", "removing":
		return runtime.StateStopped
	}
	return runtime.StateUnknown
}

func (d *Docker) Inspect(ctx context.Context, id string) (runtime.Details, error) {
	c, raw, err := d.api.ContainerInspectWithRaw(ctx, id, false)
	if err != nil {
		return runtime.Details{}, wrap("ContainerInspect", id, err)
	}
	created, err := time.Parse(time.RFC3339Nano, c.Created)
	if err != nil {
		return runtime.Details{}, fmt.Errorf("docker ContainerInspect %s: creation time %q: %w", id, c.Created, err)
	}
	det := runtime.Details{
		Container: runtime.Container{
			ID:      c.ID,
			Name:    strings.TrimPrefix(c.Name, "/"),
			Created: created.UTC(),
			Labels:  map[string]string{},
		},
		Raw: raw,
	}
	if c.Config != nil {
		det.Image = c.Config.Image
		det.Labels = c.Config.Labels
	}
	if c.State != nil {
		switch {
		case c.State.Paused:
			det.State = runtime.StatePaused
		case c.State.Running:
			det.State = runtime.StateRunning
		default:
			det.State = stateOf(c.State.Status)
		}
		if c.State.Running {
			det.Pid = c.State.Pid
		}
	}
	if det.Pid > 0 {
		det.NetNSPath = fmt.Sprintf("/proc/%d/ns/net", det.Pid)
	}
	det.NetworkMode = runtime.NetworkMode{Kind: "private"}
	if c.HostConfig != nil {
		mode := c.HostConfig.NetworkMode
		switch {
		case mode.IsHost():
			det.NetworkMode.Kind = "host"
		case mode.IsContainer():
			det.NetworkMode = runtime.NetworkMode{Kind: "container", SharedWith: []string{mode.ConnectedContainer()}}
		case mode.IsNone():
			det.NetworkMode.Kind = "none"
		}
	}
	det.Security = securityOf(c, d.engine(ctx))
	if c.NetworkSettings != nil {
		names := make([]string, 0, len(c.NetworkSettings.Networks))
		for n := range c.NetworkSettings.Networks {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			det.Networks = append(det.Networks, attachmentOf(n, c.NetworkSettings.Networks[n], c.ID))
		}
	}
	return det, nil
}

func attachmentOf(name string, es *network.EndpointSettings, id string) runtime.Attachment {
	a := runtime.Attachment{Network: name}
	if es == nil {
		return a
	}
	a.NetworkID = es.NetworkID
	a.Links = slices.Clone(es.Links)
	a.MacAddress = es.MacAddress
	a.Gateway = es.Gateway
	a.DriverOpts = es.DriverOpts
	if es.IPAddress != "" {
		a.IPv4Address = es.IPAddress
	}
	if es.GlobalIPv6Address != "" {
		a.IPv6Address = es.GlobalIPv6Address
	}
	if es.IPAMConfig != nil {
		a.StaticIPv4 = es.IPAMConfig.IPv4Address
		a.StaticIPv6 = es.IPAMConfig.IPv6Address
		a.LinkLocal = slices.Clone(es.IPAMConfig.LinkLocalIPs)
	}
	// The engine adds the short ID as an alias on every user-defined
	// network; it is not part of the configuration to restore.
	for _, al := range es.Aliases {
		if len(id) >= 12 && al == id[:12] {
			continue
		}
		a.Aliases = append(a.Aliases, al)
	}
	return a
}

// Pause asks the engine directly and reads its refusal, rather than
// inspecting first: one round trip less on the path to a frozen container.
func (d *Docker) Pause(ctx context.Context, id string) error {
	err := d.api.ContainerPause(ctx, id)
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already paused"):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "not running"):
		return fmt.Errorf("pausing %s: %w", short(id), runtime.ErrNotRunning)
	}
	return wrap("ContainerPause", id, err)
}

func (d *Docker) Unpause(ctx context.Context, id string) error {
	c, err := d.api.ContainerInspect(ctx, id)
	if err != nil {
		return wrap("ContainerInspect", id, err)
	}
	if c.State == nil || !c.State.Paused {
		return nil
	}
	if err := d.api.ContainerUnpause(ctx, id); err != nil {
		return wrap("ContainerUnpause", id, err)
	}
	return nil
}

func (d *Docker) Disconnect(ctx context.Context, id, net string) error {
	if err := d.api.NetworkDisconnect(ctx, net, id, false); err != nil {
		return fmt.Errorf("docker NetworkDisconnect %s from %s: %w", short(id), net, err)
	}
	return nil
}

func (d *Docker) Connect(ctx context.Context, id string, a runtime.Attachment, static bool) error {
	es := &network.EndpointSettings{
		Aliases:    a.Aliases,
		Links:      a.Links,
		DriverOpts: a.DriverOpts,
	}
	// Only an address that was configured (IPAM config at create or
	// connect time) is asked for: asking for an engine-assigned one would
	// pin it in the container's configuration, and a later start fails
	// once another container holds it.
	if static && (a.StaticIPv4 != "" || a.StaticIPv6 != "" || len(a.LinkLocal) > 0) {
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.StaticIPv4, IPv6Address: a.StaticIPv6, LinkLocalIPs: a.LinkLocal}
	}
	ref := a.NetworkID
	if ref == "" {
		ref = a.Network
	}
	if err := d.api.NetworkConnect(ctx, ref, id, es); err != nil {
		if cerrdefs.IsNotFound(err) {
			if _, nerr := d.api.NetworkInspect(ctx, ref, network.InspectOptions{}); cerrdefs.IsNotFound(nerr) {
				return fmt.Errorf("docker NetworkConnect %s to %s: %w", short(id), a.Network, errors.Join(runtime.ErrNetworkNotFound, err))
			}
		}
		return fmt.Errorf("docker NetworkConnect %s to %s: %w", short(id), a.Network, err)
	}
	return nil
}

func (d *Docker) EnsureInternalNetwork(ctx context.Context, name string) (runtime.Network, error) {
	n, err := d.api.NetworkInspect(ctx, name, network.InspectOptions{})
	if cerrdefs.IsNotFound(err) {
		_, err = d.api.NetworkCreate(ctx, name, network.CreateOptions{
			Driver:   "bridge",
			Internal: true,
			Labels:   map[string]string{"io.firebreak.quarantine": "true"},
		})
		if err != nil && !cerrdefs.IsConflict(err) {
			return runtime.Network{}, fmt.Errorf("docker NetworkCreate %s: %w", name, err)
		}
		n, err = d.api.NetworkInspect(ctx, name, network.InspectOptions{})
	}
	if err != nil {
		return runtime.Network{}, fmt.Errorf("docker NetworkInspect %s: %w", name, err)
	}
	if !n.Internal {
		return runtime.Network{}, fmt.Errorf("quarantine network %q exists and is not internal (it routes outside); name another, or recreate it with `docker network create --internal %s`", name, name)
	}
	out := runtime.Network{ID: n.ID, Name: n.Name, Internal: n.Internal}
	for _, c := range n.IPAM.Config {
		if c.Subnet != "" {
			out.Subnets = append(out.Subnets, c.Subnet)
		}
	}
	return out, nil
}

func (d *Docker) NetworkPeers(ctx context.Context, net, id string) ([]string, error) {
	n, err := d.api.NetworkInspect(ctx, net, network.InspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker NetworkInspect %s: %w", net, err)
	}
	var peers []string
	for cid, ep := range n.Containers {
		if cid == id {
			continue
		}
		for _, addr := range []string{ep.IPv4Address, ep.IPv6Address} {
			if addr == "" {
				continue
			}
			if i := strings.IndexByte(addr, '/'); i >= 0 {
				addr = addr[:i]
			}
			peers = append(peers, addr)
		}
	}
	slices.Sort(peers)
	return peers, nil
}

func short(id string) string { return runtime.ShortID(id) }

func wrap(call, id string, err error) error {
	return runtime.WrapEngineError("docker", call, id, err, cerrdefs.IsNotFound(err))
}

func (d *Docker) WritableLayer(ctx context.Context, id string) (runtime.Layer, error) {
	c, err := d.api.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.Layer{}, wrap("ContainerInspect", id, err)
	}
	if c.GraphDriver.Name != "overlay2" || c.GraphDriver.Data["UpperDir"] == "" {
		return runtime.Layer{}, fmt.Errorf("container %s uses storage driver %q; Firebreak reads the writable layer of overlay2 only", short(id), c.GraphDriver.Name)
	}
	l := runtime.Layer{Driver: "overlay2", Upper: c.GraphDriver.Data["UpperDir"]}
	if lower := c.GraphDriver.Data["LowerDir"]; lower != "" {
		l.Lowers = strings.Split(lower, ":")
	}
	return l, nil
}

func (d *Docker) Logs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	c, err := d.api.ContainerInspect(ctx, id)
	if err != nil {
		return wrap("ContainerInspect", id, err)
	}
	rc, err := d.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		return wrap("ContainerLogs", id, err)
	}
	defer rc.Close()
	if c.Config != nil && c.Config.Tty {
		_, err = io.Copy(stdout, rc) // a TTY has one stream, not multiplexed
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil {
		return fmt.Errorf("docker ContainerLogs %s: reading: %w", short(id), err)
	}
	return nil
}

func (d *Docker) Changes(ctx context.Context, id string) ([]runtime.Change, error) {
	list, err := d.api.ContainerDiff(ctx, id)
	if err != nil {
		return nil, wrap("ContainerDiff", id, err)
	}
	out := make([]runtime.Change, 0, len(list))
	for _, c := range list {
		kind := "C"
		switch c.Kind {
		case container.ChangeAdd:
			kind = "A"
		case container.ChangeDelete:
			kind = "D"
		}
		out = append(out, runtime.Change{Path: c.Path, Kind: kind})
	}
	return out, nil
}

func (d *Docker) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace.Seconds())
	if err := d.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return wrap("ContainerStop", id, err)
	}
	return nil
}

func (d *Docker) Kill(ctx context.Context, id, signal string) error {
	if err := d.api.ContainerKill(ctx, id, signal); err != nil {
		if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "not running") {
			return fmt.Errorf("killing %s: %w", short(id), runtime.ErrNotRunning)
		}
		return wrap("ContainerKill", id, err)
	}
	return nil
}

// defaultCaps is the capability set Docker gives a container unless told
// otherwise.
var defaultCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// allCaps is every capability the kernel knows today.
var allCaps = []string{"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM"}

func normCap(c string) string { return strings.TrimPrefix(strings.ToUpper(c), "CAP_") }

// engineInfo is what the engine says of itself that bears on every
// container's isolation.
type engineInfo struct {
	usernsRemap   bool // dockerd --userns-remap: containers get a user namespace by default
	apparmor      bool // the engine applies AppArmor (docker-default unless told otherwise)
	cgroupVersion int  // 1 or 2; 0 unknown
}

// engine reads the engine-wide settings from Info once. Until a read
// succeeds each call tries again, and a failed one reports nothing known
// (no remapping, no AppArmor, cgroup version unknown): Inspect never fails
// for want of it.
func (d *Docker) engine(ctx context.Context) engineInfo {
	d.engineMu.Lock()
	defer d.engineMu.Unlock()
	if d.engineInfo != nil {
		return *d.engineInfo
	}
	info, err := d.api.Info(ctx)
	if err != nil {
		return engineInfo{}
	}
	e := engineInfo{}
	for _, o := range info.SecurityOptions { // "name=userns", "name=seccomp,profile=builtin", ...
		for _, kv := range strings.Split(o, ",") {
			switch kv {
			case "name=userns":
				e.usernsRemap = true
			case "name=apparmor":
				e.apparmor = true
			}
		}
	}
	e.cgroupVersion, _ = strconv.Atoi(info.CgroupVersion)
	d.engineInfo = &e
	return e
}

// securityOf reads isolation settings from the inspect document and the
// engine-wide settings.
func securityOf(c container.InspectResponse, e engineInfo) runtime.Security {
	s := runtime.Security{Seccomp: "default", AppArmor: c.AppArmorProfile, UsernsRemap: e.usernsRemap, CgroupVersion: e.cgroupVersion}
	hc := c.HostConfig
	if hc == nil {
		return s
	}
	s.Privileged = hc.Privileged
	caps := map[string]bool{}
	for _, cp := range defaultCaps {
		caps[cp] = true
	}
	if hc.Privileged {
		for _, cp := range allCaps {
			caps[cp] = true
		}
	}
	for _, cp := range hc.CapAdd {
		if normCap(cp) == "ALL" {
			for _, a := range allCaps {
				caps[a] = true
			}
			continue
		}
		caps[normCap(cp)] = true
	}
	if !hc.Privileged {
		for _, cp := range hc.CapDrop {
			if normCap(cp) == "ALL" {
				caps = map[string]bool{}
				for _, a := range hc.CapAdd {
					caps[normCap(a)] = true
				}
				continue
			}
			delete(caps, normCap(cp))
		}
	}
	for cp := range caps {
		s.Capabilities = append(s.Capabilities, cp)
	}
	slices.Sort(s.Capabilities)
	if hc.PidMode.IsHost() {
		s.HostNamespaces = append(s.HostNamespaces, "pid")
	}
	if hc.NetworkMode.IsHost() {
		s.HostNamespaces = append(s.HostNamespaces, "network")
	}
	if hc.IpcMode.IsHost() {
		s.HostNamespaces = append(s.HostNamespaces, "ipc")
	}
	if hc.UTSMode.IsHost() {
		s.HostNamespaces = append(s.HostNamespaces, "uts")
	}
	if hc.CgroupnsMode.IsHost() {
		s.HostNamespaces = append(s.HostNamespaces, "cgroup")
	}
	// UsernsMode is "" (the engine's default) or "host": with
	// userns-remap, only "host" leaves a container in the host's.
	s.HostUserns = hc.UsernsMode.IsHost()
	s.UserNamespace = e.usernsRemap && !s.HostUserns
	var labels []string
	for _, o := range hc.SecurityOpt {
		k, v, _ := strings.Cut(strings.Replace(o, ":", "=", 1), "=")
		switch k {
		case "seccomp":
			if v == "unconfined" {
				s.Seccomp = "unconfined"
			} else {
				s.Seccomp = "custom"
			}
		case "apparmor":
			s.AppArmor = v
		case "label":
			labels = append(labels, v)
		case "no-new-privileges":
			s.NoNewPrivileges = v == "" || v == "true"
		}
	}
	s.SELinux = strings.Join(labels, ",")
	if s.SELinux == "" {
		s.SELinux = c.ProcessLabel // the engine's own label for the container, on an SELinux host
	}
	if s.AppArmor == "" && e.apparmor && !hc.Privileged {
		// Docker records the profile when the container starts; a created
		// one will get docker-default.
		s.AppArmor = "docker-default"
	}
	if hc.Privileged {
		s.Seccomp, s.AppArmor = "unconfined", "unconfined"
	}
	// --security-opt systempaths=unconfined sends empty lists; nil is the
	// engine's defaults (or privileged, which needs no second finding).
	s.SystemPathsUnconfined = !hc.Privileged && hc.ReadonlyPaths != nil && !slices.Contains(hc.ReadonlyPaths, "/proc/sys")
	s.DeviceCgroupRules = slices.Clone(hc.DeviceCgroupRules)
	if c.Config != nil {
		s.User = c.Config.User
		s.Command = append(slices.Clone(c.Config.Entrypoint), c.Config.Cmd...)
		s.Healthcheck = "none"
		if h := c.Config.Healthcheck; h != nil && len(h.Test) > 0 && h.Test[0] != "NONE" {
			s.Healthcheck = strings.Join(h.Test, " ")
		}
	}
	s.ReadonlyRootfs = hc.ReadonlyRootfs
	s.MemoryLimit = hc.Memory
	s.CPULimited = hc.NanoCPUs > 0 || hc.CPUQuota > 0
	if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
		s.PidsLimit = *hc.PidsLimit
	}
	for _, dv := range hc.Devices {
		s.Devices = append(s.Devices, dv.PathOnHost)
	}
	for _, m := range c.Mounts {
		s.Mounts = append(s.Mounts, runtime.Mount{Type: string(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination, RW: m.RW, Propagation: string(m.Propagation)})
	}
	s.RestartPolicy, s.RestartRetries = string(hc.RestartPolicy.Name), hc.RestartPolicy.MaximumRetryCount
	if s.RestartPolicy == "" {
		s.RestartPolicy = "no"
	}
	s.Ports = portsOf(c)
	s.CgroupParent = hc.CgroupParent
	for _, u := range hc.Ulimits {
		if u != nil {
			s.Ulimits = append(s.Ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
		}
	}
	switch hc.NetworkMode {
	case "", "default", "bridge":
		s.DefaultBridge = true
	}
	return s
}

// portsOf lists the ports published on the host as configured (bindings,
// and every exposed port with -P), in a stable order.
func portsOf(c container.InspectResponse) []runtime.PublishedPort {
	var out []runtime.PublishedPort
	add := func(p nat.Port, b nat.PortBinding) {
		hp, _ := strconv.Atoi(b.HostPort) // "" or a range: the engine picks
		out = append(out, runtime.PublishedPort{HostIP: b.HostIP, HostPort: hp, ContainerPort: p.Int(), Protocol: p.Proto()})
	}
	for p, bs := range c.HostConfig.PortBindings {
		for _, b := range bs {
			add(p, b)
		}
	}
	if c.HostConfig.PublishAllPorts && c.Config != nil {
		for p := range c.Config.ExposedPorts {
			if _, ok := c.HostConfig.PortBindings[p]; !ok {
				add(p, nat.PortBinding{})
			}
		}
	}
	slices.SortFunc(out, func(a, b runtime.PublishedPort) int {
		return cmp.Or(cmp.Compare(a.ContainerPort, b.ContainerPort), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.HostIP, b.HostIP), cmp.Compare(a.HostPort, b.HostPort))
	})
	return out
}
