package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
)

// State is a container's lifecycle state as Firebreak sees it, the same words
// for every engine.
type State string

const (
	StateCreated State = "created" // exists, never started (or no task)
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateStopped State = "stopped" // exited or killed
	StateUnknown State = "unknown"
)

// Container is what List returns and what resolution settles on. ID and
// Created together identify one container: names and (on containerd) IDs are
// reused, the pair is not.
type Container struct {
	ID      string            `json:"id"`
	Name    string            `json:"name,omitempty"`
	Names   []string          `json:"other_names,omitempty"` // further names that resolve to it (Docker links: "web/db")
	Image   string            `json:"image,omitempty"`
	Created time.Time         `json:"created"`
	State   State             `json:"state"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// ShortID is the first twelve characters of the ID, as engines print it.
func (c Container) ShortID() string { return ShortID(c.ID) }

// TypedName is what a responder types to confirm an act on c (kill,
// recover): its name, or its short ID when it has none, the name starts
// or ends with a space (which nobody sees to type), or it holds a
// character that does not show as typed (control, format, bidi).
func (c Container) TypedName() string {
	if c.Name == "" || c.Name != strings.TrimSpace(c.Name) || strings.IndexFunc(c.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return c.ShortID()
	}
	return c.Name
}

// ShortID shortens an ID to twelve characters.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// WrapEngineError names the engine call and container that failed, and makes
// errors.Is(err, ErrNotFound) hold when notFound says the engine did not know
// the container.
func WrapEngineError(engine, call, id string, err error, notFound bool) error {
	if notFound {
		return fmt.Errorf("%s %s %s: %w", engine, call, ShortID(id), errors.Join(ErrNotFound, err))
	}
	return fmt.Errorf("%s %s %s: %w", engine, call, ShortID(id), err)
}

// NetworkMode says whose network namespace a container runs in.
type NetworkMode struct {
	// Kind is "private" (its own namespace), "host", "container" (another
	// container's) or "none" (its own namespace with only loopback).
	Kind string `json:"kind"`
	// SharedWith names the other container (Kind "container") or the other
	// containers found in the same namespace.
	SharedWith []string `json:"shared_with,omitempty"`
}

// Details is the engine's view of one container, reduced to what the verbs
// need, plus the engine's own document in Raw.
type Details struct {
	Container
	Pid         int          `json:"pid,omitempty"` // host PID of the init process, 0 when not running
	NetworkMode NetworkMode  `json:"network_mode"`
	NetNSPath   string       `json:"netns_path,omitempty"` // host path of the network namespace, "" when not running
	Networks    []Attachment `json:"networks,omitempty"`   // engine-owned attachments (Docker)
	Security    Security     `json:"security"`
	Raw         []byte       `json:"-"` // the engine's inspect document, as it sent it
}

// Attachment is one engine-owned network attachment, with everything needed to
// reconnect it as it was.
type Attachment struct {
	Network     string            `json:"network"`
	NetworkID   string            `json:"network_id,omitempty"`
	Aliases     []string          `json:"aliases,omitempty"`
	Links       []string          `json:"links,omitempty"`
	IPv4Address string            `json:"ipv4_address,omitempty"`
	IPv6Address string            `json:"ipv6_address,omitempty"`
	StaticIPv4  string            `json:"static_ipv4,omitempty"` // IPAM config given at create/connect time
	StaticIPv6  string            `json:"static_ipv6,omitempty"`
	LinkLocal   []string          `json:"link_local,omitempty"`
	MacAddress  string            `json:"mac_address,omitempty"`
	Gateway     string            `json:"gateway,omitempty"`
	DriverOpts  map[string]string `json:"driver_opts,omitempty"`
}

// Restorer is implemented by engines that can bring a container back from
// a backup: make volumes, recreate a container from the engine's own
// document of another, and watch it come up.
type Restorer interface {
	// Rename renames a container.
	Rename(ctx context.Context, id, name string) error
	// CreateVolume makes a named volume and returns its directory on the
	// host, where its files are written.
	CreateVolume(ctx context.Context, name string, labels map[string]string) (string, error)
	// RemoveVolume deletes a volume; a missing one is not an error.
	RemoveVolume(ctx context.Context, name string) error
	// Recreate creates (does not start) a container as spec says.
	Recreate(ctx context.Context, spec RecreateSpec) (string, error)
	// Start starts a created container.
	Start(ctx context.Context, id string) error
	// Remove deletes a container, running or not.
	Remove(ctx context.Context, id string) error
	// Health is the container's health as the engine judges it: healthy,
	// unhealthy, starting, or none when it has no health check; and
	// whether it runs.
	Health(ctx context.Context, id string) (health string, running bool, err error)
}

// VolumeChecker is a Restorer that can tell whether a volume name is taken,
// so that a recover plans a name for each new volume that it can make.
type VolumeChecker interface {
	// VolumeExists reports whether a volume of that name exists. It
	// changes nothing.
	VolumeExists(ctx context.Context, name string) (bool, error)
}

// RecreateSpec says how to recreate a container from the engine's own
// document of the original.
type RecreateSpec struct {
	Config  []byte            // the original's inspect document (a backup's)
	Name    string            // the new container's name
	Volumes map[string]string // original volume name -> the volume to mount instead
	Image   string            // image to use instead of the original's (pinned by digest or ID); "" keeps it
	Labels  map[string]string // added to the original's labels
	Harden  *Hardening        // confines the new container beyond the original; nil recreates it as it was
}

// Hardening confines a recreated container beyond its original. Each
// setting only tightens: what the original had already is kept, and a
// setting that would widen it (a capability the original lacked, a root
// user) is an error. Engines say in words what it changes before it is
// applied (Docker: docker.HardeningChanges).
type Hardening struct {
	// Tmpfs are the paths given a tmpfs under the now read-only root
	// filesystem: where the original wrote (the caller finds them, e.g. in
	// its writable layer). A path that has a mount already keeps it.
	Tmpfs []string
	// KeepCaps are the capabilities kept when all others are dropped
	// ("NET_BIND_SERVICE", with or without CAP_); each must be one the
	// original had. None keeps none.
	KeepCaps []string
	// User is a non-root user to run as ("1000:1000", "app"); "" keeps the
	// original's.
	User string
	// Memory (bytes), NanoCPUs (1e9 is one CPU) and PidsLimit are set where
	// the original had no such limit; 0 takes the default
	// (DefaultHardenMemory, DefaultHardenNanoCPUs, DefaultHardenPids).
	Memory    int64
	NanoCPUs  int64
	PidsLimit int64
}

// The limits a hardened container gets where the original had none, unless
// Hardening says otherwise.
const (
	DefaultHardenMemory   int64 = 512 << 20     // 512 MiB
	DefaultHardenNanoCPUs int64 = 1_000_000_000 // one CPU
	DefaultHardenPids     int64 = 256
)

// Limits are the memory, CPU and PID limits h sets where the original had
// none, defaults filled in.
func (h Hardening) Limits() (memory, nanoCPUs, pids int64) {
	pick := func(v, def int64) int64 {
		if v == 0 {
			return def
		}
		return v
	}
	return pick(h.Memory, DefaultHardenMemory), pick(h.NanoCPUs, DefaultHardenNanoCPUs), pick(h.PidsLimit, DefaultHardenPids)
}

// HostVersions are the versions of what runs containers on the host, as the
// engine reports them ("" where it does not).
type HostVersions struct {
	Engine     string // the engine and its version, e.g. "docker 20.10.24"
	Runc       string
	Containerd string
	Kernel     string
}

// HostInformer is implemented by engines that report the versions of the
// host's container stack.
type HostInformer interface {
	HostVersions(ctx context.Context) (HostVersions, error)
}

// NamespaceJoiners is implemented by engines where a container can join
// another's network namespace (Docker's --network container:X): Joiners
// lists the containers that joined id's namespace, so cutting id can say it
// cuts them too.
type NamespaceJoiners interface {
	Joiners(ctx context.Context, id string) ([]Container, error)
}

// RefusedError says an act was refused for safety before anything changed:
// a shared network namespace, a playbook run that cannot start or resume.
// Every verb uses this one type, and the CLI maps it to one exit code.
type RefusedError struct {
	Container Container // zero when the refusal is not about one container
	Reason    string
}

func (e *RefusedError) Error() string {
	if e.Container.ID == "" {
		return e.Reason
	}
	name := e.Container.Name
	if name == "" {
		name = e.Container.ShortID()
	}
	return fmt.Sprintf("refusing %s (%s): %s", e.Container.ShortID(), name, e.Reason)
}

// Runtime is the part of a container engine the verbs use. Every method takes
// the full container ID (see Resolve); none accepts a name.
type Runtime interface {
	// Name is the engine's name: "docker" or "containerd".
	Name() string
	// List returns every container, running or not. The order is unspecified.
	List(ctx context.Context) ([]Container, error)
	// Inspect returns the engine's view of one container. A container that
	// does not exist yields an error for which IsNotFound is true.
	Inspect(ctx context.Context, id string) (Details, error)
	// Pause freezes every process of the container. Pausing a paused
	// container is not an error. A container that is not running yields an
	// error for which IsNotRunning is true.
	Pause(ctx context.Context, id string) error
	// Unpause thaws the container. Unpausing a running container is not an
	// error.
	Unpause(ctx context.Context, id string) error
	// Close releases the engine connection.
	Close() error
}

// Network describes an engine-owned network.
type Network struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Internal bool     `json:"internal"`
	Subnets  []string `json:"subnets,omitempty"`
}

// NetworkAttacher is implemented by engines that own container networking
// (Docker). containerd leaves networking to CNI and does not implement it.
type NetworkAttacher interface {
	// Disconnect detaches the container from the network. Detaching from a
	// network it is not attached to yields an error.
	Disconnect(ctx context.Context, id, network string) error
	// Connect attaches the container with the recorded aliases and links
	// and, where static is true, the addresses that were configured
	// (StaticIPv4/StaticIPv6); an address the engine assigned is never
	// asked for, so it stays the engine's to assign.
	Connect(ctx context.Context, id string, a Attachment, static bool) error
	// EnsureInternalNetwork returns the named network, creating it as an
	// internal (no outside route) bridge network when it does not exist.
	// Using an existing network that is not internal is refused.
	EnsureInternalNetwork(ctx context.Context, name string) (Network, error)
	// NetworkPeers returns the addresses of the other containers attached to
	// the network, excluding id.
	NetworkPeers(ctx context.Context, network, id string) ([]string, error)
}

// NotFoundError says that no container matched a reference.
type NotFoundError struct{ Ref string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no such container: %q (hint: `firebreak ps` lists the containers of the selected engine; check --runtime and --namespace)", e.Ref)
}

// AmbiguousError says that an ID prefix matched more than one container.
type AmbiguousError struct {
	Ref     string
	Matches []Container
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q matches %d containers; give more of the ID or the full name:", e.Ref, len(e.Matches))
	for _, m := range e.Matches {
		fmt.Fprintf(&b, "\n  %s %s", m.ID, m.Name)
	}
	return b.String()
}

// ReplacedError says that the container a reference resolved to is gone or
// was replaced by another with the same ID or name since it was resolved.
type ReplacedError struct {
	Want Container
	Now  *Container // nil when the container is gone
}

func (e *ReplacedError) Error() string {
	if e.Now == nil {
		return fmt.Sprintf("container %s (%s) is gone since it was resolved; nothing was changed", e.Want.ShortID(), e.Want.Name)
	}
	return fmt.Sprintf("container %s (%s) was replaced since it was resolved (created %s, now %s); nothing was changed: resolve the target again",
		e.Want.ShortID(), e.Want.Name, e.Want.Created.UTC().Format(time.RFC3339Nano), e.Now.Created.UTC().Format(time.RFC3339Nano))
}

// ErrNetworkNotFound is matched by errors.Is when a network named in a call
// does not exist (removed, or recreated under a new ID).
var ErrNetworkNotFound = errors.New("network not found")

// ErrNotFound is matched by errors.Is for every not-found error an adapter
// returns.
var ErrNotFound = errors.New("not found")

// ErrNotRunning is matched by errors.Is when an act needs a running container.
var ErrNotRunning = errors.New("container is not running")

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// IsNotFound reports whether err says that a container does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsNotRunning reports whether err says that the container is not running.
func IsNotRunning(err error) bool { return errors.Is(err, ErrNotRunning) }

// Resolve finds the one container a reference names, in Docker's order: a
// full ID, then an exact name, then a unique ID prefix. An ambiguous prefix
// yields *AmbiguousError listing the matches; no match yields *NotFoundError.
func Resolve(ctx context.Context, rt Runtime, ref string) (Container, error) {
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "/")
	if ref == "" {
		return Container{}, fmt.Errorf("empty container reference: name a container by ID, name or ID prefix")
	}
	all, err := rt.List(ctx)
	if err != nil {
		return Container{}, fmt.Errorf("listing containers to resolve %q: %w", ref, err)
	}
	c, err := resolveIn(all, ref)
	if err != nil {
		return Container{}, err
	}
	// Lists may carry coarser creation times than inspect (Docker's list
	// has whole seconds); identity checks compare inspect against inspect.
	d, err := rt.Inspect(ctx, c.ID)
	if IsNotFound(err) {
		return Container{}, &NotFoundError{Ref: ref}
	}
	if err != nil {
		return Container{}, fmt.Errorf("inspecting %s: %w", c.ShortID(), err)
	}
	return d.Container, nil
}

// ResolveIn resolves a reference among the given containers by the rules of
// Resolve (full ID, exact name, unique ID prefix), without asking an engine:
// for containers known from elsewhere, such as containment records.
func ResolveIn(all []Container, ref string) (Container, error) {
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "/")
	if ref == "" {
		return Container{}, fmt.Errorf("empty container reference: name a container by ID, name or ID prefix")
	}
	return resolveIn(all, ref)
}

func resolveIn(all []Container, ref string) (Container, error) {
	for _, c := range all {
		if c.ID == ref {
			return c, nil
		}
	}
	for _, c := range all {
		if c.Name == ref {
			return c, nil
		}
	}
	for _, c := range all {
		if slices.Contains(c.Names, ref) {
			return c, nil
		}
	}
	var matches []Container
	for _, c := range all {
		if strings.HasPrefix(c.ID, ref) {
			matches = append(matches, c)
		}
	}
	switch len(matches) {
	case 0:
		return Container{}, &NotFoundError{Ref: ref}
	case 1:
		return matches[0], nil
	default:
		return Container{}, &AmbiguousError{Ref: ref, Matches: matches}
	}
}

// CheckSame inspects the container again and confirms that it is still the one
// that was resolved (same ID, same creation time). Call it before every
// destructive act. It returns the fresh details.
func CheckSame(ctx context.Context, rt Runtime, want Container) (Details, error) {
	d, err := rt.Inspect(ctx, want.ID)
	if IsNotFound(err) {
		return Details{}, &ReplacedError{Want: want}
	}
	if err != nil {
		return Details{}, err
	}
	if !d.Created.Equal(want.Created) {
		now := d.Container
		return Details{}, &ReplacedError{Want: want, Now: &now}
	}
	return d, nil
}

// Layer is a container's writable layer as the host sees it: the directory
// that holds its changes, and the image layers below it.
type Layer struct {
	Driver string   `json:"driver"` // "overlay2" (Docker), "overlayfs" (containerd)
	Upper  string   `json:"upper"`
	Lowers []string `json:"lowers,omitempty"` // topmost first
}

// LayerReader is implemented by engines whose writable layer is a directory
// on the host (overlay2, the overlayfs snapshotter).
type LayerReader interface {
	// WritableLayer locates the container's writable layer. It does not
	// mount anything.
	WritableLayer(ctx context.Context, id string) (Layer, error)
}

// LogReader is implemented by engines that keep a container's output.
type LogReader interface {
	// Logs writes the container's stdout and stderr since the given time
	// (zero for all), each line prefixed with the engine's RFC 3339
	// timestamp, until the end of what the engine holds.
	Logs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error
}

// Change is one entry of an engine's own list of filesystem changes.
type Change struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // "A" added, "C" changed, "D" deleted
}

// ChangeLister is implemented by engines that compute a container's changes
// themselves (Docker's diff), so Firebreak's own walk can be compared.
type ChangeLister interface {
	Changes(ctx context.Context, id string) ([]Change, error)
}

// Stopper is implemented by engines that can stop and kill a container's
// processes.
type Stopper interface {
	// Stop sends SIGTERM, waits up to grace, then SIGKILL. Stopping a
	// stopped container is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Kill sends a signal (e.g. "SIGKILL") to the container's init.
	Kill(ctx context.Context, id, signal string) error
}

// SignalChecker is a Stopper that takes only some signals: it says,
// before anything is changed, whether Kill would take this one.
type SignalChecker interface {
	CheckSignal(signal string) error
}

// Security is a container's isolation settings, the same words for every
// engine, read from its configuration (it needs no running process).
type Security struct {
	Privileged      bool     `json:"privileged"`
	Capabilities    []string `json:"capabilities"`    // effective set, without CAP_, sorted
	HostNamespaces  []string `json:"host_namespaces"` // shared with the host: pid, network, ipc, uts, cgroup
	UserNamespace   bool     `json:"user_namespace"`  // runs in a user namespace of its own
	Seccomp         string   `json:"seccomp"`         // "default", "custom" or "unconfined"
	AppArmor        string   `json:"apparmor"`        // profile name, "unconfined", or "" (none set)
	SELinux         string   `json:"selinux,omitempty"`
	NoNewPrivileges bool     `json:"no_new_privileges"`
	User            string   `json:"user"` // as configured; "", "0" and "root" mean root
	ReadonlyRootfs  bool     `json:"readonly_rootfs"`
	MemoryLimit     int64    `json:"memory_limit"` // bytes, 0 for none
	CPULimited      bool     `json:"cpu_limited"`
	PidsLimit       int64    `json:"pids_limit"`        // 0 for none
	Devices         []string `json:"devices,omitempty"` // host devices passed through
	Mounts          []Mount  `json:"mounts,omitempty"`

	// SystemPathsUnconfined: /proc/sys is not read-only (it is among the
	// paths engines mask or make read-only by default): Docker's
	// --security-opt systempaths=unconfined, or a spec without it.
	SystemPathsUnconfined bool `json:"systempaths_unconfined,omitempty"`
	// DeviceCgroupRules are device access rules beyond the engine's
	// defaults, in Docker's form "b *:* rwm" (type, major:minor, access).
	DeviceCgroupRules []string `json:"device_cgroup_rules,omitempty"`
	// HostUserns: the host's user namespace was asked for explicitly
	// (Docker --userns=host), as opposed to the engine's default.
	HostUserns bool `json:"host_userns,omitempty"`
	// UsernsRemap is engine-wide: the engine gives every container a user
	// namespace unless told otherwise (Docker's userns-remap).
	UsernsRemap bool `json:"userns_remap,omitempty"`
	// CgroupVersion is host-wide: 1 or 2, 0 when unknown.
	CgroupVersion int `json:"cgroup_version,omitempty"`

	// What the CIS Docker Benchmark's hygiene checks read. An engine that
	// cannot tell leaves a field empty (see its adapter).
	RestartPolicy  string          `json:"restart_policy,omitempty"`  // "no", "always", "unless-stopped", "on-failure"
	RestartRetries int             `json:"restart_retries,omitempty"` // with on-failure; 0 for no limit
	Healthcheck    string          `json:"healthcheck,omitempty"`     // the check's command, "none" when there is none
	Ports          []PublishedPort `json:"ports,omitempty"`           // published on the host
	CgroupParent   string          `json:"cgroup_parent,omitempty"`   // set at create (--cgroup-parent)
	Ulimits        []string        `json:"ulimits,omitempty"`         // set at create, "nofile=1024:2048"
	DefaultBridge  bool            `json:"default_bridge,omitempty"`  // on the engine's default bridge network (docker0)
	Command        []string        `json:"command,omitempty"`         // entrypoint and arguments as configured
}

// Mount is one mount into a container.
type Mount struct {
	Type        string `json:"type"`           // bind, volume, tmpfs, ...
	Name        string `json:"name,omitempty"` // the engine's volume name (Docker volumes)
	Source      string `json:"source"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
	Propagation string `json:"propagation,omitempty"` // shared, rshared, slave, rslave, private, rprivate; "" for the default
}

// PublishedPort is a container port published on the host.
type PublishedPort struct {
	HostIP        string `json:"host_ip"`   // "", "0.0.0.0" or "::": every interface
	HostPort      int    `json:"host_port"` // 0: the engine picks one
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"` // tcp, udp, sctp
}
