package fake

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"firebreak/runtime"
)

// EngineName is what Name returns.
const EngineName = "fake"

// DefaultNetwork is the network a container joins when it is created with a
// private network mode and no network of its own, as Docker's "bridge".
const DefaultNetwork = "bridge"

// DefaultImage is the image of a container created without WithImage.
const DefaultImage = "fake.local/busybox:test"

// Op names a method of the runtime interfaces, as Calls records it and as
// FailNext and Count take it.
type Op string

const (
	OpList                  Op = "List"
	OpInspect               Op = "Inspect"
	OpPause                 Op = "Pause"
	OpUnpause               Op = "Unpause"
	OpStop                  Op = "Stop"
	OpKill                  Op = "Kill"
	OpConnect               Op = "Connect"
	OpDisconnect            Op = "Disconnect"
	OpEnsureInternalNetwork Op = "EnsureInternalNetwork"
	OpNetworkPeers          Op = "NetworkPeers"
	OpClose                 Op = "Close"
)

// Call is one call the engine received, recorded whether it succeeded or not.
type Call struct {
	Op  Op
	ID  string // the container, "" for List, Close, EnsureInternalNetwork
	Arg string // Stop: the grace period; Kill: the signal; network calls: the network
}

// Hook is called before a call (any but Close) takes effect, after the faults
// FailNext queued, and outside the engine's lock, so it may block (to hold a
// call in flight) or use the engine. A non-nil error fails the call with that
// error, and the call changes nothing.
type Hook func(ctx context.Context, c Call) error

// Engine is the fake engine. Its zero value is not usable: call New. It is
// safe for concurrent use.
//
// The runtime methods follow the contracts of runtime.Runtime,
// runtime.Stopper and runtime.NetworkAttacher as the real adapters keep them
// (runtime/runtimetest's conformance suite checks it). The setup methods
// (Create, Start, SetState, Remove, SetNetworkMode, AddNetwork) are for
// tests: they are not recorded, ignore FailNext and the hook, and panic on
// misuse, since a wrong setup is a bug in the test.
type Engine struct {
	mu          sync.Mutex
	containers  map[string]*ctr
	networks    []*network // in creation order; few enough to scan
	calls       []Call
	failNext    map[Op][]error
	hook        Hook
	lastCreated time.Time
	closed      bool
}

var (
	_ runtime.Runtime         = (*Engine)(nil)
	_ runtime.Stopper         = (*Engine)(nil)
	_ runtime.NetworkAttacher = (*Engine)(nil)
)

type ctr struct {
	id, name, image string
	created         time.Time
	state           runtime.State
	labels          map[string]string
	mode            runtime.NetworkMode
	nets            []runtime.Attachment // sorted by network name, as the Docker adapter reports them
	security        runtime.Security
}

type network struct {
	id, name string
	internal bool
	prefix   string // the first three octets of its /24
}

// New returns an engine with no containers and one network, DefaultNetwork.
func New() *Engine {
	e := &Engine{containers: map[string]*ctr{}, failNext: map[Op][]error{}}
	e.addNetwork(DefaultNetwork, false)
	return e
}

// Name returns EngineName.
func (e *Engine) Name() string { return EngineName }

// Close records the call and makes every later runtime call fail, as a
// closed client would. Closing twice is not an error. FailNext(OpClose, err)
// makes it fail (and leaves the engine open); the hook is not called.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, Call{Op: OpClose})
	if err := e.takeFault(OpClose); err != nil {
		return err
	}
	e.closed = true
	return nil
}

// begin records a call and decides whether it fails before taking effect: a
// closed engine, a done context, an injected fault, the hook.
func (e *Engine) begin(ctx context.Context, c Call) error {
	e.mu.Lock()
	e.calls = append(e.calls, c)
	what := strings.TrimSpace(fmt.Sprintf("%s %s %s", EngineName, c.Op, runtime.ShortID(c.ID)))
	if e.closed {
		e.mu.Unlock()
		return fmt.Errorf("%s: engine is closed", what)
	}
	if err := ctx.Err(); err != nil {
		e.mu.Unlock()
		return fmt.Errorf("%s: %w", what, err)
	}
	injected := e.takeFault(c.Op)
	hook := e.hook
	e.mu.Unlock()
	if injected != nil {
		return injected
	}
	if hook != nil {
		return hook(ctx, c)
	}
	return nil
}

