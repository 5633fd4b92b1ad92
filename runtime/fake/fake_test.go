package fake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"firebreak/runtime"
	"firebreak/runtime/fake"
	"firebreak/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Conformance(t, runtimetest.Fake(t))
}

func TestInspectRunningHasNoProcess(t *testing.T) {
	e := fake.New()
	d := e.Create("web")
	e.Start(d.ID)
	got, err := e.Inspect(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A made-up PID or namespace path would lead code under test to a real
	// process of this host.
	if got.State != runtime.StateRunning || got.Pid != 0 || got.NetNSPath != "" {
		t.Errorf("running fake container: state %s pid %d netns %q, want running, 0, none", got.State, got.Pid, got.NetNSPath)
	}
}

func TestListCreatedInWholeSeconds(t *testing.T) {
	e := fake.New()
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	older := e.Create("older", fake.WithCreated(created.Add(-time.Minute)))
	d := e.Create("web", fake.WithCreated(created))
	list, err := e.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != d.ID || list[1].ID != older.ID {
		t.Fatalf("List = %+v, want web then older (newest first)", list)
	}
	if want := created.Truncate(time.Second); !list[0].Created.Equal(want) {
		t.Errorf("List created %v, want %v (whole seconds, as Docker lists)", list[0].Created, want)
	}
	got, err := runtime.Resolve(t.Context(), e, "web")
	if err != nil || !got.Created.Equal(created) {
		t.Errorf("Resolve = created %v (%v), want %v from Inspect", got.Created, err, created)
	}
}

func TestCreateTimesStrictlyIncrease(t *testing.T) {
	e := fake.New()
	var last time.Time
	for i := range 1000 {
		d := e.Create(fmt.Sprint("c", i))
		if !d.Created.After(last) {
			t.Fatalf("container %d created %v, not after %v", i, d.Created, last)
		}
		last = d.Created
	}
}

func TestCheckSameSameIDRecreated(t *testing.T) {
	e := fake.New()
	ctx := t.Context()
	d := e.Create("db", fake.WithID("db"))
	if !e.Remove(d.ID) || e.Remove(d.ID) {
		t.Fatal("Remove does not report whether the container existed")
	}
	e.Create("db", fake.WithID("db"))
	_, err := runtime.CheckSame(ctx, e, d.Container)
	var rep *runtime.ReplacedError
	if !errors.As(err, &rep) || rep.Now == nil || rep.Now.ID != "db" {
		t.Fatalf("CheckSame after recreation under the same ID = %v, want ReplacedError with the new container", err)
	}
}

func TestFailNext(t *testing.T) {
	e := fake.New()
	ctx := t.Context()
	d := e.Create("web")
	e.Start(d.ID)
	first, second := errors.New("first"), errors.New("second")
	e.FailNext(fake.OpPause, first)
	e.FailNext(fake.OpPause, second)
	for _, want := range []error{first, second} {
		if err := e.Pause(ctx, d.ID); !errors.Is(err, want) {
			t.Fatalf("Pause = %v, want %v", err, want)
		}
		if got, _ := e.Details(d.ID); got.State != runtime.StateRunning {
			t.Fatalf("a failed Pause changed the state to %s", got.State)
		}
	}
	if _, err := e.Inspect(ctx, d.ID); err != nil {
		t.Fatalf("a fault for Pause failed Inspect: %v", err)
	}
	if err := e.Pause(ctx, d.ID); err != nil {
		t.Fatalf("third Pause: %v", err)
	}
	if n := e.Count(fake.OpPause); n != 3 {
		t.Errorf("Count(Pause) = %d, want 3 (failed calls count)", n)
	}
	want := []fake.Call{{Op: fake.OpPause, ID: d.ID}, {Op: fake.OpPause, ID: d.ID}, {Op: fake.OpInspect, ID: d.ID}, {Op: fake.OpPause, ID: d.ID}}
	if got := e.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls = %+v, want %+v", got, want)
	}
	e.ResetCalls()
	if len(e.Calls()) != 0 || e.Count(fake.OpPause) != 0 {
		t.Error("ResetCalls left calls behind")
	}
}

