package contain_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"firebreak/runtime/runtimetest"
)

// TestContainQuarantineNetworkKeepsForensicPath: on Docker the victim is
// moved to an internal network where a forensic container still reaches it,
// while its old peer does not; release moves it back.
func TestContainQuarantineNetworkKeepsForensicPath(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	vspec, pspec, addr := h.Network(t)
	vspec.Cmd, pspec.Cmd = runtimetest.ServeCmd, runtimetest.ServeCmd
	victim := h.Run(t, runtimetest.Name(t)+"-victim", vspec)
	peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	qnet := runtimetest.Name(t) + "-q"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = h.Docker().API().NetworkRemove(ctx, qnet)
	})
	c, _ := newContainment(t, h)
	opts := testOptions()
	opts.Pause = false // a frozen server cannot answer the forensic fetch
	opts.QuarantineNetwork = qnet
	res, err := c.Contain(ctx, victim.Container, opts)
	if err != nil {
		t.Fatalf("Contain: %v", err)
	}
	d := inspect(t, h, victim.ID)
	if len(d.Networks) != 1 || d.Networks[0].Network != qnet {
		t.Fatalf("networks after contain = %+v, want only %s", d.Networks, qnet)
	}
	n, err := h.Docker().API().NetworkInspect(ctx, qnet, network.InspectOptions{})
	if err != nil || !n.Internal {
		t.Fatalf("quarantine network internal=%v err=%v, want internal", n.Internal, err)
	}
	forensic := h.Run(t, runtimetest.Name(t)+"-forensic", runtimetest.Spec{Network: qnet})
	qaddr := d.Networks[0].IPv4Address
	runtimetest.Eventually(t, 10*time.Second, "forensic container reaches the victim on the quarantine network", func() bool {
		return runtimetest.Fetch(t, forensic.NetNSPath, qaddr)
	})
	if runtimetest.Fetch(t, peer.NetNSPath, addr(victim)) || runtimetest.Fetch(t, victim.NetNSPath, addr(peer)) {
		t.Error("old peer and victim still reach each other")
	}
	if !strings.Contains(res.Changes[0].Detail, qnet) {
		t.Errorf("firewall change %q does not say the quarantine subnet is let through", res.Changes[0].Detail)
	}

	if _, err := c.Release(ctx, victim.Container, false); err != nil {
		t.Fatalf("Release: %v", err)
	}
	d = inspect(t, h, victim.ID)
	if len(d.Networks) != 1 || d.Networks[0].Network != victim.Networks[0].Network {
		t.Fatalf("networks after release = %+v, want %+v", d.Networks, victim.Networks)
	}
	runtimetest.Eventually(t, 10*time.Second, "peer reaches the victim after release", func() bool {
		return runtimetest.Fetch(t, peer.NetNSPath, addr(victim))
	})
}