// takeFault pops the next injected error for op; e.mu is held.
func (e *Engine) takeFault(op Op) error {
	q := e.failNext[op]
	if len(q) == 0 {
		return nil
	}
	e.failNext[op] = q[1:]
	return q[0]
}

var errNoSuchContainer = errors.New("no such container")

// lookup finds a container by full ID; e.mu is held.
func (e *Engine) lookup(op Op, id string) (*ctr, error) {
	c, ok := e.containers[id]
	if !ok {
		return nil, runtime.WrapEngineError(EngineName, string(op), id, errNoSuchContainer, true)
	}
	return c, nil
}

// List returns every container, newest first, with creation times in whole
// seconds as Docker's list gives them (Inspect has them to the nanosecond).
func (e *Engine) List(ctx context.Context) ([]runtime.Container, error) {
	if err := e.begin(ctx, Call{Op: OpList}); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	all := slices.Collect(maps.Values(e.containers))
	slices.SortFunc(all, func(a, b *ctr) int {
		return cmp.Or(b.created.Compare(a.created), strings.Compare(a.id, b.id))
	})
	out := make([]runtime.Container, 0, len(all))
	for _, c := range all {
		rc := c.container()
		rc.Created = rc.Created.Truncate(time.Second)
		out = append(out, rc)
	}
	return out, nil
}

// Inspect returns the container's details. It takes the full ID only. Pid and
// NetNSPath are always empty: the fake has no processes and no namespaces.
func (e *Engine) Inspect(ctx context.Context, id string) (runtime.Details, error) {
	if err := e.begin(ctx, Call{Op: OpInspect, ID: id}); err != nil {
		return runtime.Details{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpInspect, id)
	if err != nil {
		return runtime.Details{}, err
	}
	return c.details()
}

// Pause pauses a running container; a paused one is left as it is. Any other
// state yields an error for which runtime.IsNotRunning holds.
func (e *Engine) Pause(ctx context.Context, id string) error {
	if err := e.begin(ctx, Call{Op: OpPause, ID: id}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpPause, id)
	if err != nil {
		return err
	}
	switch c.state {
	case runtime.StatePaused:
		return nil
	case runtime.StateRunning:
		c.state = runtime.StatePaused
		return nil
	}
	return fmt.Errorf("pausing %s (%s): %w", runtime.ShortID(id), c.state, runtime.ErrNotRunning)
}

// Unpause thaws a paused container; in any other state it does nothing.
func (e *Engine) Unpause(ctx context.Context, id string) error {
	if err := e.begin(ctx, Call{Op: OpUnpause, ID: id}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpUnpause, id)
	if err != nil {
		return err
	}
	if c.state == runtime.StatePaused {
		c.state = runtime.StateRunning
	}
	return nil
}

// Stop stops a running or paused container at once (its processes are
// imagined to end on SIGTERM, so grace is never waited for). A created or
// stopped container is left as it is.
func (e *Engine) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := e.begin(ctx, Call{Op: OpStop, ID: id, Arg: grace.String()}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpStop, id)
	if err != nil {
		return err
	}
	if c.live() {
		e.setState(c, runtime.StateStopped)
	}
	return nil
}

// Kill sends a signal to a running container: KILL, TERM, INT and HUP (with
// or without SIG, or as numbers) stop it, STOP leaves it running, any other
// name is refused. A paused container refuses signals, as Docker's does; a
// created or stopped one yields an error for which runtime.IsNotRunning
// holds.
func (e *Engine) Kill(ctx context.Context, id, signal string) error {
	if err := e.begin(ctx, Call{Op: OpKill, ID: id, Arg: signal}); err != nil {
		return err
	}
	ends, err := terminates(signal)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpKill, id)
	if err != nil {
		return err
	}
	switch c.state {
	case runtime.StateRunning:
		if ends {
			e.setState(c, runtime.StateStopped)
		}
		return nil
	case runtime.StatePaused:
		return fmt.Errorf("killing %s: container is paused; unpause it before killing", runtime.ShortID(id))
	}
	return fmt.Errorf("killing %s (%s): %w", runtime.ShortID(id), c.state, runtime.ErrNotRunning)
}

