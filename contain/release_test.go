package contain_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	dcontainer "github.com/docker/docker/api/types/container"
	dnetwork "github.com/docker/docker/api/types/network"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// ipamOf is the IPAM configuration Docker keeps for the container on a
// network: nil for an engine-assigned address.
func ipamOf(t *testing.T, h *runtimetest.DockerHarness, id, net string) *dnetwork.EndpointIPAMConfig {
	t.Helper()
	raw, err := h.Docker().API().ContainerInspect(runtimetest.Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	es, ok := raw.NetworkSettings.Networks[net]
	if !ok {
		t.Fatalf("%s is not on %s", id[:12], net)
	}
	return es.IPAMConfig
}

// TestReleaseKeepsDynamicAddressesDynamic: an engine-assigned address is
// not pinned by contain + release (it was, and a later start failed once
// another container took it); a configured one is kept.
func TestReleaseKeepsDynamicAddressesDynamic(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	net, prefix := h.SubnetNetwork(t, runtimetest.Name(t))
	dyn := h.Run(t, runtimetest.Name(t)+"-dyn", runtimetest.Spec{Network: net})
	static := h.Run(t, runtimetest.Name(t)+"-static", runtimetest.Spec{Network: net, IPv4: prefix + ".77"})
	if got := ipamOf(t, h, dyn.ID, net); got != nil && got.IPv4Address != "" {
		t.Fatalf("the dynamic container starts with IPAM config %+v", got)
	}
	c, _ := newContainment(t, h)
	for _, d := range []runtime.Details{dyn, static} {
		if _, err := c.Contain(ctx, d.Container, testOptions()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Release(ctx, d.Container, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := ipamOf(t, h, dyn.ID, net); got != nil && got.IPv4Address != "" {
		t.Errorf("after contain + release the dynamic address is pinned: %+v", got)
	}
	if got := ipamOf(t, h, static.ID, net); got == nil || got.IPv4Address != prefix+".77" {
		t.Errorf("after contain + release the static address is %+v, want %s.77", got, prefix)
	}
	if now := inspect(t, h, static.ID); now.Networks[0].IPv4Address != prefix+".77" {
		t.Errorf("static container now has %s, want %s.77", now.Networks[0].IPv4Address, prefix)
	}
}

// TestReleaseWithARemovedNetwork: release brings the service back as far
// as the world allows: running, without drop rules, on its remaining
// networks, saying which network is gone (it was stuck, exit 1 for good);
// a network recreated under the same name is found by its name.
func TestReleaseWithARemovedNetwork(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	keep := h.UserNetwork(t, runtimetest.Name(t)+"-keep", false)
	gone := h.UserNetwork(t, runtimetest.Name(t)+"-gone", false)
	again := h.UserNetwork(t, runtimetest.Name(t)+"-again", false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Network: keep})
	api := h.Docker().API()
	for _, n := range []string{gone, again} {
		if err := api.NetworkConnect(ctx, n, d.ID, &dnetwork.EndpointSettings{Aliases: []string{"svc"}}); err != nil {
			t.Fatal(err)
		}
	}
	d = inspect(t, h, d.ID)
	c, _ := newContainment(t, h)
	if _, err := c.Contain(ctx, d.Container, testOptions()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{gone, again} {
		if err := api.NetworkRemove(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.NetworkCreate(ctx, again, dnetwork.CreateOptions{Driver: "bridge", Labels: map[string]string{runtimetest.Label: t.Name()}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Release(ctx, d.Container, false)
	var nr *contain.NotRestoredError
	if !errors.As(err, &nr) || len(nr.Missing) != 1 || nr.Missing[0] != gone || !strings.Contains(err.Error(), "released (running)") {
		t.Fatalf("Release = %v, want NotRestoredError naming %s alone, running", err, gone)
	}
	now := inspect(t, h, d.ID)
	if now.State != runtime.StateRunning {
		t.Errorf("after release the container is %s, want running", now.State)
	}
	nets := map[string]runtime.Attachment{}
	for _, a := range now.Networks {
		nets[a.Network] = a
	}
	if _, ok := nets[keep]; !ok {
		t.Errorf("not back on %s: %+v", keep, now.Networks)
	}
	if a, ok := nets[again]; !ok || !strings.Contains(strings.Join(a.Aliases, ","), "svc") {
		t.Errorf("not back on the recreated %s with its alias: %+v", again, now.Networks)
	}
	if _, ok := nets[gone]; ok {
		t.Errorf("attached to the removed %s?", gone)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "recreated") {
		t.Errorf("notes %q do not say %s was reconnected by name", res.Notes, again)
	}
	if present, _ := contain.HasDropRules(now.NetNSPath); present {
		t.Error("drop rules are still in its namespace")
	}
	if rec, _ := c.Status(d.ID); rec != nil {
		t.Errorf("the record is still held: %+v", rec)
	}
}

// TestReleaseOfAPausedContainerWithARemovedNetwork: a container found
// paused is left paused by release, and the error about its missing
// network says so rather than "running".
func TestReleaseOfAPausedContainerWithARemovedNetwork(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	gone := h.UserNetwork(t, runtimetest.Name(t)+"-gone", false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Network: gone})
	api := h.Docker().API()
	if err := api.ContainerPause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	c, _ := newContainment(t, h)
	if _, err := c.Contain(ctx, d.Container, testOptions()); err != nil {
		t.Fatal(err)
	}
	if err := api.NetworkRemove(ctx, gone); err != nil {
		t.Fatal(err)
	}
	_, err := c.Release(ctx, d.Container, false)
	var nr *contain.NotRestoredError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "left paused, as it was found") || strings.Contains(err.Error(), "running") {
		t.Fatalf("Release = %v, want NotRestoredError saying it was left paused", err)
	}
	if now := inspect(t, h, d.ID); now.State != runtime.StatePaused {
		t.Errorf("after release the container found paused is %s", now.State)
	}
}

// TestCreatedContainers: on Docker a created container is held by its
// engine networks (detached) and, once started, runs unfrozen without drop
// rules: Check calls that drift. On containerd, where a created container
// has nothing to cut or freeze, contain refuses plainly and records
// nothing (it recorded nothing and said "unchanged", and a later start ran
// fully networked).
func TestCreatedContainers(t *testing.T) {
	t.Run("docker", func(t *testing.T) {
		h := runtimetest.Docker(t)
		ctx := runtimetest.Context(t)
		net := h.UserNetwork(t, runtimetest.Name(t), false)
		d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{Network: net})
		c, _ := newContainment(t, h)
		res, err := c.Contain(ctx, d.Container, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(res.Notes, "\n"), "if it starts it runs unfrozen") {
			t.Errorf("notes %q do not warn what a start would do", res.Notes)
		}
		rec, err := c.Status(d.ID)
		if err != nil || !rec.Held() {
			t.Fatalf("record = %+v, %v; want held", rec, err)
		}
		if live, err := c.Check(ctx, rec); err != nil || live.Drift != "" {
			t.Errorf("created and held: drift %q (%v), want none", live.Drift, err)
		}
		if err := h.Docker().API().ContainerStart(ctx, d.ID, dcontainer.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		live, err := c.Check(ctx, rec)
		if err != nil || !strings.Contains(live.Drift, "started after it was contained") {
			t.Errorf("started after containment: drift %q (%v), want it named", live.Drift, err)
		}
	})
	t.Run("containerd", func(t *testing.T) {
		h := runtimetest.Containerd(t)
		d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{})
		c, _ := newContainment(t, h)
		_, err := c.Contain(runtimetest.Context(t), d.Container, testOptions())
		var refused *runtime.RefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "NOT held") {
			t.Fatalf("Contain of a created containerd container = %v, want refused, NOT held", err)
		}
		if rec, _ := c.Status(d.ID); rec != nil {
			t.Errorf("a refused containment left a record: %+v", rec)
		}
	})
}

// TestAllowedPeerStaysReachable: a peer inside --allow answers after the
// cut as it was meant to: isolated, with a note (it was NOT-ISOLATED, exit
// 4). On containerd, where the drop rules are the cut (Docker also
// detaches the engine network, which no --allow reopens).
func TestAllowedPeerStaysReachable(t *testing.T) {
	h := runtimetest.Containerd(t)
	ctx := runtimetest.Context(t)
	vspec, pspec, addr := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	p := netip.MustParseAddr(addr(peer))
	o := testOptions()
	o.Allow = []netip.Prefix{netip.PrefixFrom(p, 32)}
	o.Probe = []string{addr(peer)}
	c, _ := newContainment(t, h)
	res, err := c.Contain(ctx, victim.Container, o)
	if err != nil {
		t.Fatalf("Contain with the peer allowed = %v (verification %+v)", err, res.Verification)
	}
	v := res.Verification
	if v == nil || v.Verdict != contain.Isolated || !strings.Contains(strings.Join(v.Notes, "\n"), "as allowed") {
		t.Errorf("verification = %+v, want isolated with a note on the allowed peer", v)
	}
	if _, err := c.Release(ctx, victim.Container, false); err != nil {
		t.Fatal(err)
	}
}

// TestContainingAnOwnerNamesWhoJoinedIt: cutting a container whose network
// namespace others joined (--network container:X) cuts them too; the plan
// says so (it did without a word).
func TestContainingAnOwnerNamesWhoJoinedIt(t *testing.T) {
	h := runtimetest.Docker(t)
	owner := h.Run(t, runtimetest.Name(t)+"-owner", runtimetest.Spec{})
	joiner := h.Run(t, runtimetest.Name(t)+"-joiner", runtimetest.Spec{JoinNetNS: owner.ID})
	c, _ := newContainment(t, h)
	o := testOptions()
	o.DryRun = true
	res, err := c.Contain(runtimetest.Context(t), owner.Container, o)
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, joiner.ShortID()) || !strings.Contains(notes, "cuts them too") {
		t.Errorf("notes %q do not name %s", notes, joiner.ShortID())
	}
}
