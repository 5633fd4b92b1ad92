package fake

// Test controls and the setup a test does before it hands the engine over:
// faults and hooks, the call log, creating containers and networks, and the
// helpers that keep the engine's view of them consistent.

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"firebreak/runtime"
)

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