func TestOnCall(t *testing.T) {
	e := fake.New()
	ctx := t.Context()
	a, b := e.Create("a"), e.Create("b")
	e.Start(a.ID)
	e.Start(b.ID)
	refused := errors.New("refused")
	var seen []fake.Call
	e.OnCall(func(_ context.Context, c fake.Call) error {
		seen = append(seen, c)
		if c.ID == b.ID {
			return refused
		}
		return nil
	})
	if err := e.Kill(ctx, a.ID, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	if err := e.Kill(ctx, b.ID, "SIGTERM"); !errors.Is(err, refused) {
		t.Fatalf("Kill(b) = %v, want the hook's error", err)
	}
	if got, _ := e.Details(b.ID); got.State != runtime.StateRunning {
		t.Errorf("Kill refused by the hook changed b to %s", got.State)
	}
	want := []fake.Call{{Op: fake.OpKill, ID: a.ID, Arg: "SIGTERM"}, {Op: fake.OpKill, ID: b.ID, Arg: "SIGTERM"}}
	if !slices.Equal(seen, want) {
		t.Errorf("hook saw %+v, want %+v", seen, want)
	}
	e.OnCall(nil)
	if err := e.Kill(ctx, b.ID, "SIGTERM"); err != nil {
		t.Errorf("Kill after the hook was removed: %v", err)
	}
}

// TestOnCallHoldsCallInFlight: a hook may block, e.g. until the caller's
// deadline, and may use the engine meanwhile.
func TestOnCallHoldsCallInFlight(t *testing.T) {
	e := fake.New()
	d := e.Create("web")
	e.Start(d.ID)
	e.OnCall(func(ctx context.Context, c fake.Call) error {
		if c.Op != fake.OpStop {
			return nil
		}
		if _, err := e.Inspect(ctx, c.ID); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := e.Stop(ctx, d.ID, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the deadline", err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning {
		t.Errorf("Stop cut short changed the state to %s", got.State)
	}
}

func TestCallsFailOnDoneContextAndClosedEngine(t *testing.T) {
	e := fake.New()
	d := e.Create("web")
	e.Start(d.ID)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := e.Pause(ctx, d.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Pause(cancelled) = %v, want context.Canceled", err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateRunning {
		t.Errorf("cancelled Pause changed the state to %s", got.State)
	}
	closeErr := errors.New("close failed")
	e.FailNext(fake.OpClose, closeErr)
	if err := e.Close(); !errors.Is(err, closeErr) {
		t.Fatalf("Close = %v, want the injected error", err)
	}
	if _, err := e.List(t.Context()); err != nil {
		t.Fatalf("List after a failed Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.List(t.Context()); err == nil {
		t.Error("List after Close succeeded")
	}
}

func TestKill(t *testing.T) {
	tests := []struct {
		name, signal string
		from, want   runtime.State
		notRunning   bool
		fails        bool
	}{
		{name: "RunningKill", signal: "SIGKILL", from: runtime.StateRunning, want: runtime.StateStopped},
		{name: "RunningTermNumber", signal: "15", from: runtime.StateRunning, want: runtime.StateStopped},
		{name: "RunningStop", signal: "STOP", from: runtime.StateRunning, want: runtime.StateRunning},
		{name: "UnknownSignal", signal: "SIGWINCH", from: runtime.StateRunning, want: runtime.StateRunning, fails: true},
		{name: "Paused", signal: "SIGKILL", from: runtime.StatePaused, want: runtime.StatePaused, fails: true},
		{name: "Created", signal: "SIGKILL", from: runtime.StateCreated, want: runtime.StateCreated, fails: true, notRunning: true},
		{name: "Stopped", signal: "SIGKILL", from: runtime.StateStopped, want: runtime.StateStopped, fails: true, notRunning: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fake.New()
			d := e.Create("web")
			e.SetState(d.ID, tt.from)
			err := e.Kill(t.Context(), d.ID, tt.signal)
			if (err != nil) != tt.fails || runtime.IsNotRunning(err) != tt.notRunning {
				t.Errorf("Kill = %v, want failure %v, not-running %v", err, tt.fails, tt.notRunning)
			}
			if got, _ := e.Details(d.ID); got.State != tt.want {
				t.Errorf("state %s, want %s", got.State, tt.want)
			}
		})
	}
	if err := fake.New().Kill(t.Context(), "gone", "SIGKILL"); !runtime.IsNotFound(err) {
		t.Errorf("Kill(missing) = %v, want not found", err)
	}
}

func TestStopCreatedLeavesItCreated(t *testing.T) {
	e := fake.New()
	d := e.Create("web")
	if err := e.Stop(t.Context(), d.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Details(d.ID); got.State != runtime.StateCreated {
		t.Errorf("state %s after Stop of a created container, want created", got.State)
	}
}

func TestNetworkAttacher(t *testing.T) {
	e := fake.New()
	ctx := t.Context()
	a, b := e.Create("a"), e.Create("b")
	if a.Networks[0].Network != fake.DefaultNetwork || a.Networks[0].IPv4Address != "" {
		t.Fatalf("created container attached as %+v, want to %s without an address", a.Networks, fake.DefaultNetwork)
	}
	e.Start(a.ID)
	e.Start(b.ID)
	a, _ = e.Details(a.ID)
	b, _ = e.Details(b.ID)
	peers, err := e.NetworkPeers(ctx, fake.DefaultNetwork, a.ID)
	if err != nil || !slices.Equal(peers, []string{b.Networks[0].IPv4Address}) || a.Networks[0].IPv4Address == b.Networks[0].IPv4Address {
		t.Fatalf("NetworkPeers = %v, %v; a has %s, b %s", peers, err, a.Networks[0].IPv4Address, b.Networks[0].IPv4Address)
	}

	if err := e.Disconnect(ctx, a.ID, fake.DefaultNetwork); err != nil {
		t.Fatal(err)
	}
	if err := e.Disconnect(ctx, a.ID, fake.DefaultNetwork); err == nil {
		t.Error("Disconnect from a network not attached to succeeded")
	}
	if err := e.Disconnect(ctx, a.ID, "no-such-net"); err == nil {
		t.Error("Disconnect from an unknown network succeeded")
	}

	q, err := e.EnsureInternalNetwork(ctx, "quarantine")
	if err != nil || !q.Internal || len(q.Subnets) != 1 {
		t.Fatalf("EnsureInternalNetwork = %+v, %v", q, err)
	}
	if again, err := e.EnsureInternalNetwork(ctx, "quarantine"); err != nil || again.ID != q.ID {
		t.Errorf("second EnsureInternalNetwork = %+v, %v, want %s again", again, err, q.ID)
	}
	if _, err := e.EnsureInternalNetwork(ctx, fake.DefaultNetwork); err == nil {
		t.Error("EnsureInternalNetwork accepted a network that routes outside")
	}
	if err := e.Connect(ctx, a.ID, runtime.Attachment{Network: q.Name, NetworkID: q.ID}, false); err != nil {
		t.Fatal(err)
	}
	if err := e.Connect(ctx, a.ID, runtime.Attachment{Network: q.Name}, false); err == nil {
		t.Error("joining a network twice succeeded")
	}
	got, _ := e.Details(a.ID)
	if len(got.Networks) != 1 || got.Networks[0].Network != "quarantine" || got.Networks[0].IPv4Address == "" {
		t.Errorf("after the swap: %+v, want quarantine only, with an address", got.Networks)
	}

	// A static address another container holds is refused; a's own old
	// one, free since it left, is not.
	taken := runtime.Attachment{Network: fake.DefaultNetwork, StaticIPv4: b.Networks[0].IPv4Address}
	if err := e.Connect(ctx, a.ID, taken, true); err == nil {
		t.Error("Connect with an address another container holds succeeded")
	}
	old := runtime.Attachment{Network: fake.DefaultNetwork, StaticIPv4: a.Networks[0].IPv4Address, Aliases: []string{"web"}}
	if err := e.Connect(ctx, a.ID, old, true); err != nil {
		t.Fatal(err)
	}
	got, _ = e.Details(a.ID)
	if at := got.Networks[0]; at.Network != fake.DefaultNetwork || at.IPv4Address != old.StaticIPv4 || at.StaticIPv4 != old.StaticIPv4 || !slices.Equal(at.Aliases, old.Aliases) {
		t.Errorf("reconnected as %+v, want %+v with the address static", at, old)
	}
	// An engine-assigned address is not pinned by a static reconnect.
	if err := e.Disconnect(ctx, a.ID, fake.DefaultNetwork); err != nil {
		t.Fatal(err)
	}
	dyn := runtime.Attachment{Network: fake.DefaultNetwork, IPv4Address: old.StaticIPv4}
	if err := e.Connect(ctx, a.ID, dyn, true); err != nil {
		t.Fatal(err)
	}
	if got, _ = e.Details(a.ID); got.Networks[0].StaticIPv4 != "" {
		t.Errorf("a dynamic address was pinned: %+v", got.Networks[0])
	}

	if err := e.Stop(ctx, a.ID, 0); err != nil {
		t.Fatal(err)
	}
	got, _ = e.Details(a.ID)
	for _, at := range got.Networks {
		if at.IPv4Address != "" {
			t.Errorf("stopped container holds %s on %s", at.IPv4Address, at.Network)
		}
	}
}

func TestBasicLacksNetworkAttacher(t *testing.T) {
	e := fake.New()
	rt := e.Basic()
	if _, ok := rt.(runtime.NetworkAttacher); ok {
		t.Error("Basic implements NetworkAttacher")
	}
	if _, ok := rt.(runtime.Stopper); !ok {
		t.Error("Basic does not implement Stopper")
	}
	d := e.Create("web")
	if _, err := rt.Inspect(t.Context(), d.ID); err != nil {
		t.Fatal(err)
	}
	if e.Count(fake.OpInspect) != 1 {
		t.Errorf("a call through Basic is not recorded: %+v", e.Calls())
	}
}

func TestSetNetworkMode(t *testing.T) {
	e := fake.New()
	d := e.Create("web")
	e.SetNetworkMode(d.ID, runtime.NetworkMode{Kind: "host"})
	got, _ := e.Details(d.ID)
	if got.NetworkMode.Kind != "host" || len(got.Networks) != 0 || !slices.Contains(got.Security.HostNamespaces, "network") {
		t.Errorf("host mode: %+v networks %+v host namespaces %v", got.NetworkMode, got.Networks, got.Security.HostNamespaces)
	}
	if err := e.Connect(t.Context(), d.ID, runtime.Attachment{Network: fake.DefaultNetwork}, false); err == nil {
		t.Error("a host-network container joined a network")
	}
	e.SetNetworkMode(d.ID, runtime.NetworkMode{Kind: "container", SharedWith: []string{"other"}})
	got, _ = e.Details(d.ID)
	if got.NetworkMode.Kind != "container" || !slices.Equal(got.NetworkMode.SharedWith, []string{"other"}) || slices.Contains(got.Security.HostNamespaces, "network") {
		t.Errorf("container mode: %+v host namespaces %v", got.NetworkMode, got.Security.HostNamespaces)
	}
}

func TestDetailsAreCopies(t *testing.T) {
	e := fake.New()
	d := e.Create("web", fake.WithLabels(map[string]string{"app": "web"}), fake.WithNetwork("front", "web"))
	d.Labels["app"] = "changed"
	d.Networks[0].Aliases[0] = "changed"
	list, _ := e.List(t.Context())
	list[0].Labels["app"] = "changed"
	got, _ := e.Details(d.ID)
	if got.Labels["app"] != "web" || got.Networks[0].Aliases[0] != "web" || got.Networks[0].Network != "front" {
		t.Errorf("engine state changed through returned values: %+v %+v", got.Labels, got.Networks)
	}
}

func TestCreatePanicsOnNameInUse(t *testing.T) {
	e := fake.New()
	e.Create("web")
	defer func() {
		if recover() == nil {
			t.Error("a second container named web was created")
		}
	}()
	e.Create("web")
}

func TestFakeHarnessNetwork(t *testing.T) {
	h := runtimetest.Fake(t)
	vspec, pspec, _ := h.Network(t)
	v := h.Run(t, runtimetest.Name(t), vspec)
	p := h.Run(t, runtimetest.Name(t), pspec)
	if len(v.Networks) != 1 || len(p.Networks) != 1 || v.Networks[0].Network != p.Networks[0].Network {
		t.Fatalf("victim on %+v, peer on %+v, want one shared network", v.Networks, p.Networks)
	}
	if !slices.Equal(v.Networks[0].Aliases, []string{"victim"}) || v.Labels[runtimetest.Label] != t.Name() {
		t.Errorf("victim %+v labels %v, want alias victim and the test label", v.Networks[0], v.Labels)
	}
}

// TestConcurrentUse is for -race: calls and setup from many goroutines.
func TestConcurrentUse(t *testing.T) {
	e := fake.New()
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				d := e.Create(fmt.Sprintf("g%d-%d", g, i))
				e.Start(d.ID)
				if err := e.Pause(ctx, d.ID); err != nil {
					t.Error(err)
					return
				}
				if err := e.Unpause(ctx, d.ID); err != nil {
					t.Error(err)
					return
				}
				if _, err := e.List(ctx); err != nil {
					t.Error(err)
					return
				}
				if _, err := runtime.CheckSame(ctx, e, d.Container); err != nil {
					t.Error(err)
					return
				}
				_ = e.Calls()
				e.Remove(d.ID)
			}
		})
	}
	wg.Wait()
	if n := e.Count(fake.OpPause); n != 8*50 {
		t.Errorf("Count(Pause) = %d, want %d", n, 8*50)
	}
}
