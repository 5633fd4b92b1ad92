package contain_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// forEachEngine runs a test against the real Docker Engine and the real
// containerd.
func forEachEngine(t *testing.T, fn func(t *testing.T, h runtimetest.Harness)) {
	t.Run("docker", func(t *testing.T) { fn(t, runtimetest.Docker(t)) })
	t.Run("containerd", func(t *testing.T) { fn(t, runtimetest.Containerd(t)) })
}

func newContainment(t *testing.T, h runtimetest.Harness) (*contain.Containment, *contain.Records) {
	t.Helper()
	store, err := contain.OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ns := ""
	if h.Runtime().Name() == "containerd" {
		ns = runtimetest.ContainerdNamespace()
	}
	return contain.New(h.Runtime(), store, ns), store
}

func testOptions() contain.Options {
	o := contain.DefaultOptions()
	o.Actor = "test"
	return o
}

func inspect(t *testing.T, h runtimetest.Harness, id string) runtime.Details {
	return runtimetest.Inspect(t, h, id)
}

func attachmentsByName(d runtime.Details) map[string]runtime.Attachment {
	m := map[string]runtime.Attachment{}
	for _, a := range d.Networks {
		m[a.Network] = a
	}
	return m
}

func TestContainCutsPeerAndReleaseRestores(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		vspec, pspec, addr := h.Network(t)
		vspec.Cmd, pspec.Cmd = runtimetest.ServeCmd, runtimetest.ServeCmd
		victim := h.Run(t, runtimetest.Name(t)+"-victim", vspec)
		peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
		vaddr, paddr := addr(victim), addr(peer)
		runtimetest.Eventually(t, 10e9, "peer and victim serve each other", func() bool {
			return runtimetest.Fetch(t, victim.NetNSPath, paddr) && runtimetest.Fetch(t, peer.NetNSPath, vaddr)
		})
		c, store := newContainment(t, h)
		target, err := runtime.Resolve(ctx, h.Runtime(), victim.Name)
		if err != nil {
			t.Fatal(err)
		}
		opts := testOptions()
		opts.Probe = []string{paddr + ":8080"}
		res, err := c.Contain(ctx, target, opts)
		if err != nil {
			t.Fatalf("Contain: %v", err)
		}
		if res.Verification == nil || res.Verification.Verdict != "isolated" {
			t.Errorf("verification = %+v, want isolated", res.Verification)
		}
		if res.Timings == nil || res.Timings.Cut <= 0 || res.Timings.Frozen < res.Timings.Cut {
			t.Errorf("timings = %+v, want cut then frozen", res.Timings)
		}
		after := inspect(t, h, victim.ID)
		if after.State != runtime.StatePaused {
			t.Errorf("state after contain = %s, want paused", after.State)
		}
		if len(after.Networks) != 0 {
			t.Errorf("still attached to %v", after.Networks)
		}
		if runtimetest.Fetch(t, victim.NetNSPath, paddr) {
			t.Error("victim still reaches the peer after contain")
		}
		if runtimetest.Fetch(t, peer.NetNSPath, vaddr) {
			t.Error("peer still reaches the victim after contain")
		}
		rec, err := store.Load(h.Runtime().Name(), nsOf(h), victim.ID)
		if err != nil || rec == nil || !rec.Held() || rec.Phase != "contained" {
			t.Fatalf("record after contain = %+v, %v; want held and contained", rec, err)
		}

		// Containing twice changes nothing.
		again, err := c.Contain(ctx, target, opts)
		if err != nil || !again.Unchanged {
			t.Errorf("second Contain = %+v, %v; want unchanged", again, err)
		}

		rel, err := c.Release(ctx, target, false)
		if err != nil {
			t.Fatalf("Release: %v", err)
		}
		if rel.Unchanged {
			t.Error("Release reported nothing to do")
		}
		restored := inspect(t, h, victim.ID)
		if restored.State != runtime.StateRunning {
			t.Errorf("state after release = %s, want running", restored.State)
		}
		before, now := attachmentsByName(victim), attachmentsByName(restored)
		if len(before) != len(now) {
			t.Errorf("networks after release = %v, want %v", restored.Networks, victim.Networks)
		}
		for name, a := range before {
			b, ok := now[name]
			if !ok {
				t.Errorf("network %s not restored", name)
				continue
			}
			if !slices.Equal(sorted(a.Aliases), sorted(b.Aliases)) || a.IPv4Address != b.IPv4Address {
				t.Errorf("network %s restored as aliases %v address %s, want %v %s", name, b.Aliases, b.IPv4Address, a.Aliases, a.IPv4Address)
			}
		}
		runtimetest.Eventually(t, 10e9, "victim and peer reach each other after release", func() bool {
			return runtimetest.Fetch(t, victim.NetNSPath, paddr) && runtimetest.Fetch(t, peer.NetNSPath, vaddr)
		})
		if rec, _ := store.Load(h.Runtime().Name(), nsOf(h), victim.ID); rec != nil {
			t.Errorf("record still held after release: %+v", rec)
		}
		// Releasing twice changes nothing.
		rel2, err := c.Release(ctx, target, false)
		if err != nil || !rel2.Unchanged {
			t.Errorf("second Release = %+v, %v; want unchanged", rel2, err)
		}
	})
}