func terminates(signal string) (bool, error) {
	switch strings.TrimPrefix(strings.ToUpper(signal), "SIG") {
	case "", "KILL", "9", "TERM", "15", "INT", "2", "HUP", "1":
		return true, nil
	case "STOP", "19":
		return false, nil
	}
	return false, fmt.Errorf("fake Kill: signal %q: use KILL, TERM, INT, HUP or STOP", signal)
}

// Disconnect detaches the container from a network named by name or ID.
// An unknown network, or one the container is not attached to, is an error.
func (e *Engine) Disconnect(ctx context.Context, id, net string) error {
	if err := e.begin(ctx, Call{Op: OpDisconnect, ID: id, Arg: net}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpDisconnect, id)
	if err != nil {
		return err
	}
	n := e.network(net)
	if n == nil {
		return fmt.Errorf("fake Disconnect %s from %s: network not found", runtime.ShortID(id), net)
	}
	i := slices.IndexFunc(c.nets, func(a runtime.Attachment) bool { return a.NetworkID == n.id })
	if i < 0 {
		return fmt.Errorf("fake Disconnect %s from %s: container is not connected to the network", runtime.ShortID(id), n.name)
	}
	c.nets = slices.Delete(c.nets, i, i+1)
	return nil
}

// Connect attaches the container to the network a.NetworkID (or, when empty,
// a.Network) names, with a's aliases, links and driver options. With static
// its configured addresses (StaticIPv4/6) are asked for again, as the Docker
// adapter does; an engine-assigned address is not. A running or paused container gets its addresses at once; an address
// another container holds on that network is refused. Joining a network
// twice, an unknown network, or a container that does not have its own
// network namespace, is an error.
func (e *Engine) Connect(ctx context.Context, id string, a runtime.Attachment, static bool) error {
	if err := e.begin(ctx, Call{Op: OpConnect, ID: id, Arg: cmp.Or(a.NetworkID, a.Network)}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.lookup(OpConnect, id)
	if err != nil {
		return err
	}
	n := e.network(cmp.Or(a.NetworkID, a.Network))
	if n == nil {
		return fmt.Errorf("fake Connect %s to %s: %w", runtime.ShortID(id), cmp.Or(a.Network, a.NetworkID), runtime.ErrNetworkNotFound)
	}
	if c.mode.Kind != "private" {
		return fmt.Errorf("fake Connect %s to %s: container has network mode %s", runtime.ShortID(id), n.name, c.mode.Kind)
	}
	if slices.ContainsFunc(c.nets, func(x runtime.Attachment) bool { return x.NetworkID == n.id }) {
		return fmt.Errorf("fake Connect %s to %s: endpoint already exists in network", runtime.ShortID(id), n.name)
	}
	att := runtime.Attachment{
		Network:    n.name,
		NetworkID:  n.id,
		Aliases:    slices.Clone(a.Aliases),
		Links:      slices.Clone(a.Links),
		DriverOpts: maps.Clone(a.DriverOpts),
		LinkLocal:  slices.Clone(a.LinkLocal),
	}
	if static { // only configured addresses, as the Docker adapter does
		att.StaticIPv4, att.StaticIPv6 = a.StaticIPv4, a.StaticIPv6
	}
	if c.live() {
		if err := e.address(c.id, n, &att); err != nil {
			return fmt.Errorf("fake Connect %s to %s: %w", runtime.ShortID(id), n.name, err)
		}
	}
	c.attach(att)
	return nil
}

// EnsureInternalNetwork returns the named network, creating it internal when
// it does not exist; an existing network that is not internal is refused.
func (e *Engine) EnsureInternalNetwork(ctx context.Context, name string) (runtime.Network, error) {
	if err := e.begin(ctx, Call{Op: OpEnsureInternalNetwork, Arg: name}); err != nil {
		return runtime.Network{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.network(name)
	if n == nil {
		n = e.addNetwork(name, true)
	}
	if !n.internal {
		return runtime.Network{}, fmt.Errorf("quarantine network %q exists and is not internal (it routes outside); name another", name)
	}
	return n.public(), nil
}

// NetworkPeers returns the addresses the other containers hold on the
// network (running or paused ones hold addresses), sorted.
func (e *Engine) NetworkPeers(ctx context.Context, net, id string) ([]string, error) {
	if err := e.begin(ctx, Call{Op: OpNetworkPeers, ID: id, Arg: net}); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.network(net)
	if n == nil {
		return nil, fmt.Errorf("fake NetworkPeers %s: network not found", net)
	}
	var peers []string
	for _, c := range e.containers {
		if c.id == id {
			continue
		}
		for _, a := range c.nets {
			if a.NetworkID != n.id {
				continue
			}
			for _, addr := range []string{a.IPv4Address, a.IPv6Address} {
				if addr != "" {
					peers = append(peers, addr)
				}
			}
		}
	}
	slices.Sort(peers)
	return peers, nil
}

// Basic returns a view of the engine that implements runtime.Runtime and
// runtime.Stopper but not runtime.NetworkAttacher, as containerd's adapter
// (networking left to CNI). It shares the engine's containers, calls and
// faults.
func (e *Engine) Basic() runtime.Runtime { return basic{e, e} }

// basic hides every method of the engine but those of the two interfaces it
// embeds.
type basic struct {
	runtime.Runtime
	runtime.Stopper
}

// FailNext makes the next call of op fail with err, before it takes effect.
// Calls queue: FailNext twice fails the next two calls.
func (e *Engine) FailNext(op Op, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failNext[op] = append(e.failNext[op], err)
}

// OnCall sets the hook called before every runtime call but Close; nil
// removes it.
func (e *Engine) OnCall(h Hook) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = h
}

// Calls returns the runtime calls received so far, in order.
func (e *Engine) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// Count returns how many times op was called, failed calls included.
func (e *Engine) Count(op Op) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls received so far (queued faults stay).
func (e *Engine) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

// Option sets a property of a container that Create makes.
type Option func(*options)

type options struct {
	id, image   string
	labels      map[string]string
	created     time.Time
	mode        *runtime.NetworkMode
	attachments []runtime.Attachment
	security    *runtime.Security
}

// WithID gives the container this ID instead of a random 64-digit hex one,
// e.g. to recreate a container under the same ID as containerd users do.
func WithID(id string) Option { return func(o *options) { o.id = id } }

// WithImage sets the image reference (default DefaultImage).
func WithImage(ref string) Option { return func(o *options) { o.image = ref } }

// WithLabels sets the container's labels.
func WithLabels(l map[string]string) Option {
	return func(o *options) { o.labels = maps.Clone(l) }
}

// WithCreated sets the creation time instead of the engine's clock, which
// gives every container a later time than the one before, to the nanosecond.
func WithCreated(t time.Time) Option { return func(o *options) { o.created = t.UTC() } }

// WithNetworkMode sets the network mode (default private). A mode other than
// private has no network attachments.
func WithNetworkMode(m runtime.NetworkMode) Option {
	return func(o *options) { o.mode = &m }
}

// WithNetwork attaches the container to the named network, creating it (not
// internal) when it does not exist. Given at least once, the container does
// not join DefaultNetwork.
func WithNetwork(name string, aliases ...string) Option {
	return WithAttachment(runtime.Attachment{Network: name, Aliases: aliases})
}

// WithAttachment attaches the container as a describes (network, aliases,
// links, static addresses); like WithNetwork otherwise.
func WithAttachment(a runtime.Attachment) Option {
	return func(o *options) { o.attachments = append(o.attachments, a) }
}

// WithSecurity sets the isolation settings Inspect reports (default: only
// Seccomp "default"). A host network mode adds "network" to HostNamespaces.
func WithSecurity(s runtime.Security) Option { return func(o *options) { o.security = &s } }

// Create makes a container in state created and returns its details. The
// name may be empty; a name or ID in use panics, as does an invalid network
// mode.
func (e *Engine) Create(name string, opts ...Option) runtime.Details {
	o := options{image: DefaultImage}
	for _, opt := range opts {
		opt(&o)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.containers {
		if name != "" && c.name == name {
			panic(fmt.Sprintf("fake: Create: name %q is in use", name))
		}
	}
	id := o.id
	if id == "" {
		id = e.newID()
	}
	if _, ok := e.containers[id]; ok {
		panic(fmt.Sprintf("fake: Create: ID %q is in use", id))
	}
	c := &ctr{
		id:       id,
		name:     name,
		image:    o.image,
		created:  e.created(o.created),
		state:    runtime.StateCreated,
		labels:   o.labels,
		mode:     runtime.NetworkMode{Kind: "private"},
		security: runtime.Security{Seccomp: "default"},
	}
	if o.security != nil {
		c.security = cloneSecurity(*o.security)
	}
	if o.mode != nil {
		e.setMode(c, *o.mode)
	}
	if c.mode.Kind == "private" {
		if len(o.attachments) == 0 {
			o.attachments = []runtime.Attachment{{Network: DefaultNetwork}}
		}
		for _, a := range o.attachments {
			n := e.network(cmp.Or(a.NetworkID, a.Network))
			if n == nil {
				n = e.addNetwork(a.Network, false)
			}
			a.Network, a.NetworkID = n.name, n.id
			a.IPv4Address, a.IPv6Address = "", ""
			c.attach(cloneAttachment(a))
		}
	} else if len(o.attachments) > 0 {
		panic(fmt.Sprintf("fake: Create %q: network attachments with network mode %s", name, c.mode.Kind))
	}
	e.containers[id] = c
	d, err := c.details()
	if err != nil {
		panic(err)
	}
	return d
}

// Start sets the container running, as SetState(id, runtime.StateRunning).
func (e *Engine) Start(id string) { e.SetState(id, runtime.StateRunning) }

// SetState puts the container in state s. Entering running or paused from
// another state gives it addresses on its networks (a static address another
// container holds panics); entering created or stopped takes them away.
func (e *Engine) SetState(id string, s runtime.State) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setState(e.must("SetState", id), s)
}

// Remove deletes the container in whatever state, and reports whether it
// existed.
func (e *Engine) Remove(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.containers[id]
	delete(e.containers, id)
	return ok
}

// SetNetworkMode changes the container's network mode. A mode other than
// private drops its network attachments; "host" is also recorded in its
// Security.HostNamespaces.
func (e *Engine) SetNetworkMode(id string, m runtime.NetworkMode) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setMode(e.must("SetNetworkMode", id), m)
}

// AddNetwork creates a network with its own /24 and returns it; a name in
// use panics.
func (e *Engine) AddNetwork(name string, internal bool) runtime.Network {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.network(name) != nil {
		panic(fmt.Sprintf("fake: AddNetwork: %q exists", name))
	}
	return e.addNetwork(name, internal).public()
}

// Details returns the container's details as Inspect would, without
// recording a call or injecting a fault; false when there is no such
// container.
func (e *Engine) Details(id string) (runtime.Details, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return runtime.Details{}, false
	}
	d, err := c.details()
	if err != nil {
		panic(err)
	}
	return d, true
}

