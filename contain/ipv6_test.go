package contain_test

import (
	"testing"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// TestContainIPv6: on a Docker network with IPv6, the cut holds for IPv6
// traffic both ways (checked with nsenter and busybox nc over the IPv6
// addresses), and release gives the victim back the same IPv4 and IPv6
// addresses, reachable again.
func TestContainIPv6(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	net := h.IPv6Network(t, runtimetest.Name(t))
	serve := runtimetest.Spec{Network: net, Cmd: runtimetest.ServeCmd}
	victim := h.Run(t, runtimetest.Name(t)+"-victim", serve)
	peer := h.Run(t, runtimetest.Name(t)+"-peer", serve)
	v6 := func(d runtime.Details) string {
		a := attachmentsByName(d)[net]
		if a.IPv6Address == "" {
			t.Fatalf("%s has no IPv6 address on %s: %+v", d.Name, net, a)
		}
		return a.IPv6Address
	}
	vaddr, paddr := v6(victim), v6(peer)
	runtimetest.Eventually(t, 10e9, "peer and victim serve each other over IPv6", func() bool {
		return runtimetest.Fetch(t, victim.NetNSPath, paddr) && runtimetest.Fetch(t, peer.NetNSPath, vaddr)
	})
	c, _ := newContainment(t, h)
	target, err := runtime.Resolve(ctx, h.Runtime(), victim.Name)
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.Probe = []string{"[" + paddr + "]:8080"}
	res, err := c.Contain(ctx, target, opts)
	if err != nil {
		t.Fatalf("Contain: %v", err)
	}
	if res.Verification == nil || res.Verification.Verdict != "isolated" {
		t.Errorf("verification = %+v, want isolated", res.Verification)
	}
	if runtimetest.Fetch(t, victim.NetNSPath, paddr) || runtimetest.Fetch(t, peer.NetNSPath, vaddr) {
		t.Error("IPv6 traffic still flows between victim and peer after contain")
	}
	if _, err := c.Release(ctx, target, false); err != nil {
		t.Fatalf("Release: %v", err)
	}
	was, now := attachmentsByName(victim)[net], attachmentsByName(inspect(t, h, victim.ID))[net]
	if now.IPv6Address != was.IPv6Address || now.IPv4Address != was.IPv4Address {
		t.Errorf("restored as %s %s, want %s %s", now.IPv4Address, now.IPv6Address, was.IPv4Address, was.IPv6Address)
	}
	runtimetest.Eventually(t, 10e9, "victim and peer reach each other over IPv6 after release", func() bool {
		return runtimetest.Fetch(t, victim.NetNSPath, paddr) && runtimetest.Fetch(t, peer.NetNSPath, vaddr)
	})
}