func nsOf(h runtimetest.Harness) string {
	if h.Runtime().Name() == "containerd" {
		return runtimetest.ContainerdNamespace()
	}
	return ""
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestContainRefusesHostNetwork(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{HostNetwork: true})
		c, store := newContainment(t, h)
		_, err := c.Contain(ctx, d.Container, testOptions())
		var refused *runtime.RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("Contain(host network) = %v, want RefusedError", err)
		}
		for _, want := range []string{"host", "pause"} {
			if !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Errorf("refusal %q does not mention %q", err, want)
			}
		}
		after := inspect(t, h, d.ID)
		if after.State != runtime.StateRunning {
			t.Errorf("refused container changed state to %s", after.State)
		}
		if !bytes.Equal(after.Raw, d.Raw) {
			t.Error("engine's view changed after a refusal")
		}
		if rec, _ := store.Load(h.Runtime().Name(), nsOf(h), d.ID); rec != nil {
			t.Errorf("refusal left a record: %+v", rec)
		}
		// Freezing alone is what the refusal suggests, and it works.
		opts := testOptions()
		opts.Network = false
		if _, err := c.Contain(ctx, d.Container, opts); err != nil {
			t.Fatalf("pause-only containment of a host-network container: %v", err)
		}
		if got := inspect(t, h, d.ID); got.State != runtime.StatePaused {
			t.Errorf("state = %s, want paused", got.State)
		}
		if _, err := c.Release(ctx, d.Container, false); err != nil {
			t.Fatal(err)
		}
	})
}

func TestContainRefusesReplacedContainer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		name := runtimetest.Name(t)
		old := h.Run(t, name, runtimetest.Spec{})
		target, err := runtime.Resolve(ctx, h.Runtime(), name)
		if err != nil {
			t.Fatal(err)
		}
		h.Remove(t, old.ID)
		fresh := h.Run(t, name, runtimetest.Spec{})
		c, store := newContainment(t, h)
		_, err = c.Contain(ctx, target, testOptions())
		var replaced *runtime.ReplacedError
		if !errors.As(err, &replaced) {
			t.Fatalf("Contain(replaced) = %v, want ReplacedError", err)
		}
		now := inspect(t, h, fresh.ID)
		if now.State != runtime.StateRunning || !bytes.Equal(now.Raw, fresh.Raw) {
			t.Errorf("the new container under the same name was changed (state %s)", now.State)
		}
		if rec, _ := store.Load(h.Runtime().Name(), nsOf(h), fresh.ID); rec != nil {
			t.Errorf("refusal left a record: %+v", rec)
		}
	})
}

func TestContainDryRunChangesNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		vspec, pspec, addr := h.Network(t)
		pspec.Cmd = runtimetest.ServeCmd
		victim := h.Run(t, runtimetest.Name(t)+"-victim", vspec)
		peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
		c, store := newContainment(t, h)
		opts := testOptions()
		opts.DryRun = true
		res, err := c.Contain(ctx, victim.Container, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !res.DryRun || len(res.Changes) == 0 {
			t.Fatalf("dry run planned nothing: %+v", res)
		}
		for _, ch := range res.Changes {
			if ch.Done {
				t.Errorf("dry run did %s", ch.Action)
			}
		}
		want := []string{"firewall", "pause"}
		if h.Runtime().Name() == "docker" {
			want = []string{"firewall", "pause", "disconnect"}
		}
		var got []string
		for _, ch := range res.Changes {
			got = append(got, ch.Action)
		}
		if !slices.Equal(got, want) {
			t.Errorf("planned %v, want %v", got, want)
		}
		after := inspect(t, h, victim.ID)
		if !bytes.Equal(after.Raw, victim.Raw) {
			t.Errorf("engine's view changed after a dry run:\nbefore %s\nafter  %s", victim.Raw, after.Raw)
		}
		runtimetest.Eventually(t, 10e9, "victim still reaches the peer", func() bool {
			return runtimetest.Fetch(t, victim.NetNSPath, addr(peer))
		})
		if rec, _ := store.Load(h.Runtime().Name(), nsOf(h), victim.ID); rec != nil {
			t.Errorf("dry run left a record: %+v", rec)
		}
	})
}

func TestContainManyAtOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		var refs []string
		for i := 0; i < 6; i++ {
			d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
			refs = append(refs, d.Name)
		}
		refs = append(refs, "fbt-no-such-"+runtimetest.Name(t))
		c, _ := newContainment(t, h)
		outs := contain.Each(ctx, refs, 4, func(ctx context.Context, ref string) (*contain.Result, error) {
			target, err := runtime.Resolve(ctx, h.Runtime(), ref)
			if err != nil {
				return nil, err
			}
			return c.Contain(ctx, target, testOptions())
		})
		err := contain.Errors(outs)
		if !runtime.IsNotFound(err) {
			t.Errorf("joined error = %v, want the unknown target's not-found", err)
		}
		for i, o := range outs[:6] {
			if o.Err != nil {
				t.Errorf("%s: %v", refs[i], o.Err)
				continue
			}
			if got := inspect(t, h, o.Result.Container.ID); got.State != runtime.StatePaused {
				t.Errorf("%s: state %s, want paused", refs[i], got.State)
			}
		}
	})
}

func TestReleaseAfterRestart(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		vspec, _, _ := h.Network(t)
		d := h.Run(t, runtimetest.Name(t), vspec)
		dir := t.TempDir()
		ns := nsOf(h)
		store, err := contain.OpenRecords(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := contain.New(h.Runtime(), store, ns).Contain(ctx, d.Container, testOptions()); err != nil {
			t.Fatal(err)
		}
		// A new process: nothing shared but the state directory.
		store2, err := contain.OpenRecords(dir)
		if err != nil {
			t.Fatal(err)
		}
		c2 := contain.New(h.Runtime(), store2, ns)
		held, err := c2.Held()
		if err != nil || len(held) != 1 || held[0].Container.ID != d.ID {
			t.Fatalf("Held after restart = %v, %v; want the one container", held, err)
		}
		if _, err := c2.Release(ctx, d.Container, false); err != nil {
			t.Fatal(err)
		}
		if got := inspect(t, h, d.ID); got.State != runtime.StateRunning || len(got.Networks) != len(d.Networks) {
			t.Errorf("after release: state %s networks %v, want running with %v", got.State, got.Networks, d.Networks)
		}
	})
}

// TestContainDefaultBridge: on Docker's default bridge the engine takes no
// fixed address back; release reconnects it and reports any new address.
func TestContainDefaultBridge(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	if len(d.Networks) != 1 || d.Networks[0].Network != "bridge" {
		t.Fatalf("test container networks %+v, want the default bridge", d.Networks)
	}
	c, _ := newContainment(t, h)
	if _, err := c.Contain(ctx, d.Container, testOptions()); err != nil {
		t.Fatal(err)
	}
	if got := inspect(t, h, d.ID); len(got.Networks) != 0 {
		t.Fatalf("still attached: %+v", got.Networks)
	}
	res, err := c.Release(ctx, d.Container, false)
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	got := inspect(t, h, d.ID)
	if len(got.Networks) != 1 || got.Networks[0].Network != "bridge" || got.State != runtime.StateRunning {
		t.Fatalf("after release: %s %+v", got.State, got.Networks)
	}
	if got.Networks[0].IPv4Address != d.Networks[0].IPv4Address {
		found := false
		for _, n := range res.Notes {
			if strings.Contains(n, "new address") {
				found = true
			}
		}
		if !found {
			t.Errorf("address changed from %s to %s without a note: %v", d.Networks[0].IPv4Address, got.Networks[0].IPv4Address, res.Notes)
		}
	}
}