func (e *Engine) must(op, id string) *ctr {
	c, ok := e.containers[id]
	if !ok {
		panic(fmt.Sprintf("fake: %s: no container %q", op, id))
	}
	return c
}

func (e *Engine) setState(c *ctr, s runtime.State) {
	switch s {
	case runtime.StateCreated, runtime.StateRunning, runtime.StatePaused, runtime.StateStopped, runtime.StateUnknown:
	default:
		panic(fmt.Sprintf("fake: state %q", s))
	}
	was := c.live()
	c.state = s
	switch {
	case c.live() && !was:
		for i := range c.nets {
			n := e.network(c.nets[i].NetworkID)
			if err := e.address(c.id, n, &c.nets[i]); err != nil {
				panic(fmt.Sprintf("fake: starting %s: %v", c.id, err))
			}
		}
	case !c.live() && was:
		for i := range c.nets {
			c.nets[i].IPv4Address, c.nets[i].IPv6Address = "", ""
		}
	}
}

func (e *Engine) setMode(c *ctr, m runtime.NetworkMode) {
	switch m.Kind {
	case "private", "host", "container", "none":
	default:
		panic(fmt.Sprintf("fake: network mode %q: use private, host, container or none", m.Kind))
	}
	c.mode = runtime.NetworkMode{Kind: m.Kind, SharedWith: slices.Clone(m.SharedWith)}
	if m.Kind != "private" {
		c.nets = nil
	}
	hostNet := slices.Contains(c.security.HostNamespaces, "network")
	switch {
	case m.Kind == "host" && !hostNet:
		c.security.HostNamespaces = append(c.security.HostNamespaces, "network")
	case m.Kind != "host" && hostNet:
		c.security.HostNamespaces = slices.DeleteFunc(c.security.HostNamespaces, func(s string) bool { return s == "network" })
	}
}

