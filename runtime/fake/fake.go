package fake

import (
	"cmp"
	"context"
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