// created returns want, or the clock's time made later than every creation
// time given so far, so that no two containers share one.
func (e *Engine) created(want time.Time) time.Time {
	t := want
	if t.IsZero() {
		t = time.Now().UTC()
		if !t.After(e.lastCreated) {
			t = e.lastCreated.Add(time.Nanosecond)
		}
	}
	if t.After(e.lastCreated) {
		e.lastCreated = t
	}
	return t
}

func (e *Engine) newID() string {
	for {
		id := randomHex(32)
		if _, ok := e.containers[id]; !ok {
			return id
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// network finds a network by name or ID; e.mu is held.
func (e *Engine) network(ref string) *network {
	for _, n := range e.networks {
		if n.name == ref || n.id == ref {
			return n
		}
	}
	return nil
}

func (e *Engine) addNetwork(name string, internal bool) *network {
	k := len(e.networks)
	if k >= 15*256 {
		panic("fake: too many networks")
	}
	n := &network{id: randomHex(32), name: name, internal: internal, prefix: fmt.Sprintf("172.%d.%d", 17+k/256, k%256)}
	e.networks = append(e.networks, n)
	return n
}

func (n *network) public() runtime.Network {
	return runtime.Network{ID: n.id, Name: n.name, Internal: n.internal, Subnets: []string{n.prefix + ".0/24"}}
}

// address gives a the addresses it holds on n while its container (id) runs:
// its static ones, or the lowest free host of n's /24; e.mu is held.
func (e *Engine) address(id string, n *network, a *runtime.Attachment) error {
	used := map[string]bool{}
	for _, c := range e.containers {
		if c.id == id {
			continue
		}
		for _, x := range c.nets {
			if x.NetworkID == n.id {
				used[x.IPv4Address], used[x.IPv6Address] = true, true
			}
		}
	}
	delete(used, "")
	a.Gateway = n.prefix + ".1"
	a.IPv6Address = a.StaticIPv6
	if a.IPv6Address != "" && used[a.IPv6Address] {
		return fmt.Errorf("address %s already in use", a.IPv6Address)
	}
	if a.StaticIPv4 != "" {
		if used[a.StaticIPv4] {
			return fmt.Errorf("address %s already in use", a.StaticIPv4)
		}
		a.IPv4Address = a.StaticIPv4
		return nil
	}
	for h := 2; h < 255; h++ {
		if addr := fmt.Sprintf("%s.%d", n.prefix, h); !used[addr] {
			a.IPv4Address = addr
			return nil
		}
	}
	return fmt.Errorf("no free address in %s.0/24", n.prefix)
}

func (c *ctr) live() bool {
	return c.state == runtime.StateRunning || c.state == runtime.StatePaused
}

func (c *ctr) attach(a runtime.Attachment) {
	i, _ := slices.BinarySearchFunc(c.nets, a.Network, func(x runtime.Attachment, name string) int {
		return strings.Compare(x.Network, name)
	})
	c.nets = slices.Insert(c.nets, i, a)
}

func (c *ctr) container() runtime.Container {
	return runtime.Container{
		ID:      c.id,
		Name:    c.name,
		Image:   c.image,
		Created: c.created,
		State:   c.state,
		Labels:  maps.Clone(c.labels),
	}
}

func (c *ctr) details() (runtime.Details, error) {
	d := runtime.Details{
		Container:   c.container(),
		NetworkMode: runtime.NetworkMode{Kind: c.mode.Kind, SharedWith: slices.Clone(c.mode.SharedWith)},
		Security:    cloneSecurity(c.security),
	}
	for _, a := range c.nets {
		d.Networks = append(d.Networks, cloneAttachment(a))
	}
	raw, err := json.Marshal(struct {
		Engine string `json:"engine"`
		runtime.Details
	}{EngineName, d})
	if err != nil {
		return runtime.Details{}, fmt.Errorf("encoding fake view of %s: %w", runtime.ShortID(c.id), err)
	}
	d.Raw = raw
	return d, nil
}

func cloneAttachment(a runtime.Attachment) runtime.Attachment {
	a.Aliases = slices.Clone(a.Aliases)
	a.Links = slices.Clone(a.Links)
	a.LinkLocal = slices.Clone(a.LinkLocal)
	a.DriverOpts = maps.Clone(a.DriverOpts)
	return a
}

func cloneSecurity(s runtime.Security) runtime.Security {
	s.Capabilities = slices.Clone(s.Capabilities)
	s.HostNamespaces = slices.Clone(s.HostNamespaces)
	s.Devices = slices.Clone(s.Devices)
	s.Mounts = slices.Clone(s.Mounts)
	return s
}
